//! The append-only, hash-chained audit trail of every read and write of plan data.
//!
//! CSP-1 and "no one where they don't belong": each access to a plan — who, when, which person and
//! version, what, whether it was allowed, and which data controller's release (override) it used —
//! is one row of `audit_log`. Rows are only ever inserted, numbered `seq` = 1, 2, 3… without gaps,
//! and chained: each row stores the hash of the row before it (`prev_hash`) and its own `hash`.
//! The one-row table `audit_head` holds the last `seq` and its hash; every append moves it in the
//! same transaction as the rows it adds, so appends from many tasks and processes form one chain.
//! PostgreSQL reads it `FOR UPDATE`; on SQLite the `BEGIN IMMEDIATE` write transaction already
//! serialises, and the SQLite writer (`sqlite_writer.rs`) reads it inside that transaction.
//! Writes of plan versions append their rows inside the transaction that commits the versions,
//! so a version and its audit row commit together or not at all.
//!
//! # The hash (format 1)
//!
//! `hash` is the lowercase hexadecimal SHA-256 of this byte string:
//!
//! ```text
//! F("careplan-audit/1") F(prev_hash) F(seq) F(at) F(actor_id) F(actor_name) F(actor_role)
//! F(action) F(outcome) F(plan_id) F(person_id) F(version) F(detail) F(override_release)
//! ```
//!
//! concatenated with nothing between, where for each stored value:
//!
//! - `F(NULL)` is the single byte `~`;
//! - `F(text)` is the number of bytes of the text's UTF-8 encoding in decimal ASCII (no sign, no
//!   leading zeros), then `:`, then those bytes, then `,` — a netstring, so no two different
//!   rows encode to the same bytes;
//! - numbers (`seq`, `version`) are first written as decimal ASCII text (`-` sign if negative, no
//!   leading zeros), then encoded as text.
//!
//! Every value is taken exactly as it is stored: `at` is the RFC 3339 text in the row (e.g.
//! `2026-03-01T09:30:00.123456Z`), `actor_role` the role in snake case (`practitioner`,
//! `data_controller`…), `outcome` is `allowed` or `denied`. The first row's `prev_hash` is 64 zeros
//! ([`GENESIS_HASH`]). So another tool can verify the trail from a plain dump of `audit_log`; for
//! example the row (`seq` 1, `at` `2026-03-01T09:30:00Z`, actor `test:a` / `A` / `system`, action
//! `write`, outcome `allowed`, no plan, person or version, detail `x`, no release) encodes as
//! `16:careplan-audit/1,64:000…000,1:1,20:2026-03-01T09:30:00Z,6:test:a,1:A,6:system,5:write,7:allowed,~~~1:x,~`
//! (with all 64 zeros), whose hash is
//! `63c84ae74951d99ade0dc0d02b6b6c8066ca29d5c4552701e34b43fa30b98125`.
//!
//! `verify_audit` recomputes every hash in `seq` order, a page at a time, and names the first
//! entry that is altered, missing (a gap in `seq`, or rows deleted from the end: the head says
//! more), out of the chain (its `prev_hash` is not the previous row's hash), or beyond the head.
//! A chain can always be rewritten whole by someone who can write the database; note the latest
//! hash elsewhere (it is in [`AuditVerification::last_hash`]) to anchor it.

use careplan_model::{Actor, PersonId, PlanId, Role, Timestamp, VersionNumber};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Connection, Row};

use crate::audit_writer::{Pending, Refused};
use crate::cache::Epoch;
use crate::encoding::to_i64;
use crate::script::{Arg, Script};
use crate::{Backend, Store, StoreError};

/// The `prev_hash` of the first entry: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The version of the hash encoding, the first field of every hashed message.
const HASH_TAG: &str = "careplan-audit/1";

/// How many rows `verify_audit` reads at a time.
const VERIFY_PAGE: i64 = 1_000;

/// The names of the actions the system records. `action` is free text so later features can add
/// their own; use these where they fit so the trail can be queried by action.
pub mod action {
    /// The current version of a plan was read.
    pub const READ_PLAN: &str = "read_plan";
    /// An earlier version of a plan was read.
    pub const READ_VERSION: &str = "read_version";
    /// The list of a plan's versions was read.
    pub const READ_HISTORY: &str = "read_history";
    /// Several versions of a plan read at once (a FHIR history page).
    pub const READ_VERSIONS: &str = "read_versions";
    /// Two versions of a plan were compared.
    pub const READ_DIFF: &str = "read_diff";
    /// A plan was started (its version 1 was committed).
    pub const CREATE_PLAN: &str = "create_plan";
    /// A command was committed as a new version.
    pub const WRITE: &str = "write";
    /// A data controller released all or part of a restricted plan.
    pub const RELEASE_CREATED: &str = "release_created";
    /// An access used a data controller's release.
    pub const RELEASE_USED: &str = "release_used";

    /// Every action, for those who map them (FHIR AuditEvent's subtype).
    pub const ALL: [&str; 9] = [
        READ_PLAN,
        READ_VERSION,
        READ_HISTORY,
        READ_VERSIONS,
        READ_DIFF,
        CREATE_PLAN,
        WRITE,
        RELEASE_CREATED,
        RELEASE_USED,
    ];
}

/// Whether the access that an entry records was allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Allowed,
    Denied,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Allowed => "allowed",
            AuditOutcome::Denied => "denied",
        }
    }
}

/// What a caller records: one access to plan data. The store adds the number, time and hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub actor: Actor,
    /// What was done, e.g. [`action::READ_PLAN`].
    pub action: String,
    pub outcome: AuditOutcome,
    pub plan_id: Option<PlanId>,
    pub person_id: Option<PersonId>,
    pub version: Option<VersionNumber>,
    /// A short sentence or JSON: the command's name, which sections were withheld, why it was
    /// denied…
    pub detail: String,
    /// The id of the data controller's release that this access used, if any.
    pub override_release: Option<String>,
}

impl AuditEntry {
    /// An entry about no particular plan, with an empty detail; set the other fields with struct
    /// update syntax: `AuditEntry { plan_id: Some(id), ..AuditEntry::new(…) }`.
    pub fn new(actor: &Actor, action: &str, outcome: AuditOutcome) -> AuditEntry {
        AuditEntry {
            actor: actor.clone(),
            action: action.to_owned(),
            outcome,
            plan_id: None,
            person_id: None,
            version: None,
            detail: String::new(),
            override_release: None,
        }
    }
}

/// One stored entry of the audit trail, with every value exactly as stored (so a damaged row can
/// still be shown and checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub seq: u64,
    /// When, as RFC 3339 text in UTC.
    pub at: String,
    pub actor_id: String,
    pub actor_name: String,
    /// The role in snake case, e.g. `practitioner`.
    pub actor_role: String,
    pub action: String,
    /// `allowed` or `denied`.
    pub outcome: String,
    pub plan_id: Option<String>,
    pub person_id: Option<String>,
    pub version: Option<i64>,
    pub detail: String,
    pub override_release: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRecord {
    /// The bytes that are hashed (format 1, see the module documentation).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        fn field(out: &mut Vec<u8>, value: Option<&str>) {
            match value {
                None => out.push(b'~'),
                Some(text) => {
                    out.extend_from_slice(text.len().to_string().as_bytes());
                    out.push(b':');
                    out.extend_from_slice(text.as_bytes());
                    out.push(b',');
                }
            }
        }
        let seq = self.seq.to_string();
        let version = self.version.map(|v| v.to_string());
        let mut out = Vec::with_capacity(256 + self.detail.len());
        for value in [
            Some(HASH_TAG),
            Some(self.prev_hash.as_str()),
            Some(seq.as_str()),
            Some(self.at.as_str()),
            Some(self.actor_id.as_str()),
            Some(self.actor_name.as_str()),
            Some(self.actor_role.as_str()),
            Some(self.action.as_str()),
            Some(self.outcome.as_str()),
            self.plan_id.as_deref(),
            self.person_id.as_deref(),
            version.as_deref(),
            Some(self.detail.as_str()),
            self.override_release.as_deref(),
        ] {
            field(&mut out, value);
        }
        out
    }

    /// The hash this record should carry: lowercase hex SHA-256 of [`Self::canonical_bytes`].
    pub fn compute_hash(&self) -> String {
        hex(&Sha256::digest(self.canonical_bytes()))
    }

    pub(crate) fn from_entry(
        entry: &AuditEntry,
        seq: u64,
        at: &str,
        prev_hash: String,
    ) -> AuditRecord {
        let mut record = AuditRecord {
            seq,
            at: at.to_owned(),
            actor_id: entry.actor.id.as_str().to_owned(),
            actor_name: entry.actor.name.as_str().to_owned(),
            actor_role: role_name(entry.actor.role),
            action: entry.action.clone(),
            outcome: entry.outcome.as_str().to_owned(),
            plan_id: entry.plan_id.as_ref().map(|p| p.as_str().to_owned()),
            person_id: entry.person_id.as_ref().map(|p| p.as_str().to_owned()),
            version: entry.version.map(|v| to_i64(v.get())),
            detail: entry.detail.clone(),
            override_release: entry.override_release.clone(),
            prev_hash,
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        record
    }

    /// Reads a row selected with [`COLUMNS`].
    fn from_row(row: &AnyRow) -> Result<AuditRecord, sqlx::Error> {
        let seq: i64 = row.try_get("seq")?;
        Ok(AuditRecord {
            seq: u64::try_from(seq).map_err(|_| sqlx::Error::Decode("a negative seq".into()))?,
            at: row.try_get("at")?,
            actor_id: row.try_get("actor_id")?,
            actor_name: row.try_get("actor_name")?,
            actor_role: row.try_get("actor_role")?,
            action: row.try_get("action")?,
            outcome: row.try_get("outcome")?,
            plan_id: row.try_get("plan_id")?,
            person_id: row.try_get("person_id")?,
            version: row.try_get("version")?,
            detail: row.try_get("detail")?,
            override_release: row.try_get("override_release")?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }
}

const COLUMNS: &str = "seq, at, actor_id, actor_name, actor_role, action, outcome, plan_id, \
                       person_id, version, detail, override_release, prev_hash, hash";

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// A role as stored: its serde name in snake case.
fn role_name(role: Role) -> String {
    serde_json::to_value(role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Which entries to list. `Default` is every entry, oldest first, 100 at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries about this plan.
    pub plan_id: Option<PlanId>,
    /// Only entries by this actor (account, token or `system:cli:…` id).
    pub actor_id: Option<String>,
    /// Only entries with a larger `seq` (for paging; 0 for all).
    pub after_seq: u64,
    /// At most this many entries.
    pub limit: u32,
    /// The latest entries first instead of the oldest first.
    pub newest_first: bool,
}

impl Default for AuditFilter {
    fn default() -> Self {
        AuditFilter {
            plan_id: None,
            actor_id: None,
            after_seq: 0,
            limit: 100,
            newest_first: false,
        }
    }
}

/// The result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditVerification {
    /// Entries found intact, in order, before the first broken one (all of them if none is).
    pub checked: u64,
    /// The first entry that is altered, missing or out of the chain.
    pub first_broken: Option<BrokenEntry>,
    /// The hash of the last intact entry ([`GENESIS_HASH`] for an empty trail): note it
    /// elsewhere to detect a later rewrite of the whole chain.
    pub last_hash: String,
}

impl AuditVerification {
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// Where the chain breaks, and why, as a clause: "the audit trail is broken at entry {seq}:
/// {reason}".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenEntry {
    pub seq: u64,
    pub reason: String,
}

/// Appends `entries`, in order, to the chain, inside the caller's write transaction (so they
/// commit with whatever else it writes). `at` is the time recorded on every one of them.
///
/// Call it last in the transaction, after every other row it writes or locks: `audit_head` is
/// then always the last lock taken, so writers cannot deadlock on it, and it is held only until
/// the commit.
pub(crate) async fn append_in(
    conn: &mut AnyConnection,
    backend: Backend,
    entries: &[AuditEntry],
    at: Timestamp,
) -> Result<(), StoreError> {
    let mut script = Script::default();
    push_entries(conn, backend, entries, at, &mut script).await?;
    // New rows and the head's one row: nothing read that another statement writes.
    script.one_snapshot_from(0);
    script.run(conn, backend).await?;
    Ok(())
}

/// Reads the chain's head (locking it on PostgreSQL) and adds to `script` the statements that
/// append `entries` and move the head. The caller runs the script in the same transaction.
pub(crate) async fn push_entries(
    conn: &mut AnyConnection,
    backend: Backend,
    entries: &[AuditEntry],
    at: Timestamp,
    script: &mut Script,
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let head = read_head(conn, backend).await?;
    push_after(head, entries, at, script);
    Ok(())
}

/// The end of the chain as stored: the last entry's seq and hash. On PostgreSQL the row is
/// locked until the transaction ends; on SQLite the caller's write transaction already
/// serialises appends.
pub(crate) async fn read_head(
    conn: &mut AnyConnection,
    backend: Backend,
) -> Result<ChainEnd, StoreError> {
    let head = match backend {
        Backend::Sqlite => "SELECT seq, hash FROM audit_head WHERE id = 1",
        Backend::Postgres => "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
    };
    let row = sqlx::query(head)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::Corrupt("the audit trail's head row is missing".into()))?;
    let last: i64 = row.try_get(0)?;
    let seq = u64::try_from(last)
        .map_err(|_| StoreError::Corrupt(format!("the audit trail's head is at entry {last}")))?;
    Ok(ChainEnd {
        seq,
        hash: row.try_get(1)?,
    })
}

/// The last entry of the chain: its number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChainEnd {
    pub seq: u64,
    pub hash: String,
}

/// Rows per INSERT statement: 14 parameters each, well inside both databases' limits (SQLite
/// 32,766, PostgreSQL 65,535).
const INSERT_BATCH: usize = 256;

/// Adds to `script` the statements that append `entries` after `head` and move the stored head;
/// returns the new end of the chain. Pure: the caller knows the head.
pub(crate) fn push_after(
    head: ChainEnd,
    entries: &[AuditEntry],
    at: Timestamp,
    script: &mut Script,
) -> ChainEnd {
    let ChainEnd {
        mut seq,
        hash: mut prev_hash,
    } = head;
    if entries.is_empty() {
        return ChainEnd {
            seq,
            hash: prev_hash,
        };
    }
    let at = at.to_string();
    // One multi-row INSERT per batch: each statement costs a hand-off of its result, so a group
    // of reads costs one, not one per entry.
    for batch in entries.chunks(INSERT_BATCH) {
        let mut sql = String::from(
            "INSERT INTO audit_log (seq, at, actor_id, actor_name, actor_role, action, outcome, plan_id, \
             person_id, version, detail, override_release, prev_hash, hash) VALUES ",
        );
        let mut args: Vec<Arg> = Vec::with_capacity(batch.len() * 14);
        for (i, entry) in batch.iter().enumerate() {
            seq += 1;
            let r = AuditRecord::from_entry(entry, seq, &at, prev_hash);
            prev_hash = r.hash.clone();
            if i > 0 {
                sql.push_str(", ");
            }
            let n = args.len();
            sql.push('(');
            for k in 1..=14 {
                if k > 1 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${}", n + k));
            }
            sql.push(')');
            args.extend([
                to_i64(r.seq).into(),
                r.at.into(),
                r.actor_id.into(),
                r.actor_name.into(),
                r.actor_role.into(),
                r.action.into(),
                r.outcome.into(),
                r.plan_id.into(),
                r.person_id.into(),
                r.version.into(),
                r.detail.into(),
                r.override_release.into(),
                r.prev_hash.into(),
                r.hash.into(),
            ]);
        }
        script.push_built(sql, args);
    }
    script.push(
        "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
        vec![to_i64(seq).into(), prev_hash.clone().into()],
    );
    ChainEnd {
        seq,
        hash: prev_hash,
    }
}

impl Store {
    /// Appends entries (reads, denials, releases…) to the audit trail in their own transaction,
    /// at the current time. Writes of plan versions are audited by the store itself.
    ///
    /// Returns only once the entries are committed. Concurrent callers share one transaction
    /// (group commit): the first to arrive starts it, everyone waiting at that moment joins it.
    /// On SQLite a committed entry survives a crash of this process at once and is synced to disk
    /// within [`SYNC_WITHIN`](crate::sqlite_writer::SYNC_WITHIN); see `sqlite_writer.rs`.
    pub async fn audit(&self, entries: Vec<AuditEntry>) -> Result<(), StoreError> {
        self.audit_read(entries, None).await
    }

    /// As [`Store::audit`], for an access decided on facts taken from the read cache at `epoch`:
    /// if any of them has changed since, nothing is written and the answer is
    /// [`StoreError::Stale`] (see `cache.rs`).
    pub(crate) async fn audit_read(
        &self,
        entries: Vec<AuditEntry>,
        epoch: Option<Epoch>,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let (done, wait) = tokio::sync::oneshot::channel();
        self.audit_queue.send(Pending {
            entries,
            epoch,
            done,
        })?;
        let stopped = || StoreError::Audit("the audit writer has stopped".into());
        match wait.await.map_err(|_| stopped())? {
            Ok(()) => Ok(()),
            Err(Refused::Stale) => Err(StoreError::Stale),
            Err(Refused::Failed(e)) => Err(StoreError::Audit(e)),
        }
    }

    /// Entries of the audit trail, filtered, in `seq` order (oldest first unless
    /// `filter.newest_first`).
    pub async fn audit_records(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1");
        let mut n = 1;
        if filter.plan_id.is_some() {
            n += 1;
            sql.push_str(&format!(" AND plan_id = ${n}"));
        }
        if filter.actor_id.is_some() {
            n += 1;
            sql.push_str(&format!(" AND actor_id = ${n}"));
        }
        let order = if filter.newest_first { "DESC" } else { "ASC" };
        sql.push_str(&format!(" ORDER BY seq {order} LIMIT ${}", n + 1));
        // Only the fixed fragments above are spliced in; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(to_i64(filter.after_seq));
        if let Some(plan) = &filter.plan_id {
            query = query.bind(plan.as_str().to_owned());
        }
        if let Some(actor) = &filter.actor_id {
            query = query.bind(actor.clone());
        }
        let rows = query
            .bind(i64::from(filter.limit))
            .fetch_all(&mut *self.reader.get().await?)
            .await?;
        rows.iter()
            .map(|row| {
                AuditRecord::from_row(row).map_err(|e| {
                    StoreError::Corrupt(format!("an audit entry could not be read: {e}"))
                })
            })
            .collect()
    }

    /// Recomputes the whole chain in `seq` order, a page at a time, from one consistent snapshot
    /// of the database, and names the first entry that is altered, missing, out of the chain, or
    /// not accounted for by the head.
    pub async fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        let mut conn = self.reader.get().await?;
        let mut tx = match self.backend {
            // A read transaction in WAL mode sees one snapshot from its first read on.
            Backend::Sqlite => conn.begin_with("BEGIN").await?,
            Backend::Postgres => {
                conn.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?
            }
        };
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?;
        let head: Option<(i64, String)> = match head {
            Some(row) => Some((row.try_get(0)?, row.try_get(1)?)),
            None => None,
        };
        let mut checked: u64 = 0;
        let mut last_hash = GENESIS_HASH.to_owned();
        let broken = |checked: u64, last_hash: String, seq: u64, reason: String| {
            Ok(AuditVerification {
                checked,
                first_broken: Some(BrokenEntry { seq, reason }),
                last_hash,
            })
        };
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
            )))
            .bind(to_i64(checked))
            .bind(VERIFY_PAGE)
            .fetch_all(&mut *tx)
            .await?;
            let page_len = rows.len();
            for row in &rows {
                let expected = checked + 1;
                let record = match AuditRecord::from_row(row) {
                    Ok(record) => record,
                    Err(e) => {
                        let seq = row
                            .try_get::<i64, _>("seq")
                            .ok()
                            .and_then(|s| u64::try_from(s).ok())
                            .unwrap_or(expected);
                        let reason = format!("its stored values cannot be read ({e})");
                        return broken(checked, last_hash, seq.min(expected), reason);
                    }
                };
                if record.seq != expected {
                    let reason = if record.seq == expected + 1 {
                        "it is missing (the trail goes on at the next entry)".to_owned()
                    } else {
                        format!(
                            "it is missing, with the entries up to {} (the trail goes on at entry {})",
                            record.seq - 1,
                            record.seq
                        )
                    };
                    return broken(checked, last_hash, expected, reason);
                }
                if let Some((head_seq, _)) = &head
                    && i64::try_from(record.seq).is_ok_and(|s| s > *head_seq)
                {
                    let reason = format!(
                        "it lies beyond the trail's recorded end (entry {head_seq}): it was added outside the audit trail, or the end was altered"
                    );
                    return broken(checked, last_hash, record.seq, reason);
                }
                if record.compute_hash() != record.hash {
                    let reason = "its contents do not match its hash".to_owned();
                    return broken(checked, last_hash, record.seq, reason);
                }
                if record.prev_hash != last_hash {
                    let reason = if record.seq == 1 {
                        "it does not start the chain (its previous hash is not all zeros)"
                            .to_owned()
                    } else {
                        format!(
                            "it does not follow on from entry {} (the hash it records for that entry differs)",
                            record.seq - 1
                        )
                    };
                    return broken(checked, last_hash, record.seq, reason);
                }
                checked = record.seq;
                last_hash = record.hash;
            }
            if page_len < usize::try_from(VERIFY_PAGE).unwrap_or(usize::MAX) {
                break;
            }
        }
        let Some((head_seq, head_hash)) = head else {
            let reason =
                "the trail's recorded end (its head) is missing, so deleted entries at the end cannot be ruled out"
                    .to_owned();
            return broken(checked, last_hash, checked + 1, reason);
        };
        let ends_at = i64::try_from(checked).unwrap_or(i64::MAX);
        if head_seq > ends_at {
            let reason = if head_seq == ends_at + 1 {
                "it is missing (it was the last entry)".to_owned()
            } else {
                format!("it is missing, with the entries after it up to {head_seq}")
            };
            return broken(checked, last_hash, checked + 1, reason);
        }
        if head_seq < ends_at || head_hash != last_hash {
            // Rows beyond the head were reported above; here the head itself was altered.
            let reason = format!(
                "it does not match the trail's recorded end (entry {head_seq} with a different hash)"
            );
            return broken(checked, last_hash, checked, reason);
        }
        tx.rollback().await?;
        Ok(AuditVerification {
            checked,
            first_broken: None,
            last_hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AuditRecord {
        AuditRecord {
            seq: 1,
            at: "2026-03-01T09:30:00Z".into(),
            actor_id: "test:a".into(),
            actor_name: "A".into(),
            actor_role: "system".into(),
            action: "write".into(),
            outcome: "allowed".into(),
            plan_id: None,
            person_id: None,
            version: None,
            detail: "x".into(),
            override_release: None,
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn the_encoding_is_the_documented_one() {
        let expected = format!(
            "16:careplan-audit/1,64:{GENESIS_HASH},1:1,20:2026-03-01T09:30:00Z,6:test:a,1:A,6:system,5:write,7:allowed,~~~1:x,~"
        );
        assert_eq!(record().canonical_bytes(), expected.as_bytes());
        // Pinned with an independent tool: printf '%s' "$expected" | sha256sum
        assert_eq!(record().compute_hash(), PINNED_HASH);
    }

    const PINNED_HASH: &str = "63c84ae74951d99ade0dc0d02b6b6c8066ca29d5c4552701e34b43fa30b98125";

    #[test]
    fn every_field_and_its_absence_changes_the_hash() {
        let base = record();
        let variants = [
            AuditRecord {
                seq: 2,
                ..base.clone()
            },
            AuditRecord {
                plan_id: Some(String::new()),
                ..base.clone()
            },
            AuditRecord {
                version: Some(1),
                ..base.clone()
            },
            AuditRecord {
                override_release: Some("r".into()),
                ..base.clone()
            },
            // Moving bytes from one field to the next is not the same row.
            AuditRecord {
                actor_id: "test:".into(),
                actor_name: "aA".into(),
                ..base.clone()
            },
            AuditRecord {
                prev_hash: "1".repeat(64),
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.compute_hash(), base.compute_hash(), "{v:?}");
        }
    }
}
