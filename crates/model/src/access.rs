//! CSP-1 Who may read a plan, and which parts: the pure access decision made before every read.
//!
//! Membership decides whether someone may open the plan at all (the person and those linked to
//! them; practitioners on the care team; the system). The person's consent preferences then
//! decide which sections are withheld, and a data controller's release can lift that for a
//! named audience, for a recorded reason, until an expiry. The decision says which releases it
//! used, so every use can be audited and shown to the person.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::consent::{Audience, ConsentScope, Viewer, Withheld, withheld_from};
use crate::meta::Role;
use crate::plan::{Plan, Section};
use crate::values::{PersonId, Text, Timestamp};

/// Who is asking, as far as access to plans is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    /// The account (or token) id: matched against care team members' `account`.
    pub account: String,
    pub role: Role,
    /// For the person, a representative or a carer: whose plan they are linked to.
    pub person: Option<PersonId>,
    pub organisation: Option<String>,
}

/// A data controller's release of all or part of a restricted plan (CSP-1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub id: String,
    /// The whole plan, or the listed sections.
    pub scope: ConsentScope,
    /// Who may now see it.
    pub audience: Audience,
    pub reason: Text,
    pub granted_by: Text,
    pub granted_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Release {
    fn applies_to(&self, requester: &Requester, now: Timestamp) -> bool {
        now < self.expires_at
            && match &self.audience {
                Audience::Role(role) => *role == requester.role,
                Audience::Organisation(org) => requester
                    .organisation
                    .as_deref()
                    .is_some_and(|o| o.eq_ignore_ascii_case(org.as_str())),
            }
    }

    fn covers(&self, section: Section) -> bool {
        match self.scope {
            ConsentScope::WholePlan => true,
            ConsentScope::Section(s) => s == section,
        }
    }
}

/// Why someone may not open a plan at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Denial {
    /// A practitioner who is not on the person's care team.
    NotOnCareTeam,
    /// Someone linked to another person (or to no one).
    NotLinkedToPerson,
    /// Administrators manage accounts, not care records.
    RoleHasNoAccess,
    /// The person withheld the whole plan from this viewer and no release covers it.
    WithheldByConsent,
}

impl Denial {
    pub fn sentence(self) -> &'static str {
        match self {
            Denial::NotOnCareTeam => "Only members of the person's care team may see this plan",
            Denial::NotLinkedToPerson => {
                "You may only see the plan of the person your account is linked to"
            }
            Denial::RoleHasNoAccess => "Your role does not give access to care records",
            Denial::WithheldByConsent => "The person has chosen not to share this plan with you",
        }
    }
}

/// The outcome of an access decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Denied(Denial),
    Granted {
        /// Sections not shown to this requester.
        withheld: Withheld,
        /// Releases that made otherwise-withheld sections visible (each use is audited).
        releases_used: Vec<String>,
    },
}

/// Decides whether `requester` may read `plan` now, and what they may see.
pub fn decide(plan: &Plan, requester: &Requester, releases: &[Release], now: Timestamp) -> Access {
    let linked = requester.person.as_ref() == Some(&plan.details.person_id);
    let member = plan.care_team.values().any(|m| {
        m.meta.is_active()
            && m.account
                .as_ref()
                .is_some_and(|a| a.as_str() == requester.account)
    });
    let membership = match requester.role {
        Role::System | Role::DataController => Ok(()),
        Role::Person | Role::Representative | Role::Carer if linked => Ok(()),
        Role::Person | Role::Representative | Role::Carer => Err(Denial::NotLinkedToPerson),
        Role::Practitioner if member => Ok(()),
        Role::Practitioner => Err(Denial::NotOnCareTeam),
        Role::Administrator => Err(Denial::RoleHasNoAccess),
    };
    if let Err(denial) = membership {
        return Access::Denied(denial);
    }
    let viewer = Viewer {
        role: requester.role,
        organisation: requester.organisation.clone(),
    };
    let by_consent = withheld_from(plan, &viewer);
    let active: Vec<&Release> = releases
        .iter()
        .filter(|r| r.applies_to(requester, now))
        .collect();
    let mut sections = BTreeSet::new();
    let mut used = BTreeSet::new();
    for section in by_consent.sections {
        match active.iter().find(|r| r.covers(section)) {
            Some(r) => {
                used.insert(r.id.clone());
            }
            None => {
                sections.insert(section);
            }
        }
    }
    let withheld = Withheld { sections };
    // A data controller reads under consent like anyone else; the whole plan withheld from a
    // practitioner or carer means they cannot open it at all.
    if withheld.whole_plan() && requester.role != Role::DataController {
        return Access::Denied(Denial::WithheldByConsent);
    }
    Access::Granted {
        withheld,
        releases_used: used.into_iter().collect(),
    }
}

/// The plan as `withheld` allows it to be seen: withheld sections' items are removed, and so are
/// comments, attachments and links attached to them.
pub fn redact(plan: &Plan, withheld: &Withheld) -> Plan {
    if withheld.is_nothing() {
        return plan.clone();
    }
    let mut out = plan.clone();
    let hidden = |s: Option<Section>| s.is_some_and(|s| withheld.sections.contains(&s));
    for key in plan.item_keys() {
        if hidden(plan.section_of(&key)) {
            out.remove(&key);
        }
    }
    out
}

/// The sections a command reads from or writes to, judged against the plan it applies to.
/// Used to keep a viewer from changing what they may not see, and to withhold history entries
/// about withheld sections.
pub fn sections_touched(command: &crate::command::Command, plan: &Plan) -> BTreeSet<Section> {
    use crate::command::Command::*;
    use crate::comment::Target;
    let of_id = |id: &crate::values::ItemId| {
        plan.kind_of(id)
            .and_then(|kind| plan.section_of(&crate::plan::ItemKey::new(kind, id.clone())))
    };
    let of_target = |t: &Target| match t {
        Target::Plan => None,
        Target::Section { section } => Some(*section),
        Target::Item { item } => of_id(item),
    };
    let mut out = BTreeSet::new();
    let mut add = |s: Option<Section>| {
        if let Some(s) = s {
            out.insert(s);
        }
    };
    match command {
        CreatePlan { .. } | UpdatePerson { .. } | SetPlanStatus { .. } | SetReviewDate { .. } => {}
        SetConsentPreference { .. } => {}
        AddCareTeamMember { .. } => add(Some(Section::CareTeam)),
        AddStrength { .. } | EditStrength { .. } => add(Some(Section::Strengths)),
        AddNeed { .. } | EditNeed { .. } => add(Some(Section::Needs)),
        AddConcern { .. } | EditConcern { .. } => add(Some(Section::Concerns)),
        AddProblem { .. } | EditProblem { .. } => add(Some(Section::Problems)),
        AddGoal {
            addresses,
            strengths,
            ..
        } => {
            add(Some(Section::Goals));
            addresses
                .iter()
                .chain(strengths)
                .for_each(|id| add(of_id(id)));
        }
        EditGoal {
            id,
            addresses,
            strengths,
            ..
        } => {
            add(of_id(id));
            addresses
                .iter()
                .flatten()
                .chain(strengths.iter().flatten())
                .for_each(|id| add(of_id(id)));
        }
        RankGoals { .. } => add(Some(Section::Goals)),
        ReviewGoal { id, .. } => add(of_id(id)),
        ArchiveGoal {
            id, move_actions, ..
        } => {
            add(of_id(id));
            if !move_actions.is_empty() {
                add(Some(Section::Actions));
            }
            if plan.actions.values().any(|a| a.goal == *id) {
                add(Some(Section::Actions));
            }
        }
        AddAction { goal, .. } => {
            add(Some(Section::Actions));
            add(of_id(goal));
        }
        EditAction { id, goal, .. } => {
            add(of_id(id));
            if let Some(goal) = goal {
                add(of_id(goal));
            }
        }
        CompleteAction { id } => add(of_id(id)),
        SuggestActionChange {
            action, changes, ..
        } => {
            add(of_id(action));
            if let Some(goal) = &changes.goal {
                add(of_id(goal));
            }
        }
        AcceptSuggestion { id } | DeclineSuggestion { id, .. } => {
            add(Some(Section::Actions));
            if let Some(s) = plan.suggestions.get(id)
                && let Some(goal) = &s.changes.goal
            {
                add(of_id(goal));
            }
        }
        RecordOutcome { goal, .. } => {
            add(Some(Section::Outcomes));
            add(of_id(goal));
        }
        RecordProgress { goal, .. } => add(of_id(goal).or(Some(Section::Goals))),
        AddComment { target, .. } | AddAttachment { target, .. } | AddHyperlink { target, .. } => {
            add(of_target(target))
        }
        RecordAgreement { .. } => add(Some(Section::Agreement)),
        SetCapacitySupport { .. }
        | RecordCapacityAssessment { .. }
        | RecordBestInterestDecision { .. } => add(Some(Section::Capacity)),
        SetFundingSource { .. } => add(Some(Section::Funding)),
        SetWeeklySchedule { .. } => add(Some(Section::Actions)),
        Archive { id, .. } | Restore { id } => add(of_id(id)),
    }
    out
}

/// Whether someone acting in `role` may issue `command` at all (before consent and membership).
///
/// Practitioners and the system write the plan (and accept or decline suggested changes). The
/// person and their representative comment, report progress, suggest changes to actions, agree
/// the plan and set who may see it; a carer comments, reports progress and suggests changes. An agreement must be recorded as given by whoever records it: the person's own, or
/// the representative's. Data controllers release records and administrators manage accounts:
/// neither changes plans.
pub fn may_command(role: Role, command: &crate::command::Command) -> bool {
    use crate::agreement::{AgreedBy, AgreementOutcome};
    use crate::command::Command::*;
    match role {
        Role::System | Role::Practitioner => !matches!(command, CreatePlan { .. }),
        Role::Person | Role::Representative => {
            let own_agreement = match command {
                RecordAgreement {
                    outcome: AgreementOutcome::Agreed { by },
                    ..
                } => matches!(by, AgreedBy::Person) == (role == Role::Person),
                _ => false,
            };
            own_agreement
                || matches!(
                    command,
                    AddComment { .. }
                        | RecordProgress { .. }
                        | SetConsentPreference { .. }
                        | SuggestActionChange { .. }
                )
        }
        Role::Carer => matches!(
            command,
            AddComment { .. } | RecordProgress { .. } | SuggestActionChange { .. }
        ),
        Role::DataController | Role::Administrator => false,
    }
}
