//! Who did what when: the stamp every version and every item carries, and archiving.

use serde::{Deserialize, Serialize};

use crate::values::{Text, Timestamp, VersionNumber};

/// The roles people and systems act in. Access decisions (CSP-1) are made per role, and per
/// organisation where the person names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The person the plan is for.
    Person,
    /// A legal representative: lasting power of attorney for health and welfare, or a deputy.
    Representative,
    /// A carer the person has chosen.
    Carer,
    /// A nurse, social worker, GP, therapist or care worker on the person's care team.
    Practitioner,
    /// The organisation's information-governance lead, who may release a restricted record.
    DataController,
    /// Runs the service; manages accounts, not care.
    Administrator,
    /// The system itself acting on an operator's instruction (the CLI, an import).
    System,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Person,
        Role::Representative,
        Role::Carer,
        Role::Practitioner,
        Role::DataController,
        Role::Administrator,
        Role::System,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Role::Person => "the person",
            Role::Representative => "legal representative",
            Role::Carer => "carer",
            Role::Practitioner => "practitioner",
            Role::DataController => "data controller",
            Role::Administrator => "administrator",
            Role::System => "system",
        }
    }
}

/// Who made a change: a stable id (an account, a token, `system:cli`), a name for people to read,
/// and the role they acted in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub id: Text,
    pub name: Text,
    pub role: Role,
}

/// One committed version's who, when and number. Items carry the stamp of the version that
/// added them and of the version that last changed them, so "added at / added by" (CSP-2) and
/// "last updated" (CSP-14) are always derived, never typed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stamp {
    pub version: VersionNumber,
    pub at: Timestamp,
    pub by: Actor,
}

/// Why and when an item left the current view. Archived items are never deleted: earlier
/// versions show them as they were.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Archived {
    pub stamp: Stamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
}

/// Bookkeeping that every item has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemMeta {
    pub added: Stamp,
    pub changed: Stamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<Archived>,
}

impl ItemMeta {
    pub fn new(stamp: &Stamp) -> Self {
        Self {
            added: stamp.clone(),
            changed: stamp.clone(),
            archived: None,
        }
    }

    pub fn is_active(&self) -> bool {
        self.archived.is_none()
    }
}
