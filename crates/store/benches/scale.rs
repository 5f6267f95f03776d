//! Reads as the number of stored plans grows (PRODUCT.md: "With 1,000,000 plans stored, reads
//! stay within 1.5× of the 1,000-plan figure"), on SQLite.
//!
//! One realistic plan is built through the store (a person, a care team with the reading
//! practitioner on it, strengths, needs, a concern, goals, actions, a comment: 14 versions). Its
//! rows (`plans`, `plan_versions`, `plan_items_current`, `plan_items_history`, `plan_members`)
//! are then copied in bulk with SQL under new ids (`scale-plan-0000001`, …), to 1,000 plans, then
//! 100,000, then 1,000,000 (`CAREPLAN_BENCH_PLANS` sets the largest). At each size, reads of
//! plans chosen at random from all of them:
//!
//! - `Store::current` by plan id: the head row and the current item rows, no cache;
//! - a practitioner's audited read by person id, `Handle::current_by_key` (what
//!   `GET /api/v1/people/{id}/plan` does): find the plan, check membership and consent, redact,
//!   and commit the audit entry (one fsync). Its caches hold 256 plans, so at 1,000 plans about a
//!   quarter of these reads find the plan in memory, and at 100,000 or more almost none;
//! - a data controller's search for a person by name (`Handle::people`, what the caseload
//!   search and `GET /api/v1/people?search=` do for a role that sees everyone): a family name
//!   that one plan in 5,832 has (that of a plan chosen at random), 20 results at most (one search
//!   per ten plan reads).
//!
//! Prints mean, p50 and p99 per size and the ratio of each size's mean to the 1,000-plan mean.
//! Run with `cargo bench -p careplan-store --bench scale`; under `cargo test --benches` it only
//! checks that it runs, on 1,000 and 3,000 plans.

mod common;

use std::time::{Duration, Instant};

use careplan_model::{PersonId, PlanId, Role};
use careplan_store::Store;
use careplan_store::accounts::NewAccount;
use common::{BenchDb, actor, cmd};
use serde_json::json;
use sqlx::{AnyConnection, Connection, Executor};

/// Plan reads measured per kind and size (after as many again to warm up).
const READS: usize = 2_000;
/// Name searches measured per size: one in ten reads (a search that reads every plan would
/// otherwise take most of the run at a million plans).
const SEARCH_EVERY: usize = 10;
/// Searches of two characters per size and round (each scans more than a trigram search).
const SHORT_SEARCHES: usize = 20;
/// Plans copied per transaction while growing.
const CHUNK: u64 = 20_000;

/// Two-letter syllables; a copy's family name is three of them, chosen by its number (see
/// [`family_name`]): 5,832 names, so a name is shared by about one plan in 5,832, as surnames are.
const SYLLABLES: &str = "kamotiderunalosepivubagohezifawecuyo";

/// The family name of copy `i`, as the copying SQL makes it.
fn family_name(i: u64) -> String {
    let syllable = |k: u64| {
        let at = usize::try_from(k % 18 * 2).unwrap();
        &SYLLABLES[at..at + 2]
    };
    let word = format!("{}{}{}", syllable(i), syllable(i / 18), syllable(i / 324));
    word[..1].to_uppercase() + &word[1..]
}

/// The statements that copy the template plan's rows to plans `$2` … `$3` (numbered), with
/// `$1` the template's plan id and `$4` [`SYLLABLES`] (statements that make no names ignore it).
/// Every copy gets its own plan and person id and a family name made of syllables
/// ([`family_name`]); items keep their ids, which are only unique within a plan.
const COPY: [&str; 5] = [
    "WITH RECURSIVE n(i) AS (SELECT $2 UNION ALL SELECT i + 1 FROM n WHERE i < $3), \
     named(i, family) AS (SELECT i, \
         substr($4, i % 18 * 2 + 1, 2) \
         || substr($4, i / 18 % 18 * 2 + 1, 2) \
         || substr($4, i / 324 % 18 * 2 + 1, 2) FROM n) \
     INSERT INTO plans (id, person_id, created_at, nhs_number, given_name, \
                        family_name, date_of_birth, search_name) \
     SELECT printf('scale-plan-%07d', i), printf('scale-person-%07d', i), created_at, \
            NULL, given_name, upper(substr(family, 1, 1)) || substr(family, 2), \
            date_of_birth, lower(given_name) || ' ' || family \
     FROM named, plans WHERE id = $1",
    "WITH RECURSIVE n(i) AS (SELECT $2 UNION ALL SELECT i + 1 FROM n WHERE i < $3) \
     INSERT INTO plan_versions (plan_id, number, at, actor_id, actor_name, actor_role, format, \
                                command, reason) \
     SELECT printf('scale-plan-%07d', i), number, at, actor_id, actor_name, actor_role, format, \
            command, reason \
     FROM n, plan_versions WHERE plan_id = $1",
    "WITH RECURSIVE n(i) AS (SELECT $2 UNION ALL SELECT i + 1 FROM n WHERE i < $3) \
     INSERT INTO plan_items_current (plan_id, kind, item_id, valid_from, added_in, format, body) \
     SELECT printf('scale-plan-%07d', i), kind, item_id, valid_from, added_in, format, body \
     FROM n, plan_items_current WHERE plan_id = $1",
    "WITH RECURSIVE n(i) AS (SELECT $2 UNION ALL SELECT i + 1 FROM n WHERE i < $3) \
     INSERT INTO plan_items_history (plan_id, valid_from, kind, item_id, valid_to, format, body) \
     SELECT printf('scale-plan-%07d', i), valid_from, kind, item_id, valid_to, format, body \
     FROM n, plan_items_history WHERE plan_id = $1",
    "WITH RECURSIVE n(i) AS (SELECT $2 UNION ALL SELECT i + 1 FROM n WHERE i < $3) \
     INSERT INTO plan_members (account, plan_id) \
     SELECT account, printf('scale-plan-%07d', i) FROM n, plan_members WHERE plan_id = $1",
];

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let full = common::full_run();
    let largest: u64 = std::env::var("CAREPLAN_BENCH_PLANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let sizes: Vec<u64> = if full {
        [1_000, 100_000, 1_000_000]
            .into_iter()
            .filter(|n| *n < largest)
            .chain([largest])
            .collect()
    } else {
        vec![1_000, 3_000]
    };
    let reads = if full { READS } else { 100 };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(run(&sizes, reads));
}

/// Latencies of one kind of read at one size.
struct Figures {
    mean: Duration,
    p50: Duration,
    p99: Duration,
}

impl Figures {
    fn of(mut times: Vec<Duration>) -> Figures {
        times.sort();
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        Figures {
            mean: times.iter().sum::<Duration>() / times.len() as u32,
            p50: at(0.50),
            p99: at(0.99),
        }
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn run(sizes: &[u64], reads: usize) {
    let db = BenchDb::sqlite();
    let store = db.open().await;
    // The account first: the care team names it.
    let reader = account(&store, "bench", Role::Practitioner).await;
    let template = build_template(&store, &reader.id).await;
    let handle = store.handle(reader.requester(), reader.actor());
    let controller = account(&store, "controller", Role::DataController).await;
    let searcher = store.handle(controller.requester(), controller.actor());

    let mut loader = db.connect().await;
    // Setting up, not measured: the copies need not survive a crash.
    loader.execute("PRAGMA synchronous = OFF").await.unwrap();
    let mut stored = 0u64;
    let mut rows: Vec<(u64, [Figures; 3])> = Vec::new();
    // Searches of one or two characters, which no trigram index can answer: a common start of
    // a family name (one plan in 18 has it) and two letters no name has (the worst case).
    let mut short: Vec<(u64, Figures, Figures)> = Vec::new();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    for &size in sizes {
        let started = Instant::now();
        grow(&mut loader, &template, stored + 1, size).await;
        stored = size;
        loader
            .execute("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .unwrap();
        let grown_in = started.elapsed();

        let mut pick = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % size + 1
        };
        let mut plain = Vec::with_capacity(reads);
        let mut audited = Vec::with_capacity(reads);
        let mut searched = Vec::with_capacity(reads);
        // The first round warms the caches and the page cache; the second is measured.
        for _ in 0..2 {
            plain.clear();
            audited.clear();
            searched.clear();
            for _ in 0..reads {
                let plan = PlanId::parse(&format!("scale-plan-{:07}", pick())).unwrap();
                let t = Instant::now();
                let read = store.current(&plan).await.unwrap();
                plain.push(t.elapsed());
                assert_eq!(read.version, template.version, "{plan}");

                let person = PersonId::parse(&format!("scale-person-{:07}", pick())).unwrap();
                let t = Instant::now();
                let viewed = handle.current_by_key(person.as_str()).await.unwrap();
                audited.push(t.elapsed());
                assert!(viewed.withheld.is_empty());
            }
            for _ in 0..reads / SEARCH_EVERY {
                let name = family_name(pick());
                let t = Instant::now();
                let found = searcher.people(Some(&name), 20, 0).await.unwrap();
                searched.push(t.elapsed());
                assert!(!found.is_empty(), "{name}");
            }
        }
        let mut common_short = Vec::new();
        let mut absent = Vec::new();
        // The first round warms the caches, as above.
        for _ in 0..2 {
            common_short.clear();
            absent.clear();
            for _ in 0..SHORT_SEARCHES {
                let name = family_name(pick()).to_lowercase();
                let t = Instant::now();
                let found = searcher.people(Some(&name[..2]), 20, 0).await.unwrap();
                common_short.push(t.elapsed());
                assert_eq!(found.len(), 20, "{}", &name[..2]);
                let t = Instant::now();
                let found = searcher.people(Some("qx"), 20, 0).await.unwrap();
                absent.push(t.elapsed());
                assert!(found.is_empty(), "no name has qx");
            }
        }
        short.push((size, Figures::of(common_short), Figures::of(absent)));
        rows.push((
            size,
            [
                Figures::of(plain.clone()),
                Figures::of(audited.clone()),
                Figures::of(searched.clone()),
            ],
        ));
        let size_on_disk = std::fs::metadata(db.sqlite_file().unwrap())
            .map(|m| m.len())
            .unwrap_or(0);
        eprintln!(
            "{size} plans stored ({:.0} MB, grown in {:.0?}): measured",
            size_on_disk as f64 / 1e6,
            grown_in
        );
    }

    println!(
        "\n== reads as plans are added (SQLite; {reads} reads of random plans per kind and size) =="
    );
    println!(
        "| plans stored | current by plan id: mean / p50 / p99 µs | ÷ first | audited practitioner read by person id | ÷ first | data controller's name search | ÷ first |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let first: Vec<f64> = rows[0].1.iter().map(|f| f.mean.as_secs_f64()).collect();
    for (size, figures) in &rows {
        let cells: Vec<String> = figures
            .iter()
            .zip(&first)
            .map(|(f, first)| {
                format!(
                    "{:.0} / {:.0} / {:.0} | {:.2}×",
                    us(f.mean),
                    us(f.p50),
                    us(f.p99),
                    f.mean.as_secs_f64() / first
                )
            })
            .collect();
        println!("| {size} | {} |", cells.join(" | "));
    }
    println!(
        "\n== searches of two characters (data controller, 20 at most; no trigram index can answer them) =="
    );
    println!(
        "| plans stored | a common start of a family name: mean / p50 / p99 µs | two letters no name has |"
    );
    println!("|---:|---:|---:|");
    for (size, common, none) in &short {
        println!(
            "| {size} | {:.0} / {:.0} / {:.0} | {:.0} / {:.0} / {:.0} |",
            us(common.mean),
            us(common.p50),
            us(common.p99),
            us(none.mean),
            us(none.p50),
            us(none.p99)
        );
    }
    let (_, last) = rows.last().unwrap();
    for (name, (f, first)) in ["current by plan id", "audited read", "name search"]
        .iter()
        .zip(last.iter().zip(&first))
    {
        let ratio = f.mean.as_secs_f64() / first;
        println!(
            "{name}: largest ÷ smallest {ratio:.2}×   [bar ≤ 1.5×: {}]",
            if ratio <= 1.5 { "PASS" } else { "FAIL" }
        );
    }
    loader.close().await.unwrap();
    store.close().await;
}

/// A new account without a password (the bench acts through handles, not sign-in).
async fn account(store: &Store, username: &str, role: Role) -> careplan_store::accounts::Account {
    store
        .create_account(NewAccount {
            username: username.into(),
            display_name: None,
            role,
            person_id: None,
            organisation: None,
            password: None,
        })
        .await
        .unwrap()
}

/// The plan every copy is made from.
struct Template {
    plan: PlanId,
    version: careplan_model::VersionNumber,
}

/// A plan whose care team has the practitioner `account` (an account id) on it.
async fn build_template(store: &Store, account: &str) -> Template {
    let person = serde_json::from_value(json!({
        "given_name": "Scale", "family_name": "Template", "date_of_birth": "1947-03-04"
    }))
    .unwrap();
    let created = store.create_plan(&actor(), person, None).await.unwrap();
    let commands = vec![
        cmd(
            json!({"type": "add_care_team_member", "id": "member-bench", "name": "Bench Nurse",
                   "role": "District nurse", "account": account}),
        ),
        cmd(json!({"type": "add_strength", "id": "strength-1",
                   "description": "Enjoys gardening and knows every plant by name"})),
        cmd(json!({"type": "add_strength", "id": "strength-2",
                   "description": "Close to her daughter, who visits twice a week"})),
        cmd(json!({"type": "add_need", "id": "need-1",
                   "description": "Help with washing and dressing in the morning", "importance": 7})),
        cmd(json!({"type": "add_need", "id": "need-2",
                   "description": "Reminders to take her inhalers", "importance": 8})),
        cmd(json!({"type": "add_concern", "id": "concern-1",
                   "description": "Feels lonely since her husband died", "raised_by": "person",
                   "domain": "social"})),
        cmd(json!({"type": "add_goal", "id": "goal-1",
                   "description": "Get back to the allotment once a week", "priority": 8,
                   "addresses": ["need-1"]})),
        cmd(json!({"type": "add_goal", "id": "goal-2",
                   "description": "Breathe easily on the stairs", "priority": 9,
                   "addresses": ["need-2"]})),
        cmd(
            json!({"type": "add_action", "id": "action-1", "goal": "goal-1",
                   "description": "Walk to the allotment with her daughter",
                   "performer": {"kind": "carer", "name": "Daughter"}, "confidence": 6}),
        ),
        cmd(
            json!({"type": "add_action", "id": "action-2", "goal": "goal-2",
                   "description": "Inhaler check at each visit",
                   "performer": {"kind": "practitioner", "name": "Bench Nurse"}, "confidence": 8}),
        ),
        cmd(json!({"type": "edit_need", "id": "need-2", "importance": 9})),
        cmd(json!({"type": "add_comment", "target": {"on": "plan"},
                   "text": "Agreed at the first visit; review in three months."})),
    ];
    let done = store
        .apply_all(
            &created.plan.id,
            created.version(),
            &actor(),
            commands,
            None,
        )
        .await
        .unwrap();
    Template {
        plan: created.plan.id,
        version: done.last().unwrap().version(),
    }
}

/// Copies the template to plans `from` … `to` (numbered), in transactions of [`CHUNK`].
async fn grow(conn: &mut AnyConnection, template: &Template, from: u64, to: u64) {
    let mut start = from;
    while start <= to {
        let end = (start + CHUNK - 1).min(to);
        let mut tx = conn.begin().await.unwrap();
        for sql in COPY {
            sqlx::query(sql)
                .bind(template.plan.as_str())
                .bind(i64::try_from(start).unwrap())
                .bind(i64::try_from(end).unwrap())
                .bind(SYLLABLES)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        start = end + 1;
    }
}
