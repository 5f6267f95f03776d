//! The rules a plan must satisfy after every change. `apply` runs them on the next plan, so a
//! command that would break one is refused with the reason, whatever route it took.
//!
//! [`check`] looks at the whole plan. [`check_change`] gives the same answer for a change made to
//! a sound plan while looking only at what that change can break: the items it wrote, and the
//! items whose rules read those (every goal when a need is archived, say). That keeps the cost of
//! a change independent of the size of the plan. Debug builds compare the two on every change.

use std::collections::{BTreeMap, BTreeSet};

use crate::agreement::CapacityOutcome;
use crate::comment::Target;
use crate::issue::{Issue, IssueCode};
use crate::items::Items;
use crate::plan::{ItemKey, ItemKind, Plan};
use crate::values::ItemId;

/// Every broken rule in `plan`; empty when the plan is sound.
pub fn check(plan: &Plan) -> Vec<Issue> {
    Rules { plan, change: None }.run()
}

/// Every broken rule in `after`, made from the sound plan `before` by a change that wrote
/// exactly the items `changed`: the same issues, in the same order, as [`check`]`(after)`.
///
/// Why looking at less is enough: items are never removed from a plan and never change kind, and
/// the version only grows. So a rule that held for an item the change did not write still holds,
/// unless it reads another item that the change wrote. Those rules are re-run in full when such an
/// item changes: goal links when a goal changes or a need, concern, problem or strength is
/// archived or restored; actions when a goal changes; best-interest decisions when an assessment
/// changes; one preference per audience when a preference changes.
pub fn check_change(before: &Plan, after: &Plan, changed: &BTreeSet<ItemKey>) -> Vec<Issue> {
    let issues = Rules {
        plan: after,
        change: Some(Change { before, changed }),
    }
    .run();
    debug_assert!(
        !check(before).is_empty() || issues == check(after),
        "check_change disagrees with check: {issues:?} against {:?}",
        check(after)
    );
    issues
}

struct Change<'a> {
    before: &'a Plan,
    changed: &'a BTreeSet<ItemKey>,
}

impl Change<'_> {
    fn wrote(&self, kind: ItemKind) -> bool {
        self.changed.iter().any(|k| k.kind == kind)
    }

    /// Whether the change archived or restored an item of one of these kinds.
    fn moved_in_or_out(&self, after: &Plan, kinds: &[ItemKind]) -> bool {
        let active =
            |plan: &Plan, key: &ItemKey| plan.get(key).is_some_and(|i| i.item_meta().is_active());
        self.changed
            .iter()
            .filter(|k| kinds.contains(&k.kind))
            .any(|k| active(self.before, k) != active(after, k))
    }
}

struct Rules<'a> {
    plan: &'a Plan,
    /// `None`: look at every item.
    change: Option<Change<'a>>,
}

impl<'a> Rules<'a> {
    /// The items of one kind that a rule looks at: all of them, or those the change wrote.
    fn pick<T>(&self, items: &'a Items<T>, kind: ItemKind) -> Vec<(&'a ItemId, &'a T)> {
        self.pick_all_if(items, kind, false)
    }

    /// As [`Rules::pick`], but every item when `all` is true.
    fn pick_all_if<T>(
        &self,
        items: &'a Items<T>,
        kind: ItemKind,
        all: bool,
    ) -> Vec<(&'a ItemId, &'a T)> {
        match &self.change {
            Some(change) if !all => change
                .changed
                .iter()
                .filter(|k| k.kind == kind)
                .filter_map(|k| items.get(&k.id).map(|item| (&k.id, item)))
                .collect(),
            _ => items.iter().collect(),
        }
    }

    /// Whether this is a change that wrote an item of `kind` (never, for [`check`]).
    fn change_wrote(&self, kind: ItemKind) -> bool {
        self.change.as_ref().is_some_and(|c| c.wrote(kind))
    }

    /// Whether a rule over the whole plan must run: always for [`check`], and for a change
    /// only when `wrote` says it touched what the rule reads.
    fn whole_rule(&self, wrote: impl Fn(&Change<'a>) -> bool) -> bool {
        self.change.as_ref().is_none_or(wrote)
    }

    fn run(&self) -> Vec<Issue> {
        let plan = self.plan;
        let mut issues = Vec::new();
        let mut push =
            |code, path: String, message: String| issues.push(Issue::new(code, path, message));
        let is_active = |kind: ItemKind, id: &ItemId| {
            plan.get(&ItemKey::new(kind, id.clone()))
                .is_some_and(|i| i.item_meta().is_active())
        };

        // Ids are unique across every kind of item, and none takes a plan-level item's fixed id.
        // Only an added item can take an id, so a change looks only at the ids it wrote.
        let ids: Vec<(ItemKind, &ItemId)> = match &self.change {
            None => {
                let mut ids = plan.collection_ids();
                ids.sort_unstable_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(&b.0)));
                ids
            }
            Some(change) => {
                let written: BTreeSet<&ItemId> = change.changed.iter().map(|k| &k.id).collect();
                written
                    .into_iter()
                    .flat_map(|id| plan.kinds_holding(id).into_iter().map(move |k| (k, id)))
                    .collect()
            }
        };
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

        // CSP-9: every active goal addresses at least one active need, concern or problem. Ranks
        // are compared across all goals, so any change to a goal re-checks them all.
        let goals = self.whole_rule(|c| {
            c.wrote(ItemKind::Goal)
                || c.moved_in_or_out(
                    plan,
                    &[
                        ItemKind::Need,
                        ItemKind::Concern,
                        ItemKind::Problem,
                        ItemKind::Strength,
                    ],
                )
        });
        let mut ranks: BTreeMap<u32, &ItemId> = BTreeMap::new();
        for (id, goal) in plan.goals.iter().filter(|_| goals) {
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
        let every_action = self.change_wrote(ItemKind::Goal);
        for (id, action) in self.pick_all_if(&plan.actions, ItemKind::Action, every_action) {
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

        // Outcomes and progress records are for a goal of this plan.
        let for_goals = self
            .pick(&plan.outcomes, ItemKind::Outcome)
            .into_iter()
            .map(|(id, o)| ("outcomes", "Outcome", id, &o.goal))
            .chain(
                self.pick(&plan.progress, ItemKind::Progress)
                    .into_iter()
                    .map(|(id, p)| ("progress", "Progress record", id, &p.goal)),
            );
        for (section, what, id, goal) in for_goals {
            if plan.kind_of(goal) != Some(ItemKind::Goal) {
                push(
                    IssueCode::BrokenLink,
                    format!("/{section}/{id}/goal"),
                    format!("{what} {id} is for {goal}, which is not a goal of this plan"),
                );
            }
        }

        let targets = self
            .pick(&plan.comments, ItemKind::Comment)
            .into_iter()
            .map(|(id, c)| ("comments", id, &c.target))
            .chain(
                self.pick(&plan.attachments, ItemKind::Attachment)
                    .into_iter()
                    .map(|(id, a)| ("attachments", id, &a.target)),
            )
            .chain(
                self.pick(&plan.hyperlinks, ItemKind::Hyperlink)
                    .into_iter()
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
        let every_decision = self.change_wrote(ItemKind::CapacityAssessment);
        for (id, d) in self.pick_all_if(
            &plan.best_interest_decisions,
            ItemKind::BestInterestDecision,
            every_decision,
        ) {
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
        let consent = self.whole_rule(|c| c.wrote(ItemKind::ConsentPreference));
        for (id, p) in plan
            .consent
            .iter()
            .filter(|(_, p)| consent && p.meta.is_active())
        {
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

        for (id, a) in self.pick(&plan.agreements, ItemKind::Agreement) {
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

        let keys = match &self.change {
            None => plan.item_keys(),
            Some(change) => change.changed.iter().cloned().collect(),
        };
        for key in keys {
            let Some(item) = plan.get(&key) else { continue };
            let meta = item.item_meta();
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
}
