//! Committing one write transaction: the statements of a change, then its audit entries.
//!
//! On SQLite the whole transaction — `BEGIN IMMEDIATE`, the change, the audit rows, the move of
//! the audit head and `COMMIT` — goes to the connection's worker thread as one script, so a
//! commit is one round trip. (Each round trip is a hand-off to that thread and back; profiling
//! showed those hand-offs, not SQLite, to be most of a small commit's time.) To write the audit
//! rows without first reading the end of the chain, the committer remembers the end it last
//! wrote ([`ChainEnd`]). If another process has appended since, the first audit row's `seq` —
//! the primary key of `audit_log` — is already taken, the statement fails, the transaction is
//! rolled back, and the commit is made again, this time reading the end inside the write
//! transaction. No row can ever be written after a stale end.
//!
//! On PostgreSQL, whose extended protocol takes one statement per query, the statements run one
//! after another in a transaction, and the audit head is read `FOR UPDATE` last.

use std::sync::{Arc, Mutex};

use careplan_model::Timestamp;
use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Executor};

use crate::audit::{AuditEntry, ChainEnd, append_in, push_after, read_head};
use crate::cache::ReadCache;
use crate::script::Script;
use crate::{Backend, StoreError};

/// Writes transactions for one store; every clone shares the connection and the remembered
/// chain end.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    backend: Backend,
    /// PostgreSQL: transactions come from the pool.
    writer: AnyPool,
    /// SQLite: one connection of its own, opened on first use and again after a failure. (A
    /// pooled connection costs a spawned task and a ping of the worker thread on every release,
    /// as much again as the rest of a small commit.)
    sqlite: Arc<tokio::sync::Mutex<Option<AnyConnection>>>,
    options: AnyConnectOptions,
    /// The end of the audit chain as this process last committed it (SQLite only).
    chain_end: Arc<Mutex<Option<ChainEnd>>>,
    /// What reads keep in memory: dropped after every commit made here, and whenever the audit
    /// writer finds that another connection has committed.
    cache: Arc<ReadCache>,
}

/// The SQLite connection in the middle of a one-script transaction. If the future running the
/// commit is dropped half-way (a client went away), the transaction may still be open: the
/// connection is then dropped, which closes it and so rolls the transaction back, and the next
/// commit opens a new one.
struct Unfinished<'a> {
    slot: tokio::sync::MutexGuard<'a, Option<AnyConnection>>,
    done: bool,
}

impl Unfinished<'_> {
    fn conn(&mut self) -> &mut AnyConnection {
        self.slot
            .as_mut()
            .expect("the connection is opened before the commit starts")
    }

    fn finish(mut self) {
        self.done = true;
    }

    /// Ends a failed commit (already rolled back). A statement the database refused leaves the
    /// connection fine; any other failure (I/O, a lost worker) drops it, to be opened afresh.
    fn failed(self, e: StoreError) -> Result<(), StoreError> {
        if matches!(&e, StoreError::Database(sqlx::Error::Database(_))) {
            self.finish();
        }
        Err(e)
    }
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.slot.take();
        }
    }
}

/// Is this the refusal of an audit row whose `seq` is already taken?
fn chain_moved(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(db))
        if db.kind() == sqlx::error::ErrorKind::UniqueViolation && db.message().contains("audit_log"))
}

impl Committer {
    pub(crate) fn new(
        backend: Backend,
        writer: AnyPool,
        options: AnyConnectOptions,
        cache: Arc<ReadCache>,
    ) -> Committer {
        Committer {
            backend,
            writer,
            sqlite: Arc::default(),
            options,
            chain_end: Arc::default(),
            cache,
        }
    }

    /// Opens the SQLite connection if it is not open; a new connection has seen no data version.
    async fn open(&self, slot: &mut Option<AnyConnection>) -> Result<(), StoreError> {
        if slot.is_none() {
            let mut conn = self.options.connect().await?;
            conn.execute(crate::SQLITE_PRAGMAS).await?;
            *slot = Some(conn);
        }
        Ok(())
    }

    /// Takes this process's turn to write to SQLite, from a thread outside the async runtime
    /// (the audit writer): commits here wait until the guard is dropped, and it waits for them.
    pub(crate) fn hold_blocking(&self) -> tokio::sync::MutexGuard<'_, Option<AnyConnection>> {
        self.sqlite.blocking_lock()
    }

    /// What reads keep in memory.
    pub(crate) fn cache(&self) -> &ReadCache {
        &self.cache
    }

    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the SQLite connection, if open, once any commit under way has finished.
    pub(crate) async fn close(&self) {
        if let Some(conn) = self.sqlite.lock().await.take() {
            let _ = conn.close().await;
        }
    }

    fn remembered(&self) -> Option<ChainEnd> {
        self.chain_end
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records the end of the chain as a commit in this process left it; call it while that
    /// commit still holds the turn ([`Committer::hold_blocking`]), so ends are recorded in order.
    pub(crate) fn remember(&self, end: Option<ChainEnd>) {
        *self.chain_end.lock().unwrap_or_else(|e| e.into_inner()) = end;
    }

    /// Commits `change` and appends `audit` (all recorded at `at`) in one transaction: both or
    /// neither. Errors are the database's, for the caller to interpret (a taken version number is
    /// a conflict, a taken NHS number a duplicate person).
    pub(crate) async fn commit(
        &self,
        change: &Script,
        audit: &[AuditEntry],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let result = match self.backend {
            Backend::Sqlite => self.commit_sqlite(change, audit, at).await,
            Backend::Postgres => {
                let mut tx = self.writer.begin().await?;
                change.run(&mut tx, self.backend).await?;
                // The audit head is locked last, after the change's rows, so writers of
                // different plans never wait on each other in a cycle.
                append_in(&mut tx, self.backend, audit, at).await?;
                tx.commit().await?;
                Ok(())
            }
        };
        // Before the change is acknowledged, nothing read before it may be served from memory.
        self.cache.invalidate();
        result
    }

    async fn commit_sqlite(
        &self,
        change: &Script,
        audit: &[AuditEntry],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut begin = Script::default();
        // IMMEDIATE takes the write lock at once, so two processes never both read a version and
        // then race to write the next one.
        begin.push("BEGIN IMMEDIATE", Vec::new());
        let mut end = Script::default();
        end.push("COMMIT", Vec::new());
        let mut slot = self.sqlite.lock().await;
        self.open(&mut slot).await?;
        let mut held = Unfinished { slot, done: false };
        // First with the remembered end: one round trip.
        if let Some(head) = self.remembered() {
            let mut rows = Script::default();
            let new_end = push_after(head, audit, at, &mut rows);
            let outcome = Script::run_sqlite_parts(&[&begin, change, &rows, &end], held.conn())
                .await
                .map_err(StoreError::from);
            match outcome {
                Ok(()) => {
                    self.remember(Some(new_end));
                    held.finish();
                    return Ok(());
                }
                Err(e) => {
                    rollback(&mut held).await;
                    self.remember(None);
                    if !chain_moved(&e) {
                        return held.failed(e);
                    }
                }
            }
        }
        // Without it (first commit, or another process appended): read the end inside the write
        // transaction, where nobody else can move it.
        let outcome = async {
            Script::run_sqlite_parts(&[&begin], held.conn()).await?;
            let head = read_head(held.conn(), self.backend).await?;
            let mut rows = Script::default();
            let new_end = push_after(head, audit, at, &mut rows);
            Script::run_sqlite_parts(&[change, &rows, &end], held.conn()).await?;
            Ok::<_, StoreError>(new_end)
        }
        .await;
        match outcome {
            Ok(new_end) => {
                self.remember(Some(new_end));
                held.finish();
                Ok(())
            }
            Err(e) => {
                rollback(&mut held).await;
                held.failed(e)
            }
        }
    }
}

/// Undoes whatever ran of a failed script; with no transaction open this fails harmlessly.
async fn rollback(held: &mut Unfinished<'_>) {
    let _ = sqlx::query("ROLLBACK").execute(held.conn()).await;
}
