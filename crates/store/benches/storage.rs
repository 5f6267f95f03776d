//! Bytes of storage per one-item edit, on SQLite and PostgreSQL, for plans of 10, 100 and 1,000
//! needs and for needs of growing size: a table printed to stdout, not a timing.
//!
//! SQLite: `PRAGMA wal_checkpoint(TRUNCATE)`, then `page_count × page_size` before and after N
//! edits, with a per-table split from `dbstat`. PostgreSQL: the sum of `pg_total_relation_size`
//! of plans, plan_versions, plan_items_current and plan_items_history (indexes and TOAST
//! included), both as the files grew
//! (dead row versions included; the bench server may run without autovacuum) and after
//! `VACUUM FULL` (live rows only).
//!
//! Then, on SQLite, the WAL each durable commit appends (frames = pages written): a one-item edit
//! through `Store::apply`, the same edit's SQL by hand, and the raw single-row insert.
//!
//! Run with `cargo bench -p careplan-store --bench storage`.

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use careplan_store::Store;
use common::{BenchDb, ByHand, EditKind, Editor, RawInsert};
use sqlx::{AnyConnection, Executor, Row};
use tokio::runtime::Runtime;

const EDITS: usize = 2_000;
const EDITS_QUICK: usize = 40;

struct Scenario {
    needs: usize,
    /// Characters of each need's description (0: a short one of about 50).
    description: usize,
    kind: EditKind,
}

const SCENARIOS: [Scenario; 6] = [
    Scenario {
        needs: 10,
        description: 0,
        kind: EditKind::Importance,
    },
    Scenario {
        needs: 100,
        description: 0,
        kind: EditKind::Importance,
    },
    Scenario {
        needs: 1000,
        description: 0,
        kind: EditKind::Importance,
    },
    Scenario {
        needs: 100,
        description: 500,
        kind: EditKind::Importance,
    },
    Scenario {
        needs: 100,
        description: 2000,
        kind: EditKind::Importance,
    },
    Scenario {
        needs: 100,
        description: 2000,
        kind: EditKind::Description(2000),
    },
];

/// Bytes of storage by table (indexes and TOAST counted with their table). The entries add up to
/// the total.
type Sizes = BTreeMap<String, i64>;

/// The tables reported on their own, in column order.
const PARTS: [&str; 4] = [
    "plans",
    "plan_versions",
    "plan_items_current",
    "plan_items_history",
];

fn total(s: &Sizes) -> i64 {
    s.values().sum()
}

async fn sqlite_sizes(conn: &mut AnyConnection) -> Sizes {
    let busy: i64 = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(busy, 0, "the WAL checkpoint must complete");
    let pages: i64 = sqlx::query("PRAGMA page_count")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    let page_size: i64 = sqlx::query("PRAGMA page_size")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    let mut sizes = Sizes::new();
    let rows = sqlx::query("SELECT name, CAST(SUM(pgsize) AS BIGINT) FROM dbstat GROUP BY name")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    for row in rows {
        let name: String = row.get(0);
        let table = match name.as_str() {
            "plan_versions" | "plan_items_current" | "plan_items_history" => name,
            // The plans table and its indexes (person_id, nhs_number, family name).
            n if n == "plans"
                || n == "plans_family_name"
                || n.starts_with("sqlite_autoindex_plans") =>
            {
                "plans".to_owned()
            }
            _ => "other".to_owned(),
        };
        *sizes.entry(table).or_default() += row.get::<i64, _>(1);
    }
    // Free pages are in the file but in no table.
    let accounted = total(&sizes);
    *sizes.entry("other".to_owned()).or_default() += pages * page_size - accounted;
    assert_eq!(total(&sizes), pages * page_size);
    sizes
}

async fn postgres_sizes(conn: &mut AnyConnection, vacuum_full: bool) -> Sizes {
    if vacuum_full {
        conn.execute(
            "VACUUM FULL ANALYZE plans, plan_versions, plan_items_current, plan_items_history",
        )
        .await
        .unwrap();
    }
    let mut sizes = Sizes::new();
    for table in PARTS {
        let bytes: i64 = sqlx::query("SELECT pg_total_relation_size($1::regclass)")
            .bind(table)
            .fetch_one(&mut *conn)
            .await
            .unwrap()
            .get(0);
        sizes.insert(table.to_owned(), bytes);
    }
    sizes
}

fn per_edit(before: &Sizes, after: &Sizes, key: &str, edits: usize) -> f64 {
    let get = |s: &Sizes| s.get(key).copied().unwrap_or(0);
    (get(after) - get(before)) as f64 / edits as f64
}

/// Bytes per edit of each part, as table cells.
fn split(before: &Sizes, after: &Sizes, parts: &[&str], edits: usize) -> String {
    parts
        .iter()
        .map(|k| format!("{:.0}", per_edit(before, after, k, edits)))
        .collect::<Vec<_>>()
        .join(" | ")
}

fn describe(s: &Scenario) -> (String, String) {
    let item = if s.description == 0 {
        "need, ~50-char description".to_owned()
    } else {
        format!("need, {}-char description", s.description)
    };
    let edit = match s.kind {
        EditKind::Importance => "toggle importance".to_owned(),
        EditKind::Description(n) => format!("new {n}-char description"),
    };
    (item, edit)
}

/// Builds the scenario's plan, returns the editor ready to edit (setup done).
async fn build(store: &Store, i: usize, s: &Scenario) -> Editor {
    let mut editor = Editor::create(
        store,
        &format!("storage {i}"),
        s.needs,
        s.description,
        s.kind,
    )
    .await;
    // A first round of edits, so every measured edit closes a row that an edit wrote (as in
    // steady state) rather than one that an add_need wrote.
    editor.edit_many(store, s.needs.min(200)).await;
    editor
}

async fn sqlite(edits: usize) {
    println!(
        "\n== SQLite: bytes per one-item edit (page_count × page_size after wal_checkpoint(TRUNCATE)), {edits} edits each =="
    );
    println!(
        "| needs | edited item | edit | item row | command | bytes/edit | {} | other |",
        PARTS.join(" | ")
    );
    println!(
        "|---:|---|---|---:|---:|---:|{}---:|",
        "---:|".repeat(PARTS.len())
    );
    for (i, s) in SCENARIOS.iter().enumerate() {
        // A fresh file per scenario, so no other plan's pages move the count.
        let db = BenchDb::sqlite();
        let store = db.open().await;
        let mut editor = build(&store, i, s).await;
        let mut conn = db.connect().await;
        let before = sqlite_sizes(&mut conn).await;
        editor.edit_many(&store, edits).await;
        let after = sqlite_sizes(&mut conn).await;
        let (body, command) = common::newest_version(&mut conn, &editor.plan).await;
        let (body, command) = (body.len(), command.len());
        let (item, edit) = describe(s);
        let bytes = (total(&after) - total(&before)) as f64 / edits as f64;
        let split = split(&before, &after, &PARTS, edits);
        println!(
            "| {} | {item} | {edit} | {body} | {command} | **{bytes:.0}** | {split} | {:.0} |",
            s.needs,
            per_edit(&before, &after, "other", edits),
        );
        drop(conn);
        store.close().await;
        db.cleanup().await;
    }
}

async fn postgres(edits: usize) {
    let Some(db) = BenchDb::postgres().await else {
        return;
    };
    let store = db.open().await;
    let mut conn = db.connect().await;
    let settings: Vec<String> = sqlx::query(
        "SELECT name || '=' || setting FROM pg_settings \
         WHERE name IN ('autovacuum', 'fsync', 'synchronous_commit', 'block_size', 'toast_tuple_target') \
         ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    println!(
        "\n== PostgreSQL: bytes per one-item edit (sum of pg_total_relation_size of {}), {edits} edits each; server: {} ==",
        PARTS.join(", "),
        settings.join(", ")
    );
    println!(
        "| needs | edited item | edit | item row | command | bytes/edit as the files grew | bytes/edit after VACUUM FULL | {} |",
        PARTS.join(" | ")
    );
    println!(
        "|---:|---|---|---:|---:|---:|---:|{}",
        "---:|".repeat(PARTS.len())
    );
    for (i, s) in SCENARIOS.iter().enumerate() {
        let mut editor = build(&store, i, s).await;
        let before = postgres_sizes(&mut conn, true).await;
        editor.edit_many(&store, edits).await;
        let grown = postgres_sizes(&mut conn, false).await;
        let after = postgres_sizes(&mut conn, true).await;
        let (body, command) = common::newest_version(&mut conn, &editor.plan).await;
        let (body, command) = (body.len(), command.len());
        let (item, edit) = describe(s);
        let raw = (total(&grown) - total(&before)) as f64 / edits as f64;
        let live = (total(&after) - total(&before)) as f64 / edits as f64;
        let split = split(&before, &after, &PARTS, edits);
        println!(
            "| {} | {item} | {edit} | {body} | {command} | {raw:.0} | **{live:.0}** | {split} |",
            s.needs,
        );
    }
    drop(conn);
    store.close().await;
    db.cleanup().await;
}

/// Commits per case of the WAL measurement: few enough that the WAL never reaches the
/// auto-checkpoint (1,000 pages) and restarts.
const WAL_COMMITS: usize = 50;

/// The WAL of `file` (a SQLite database whose WAL was truncated before the commits): the number
/// of frames, and the frames by the table or index that owns their page (from `dbstat`).
async fn wal_frames(conn: &mut AnyConnection, file: &std::path::Path) -> (usize, Sizes) {
    let mut wal = file.as_os_str().to_owned();
    wal.push("-wal");
    let bytes = std::fs::read(std::path::PathBuf::from(wal)).unwrap_or_default();
    let page_size: i64 = sqlx::query("PRAGMA page_size")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    let owners: BTreeMap<i64, String> = sqlx::query("SELECT pageno, name FROM dbstat")
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let frame = 24 + usize::try_from(page_size).unwrap();
    let mut by_owner = Sizes::new();
    let mut frames = 0;
    for header in bytes.get(32..).unwrap_or_default().chunks_exact(frame) {
        let page = i64::from(u32::from_be_bytes(header[..4].try_into().unwrap()));
        let owner = owners.get(&page).map_or("free or header", |n| n.as_str());
        let owner = if owner.starts_with("sqlite_autoindex_plans") || owner == "plans_family_name" {
            "plans"
        } else {
            owner
        };
        *by_owner.entry(owner.to_owned()).or_default() += 1;
        frames += 1;
    }
    (frames, by_owner)
}

async fn truncate_wal(conn: &mut AnyConnection) {
    let busy: i64 = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(busy, 0, "the WAL checkpoint must complete");
}

/// WAL appended per durable commit on SQLite: what each commit writes (and fsyncs).
async fn sqlite_wal() {
    println!(
        "\n== SQLite: WAL appended per durable commit (frames = pages written; {WAL_COMMITS} commits each, after wal_checkpoint(TRUNCATE)) =="
    );
    println!("| commit | frames/commit | WAL bytes/commit | frames/commit by table or index |");
    println!("|---|---:|---:|---|");
    let db = BenchDb::sqlite();
    let store = db.open().await;
    let file = db.sqlite_file().unwrap();
    let mut edit100 = Editor::create(&store, "wal 100", 100, 0, EditKind::Importance).await;
    let mut edit1000 = Editor::create(&store, "wal 1000", 1000, 0, EditKind::Importance).await;
    edit100.edit(&store).await;
    edit1000.edit(&store).await;
    let mut conn = db.connect().await;
    let (body, command) = common::newest_version(&mut conn, &edit100.plan).await;
    let mut raw = RawInsert::set_up(&db, common::prose(7, body.len() + command.len())).await;
    let mut by_hand = ByHand::set_up(&db, body, command).await;
    by_hand.commit().await;
    raw.insert().await;

    let report = |label: &str, file: &std::path::Path, frames: usize, by: &Sizes| {
        let n = WAL_COMMITS as f64;
        let bytes = common::wal_len(file).saturating_sub(32) as f64;
        let split = by
            .iter()
            .map(|(k, v)| format!("{k} {:.2}", *v as f64 / n))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "| {label} | {:.2} | {:.0} | {split} |",
            frames as f64 / n,
            bytes / n
        );
    };
    for (label, plan) in [
        ("Store::apply, one-item edit, 100-need plan", 100),
        ("Store::apply, one-item edit, 1,000-need plan", 1000),
        (
            "older write path by hand (7 statements; diagnostic, not the current script)",
            0,
        ),
    ] {
        truncate_wal(&mut conn).await;
        for _ in 0..WAL_COMMITS {
            match plan {
                100 => edit100.edit(&store).await,
                1000 => edit1000.edit(&store).await,
                _ => by_hand.commit().await,
            }
        }
        let (frames, by) = wal_frames(&mut conn, &file).await;
        report(label, &file, frames, &by);
    }
    let raw_file = raw.file.clone().unwrap();
    truncate_wal(&mut raw.conn).await;
    for _ in 0..WAL_COMMITS {
        raw.insert().await;
    }
    let (frames, by) = wal_frames(&mut raw.conn, &raw_file).await;
    report("raw_insert (one autocommit INSERT)", &raw_file, frames, &by);
    drop(conn);
    drop(by_hand);
    drop(raw);
    store.close().await;
    db.cleanup().await;
}

fn main() {
    let started = Instant::now();
    let edits = if common::full_run() {
        EDITS
    } else {
        EDITS_QUICK
    };
    let rt = Runtime::new().expect("tokio runtime");
    rt.block_on(async {
        sqlite(edits).await;
        sqlite_wal().await;
        postgres(edits).await;
    });
    println!(
        "\n(item row: bytes of the edited need's stored JSON; command: bytes of the stored command; \
         per-table columns after compaction where it applies; storage bench took {:.1?})",
        started.elapsed()
    );
}
