//! Auth files in CLIProxyAPI's format. The JSON object is kept whole (key order
//! preserved) so fields we do not know survive a rewrite.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::config::Secret;
use crate::providers::Provider;

/// Shown when an auth file's `type` names no provider we know.
const GENERIC_LOGIN: &str = "cliproxy login <provider>";

/// One parsed auth file.
#[derive(Clone)]
pub struct AuthFile {
    pub path: PathBuf,
    /// File name, e.g. `claude-user@example.com.json`: the account's id.
    pub name: String,
    /// The provider whose `type` this is (`None`: a type we do not know).
    pub provider: Option<Provider>,
    pub type_name: String,
    pub fields: Map<String, Value>,
    /// Whether the file was written indented (we keep its style on rewrite).
    pub pretty: bool,
    pub hash: String,
}

impl std::fmt::Debug for AuthFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthFile")
            .field("name", &self.name)
            .field("type", &self.type_name)
            .field("email", &self.str_field("email"))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("auth file {path}: {message}")]
pub struct AuthFileError {
    pub path: String,
    pub message: String,
}

impl AuthFile {
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<AuthFile, AuthFileError> {
        let err = |message: String| AuthFileError {
            path: path.display().to_string(),
            message,
        };
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| err(format!("invalid JSON: {e}")))?;
        let Value::Object(fields) = value else {
            return Err(err("not a JSON object".into()));
        };
        let type_name = match fields.get("type") {
            Some(Value::String(t)) if !t.is_empty() => t.clone(),
            _ => return Err(err("field `type` is missing or not a string".into())),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(AuthFile {
            path: path.to_path_buf(),
            name,
            provider: Provider::from_auth_type(&type_name),
            type_name,
            fields,
            pretty: bytes.contains(&b'\n') && bytes.trim_ascii().contains(&b'\n'),
            hash: crate::store::sha256_hex(bytes),
        })
    }

    /// What to run to log this account in again.
    pub fn login_command(&self) -> &'static str {
        self.provider
            .and_then(Provider::login_command)
            .unwrap_or(GENERIC_LOGIN)
    }

    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    pub fn secret_field(&self, key: &str) -> Option<Secret> {
        self.str_field(key)
            .filter(|s| !s.is_empty())
            .map(Secret::new)
    }

    pub fn bool_field(&self, key: &str) -> bool {
        match self.fields.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        }
    }

    pub fn int_field(&self, key: &str) -> Option<i64> {
        match self.fields.get(key) {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn email(&self) -> Option<&str> {
        self.str_field("email")
    }

    /// Token expiry: `expired` (RFC 3339), or Gemini's `token.expiry`.
    pub fn expiry(&self) -> Option<jiff::Timestamp> {
        let raw = self.str_field("expired").or_else(|| {
            self.fields
                .get("token")
                .and_then(|t| t.get("expiry"))
                .and_then(Value::as_str)
        })?;
        raw.parse().ok()
    }

    pub fn last_refresh(&self) -> Option<jiff::Timestamp> {
        self.str_field("last_refresh")?.parse().ok()
    }

    pub fn excluded_models(&self) -> Vec<String> {
        ["excluded_models", "excluded-models"]
            .iter()
            .filter_map(|k| self.fields.get(*k))
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }

    pub fn headers(&self) -> Vec<(String, String)> {
        self.fields
            .get("headers")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Serialises in the file's own style (indented or compact), keeping unknown fields.
    pub fn to_bytes(&self) -> Vec<u8> {
        let v = Value::Object(self.fields.clone());
        let mut out = if self.pretty {
            serde_json::to_vec_pretty(&v)
        } else {
            serde_json::to_vec(&v)
        }
        .unwrap_or_default();
        out.push(b'\n');
        out
    }
}

/// Formats a time the way CLIProxyAPI writes it (RFC 3339, seconds, local offset kept as given).
pub fn rfc3339(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
        .replace("+00:00", "Z")
}

/// RFC 3339 with milliseconds, for `last_refresh`: two refreshes of one account in the same
/// second must still order (sync's freshness rule reads it). Every RFC 3339 parser, Go's
/// included, reads the fraction.
pub fn rfc3339_ms(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
        .replace("+00:00", "Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_order_survive_a_rewrite() {
        let src = br#"{"type":"claude","zeta":1,"access_token":"a","nested":{"x":[1,2]},"email":"u@e.com","expired":"2025-01-01T00:00:00+08:00"}"#;
        let mut f = AuthFile::parse(Path::new("/x/claude-u@e.com.json"), src).unwrap();
        assert_eq!(f.provider, Some(Provider::Claude));
        assert_eq!(f.name, "claude-u@e.com.json");
        assert_eq!(
            f.expiry().unwrap(),
            "2024-12-31T16:00:00Z".parse::<jiff::Timestamp>().unwrap()
        );
        f.fields
            .insert("access_token".into(), Value::String("b".into()));
        let out = String::from_utf8(f.to_bytes()).unwrap();
        assert_eq!(
            out,
            "{\"type\":\"claude\",\"zeta\":1,\"access_token\":\"b\",\"nested\":{\"x\":[1,2]},\"email\":\"u@e.com\",\"expired\":\"2025-01-01T00:00:00+08:00\"}\n"
        );
    }

    #[test]
    fn broken_files_report_path_and_reason() {
        let e = AuthFile::parse(Path::new("/a/b.json"), b"{\"type\":").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("auth file /a/b.json: invalid JSON"),
            "{e}"
        );
        let e = AuthFile::parse(Path::new("/a/c.json"), b"{\"x\":1}").unwrap_err();
        assert!(e.to_string().contains("`type`"), "{e}");
    }

    #[test]
    fn debug_hides_tokens() {
        let f = AuthFile::parse(
            Path::new("/a/claude-x.json"),
            br#"{"type":"claude","access_token":"sk-ant-oat01-secret","email":"x@y"}"#,
        )
        .unwrap();
        assert!(!format!("{f:?}").contains("secret"));
    }

    #[test]
    fn rfc3339_uses_z_for_utc() {
        let ts: jiff::Timestamp = "2026-01-02T03:04:05.678Z".parse().unwrap();
        assert_eq!(rfc3339(ts), "2026-01-02T03:04:05Z");
        assert_eq!(rfc3339_ms(ts), "2026-01-02T03:04:05.678Z");
        assert_eq!(rfc3339_ms(ts).parse::<jiff::Timestamp>().unwrap(), ts);
    }
}
