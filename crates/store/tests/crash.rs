//! Durability: a writer process is killed with SIGKILL in the middle of a stream of commits, and
//! every version it acknowledged is still there afterwards, on SQLite and on PostgreSQL. Likewise
//! for audit entries of reads, group-committed by the audit writer while versions are committed
//! beside them: every entry acknowledged before the kill is in the trail afterwards, and the
//! chain verifies.
//!
//! This test binary has its own `main` (harness = false): run with `--child URL PLAN` it is the
//! writer, which prints `acked N` after each commit returns; with `--reader URL PLAN` it records
//! reads from several tasks, with writes among them, printing `read T-I` after each returns; run
//! without, it is the test.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command as Process, Stdio};

use careplan_model::{Command, PlanId, Role, VersionNumber};
use careplan_store::Store;
use careplan_store::audit::{AuditEntry, AuditFilter, AuditOutcome, action};
use serde_json::json;
use support::{TestDb, actor};

/// How many acknowledgements the parent waits for before it kills the writer.
const ACKS_BEFORE_KILL: u64 = 200;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    if args.get(1).map(String::as_str) == Some("--child") {
        rt.block_on(child(&args[2], &args[3]));
        return;
    }
    if args.get(1).map(String::as_str) == Some("--reader") {
        rt.block_on(reader(&args[2], &args[3]));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        println!("csp15_acknowledged_versions_survive_kill_9: test");
        println!("csp1_acknowledged_audit_entries_survive_kill_9: test");
        return;
    }
    let mut passed = 0;
    for backend in ["sqlite", "postgres"] {
        let db = match backend {
            "sqlite" => Some(TestDb::sqlite()),
            _ => rt.block_on(TestDb::postgres()),
        };
        let Some(db) = db else { continue };
        rt.block_on(parent(&db));
        println!("test csp15_acknowledged_versions_survive_kill_9_on_{backend} ... ok");
        rt.block_on(reads_parent(&db));
        println!("test csp1_acknowledged_audit_entries_survive_kill_9_on_{backend} ... ok");
        rt.block_on(db.cleanup());
        passed += 2;
    }
    println!("\ntest result: ok. {passed} passed; 0 failed; 0 ignored");
}

/// Starts a plan for a fictional person, closes the store, and starts this binary as the child
/// `mode` (`--child` or `--reader`) on it, its output piped.
async fn plan_and_child(db: &TestDb, given_name: &str, mode: &str) -> (PlanId, Child) {
    let store = db.open().await;
    let nurse = actor("Crash Tester", Role::Practitioner);
    let person = serde_json::from_value(
        json!({"given_name": given_name, "family_name": "Able", "date_of_birth": "1944-04-04"}),
    )
    .unwrap();
    let plan = store.create_plan(&nurse, person, None).await.unwrap().plan;
    store.close().await;
    let child = Process::new(std::env::current_exe().unwrap())
        .args([mode, &db.url, plan.id.as_str()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    (plan.id, child)
}

async fn parent(db: &TestDb) {
    let (plan_id, mut child) = plan_and_child(db, "Dur", "--child").await;
    let mut last_acked = 0u64;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            last_acked = n.parse().unwrap();
        }
        if last_acked >= ACKS_BEFORE_KILL {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructors, no flushing, mid-transaction.
    let status = child.wait().unwrap();
    assert!(!status.success(), "the writer was killed, not finished");
    assert!(
        last_acked >= ACKS_BEFORE_KILL,
        "the writer stopped early at {last_acked}"
    );

    let store = db.open().await;
    let (head, _) = store.head(&plan_id).await.unwrap();
    assert!(
        head.get() >= last_acked,
        "acknowledged version {last_acked} is lost: the plan is at {head}"
    );
    for n in 1..=last_acked {
        let p = store.version(&plan_id, n).await.unwrap();
        // Each acknowledged version n > 1 added exactly one comment.
        assert_eq!(p.comments.len() as u64, n - 1, "version {n}");
    }
    store.close().await;
}

async fn child(url: &str, plan: &str) {
    let store = Store::open(url).await.unwrap();
    let plan = PlanId::parse(plan).unwrap();
    let nurse = actor("Crash Writer", Role::Practitioner);
    comment_for_ever(&store, &plan, &nurse, true).await;
}

/// Commits one comment after another to `plan` (at version 1), until the process is killed;
/// with `ack`, prints `acked N` as each version N is acknowledged.
async fn comment_for_ever(store: &Store, plan: &PlanId, nurse: &careplan_model::Actor, ack: bool) {
    let mut version = VersionNumber::FIRST;
    for i in 0.. {
        let c: Command = serde_json::from_value(json!({"type": "add_comment", "target": {"on": "plan"}, "text": format!("comment {i}")})).unwrap();
        version = store
            .apply(plan, version, nurse, c, None)
            .await
            .unwrap()
            .version();
        if ack {
            println!("acked {version}");
        }
    }
}

/// Reads acknowledged before the kill, at least.
const READS_BEFORE_KILL: usize = 400;
/// Tasks recording reads at once in the reader process.
const READERS: usize = 8;

async fn reads_parent(db: &TestDb) {
    let (plan_id, mut child) = plan_and_child(db, "Read", "--reader").await;
    let mut acked = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Some(read) = line.unwrap().strip_prefix("read ") {
            acked.push(format!("crash read {read}"));
        }
        if acked.len() >= READS_BEFORE_KILL {
            break;
        }
    }
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success(), "the reader was killed");
    assert!(acked.len() >= READS_BEFORE_KILL, "the reader stopped early");

    let store = db.open().await;
    let verification = store.verify_audit().await.unwrap();
    assert!(verification.is_intact(), "{verification:?}");
    let recorded: std::collections::HashSet<String> = store
        .audit_records(AuditFilter {
            plan_id: Some(plan_id.clone()),
            limit: 100_000,
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.detail)
        .collect();
    for read in &acked {
        assert!(
            recorded.contains(read),
            "acknowledged “{read}” is not in the trail"
        );
    }
    store.close().await;
}

async fn reader(url: &str, plan: &str) {
    let store = Store::open(url).await.unwrap();
    let plan = PlanId::parse(plan).unwrap();
    let nurse = actor("Crash Reader", Role::Practitioner);
    let mut tasks = Vec::new();
    for t in 0..READERS {
        let (store, plan, nurse) = (store.clone(), plan.clone(), nurse.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let entry = AuditEntry {
                    plan_id: Some(plan.clone()),
                    detail: format!("crash read {t}-{i}"),
                    ..AuditEntry::new(&nurse, action::READ_PLAN, AuditOutcome::Allowed)
                };
                store.audit(vec![entry]).await.unwrap();
                println!("read {t}-{i}");
            }
        }));
    }
    // Writes among the reads: versions' audit entries join the chain between groups of reads.
    comment_for_ever(&store, &plan, &nurse, false).await;
}
