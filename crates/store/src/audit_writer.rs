//! The audit writer: commits the audit entries of reads, denials and releases used, in groups.
//!
//! Every audited access hands its entries over here and is answered only once they are
//! committed. Whoever is waiting when a group commit starts joins it, so many reads share one
//! transaction. On SQLite the groups are committed by the SQLite writer thread
//! (`sqlite_writer.rs`, which also says how durable they are); on PostgreSQL by a task, through
//! the committer like any other transaction.

use careplan_model::Timestamp;
use time::OffsetDateTime;

use crate::audit::AuditEntry;
use crate::cache::Epoch;
use crate::commit::Committer;
use crate::script::Script;
use crate::sqlite_writer::Job;
use crate::{Backend, StoreError};

/// The most entries one group commit takes.
pub(crate) const GROUP_LIMIT: usize = 1024;

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

/// Where entries are sent.
#[derive(Debug)]
pub(crate) enum Queue {
    Thread(std::sync::mpsc::Sender<Job>),
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

/// Tells everyone in `group` what became of their entries.
pub(crate) fn reply(group: Vec<Pending>, outcome: Result<Vec<bool>, String>) {
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
                .commit(Script::default(), entries, at)
                .await
                .map(|()| vec![true; group.len()])
                .map_err(|e| e.to_string());
            reply(group, outcome);
        }
    });
    Queue::Task(send)
}
