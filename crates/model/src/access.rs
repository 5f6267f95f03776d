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
