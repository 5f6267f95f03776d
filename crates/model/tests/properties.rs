//! Property tests of `apply`: random sequences of commands, aimed at items of the plan as it
//! stands (so many are accepted and some are not), keep the plan sound, and `changed` and `diff`
//! say exactly which items moved.

use std::collections::BTreeSet;

use careplan_model::{
    ActionMove, ActionStatus, Actor, AgreedBy, AgreementOutcome, Applied, Audience,
    CapacityOutcome, Change, ChangeKind, Command, ConcernDomain, Confidence, ConsentScope, Date,
    FundingSourceKind, GoalStatus, ItemId, ItemKey, ItemKind, OutcomeStatus, Performer,
    PerformerKind, PersonId, Plan, PlanId, PlanStatus, Priority, ProgressScale, ProgressValue,
    RaisedBy, Role, Section, Stamp, Target, Text, Timestamp, VersionNumber, apply, diff,
    invariants, start,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// One step of a story, in abstract: targets are indexes into what the plan holds when the step
/// runs (see [`pick`]), so the same step is valid on one plan and refused on another.
#[derive(Debug, Clone)]
enum Op {
    AddNeed(Option<u8>),
    AddConcern(u8),
    AddProblem(Option<u8>),
    AddStrength(Option<u8>),
    /// Sets (or clears) the importance of a need, concern, problem or strength.
    EditImportance(usize, Option<u8>),
    EditDescription(usize, u8),
    AddGoal {
        addresses: Vec<usize>,
        any_kind: bool,
        strengths: Vec<usize>,
        priority: Option<u8>,
    },
    EditGoal {
        goal: usize,
        priority: Option<Option<u8>>,
        status: Option<u8>,
        addresses: Option<Vec<usize>>,
        strengths: Option<Vec<usize>>,
    },
    ReviewGoal(usize),
    RankGoals {
        seed: Vec<usize>,
        complete: bool,
    },
    ArchiveGoal {
        goal: usize,
        moves: Vec<(usize, usize)>,
    },
    AddAction {
        goal: usize,
        confidence: Option<u8>,
    },
    EditAction {
        action: usize,
        goal: Option<usize>,
        confidence: Option<Option<u8>>,
        status: Option<u8>,
    },
    CompleteAction(usize),
    Suggest {
        action: usize,
        goal: Option<usize>,
        confidence: u8,
    },
    Answer {
        suggestion: usize,
        accept: bool,
    },
    Archive(usize),
    Restore(usize),
    RecordOutcome(usize),
    RecordProgress(usize, i64),
    RecordAgreement(bool),
    AssessCapacity(bool),
    BestInterest(usize),
    SetConsent {
        section: Option<usize>,
        audience: usize,
        visible: bool,
    },
    SetFunding(usize, u8),
    SetCapacitySupport(Option<u8>),
    AddComment(usize),
    SetReviewDate(Option<u8>),
    SetPlanStatus(u8),
}

fn importance() -> impl Strategy<Value = Option<u8>> {
    prop::option::of(1u8..=10)
}

fn op() -> impl Strategy<Value = Op> {
    let ix = || 0usize..64;
    prop_oneof![
        3 => importance().prop_map(Op::AddNeed),
        1 => (0u8..3).prop_map(Op::AddConcern),
        1 => importance().prop_map(Op::AddProblem),
        1 => importance().prop_map(Op::AddStrength),
        2 => (ix(), importance()).prop_map(|(i, v)| Op::EditImportance(i, v)),
        1 => (ix(), 0u8..3).prop_map(|(i, v)| Op::EditDescription(i, v)),
        5 => (prop_oneof![1 => Just(Vec::new()), 9 => prop::collection::vec(ix(), 1..3)],
              prop::bool::weighted(0.1),
              prop::collection::vec(ix(), 0..2), importance())
            .prop_map(|(addresses, any_kind, strengths, priority)| Op::AddGoal {
                addresses, any_kind, strengths, priority,
            }),
        2 => (ix(), prop::option::of(importance()), prop::option::of(0u8..6),
              prop::option::weighted(0.3, prop::collection::vec(ix(), 0..3)),
              prop::option::weighted(0.3, prop::collection::vec(ix(), 0..2)))
            .prop_map(|(goal, priority, status, addresses, strengths)| Op::EditGoal {
                goal, priority, status, addresses, strengths,
            }),
        1 => ix().prop_map(Op::ReviewGoal),
        1 => (prop::collection::vec(ix(), 0..8), prop::bool::weighted(0.8))
            .prop_map(|(seed, complete)| Op::RankGoals { seed, complete }),
        2 => (ix(), prop::collection::vec((ix(), ix()), 0..3))
            .prop_map(|(goal, moves)| Op::ArchiveGoal { goal, moves }),
        4 => (ix(), prop::option::of(1u8..=10))
            .prop_map(|(goal, confidence)| Op::AddAction { goal, confidence }),
        2 => (ix(), prop::option::weighted(0.2, ix()),
              prop::option::of(prop::option::of(1u8..=10)), prop::option::of(0u8..5))
            .prop_map(|(action, goal, confidence, status)| Op::EditAction {
                action, goal, confidence, status,
            }),
        1 => ix().prop_map(Op::CompleteAction),
        2 => (ix(), prop::option::weighted(0.3, ix()), 1u8..=10)
            .prop_map(|(action, goal, confidence)| Op::Suggest { action, goal, confidence }),
        2 => (ix(), prop::bool::weighted(0.7))
            .prop_map(|(suggestion, accept)| Op::Answer { suggestion, accept }),
        3 => ix().prop_map(Op::Archive),
        2 => ix().prop_map(Op::Restore),
        1 => ix().prop_map(Op::RecordOutcome),
        1 => (ix(), 0i64..=10).prop_map(|(g, v)| Op::RecordProgress(g, v)),
        1 => any::<bool>().prop_map(Op::RecordAgreement),
        1 => any::<bool>().prop_map(Op::AssessCapacity),
        1 => ix().prop_map(Op::BestInterest),
        2 => (prop::option::of(0usize..11), 0usize..9, any::<bool>())
            .prop_map(|(section, audience, visible)| Op::SetConsent { section, audience, visible }),
        1 => (0usize..8, 0u8..3).prop_map(|(s, d)| Op::SetFunding(s, d)),
        1 => prop::option::of(0u8..3).prop_map(Op::SetCapacitySupport),
        1 => ix().prop_map(Op::AddComment),
        1 => prop::option::of(1u8..28).prop_map(Op::SetReviewDate),
        1 => (0u8..5).prop_map(Op::SetPlanStatus),
    ]
}

/// A story: a short fixed opening (so early steps have needs and goals to aim at), then up to 60
/// random steps.
fn story() -> impl Strategy<Value = Vec<Op>> {
    let opening = [
        Op::AddNeed(Some(5)),
        Op::AddConcern(1),
        Op::AddStrength(None),
        Op::AddGoal {
            addresses: vec![0, 1],
            any_kind: false,
            strengths: vec![0],
            priority: Some(7),
        },
        Op::AddAction {
            goal: 0,
            confidence: Some(6),
        },
    ];
    prop::collection::vec(op(), 1..60)
        .prop_map(move |ops| opening.iter().cloned().chain(ops).collect())
}

fn stamp(v: VersionNumber) -> Stamp {
    let start = time::macros::datetime!(2026-03-01 09:00 UTC);
    Stamp {
        version: v,
        at: Timestamp::from_datetime(start + time::Duration::minutes(v.get() as i64)),
        by: Actor {
            id: Text::new("system:proptest").unwrap(),
            name: Text::new("Proptest").unwrap(),
            role: Role::System,
        },
    }
}

fn text(s: &str) -> Text {
    Text::new(s).unwrap()
}

fn priority(v: u8) -> Priority {
    Priority::new(i64::from(v)).unwrap()
}

fn date(day: u8) -> Date {
    Date::from_calendar_date(2026, time::Month::April, day).unwrap()
}

fn new_plan() -> Plan {
    let person = serde_json::from_value(serde_json::json!({
        "given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "1950-12-10"
    }))
    .unwrap();
    let create = Command::CreatePlan { person };
    let plan_id = PlanId::parse("plan-1").unwrap();
    let person_id = PersonId::parse("person-1").unwrap();
    start(plan_id, person_id, &create, &stamp(VersionNumber::FIRST))
        .unwrap()
        .plan
}

/// The ids of the items of the given kinds, archived ones included.
fn ids(plan: &Plan, kinds: &[ItemKind]) -> Vec<ItemId> {
    plan.item_keys()
        .into_iter()
        .filter(|k| kinds.contains(&k.kind))
        .map(|k| k.id)
        .collect()
}

/// Picks `ids[i]`, wrapping; one index in 16 (and any on an empty list) names no item at all,
/// so some steps aim at nothing.
fn pick(ids: &[ItemId], i: usize) -> ItemId {
    if ids.is_empty() || i % 16 == 15 {
        ItemId::parse("no-such-item").unwrap()
    } else {
        ids[i % ids.len()].clone()
    }
}

/// Archived items, for restores that mostly aim at something they can restore.
fn archived(plan: &Plan) -> Vec<ItemId> {
    plan.item_keys()
        .into_iter()
        .filter(|k| plan.get(k).is_some_and(|i| !i.item_meta().is_active()))
        .map(|k| k.id)
        .collect()
}

const ADDRESSABLE: &[ItemKind] = &[ItemKind::Need, ItemKind::Concern, ItemKind::Problem];
const RATED: &[ItemKind] = &[
    ItemKind::Need,
    ItemKind::Concern,
    ItemKind::Problem,
    ItemKind::Strength,
];

/// Turns an abstract step into a command on `plan`.
fn command(op: &Op, plan: &Plan) -> Command {
    let goals = ids(plan, &[ItemKind::Goal]);
    let actions = ids(plan, &[ItemKind::Action]);
    let strengths = ids(plan, &[ItemKind::Strength]);
    let all: Vec<ItemId> = plan.item_keys().into_iter().map(|k| k.id).collect();
    let change = |v: Option<u8>| v.map(priority).map_or(Change::Clear, Change::Set);
    match op {
        Op::AddNeed(imp) => Command::AddNeed {
            id: None,
            description: text("A need"),
            identified_by: Some(RaisedBy::Person),
            importance: imp.map(priority),
        },
        Op::AddConcern(d) => Command::AddConcern {
            id: None,
            description: text("A concern"),
            raised_by: [RaisedBy::Person, RaisedBy::Carer, RaisedBy::Professional][*d as usize],
            domain: [
                ConcernDomain::Biological,
                ConcernDomain::Psychological,
                ConcernDomain::Social,
            ][*d as usize],
            importance: None,
        },
        Op::AddProblem(imp) => Command::AddProblem {
            id: None,
            description: text("A problem"),
            code: None,
            external_reference: None,
            importance: imp.map(priority),
        },
        Op::AddStrength(imp) => Command::AddStrength {
            id: None,
            description: text("A strength"),
            importance: imp.map(priority),
        },
        Op::EditImportance(i, imp) => {
            let target = pick(&ids(plan, RATED), *i);
            let importance = change(*imp);
            match plan.kind_of(&target) {
                Some(ItemKind::Concern) => Command::EditConcern {
                    id: target,
                    description: None,
                    raised_by: None,
                    domain: None,
                    importance,
                },
                Some(ItemKind::Problem) => Command::EditProblem {
                    id: target,
                    description: None,
                    code: Default::default(),
                    external_reference: Default::default(),
                    importance,
                },
                Some(ItemKind::Strength) => Command::EditStrength {
                    id: target,
                    description: None,
                    importance,
                },
                _ => Command::EditNeed {
                    id: target,
                    description: None,
                    identified_by: Default::default(),
                    importance,
                },
            }
        }
        Op::EditDescription(i, d) => Command::EditNeed {
            id: pick(&ids(plan, &[ItemKind::Need]), *i),
            description: Some(text(
                ["A need", "Another need", "A third need"][*d as usize],
            )),
            identified_by: Default::default(),
            importance: Default::default(),
        },
        Op::AddGoal {
            addresses,
            any_kind,
            strengths: s,
            priority: p,
        } => {
            let pool = if *any_kind {
                all.clone()
            } else {
                ids(plan, ADDRESSABLE)
            };
            Command::AddGoal {
                id: None,
                label: Default::default(),
                description: text("A goal"),
                why_it_matters: None,
                priority: p.map(priority),
                status: None,
                target_date: None,
                addresses: addresses.iter().map(|i| pick(&pool, *i)).collect(),
                strengths: s.iter().map(|i| pick(&strengths, *i)).collect(),
            }
        }
        Op::EditGoal {
            goal,
            priority: p,
            status,
            addresses,
            strengths: s,
        } => Command::EditGoal {
            id: pick(&goals, *goal),
            label: None,
            description: None,
            why_it_matters: Default::default(),
            priority: p.map_or(Change::Keep, change),
            status: status.map(|s| {
                [
                    GoalStatus::Proposed,
                    GoalStatus::Active,
                    GoalStatus::OnHold,
                    GoalStatus::Achieved,
                    GoalStatus::NotAchieved,
                    GoalStatus::Cancelled,
                ][s as usize]
            }),
            target_date: Default::default(),
            addresses: addresses.as_ref().map(|a| {
                a.iter()
                    .map(|i| pick(&ids(plan, ADDRESSABLE), *i))
                    .collect()
            }),
            strengths: s
                .as_ref()
                .map(|v| v.iter().map(|i| pick(&strengths, *i)).collect()),
        },
        Op::ReviewGoal(g) => Command::ReviewGoal {
            id: pick(&goals, *g),
            note: None,
        },
        Op::RankGoals { seed, complete } => {
            let mut active: Vec<ItemId> = plan
                .goals
                .iter()
                .filter(|(_, g)| g.meta.is_active())
                .map(|(id, _)| id.clone())
                .collect();
            // A permutation of the active goals from the seed, or any mix of goal ids.
            let order = if *complete {
                let mut order = Vec::new();
                for s in seed {
                    if active.is_empty() {
                        break;
                    }
                    order.push(active.remove(s % active.len()));
                }
                order.append(&mut active);
                order
            } else {
                seed.iter().map(|i| pick(&goals, *i)).collect()
            };
            Command::RankGoals { order }
        }
        Op::ArchiveGoal { goal, moves } => Command::ArchiveGoal {
            id: pick(&goals, *goal),
            move_actions: moves
                .iter()
                .map(|(a, g)| ActionMove {
                    action: pick(&actions, *a),
                    to_goal: pick(&goals, *g),
                })
                .collect(),
            reason: Some(text("Done with")),
        },
        Op::AddAction { goal, confidence } => Command::AddAction {
            id: None,
            goal: pick(&goals, *goal),
            description: text("An action"),
            performer: Performer {
                kind: PerformerKind::Carer,
                name: None,
                organisation: None,
            },
            timing: None,
            status: None,
            confidence: confidence.map(|c| Confidence::new(i64::from(c)).unwrap()),
        },
        Op::EditAction {
            action,
            goal,
            confidence,
            status,
        } => Command::EditAction {
            id: pick(&actions, *action),
            goal: goal.map(|g| pick(&goals, g)),
            description: None,
            performer: None,
            timing: Default::default(),
            status: status.map(|s| {
                [
                    ActionStatus::NotStarted,
                    ActionStatus::InProgress,
                    ActionStatus::OnHold,
                    ActionStatus::Completed,
                    ActionStatus::Cancelled,
                ][s as usize]
            }),
            confidence: confidence.map_or(Change::Keep, |c| {
                c.map_or(Change::Clear, |c| {
                    Change::Set(Confidence::new(i64::from(c)).unwrap())
                })
            }),
        },
        Op::CompleteAction(a) => Command::CompleteAction {
            id: pick(&actions, *a),
        },
        Op::Suggest {
            action,
            goal,
            confidence,
        } => Command::SuggestActionChange {
            id: None,
            action: pick(&actions, *action),
            changes: careplan_model::ActionChanges {
                goal: goal.map(|g| pick(&goals, g)),
                confidence: Change::Set(Confidence::new(i64::from(*confidence)).unwrap()),
                ..Default::default()
            },
            note: None,
        },
        Op::Answer { suggestion, accept } => {
            let id = pick(
                &plan.suggestions.keys().cloned().collect::<Vec<_>>(),
                *suggestion,
            );
            if *accept {
                Command::AcceptSuggestion { id }
            } else {
                Command::DeclineSuggestion { id, reason: None }
            }
        }
        Op::Archive(i) => Command::Archive {
            id: pick(&all, *i),
            reason: None,
        },
        Op::Restore(i) if i % 4 == 0 => Command::Restore { id: pick(&all, *i) },
        Op::Restore(i) => Command::Restore {
            id: pick(&archived(plan), *i),
        },
        Op::RecordOutcome(g) => Command::RecordOutcome {
            id: None,
            goal: pick(&goals, *g),
            description: text("An outcome"),
            status: OutcomeStatus::PartlyAchieved,
            date: date(2),
        },
        Op::RecordProgress(g, v) => Command::RecordProgress {
            id: None,
            goal: pick(&goals, *g),
            date: date(3),
            progress: ProgressValue::new(ProgressScale::ZeroToTen, *v).unwrap(),
            note: None,
        },
        Op::RecordAgreement(agreed) => Command::RecordAgreement {
            id: None,
            outcome: if *agreed {
                AgreementOutcome::Agreed {
                    by: AgreedBy::Person,
                }
            } else {
                AgreementOutcome::NotObtained {
                    reason: text("Too unwell today"),
                }
            },
        },
        Op::AssessCapacity(lacks) => Command::RecordCapacityAssessment {
            id: None,
            decision: text("Where to live"),
            outcome: if *lacks {
                CapacityOutcome::LacksCapacity
            } else {
                CapacityOutcome::HasCapacity
            },
            assessed_by: text("Dr Patel"),
            assessed_on: date(1),
            reasoning: None,
        },
        Op::BestInterest(a) => Command::RecordBestInterestDecision {
            id: None,
            decision: text("Move to extra-care housing"),
            assessment: pick(&ids(plan, &[ItemKind::CapacityAssessment]), *a),
            decision_maker: text("J. Smith"),
            consulted: vec![text("Daughter")],
            rationale: text("Safer"),
            decided_on: date(4),
        },
        Op::SetConsent {
            section,
            audience,
            visible,
        } => Command::SetConsentPreference {
            scope: section.map_or(ConsentScope::WholePlan, |s| {
                ConsentScope::Section(Section::ALL[s])
            }),
            audience: match Role::ALL.get(*audience) {
                Some(role) => Audience::Role(*role),
                None => {
                    Audience::Organisation(text(["Leeds City Council", "Acme Care"][audience % 2]))
                }
            },
            visible: *visible,
        },
        Op::SetFunding(s, d) => Command::SetFundingSource {
            source: [
                FundingSourceKind::PersonalBudget,
                FundingSourceKind::PersonalHealthBudget,
                FundingSourceKind::DirectPayment,
                FundingSourceKind::NhsContinuingHealthcare,
                FundingSourceKind::LocalAuthority,
                FundingSourceKind::SelfFunded,
                FundingSourceKind::Joint,
                FundingSourceKind::Other,
            ][*s],
            details_held_at: [
                None,
                Some(text("Support plan SP-2291")),
                Some(text("£240 a week")),
            ][*d as usize]
                .clone(),
        },
        Op::SetCapacitySupport(v) => Command::SetCapacitySupport {
            steps_to_maximise_capacity: v
                .map(|v| text(["Easy read", "Mornings", "Interpreter"][v as usize])),
            rights_promotion: Some(text("Advocate present")),
        },
        Op::AddComment(i) => Command::AddComment {
            id: None,
            target: match i % 3 {
                0 => Target::Plan,
                1 => Target::Section {
                    section: Section::ALL[i % 11],
                },
                _ => Target::Item {
                    item: pick(&all, *i),
                },
            },
            text: text("A comment"),
        },
        Op::SetReviewDate(day) => Command::SetReviewDate {
            review_date: day.map(date),
        },
        Op::SetPlanStatus(s) => Command::SetPlanStatus {
            status: [
                PlanStatus::Draft,
                PlanStatus::Active,
                PlanStatus::OnHold,
                PlanStatus::Completed,
                PlanStatus::Revoked,
            ][*s as usize],
        },
    }
}

/// Runs `ops` from a new plan, calling `accepted(before, command, stamp, applied)` for every
/// accepted step and checking that every refused step says why.
fn replay(
    ops: &[Op],
    mut accepted: impl FnMut(&Plan, &Command, &Stamp, &Applied) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let mut plan = new_plan();
    for op in ops {
        let stamp = stamp(plan.version.next());
        let mut c = command(op, &plan);
        c.fill_missing_id(|kind| {
            ItemId::parse(&format!("{}-{}", kind.as_str(), stamp.version).replace('_', "-"))
                .unwrap()
        });
        match apply(&plan, &c, &stamp) {
            Ok(applied) => {
                accepted(&plan, &c, &stamp, &applied)?;
                plan = applied.plan;
            }
            Err(issues) => {
                prop_assert!(!issues.is_empty(), "{c:?} refused without an issue");
                prop_assert!(issues.iter().all(|i| !i.message.is_empty()));
            }
        }
    }
    Ok(())
}

/// The keys whose item differs between two plans (added, edited or archived).
fn differing(before: &Plan, after: &Plan) -> BTreeSet<ItemKey> {
    before
        .item_keys()
        .into_iter()
        .chain(after.item_keys())
        .filter(|k| before.get(k) != after.get(k))
        .collect()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Every accepted command leaves a sound plan one version on, dated by its stamp, and
    /// `changed` names exactly the items that differ, each stamped by this version.
    #[test]
    fn csp9_csp12_csp14_csp15_accepted_commands_keep_the_plan_sound_and_name_what_changed(
        ops in story()
    ) {
        replay(&ops, |before, c, stamp, Applied { plan, changed }| {
            let issues = invariants::check(plan);
            prop_assert!(issues.is_empty(), "{c:?} broke the plan: {issues:?}");
            prop_assert_eq!(plan.version, before.version.next());
            prop_assert_eq!(plan.last_updated, stamp.at);

            let listed: BTreeSet<ItemKey> = changed.iter().cloned().collect();
            prop_assert_eq!(listed.len(), changed.len(), "{:?} listed twice", changed);
            prop_assert!(changed.windows(2).all(|w| w[0] < w[1]), "not sorted: {:?}", changed);
            prop_assert_eq!(&listed, &differing(before, plan), "after {:?}", c);
            for key in changed {
                let meta = plan.get(key).unwrap().item_meta();
                prop_assert_eq!(&meta.changed, stamp, "{:?} changed without this version's stamp", key);
            }

            // CSP-12: once the content changes, no agreement speaks for the current version.
            if careplan_model::apply::changes_agreed_content(changed) {
                for (id, a) in &plan.agreements {
                    prop_assert!(
                        !a.meta.is_active() || a.superseded_in.is_some(),
                        "agreement {} still current after {:?}", id, c
                    );
                }
            }
            Ok(())
        })?;
    }

    /// CSP-15: a diff of two consecutive versions mentions only items the command changed, and
    /// every item the command added.
    #[test]
    fn csp15_diff_mentions_only_changed_items(ops in story()) {
        replay(&ops, |before, c, _, Applied { plan, changed }| {
            let d = diff(before, plan);
            prop_assert_eq!((d.from, d.to), (before.version, plan.version));
            for item in &d.changes {
                prop_assert!(changed.contains(&item.key), "{:?} in the diff after {:?}", item.key, c);
            }
            let added: BTreeSet<&ItemKey> = d
                .changes
                .iter()
                .filter(|i| i.change == ChangeKind::Added)
                .map(|i| &i.key)
                .collect();
            let new: BTreeSet<&ItemKey> = changed.iter().filter(|k| before.get(k).is_none()).collect();
            prop_assert_eq!(added, new);
            prop_assert!(diff(plan, plan).changes.is_empty());
            Ok(())
        })?;
    }
}
