//! The audit writer: commits the audit entries of reads, denials and releases in groups.
//!
//! Every audited access sends its entries here and is answered only once they are committed.
//! Whoever is waiting when a group commit starts joins it, so many reads share one transaction.
//!
//! # SQLite: a thread with its own connection
//!
//! On SQLite the writer is a thread of its own with a synchronous connection (rusqlite). A group
//! commit there is a handful of library calls: measured through sqlx it took about half a
//! millisecond, most of it hand-offs of each statement's result between sqlx's worker thread and
//! the async tasks, and every read waits for one to two group commits (BENCHMARKS.md).
//! The thread takes the committer's lock for each transaction, so it and the commits of versions
//! in this process take turns without SQLite's busy wait; other processes are kept in order by
//! SQLite's write lock (`BEGIN IMMEDIATE`) as before.
//!
//! A group is committed to the write-ahead log without waiting for the disk
//! (`synchronous = NORMAL`), and the log is synced within [`SYNC_WITHIN`] of the commit. When a
//! read is answered its entry is therefore in the operating system's hands: it survives a crash
//! or `kill -9` of the server at once (`tests/crash.rs`), and a crash of the machine or a power
//! failure once the sync is done. Versions of plans are never acknowledged before they are
//! synced (`synchronous = FULL` on the committer's connection), and that sync covers every entry
//! committed before them too. Waiting for the disk on every group commit made the sync, about
//! a fifth of a millisecond, the larger part of every read's time.
//!
//! Before anything is written the transaction asks SQLite whether another connection has
//! committed since this one last looked (`PRAGMA data_version`): if so the read cache is dropped,
//! and the entries of reads that took anything from it before are refused (see `cache.rs`).
//! Commits of versions by this process count as another connection's here; they drop the cache
//! themselves, too.
//!
//! # PostgreSQL: a task
//!
//! On PostgreSQL a task commits each group through the committer like any other transaction.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use careplan_model::Timestamp;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use crate::audit::{AuditEntry, AuditRecord, ChainEnd};
use crate::cache::Epoch;
use crate::commit::Committer;
use crate::script::Script;
use crate::{Backend, StoreError};

/// The most entries one group commit takes.
const GROUP_LIMIT: usize = 1024;

/// How soon after its group commit an entry is synced to disk (SQLite; see the module
/// documentation).
pub const SYNC_WITHIN: Duration = Duration::from_millis(20);

/// Entries waiting to be committed, and who to tell.
#[derive(Debug)]
pub(crate) struct Pending {
    pub entries: Vec<AuditEntry>,
    /// The read cache's epoch the access depends on (`None`: nothing taken from memory).
    pub epoch: Option<Epoch>,
    pub done: tokio::sync::oneshot::Sender<Result<(), Refused>>,
}

/// Why entries were not committed.
#[derive(Debug, Clone)]
pub(crate) enum Refused {
    /// What the access was decided on has changed since: nothing was written.
    Stale,
    Failed(String),
}

/// What the SQLite thread is asked to do.
#[derive(Debug)]
pub(crate) enum Job {
    Append(Pending),
    /// Sync the log and close the connection (it is opened again if more entries come).
    Close(tokio::sync::oneshot::Sender<()>),
}

/// Where entries are sent.
#[derive(Debug)]
pub(crate) enum Queue {
    Thread(Sender<Job>),
    Task(tokio::sync::mpsc::UnboundedSender<Pending>),
}

impl Queue {
    /// Queues `pending`; fails only if the writer has stopped.
    pub(crate) fn send(&self, pending: Pending) -> Result<(), StoreError> {
        let sent = match self {
            Queue::Thread(jobs) => jobs.send(Job::Append(pending)).is_ok(),
            Queue::Task(queue) => queue.send(pending).is_ok(),
        };
        sent.then_some(())
            .ok_or_else(|| StoreError::Audit("the audit writer has stopped".into()))
    }

    /// Waits until everything queued before is committed and synced, and closes the SQLite
    /// connection.
    pub(crate) async fn close(&self) {
        if let Queue::Thread(jobs) = self {
            let (done, wait) = tokio::sync::oneshot::channel();
            if jobs.send(Job::Close(done)).is_ok() {
                let _ = wait.await;
            }
        }
    }
}

/// Syncs the SQLite write-ahead log `wal`. A log that is not there has nothing unsynced: SQLite
/// removes it only after a checkpoint, which syncs.
fn sync_wal(wal: &Path) -> std::io::Result<()> {
    match std::fs::File::open(wal) {
        Ok(file) => file.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Starts the writer thread for the SQLite database file `db`; it ends when every sender (every
/// clone of the store) is gone, after a last sync.
pub(crate) fn start_sqlite(db: PathBuf, committer: Committer) -> Result<Queue, StoreError> {
    let (send, receive) = std::sync::mpsc::channel();
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    let writer = SqliteWriter {
        db,
        wal: wal.into(),
        conn: None,
        data_version: None,
        committer,
        sync_due: None,
    };
    std::thread::Builder::new()
        .name("careplan-audit".into())
        .spawn(move || writer.run(receive))
        .map_err(|e| StoreError::Audit(format!("the audit writer could not start: {e}")))?;
    Ok(Queue::Thread(send))
}

struct SqliteWriter {
    db: PathBuf,
    wal: PathBuf,
    /// Opened when first needed, and again after a failure.
    conn: Option<rusqlite::Connection>,
    /// `PRAGMA data_version` when this connection last looked (`None`: a new connection).
    data_version: Option<i64>,
    committer: Committer,
    /// When the log must next be synced: set by the first group committed after a sync.
    sync_due: Option<Instant>,
}

impl SqliteWriter {
    fn run(mut self, jobs: Receiver<Job>) {
        // A job taken while gathering a group, to do after it.
        let mut next: Option<Job> = None;
        loop {
            let job = match next.take() {
                Some(job) => job,
                None => match self.sync_due {
                    None => match jobs.recv() {
                        Ok(job) => job,
                        Err(_) => break,
                    },
                    Some(due) => {
                        match jobs.recv_timeout(due.saturating_duration_since(Instant::now())) {
                            Ok(job) => job,
                            Err(RecvTimeoutError::Timeout) => {
                                self.sync();
                                continue;
                            }
                            Err(RecvTimeoutError::Disconnected) => break,
                        }
                    }
                },
            };
            let first = match job {
                Job::Append(first) => first,
                Job::Close(done) => {
                    self.sync();
                    self.conn = None;
                    self.data_version = None;
                    let _ = done.send(());
                    continue;
                }
            };
            let mut group = vec![first];
            let mut count = group[0].entries.len();
            while count < GROUP_LIMIT {
                match jobs.try_recv() {
                    Ok(Job::Append(more)) => {
                        count += more.entries.len();
                        group.push(more);
                    }
                    Ok(close) => {
                        next = Some(close);
                        break;
                    }
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            let outcome = self.commit(&group);
            if outcome.is_ok() && self.sync_due.is_none() {
                self.sync_due = Some(Instant::now() + SYNC_WITHIN);
            }
            reply(group, outcome);
            if self.sync_due.is_some_and(|due| due <= Instant::now()) {
                self.sync();
            }
        }
        self.sync();
    }

    /// Syncs the log if a group has been committed since the last sync.
    fn sync(&mut self) {
        if self.sync_due.take().is_none() {
            return;
        }
        if let Err(e) = sync_wal(&self.wal) {
            // The reads it covers have been answered and their entries stay committed; there is
            // no one else to tell. The next commit of a version syncs the log again.
            tracing::error!(
                wal = %self.wal.display(),
                error = %e,
                "the audit entries of recent reads could not be synced to disk"
            );
        }
    }

    /// Commits the entries of the accesses in `group` that still hold, in one transaction; says
    /// which were accepted.
    fn commit(&mut self, group: &[Pending]) -> Result<Vec<bool>, String> {
        // Commits of versions in this process wait meanwhile, and we for them.
        let committer = self.committer.clone();
        let _turn = committer.hold_blocking();
        let outcome = self.commit_held(group);
        if outcome.is_err() {
            // Rolled back when dropped; opened afresh next time.
            self.conn = None;
            self.data_version = None;
        }
        outcome.map_err(|e| e.to_string())
    }

    fn commit_held(&mut self, group: &[Pending]) -> Result<Vec<bool>, Failure> {
        if self.conn.is_none() {
            let conn = rusqlite::Connection::open(&self.db)?;
            conn.busy_timeout(Duration::from_secs(10))?;
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
            conn.execute_batch("PRAGMA synchronous = NORMAL")?;
            // Group commits append a few pages each, thousands of times a second under load:
            // checkpoint (copy the log into the database, and sync both) every 16 MiB of log
            // rather than SQLite's 4 MiB, a quarter as often.
            conn.query_row("PRAGMA wal_autocheckpoint = 4000", [], |_| Ok(()))?;
            self.conn = Some(conn);
        }
        let conn = self.conn.as_mut().expect("opened above");
        // Every statement prepared once per connection: parsing them was a tenth of each commit.
        // On an error the connection is dropped, which rolls back whatever is open.
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        let tx = &*conn;
        let (version, seq, hash): (i64, i64, String) = tx
            .prepare_cached(
                "SELECT (SELECT data_version FROM pragma_data_version()), seq, hash \
                 FROM audit_head WHERE id = 1",
            )?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .optional()?
            .ok_or_else(|| corrupt("the audit trail's head row is missing".into()))?;
        let cache = self.committer.cache();
        if self.data_version.replace(version) != Some(version) {
            cache.invalidate();
        }
        let accepted: Vec<bool> = group.iter().map(|p| cache.holds(p.epoch)).collect();
        let mut end = ChainEnd {
            seq: u64::try_from(seq)
                .map_err(|_| corrupt(format!("the audit trail's head is at entry {seq}")))?,
            hash,
        };
        let entries = group
            .iter()
            .zip(&accepted)
            .filter(|(_, ok)| **ok)
            .flat_map(|(p, _)| &p.entries);
        let at = Timestamp::from_datetime(OffsetDateTime::now_utc()).to_string();
        let mut written = 0;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO audit_log (seq, at, actor_id, actor_name, actor_role, action, \
                 outcome, plan_id, person_id, version, detail, override_release, prev_hash, hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            for entry in entries {
                let r = AuditRecord::from_entry(entry, end.seq + 1, &at, end.hash.clone());
                insert.execute(params![
                    i64::try_from(r.seq).map_err(|_| corrupt("the audit trail is full".into()))?,
                    r.at,
                    r.actor_id,
                    r.actor_name,
                    r.actor_role,
                    r.action,
                    r.outcome,
                    r.plan_id,
                    r.person_id,
                    r.version,
                    r.detail,
                    r.override_release,
                    r.prev_hash,
                    r.hash,
                ])?;
                end = ChainEnd {
                    seq: r.seq,
                    hash: r.hash,
                };
                written += 1;
            }
        }
        if written == 0 {
            tx.prepare_cached("ROLLBACK")?.execute([])?;
            return Ok(accepted);
        }
        tx.prepare_cached("UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1")?
            .execute(params![
                i64::try_from(end.seq).unwrap_or(i64::MAX),
                end.hash
            ])?;
        tx.prepare_cached("COMMIT")?.execute([])?;
        // Still holding the committer's turn: its remembered end stays in commit order.
        self.committer.remember(Some(end));
        Ok(accepted)
    }
}

/// Why a group commit failed: the database's error, or a trail not as this code left it.
type Failure = Box<dyn std::error::Error + Send + Sync>;

fn corrupt(message: String) -> Failure {
    message.into()
}

/// Tells everyone in `group` what became of their entries.
fn reply(group: Vec<Pending>, outcome: Result<Vec<bool>, String>) {
    match outcome {
        Ok(accepted) => {
            for (pending, ok) in group.into_iter().zip(accepted) {
                let reply = if ok { Ok(()) } else { Err(Refused::Stale) };
                let _ = pending.done.send(reply);
            }
        }
        Err(e) => {
            let e = Refused::Failed(e);
            for pending in group {
                let _ = pending.done.send(Err(e.clone()));
            }
        }
    }
}

/// Starts the writer task for PostgreSQL; it ends when every sender is gone.
pub(crate) fn start_postgres(committer: Committer) -> Queue {
    let (send, mut receive) = tokio::sync::mpsc::unbounded_channel::<Pending>();
    tokio::spawn(async move {
        while let Some(first) = receive.recv().await {
            let mut group = vec![first];
            let mut count = group[0].entries.len();
            while count < GROUP_LIMIT {
                match receive.try_recv() {
                    Ok(next) => {
                        count += next.entries.len();
                        group.push(next);
                    }
                    Err(_) => break,
                }
            }
            debug_assert_eq!(committer.backend(), Backend::Postgres);
            // No read cache: every access was decided on what the database said.
            let entries: Vec<AuditEntry> = group
                .iter()
                .flat_map(|p| p.entries.iter().cloned())
                .collect();
            let at = Timestamp::from_datetime(OffsetDateTime::now_utc());
            let outcome = committer
                .commit(&Script::default(), &entries, at)
                .await
                .map(|()| vec![true; group.len()])
                .map_err(|e| e.to_string());
            reply(group, outcome);
        }
    });
    Queue::Task(send)
}
