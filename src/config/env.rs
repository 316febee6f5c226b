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
        let iter = dotenvy::from_path_iter(path).map_err(|e| err(e.to_string()))?;
        for item in iter {
            let (k, v) = item.map_err(|e| err(e.to_string()))?;
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
    fn missing_env_file_error_names_the_file() {
        let e = EnvMap::default()
            .with_env_file(Path::new("/nonexistent/.env"))
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/.env"), "{e}");
    }
}
