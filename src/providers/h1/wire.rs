//! HTTP/1.1 on the wire, as pure functions: the request head we send and the response
//! head we read (RFC 9112), with the body's framing decided from it.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Uri, Version};

/// Larger response heads are refused (hyper's default limit is ~400 KB; no API sends
/// more than a few KB).
pub const MAX_HEAD: usize = 64 * 1024;
/// Header fields per response head.
pub const MAX_HEADERS: usize = 128;

/// How a response body ends (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes the connection.
    Close,
}

#[derive(Debug)]
pub struct Head {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// The connection may carry another request once this body has been read.
    pub keep_alive: bool,
}

/// Why a response head was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeadError {
    #[error("invalid response head from upstream: {0}")]
    Parse(httparse::Error),
    #[error("upstream response head larger than {MAX_HEAD} bytes")]
    TooLarge,
    #[error("invalid response header from upstream: {0}")]
    Header(&'static str),
    #[error("upstream answered 101 Switching Protocols to an API request")]
    Upgrade,
}

/// Hop-by-hop and framing fields the client sets itself.
fn ours(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "content-length"
            | "transfer-encoding"
            | "connection"
            | "keep-alive"
            | "te"
            | "upgrade"
            | "proxy-connection"
    )
}

/// The `Host` value for `uri`: the port only when it is not the scheme's default.
pub fn host_header(uri: &Uri) -> Option<String> {
    let host = uri.host()?;
    let default = match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    };
    Some(match uri.port_u16() {
        Some(p) if p != default => format!("{host}:{p}"),
        _ => host.to_owned(),
    })
}

/// The request head (request line, `Host`, the caller's fields, `Content-Length`),
/// followed by `body` when it is small enough to go out in the same write.
pub fn request(method: &http::Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    const INLINE_BODY: usize = 64 * 1024;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let host = host_header(uri).unwrap_or_default();
    let fields: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    let inline = body.len() <= INLINE_BODY;
    let mut out = Vec::with_capacity(
        64 + path.len() + host.len() + fields + if inline { body.len() } else { 0 },
    );
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (k, v) in headers {
        if ours(k) {
            continue;
        }
        out.extend_from_slice(k.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || method == http::Method::POST {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if inline {
        out.extend_from_slice(body);
    }
    out
}

/// Whether [`request`] left `body` out (it is written after the head).
pub fn body_separate(body: &[u8]) -> bool {
    body.len() > 64 * 1024
}

/// Parses a response head at the start of `buf`: `Ok(None)` while it is incomplete,
/// else its length and what it says. Informational (1xx) heads are returned too; the
/// caller skips them.
pub fn response(buf: &[u8]) -> Result<Option<(usize, Head)>, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut fields);
    let len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HeadError::Parse(e)),
    };
    if len > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let code = r.code.ok_or(HeadError::Header("status code"))?;
    let status = StatusCode::from_u16(code).map_err(|_| HeadError::Header("status code"))?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(HeadError::Upgrade);
    }
    let version = if r.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let mut headers = HeaderMap::with_capacity(r.headers.len());
    for h in r.headers.iter() {
        let name =
            HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| HeadError::Header("name"))?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| HeadError::Header("value"))?;
        headers.append(name, value);
    }
    let (framing, framing_ok) = framing(status, &headers)?;
    let keep_alive = framing_ok && keeps_alive(version, &headers);
    Ok(Some((
        len,
        Head {
            status,
            version,
            headers,
            framing,
            keep_alive,
        },
    )))
}

/// The body's framing, and whether the connection stays usable after it.
fn framing(status: StatusCode, headers: &HeaderMap) -> Result<(Framing, bool), HeadError> {
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok((Framing::Empty, true));
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        let last = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .map(<[u8]>::trim_ascii)
            .rfind(|t| !t.is_empty());
        let chunked = last.is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
        // With a Content-Length beside it the message is suspect: read it, then close.
        let clean = chunked && !headers.contains_key(header::CONTENT_LENGTH);
        return Ok((
            if chunked {
                Framing::Chunked
            } else {
                Framing::Close
            },
            clean,
        ));
    }
    let mut length = None;
    for v in headers.get_all(header::CONTENT_LENGTH) {
        for part in v.as_bytes().split(|b| *b == b',') {
            let n = parse_length(part.trim_ascii()).ok_or(HeadError::Header("content-length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(HeadError::Header("content-length"));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(0) => (Framing::Empty, true),
        Some(n) => (Framing::Length(n), true),
        None => (Framing::Close, false),
    })
}

fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn keeps_alive(version: Version, headers: &HeaderMap) -> bool {
    let has = |token: &[u8]| {
        headers.get_all(header::CONNECTION).iter().any(|v| {
            v.as_bytes()
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
        })
    };
    if version == Version::HTTP_10 {
        has(b"keep-alive")
    } else {
        !has(b"close")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Head {
        match response(raw.as_bytes()) {
            Ok(Some((n, h))) => {
                assert_eq!(n, raw.len());
                h
            }
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    #[test]
    fn request_head_names_host_length_and_fields_and_drops_hop_by_hop_ones() {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("k"));
        h.insert("connection", HeaderValue::from_static("upgrade"));
        h.insert("host", HeaderValue::from_static("elsewhere"));
        h.insert("content-length", HeaderValue::from_static("999"));
        let uri: Uri = "http://127.0.0.1:8080/v1/messages?beta=true"
            .parse()
            .expect("uri");
        let out = request(&http::Method::POST, &uri, &h, b"{}");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "POST /v1/messages?beta=true HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nx-api-key: k\r\ncontent-length: 2\r\n\r\n{}"
        );
    }

    #[test]
    fn host_header_leaves_out_the_default_port() {
        let h = |u: &str| host_header(&u.parse().expect("uri"));
        assert_eq!(
            h("https://api.anthropic.com/v1").as_deref(),
            Some("api.anthropic.com")
        );
        assert_eq!(h("https://a.example:443/").as_deref(), Some("a.example"));
        assert_eq!(h("http://a.example:80/").as_deref(), Some("a.example"));
        assert_eq!(h("http://a.example:443/").as_deref(), Some("a.example:443"));
        assert_eq!(h("http://[::1]:9/").as_deref(), Some("[::1]:9"));
    }

    #[test]
    fn a_large_body_is_left_for_its_own_write() {
        let body = vec![b'x'; 64 * 1024 + 1];
        let uri: Uri = "http://h/p".parse().expect("uri");
        let out = request(&http::Method::POST, &uri, &HeaderMap::new(), &body);
        assert!(body_separate(&body));
        assert!(out.ends_with(b"content-length: 65537\r\n\r\n"));
    }

    #[test]
    fn framing_follows_rfc_9112_section_6_3() {
        let cases: &[(&str, Framing, bool)] = &[
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
                Framing::Length(5),
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
                Framing::Empty,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 5, 5\r\n\r\n",
                Framing::Length(5),
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                Framing::Chunked,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n",
                Framing::Chunked,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n",
                Framing::Chunked,
                false,
            ),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n",
                Framing::Close,
                false,
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", Framing::Close, false),
            ("HTTP/1.1 204 No Content\r\n\r\n", Framing::Empty, true),
            (
                "HTTP/1.1 304 Not Modified\r\ncontent-length: 7\r\n\r\n",
                Framing::Empty,
                true,
            ),
            ("HTTP/1.1 100 Continue\r\n\r\n", Framing::Empty, true),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\n",
                Framing::Length(5),
                false,
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nConnection: keep-alive, Close\r\n\r\n",
                Framing::Length(5),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\ncontent-length: 5\r\n\r\n",
                Framing::Length(5),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\ncontent-length: 5\r\nconnection: keep-alive\r\n\r\n",
                Framing::Length(5),
                true,
            ),
        ];
        for (raw, framing, keep) in cases {
            let h = head(raw);
            assert_eq!((h.framing, h.keep_alive), (*framing, *keep), "{raw:?}");
        }
    }

    #[test]
    fn bad_heads_are_refused_with_what_was_wrong() {
        let err = |raw: &[u8]| response(raw).expect_err("refused");
        assert_eq!(
            err(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n"),
            HeadError::Header("content-length")
        );
        assert_eq!(
            err(b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n"),
            HeadError::Header("content-length")
        );
        assert_eq!(
            err(b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n"),
            HeadError::Header("content-length")
        );
        assert_eq!(err(b"HTTP/1.1 101 Switching\r\n\r\n"), HeadError::Upgrade);
        assert!(matches!(err(b"SMTP ready\r\n\r\n"), HeadError::Parse(_)));
        let long = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD + 1));
        assert_eq!(err(long.as_bytes()), HeadError::TooLarge);
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x{i}: v\r\n")).collect();
        let raw = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
        assert!(matches!(err(raw.as_bytes()), HeadError::Parse(_)));
    }

    #[test]
    fn an_incomplete_head_asks_for_more() {
        assert!(matches!(
            response(b"HTTP/1.1 200 OK\r\ncontent-le"),
            Ok(None)
        ));
        assert!(matches!(response(b""), Ok(None)));
    }

    #[test]
    fn response_fields_are_kept_in_order_with_repeats() {
        let h = head(
            "HTTP/1.1 429 Too Many\r\nretry-after: 3\r\nset-cookie: a\r\nset-cookie: b\r\ncontent-length: 0\r\n\r\n",
        );
        assert_eq!(h.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            h.headers.get("retry-after").map(|v| v.as_bytes()),
            Some(&b"3"[..])
        );
        let cookies: Vec<_> = h.headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a", "b"]);
    }
}
