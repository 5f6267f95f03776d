//! The rules a plan must satisfy after every change. `apply` runs them on the next plan, so a
//! command that would break one is refused with the reason, whatever route it took.

use std::collections::BTreeMap;

use crate::agreement::CapacityOutcome;
use crate::comment::Target;
use crate::issue::{Issue, IssueCode};
use crate::plan::{ItemKey, ItemKind, Plan};
use crate::values::ItemId;

/// Every broken rule in `plan`; empty when the plan is sound.
pub fn check(plan: &Plan) -> Vec<Issue> {
    let mut issues = Vec::new();
    let mut push =
        |code, path: String, message: String| issues.push(Issue::new(code, path, message));
    let is_active = |kind: ItemKind, id: &ItemId| {
        plan.get(&ItemKey::new(kind, id.clone()))
            .is_some_and(|i| i.item_meta().is_active())
    };

    // Ids are unique across every kind of item, and none takes a plan-level item's fixed id.
    let mut ids = plan.collection_ids();
    ids.sort_unstable_by(|a, b| a.1.cmp(b.1));
    for pair in ids.windows(2) {
        let ((other, _), (kind, id)) = (pair[0], pair[1]);
        if pair[0].1 == id {
            push(
                IssueCode::DuplicateId,
                format!("/{}/{}", kind.as_str(), id),
                format!(
                    "The id {} is used by a {} and a {}",
                    id,
                    other.as_str(),
                    kind.as_str()
                ),
            );
        }
    }
    for (kind, id) in &ids {
        if Plan::FIXED_IDS.contains(&id.as_str()) {
            push(
                IssueCode::DuplicateId,
                format!("/{}/{}", kind.as_str(), id),
                format!(
                    "The id {id} is reserved for the plan's own {id} and cannot be used by a {}",
                    kind.as_str()
                ),
            );
        }
    }

    // CSP-9: every active goal addresses at least one active need, concern or problem.
    let mut ranks: BTreeMap<u32, &ItemId> = BTreeMap::new();
    for (id, goal) in &plan.goals {
        for (i, need) in goal.addresses.iter().enumerate() {
            if !matches!(
                plan.kind_of(need),
                Some(ItemKind::Need | ItemKind::Concern | ItemKind::Problem)
            ) {
                push(
                    IssueCode::BrokenLink,
                    format!("/goals/{id}/addresses/{i}"),
                    format!(
                        "Goal “{}” is linked to {need}, which is not a need, concern or problem of this plan",
                        goal.description
                    ),
                );
            }
        }
        for (i, s) in goal.strengths.iter().enumerate() {
            if plan.kind_of(s) != Some(ItemKind::Strength) {
                push(
                    IssueCode::BrokenLink,
                    format!("/goals/{id}/strengths/{i}"),
                    format!(
                        "Goal “{}” is linked to {s}, which is not a strength of this plan",
                        goal.description
                    ),
                );
            }
        }
        if !goal.meta.is_active() {
            continue;
        }
        let addresses_active = goal.addresses.iter().any(|n| {
            [ItemKind::Need, ItemKind::Concern, ItemKind::Problem]
                .into_iter()
                .any(|k| is_active(k, n))
        });
        if !addresses_active {
            push(
                IssueCode::GoalWithoutNeed,
                format!("/goals/{id}/addresses"),
                format!(
                    "Goal “{}” would no longer be linked to any active need, concern or problem: link it to another one or archive the goal first",
                    goal.description
                ),
            );
        }
        if let Some(rank) = goal.rank
            && let Some(other) = ranks.insert(rank, id)
        {
            push(
                IssueCode::Ranking,
                format!("/goals/{id}/rank"),
                format!("Goals {other} and {id} are both ranked {rank}"),
            );
        }
    }

    // Active actions belong to active goals; archived ones to some goal.
    for (id, action) in &plan.actions {
        if plan.kind_of(&action.goal) != Some(ItemKind::Goal) {
            push(
                IssueCode::BrokenLink,
                format!("/actions/{id}/goal"),
                format!(
                    "Action “{}” belongs to {}, which is not a goal of this plan",
                    action.description, action.goal
                ),
            );
        } else if action.meta.is_active() && !is_active(ItemKind::Goal, &action.goal) {
            push(
                IssueCode::ActionWithoutGoal,
                format!("/actions/{id}/goal"),
                format!(
                    "Action “{}” belongs to an archived goal: move it to an active goal or archive it",
                    action.description
                ),
            );
        }
    }

    for (id, o) in &plan.outcomes {
        if plan.kind_of(&o.goal) != Some(ItemKind::Goal) {
            push(
                IssueCode::BrokenLink,
                format!("/outcomes/{id}/goal"),
                format!(
                    "Outcome {id} is for {}, which is not a goal of this plan",
                    o.goal
                ),
            );
        }
    }
    for (id, p) in &plan.progress {
        if plan.kind_of(&p.goal) != Some(ItemKind::Goal) {
            push(
                IssueCode::BrokenLink,
                format!("/progress/{id}/goal"),
                format!(
                    "Progress record {id} is for {}, which is not a goal of this plan",
                    p.goal
                ),
            );
        }
    }

    let targets = plan
        .comments
        .iter()
        .map(|(id, c)| ("comments", id, &c.target))
        .chain(
            plan.attachments
                .iter()
                .map(|(id, a)| ("attachments", id, &a.target)),
        )
        .chain(
            plan.hyperlinks
                .iter()
                .map(|(id, h)| ("hyperlinks", id, &h.target)),
        );
    for (section, id, target) in targets {
        if let Target::Item { item } = target
            && plan.kind_of(item).is_none()
        {
            push(
                IssueCode::BrokenLink,
                format!("/{section}/{id}/target"),
                format!("{id} is attached to {item}, which is not in this plan"),
            );
        }
    }

    // CSP-12: best-interest decisions rest on an assessment that found a lack of capacity.
    for (id, d) in &plan.best_interest_decisions {
        let ok = plan
            .capacity_assessments
            .get(&d.assessment)
            .is_some_and(|a| a.outcome == CapacityOutcome::LacksCapacity);
        if !ok {
            push(
                IssueCode::Capacity,
                format!("/best_interest_decisions/{id}/assessment"),
                format!(
                    "Best-interest decision {id} does not rest on an assessment that found a lack of capacity"
                ),
            );
        }
    }

    // CSP-1: one active preference per part of the plan and audience, so the decision is clear.
    let mut prefs = BTreeMap::new();
    for (id, p) in plan.consent.iter().filter(|(_, p)| p.meta.is_active()) {
        let key = (format!("{:?}", p.scope), format!("{:?}", p.audience));
        if let Some(other) = prefs.insert(key, id) {
            push(
                IssueCode::DuplicateId,
                format!("/consent/{id}"),
                format!(
                    "Access preferences {other} and {id} both cover the same part of the plan for {}: change the active one instead",
                    p.audience.describe()
                ),
            );
        }
    }

    for (id, a) in &plan.agreements {
        let ok = a.agreed_version <= plan.version
            && a.superseded_in
                .is_none_or(|s| s > a.agreed_version && s <= plan.version);
        if !ok {
            push(
                IssueCode::Version,
                format!("/agreements/{id}"),
                format!("Agreement {id} names versions this plan does not have in that order"),
            );
        }
    }

    for key in plan.item_keys() {
        let meta = plan.get(&key).expect("listed key").item_meta();
        let ordered = meta.added.version <= meta.changed.version
            && meta.changed.version <= plan.version
            && meta
                .archived
                .as_ref()
                .is_none_or(|a| a.stamp.version >= meta.added.version);
        if !ordered {
            push(
                IssueCode::Version,
                format!("/{}/{}", key.kind.as_str(), key.id),
                format!("Item {} has stamps out of order", key.id),
            );
        }
    }
    issues
}
