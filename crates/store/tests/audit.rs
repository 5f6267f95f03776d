//! CSP-1 and "no one where they don't belong": the audit trail, on SQLite and PostgreSQL. Every
//! committed version appends one chained entry in the same transaction; other accesses are
//! appended with `audit`; `verify_audit` recomputes the chain and names the first entry that was
//! altered, deleted or added behind its back; concurrent appends keep one valid chain.

mod support;

use careplan_model::{Actor, Command, Person, PlanId, Role, Timestamp, VersionNumber};
use careplan_store::audit::{
    AuditEntry, AuditFilter, AuditOutcome, AuditRecord, GENESIS_HASH, action,
};
use careplan_store::{Store, StoreError};
use serde_json::json;
use sqlx::Connection;
use support::{TestDb, actor, databases};

fn cmd(value: serde_json::Value) -> Command {
    serde_json::from_value(value).expect("valid command JSON")
}

fn person(n: u64) -> Person {
    serde_json::from_value(json!({
        "given_name": format!("Audited{n}"), "family_name": "Testperson", "date_of_birth": "1950-01-02"
    }))
    .unwrap()
}

fn v(n: u64) -> VersionNumber {
    VersionNumber::new(n).unwrap()
}

fn strength(n: u64) -> Command {
    cmd(json!({"type": "add_strength", "description": format!("strength {n}")}))
}

/// Every database the tests run on: SQLite always, PostgreSQL when there is a server (and always
/// in CI).
async fn all_records(store: &Store) -> Vec<AuditRecord> {
    store
        .audit_records(AuditFilter {
            limit: 10_000,
            ..AuditFilter::default()
        })
        .await
        .unwrap()
}

/// Runs one statement against the database behind the store's back, as a tamperer would.
async fn raw_sql(db: &TestDb, sql: &str) {
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// Puts a deleted row back exactly as it was.
async fn reinsert(db: &TestDb, r: &AuditRecord) {
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor_id, actor_name, actor_role, action, outcome, plan_id, \
         person_id, version, detail, override_release, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(i64::try_from(r.seq).unwrap())
    .bind(r.at.clone())
    .bind(r.actor_id.clone())
    .bind(r.actor_name.clone())
    .bind(r.actor_role.clone())
    .bind(r.action.clone())
    .bind(r.outcome.clone())
    .bind(r.plan_id.clone())
    .bind(r.person_id.clone())
    .bind(r.version)
    .bind(r.detail.clone())
    .bind(r.override_release.clone())
    .bind(r.prev_hash.clone())
    .bind(r.hash.clone())
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}

/// A plan with `edits` versions after the first: `edits + 1` audit entries.
async fn plan_with_versions(store: &Store, nurse: &Actor, n: u64, edits: u64) -> PlanId {
    let plan = store
        .create_plan(nurse, person(n), None)
        .await
        .unwrap()
        .plan;
    for i in 1..=edits {
        store
            .apply(&plan.id, v(i), nurse, strength(i), None)
            .await
            .unwrap();
    }
    plan.id
}

/// Checks the chain the way another tool would: from the rows alone.
fn assert_chained(records: &[AuditRecord]) {
    let mut prev = GENESIS_HASH.to_owned();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1, "seq has no gaps");
        assert_eq!(r.prev_hash, prev, "entry {} follows on", r.seq);
        assert_eq!(r.hash, r.compute_hash(), "entry {} hash", r.seq);
        assert_eq!(r.hash.len(), 64);
        assert!(
            r.hash
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        prev = r.hash.clone();
    }
}

#[tokio::test]
async fn csp1_every_committed_version_appends_one_chained_audit_entry() {
    for db in databases().await {
        let store = db.open().await;
        let nurse = actor("Nurse Audit", Role::Practitioner);
        assert!(all_records(&store).await.is_empty());

        let created = store.create_plan(&nurse, person(1), None).await.unwrap();
        let id = created.plan.id.clone();
        let person_id = created.plan.details.person_id.clone();
        store
            .apply(&id, v(1), &nurse, strength(1), None)
            .await
            .unwrap();
        // A batch: two versions, two entries, in the batch's order.
        let batch = vec![
            cmd(
                json!({"type": "add_need", "id": "need-1", "description": "To dress myself", "importance": 5}),
            ),
            cmd(
                json!({"type": "add_goal", "id": "goal-1", "description": "Dress each morning", "priority": 7, "addresses": ["need-1"]}),
            ),
        ];
        store
            .apply_all(&id, v(2), &nurse, batch, None)
            .await
            .unwrap();

        let records = all_records(&store).await;
        assert_chained(&records);
        let seen: Vec<(&str, Option<i64>, &str)> = records
            .iter()
            .map(|r| (r.action.as_str(), r.version, r.detail.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                (action::CREATE_PLAN, Some(1), "create_plan"),
                (action::WRITE, Some(2), "add_strength"),
                (action::WRITE, Some(3), "add_need"),
                (action::WRITE, Some(4), "add_goal"),
            ]
        );
        let history = store.history(&id, 0, 100).await.unwrap();
        for (r, version) in records.iter().zip(&history) {
            assert_eq!(r.actor_id, "test:Nurse Audit");
            assert_eq!(r.actor_name, "Nurse Audit");
            assert_eq!(r.actor_role, "practitioner");
            assert_eq!(r.outcome, "allowed");
            assert_eq!(r.plan_id.as_deref(), Some(id.as_str()));
            assert_eq!(r.person_id.as_deref(), Some(person_id.as_str()));
            assert_eq!(r.override_release, None);
            // Committed with its version: the time is the version's (or its batch's last).
            assert!(Timestamp::parse(&r.at).unwrap() >= version.at, "{r:?}");
        }
        let verified = store.verify_audit().await.unwrap();
        assert_eq!(verified.checked, 4);
        assert!(verified.is_intact(), "{verified:?}");
        assert_eq!(verified.last_hash, records[3].hash);
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn csp1_a_refused_or_conflicting_write_leaves_no_audit_row() {
    for db in databases().await {
        let store = db.open().await;
        let nurse = actor("Nurse Refused", Role::Practitioner);
        let id = plan_with_versions(&store, &nurse, 1, 1).await;
        let before = all_records(&store).await;
        assert_eq!(before.len(), 2);

        // Refused by the model: a goal that addresses no need.
        let bad =
            cmd(json!({"type": "add_goal", "description": "Walk", "priority": 3, "addresses": []}));
        let err = store.apply(&id, v(2), &nurse, bad, None).await.unwrap_err();
        assert!(matches!(err, StoreError::Rejected(_)), "{err}");
        // A batch whose second command is refused commits nothing, and audits nothing.
        let batch = vec![
            strength(10),
            cmd(json!({"type": "edit_need", "id": "no-such-need", "importance": 2})),
        ];
        let err = store
            .apply_all(&id, v(2), &nurse, batch, None)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Rejected(_)), "{err}");
        // Based on a stale version: a conflict.
        let err = store
            .apply(&id, v(1), &nurse, strength(11), None)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        // A conflict found inside the write transaction (another process moved the head): the
        // transaction is rolled back, so no audit row either.
        let other = db.open().await;
        other
            .apply(&id, v(2), &nurse, strength(12), None)
            .await
            .unwrap();
        let err = store
            .apply(&id, v(2), &nurse, strength(13), None)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");

        let after = all_records(&store).await;
        assert_eq!(
            after.len(),
            3,
            "only the other process's version is audited"
        );
        assert_eq!(after[..2], before[..]);
        assert_eq!(after[2].version, Some(3));
        assert!(store.verify_audit().await.unwrap().is_intact());
        other.close().await;
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn csp1_reads_denials_and_overrides_are_appended_and_can_be_queried() {
    for db in databases().await {
        let store = db.open().await;
        let nurse = actor("Nurse Reader", Role::Practitioner);
        let controller = actor("Dee Controller", Role::DataController);
        let carer = actor("Cary Carer", Role::Carer);
        let id = plan_with_versions(&store, &nurse, 1, 0).await;
        let other = plan_with_versions(&store, &nurse, 2, 0).await;
        let plan = store.current(&id).await.unwrap();

        store.audit(Vec::new()).await.unwrap(); // nothing to record: nothing appended
        store
            .audit(vec![
                AuditEntry {
                    plan_id: Some(id.clone()),
                    person_id: Some(plan.details.person_id.clone()),
                    version: Some(v(1)),
                    detail: r#"{"withheld":["concerns"]}"#.into(),
                    ..AuditEntry::new(&nurse, action::READ_PLAN, AuditOutcome::Allowed)
                },
                AuditEntry {
                    plan_id: Some(id.clone()),
                    detail: "not linked to this person".into(),
                    ..AuditEntry::new(&carer, action::READ_PLAN, AuditOutcome::Denied)
                },
            ])
            .await
            .unwrap();
        store
            .audit(vec![AuditEntry {
                plan_id: Some(id.clone()),
                version: Some(v(1)),
                override_release: Some("release-1".into()),
                detail: "the person is unable to consent".into(),
                ..AuditEntry::new(&controller, action::RELEASE_USED, AuditOutcome::Allowed)
            }])
            .await
            .unwrap();

        let records = all_records(&store).await;
        assert_eq!(records.len(), 5);
        assert_chained(&records);
        let denied = &records[3];
        assert_eq!(
            (
                denied.action.as_str(),
                denied.outcome.as_str(),
                denied.actor_role.as_str()
            ),
            ("read_plan", "denied", "carer")
        );
        assert_eq!((denied.person_id.as_deref(), denied.version), (None, None));
        assert_eq!(records[2].detail, r#"{"withheld":["concerns"]}"#);
        assert_eq!(records[4].override_release.as_deref(), Some("release-1"));
        assert_eq!(records[4].actor_role, "data_controller");

        // By plan: the plan's creation and the three accesses, not the other plan's creation.
        let about = |plan: &PlanId| AuditFilter {
            plan_id: Some(plan.clone()),
            ..AuditFilter::default()
        };
        let seqs = |rs: Vec<AuditRecord>| rs.iter().map(|r| r.seq).collect::<Vec<_>>();
        assert_eq!(
            seqs(store.audit_records(about(&id)).await.unwrap()),
            [1, 3, 4, 5]
        );
        assert_eq!(seqs(store.audit_records(about(&other)).await.unwrap()), [2]);
        // By actor, by plan and actor, paged, newest first.
        let by_nurse = AuditFilter {
            actor_id: Some("test:Nurse Reader".into()),
            ..AuditFilter::default()
        };
        assert_eq!(
            seqs(store.audit_records(by_nurse.clone()).await.unwrap()),
            [1, 2, 3]
        );
        let nurse_on_plan = AuditFilter {
            plan_id: Some(id.clone()),
            ..by_nurse.clone()
        };
        assert_eq!(
            seqs(store.audit_records(nurse_on_plan).await.unwrap()),
            [1, 3]
        );
        let page = AuditFilter {
            after_seq: 1,
            limit: 2,
            ..AuditFilter::default()
        };
        assert_eq!(seqs(store.audit_records(page).await.unwrap()), [2, 3]);
        let latest = AuditFilter {
            limit: 2,
            newest_first: true,
            ..AuditFilter::default()
        };
        assert_eq!(seqs(store.audit_records(latest).await.unwrap()), [5, 4]);

        // JSON for the data controller's tools.
        let value = serde_json::to_value(&records[4]).unwrap();
        assert_eq!(value["override_release"], "release-1");
        assert_eq!(value["seq"], 5);
        assert_eq!(value["hash"], records[4].hash.as_str());

        let verified = store.verify_audit().await.unwrap();
        assert!(verified.is_intact(), "{verified:?}");
        assert_eq!(verified.checked, 5);
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn csp1_an_intact_audit_trail_verifies() {
    for db in databases().await {
        let store = db.open().await;
        let empty = store.verify_audit().await.unwrap();
        assert_eq!((empty.checked, empty.first_broken), (0, None));
        assert_eq!(empty.last_hash, GENESIS_HASH);

        let nurse = actor("Nurse Intact", Role::Practitioner);
        plan_with_versions(&store, &nurse, 1, 3).await;
        let verified = store.verify_audit().await.unwrap();
        assert_eq!((verified.checked, verified.first_broken), (4, None));
        // The chain carries on across a reopened store.
        store.close().await;
        let store = db.open().await;
        plan_with_versions(&store, &nurse, 2, 1).await;
        let verified = store.verify_audit().await.unwrap();
        assert_eq!((verified.checked, verified.first_broken), (6, None));
        assert_chained(&all_records(&store).await);
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn csp1_altered_audit_row_is_reported_by_verify() {
    for db in databases().await {
        let store = db.open().await;
        let nurse = actor("Nurse Altered", Role::Practitioner);
        plan_with_versions(&store, &nurse, 1, 4).await;
        assert!(store.verify_audit().await.unwrap().is_intact());

        raw_sql(&db, "UPDATE audit_log SET detail = 'edited' WHERE seq = 3").await;
        let verified = store.verify_audit().await.unwrap();
        let broken = verified.first_broken.expect("the edit is found");
        assert_eq!(broken.seq, 3);
        assert_eq!(broken.reason, "its contents do not match its hash");
        assert_eq!(verified.checked, 2, "entries 1 and 2 are still intact");
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn csp1_every_kind_of_audit_row_edit_is_reported_by_verify() {
    for db in databases().await {
        let store = db.open().await;
        let nurse = actor("Nurse Edits", Role::Practitioner);
        plan_with_versions(&store, &nurse, 1, 4).await;
        let original = all_records(&store).await;
        // Each edit of entry 3, then the row put back as it was.
        let edits = [
            "UPDATE audit_log SET actor_name = 'Someone Else' WHERE seq = 3",
            "UPDATE audit_log SET actor_role = 'data_controller' WHERE seq = 3",
            "UPDATE audit_log SET at = '2020-01-01T00:00:00Z' WHERE seq = 3",
            "UPDATE audit_log SET outcome = 'denied' WHERE seq = 3",
            "UPDATE audit_log SET version = 9 WHERE seq = 3",
            "UPDATE audit_log SET plan_id = NULL WHERE seq = 3",
            "UPDATE audit_log SET override_release = 'release-x' WHERE seq = 3",
            "UPDATE audit_log SET hash = prev_hash WHERE seq = 3",
        ];
        for edit in edits {
            raw_sql(&db, edit).await;
            let broken = store.verify_audit().await.unwrap().first_broken;
            assert_eq!(broken.map(|b| b.seq), Some(3), "{edit}");
            raw_sql(&db, "DELETE FROM audit_log WHERE seq = 3").await;
            reinsert(&db, &original[2]).await;
            assert!(store.verify_audit().await.unwrap().is_intact(), "{edit}");
        }
        // A tamperer who also recomputes the edited row's hash breaks the link to the next one.
        let mut forged = original[2].clone();
        forged.detail = "forged".into();
        forged.hash = forged.compute_hash();
        raw_sql(&db, "DELETE FROM audit_log WHERE seq = 3").await;
        reinsert(&db, &forged).await;
        let broken = store.verify_audit().await.unwrap().first_broken.unwrap();
        assert_eq!(broken.seq, 4);
        assert!(
            broken.reason.contains("does not follow on from entry 3"),
            "{broken:?}"
        );
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn csp1_deleted_audit_row_is_reported_by_verify() {
    for db in databases().await {
        let store = db.open().await;
        let nurse = actor("Nurse Deleted", Role::Practitioner);
        plan_with_versions(&store, &nurse, 1, 4).await;
        let original = all_records(&store).await;
        assert_eq!(original.len(), 5);

        // A row from the middle.
        raw_sql(&db, "DELETE FROM audit_log WHERE seq = 3").await;
        let verified = store.verify_audit().await.unwrap();
        let broken = verified.first_broken.unwrap();
        assert_eq!((broken.seq, verified.checked), (3, 2));
        assert!(broken.reason.starts_with("it is missing"), "{broken:?}");
        reinsert(&db, &original[2]).await;
        assert!(store.verify_audit().await.unwrap().is_intact());

        // The first row.
        raw_sql(&db, "DELETE FROM audit_log WHERE seq = 1").await;
        let broken = store.verify_audit().await.unwrap().first_broken.unwrap();
        assert_eq!(broken.seq, 1);
        assert!(broken.reason.starts_with("it is missing"), "{broken:?}");
        reinsert(&db, &original[0]).await;

        // The last rows: the head still records entry 5.
        raw_sql(&db, "DELETE FROM audit_log WHERE seq >= 4").await;
        let verified = store.verify_audit().await.unwrap();
        let broken = verified.first_broken.unwrap();
        assert_eq!((broken.seq, verified.checked), (4, 3));
        assert!(broken.reason.starts_with("it is missing"), "{broken:?}");
        // …and moving the head back to hide that is found too: its hash is not entry 3's.
        raw_sql(&db, "UPDATE audit_head SET seq = 3 WHERE id = 1").await;
        let broken = store.verify_audit().await.unwrap().first_broken.unwrap();
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("recorded end"), "{broken:?}");

        // Everything: the head still says 5 entries.
        raw_sql(&db, "UPDATE audit_head SET seq = 5 WHERE id = 1").await;
        raw_sql(&db, "DELETE FROM audit_log").await;
        let verified = store.verify_audit().await.unwrap();
        assert_eq!(verified.checked, 0);
        assert_eq!(verified.first_broken.map(|b| b.seq), Some(1));
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn csp1_an_audit_row_added_behind_the_trails_back_is_reported() {
    for db in databases().await {
        let store = db.open().await;
        let nurse = actor("Nurse Added", Role::Practitioner);
        plan_with_versions(&store, &nurse, 1, 2).await;
        let records = all_records(&store).await;
        // A well-formed, correctly chained fourth row that the head does not account for.
        let mut extra = records[2].clone();
        extra.seq = 4;
        extra.detail = "slipped in".into();
        extra.prev_hash = records[2].hash.clone();
        extra.hash = extra.compute_hash();
        reinsert(&db, &extra).await;
        let broken = store.verify_audit().await.unwrap().first_broken.unwrap();
        assert_eq!(broken.seq, 4);
        assert!(
            broken.reason.contains("beyond the trail's recorded end"),
            "{broken:?}"
        );
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn csp1_concurrent_audit_appends_keep_the_chain_valid() {
    for db in databases().await {
        // Two handles stand for two processes; eight tasks share them.
        let (a, b) = (db.open().await, db.open().await);
        let mut tasks = Vec::new();
        for t in 0..8u64 {
            let store = if t % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                let nurse = actor(&format!("Nurse {t}"), Role::Practitioner);
                // Writes (audited in their own transactions) interleaved with reads.
                let plan = store
                    .create_plan(&nurse, person(100 + t), None)
                    .await
                    .unwrap()
                    .plan;
                for i in 1..=5u64 {
                    store
                        .apply(&plan.id, v(i), &nurse, strength(i), None)
                        .await
                        .unwrap();
                    let read = |n: u64| AuditEntry {
                        plan_id: Some(plan.id.clone()),
                        version: Some(v(n)),
                        detail: format!("task {t} read {n}"),
                        ..AuditEntry::new(&nurse, action::READ_VERSION, AuditOutcome::Allowed)
                    };
                    store.audit(vec![read(i), read(i + 1)]).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        // Per task: 1 creation + 5 writes + 5 × 2 reads.
        let records = all_records(&a).await;
        assert_eq!(records.len(), 8 * 16);
        assert_chained(&records);
        let verified = b.verify_audit().await.unwrap();
        assert_eq!((verified.checked, verified.first_broken), (8 * 16, None));
        a.close().await;
        b.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn csp1_verify_pages_through_a_long_trail() {
    // More rows than one page of `verify_audit`, so paging and the page boundary are exercised.
    for db in databases().await {
        let store = db.open().await;
        let nurse = actor("Nurse Long", Role::Practitioner);
        let entries: Vec<AuditEntry> = (0..2_100)
            .map(|i| AuditEntry {
                detail: format!("read {i}"),
                ..AuditEntry::new(&nurse, action::READ_PLAN, AuditOutcome::Allowed)
            })
            .collect();
        store.audit(entries).await.unwrap();
        let verified = store.verify_audit().await.unwrap();
        assert_eq!((verified.checked, verified.first_broken), (2_100, None));
        raw_sql(
            &db,
            "UPDATE audit_log SET detail = 'edited' WHERE seq = 1500",
        )
        .await;
        let broken = store.verify_audit().await.unwrap().first_broken.unwrap();
        assert_eq!(broken.seq, 1500);
        store.close().await;
        db.cleanup().await;
    }
}
