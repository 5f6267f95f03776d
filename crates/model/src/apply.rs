//! Applying a command to a plan: the one pure function through which every change passes.
//!
//! `apply` checks the command against the plan, builds the next plan, stamps every item it
//! touched, and then checks the plan's invariants wherever the change can have broken them. It
//! returns the next plan and the keys of exactly the items that changed (the store writes only
//! those), or every issue found.

use std::collections::{BTreeMap, BTreeSet};

use crate::action::{Action, ActionStatus};
use crate::agreement::{
    Agreement, BestInterestDecision, CapacityAssessment, CapacityOutcome, CapacitySupport,
};
use crate::attachment::{Attachment, Hyperlink};
use crate::command::{ActionMove, Command};
use crate::comment::{Comment, Target};
use crate::consent::ConsentPreference;
use crate::funding::{FundingSource, mentions_money};
use crate::goal::{Goal, ReviewFlag};
use crate::invariants;
use crate::issue::{Issue, IssueCode};
use crate::items::{ItemMut, Items};
use crate::meta::{Archived, ItemMeta, Stamp};
use crate::need::{Concern, Need, Problem};
use crate::outcome::{Outcome, ProgressRecord};
use crate::plan::{CareTeamMember, HasMeta, ItemKey, ItemKind, PersonRecord, Plan, PlanDetails};
use crate::schedule::CareSchedule;
use crate::strength::Strength;
use crate::suggestion::{Suggestion, SuggestionStatus};
use crate::values::{ItemId, PersonId, PlanId, Text};

/// The result of an accepted command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub plan: Plan,
    /// The items whose stored form changed (added, edited, archived), each once, sorted.
    pub changed: Vec<ItemKey>,
}

/// Starts a plan: version 1, holding the person and the plan's details.
pub fn start(
    id: PlanId,
    person_id: PersonId,
    command: &Command,
    stamp: &Stamp,
) -> Result<Applied, Vec<Issue>> {
    let Command::CreatePlan { person } = command else {
        return Err(vec![Issue::new(
            IssueCode::Invalid,
            "/type",
            "A new plan is started with a create_plan command",
        )]);
    };
    if stamp.version.get() != 1 {
        return Err(vec![Issue::new(
            IssueCode::Version,
            "",
            "A new plan starts at version 1",
        )]);
    }
    let meta = ItemMeta::new(stamp);
    let plan = Plan {
        id,
        version: stamp.version,
        last_updated: stamp.at,
        details: PlanDetails {
            meta: meta.clone(),
            person_id,
            status: Default::default(),
            review_date: None,
        },
        person: PersonRecord {
            meta,
            person: person.clone(),
        },
        capacity_support: None,
        funding: None,
        schedule: None,
        care_team: Items::new(),
        strengths: Items::new(),
        needs: Items::new(),
        concerns: Items::new(),
        problems: Items::new(),
        goals: Items::new(),
        actions: Items::new(),
        outcomes: Items::new(),
        progress: Items::new(),
        suggestions: Items::new(),
        comments: Items::new(),
        attachments: Items::new(),
        hyperlinks: Items::new(),
        agreements: Items::new(),
        capacity_assessments: Items::new(),
        best_interest_decisions: Items::new(),
        consent: Items::new(),
    };
    let changed = plan.item_keys();
    Ok(Applied { plan, changed })
}

/// Whether a change with these items changes what was agreed (CSP-12). Agreement records do
/// not (they are the agreement), and neither do the person's access preferences (they say who
/// may see the plan, not what it says), nor does a suggested change until it is accepted. Every
/// other change makes an existing agreement one for
/// an earlier version.
pub fn changes_agreed_content(changed: &[ItemKey]) -> bool {
    changed.iter().any(|k| {
        // A suggestion only proposes: accepting it changes the action, which counts.
        !matches!(
            k.kind,
            ItemKind::Agreement | ItemKind::ConsentPreference | ItemKind::Suggestion
        )
    })
}

/// Applies `command` to `plan` as the version described by `stamp`.
pub fn apply(plan: &Plan, command: &Command, stamp: &Stamp) -> Result<Applied, Vec<Issue>> {
    if stamp.version != plan.version.next() {
        return Err(vec![Issue::new(
            IssueCode::Version,
            "",
            format!(
                "Version {} cannot follow version {}: versions are numbered one after another",
                stamp.version, plan.version
            ),
        )]);
    }
    let mut tx = Tx {
        plan: plan.clone(),
        stamp,
        changed: BTreeSet::new(),
        issues: Vec::new(),
    };
    tx.run(command);
    if !tx.issues.is_empty() {
        return Err(tx.issues);
    }
    if tx.changed.is_empty() {
        return Err(vec![Issue::new(
            IssueCode::NoChange,
            "",
            "This change would leave the plan exactly as it is",
        )]);
    }
    let changed: Vec<ItemKey> = tx.changed.iter().cloned().collect();
    if changes_agreed_content(&changed) {
        tx.supersede_agreement();
    }
    tx.plan.version = stamp.version;
    tx.plan.last_updated = stamp.at;
    let violations = invariants::check_change(plan, &tx.plan, &tx.changed);
    if !violations.is_empty() {
        return Err(violations);
    }
    Ok(Applied {
        plan: tx.plan,
        changed: tx.changed.into_iter().collect(),
    })
}

struct Tx<'a> {
    plan: Plan,
    stamp: &'a Stamp,
    changed: BTreeSet<ItemKey>,
    issues: Vec<Issue>,
}

/// Looks up an item of one kind for a change: reports a missing or archived item as an issue.
fn active_mut<'m, T: HasMeta + Clone>(
    map: &'m mut Items<T>,
    id: &ItemId,
    what: &str,
    path: &str,
    issues: &mut Vec<Issue>,
) -> Option<&'m mut T> {
    match map.get_mut(id).map(ItemMut::into_mut) {
        None => {
            issues.push(Issue::new(
                IssueCode::NotFound,
                path,
                format!("There is no {what} with id {id} in this plan"),
            ));
            None
        }
        Some(item) if !item.meta().is_active() => {
            issues.push(Issue::new(
                IssueCode::Archived,
                path,
                format!("The {what} {id} is archived: restore it before changing it"),
            ));
            None
        }
        Some(item) => Some(item),
    }
}

impl Tx<'_> {
    fn issue(&mut self, code: IssueCode, path: &str, message: impl Into<String>) {
        self.issues.push(Issue::new(code, path, message));
    }

    fn mark(&mut self, kind: ItemKind, id: &ItemId) {
        self.changed.insert(ItemKey::new(kind, id.clone()));
    }

    /// Claims the id of a new item: present, and not used by any item of the plan.
    fn new_id(&mut self, id: &Option<ItemId>) -> Option<ItemId> {
        match id {
            None => {
                self.issue(IssueCode::MissingId, "/id", "The new item has no id");
                None
            }
            Some(id) if self.plan.id_in_use(id) => {
                self.issue(
                    IssueCode::DuplicateId,
                    "/id",
                    format!("This plan already has an item with id {id}"),
                );
                None
            }
            Some(id) => Some(id.clone()),
        }
    }

    fn meta(&self) -> ItemMeta {
        ItemMeta::new(self.stamp)
    }

    /// Checks that `id` names an item of one of `kinds` (active unless `allow_archived`).
    fn check_link(
        &mut self,
        id: &ItemId,
        kinds: &[ItemKind],
        what: &str,
        path: &str,
        allow_archived: bool,
    ) {
        match self.plan.kind_of(id) {
            None => self.issue(
                IssueCode::BrokenLink,
                path,
                format!("There is no {what} with id {id} in this plan"),
            ),
            Some(kind) if !kinds.contains(&kind) => self.issue(
                IssueCode::WrongKind,
                path,
                format!(
                    "{id} is a {}, not a {what}",
                    kind.as_str().trim_end_matches('s').replace('_', " ")
                ),
            ),
            Some(kind) => {
                let active = self
                    .plan
                    .get(&ItemKey::new(kind, id.clone()))
                    .is_some_and(|i| i.item_meta().is_active());
                if !active && !allow_archived {
                    self.issue(
                        IssueCode::Archived,
                        path,
                        format!("The {what} {id} is archived"),
                    );
                }
            }
        }
    }

    /// The open, active suggestion `id`, or an issue saying why it cannot be answered.
    fn open_suggestion(&mut self, id: &ItemId) -> Option<Suggestion> {
        let found = match self.plan.suggestions.get(id) {
            None => Err(format!("There is no suggestion with id {id} in this plan")),
            Some(s) if !s.meta.is_active() => Err(format!("The suggestion {id} is archived")),
            Some(s) if s.status != SuggestionStatus::Open => Err(format!(
                "The suggestion {id} has already been {}",
                s.status.label()
            )),
            Some(s) => Ok(s.clone()),
        };
        match found {
            Ok(s) => Some(s),
            Err(message) => {
                let code = if self.plan.suggestions.contains_key(id) {
                    IssueCode::NoChange
                } else {
                    IssueCode::NotFound
                };
                self.issue(code, "/id", message);
                None
            }
        }
    }

    fn check_target(&mut self, target: &Target) {
        if let Target::Item { item } = target
            && self.plan.kind_of(item).is_none()
        {
            self.issue(
                IssueCode::BrokenLink,
                "/target/item",
                format!("There is no item with id {item} in this plan"),
            );
        }
    }

    fn run(&mut self, command: &Command) {
        use Command::*;
        let stamp = self.stamp;
        match command {
            CreatePlan { .. } => self.issue(
                IssueCode::AlreadyExists,
                "/type",
                "This person already has a plan",
            ),
            UpdatePerson { person } => {
                if self.plan.person.person != *person {
                    self.plan.person.person = person.clone();
                    self.plan.person.meta.changed = stamp.clone();
                    self.mark(ItemKind::Person, &fixed(ItemKind::Person));
                }
            }
            SetPlanStatus { status } => {
                if self.plan.details.status != *status {
                    self.plan.details.status = *status;
                    self.plan.details.meta.changed = stamp.clone();
                    self.mark(ItemKind::Details, &fixed(ItemKind::Details));
                }
            }
            SetReviewDate { review_date } => {
                if self.plan.details.review_date != *review_date {
                    self.plan.details.review_date = *review_date;
                    self.plan.details.meta.changed = stamp.clone();
                    self.mark(ItemKind::Details, &fixed(ItemKind::Details));
                }
            }
            AddCareTeamMember {
                id,
                name,
                role,
                organisation,
                account,
            } => {
                if let Some(id) = self.new_id(id) {
                    let member = CareTeamMember {
                        meta: self.meta(),
                        name: name.clone(),
                        role: role.clone(),
                        organisation: organisation.clone(),
                        account: account.clone(),
                    };
                    self.plan.care_team.insert(id.clone(), member);
                    self.mark(ItemKind::CareTeamMember, &id);
                }
            }
            AddStrength {
                id,
                description,
                importance,
            } => {
                if let Some(id) = self.new_id(id) {
                    let s = Strength {
                        meta: self.meta(),
                        description: description.clone(),
                        importance: *importance,
                    };
                    self.plan.strengths.insert(id.clone(), s);
                    self.mark(ItemKind::Strength, &id);
                }
            }
            EditStrength {
                id,
                description,
                importance,
            } => {
                let Some(s) = active_mut(
                    &mut self.plan.strengths,
                    id,
                    "strength",
                    "/id",
                    &mut self.issues,
                ) else {
                    return;
                };
                let mut changed = set_if_some(&mut s.description, description);
                let importance_changed = importance.apply_to(&mut s.importance);
                changed |= importance_changed;
                if changed {
                    s.meta.changed = stamp.clone();
                    self.mark(ItemKind::Strength, id);
                }
                if importance_changed {
                    self.flag_goals_for_review(id, "strength");
                }
            }
            AddNeed {
                id,
                description,
                identified_by,
                importance,
            } => {
                if let Some(id) = self.new_id(id) {
                    let n = Need {
                        meta: self.meta(),
                        description: description.clone(),
                        identified_by: *identified_by,
                        importance: *importance,
                    };
                    self.plan.needs.insert(id.clone(), n);
                    self.mark(ItemKind::Need, &id);
                }
            }
            EditNeed {
                id,
                description,
                identified_by,
                importance,
            } => {
                let Some(n) = active_mut(&mut self.plan.needs, id, "need", "/id", &mut self.issues)
                else {
                    return;
                };
                let mut changed = set_if_some(&mut n.description, description);
                changed |= identified_by.apply_to(&mut n.identified_by);
                let importance_changed = importance.apply_to(&mut n.importance);
                changed |= importance_changed;
                if changed {
                    n.meta.changed = stamp.clone();
                    self.mark(ItemKind::Need, id);
                }
                if importance_changed {
                    self.flag_goals_for_review(id, "need");
                }
            }
            AddConcern {
                id,
                description,
                raised_by,
                domain,
                importance,
            } => {
                if let Some(id) = self.new_id(id) {
                    let c = Concern {
                        meta: self.meta(),
                        description: description.clone(),
                        raised_by: *raised_by,
                        domain: *domain,
                        importance: *importance,
                    };
                    self.plan.concerns.insert(id.clone(), c);
                    self.mark(ItemKind::Concern, &id);
                }
            }
            EditConcern {
                id,
                description,
                raised_by,
                domain,
                importance,
            } => {
                let Some(c) = active_mut(
                    &mut self.plan.concerns,
                    id,
                    "concern",
                    "/id",
                    &mut self.issues,
                ) else {
                    return;
                };
                let mut changed = set_if_some(&mut c.description, description);
                changed |= set_if_some(&mut c.raised_by, raised_by);
                changed |= set_if_some(&mut c.domain, domain);
                let importance_changed = importance.apply_to(&mut c.importance);
                changed |= importance_changed;
                if changed {
                    c.meta.changed = stamp.clone();
                    self.mark(ItemKind::Concern, id);
                }
                if importance_changed {
                    self.flag_goals_for_review(id, "concern");
                }
            }
            AddProblem {
                id,
                description,
                code,
                external_reference,
                importance,
            } => {
                if let Some(id) = self.new_id(id) {
                    let p = Problem {
                        meta: self.meta(),
                        description: description.clone(),
                        code: code.clone(),
                        external_reference: external_reference.clone(),
                        importance: *importance,
                    };
                    self.plan.problems.insert(id.clone(), p);
                    self.mark(ItemKind::Problem, &id);
                }
            }
            EditProblem {
                id,
                description,
                code,
                external_reference,
                importance,
            } => {
                let Some(p) = active_mut(
                    &mut self.plan.problems,
                    id,
                    "problem",
                    "/id",
                    &mut self.issues,
                ) else {
                    return;
                };
                let mut changed = set_if_some(&mut p.description, description);
                changed |= code.apply_to(&mut p.code);
                changed |= external_reference.apply_to(&mut p.external_reference);
                let importance_changed = importance.apply_to(&mut p.importance);
                changed |= importance_changed;
                if changed {
                    p.meta.changed = stamp.clone();
                    self.mark(ItemKind::Problem, id);
                }
                if importance_changed {
                    self.flag_goals_for_review(id, "problem");
                }
            }
            AddGoal {
                id,
                label,
                description,
                why_it_matters,
                priority,
                status,
                target_date,
                addresses,
                strengths,
            } => {
                self.check_goal_links(addresses, strengths);
                if let Some(id) = self.new_id(id) {
                    let rank = self
                        .plan
                        .goals
                        .values()
                        .filter(|g| g.meta.is_active())
                        .filter_map(|g| g.rank)
                        .max()
                        .map_or(1, |r| r + 1);
                    let goal = Goal {
                        meta: self.meta(),
                        label: *label,
                        description: description.clone(),
                        why_it_matters: why_it_matters.clone(),
                        priority: *priority,
                        rank: Some(rank),
                        status: status.unwrap_or_default(),
                        target_date: *target_date,
                        addresses: dedup(addresses),
                        strengths: dedup(strengths),
                        review: None,
                    };
                    self.plan.goals.insert(id.clone(), goal);
                    self.mark(ItemKind::Goal, &id);
                }
            }
            EditGoal {
                id,
                label,
                description,
                why_it_matters,
                priority,
                status,
                target_date,
                addresses,
                strengths,
            } => {
                if let Some(a) = addresses {
                    self.check_goal_links(a, strengths.as_deref().unwrap_or(&[]));
                } else if let Some(s) = strengths {
                    self.check_strength_links(s);
                }
                let Some(g) = active_mut(&mut self.plan.goals, id, "goal", "/id", &mut self.issues)
                else {
                    return;
                };
                let mut changed = set_if_some(&mut g.label, label);
                changed |= set_if_some(&mut g.description, description);
                changed |= why_it_matters.apply_to(&mut g.why_it_matters);
                changed |= priority.apply_to(&mut g.priority);
                changed |= set_if_some(&mut g.status, status);
                changed |= target_date.apply_to(&mut g.target_date);
                changed |= set_if_some(&mut g.addresses, &addresses.as_ref().map(|a| dedup(a)));
                changed |= set_if_some(&mut g.strengths, &strengths.as_ref().map(|s| dedup(s)));
                if changed {
                    // Editing a goal is reviewing it.
                    g.review = None;
                    g.meta.changed = stamp.clone();
                    self.mark(ItemKind::Goal, id);
                }
            }
            RankGoals { order } => self.rank_goals(order),
            ReviewGoal { id, .. } => {
                let Some(g) = active_mut(&mut self.plan.goals, id, "goal", "/id", &mut self.issues)
                else {
                    return;
                };
                if g.review.take().is_some() {
                    g.meta.changed = stamp.clone();
                    self.mark(ItemKind::Goal, id);
                } else {
                    self.issue(
                        IssueCode::NoChange,
                        "/id",
                        format!("Goal {id} is not waiting for a review"),
                    );
                }
            }
            ArchiveGoal {
                id,
                move_actions,
                reason,
            } => self.archive_goal(id, move_actions, reason),
            AddAction {
                id,
                goal,
                description,
                performer,
                timing,
                status,
                confidence,
            } => {
                self.check_link(goal, &[ItemKind::Goal], "goal", "/goal", false);
                if let Some(id) = self.new_id(id) {
                    let action = Action {
                        meta: self.meta(),
                        goal: goal.clone(),
                        description: description.clone(),
                        performer: performer.clone(),
                        timing: timing.clone(),
                        status: status.unwrap_or_default(),
                        confidence: *confidence,
                    };
                    self.plan.actions.insert(id.clone(), action);
                    self.mark(ItemKind::Action, &id);
                }
            }
            EditAction {
                id,
                goal,
                description,
                performer,
                timing,
                status,
                confidence,
            } => {
                if let Some(goal) = goal {
                    self.check_link(goal, &[ItemKind::Goal], "goal", "/goal", false);
                }
                let Some(a) = active_mut(
                    &mut self.plan.actions,
                    id,
                    "action",
                    "/id",
                    &mut self.issues,
                ) else {
                    return;
                };
                let mut changed = set_if_some(&mut a.goal, goal);
                changed |= set_if_some(&mut a.description, description);
                changed |= set_if_some(&mut a.performer, performer);
                changed |= timing.apply_to(&mut a.timing);
                changed |= set_if_some(&mut a.status, status);
                changed |= confidence.apply_to(&mut a.confidence);
                if changed {
                    a.meta.changed = stamp.clone();
                    self.mark(ItemKind::Action, id);
                }
            }
            CompleteAction { id } => {
                let Some(a) = active_mut(
                    &mut self.plan.actions,
                    id,
                    "action",
                    "/id",
                    &mut self.issues,
                ) else {
                    return;
                };
                if a.status == ActionStatus::Completed {
                    self.issue(
                        IssueCode::NoChange,
                        "/id",
                        format!("Action {id} is already completed"),
                    );
                } else {
                    a.status = ActionStatus::Completed;
                    a.meta.changed = stamp.clone();
                    self.mark(ItemKind::Action, id);
                }
            }
            SuggestActionChange {
                id,
                action,
                changes,
                note,
            } => {
                self.check_link(action, &[ItemKind::Action], "action", "/action", false);
                if let Some(goal) = &changes.goal {
                    self.check_link(goal, &[ItemKind::Goal], "goal", "/changes/goal", false);
                }
                if changes.is_empty() {
                    self.issue(
                        IssueCode::NoChange,
                        "/changes",
                        "A suggestion must propose at least one change to the action",
                    );
                    return;
                }
                if let Some(id) = self.new_id(id) {
                    let suggestion = Suggestion {
                        meta: self.meta(),
                        action: action.clone(),
                        changes: changes.clone(),
                        note: note.clone(),
                        status: SuggestionStatus::Open,
                    };
                    self.plan.suggestions.insert(id.clone(), suggestion);
                    self.mark(ItemKind::Suggestion, &id);
                }
            }
            AcceptSuggestion { id } => {
                let Some(suggestion) = self.open_suggestion(id) else {
                    return;
                };
                // The edit goes through `edit_action`'s own rules (the action must still be
                // active, a new goal must exist); any issue refuses the acceptance.
                let c = suggestion.changes;
                self.run(&EditAction {
                    id: suggestion.action,
                    goal: c.goal,
                    description: c.description,
                    performer: c.performer,
                    timing: c.timing,
                    status: c.status,
                    confidence: c.confidence,
                });
                if !self.issues.is_empty() {
                    return;
                }
                if let Some(mut s) = self.plan.suggestions.get_mut(id) {
                    s.status = SuggestionStatus::Accepted {
                        in_version: stamp.version,
                    };
                    s.meta.changed = stamp.clone();
                }
                self.mark(ItemKind::Suggestion, id);
            }
            DeclineSuggestion { id, reason } => {
                if self.open_suggestion(id).is_none() {
                    return;
                }
                if let Some(mut s) = self.plan.suggestions.get_mut(id) {
                    s.status = SuggestionStatus::Declined {
                        reason: reason.clone(),
                    };
                    s.meta.changed = stamp.clone();
                }
                self.mark(ItemKind::Suggestion, id);
            }
            RecordOutcome {
                id,
                goal,
                description,
                status,
                date,
            } => {
                self.check_link(goal, &[ItemKind::Goal], "goal", "/goal", true);
                if let Some(id) = self.new_id(id) {
                    let o = Outcome {
                        meta: self.meta(),
                        goal: goal.clone(),
                        description: description.clone(),
                        status: *status,
                        date: *date,
                    };
                    self.plan.outcomes.insert(id.clone(), o);
                    self.mark(ItemKind::Outcome, &id);
                }
            }
            RecordProgress {
                id,
                goal,
                date,
                progress,
                note,
            } => {
                self.check_link(goal, &[ItemKind::Goal], "goal", "/goal", false);
                if let Some(id) = self.new_id(id) {
                    let p = ProgressRecord {
                        meta: self.meta(),
                        goal: goal.clone(),
                        date: *date,
                        progress: *progress,
                        note: note.clone(),
                    };
                    self.plan.progress.insert(id.clone(), p);
                    self.mark(ItemKind::Progress, &id);
                }
            }
            AddComment { id, target, text } => {
                self.check_target(target);
                if let Some(id) = self.new_id(id) {
                    let c = Comment {
                        meta: self.meta(),
                        target: target.clone(),
                        text: text.clone(),
                    };
                    self.plan.comments.insert(id.clone(), c);
                    self.mark(ItemKind::Comment, &id);
                }
            }
            AddAttachment {
                id,
                target,
                title,
                purpose,
                content_type,
                size_bytes,
                sha256,
                description,
            } => {
                self.check_target(target);
                if let Some(id) = self.new_id(id) {
                    let a = Attachment {
                        meta: self.meta(),
                        target: target.clone(),
                        title: title.clone(),
                        purpose: *purpose,
                        content_type: content_type.clone(),
                        size_bytes: *size_bytes,
                        sha256: sha256.clone(),
                        description: description.clone(),
                    };
                    self.plan.attachments.insert(id.clone(), a);
                    self.mark(ItemKind::Attachment, &id);
                }
            }
            AddHyperlink {
                id,
                target,
                title,
                url,
                purpose,
            } => {
                self.check_target(target);
                if let Some(id) = self.new_id(id) {
                    let h = Hyperlink {
                        meta: self.meta(),
                        target: target.clone(),
                        title: title.clone(),
                        url: url.clone(),
                        purpose: *purpose,
                    };
                    self.plan.hyperlinks.insert(id.clone(), h);
                    self.mark(ItemKind::Hyperlink, &id);
                }
            }
            RecordAgreement { id, outcome } => {
                if let Some(id) = self.new_id(id) {
                    let a = Agreement {
                        meta: self.meta(),
                        agreed_version: stamp.version,
                        outcome: outcome.clone(),
                        superseded_in: None,
                    };
                    self.plan.agreements.insert(id.clone(), a);
                    self.mark(ItemKind::Agreement, &id);
                }
            }
            SetCapacitySupport {
                steps_to_maximise_capacity,
                rights_promotion,
            } => {
                let next = CapacitySupport {
                    meta: self.plan.capacity_support.as_ref().map_or_else(
                        || self.meta(),
                        |c| ItemMeta {
                            changed: stamp.clone(),
                            archived: None,
                            ..c.meta.clone()
                        },
                    ),
                    steps_to_maximise_capacity: steps_to_maximise_capacity.clone(),
                    rights_promotion: rights_promotion.clone(),
                };
                let same = self.plan.capacity_support.as_ref().is_some_and(|c| {
                    c.steps_to_maximise_capacity == next.steps_to_maximise_capacity
                        && c.rights_promotion == next.rights_promotion
                        && c.meta.is_active()
                });
                if !same {
                    self.plan.capacity_support = Some(next);
                    self.mark(ItemKind::CapacitySupport, &fixed(ItemKind::CapacitySupport));
                }
            }
            RecordCapacityAssessment {
                id,
                decision,
                outcome,
                assessed_by,
                assessed_on,
                reasoning,
            } => {
                if let Some(id) = self.new_id(id) {
                    let a = CapacityAssessment {
                        meta: self.meta(),
                        decision: decision.clone(),
                        outcome: *outcome,
                        assessed_by: assessed_by.clone(),
                        assessed_on: *assessed_on,
                        reasoning: reasoning.clone(),
                    };
                    self.plan.capacity_assessments.insert(id.clone(), a);
                    self.mark(ItemKind::CapacityAssessment, &id);
                }
            }
            RecordBestInterestDecision {
                id,
                decision,
                assessment,
                decision_maker,
                consulted,
                rationale,
                decided_on,
            } => {
                self.check_link(
                    assessment,
                    &[ItemKind::CapacityAssessment],
                    "capacity assessment",
                    "/assessment",
                    false,
                );
                if let Some(a) = self.plan.capacity_assessments.get(assessment)
                    && a.outcome == CapacityOutcome::HasCapacity
                {
                    self.issue(
                        IssueCode::Capacity,
                        "/assessment",
                        "A best-interest decision can only follow an assessment that found the person lacks capacity for the decision",
                    );
                }
                if consulted.is_empty() {
                    self.issue(
                        IssueCode::Invalid,
                        "/consulted",
                        "Say who was consulted before the best-interest decision was made",
                    );
                }
                if let Some(id) = self.new_id(id) {
                    let d = BestInterestDecision {
                        meta: self.meta(),
                        decision: decision.clone(),
                        assessment: assessment.clone(),
                        decision_maker: decision_maker.clone(),
                        consulted: consulted.clone(),
                        rationale: rationale.clone(),
                        decided_on: *decided_on,
                    };
                    self.plan.best_interest_decisions.insert(id.clone(), d);
                    self.mark(ItemKind::BestInterestDecision, &id);
                }
            }
            SetFundingSource {
                source,
                details_held_at,
            } => {
                if details_held_at
                    .as_ref()
                    .is_some_and(|d| mentions_money(d.as_str()))
                {
                    self.issue(
                        IssueCode::FundingDetail,
                        "/details_held_at",
                        "Record only where the funding details are held, not amounts: the plan holds the source of funding only",
                    );
                    return;
                }
                let same = self.plan.funding.as_ref().is_some_and(|f| {
                    f.source == *source
                        && f.details_held_at == *details_held_at
                        && f.meta.is_active()
                });
                if !same {
                    let meta = self.plan.funding.as_ref().map_or_else(
                        || self.meta(),
                        |f| ItemMeta {
                            changed: stamp.clone(),
                            archived: None,
                            ..f.meta.clone()
                        },
                    );
                    self.plan.funding = Some(FundingSource {
                        meta,
                        source: *source,
                        details_held_at: details_held_at.clone(),
                    });
                    self.mark(ItemKind::Funding, &fixed(ItemKind::Funding));
                }
            }
            SetWeeklySchedule { schedule } => {
                let same = self
                    .plan
                    .schedule
                    .as_ref()
                    .is_some_and(|s| s.week == *schedule && s.meta.is_active());
                if !same {
                    let meta = self.plan.schedule.as_ref().map_or_else(
                        || self.meta(),
                        |s| ItemMeta {
                            changed: stamp.clone(),
                            archived: None,
                            ..s.meta.clone()
                        },
                    );
                    self.plan.schedule = Some(CareSchedule {
                        meta,
                        week: schedule.clone(),
                    });
                    self.mark(ItemKind::Schedule, &fixed(ItemKind::Schedule));
                }
            }
            SetConsentPreference {
                scope,
                audience,
                visible,
            } => {
                let existing = self.plan.consent.iter_mut().find(|(_, p)| {
                    p.meta.is_active() && p.scope == *scope && p.audience == *audience
                });
                match existing {
                    Some((id, mut p)) => {
                        if p.visible != *visible {
                            p.visible = *visible;
                            p.meta.changed = stamp.clone();
                            let id = id.clone();
                            self.mark(ItemKind::ConsentPreference, &id);
                        }
                    }
                    None => {
                        // Preference ids are derived from the version that created them: one
                        // command makes at most one preference, so they cannot collide.
                        let id = ItemId::parse(&format!("consent-v{}", stamp.version))
                            .expect("valid id");
                        if self.plan.id_in_use(&id) {
                            self.issue(
                                IssueCode::DuplicateId,
                                "",
                                format!("This plan already has an item with id {id}"),
                            );
                            return;
                        }
                        let p = ConsentPreference {
                            meta: self.meta(),
                            scope: *scope,
                            audience: audience.clone(),
                            visible: *visible,
                        };
                        self.plan.consent.insert(id.clone(), p);
                        self.mark(ItemKind::ConsentPreference, &id);
                    }
                }
            }
            Archive { id, reason } => self.archive(id, reason),
            Restore { id } => self.restore(id),
        }
    }

    fn check_goal_links(&mut self, addresses: &[ItemId], strengths: &[ItemId]) {
        if addresses.is_empty() {
            self.issue(
                IssueCode::GoalWithoutNeed,
                "/addresses",
                "A goal must be linked to at least one need, concern or problem",
            );
        }
        for (i, need) in addresses.iter().enumerate() {
            self.check_link(
                need,
                &[ItemKind::Need, ItemKind::Concern, ItemKind::Problem],
                "need, concern or problem",
                &format!("/addresses/{i}"),
                false,
            );
        }
        self.check_strength_links(strengths);
    }

    fn check_strength_links(&mut self, strengths: &[ItemId]) {
        for (i, s) in strengths.iter().enumerate() {
            self.check_link(
                s,
                &[ItemKind::Strength],
                "strength",
                &format!("/strengths/{i}"),
                false,
            );
        }
    }

    /// CSP-11: when a need, concern, problem or strength changes importance, the active goals
    /// linked to it are flagged for review.
    fn flag_goals_for_review(&mut self, changed: &ItemId, what: &str) {
        let stamp = self.stamp;
        let mut flagged = Vec::new();
        for (gid, mut g) in self.plan.goals.iter_mut() {
            if g.meta.is_active()
                && (g.addresses.contains(changed) || g.strengths.contains(changed))
            {
                g.review = Some(ReviewFlag {
                    raised_in: stamp.version,
                    because_of: changed.clone(),
                    reason: Text::new(&format!("The importance of the {what} {changed} changed"))
                        .expect("non-empty"),
                });
                g.meta.changed = stamp.clone();
                flagged.push(gid.clone());
            }
        }
        for gid in flagged {
            self.mark(ItemKind::Goal, &gid);
        }
    }

    fn rank_goals(&mut self, order: &[ItemId]) {
        let active: BTreeSet<ItemId> = self
            .plan
            .goals
            .iter()
            .filter(|(_, g)| g.meta.is_active())
            .map(|(id, _)| id.clone())
            .collect();
        let listed: BTreeSet<ItemId> = order.iter().cloned().collect();
        if listed.len() != order.len() {
            self.issue(
                IssueCode::Ranking,
                "/order",
                "Each goal may appear only once in the order",
            );
        }
        let missing: Vec<String> = active
            .difference(&listed)
            .map(|id| id.to_string())
            .collect();
        if !missing.is_empty() {
            self.issue(
                IssueCode::Ranking,
                "/order",
                format!(
                    "The order must list every active goal; missing: {}",
                    missing.join(", ")
                ),
            );
        }
        let extra: Vec<String> = listed
            .difference(&active)
            .map(|id| id.to_string())
            .collect();
        if !extra.is_empty() {
            self.issue(
                IssueCode::Ranking,
                "/order",
                format!(
                    "These are not active goals of this plan: {}",
                    extra.join(", ")
                ),
            );
        }
        if !self.issues.is_empty() {
            return;
        }
        for (position, id) in order.iter().enumerate() {
            let rank = Some(position as u32 + 1);
            let mut g = self.plan.goals.get_mut(id).expect("checked above");
            if g.rank != rank {
                g.rank = rank;
                g.meta.changed = self.stamp.clone();
                self.changed
                    .insert(ItemKey::new(ItemKind::Goal, id.clone()));
            }
        }
    }

    fn archive_goal(&mut self, id: &ItemId, moves: &[ActionMove], reason: &Option<Text>) {
        if active_mut(&mut self.plan.goals, id, "goal", "/id", &mut self.issues).is_none() {
            return;
        }
        let mut moving = BTreeMap::new();
        for (i, m) in moves.iter().enumerate() {
            let path = format!("/move_actions/{i}");
            match self.plan.actions.get(&m.action) {
                Some(a) if a.goal == *id && a.meta.is_active() => {}
                _ => {
                    self.issue(
                        IssueCode::BrokenLink,
                        &format!("{path}/action"),
                        format!("{} is not an active action of goal {id}", m.action),
                    );
                    continue;
                }
            }
            if m.to_goal == *id {
                self.issue(
                    IssueCode::Invalid,
                    &format!("{path}/to_goal"),
                    "An action cannot move to the goal being archived",
                );
                continue;
            }
            self.check_link(
                &m.to_goal,
                &[ItemKind::Goal],
                "goal",
                &format!("{path}/to_goal"),
                false,
            );
            if moving.insert(m.action.clone(), m.to_goal.clone()).is_some() {
                self.issue(
                    IssueCode::Invalid,
                    &format!("{path}/action"),
                    format!("Action {} is moved twice", m.action),
                );
            }
        }
        if !self.issues.is_empty() {
            return;
        }
        let archived = Archived {
            stamp: self.stamp.clone(),
            reason: reason.clone(),
        };
        let mut touched = vec![ItemKey::new(ItemKind::Goal, id.clone())];
        for (aid, mut action) in self
            .plan
            .actions
            .iter_mut()
            .filter(|(_, a)| a.goal == *id && a.meta.is_active())
        {
            match moving.get(aid) {
                Some(to) => action.goal = to.clone(),
                None => action.meta.archived = Some(archived.clone()),
            }
            action.meta.changed = self.stamp.clone();
            touched.push(ItemKey::new(ItemKind::Action, aid.clone()));
        }
        let mut goal = self.plan.goals.get_mut(id).expect("checked above");
        goal.meta.archived = Some(archived);
        goal.meta.changed = self.stamp.clone();
        self.changed.extend(touched);
    }

    /// Archives any item but a goal's special case, which `archive_goal` handles.
    fn archive(&mut self, id: &ItemId, reason: &Option<Text>) {
        let Some(kind) = self.plan.kind_of(id) else {
            self.issue(
                IssueCode::NotFound,
                "/id",
                format!("There is no item with id {id} in this plan"),
            );
            return;
        };
        match kind {
            ItemKind::Goal => return self.archive_goal(id, &[], reason),
            ItemKind::Details | ItemKind::Person => {
                self.issue(
                    IssueCode::WrongKind,
                    "/id",
                    "The plan's details and the person cannot be archived",
                );
                return;
            }
            _ => {}
        }
        let archived = Archived {
            stamp: self.stamp.clone(),
            reason: reason.clone(),
        };
        let key = ItemKey::new(kind, id.clone());
        let stamp = self.stamp.clone();
        let done = self.with_meta_mut(&key, |meta| {
            if meta.archived.is_some() {
                return false;
            }
            meta.archived = Some(archived);
            meta.changed = stamp;
            true
        });
        if done {
            self.changed.insert(key);
        } else {
            self.issue(
                IssueCode::Archived,
                "/id",
                format!("{id} is already archived"),
            );
        }
    }

    fn restore(&mut self, id: &ItemId) {
        let Some(kind) = self.plan.kind_of(id) else {
            self.issue(
                IssueCode::NotFound,
                "/id",
                format!("There is no item with id {id} in this plan"),
            );
            return;
        };
        let key = ItemKey::new(kind, id.clone());
        let stamp = self.stamp.clone();
        let done = self.with_meta_mut(&key, |meta| {
            if meta.archived.is_none() {
                return false;
            }
            meta.archived = None;
            meta.changed = stamp;
            true
        });
        if done {
            if kind == ItemKind::Goal {
                self.rerank_restored_goal(id);
            }
            self.changed.insert(key);
        } else {
            self.issue(IssueCode::NoChange, "/id", format!("{id} is not archived"));
        }
    }

    /// A restored goal keeps its place in the person's order unless another active goal has
    /// taken it since (ranks are unique among active goals); then it goes last, as a new goal.
    fn rerank_restored_goal(&mut self, id: &ItemId) {
        let taken: BTreeSet<u32> = self
            .plan
            .goals
            .iter()
            .filter(|(gid, g)| *gid != id && g.meta.is_active())
            .filter_map(|(_, g)| g.rank)
            .collect();
        let mut goal = self.plan.goals.get_mut(id).expect("restored goal");
        if goal.rank.is_none_or(|r| taken.contains(&r)) {
            goal.rank = Some(taken.last().map_or(1, |r| r + 1));
        }
    }

    fn with_meta_mut(&mut self, key: &ItemKey, f: impl FnOnce(&mut ItemMeta) -> bool) -> bool {
        self.plan.meta_mut(key).is_some_and(f)
    }

    /// CSP-12: the first change after an agreement marks it as being for an earlier version.
    /// Every active agreement not yet marked is, not only the latest: a person's agreement
    /// followed by a "could not be obtained" record is still for the version before the change.
    fn supersede_agreement(&mut self) {
        let version = self.stamp.version;
        let mut marked = Vec::new();
        for (id, mut a) in self.plan.agreements.iter_mut() {
            if a.meta.is_active() && a.superseded_in.is_none() {
                a.superseded_in = Some(version);
                a.meta.changed = self.stamp.clone();
                marked.push(id.clone());
            }
        }
        for id in marked {
            self.mark(ItemKind::Agreement, &id);
        }
    }
}

fn fixed(kind: ItemKind) -> ItemId {
    kind.fixed_id().expect("plan-level kind")
}

fn set_if_some<T: Clone + PartialEq>(field: &mut T, value: &Option<T>) -> bool {
    match value {
        Some(v) if field != v => {
            *field = v.clone();
            true
        }
        _ => false,
    }
}

fn dedup(ids: &[ItemId]) -> Vec<ItemId> {
    let mut seen = BTreeSet::new();
    ids.iter().filter(|id| seen.insert(*id)).cloned().collect()
}
