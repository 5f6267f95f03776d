//! Committing one write transaction: the statements of a change, then its audit entries.
//!
//! On SQLite the change goes to the SQLite writer thread (`sqlite_writer.rs`) as one message: it
//! runs `BEGIN IMMEDIATE`, the change, reads the end of the audit chain, appends the audit rows,
//! moves the audit head and commits, synced, on a synchronous connection of its own, and answers
//! once.
//!
//! On PostgreSQL, whose extended protocol takes one statement per query, the statements run in a
//! transaction, one after another, or partly as one statement where the script says none of
//! them reads what another writes (`Script::one_snapshot_from`); then the audit head is read
//! `FOR UPDATE` and the audit rows and the head are written in one more statement. A one-item
//! edit is six round trips: `BEGIN`, the version row, the item's history and current rows, the
//! head, the audit row with the head, `COMMIT` (eight before).

use std::sync::Arc;

use careplan_model::Timestamp;
use sqlx::AnyPool;

use crate::audit::{AuditEntry, append_in};
use crate::cache::ReadCache;
use crate::script::Script;
use crate::sqlite_writer::Job;
use crate::{Backend, StoreError};

/// Writes transactions for one store.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    backend: Backend,
    /// PostgreSQL: transactions come from the pool.
    writer: AnyPool,
    /// SQLite: the writer thread.
    sqlite: Option<std::sync::mpsc::Sender<Job>>,
    /// What reads keep in memory: dropped after every commit made here, and whenever the audit
    /// writer finds that another connection has committed.
    cache: Arc<ReadCache>,
}

impl Committer {
    pub(crate) fn new(
        backend: Backend,
        writer: AnyPool,
        sqlite: Option<std::sync::mpsc::Sender<Job>>,
        cache: Arc<ReadCache>,
    ) -> Committer {
        Committer {
            backend,
            writer,
            sqlite,
            cache,
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// Commits `change` and appends `audit` (all recorded at `at`) in one transaction: both or
    /// neither. Errors are the database's, for the caller to interpret (a taken version number is
    /// a conflict, a taken NHS number a duplicate person).
    pub(crate) async fn commit(
        &self,
        change: Script,
        audit: Vec<AuditEntry>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let result = match &self.sqlite {
            Some(jobs) => {
                let (done, wait) = tokio::sync::oneshot::channel();
                let stopped = || StoreError::Config("the SQLite writer has stopped".into());
                jobs.send(Job::Commit {
                    change,
                    audit,
                    at,
                    done,
                })
                .map_err(|_| stopped())?;
                wait.await.map_err(|_| stopped())?
            }
            None => {
                let mut tx = self.writer.begin().await?;
                change.run(&mut tx, self.backend).await?;
                // The audit head is locked last, after the change's rows, so writers of
                // different plans never wait on each other in a cycle.
                append_in(&mut tx, self.backend, &audit, at).await?;
                tx.commit().await?;
                Ok(())
            }
        };
        // Before the change is acknowledged, nothing read before it may be served from memory.
        self.cache.invalidate();
        result
    }
}
