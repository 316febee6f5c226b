use std::collections::BTreeMap;
use std::path::Path;

/// The variables the binary sees: the process environment overlaid on an optional
/// `.env` file. The file is parsed (dotenv syntax), never executed, and the process
/// environment is never modified. As with dotenv tools, a variable already set in
/// the process environment wins over the file.
#[derive(Clone, Default)]
pub struct EnvMap {
    vars: BTreeMap<String, String>,
}

impl std::fmt::Debug for EnvMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: values are secrets.
        f.debug_list().entries(self.vars.keys()).finish()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("env file {path}: {message}")]
pub struct EnvFileError {
    pub path: String,
    pub message: String,
}

/// A dotenv error without the line's text (dotenvy quotes the whole line, value and all).
fn describe(e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(line, at) => {
            let name = line
                .trim_start()
                .trim_start_matches("export ")
                .split(['=', ' '])
                .next()
                .filter(|n| {
                    !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            match name {
                Some(n) => {
                    format!("the line setting {n} does not parse (dotenv syntax; character {at})")
                }
                None => format!("a line does not parse (dotenv syntax; character {at})"),
            }
        }
        other => other.to_string(),
    }
}

impl EnvMap {
    pub fn from_process() -> Self {
        EnvMap {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        EnvMap {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Reads a dotenv file; variables it defines are added unless already present.
    pub fn with_env_file(mut self, path: &Path) -> Result<Self, EnvFileError> {
        let err = |message: String| EnvFileError {
            path: path.display().to_string(),
            message,
        };
        let iter = dotenvy::from_path_iter(path).map_err(|e| err(describe(&e)))?;
        for item in iter {
            let (k, v) = item.map_err(|e| err(describe(&e)))?;
            self.vars.entry(k).or_insert(v);
        }
        Ok(self)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// First non-empty value among `names`, in order (used for fallbacks such as
    /// `OBJECTSTORE_BUCKET` then `AWS_S3_BUCKET`).
    pub fn get_any(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .filter_map(|n| self.get(n))
            .find(|v| !v.is_empty())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_is_parsed_not_executed_and_process_env_wins() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join(".env");
        std::fs::write(
            &f,
            "A=\"from file\"\nB='$(touch pwned)'\nexport C='x # y'\n# D=comment\n",
        )
        .unwrap();
        let env = EnvMap::from_pairs([("A", "from process")])
            .with_env_file(&f)
            .unwrap();
        assert_eq!(env.get("A"), Some("from process"));
        assert_eq!(env.get("B"), Some("$(touch pwned)"));
        assert_eq!(env.get("C"), Some("x # y"));
        assert_eq!(env.get("D"), None);
        assert!(!dir.path().join("pwned").exists());
        assert!(!format!("{env:?}").contains("from process"));
    }

    #[test]
    fn a_line_that_does_not_parse_is_named_by_its_variable_not_its_value() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join(".env");
        std::fs::write(&f, "OK=1\nAPI_KEY=\"sk-unterminated-secret\n").unwrap();
        let e = EnvMap::default().with_env_file(&f).unwrap_err().to_string();
        assert!(e.contains("API_KEY") && e.contains(".env"), "{e}");
        assert!(!e.contains("sk-unterminated-secret"), "{e}");
    }

    #[test]
    fn missing_env_file_error_names_the_file() {
        let e = EnvMap::default()
            .with_env_file(Path::new("/nonexistent/.env"))
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/.env"), "{e}");
    }
}
