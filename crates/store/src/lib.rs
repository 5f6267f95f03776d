//! Versioned storage of care and support plans on SQLite (the embedded default) and PostgreSQL,
//! through one sqlx `Any` code path.
//!
//! Every accepted command commits one immutable version. Items are stored as rows valid over an
//! interval of versions (`valid_from` ≤ v < `valid_to`), so a version costs the rows it changed,
//! and any version is read with the same indexed query as the current one.

pub mod accounts;
pub mod attach;
pub mod audit;
mod audit_writer;
mod blob_refs;
mod cache;
mod commit;
mod encoding;
mod error;
mod fhir_index;
pub mod handle;
mod ids;
mod read;
mod readers;
mod script;
pub mod sqlite_writer;
mod write;

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use careplan_model::{Plan, PlanId, VersionNumber};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Connection, Executor};

pub use error::StoreError;
pub use ids::{new_person_id, new_plan_id};
pub use read::{PersonSummary, PlanRef, VersionInfo};
pub use write::Committed;

/// Which database a store runs on. Only the few statements SQL cannot share look at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the plan store. Cheap to clone (one shared pointer); all clones share the
/// connections and caches.
#[derive(Debug, Clone)]
pub struct Store(Arc<Inner>);

impl std::ops::Deref for Store {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// What a [`Store`] shares between its clones.
#[derive(Debug)]
pub struct Inner {
    backend: Backend,
    /// Writes of accounts, tokens and sessions, and on PostgreSQL every commit. On SQLite it has
    /// one connection (SQLite has one writer at a time anyway, and queuing in-process beats
    /// spinning on the file lock).
    writer: AnyPool,
    /// Writes whole transactions (a change and its audit rows): on SQLite through the SQLite
    /// writer thread (`sqlite_writer.rs`), on PostgreSQL through `writer`.
    committer: commit::Committer,
    /// Reads go through here: on SQLite a few connections of the store's own, on PostgreSQL the
    /// same pool as `writer`.
    reader: readers::Readers,
    /// The latest committed version of recently written plans, so a write does not read and
    /// decode the whole plan again. An entry is used only for a write based on exactly its
    /// version, and that write succeeds only if the database head is still that version, so a
    /// stale entry (another process wrote) can never be applied.
    heads: HeadCache,
    /// The releases of recently read plans with how many there were: releases are only ever
    /// added, so the same count means the same releases.
    releases: Recent<PlanId, CountedReleases>,
    /// Plan ids found by plan id or person id, which never change (NHS numbers can, so a look-up
    /// by NHS number always asks the database).
    plan_ids: Recent<String, PlanId>,
    /// Audit entries of reads and denials go to the audit writer, which commits them in groups
    /// (on SQLite the SQLite writer thread, on PostgreSQL a task).
    audit_queue: audit_writer::Queue,
    /// What audited reads may take from memory: token accounts and current plans, checked when
    /// the read's audit entry commits (SQLite only; see `cache.rs`).
    cache: Arc<cache::ReadCache>,
}

/// A small map, bounded in size, for what is worth remembering between requests. Entries are
/// only ever hints checked against the database (by version number, or by a count that only
/// grows), or facts that never change.
#[derive(Debug)]
struct Recent<K, V> {
    entries: Mutex<HashMap<K, V>>,
}

impl<K, V> Default for Recent<K, V> {
    fn default() -> Self {
        Recent {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone> Recent<K, V> {
    const CAPACITY: usize = 256;

    fn get_if(&self, key: &K, fresh: impl FnOnce(&V) -> bool) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|v| fresh(v)).cloned()
    }

    fn put(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= Self::CAPACITY && !entries.contains_key(&key) {
            // Evict any one entry: a miss only costs one read.
            if let Some(victim) = entries.keys().next().cloned() {
                entries.remove(&victim);
            }
        }
        entries.insert(key, value);
    }
}

/// A plan's releases and how many there were when they were read.
type CountedReleases = (i64, Arc<Vec<careplan_model::Release>>);

/// The latest committed version of recently used plans.
#[derive(Debug, Default)]
struct HeadCache(Recent<PlanId, Arc<Plan>>);

impl HeadCache {
    fn get(&self, id: &PlanId, version: VersionNumber) -> Option<Arc<Plan>> {
        self.0.get_if(id, |p| p.version == version)
    }

    fn put(&self, plan: Plan) {
        self.put_shared(Arc::new(plan));
    }

    fn put_shared(&self, plan: Arc<Plan>) {
        self.0.put(plan.id.clone(), plan);
    }
}

/// Set on every sqlx SQLite connection. WAL with synchronous=FULL: a commit returns only after
/// the WAL is on disk, so an acknowledged write survives a crash of the process or the machine.
/// (The SQLite writer thread sets its own: `sqlite_writer.rs`.)
pub(crate) const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";

/// The file name of the embedded SQLite database inside the data directory.
pub const SQLITE_FILE: &str = "careplan.sqlite3";

impl Store {
    /// Opens (creating if needed) the store at `url`: `sqlite://PATH` or `postgres://…`, and
    /// brings its schema up to date.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Config(format!(
                "the database URL must start with sqlite: or postgres:, not “{}”",
                url.split(':').next().unwrap_or(url)
            )));
        };
        let options = AnyConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("the database URL is not valid: {e}")))?;
        let store = match backend {
            Backend::Sqlite => {
                let file = sqlite_file(url)?;
                let pool = |max: u32| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .acquire_timeout(Duration::from_secs(30))
                        // A local file: no connection to lose, so skip the ping per acquire.
                        .test_before_acquire(false)
                        .after_connect(|conn, _meta| {
                            Box::pin(async move {
                                conn.execute(SQLITE_PRAGMAS).await?;
                                Ok(())
                            })
                        })
                        .connect_with(options.clone())
                };
                let writer = pool(1).await?;
                let reader = readers::Readers::own(options.clone(), 4);
                let cache = Arc::new(cache::ReadCache::new(true));
                let jobs = sqlite_writer::start(file, cache.clone())?;
                let committer = commit::Committer::new(
                    backend,
                    writer.clone(),
                    Some(jobs.clone()),
                    cache.clone(),
                );
                let audit_queue = audit_writer::Queue::Thread(jobs);
                Store(Arc::new(Inner {
                    backend,
                    writer,
                    committer,
                    reader,
                    heads: HeadCache::default(),
                    releases: Recent::default(),
                    plan_ids: Recent::default(),
                    audit_queue,
                    cache,
                }))
            }
            Backend::Postgres => {
                // One direct connection first, so an unreachable server is reported at once
                // with its real cause rather than as a pool time-out.
                let probe = sqlx::AnyConnection::connect_with(&options)
                    .await
                    .map_err(|e| {
                        StoreError::Config(format!("cannot connect to the database: {e}"))
                    })?;
                probe.close().await?;
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options.clone())
                    .await?;
                let cache = Arc::new(cache::ReadCache::new(false));
                let committer = commit::Committer::new(backend, pool.clone(), None, cache.clone());
                let audit_queue = audit_writer::start_postgres(committer.clone());
                Store(Arc::new(Inner {
                    backend,
                    writer: pool.clone(),
                    committer,
                    reader: readers::Readers::Pool(pool),
                    heads: HeadCache::default(),
                    releases: Recent::default(),
                    plan_ids: Recent::default(),
                    audit_queue,
                    cache,
                }))
            }
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the embedded SQLite store in `data_dir`, creating the directory and file if needed.
    pub async fn open_data_dir(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Config(format!(
                "cannot create the data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        Store::open(&sqlite_url(&data_dir.join(SQLITE_FILE))).await
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await?;
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&mut *conn)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&mut *conn)
                    .await?
            }
        }
        Ok(())
    }

    /// Checks the database answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.reader.get().await?)
            .await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pools, waiting for work under way to finish.
    pub async fn close(&self) {
        // The audit entries already answered for, synced, before anything else closes.
        self.audit_queue.close().await;
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// The file of the SQLite database at `url`: careplan keeps SQLite in a file, never only in
/// memory (the audit writer opens it too).
fn sqlite_file(url: &str) -> Result<std::path::PathBuf, StoreError> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Config(format!("the database URL is not valid: {e}")))?;
    let file = options.get_filename();
    let in_memory = url.contains(":memory:")
        || url
            .split_once('?')
            .is_some_and(|(_, query)| query.split('&').any(|pair| pair == "mode=memory"));
    if in_memory || file.as_os_str().is_empty() {
        return Err(StoreError::Config(
            "careplan keeps its SQLite database in a file: give a path, not “:memory:”".into(),
        ));
    }
    Ok(file.to_path_buf())
}

/// The sqlx URL of a SQLite file, created if missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}
