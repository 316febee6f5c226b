//! A bucket prefix as a sync location: the shared S3 adapter (`crate::store::s3`) plus
//! the engine's request counters and location-labelled errors.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::location::{Cond, Counters, Entry, LocError, PutOutcome};
use crate::store::s3::{S3Bucket, S3Error};

/// A prefix in a bucket (`auths/`, `backup/auths/`, `config/`).
#[derive(Clone)]
pub struct S3Prefix {
    pub bucket: S3Bucket,
    pub prefix: String,
    pub counters: Arc<Counters>,
}

impl S3Prefix {
    pub fn describe(&self) -> String {
        format!("{}/{}", self.bucket.describe(), self.prefix)
    }

    fn err(&self, e: S3Error) -> LocError {
        LocError::new(self.describe(), e.to_string())
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    async fn list_inner(&self, delimited: bool) -> Result<BTreeMap<String, Entry>, LocError> {
        Counters::bump(&self.counters.s3_list);
        let listed = self
            .bucket
            .list(&self.prefix, delimited)
            .await
            .map_err(|e| self.err(e))?;
        Ok(listed
            .into_iter()
            .map(|l| {
                (
                    l.name,
                    Entry {
                        tag: l.etag,
                        mtime: l.mtime,
                        content: None,
                    },
                )
            })
            .collect())
    }

    /// The names directly under the prefix.
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
        self.bucket
            .get(&self.key(name))
            .await
            .map_err(|e| self.err(e))
    }

    pub async fn put(
        &self,
        name: &str,
        body: Bytes,
        cond: Option<Cond>,
    ) -> Result<PutOutcome, LocError> {
        Counters::bump(&self.counters.s3_put);
        self.bucket
            .put(&self.key(name), body, cond)
            .await
            .map_err(|e| self.err(e))
    }

    pub async fn delete(&self, name: &str) -> Result<(), LocError> {
        Counters::bump(&self.counters.s3_delete);
        self.bucket
            .delete(&self.key(name))
            .await
            .map_err(|e| self.err(e))
    }
}
