//! S3 prefixes through aws-sdk-s3, set up for Cloudflare R2 (path-style, region `auto`,
//! checksums only when required), with in-memory bodies, Content-MD5 and an ETag check.

use std::collections::BTreeMap;
use std::sync::Arc;
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

use super::location::{Cond, Counters, Entry, LocError, PutOutcome};
use crate::config::Secret;

pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn md5_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes))
}

fn clean_etag(e: &str) -> String {
    e.trim().trim_matches('"').to_string()
}

/// One client per bucket.
pub fn client(endpoint: &str, region: &str, access_key: &Secret, secret_key: &Secret) -> Client {
    let creds = Credentials::from_keys(access_key.expose(), secret_key.expose(), None);
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(creds)
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(12))
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(2)),
        )
        .build();
    Client::from_conf(conf)
}

/// A prefix in a bucket (`auths/`, `backup/auths/`, `config/`).
#[derive(Clone)]
pub struct S3Prefix {
    pub client: Client,
    pub endpoint: String,
    pub bucket: String,
    pub prefix: String,
    pub counters: Arc<Counters>,
}

fn status_of<E, R: HttpStatus>(e: &SdkError<E, R>) -> Option<u16> {
    e.raw_response().map(HttpStatus::status_code)
}

pub trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

impl S3Prefix {
    pub fn describe(&self) -> String {
        format!("s3 {}/{}/{}", self.endpoint, self.bucket, self.prefix)
    }

    fn err<E: std::error::Error + 'static, R: std::fmt::Debug + HttpStatus>(
        &self,
        op: &str,
        e: &SdkError<E, R>,
    ) -> LocError {
        let msg = match e {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                format!(
                    "{op}: unreachable ({})",
                    short(&DisplayErrorContext(e).to_string())
                )
            }
            _ => match status_of(e) {
                Some(s) => format!(
                    "{op}: HTTP {s} ({})",
                    short(&DisplayErrorContext(e).to_string())
                ),
                None => format!("{op}: {}", short(&DisplayErrorContext(e).to_string())),
            },
        };
        LocError::new(self.describe(), msg)
    }

    async fn list_inner(&self, delimiter: bool) -> Result<BTreeMap<String, Entry>, LocError> {
        let mut out = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            Counters::bump(&self.counters.s3_list);
            let mut req = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&self.prefix);
            if delimiter {
                req = req.delimiter("/");
            }
            if let Some(t) = &token {
                req = req.continuation_token(t);
            }
            let resp = req.send().await.map_err(|e| self.err("LIST", &e))?;
            for obj in resp.contents() {
                let Some(key) = obj.key() else { continue };
                let Some(name) = key.strip_prefix(&self.prefix) else {
                    continue;
                };
                if name.is_empty() {
                    continue;
                }
                let mtime = obj
                    .last_modified()
                    .and_then(|d| jiff::Timestamp::new(d.secs(), d.subsec_nanos() as i32).ok());
                out.insert(
                    name.to_string(),
                    Entry {
                        tag: obj.e_tag().map(clean_etag).unwrap_or_default(),
                        mtime,
                        content: None,
                    },
                );
            }
            match resp.next_continuation_token() {
                Some(t) if resp.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// One LIST (per 1000 keys) of the names directly under the prefix.
    pub async fn list(&self) -> Result<BTreeMap<String, Entry>, LocError> {
        let mut all = self.list_inner(true).await?;
        all.retain(|name, _| super::location::valid_name(name));
        Ok(all)
    }

    /// Every key under the prefix (relative).
    pub async fn list_all(&self) -> Result<BTreeMap<String, Entry>, LocError> {
        self.list_inner(false).await
    }

    pub async fn get(&self, name: &str) -> Result<Option<(Bytes, String)>, LocError> {
        Counters::bump(&self.counters.s3_get);
        let key = format!("{}{name}", self.prefix);
        let resp = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if status_of(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(self.err("GET", &e)),
        };
        let etag = resp.e_tag().map(clean_etag).unwrap_or_default();
        let body = resp
            .body
            .collect()
            .await
            .map_err(|e| LocError::new(self.describe(), format!("GET body: {e}")))?
            .into_bytes();
        Ok(Some((body, etag)))
    }

    pub async fn put(
        &self,
        name: &str,
        body: Bytes,
        cond: Option<Cond>,
    ) -> Result<PutOutcome, LocError> {
        Counters::bump(&self.counters.s3_put);
        let key = format!("{}{name}", self.prefix);
        let want = md5_hex(&body);
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
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
                    return Err(LocError::new(
                        self.describe(),
                        format!("PUT {name}: ETag {got} does not match the body's MD5 {want}"),
                    ));
                }
                Ok(PutOutcome::Written(if got.is_empty() { want } else { got }))
            }
            Err(e) if matches!(status_of(&e), Some(412 | 409 | 404)) => {
                Ok(PutOutcome::PreconditionFailed)
            }
            Err(e) => Err(self.err("PUT", &e)),
        }
    }

    pub async fn delete(&self, name: &str) -> Result<(), LocError> {
        Counters::bump(&self.counters.s3_delete);
        let key = format!("{}{name}", self.prefix);
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(self.err("DELETE", &e)),
        }
    }
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
}
