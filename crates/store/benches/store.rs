//! Timings of the plan store on SQLite and PostgreSQL (criterion): a durable one-item edit against
//! a raw single-row insert with the same durability, and reads of old versions against the
//! current one on a plan of 10,000 versions; then the ratios, measured in this same run. An edit
//! is `Store::apply` of a command made ahead, as the server hands it over after reading the JSON.
//!
//! Run with `cargo bench -p careplan-store --bench store`. Under `cargo test --benches` every
//! bench runs once on a short history, as a smoke test.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use careplan_model::PlanId;
use careplan_store::Store;
use common::{BenchDb, EditKind, Editor, RawInsert};
use criterion::Criterion;
use sqlx::Executor;
use tokio::runtime::Runtime;

/// Versions of the read plan: 100 needs added, then one-item edits up to this.
const HISTORY: usize = 10_000;
const HISTORY_QUICK: usize = 400;
const READ_PLAN_NEEDS: usize = 100;

/// Everything one backend's benches use.
struct Bed {
    db: BenchDb,
    store: Store,
    /// A plan of 100 needs, edited by the `edit` bench.
    edit100: Editor,
    /// A plan of 1,000 needs, edited by the `edit_1000_items` bench.
    edit1000: Editor,
    /// The baseline: a separate SQLite file, or its own table in the PostgreSQL database.
    raw: RawInsert,
    /// The statements an edit commits, by hand on a plain connection to the store's database.
    /// The plan with a long history, and the versions read from it.
    history: PlanId,
    reads: Vec<(String, u64)>,
}

async fn set_up(db: BenchDb, full: bool) -> Bed {
    let store = db.open().await;
    let sqlite = db.backend == "sqlite";
    let started = Instant::now();

    let mut edit100 = Editor::create(&store, "edit 100", 100, 0, EditKind::Importance).await;
    let mut edit1000 = Editor::create(&store, "edit 1000", 1000, 0, EditKind::Importance).await;
    // One edit each, so the baseline row can be sized like what an edit writes.
    edit100.edit(&store).await;
    edit1000.edit(&store).await;
    let mut conn = db.connect().await;
    let (item_body, command_text) = common::newest_version(&mut conn, &edit100.plan).await;
    let (body, command) = (item_body.len(), command_text.len());

    // The baseline: one row of comparable size (the item body plus the command the edit
    // stores), one autocommit INSERT each.
    let raw = RawInsert::set_up(&db, common::prose(7, body + command)).await;

    // The read plan: 100 needs (versions 2–101), then one-item edits up to HISTORY versions.
    let history_len = if full { HISTORY } else { HISTORY_QUICK };
    let mut history =
        Editor::create(&store, "history", READ_PLAN_NEEDS, 0, EditKind::Importance).await;
    let edits = history_len - usize::try_from(history.version.get()).unwrap();
    history.edit_many(&store, edits).await;
    assert_eq!(history.version.get(), history_len as u64);
    if !sqlite {
        // The server may run without autovacuum (the bench machine's does): give the planner
        // the statistics that autovacuum would have gathered on a live server.
        conn.execute("ANALYZE").await.unwrap();
    }
    let full_at = history.full_at.get();
    let middle = history_len as u64 / 2;
    let reads = vec![
        ("current".to_owned(), history_len as u64),
        ("version_1".to_owned(), 1),
        (format!("version_{full_at}"), full_at),
        (format!("version_{middle}"), middle),
    ];
    eprintln!(
        "{}: set up in {:.1?}: edit plans of 100 and 1,000 needs; raw row of {} bytes \
         (item {body} + command {command}); read plan of {history_len} versions",
        db.backend,
        started.elapsed(),
        raw.body_len(),
    );
    Bed {
        db,
        store,
        edit100,
        edit1000,
        raw,
        history: history.plan,
        reads,
    }
}

fn bench_writes(c: &mut Criterion, rt: &Runtime, bed: &mut Bed) {
    let mut group = c.benchmark_group(format!("{}_write", bed.db.backend));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let Bed {
        store,
        edit100,
        edit1000,
        raw,
        ..
    } = bed;
    group.bench_function("edit", |b| {
        b.iter_custom(|iters| {
            let commands = edit100.next_commands(iters);
            rt.block_on(async {
                let start = Instant::now();
                for command in commands {
                    edit100.apply(store, command).await;
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("raw_insert", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    raw.insert().await;
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("edit_1000_items", |b| {
        b.iter_custom(|iters| {
            let commands = edit1000.next_commands(iters);
            rt.block_on(async {
                let start = Instant::now();
                for command in commands {
                    edit1000.apply(store, command).await;
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

/// The edit and the raw insert measured in alternating blocks of 50, 40 times over: whatever
/// else the machine is doing slows both sides alike, so their ratio is steadier than the ratio of
/// two criterion runs minutes apart. Returns the mean of each, in microseconds.
fn interleaved(rt: &Runtime, bed: &mut Bed, rounds: usize) -> Alternating {
    let Bed {
        store,
        edit100,
        raw,
        ..
    } = bed;
    let alternating = rt.block_on(async {
        let (mut edit, mut insert) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..rounds {
            let commands = edit100.next_commands(50);
            let start = Instant::now();
            for command in commands {
                edit100.apply(store, command).await;
            }
            edit += start.elapsed();
            let start = Instant::now();
            for _ in 0..50 {
                raw.insert().await;
            }
            insert += start.elapsed();
        }
        let per = |d: Duration| d.as_secs_f64() * 1e6 / (rounds * 50) as f64;
        (per(edit), per(insert))
    });
    Alternating {
        edit: alternating.0,
        insert: alternating.1,
        // What every durable commit on this disk pays, measured straight after.
        page_sync: bed.db.dir().map(common::page_sync_micros),
    }
}

/// The means of the alternating blocks, in microseconds, and (SQLite) what a durable write of
/// one page costs on the bench's disk just after them.
struct Alternating {
    edit: f64,
    insert: f64,
    page_sync: Option<f64>,
}

fn bench_reads(c: &mut Criterion, rt: &Runtime, bed: &Bed) {
    let mut group = c.benchmark_group(format!("{}_read", bed.db.backend));
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let latest = bed.reads[0].1;
    for (name, version) in &bed.reads {
        let (store, plan, version) = (&bed.store, &bed.history, *version);
        group.bench_function(name.as_str(), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let plan = if version == latest {
                            store.current(plan).await.unwrap()
                        } else {
                            store.version(plan, version).await.unwrap()
                        };
                        std::hint::black_box(plan);
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

/// Where criterion writes its results (as criterion finds it, but fixed here so the ratios
/// read the same place): `$CRITERION_HOME`, else `<target dir>/criterion`.
fn criterion_dir() -> PathBuf {
    std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::target_dir().join("criterion"))
}

/// The mean of one bench, in nanoseconds, if criterion wrote it during this run.
fn mean_ns(dir: &Path, group: &str, bench: &str, since: SystemTime) -> Option<f64> {
    let path = dir.join(group).join(bench).join("new/estimates.json");
    let fresh = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since);
    if !fresh {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn print_ratios(dir: &Path, since: SystemTime, beds: &[Bed], alternating: &[Alternating]) {
    println!("\n== careplan-store timings, means from this run (criterion estimates) ==");
    for (bed, a) in beds.iter().zip(alternating) {
        let backend = bed.db.backend;
        let (edit, insert) = (&a.edit, &a.insert);
        println!(
            "mean edit, alternating with raw_insert ({backend}): {edit:.1} µs; raw_insert: {insert:.1} µs; \
             the edit's own work beyond the insert: {:.1} µs",
            edit - insert
        );
        if let Some(sync) = a.page_sync {
            println!(
                "durable write of one 4 KiB page on the bench disk (write + fdatasync) ({backend}): \
                 {sync:.1} µs — both sides pay it once per commit, so the ratio below falls as it rises"
            );
        }
        let (write, read) = (format!("{backend}_write"), format!("{backend}_read"));
        let mean = |group: &str, bench: &str| mean_ns(dir, group, bench, since);
        let show = |label: &str, ns: Option<f64>| match ns {
            Some(ns) => println!("mean {label} ({backend}): {:.1} µs", ns / 1000.0),
            None => println!("mean {label} ({backend}): not measured in this run"),
        };
        for bench in ["edit", "raw_insert", "edit_1000_items"] {
            show(bench, mean(&write, bench));
        }
        for (bench, _) in &bed.reads {
            show(bench, mean(&read, bench));
        }
        let ratio = |label: &str, a: Option<f64>, b: Option<f64>, bar: Option<f64>| {
            let (Some(a), Some(b)) = (a, b) else {
                println!("ratio {label} ({backend}): not measured in this run");
                return;
            };
            let r = a / b;
            let verdict = match bar {
                Some(bar) if r <= bar => format!("   [bar ≤ {bar}×: PASS]"),
                Some(bar) => format!("   [bar ≤ {bar}×: FAIL]"),
                None => String::new(),
            };
            println!("ratio {label} ({backend}): {r:.2}×{verdict}");
        };
        let edit_bar = (backend == "sqlite").then_some(2.0);
        ratio(
            "edit/raw_insert, alternating blocks (the figure for the bar)",
            Some(*edit),
            Some(*insert),
            edit_bar,
        );
        ratio(
            "edit/raw_insert, criterion means",
            mean(&write, "edit"),
            mean(&write, "raw_insert"),
            None,
        );
        ratio(
            "edit_1000_items/edit",
            mean(&write, "edit_1000_items"),
            mean(&write, "edit"),
            None,
        );
        let current = mean(&read, &bed.reads[0].0);
        for (i, (bench, _)) in bed.reads.iter().enumerate().skip(1) {
            let bar = (i == 1).then_some(1.5);
            ratio(
                &format!("{bench}/current"),
                mean(&read, bench),
                current,
                bar,
            );
        }
    }
}

fn main() {
    let since = SystemTime::now();
    let full = common::full_run();
    let rt = Runtime::new().expect("tokio runtime");
    let dir = criterion_dir();
    let mut c = Criterion::default()
        .output_directory(&dir)
        .configure_from_args();

    let mut beds = vec![rt.block_on(set_up(BenchDb::sqlite(), full))];
    if let Some(db) = rt.block_on(BenchDb::postgres()) {
        beds.push(rt.block_on(set_up(db, full)));
    }
    let mut alternating = Vec::new();
    for bed in &mut beds {
        bench_writes(&mut c, &rt, bed);
        alternating.push(interleaved(&rt, bed, if full { 40 } else { 1 }));
        bench_reads(&mut c, &rt, bed);
    }
    c.final_summary();
    if full {
        print_ratios(&dir, since, &beds, &alternating);
    }
    for bed in beds {
        rt.block_on(async {
            bed.store.close().await;
            drop(bed.raw);
            bed.db.cleanup().await;
        });
    }
}
