use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// A configured secret (client key, upstream key, password). `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }

    /// Constant-time comparison, so response timing does not leak how much of a key matched.
    pub fn ct_eq(&self, candidate: &str) -> bool {
        use subtle::ConstantTimeEq;
        let a = self.expose().as_bytes();
        let b = candidate.as_bytes();
        // Lengths are compared openly: key length is not considered secret.
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }
}

impl Default for Secret {
    fn default() -> Self {
        Secret::new("")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("\"[redacted]\"")
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Secret::new(s.trim().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("sk-very-secret");
        assert_eq!(format!("{s:?}"), "\"[redacted]\"");
        assert!(s.ct_eq("sk-very-secret"));
        assert!(!s.ct_eq("sk-very-secreT"));
        assert!(!s.ct_eq("sk"));
    }
}
