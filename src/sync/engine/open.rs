//! Opening the configured locations: folders as `DirStore`s, the bucket's prefixes as
//! S3 (or a folder standing in for the bucket).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;

use super::Engine;
use crate::config::sync::{BucketTarget, Resolved};
use crate::store::s3::{S3Bucket, S3Settings, Timeouts};
use crate::sync::location::{Counters, DirStore, Store};
use crate::sync::plan::LocId;
use crate::sync::s3::S3Prefix;

impl Engine {
    pub fn new(res: Resolved) -> anyhow::Result<Engine> {
        let counters = Arc::new(Counters::default());
        let mut stores = BTreeMap::new();
        stores.insert(
            LocId::Local,
            Store::Dir(DirStore::new(res.local.clone(), counters.clone(), true)),
        );
        if let Some(d) = &res.ccs {
            stores.insert(
                LocId::Ccs,
                Store::Dir(DirStore::new(d.clone(), counters.clone(), false)),
            );
        }
        if let Some(d) = &res.dotfiles {
            stores.insert(
                LocId::Dotfiles,
                Store::Dir(
                    DirStore::new(d.clone(), counters.clone(), false)
                        .with_sealing(res.dotfiles_sealing.clone()),
                ),
            );
        }
        let config_store = match &res.bucket {
            None => Store::Dir(DirStore::new(
                res.state_dir.join("config"),
                counters.clone(),
                false,
            )),
            Some(b) => {
                let mk: Box<dyn Fn(&str) -> Store> = match &b.target {
                    BucketTarget::Dir(root) => {
                        let (root, counters) = (root.clone(), counters.clone());
                        Box::new(move |prefix| {
                            Store::Dir(DirStore::new(
                                root.join(prefix.trim_end_matches('/')),
                                counters.clone(),
                                false,
                            ))
                        })
                    }
                    BucketTarget::S3 {
                        endpoint,
                        bucket,
                        region,
                        access_key,
                        secret_key,
                    } => {
                        // One client (one connection pool) for every prefix of the bucket.
                        let bucket = S3Bucket::new(
                            &S3Settings {
                                endpoint: endpoint.clone(),
                                region: region.clone(),
                                bucket: bucket.clone(),
                                access_key: access_key.expose().to_string(),
                                secret_key: secret_key.expose().to_string(),
                            },
                            Timeouts::BACKGROUND,
                        );
                        let counters = counters.clone();
                        Box::new(move |prefix| {
                            Store::S3(S3Prefix {
                                bucket: bucket.clone(),
                                prefix: prefix.to_string(),
                                counters: counters.clone(),
                            })
                        })
                    }
                };
                stores.insert(LocId::Primary, mk(&b.primary_prefix));
                stores.insert(LocId::Backup, mk(&b.backup_prefix));
                mk(&b.config_prefix)
            }
        };
        Ok(Engine {
            res,
            stores,
            config_store,
            counters,
            run_lock: tokio::sync::Mutex::new(()),
            known: Mutex::new(HashMap::new()),
            reachable: Mutex::new(BTreeMap::new()),
            last_saved: Mutex::new(None),
            last_run: Mutex::new(None),
        })
    }
}
