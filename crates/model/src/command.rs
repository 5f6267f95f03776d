//! Typed commands: every change anyone can make to a plan. Each accepted command becomes exactly
//! one new version, and the command is kept with it as the "what" of that version.
//!
//! Commands are data (serde, tagged by `type`), so the same value arrives from the CLI's JSON
//! files, the HTTP API, FHIR writes and web forms, and is stored in the history as sent.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::action::{ActionStatus, Performer};
use crate::agreement::{AgreementOutcome, CapacityOutcome};
use crate::attachment::{Purpose, Sha256Hex, WebAddress};
use crate::comment::Target;
use crate::consent::{Audience, ConsentScope};
use crate::funding::FundingSourceKind;
use crate::goal::{GoalLabel, GoalStatus};
use crate::need::{ConcernDomain, ExternalReference, RaisedBy, SnomedConcept};
use crate::outcome::{OutcomeStatus, ProgressValue};
use crate::person::Person;
use crate::plan::{ItemKind, PlanStatus};
use crate::suggestion::ActionChanges;
use crate::values::{Confidence, Date, ItemId, Priority, Text};

/// An edit of an optional field: leave it as it is (field absent), clear it (`null`), or set it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Change<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Change::Keep)
    }

    /// Applies the edit to `field`; true when the value changed.
    pub fn apply_to(&self, field: &mut Option<T>) -> bool
    where
        T: Clone + PartialEq,
    {
        let next = match self {
            Change::Keep => return false,
            Change::Clear => None,
            Change::Set(v) => Some(v.clone()),
        };
        if *field == next {
            false
        } else {
            *field = next;
            true
        }
    }
}

impl<T: Serialize> Serialize for Change<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Change::Keep | Change::Clear => s.serialize_none(),
            Change::Set(v) => s.serialize_some(v),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Change<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Change::Clear,
            Some(v) => Change::Set(v),
        })
    }
}

/// Where one of an archived goal's actions goes instead of being archived with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionMove {
    pub action: ItemId,
    pub to_goal: ItemId,
}

/// Every change to a plan. `id` on an add is optional on input: the store fills in a fresh one
/// before applying, so the stored command always names the id it created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Starts a person's plan (version 1).
    CreatePlan {
        person: Person,
    },
    UpdatePerson {
        person: Person,
    },
    SetPlanStatus {
        status: PlanStatus,
    },
    SetReviewDate {
        review_date: Option<Date>,
    },

    AddCareTeamMember {
        #[serde(default)]
        id: Option<ItemId>,
        name: Text,
        role: Text,
        #[serde(default)]
        organisation: Option<Text>,
        #[serde(default)]
        account: Option<Text>,
    },

    AddStrength {
        #[serde(default)]
        id: Option<ItemId>,
        description: Text,
        #[serde(default)]
        importance: Option<Priority>,
    },
    EditStrength {
        id: ItemId,
        #[serde(default)]
        description: Option<Text>,
        #[serde(default, skip_serializing_if = "Change::is_keep")]
        importance: Change<Priority>,
    },

    AddNeed {
        #[serde(default)]
        id: Option<ItemId>,
        description: Text,
        #[serde(default)]
        identified_by: Option<RaisedBy>,
        #[serde(default)]
        importance: Option<Priority>,
    },
    EditNeed {
        id: ItemId,
        #[serde(default)]
        description: Option<Text>,
        #[serde(default, skip_serializing_if = "Change::is_keep")]
        identified_by: Change<RaisedBy>,
        #[serde(default, skip_serializing_if = "Change::is_keep")]
        importance: Change<Priority>,
    },

    AddConcern {
        #[serde(default)]
        id: Option<ItemId>,
        description: Text,
        raised_by: RaisedBy,
        domain: ConcernDomain,
        #[serde(default)]
        importance: Option<Priority>,
    },
    EditConcern {
        id: ItemId,
        #[serde(default)]
        description: Option<Text>,
        #[serde(default)]
        raised_by: Option<RaisedBy>,
        #[serde(default)]
        domain: Option<ConcernDomain>,
        #[serde(default, skip_serializing_if = "Change::is_keep")]
        importance: Change<Priority>,
    },

    AddProblem {
        #[serde(default)]
        id: Option<ItemId>,
        description: Text,
        #[serde(default)]
        code: Option<SnomedConcept>,
        #[serde(default)]
        external_reference: Option<ExternalReference>,
        #[serde(default)]
        importance: Option<Priority>,
    },
    EditProblem {
        id: ItemId,
        #[serde(default)]
        description: Option<Text>,
        #[serde(default, skip_serializing_if = "Change::is_keep")]
        code: Change<SnomedConcept>,
        #[serde(default, skip_serializing_if = "Change::is_keep")]
        external_reference: Change<ExternalReference>,
        #[serde(default, skip_serializing_if = "Change::is_keep")]
        importance: Change<Priority>,
    },

    AddGoal {
        #[serde(default)]
        id: Option<ItemId>,
        #[serde(default)]
        label: GoalLabel,
        description: Text,
        #[serde(default)]
        why_it_matters: Option<Text>,
        #[serde(default)]
        priority: Option<Priority>,
        #[serde(default)]
        status: Option<GoalStatus>,
        #[serde(default)]
        target_date: Option<Date>,
        /// The needs, concerns or problems it addresses: at least one (CSP-9).
        addresses: Vec<ItemId>,
        #[serde(default)]
        strengths: Vec<ItemId>,
    },
    EditGoal {
        id: ItemId,
        #[serde(default)]
        label: Option<GoalLabel>,
        #[serde(default)]
        description: Option<Text>,
        #[serde(default, skip_serializing_if = "Change::is_keep")]
        why_it_matters: Change<Text>,
        #[serde(default, skip_serializing_if = "Change::is_keep")]
        priority: Change<Priority>,
        #[serde(default)]
        status: Option<GoalStatus>,
        #[serde(default, skip_serializing_if = "Change::is_keep")]
        target_date: Change<Date>,
        #[serde(default)]
        addresses: Option<Vec<ItemId>>,
        #[serde(default)]
        strengths: Option<Vec<ItemId>>,
    },
    /// Puts the active goals in the person's order of importance; lists every active goal once.
    RankGoals {
        order: Vec<ItemId>,
    },
    /// Marks a goal flagged for review as reviewed, with no other change.
    ReviewGoal {
        id: ItemId,
        #[serde(default)]
        note: Option<Text>,
    },
    /// Archives a goal. Its active actions are archived with it, except those listed in
    /// `move_actions`, which move to another active goal.
    ArchiveGoal {
        id: ItemId,
        #[serde(default)]
        move_actions: Vec<ActionMove>,
        #[serde(default)]
        reason: Option<Text>,
    },

    AddAction {
        #[serde(default)]
        id: Option<ItemId>,
        goal: ItemId,
        description: Text,
        performer: Performer,
        #[serde(default)]
        timing: Option<Text>,
        #[serde(default)]
        status: Option<ActionStatus>,
        #[serde(default)]
        confidence: Option<Confidence>,
    },
    EditAction {
        id: ItemId,
        /// Moves the action to another goal.
        #[serde(default)]
        goal: Option<ItemId>,
        #[serde(default)]
        description: Option<Text>,
        #[serde(default)]
        performer: Option<Performer>,
        #[serde(default, skip_serializing_if = "Change::is_keep")]
        timing: Change<Text>,
        #[serde(default)]
        status: Option<ActionStatus>,
        #[serde(default, skip_serializing_if = "Change::is_keep")]
        confidence: Change<Confidence>,
    },
    CompleteAction {
        id: ItemId,
    },
    /// Proposes an edit of an action without making it (CSP-8): it waits, open, for a
    /// practitioner to accept or decline it.
    SuggestActionChange {
        #[serde(default)]
        id: Option<ItemId>,
        action: ItemId,
        changes: ActionChanges,
        #[serde(default)]
        note: Option<Text>,
    },
    /// Accepts an open suggestion: its edit is applied to the action in this version.
    AcceptSuggestion {
        id: ItemId,
    },
    /// Declines an open suggestion, with the reason if one is given.
    DeclineSuggestion {
        id: ItemId,
        #[serde(default)]
        reason: Option<Text>,
    },

    RecordOutcome {
        #[serde(default)]
        id: Option<ItemId>,
        goal: ItemId,
        description: Text,
        status: OutcomeStatus,
        date: Date,
    },
    RecordProgress {
        #[serde(default)]
        id: Option<ItemId>,
        goal: ItemId,
        date: Date,
        progress: ProgressValue,
        #[serde(default)]
        note: Option<Text>,
    },

    AddComment {
        #[serde(default)]
        id: Option<ItemId>,
        target: Target,
        text: Text,
    },
    AddAttachment {
        #[serde(default)]
        id: Option<ItemId>,
        target: Target,
        title: Text,
        purpose: Purpose,
        content_type: Text,
        size_bytes: u64,
        sha256: Sha256Hex,
        #[serde(default)]
        description: Option<Text>,
    },
    AddHyperlink {
        #[serde(default)]
        id: Option<ItemId>,
        target: Target,
        title: Text,
        url: WebAddress,
        purpose: Purpose,
    },

    RecordAgreement {
        #[serde(default)]
        id: Option<ItemId>,
        outcome: AgreementOutcome,
    },
    SetCapacitySupport {
        #[serde(default)]
        steps_to_maximise_capacity: Option<Text>,
        #[serde(default)]
        rights_promotion: Option<Text>,
    },
    RecordCapacityAssessment {
        #[serde(default)]
        id: Option<ItemId>,
        decision: Text,
        outcome: CapacityOutcome,
        assessed_by: Text,
        assessed_on: Date,
        #[serde(default)]
        reasoning: Option<Text>,
    },
    RecordBestInterestDecision {
        #[serde(default)]
        id: Option<ItemId>,
        decision: Text,
        assessment: ItemId,
        decision_maker: Text,
        consulted: Vec<Text>,
        rationale: Text,
        decided_on: Date,
    },

    SetFundingSource {
        source: FundingSourceKind,
        #[serde(default)]
        details_held_at: Option<Text>,
    },
    /// Sets (replaces) the plan's weekly schedule: time slots × days, what happens and who helps.
    SetWeeklySchedule {
        schedule: crate::schedule::WeeklySchedule,
    },
    SetConsentPreference {
        scope: ConsentScope,
        audience: Audience,
        visible: bool,
    },

    /// Archives any other item (a goal archived this way takes its active actions with it).
    Archive {
        id: ItemId,
        #[serde(default)]
        reason: Option<Text>,
    },
    /// Brings an archived item back into the current view.
    Restore {
        id: ItemId,
    },
}

impl Command {
    /// The id slot of an add command and the kind of item it creates.
    fn new_item_slot(&mut self) -> Option<(&mut Option<ItemId>, ItemKind)> {
        use Command::*;
        Some(match self {
            AddCareTeamMember { id, .. } => (id, ItemKind::CareTeamMember),
            AddStrength { id, .. } => (id, ItemKind::Strength),
            AddNeed { id, .. } => (id, ItemKind::Need),
            AddConcern { id, .. } => (id, ItemKind::Concern),
            AddProblem { id, .. } => (id, ItemKind::Problem),
            AddGoal { id, .. } => (id, ItemKind::Goal),
            AddAction { id, .. } => (id, ItemKind::Action),
            RecordOutcome { id, .. } => (id, ItemKind::Outcome),
            RecordProgress { id, .. } => (id, ItemKind::Progress),
            SuggestActionChange { id, .. } => (id, ItemKind::Suggestion),
            AddComment { id, .. } => (id, ItemKind::Comment),
            AddAttachment { id, .. } => (id, ItemKind::Attachment),
            AddHyperlink { id, .. } => (id, ItemKind::Hyperlink),
            RecordAgreement { id, .. } => (id, ItemKind::Agreement),
            RecordCapacityAssessment { id, .. } => (id, ItemKind::CapacityAssessment),
            RecordBestInterestDecision { id, .. } => (id, ItemKind::BestInterestDecision),
            _ => return None,
        })
    }

    /// Fills in the id of an add command that came without one. `fresh` makes a new id for a
    /// kind; the edge supplies it (randomness is I/O, so the model never makes ids itself).
    pub fn fill_missing_id(&mut self, fresh: impl FnOnce(ItemKind) -> ItemId) {
        if let Some((slot, kind)) = self.new_item_slot()
            && slot.is_none()
        {
            *slot = Some(fresh(kind));
        }
    }

    /// The name of the command as it appears in JSON (`add_goal`).
    pub fn name(&self) -> &'static str {
        use Command::*;
        match self {
            CreatePlan { .. } => "create_plan",
            UpdatePerson { .. } => "update_person",
            SetPlanStatus { .. } => "set_plan_status",
            SetReviewDate { .. } => "set_review_date",
            AddCareTeamMember { .. } => "add_care_team_member",
            AddStrength { .. } => "add_strength",
            EditStrength { .. } => "edit_strength",
            AddNeed { .. } => "add_need",
            EditNeed { .. } => "edit_need",
            AddConcern { .. } => "add_concern",
            EditConcern { .. } => "edit_concern",
            AddProblem { .. } => "add_problem",
            EditProblem { .. } => "edit_problem",
            AddGoal { .. } => "add_goal",
            EditGoal { .. } => "edit_goal",
            RankGoals { .. } => "rank_goals",
            ReviewGoal { .. } => "review_goal",
            ArchiveGoal { .. } => "archive_goal",
            AddAction { .. } => "add_action",
            EditAction { .. } => "edit_action",
            CompleteAction { .. } => "complete_action",
            SuggestActionChange { .. } => "suggest_action_change",
            AcceptSuggestion { .. } => "accept_suggestion",
            DeclineSuggestion { .. } => "decline_suggestion",
            RecordOutcome { .. } => "record_outcome",
            RecordProgress { .. } => "record_progress",
            AddComment { .. } => "add_comment",
            AddAttachment { .. } => "add_attachment",
            AddHyperlink { .. } => "add_hyperlink",
            RecordAgreement { .. } => "record_agreement",
            SetCapacitySupport { .. } => "set_capacity_support",
            RecordCapacityAssessment { .. } => "record_capacity_assessment",
            RecordBestInterestDecision { .. } => "record_best_interest_decision",
            SetFundingSource { .. } => "set_funding_source",
            SetWeeklySchedule { .. } => "set_weekly_schedule",
            SetConsentPreference { .. } => "set_consent_preference",
            Archive { .. } => "archive",
            Restore { .. } => "restore",
        }
    }

    /// A short sentence saying what the command does, for history listings.
    pub fn summary(&self) -> String {
        use Command::*;
        match self {
            CreatePlan { person } => format!("Started the plan for {}", person.display_name()),
            UpdatePerson { .. } => "Updated the person's details".into(),
            SetPlanStatus { status } => format!("Set the plan's status to {}", status.label()),
            SetReviewDate {
                review_date: Some(d),
            } => format!("Set the review date to {d}"),
            SetReviewDate { review_date: None } => "Removed the review date".into(),
            AddCareTeamMember { name, role, .. } => {
                format!("Added {name} ({role}) to the care team")
            }
            AddStrength { description, .. } => format!("Added strength “{description}”"),
            EditStrength { id, .. } => format!("Edited strength {id}"),
            AddNeed { description, .. } => format!("Added need “{description}”"),
            EditNeed { id, .. } => format!("Edited need {id}"),
            AddConcern { description, .. } => format!("Added concern “{description}”"),
            EditConcern { id, .. } => format!("Edited concern {id}"),
            AddProblem { description, .. } => format!("Added problem “{description}”"),
            EditProblem { id, .. } => format!("Edited problem {id}"),
            AddGoal {
                label, description, ..
            } => format!("Added {} “{description}”", label.label()),
            EditGoal { id, .. } => format!("Edited goal {id}"),
            RankGoals { .. } => "Re-ordered the goals".into(),
            ReviewGoal { id, .. } => format!("Reviewed goal {id}"),
            ArchiveGoal {
                id, move_actions, ..
            } if move_actions.is_empty() => {
                format!("Archived goal {id} with its actions")
            }
            ArchiveGoal {
                id, move_actions, ..
            } => format!(
                "Archived goal {id}, moving {} action(s) to other goals",
                move_actions.len()
            ),
            AddAction { description, .. } => format!("Added action “{description}”"),
            EditAction { id, .. } => format!("Edited action {id}"),
            CompleteAction { id } => format!("Completed action {id}"),
            SuggestActionChange { action, .. } => format!("Suggested a change to action {action}"),
            AcceptSuggestion { id } => format!("Accepted suggestion {id}"),
            DeclineSuggestion { id, .. } => format!("Declined suggestion {id}"),
            RecordOutcome { description, .. } => format!("Recorded outcome “{description}”"),
            RecordProgress { progress, .. } => format!(
                "Recorded progress {} on the {} scale",
                progress.value(),
                progress.scale().label()
            ),
            AddComment { .. } => "Added a comment".into(),
            AddAttachment { title, .. } => format!("Attached “{title}”"),
            AddHyperlink { title, .. } => format!("Added link “{title}”"),
            RecordAgreement { outcome, .. } => match outcome {
                AgreementOutcome::Agreed { .. } => "Recorded agreement of the plan".into(),
                AgreementOutcome::NotObtained { .. } => {
                    "Recorded that agreement could not be obtained".into()
                }
            },
            SetCapacitySupport { .. } => "Updated steps to maximise capacity and rights".into(),
            RecordCapacityAssessment { decision, .. } => {
                format!("Recorded a capacity assessment for “{decision}”")
            }
            RecordBestInterestDecision { decision, .. } => {
                format!("Recorded a best-interest decision: “{decision}”")
            }
            SetFundingSource { source, .. } => {
                format!("Set the care funding source to {}", source.label())
            }
            SetWeeklySchedule { schedule } => format!(
                "Set the weekly schedule ({} time slots)",
                schedule.slots().len()
            ),
            SetConsentPreference {
                scope,
                audience,
                visible,
            } => {
                let what = match scope {
                    ConsentScope::WholePlan => "the whole plan".to_owned(),
                    ConsentScope::Section(s) => format!("the {} section", s.title()),
                };
                let verb = if *visible { "Shared" } else { "Withheld" };
                format!("{verb} {what} for {}", audience.describe())
            }
            Archive { id, .. } => format!("Archived {id}"),
            Restore { id } => format!("Restored {id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_read_from_json_with_their_type_tag() {
        let c: Command = serde_json::from_str(
            r#"{"type":"add_goal","description":"Walk to the shop","priority":8,"addresses":["need-1"]}"#,
        )
        .unwrap();
        assert_eq!(c.name(), "add_goal");
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["type"], "add_goal");
        assert_eq!(back["priority"], 8);
    }

    #[test]
    fn csp6_out_of_range_priority_is_refused_when_read() {
        let err = serde_json::from_str::<Command>(
            r#"{"type":"add_goal","description":"x","priority":11,"addresses":["n"]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("from 1 to 10"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused_not_dropped() {
        let err = serde_json::from_str::<Command>(
            r#"{"type":"add_need","description":"x","colour":"red"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn change_distinguishes_absent_null_and_value() {
        let keep: Command = serde_json::from_str(r#"{"type":"edit_goal","id":"g"}"#).unwrap();
        let clear: Command =
            serde_json::from_str(r#"{"type":"edit_goal","id":"g","priority":null}"#).unwrap();
        let set: Command =
            serde_json::from_str(r#"{"type":"edit_goal","id":"g","priority":3}"#).unwrap();
        let priority = |c: &Command| match c {
            Command::EditGoal { priority, .. } => priority.clone(),
            _ => unreachable!(),
        };
        assert_eq!(priority(&keep), Change::Keep);
        assert_eq!(priority(&clear), Change::Clear);
        assert_eq!(priority(&set), Change::Set(Priority::new(3).unwrap()));
        // Keep is not written back, so a stored command reads back the same.
        let json = serde_json::to_string(&keep).unwrap();
        assert!(!json.contains("priority"), "{json}");
    }

    #[test]
    fn missing_ids_are_filled_once() {
        let mut c: Command =
            serde_json::from_str(r#"{"type":"add_need","description":"x"}"#).unwrap();
        c.fill_missing_id(|kind| ItemId::parse(&format!("{}-1", kind.as_str())).unwrap());
        c.fill_missing_id(|_| ItemId::parse("other").unwrap());
        match c {
            Command::AddNeed { id, .. } => assert_eq!(id.unwrap().as_str(), "needs-1"),
            _ => unreachable!(),
        }
    }
}
