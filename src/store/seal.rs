//! Files sealed at rest with age (X25519): the dotfiles copy is a git repository that
//! may be pushed anywhere, so tokens go there encrypted (SPEC §12). One identity both
//! encrypts (to its own public key) and decrypts; it never appears in logs or `Debug`.

use std::io::{Read, Write};

use age::secrecy::ExposeSecret;

/// Binary and armored age files start with one of these.
const BINARY_MAGIC: &[u8] = b"age-encryption.org/v1\n";
const ARMOR_MAGIC: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";

/// An age X25519 identity and where it came from (the source is named in errors).
#[derive(Clone)]
pub struct AgeKey {
    identity: age::x25519::Identity,
    recipient: age::x25519::Recipient,
    source: String,
}

impl std::fmt::Debug for AgeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The public key and the source only.
        f.debug_struct("AgeKey")
            .field("recipient", &self.recipient.to_string())
            .field("source", &self.source)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SealError(String);

impl AgeKey {
    /// Parses an identity from `text`: the key itself (`AGE-SECRET-KEY-1…`) or an
    /// `age-keygen` key file (comment lines allowed; the first key is used). Errors name
    /// `source` and never repeat the text.
    pub fn parse(text: &str, source: &str) -> Result<AgeKey, SealError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| SealError(format!("{source}: no age identity found (expected a line AGE-SECRET-KEY-1…, as `age-keygen` writes)")))?;
        let identity: age::x25519::Identity = line.parse().map_err(|_| {
            SealError(format!(
                "{source}: not an age X25519 identity (expected AGE-SECRET-KEY-1…, as `age-keygen` writes)"
            ))
        })?;
        let recipient = identity.to_public();
        Ok(AgeKey {
            identity,
            recipient,
            source: source.to_string(),
        })
    }

    /// A new random identity (tests, and users who want one: `age-keygen` does the same).
    pub fn generate(source: &str) -> AgeKey {
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();
        AgeKey {
            identity,
            recipient,
            source: source.to_string(),
        }
    }

    /// The identity as text (for tests that write it into a `.env`).
    pub fn secret_string(&self) -> String {
        self.identity.to_string().expose_secret().to_string()
    }

    /// The public key (`age1…`), safe to show.
    pub fn recipient(&self) -> String {
        self.recipient.to_string()
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Encrypts `plaintext` to this key, ASCII-armored (git shows it as text). The
    /// output is randomized: the same plaintext seals differently each time.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let fail = |e: &dyn std::fmt::Display| SealError(format!("age encryption failed: {e}"));
        let encryptor = age::Encryptor::with_recipients(std::iter::once(
            &self.recipient as &dyn age::Recipient,
        ))
        .map_err(|e| fail(&e))?;
        let mut out = Vec::with_capacity(plaintext.len() * 4 / 3 + 300);
        let armor =
            age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
                .map_err(|e| fail(&e))?;
        let mut w = encryptor.wrap_output(armor).map_err(|e| fail(&e))?;
        w.write_all(plaintext).map_err(|e| fail(&e))?;
        w.finish().and_then(|a| a.finish()).map_err(|e| fail(&e))?;
        Ok(out)
    }

    /// Decrypts an age file (armored or binary) sealed to this key.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let fail = |e: &dyn std::fmt::Display| {
            SealError(format!(
                "cannot decrypt with the age key from {} ({e})",
                self.source
            ))
        };
        let d = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(sealed))
            .map_err(|e| fail(&e))?;
        let mut r = d
            .decrypt(std::iter::once(&self.identity as &dyn age::Identity))
            .map_err(|e| fail(&e))?;
        let mut out = Vec::with_capacity(sealed.len());
        r.read_to_end(&mut out).map_err(|e| fail(&e))?;
        Ok(out)
    }
}

/// Whether `bytes` is an age file (binary or armored), as opposed to a plaintext copy.
pub fn is_sealed(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let b = &bytes[start..];
    b.starts_with(BINARY_MAGIC) || b.starts_with(ARMOR_MAGIC)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sealed_output_is_armored_randomized_and_opens_to_the_plaintext() {
        let k = AgeKey::generate("test");
        let a = k.seal(b"{\"type\":\"claude\"}").unwrap();
        let b = k.seal(b"{\"type\":\"claude\"}").unwrap();
        assert!(a.starts_with(ARMOR_MAGIC) && is_sealed(&a));
        assert_ne!(a, b, "age output is randomized");
        assert_eq!(k.open(&a).unwrap(), b"{\"type\":\"claude\"}");
        assert!(!is_sealed(b"{\"type\":\"claude\"}"));
        // Binary age files (`age -e` without -a) open too.
        let bin = age::encrypt(&k.recipient, b"x").unwrap();
        assert!(is_sealed(&bin));
        assert_eq!(k.open(&bin).unwrap(), b"x");
    }

    #[test]
    fn another_key_cannot_open_and_the_error_names_the_source() {
        let k = AgeKey::generate("test");
        let other = AgeKey::generate("CLIPROXY_DOTFILES_AGE_KEY");
        let e = other.open(&k.seal(b"x").unwrap()).unwrap_err().to_string();
        assert!(e.contains("CLIPROXY_DOTFILES_AGE_KEY"), "{e}");
    }

    #[test]
    fn key_files_parse_and_errors_never_repeat_the_text() {
        let k = AgeKey::generate("x");
        let file = format!(
            "# created: 2026-01-01\n# public key: {}\n{}\n",
            k.recipient(),
            k.secret_string()
        );
        let parsed = AgeKey::parse(&file, "key.txt").unwrap();
        assert_eq!(parsed.recipient(), k.recipient());
        let dbg = format!("{parsed:?}");
        assert!(
            !dbg.contains(&k.secret_string()) && dbg.contains("age1"),
            "{dbg}"
        );

        let bad = "AGE-SECRET-KEY-1NOTAREALKEYBUTSECRETLOOKINGTEXT";
        let e = AgeKey::parse(bad, "sync.dotfiles.age-key-file /k").unwrap_err();
        assert!(
            e.to_string().contains("sync.dotfiles.age-key-file /k"),
            "{e}"
        );
        assert!(!e.to_string().contains("NOTAREALKEY"), "{e}");
        assert!(AgeKey::parse("# only a comment\n", "f").is_err());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod prop_tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the bytes (empty, binary, text that looks like age armor), sealing
        /// then opening gives them back exactly, and the sealed form is recognised.
        #[test]
        fn seal_then_open_gives_back_any_bytes(
            bytes in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..4096),
                Just(ARMOR_MAGIC.to_vec()),
                Just(BINARY_MAGIC.to_vec()),
            ]
        ) {
            let k = AgeKey::generate("prop");
            let sealed = k.seal(&bytes).unwrap();
            prop_assert!(is_sealed(&sealed));
            prop_assert_eq!(k.open(&sealed).unwrap(), bytes);
        }
    }
}
