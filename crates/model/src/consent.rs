//! CSP-1 The person's consent preferences, and the pure decision of which sections a viewer may
//! see. Membership of the care team and data-controller releases are checked by the edges that
//! know who is asking; this module answers "given this viewer, which sections are withheld".

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::meta::{ItemMeta, Role};
use crate::plan::{Plan, Section};
use crate::values::Text;

/// What a preference covers: the whole plan or one section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentScope {
    WholePlan,
    Section(Section),
}

/// Whom a preference is about: everyone acting in a role, or one organisation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    Role(Role),
    Organisation(Text),
}

impl Audience {
    pub fn describe(&self) -> String {
        match self {
            Audience::Role(role) => format!("anyone acting as {}", role.label()),
            Audience::Organisation(org) => format!("people from {org}"),
        }
    }
}

/// "May this audience see this part of my plan?" The person (or their representative) sets these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentPreference {
    pub meta: ItemMeta,
    pub scope: ConsentScope,
    pub audience: Audience,
    pub visible: bool,
}

/// Who is looking, as far as consent is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub role: Role,
    pub organisation: Option<String>,
}

/// What a viewer may not see.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Withheld {
    pub sections: BTreeSet<Section>,
}

impl Withheld {
    pub fn is_nothing(&self) -> bool {
        self.sections.is_empty()
    }

    pub fn whole_plan(&self) -> bool {
        Section::ALL.iter().all(|s| self.sections.contains(s))
    }
}

/// Decides which sections `viewer` may not see under the person's current preferences.
///
/// The person, their representative and the system itself see everything. For anyone else the
/// most specific preference wins: one naming the viewer's organisation beats one naming their
/// role, and within the same audience a section preference beats a whole-plan one. With no
/// preference, a section is visible (access to the plan at all is decided by care-team
/// membership, outside this function).
pub fn withheld_from(plan: &Plan, viewer: &Viewer) -> Withheld {
    if matches!(
        viewer.role,
        Role::Person | Role::Representative | Role::System
    ) {
        return Withheld::default();
    }
    let active: Vec<&ConsentPreference> = plan
        .consent
        .values()
        .filter(|p| p.meta.is_active())
        .collect();
    let matches_audience = |p: &ConsentPreference, by_org: bool| match (&p.audience, by_org) {
        (Audience::Organisation(org), true) => viewer
            .organisation
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case(org.as_str())),
        (Audience::Role(role), false) => *role == viewer.role,
        _ => false,
    };
    let mut sections = BTreeSet::new();
    for section in Section::ALL {
        let mut decision = None;
        'search: for by_org in [true, false] {
            for scope in [ConsentScope::Section(section), ConsentScope::WholePlan] {
                if let Some(p) = active
                    .iter()
                    .find(|p| p.scope == scope && matches_audience(p, by_org))
                {
                    decision = Some(p.visible);
                    break 'search;
                }
            }
        }
        if decision == Some(false) {
            sections.insert(section);
        }
    }
    Withheld { sections }
}
