//! The store story, run on SQLite and on PostgreSQL: versions, reads of any version, history,
//! diffs, conflicts, refusals that change nothing, and a random walk checked version by version.

mod support;

use careplan_model::{Command, IssueCode, ItemId, Person, Plan, PlanId, Role, VersionNumber};
use careplan_store::{Store, StoreError};
use serde_json::json;
use support::{TestDb, actor, databases};

fn cmd(value: serde_json::Value) -> Command {
    serde_json::from_value(value).expect("valid command JSON")
}

fn person(nhs: &str) -> Person {
    serde_json::from_value(json!({
        "given_name": "Ada", "family_name": "Testperson", "date_of_birth": "1950-01-02", "nhs_number": nhs
    }))
    .unwrap()
}

fn v(n: u64) -> VersionNumber {
    VersionNumber::new(n).unwrap()
}

async fn story(store: &Store) {
    let nurse = actor("Nurse Test", Role::Practitioner);
    let created = store
        .create_plan(&nurse, person("9434765919"), None)
        .await
        .unwrap();
    let id = created.plan.id.clone();
    assert_eq!(created.version(), v(1));

    // Each accepted command commits exactly one version.
    let steps = [
        json!({"type": "add_need", "id": "need-1", "description": "To dress myself", "importance": 5}),
        json!({"type": "add_goal", "id": "goal-1", "description": "Dress each morning", "priority": 7, "addresses": ["need-1"]}),
        json!({"type": "add_action", "id": "action-1", "goal": "goal-1", "description": "OT assessment",
               "performer": {"kind": "practitioner"}, "confidence": 6}),
        json!({"type": "edit_need", "id": "need-1", "importance": 8}),
        json!({"type": "complete_action", "id": "action-1"}),
        json!({"type": "archive", "id": "action-1", "reason": "done"}),
    ];
    let mut snapshots: Vec<Plan> = vec![created.plan.clone()];
    for (i, step) in steps.into_iter().enumerate() {
        let c = store
            .apply(&id, v(i as u64 + 1), &nurse, cmd(step), None)
            .await
            .unwrap();
        assert_eq!(c.version(), v(i as u64 + 2));
        snapshots.push(c.plan);
    }

    // CSP-15: every version reads back exactly as it was committed, and the current one too.
    for (i, expected) in snapshots.iter().enumerate() {
        let got = store.version(&id, i as u64 + 1).await.unwrap();
        assert_eq!(&got, expected, "version {}", i + 1);
    }
    let current = store.current(&id).await.unwrap();
    assert_eq!(&current, snapshots.last().unwrap());
    // CSP-14: last updated is the time of the latest version.
    let (head, at) = store.head(&id).await.unwrap();
    assert_eq!((head, at), (v(7), current.last_updated));

    // CSP-11: the need's importance change flagged the goal for review in version 5 only.
    assert!(
        store.version(&id, 4).await.unwrap().goals[&ItemId::parse("goal-1").unwrap()]
            .review
            .is_none()
    );
    assert!(
        current.goals[&ItemId::parse("goal-1").unwrap()]
            .review
            .is_some()
    );
    // Archived in version 7, but still there, unarchived, in version 6.
    let action = ItemId::parse("action-1").unwrap();
    assert!(current.actions[&action].meta.archived.is_some());
    assert!(
        store.version(&id, 6).await.unwrap().actions[&action]
            .meta
            .archived
            .is_none()
    );

    // History lists who, when and what, and pages.
    let history = store.history(&id, 0, 100).await.unwrap();
    assert_eq!(history.len(), 7);
    assert_eq!(history[0].command.name(), "create_plan");
    assert_eq!(history[6].command.name(), "archive");
    assert_eq!(history[3].by.name.as_str(), "Nurse Test");
    let page = store.history(&id, 5, 1).await.unwrap();
    assert_eq!(
        page.iter().map(|h| h.number.get()).collect::<Vec<_>>(),
        vec![6]
    );

    // Diff item by item.
    let diff = store.diff(&id, 1, 7).await.unwrap();
    let ids: Vec<&str> = diff.changes.iter().map(|c| c.key.id.as_str()).collect();
    assert!(
        ids.contains(&"need-1") && ids.contains(&"goal-1") && ids.contains(&"action-1"),
        "{ids:?}"
    );

    // A stale write is a conflict, never merged.
    let stale = store
        .apply(
            &id,
            v(5),
            &nurse,
            cmd(json!({"type": "add_strength", "description": "Kind"})),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(stale, StoreError::Conflict { expected, current } if expected == v(5) && current == v(7)),
        "{stale}"
    );

    // A refused command changes nothing.
    let refused = store
        .apply(
            &id,
            v(7),
            &nurse,
            cmd(json!({"type": "add_goal", "description": "No need", "addresses": []})),
            None,
        )
        .await
        .unwrap_err();
    match refused {
        StoreError::Rejected(issues) => assert_eq!(issues[0].code, IssueCode::GoalWithoutNeed),
        other => panic!("expected a refusal, got {other}"),
    }
    assert_eq!(store.head(&id).await.unwrap().0, v(7));

    // Several commands are all-or-nothing.
    let batch = vec![
        cmd(json!({"type": "add_strength", "id": "strength-1", "description": "Enjoys music"})),
        cmd(
            json!({"type": "add_action", "goal": "goal-missing", "description": "x", "performer": {"kind": "person"}}),
        ),
    ];
    let err = store
        .apply_all(&id, v(7), &nurse, batch, None)
        .await
        .unwrap_err();
    match err {
        StoreError::Rejected(issues) => {
            assert!(issues[0].path.starts_with("/1/"), "{issues:?}");
            assert!(
                issues[0].message.starts_with("Command 2 (add_action)"),
                "{issues:?}"
            );
        }
        other => panic!("expected a refusal, got {other}"),
    }
    assert_eq!(store.head(&id).await.unwrap().0, v(7));
    assert!(
        !store
            .current(&id)
            .await
            .unwrap()
            .strengths
            .contains_key(&ItemId::parse("strength-1").unwrap())
    );

    // Look-ups by NHS number (with spaces), plan id and person id.
    assert_eq!(store.find_plan("943 476 5919").await.unwrap(), id);
    assert_eq!(store.find_plan(id.as_str()).await.unwrap(), id);
    assert_eq!(
        store
            .find_plan(current.details.person_id.as_str())
            .await
            .unwrap(),
        id
    );
    assert!(matches!(
        store.find_plan("nobody").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.version(&id, 99).await,
        Err(StoreError::NoSuchVersion { asked: 99, .. })
    ));
    assert!(matches!(
        store.version(&id, 0).await,
        Err(StoreError::NoSuchVersion { asked: 0, .. })
    ));

    // One plan per NHS number.
    let dup = store
        .create_plan(&nurse, person("943 476 5919"), None)
        .await
        .unwrap_err();
    assert!(matches!(dup, StoreError::DuplicatePerson(_)), "{dup}");

    // People are listed and searched by name or NHS number.
    let other = serde_json::from_value(
        json!({"given_name": "Bob", "family_name": "Other", "date_of_birth": "1960-05-06"}),
    )
    .unwrap();
    store.create_plan(&nurse, other, None).await.unwrap();
    let all = store.people(None, 10, 0).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|p| p.family_name.as_str())
            .collect::<Vec<_>>(),
        vec!["Other", "Testperson"]
    );
    assert_eq!(store.people(Some("testp"), 10, 0).await.unwrap().len(), 1);
    assert_eq!(
        store.people(Some("9434765919"), 10, 0).await.unwrap()[0].family_name,
        "Testperson"
    );
    assert_eq!(
        store.people(None, 1, 1).await.unwrap()[0].family_name,
        "Testperson"
    );
}

/// A seeded random walk of commands, many refused: afterwards every version reads back exactly
/// as the model produced it, so storage loses and invents nothing.
async fn random_walk(store: &Store, seed: u64, steps: usize) {
    let nurse = actor("Walker", Role::Practitioner);
    let created = store
        .create_plan(&nurse, person_without_nhs(seed), None)
        .await
        .unwrap();
    let id: PlanId = created.plan.id.clone();
    let mut snapshots = vec![created.plan];
    let mut rng = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n.max(1) as u64) as usize
    };
    let mut refused = 0;
    for step in 0..steps {
        let plan = snapshots.last().unwrap().clone();
        let pick = |ids: Vec<&ItemId>, i: usize| {
            ids.get(i)
                .map(|s| s.to_string())
                .unwrap_or_else(|| "missing".into())
        };
        let needs: Vec<&ItemId> = plan.needs.keys().collect();
        let goals: Vec<&ItemId> = plan.goals.keys().collect();
        let actions: Vec<&ItemId> = plan.actions.keys().collect();
        let keys = plan.item_keys();
        let command = match next(9) {
            0 | 1 => {
                json!({"type": "add_need", "description": format!("need {step}"), "importance": next(12)})
            }
            2 => {
                json!({"type": "add_goal", "description": format!("goal {step}"), "priority": 1 + next(10),
                        "addresses": [pick(needs.clone(), next(needs.len() + 1))]})
            }
            3 => json!({"type": "add_action", "goal": pick(goals.clone(), next(goals.len() + 1)),
                        "description": format!("action {step}"), "performer": {"kind": "person"}}),
            4 => {
                json!({"type": "edit_need", "id": pick(needs.clone(), next(needs.len())), "importance": 1 + next(10)})
            }
            5 => {
                json!({"type": "complete_action", "id": pick(actions.clone(), next(actions.len()))})
            }
            6 => json!({"type": "archive", "id": keys[next(keys.len())].id.to_string()}),
            7 => json!({"type": "restore", "id": keys[next(keys.len())].id.to_string()}),
            _ => json!({"type": "archive_goal", "id": pick(goals.clone(), next(goals.len())),
                        "move_actions": []}),
        };
        let command: Command = match serde_json::from_value(command) {
            Ok(c) => c,
            Err(_) => continue, // an out-of-range value the reader refuses: nothing to apply
        };
        match store.apply(&id, plan.version, &nurse, command, None).await {
            Ok(c) => snapshots.push(c.plan),
            Err(StoreError::Rejected(_)) => refused += 1,
            Err(e) => panic!("step {step}: {e}"),
        }
    }
    assert!(
        snapshots.len() > steps / 4,
        "too few accepted: {}",
        snapshots.len()
    );
    assert!(refused > 0, "the walk should also try refused commands");
    for (i, expected) in snapshots.iter().enumerate() {
        assert_eq!(
            &store.version(&id, i as u64 + 1).await.unwrap(),
            expected,
            "seed {seed}, version {}",
            i + 1
        );
    }
}

fn person_without_nhs(seed: u64) -> Person {
    serde_json::from_value(json!({"given_name": format!("Walker{seed}"), "family_name": "Random", "date_of_birth": "1970-01-01"})).unwrap()
}

#[tokio::test]
async fn csp15_store_story_on_sqlite() {
    let db = TestDb::sqlite();
    story(&db.open().await).await;
}

#[tokio::test]
async fn csp15_store_story_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let store = db.open().await;
    story(&store).await;
    store.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn csp15_random_walk_reads_back_every_version_on_sqlite() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    for seed in 1..=4 {
        random_walk(&store, seed, 150).await;
    }
}

#[tokio::test]
async fn csp15_random_walk_reads_back_every_version_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let store = db.open().await;
    for seed in 1..=2 {
        random_walk(&store, seed, 120).await;
    }
    store.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn concurrent_writers_on_one_version_get_one_success_and_conflicts() {
    for db in databases().await {
        let store = db.open().await;
        let nurse = actor("Racer", Role::Practitioner);
        let plan = store
            .create_plan(&nurse, person_without_nhs(99), None)
            .await
            .unwrap()
            .plan;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (store, id, nurse) = (store.clone(), plan.id.clone(), nurse.clone());
            tasks.push(tokio::spawn(async move {
                let c =
                    cmd(json!({"type": "add_strength", "description": format!("strength {i}")}));
                store.apply(&id, v(1), &nurse, c, None).await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(ok, 1, "exactly one writer based on version 1 may win");
        let current = store.current(&plan.id).await.unwrap();
        assert_eq!(current.strengths.len(), 1);

        // Writers editing the same existing item, each in one version (which moves the item's
        // state to the history and rewrites its current row: on PostgreSQL one statement after
        // the version row): still one winner, the rest conflicts, never a deadlock or another
        // database error, and the version they all started from still reads as it was.
        let item = current.strengths.keys().next().unwrap().clone();
        store
            .apply(
                &plan.id,
                v(2),
                &nurse,
                cmd(json!({"type": "add_strength", "description": "another"})),
                None,
            )
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (store, id, nurse, item) =
                (store.clone(), plan.id.clone(), nurse.clone(), item.clone());
            tasks.push(tokio::spawn(async move {
                let edit = cmd(json!({"type": "edit_strength", "id": item.as_str(),
                                      "description": format!("edited by writer {i}")}));
                store.apply(&id, v(3), &nurse, edit, None).await.map(|_| i)
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(i) => winners.push(i),
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "exactly one writer based on version 3 may win"
        );
        let after = store.current(&plan.id).await.unwrap();
        assert_eq!(after.version, v(4));
        assert_eq!(
            after.strengths[&item].description.as_str(),
            format!("edited by writer {}", winners[0])
        );
        let before = store.version(&plan.id, 3).await.unwrap();
        assert_eq!(
            before.strengths[&item].description,
            current.strengths[&item].description
        );
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_bad_database_url_is_one_clear_sentence() {
    let err = Store::open("mysql://localhost/x")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("must start with sqlite: or postgres:"),
        "{err}"
    );
}

#[tokio::test]
async fn a_sqlite_database_only_in_memory_is_refused_in_one_sentence() {
    for url in ["sqlite::memory:", "sqlite://data.db?mode=memory"] {
        let err = Store::open(url).await.unwrap_err();
        assert!(matches!(err, StoreError::Config(_)), "{url}: {err:?}");
        assert!(err.to_string().contains("in a file"), "{url}: {err}");
    }
}

#[tokio::test]
async fn two_processes_writing_one_plan_never_apply_to_a_stale_head() {
    for db in databases().await {
        // Two handles with their own head caches stand for two processes.
        let (a, b) = (db.open().await, db.open().await);
        let nurse = actor("Two", Role::Practitioner);
        let plan = a
            .create_plan(&nurse, person_without_nhs(7), None)
            .await
            .unwrap()
            .plan;
        let strength =
            |n: u32| cmd(json!({"type": "add_strength", "description": format!("strength {n}")}));
        a.apply(&plan.id, v(1), &nurse, strength(1), None)
            .await
            .unwrap();
        b.apply(&plan.id, v(2), &nurse, strength(2), None)
            .await
            .unwrap();
        // `a` still caches version 2; a write based on it must be refused…
        let err = a
            .apply(&plan.id, v(2), &nurse, strength(3), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict { current, .. } if current == v(3)),
            "{err}"
        );
        // …and a write based on the real head reads the plan afresh and keeps b's change.
        let c = a
            .apply(&plan.id, v(3), &nurse, strength(4), None)
            .await
            .unwrap();
        assert_eq!(c.plan.strengths.len(), 3);
        assert_eq!(b.current(&plan.id).await.unwrap(), c.plan);
        a.close().await;
        b.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn csp15_a_plan_started_with_commands_commits_all_of_them_or_nothing() {
    for db in databases().await {
        let store = db.open().await;
        let nurse = actor("Starter", Role::Practitioner);
        let need =
            cmd(json!({"type": "add_need", "id": "need-1", "description": "To get out more"}));
        let goal = |addresses: serde_json::Value| {
            cmd(
                json!({"type": "add_goal", "id": "goal-1", "description": "Library weekly", "addresses": addresses}),
            )
        };
        // The second command breaks a rule: nothing is written, not even the person.
        let err = store
            .create_plan_with(
                &nurse,
                person("9434765919"),
                vec![need.clone(), goal(json!(["need-9"]))],
                None,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Rejected(_)), "{err}");
        assert!(matches!(
            store.find_plan("9434765919").await,
            Err(StoreError::NotFound(_))
        ));

        // All good: version 1 and one version per command, in one go.
        let all = store
            .create_plan_with(
                &nurse,
                person("9434765919"),
                vec![need, goal(json!(["need-1"]))],
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            all.iter().map(|c| c.version().get()).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        let id = store.find_plan("9434765919").await.unwrap();
        assert_eq!(store.head(&id).await.unwrap().0, v(3));
        assert_eq!(store.current(&id).await.unwrap(), all[2].plan);
        assert_eq!(store.version(&id, 2).await.unwrap(), all[1].plan);
        store.close().await;
        db.cleanup().await;
    }
}

/// A search of one or two letters pages exactly as a listing filtered by hand would, whether
/// the first plans in name order hold the whole page (SQLite answers from them) or not (it falls
/// back to the trigram index).
#[tokio::test]
async fn people_found_by_one_or_two_letters_page_in_name_order() {
    for db in databases().await {
        let store = db.open().await;
        let nurse = actor("Searcher", Role::Practitioner);
        let families = [
            "Abbot", "Baker", "Carter", "Dabney", "Eaton", "Fabian", "Gable", "Hart",
        ];
        for i in 0..32 {
            let person = json!({"given_name": format!("Person{i}"),
                                "family_name": families[i % families.len()],
                                "date_of_birth": "1950-01-01"});
            store
                .create_plan(&nurse, serde_json::from_value(person).unwrap(), None)
                .await
                .unwrap();
        }
        let everyone = store.people(None, 100, 0).await.unwrap();
        assert_eq!(everyone.len(), 32);
        for search in ["ab", "a", "ar", "Ha", "zq", "n3"] {
            let needle = search.to_lowercase();
            let expected: Vec<String> = everyone
                .iter()
                .filter(|p| {
                    format!("{} {}", p.given_name, p.family_name)
                        .to_lowercase()
                        .contains(&needle)
                })
                .map(|p| p.plan_id.to_string())
                .collect();
            for (limit, offset) in [(3, 0), (3, 3), (5, 10), (100, 0), (4, 30)] {
                let page: Vec<String> = store
                    .people(Some(search), limit, offset)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|p| p.plan_id.to_string())
                    .collect();
                let want: Vec<String> = expected
                    .iter()
                    .skip(offset as usize)
                    .take(limit as usize)
                    .cloned()
                    .collect();
                assert_eq!(
                    page, want,
                    "“{search}”, {limit} from {offset}, on {}",
                    db.url
                );
            }
        }
        store.close().await;
        db.cleanup().await;
    }
}

/// People are found by any part of a name (three letters or fewer too), through the
/// trigram index on both databases, and a rename is found by the new name only.
#[tokio::test]
async fn people_are_found_by_any_part_of_their_name_and_by_a_new_one() {
    for db in databases().await {
        let store = db.open().await;
        let nurse = actor("Searcher", Role::Practitioner);
        let margaret = json!({"given_name": "Margaret", "family_name": "Okonkwo",
                              "date_of_birth": "1941-02-03", "nhs_number": "943 476 5919"});
        let created = store
            .create_plan(
                &nurse,
                serde_json::from_value(margaret.clone()).unwrap(),
                None,
            )
            .await
            .unwrap();
        let other =
            json!({"given_name": "Bob", "family_name": "Other", "date_of_birth": "1960-05-06"});
        store
            .create_plan(&nurse, serde_json::from_value(other).unwrap(), None)
            .await
            .unwrap();
        let names = |found: Vec<careplan_store::PersonSummary>| {
            found.into_iter().map(|p| p.family_name).collect::<Vec<_>>()
        };
        for (search, expected) in [
            ("KONK", vec!["Okonkwo"]),
            ("garet okon", vec!["Okonkwo"]),
            ("ok", vec!["Okonkwo"]),
            ("b", vec!["Other"]),
            ("9434765919", vec!["Okonkwo"]),
            ("zzz", vec![]),
        ] {
            let found = store.people(Some(search), 10, 0).await.unwrap();
            assert_eq!(names(found), expected, "{search} on {}", db.url);
        }

        let mut renamed = margaret;
        renamed["family_name"] = json!("Adeyemi");
        store
            .apply(
                &created.plan.id,
                created.version(),
                &nurse,
                cmd(json!({"type": "update_person", "person": renamed})),
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            names(store.people(Some("konk"), 10, 0).await.unwrap()),
            Vec::<String>::new()
        );
        assert_eq!(
            names(store.people(Some("adey"), 10, 0).await.unwrap()),
            ["Adeyemi"]
        );
        store.close().await;
        db.cleanup().await;
    }
}
