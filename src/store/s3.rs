//! The one S3 adapter (the sync engine's prefixes and the refresh leases both use it):
//! aws-sdk-s3 set up for S3-compatible servers such as Cloudflare R2 (path-style,
//! checksums only when required), in-memory bodies, conditional writes
//! (`If-None-Match: *`, `If-Match`), Content-MD5 on every PUT and a check that the
//! returned ETag is the body's MD5. Every call is bounded by [`Timeouts`], so a bucket
//! that accepts connections and never answers cannot hang its caller.
//!
//! Errors carry the operation, the key and a short reason, never credentials.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use bytes::Bytes;
use md5::{Digest, Md5};

/// How long one call may take, and how often it is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP (and TLS) connect.
    pub connect: Duration,
    /// One attempt, from sending to the end of the answer's headers.
    pub attempt: Duration,
    /// The whole call, retries included.
    pub operation: Duration,
    /// Attempts per call (1 = no retry).
    pub attempts: u32,
}

impl Timeouts {
    /// Background work (the sync engine): a few retries within a dozen seconds.
    pub const BACKGROUND: Timeouts = Timeouts {
        connect: Duration::from_secs(2),
        attempt: Duration::from_secs(5),
        operation: Duration::from_secs(12),
        attempts: 3,
    };
    /// A client request may be waiting (refresh leases): give up quickly so the caller
    /// can fall back instead of holding the request.
    pub const INTERACTIVE: Timeouts = Timeouts {
        connect: Duration::from_secs(2),
        attempt: Duration::from_secs(3),
        operation: Duration::from_secs(6),
        attempts: 2,
    };
}

/// Where a bucket is and how to sign for it. Debug output leaves the keys out.
#[derive(Clone)]
pub struct S3Settings {
    /// `https://host[:port]` (a bare host gets `https://`).
    pub endpoint: String,
    /// Empty means `us-east-1`; R2 uses `auto`.
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// A client for `endpoint` with `timeouts` on every call.
pub fn client(
    endpoint: &str,
    region: &str,
    access_key: &str,
    secret_key: &str,
    timeouts: Timeouts,
) -> Client {
    let endpoint = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("https://{endpoint}")
    };
    let region = if region.is_empty() {
        "us-east-1"
    } else {
        region
    };
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::from_keys(access_key, secret_key, None))
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeouts.connect)
                .operation_attempt_timeout(timeouts.attempt)
                .operation_timeout(timeouts.operation)
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(timeouts.attempts.max(1))
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(2)),
        )
        .build();
    Client::from_conf(conf)
}

pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn md5_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes))
}

/// An ETag without its quotes (how tags are compared and stored).
pub fn clean_etag(e: &str) -> String {
    e.trim().trim_matches('"').to_string()
}

/// Write precondition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// Only if the current version tag is this one.
    IfMatch(String),
    /// Only if nothing exists under that name.
    IfNoneMatch,
}

#[derive(Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// Written; the new version tag.
    Written(String),
    /// Someone else changed it in between (412/409/404 on a conditional write).
    PreconditionFailed,
}

/// One listed object.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Relative to the listed prefix.
    pub name: String,
    pub etag: String,
    pub mtime: Option<jiff::Timestamp>,
}

/// A failed call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{op} {key}: {reason}")]
pub struct S3Error {
    pub op: &'static str,
    pub key: String,
    /// No answer at all (connect refused or timed out, no response in time, connection
    /// dropped), as opposed to an answer that was an error.
    pub unreachable: bool,
    pub status: Option<u16>,
    pub reason: String,
}

impl S3Error {
    fn new(op: &'static str, key: &str, reason: impl Into<String>) -> S3Error {
        S3Error {
            op,
            key: key.to_string(),
            unreachable: false,
            status: None,
            reason: reason.into(),
        }
    }

    fn from_sdk<E: std::error::Error + 'static>(
        op: &'static str,
        key: &str,
        e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> S3Error {
        let status = status_of(e);
        let detail = short(&DisplayErrorContext(e).to_string());
        let unreachable = matches!(
            e,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_)
        ) && status.is_none();
        let reason = match (unreachable, status) {
            (true, _) => format!("unreachable ({detail})"),
            (false, Some(s)) => format!("HTTP {s} ({detail})"),
            (false, None) => detail,
        };
        S3Error {
            op,
            key: key.to_string(),
            unreachable,
            status,
            reason,
        }
    }
}

fn status_of<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

fn short(s: &str) -> String {
    let one_line = s.replace('\n', " ");
    if one_line.len() > 300 {
        let mut end = 300;
        while !one_line.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &one_line[..end])
    } else {
        one_line
    }
}

/// One bucket.
#[derive(Clone)]
pub struct S3Bucket {
    client: Client,
    endpoint: String,
    bucket: String,
}

impl std::fmt::Debug for S3Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl S3Bucket {
    pub fn new(s: &S3Settings, timeouts: Timeouts) -> S3Bucket {
        let client = client(
            &s.endpoint,
            &s.region,
            &s.access_key,
            &s.secret_key,
            timeouts,
        );
        S3Bucket::with_client(client, &s.endpoint, &s.bucket)
    }

    /// Shares a client set up elsewhere (several prefixes of one bucket).
    pub fn with_client(client: Client, endpoint: &str, bucket: &str) -> S3Bucket {
        S3Bucket {
            client,
            endpoint: endpoint.to_string(),
            bucket: bucket.to_string(),
        }
    }

    /// `s3 <endpoint>/<bucket>` (for messages; no credentials).
    pub fn describe(&self) -> String {
        format!("s3 {}/{}", self.endpoint, self.bucket)
    }

    /// Every key under `prefix` (one LIST per 1000 keys); with `delimited`, only the
    /// keys directly under it. Names are relative to `prefix`.
    pub async fn list(&self, prefix: &str, delimited: bool) -> Result<Vec<Listed>, S3Error> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix);
            if delimited {
                req = req.delimiter("/");
            }
            if let Some(t) = &token {
                req = req.continuation_token(t);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| S3Error::from_sdk("LIST", prefix, &e))?;
            for obj in resp.contents() {
                let Some(name) = obj.key().and_then(|k| k.strip_prefix(prefix)) else {
                    continue;
                };
                if name.is_empty() {
                    continue;
                }
                out.push(Listed {
                    name: name.to_string(),
                    etag: obj.e_tag().map(clean_etag).unwrap_or_default(),
                    mtime: obj
                        .last_modified()
                        .and_then(|d| jiff::Timestamp::new(d.secs(), d.subsec_nanos() as i32).ok()),
                });
            }
            match resp.next_continuation_token() {
                Some(t) if resp.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The object and its (unquoted) ETag, or `None` when it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<(Bytes, String)>, S3Error> {
        let resp = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if status_of(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(S3Error::from_sdk("GET", key, &e)),
        };
        let etag = resp.e_tag().map(clean_etag).unwrap_or_default();
        let body = resp
            .body
            .collect()
            .await
            .map_err(|e| {
                let mut err = S3Error::new("GET", key, format!("reading the body: {e}"));
                err.unreachable = true;
                err
            })?
            .into_bytes();
        Ok(Some((body, etag)))
    }

    /// Writes `key` (JSON), under `cond` when given. A failed precondition is an outcome,
    /// not an error; an ETag that is not the body's MD5 is an error.
    pub async fn put(
        &self,
        key: &str,
        body: Bytes,
        cond: Option<Cond>,
    ) -> Result<PutOutcome, S3Error> {
        let want = md5_hex(&body);
        let conditional = cond.is_some();
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .content_md5(md5_b64(&body))
            .body(ByteStream::from(body));
        match cond {
            Some(Cond::IfMatch(tag)) => req = req.if_match(format!("\"{tag}\"")),
            Some(Cond::IfNoneMatch) => req = req.if_none_match("*"),
            None => {}
        }
        match req.send().await {
            Ok(resp) => {
                let got = resp.e_tag().map(clean_etag).unwrap_or_default();
                if !got.is_empty() && got != want {
                    return Err(S3Error::new(
                        "PUT",
                        key,
                        format!("ETag {got} does not match the body's MD5 {want}"),
                    ));
                }
                Ok(PutOutcome::Written(if got.is_empty() { want } else { got }))
            }
            // R2 answers 404 to If-Match on a missing object, some servers 409.
            Err(e) if conditional && matches!(status_of(&e), Some(412 | 409 | 404)) => {
                Ok(PutOutcome::PreconditionFailed)
            }
            Err(e) => Err(S3Error::from_sdk("PUT", key, &e)),
        }
    }

    /// Removes `key` (absent is fine).
    pub async fn delete(&self, key: &str) -> Result<(), S3Error> {
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(S3Error::from_sdk("DELETE", key, &e)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn md5_forms() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_b64(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(clean_etag("\"abc\""), "abc");
    }

    #[test]
    fn settings_debug_leaves_the_keys_out() {
        let s = S3Settings {
            endpoint: "http://127.0.0.1:9".into(),
            region: String::new(),
            bucket: "b".into(),
            access_key: "AKIAVISIBLE".into(),
            secret_key: "s3cr3tvalue".into(),
        };
        let d = format!("{s:?}");
        assert!(
            !d.contains("AKIAVISIBLE") && !d.contains("s3cr3tvalue"),
            "{d}"
        );
    }

    /// A port nothing listens on: every call fails fast as unreachable.
    #[tokio::test]
    async fn a_refused_connection_is_an_unreachable_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let b = S3Bucket::new(
            &S3Settings {
                endpoint: format!("http://127.0.0.1:{port}"),
                region: String::new(),
                bucket: "b".into(),
                access_key: "a".into(),
                secret_key: "s".into(),
            },
            Timeouts::INTERACTIVE,
        );
        let e = b.get("auths/x.json").await.unwrap_err();
        assert!(e.unreachable, "{e}");
        assert_eq!(e.op, "GET");
        assert!(
            e.to_string().starts_with("GET auths/x.json: unreachable"),
            "{e}"
        );
        let e = b
            .put("k", Bytes::from_static(b"{}"), Some(Cond::IfNoneMatch))
            .await
            .unwrap_err();
        assert!(e.unreachable, "{e}");
    }
}
