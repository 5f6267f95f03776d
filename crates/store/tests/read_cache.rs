//! CSP-1: reads that take a bearer token's account and the current plan from memory (SQLite)
//! still see every change at once, whoever makes it. A second `Store` on the same file stands
//! for another process: its own connections, its own memory.

mod support;

use careplan_model::{Command, Person, PlanId, Role, VersionNumber};
use careplan_store::accounts::{Account, NewAccount};
use careplan_store::audit::{AuditFilter, AuditOutcome, AuditRecord};
use careplan_store::handle::Handle;
use careplan_store::{Store, StoreError};
use serde_json::json;
use support::{TestDb, actor};

fn cmd(value: serde_json::Value) -> Command {
    serde_json::from_value(value).expect("valid command JSON")
}

fn person() -> Person {
    serde_json::from_value(json!({
        "given_name": "Cached", "family_name": "Reader", "date_of_birth": "1948-05-06"
    }))
    .unwrap()
}

/// A plan whose care team includes the practitioner `nurse`, and a bearer token for `nurse`.
async fn plan_and_token(store: &Store) -> (PlanId, VersionNumber, Account, String) {
    let nurse = store
        .create_account(NewAccount {
            username: "nurse".into(),
            display_name: Some("Nurse Cache".into()),
            role: Role::Practitioner,
            person_id: None,
            organisation: None,
            password: None,
        })
        .await
        .unwrap();
    let system = store.system(actor("Set-up", Role::System));
    let versions = system
        .create_person_with(
            person(),
            vec![cmd(json!({
                "type": "add_care_team_member", "id": "member-nurse", "name": "Nurse Cache",
                "role": "District nurse", "account": "nurse"
            }))],
        )
        .await
        .unwrap();
    let last = versions.last().unwrap().plan.clone();
    let (token, _) = store.create_token("nurse", "tests").await.unwrap();
    (last.id, last.version, nurse, token)
}

/// The nurse's handle as the API makes it for a read: the account possibly from memory.
async fn reader(store: &Store, token: &str) -> Option<Handle> {
    let (account, credential) = store.bearer_credential(token).await.unwrap()?;
    Some(
        store
            .handle(account.requester(), account.actor())
            .with_credential(credential),
    )
}

async fn reads_by(store: &Store, account: &Account) -> Vec<AuditRecord> {
    store
        .audit_records(AuditFilter {
            actor_id: Some(account.id.clone()),
            limit: 1_000,
            ..AuditFilter::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn csp1_a_token_revoked_by_another_process_stops_the_next_read() {
    let db = TestDb::sqlite();
    let here = db.open().await;
    let (plan, version, nurse, token) = plan_and_token(&here).await;
    // Twice: the second read takes the account and the plan from memory.
    for _ in 0..2 {
        let handle = reader(&here, &token).await.expect("a valid token");
        let read = handle.current(&plan).await.unwrap();
        assert_eq!(read.value.version, version);
    }
    let before = reads_by(&here, &nurse).await.len();

    let elsewhere = db.open().await;
    assert!(elsewhere.revoke_token(&token).await.unwrap());

    // This process has not yet noticed: the token still looks valid in memory…
    let handle = reader(&here, &token)
        .await
        .expect("the account is still remembered");
    // …but the read finds out before it answers, and records nothing.
    let refused = handle.current(&plan).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::Unauthenticated),
        "{refused:?}"
    );
    assert_eq!(reads_by(&here, &nurse).await.len(), before);
    assert!(reader(&here, &token).await.is_none());
    assert!(here.verify_audit().await.unwrap().is_intact());
    elsewhere.close().await;
    here.close().await;
}

#[tokio::test]
async fn csp1_a_plan_changed_by_another_process_is_read_as_changed() {
    let db = TestDb::sqlite();
    let here = db.open().await;
    let (plan, version, nurse, token) = plan_and_token(&here).await;
    for _ in 0..2 {
        let read = reader(&here, &token).await.unwrap().current(&plan).await;
        assert_eq!(read.unwrap().value.version, version);
    }

    let elsewhere = db.open().await;
    let system = elsewhere.system(actor("Elsewhere", Role::System));
    let next = system
        .apply(
            &plan,
            version,
            vec![cmd(
                json!({"type": "add_strength", "description": "Sings in a choir"}),
            )],
            None,
        )
        .await
        .unwrap();
    let newer = next.last().unwrap().plan.version;
    let read = reader(&here, &token).await.unwrap().current(&plan).await;
    assert_eq!(read.unwrap().value.version, newer);

    // Taken off the care team elsewhere: the next read is refused, and the refusal audited.
    system
        .apply(
            &plan,
            newer,
            vec![cmd(json!({"type": "archive", "id": "member-nurse"}))],
            None,
        )
        .await
        .unwrap();
    let refused = reader(&here, &token)
        .await
        .unwrap()
        .current(&plan)
        .await
        .unwrap_err();
    assert!(matches!(refused, StoreError::Forbidden(_)), "{refused:?}");
    let last = reads_by(&here, &nurse).await.pop().unwrap();
    assert_eq!(last.outcome, AuditOutcome::Denied.as_str());
    assert!(here.verify_audit().await.unwrap().is_intact());
    elsewhere.close().await;
    here.close().await;
}

#[tokio::test]
async fn csp1_a_token_revoked_in_this_process_stops_reads_at_once() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    let (plan, _, _, token) = plan_and_token(&store).await;
    for _ in 0..2 {
        let read = reader(&store, &token).await.unwrap().current(&plan).await;
        assert!(read.is_ok());
    }
    let handle = reader(&store, &token).await.unwrap();
    assert!(store.revoke_token(&token).await.unwrap());
    let refused = handle.current(&plan).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::Unauthenticated),
        "{refused:?}"
    );
    assert!(reader(&store, &token).await.is_none());
    store.close().await;
}

#[tokio::test]
async fn csp1_a_provisional_sign_in_is_checked_before_it_learns_a_plan_is_missing() {
    let db = TestDb::sqlite();
    let here = db.open().await;
    let (_, _, _, token) = plan_and_token(&here).await;
    reader(&here, &token).await.unwrap();
    let elsewhere = db.open().await;
    elsewhere.revoke_token(&token).await.unwrap();
    let handle = reader(&here, &token).await.unwrap();
    let refused = handle.find_plan("no-such-person").await.unwrap_err();
    assert!(
        matches!(refused, StoreError::Unauthenticated),
        "{refused:?}"
    );
    elsewhere.close().await;
    here.close().await;
}
