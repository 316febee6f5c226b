//! What a web page may make a browser send here. A page cannot read the answers of
//! another origin, but it can *send* a "simple" request (`text/plain` POST, no
//! preflight) that spends an account, and with DNS rebinding a page on `evil.example`
//! becomes same-origin with a gateway on loopback. So: foreign `Origin`s are refused,
//! model routes take JSON only (which a page cannot send cross-origin without a
//! preflight), and a gateway on loopback answers only to loopback `Host` names.
//! Each decision is a pure function, shared by every router that needs it.

use std::net::IpAddr;

/// Whether a request naming `host` (the `Host` header or the URI authority, with or
/// without a port) may be served by a gateway bound to `bind_host`. Beyond loopback
/// the listener is reachable by any name, so any is accepted; on loopback only
/// loopback names, the bound host itself and `allowed_hosts` are (a rebound DNS name
/// is not). A request without a host (HTTP/1.0) is not a browser's.
pub fn host_allowed(host: Option<&str>, bind_host: &str, allowed_hosts: &[String]) -> bool {
    if !is_loopback_host(bind_host) {
        return true;
    }
    let Some(host) = host else { return true };
    let name = strip_port(host.trim());
    if name.is_empty() {
        return false;
    }
    is_loopback_host(name)
        || name.eq_ignore_ascii_case(bind_host)
        || allowed_hosts
            .iter()
            .any(|h| strip_port(h.trim()).eq_ignore_ascii_case(name))
}

/// Loopback addresses, `localhost` and names under `.localhost` (RFC 6761: they never
/// leave the machine).
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    let lower = h.to_ascii_lowercase();
    lower == "localhost"
        || lower.ends_with(".localhost")
        || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `name` without a trailing `:port` (`[::1]:8317` → `::1`).
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match host.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// Whether a browser page at `origin` may call the gateway: only origins listed in
/// `allowed-origins` (`*` allows any). `null` (sandboxed frames, `file:` pages) is
/// foreign unless listed.
pub fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let origin = origin.trim().trim_end_matches('/');
    allowed.iter().any(|a| {
        let a = a.trim().trim_end_matches('/');
        a == "*" || a.eq_ignore_ascii_case(origin)
    })
}

/// Whether `content_type` is JSON (`application/json`, any `+json` type, with
/// parameters). A missing type is not: a page's form or `text/plain` POST has one
/// that is not JSON, and SDKs always send theirs.
pub fn is_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_on_a_loopback_gateway() {
        let extra = vec!["gateway.lan".to_string()];
        let cases: &[(&str, Option<&str>, bool)] = &[
            ("127.0.0.1", Some("127.0.0.1:8317"), true),
            ("127.0.0.1", Some("localhost:8317"), true),
            ("127.0.0.1", Some("LOCALHOST"), true),
            ("127.0.0.1", Some("[::1]:8317"), true),
            ("127.0.0.1", Some("127.0.0.2"), true),
            ("127.0.0.1", Some("app.localhost:8317"), true),
            ("127.0.0.1", Some("gateway.lan:8317"), true),
            ("127.0.0.1", Some("evil.example:8317"), false),
            ("127.0.0.1", Some("evil.example"), false),
            ("127.0.0.1", Some("localhost.evil.example"), false),
            ("127.0.0.1", Some("192.168.1.5:8317"), false),
            ("127.0.0.1", Some(""), false),
            ("127.0.0.1", None, true),
            ("::1", Some("[::1]"), true),
            ("::1", Some("evil.example"), false),
            ("0.0.0.0", Some("evil.example"), true),
            ("192.168.1.5", Some("anything"), true),
        ];
        for (bind, host, want) in cases {
            assert_eq!(
                host_allowed(*host, bind, &extra),
                *want,
                "bind {bind}, Host {host:?}"
            );
        }
    }

    #[test]
    fn origins_are_allowed_only_when_listed() {
        let list = vec!["https://app.example".to_string()];
        assert!(origin_allowed("https://app.example", &list));
        assert!(origin_allowed("HTTPS://APP.EXAMPLE/", &list));
        assert!(!origin_allowed("https://app.example.evil", &list));
        assert!(!origin_allowed("http://app.example", &list));
        assert!(!origin_allowed("null", &list));
        assert!(!origin_allowed("https://app.example", &[]));
        assert!(origin_allowed("null", &["*".to_string()]));
    }

    #[test]
    fn only_json_content_types_pass() {
        for (ct, want) in [
            (Some("application/json"), true),
            (Some("Application/JSON; charset=utf-8"), true),
            (Some("application/vnd.api+json"), true),
            (Some("text/plain"), false),
            (Some("text/plain;charset=UTF-8"), false),
            (Some("application/x-www-form-urlencoded"), false),
            (Some("multipart/form-data; boundary=x"), false),
            (Some("text/json+plain"), false),
            (None, false),
        ] {
            assert_eq!(is_json(ct), want, "{ct:?}");
        }
    }
}
