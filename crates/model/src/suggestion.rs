//! Suggested changes to an action (CSP-8): anyone involved in the plan may propose an edit of an
//! action — another time, another helper, a new description — without changing the plan. A
//! practitioner accepts it, which applies the edit as a new version made by them, or declines it
//! with a reason. Either way the suggestion stays in the plan's history.

use serde::{Deserialize, Serialize};

use crate::action::{ActionStatus, Performer};
use crate::command::Change;
use crate::meta::ItemMeta;
use crate::values::{Confidence, ItemId, Text, VersionNumber};

/// The edit an action would get: the same fields as `edit_action`, each left as it is when
/// absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ActionChanges {
    /// Moves the action to another goal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<ItemId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performer: Option<Performer>,
    #[serde(default, skip_serializing_if = "Change::is_keep")]
    pub timing: Change<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ActionStatus>,
    #[serde(default, skip_serializing_if = "Change::is_keep")]
    pub confidence: Change<Confidence>,
}

impl ActionChanges {
    /// True when the suggestion would change nothing at all.
    pub fn is_empty(&self) -> bool {
        self.goal.is_none()
            && self.description.is_none()
            && self.performer.is_none()
            && self.timing.is_keep()
            && self.status.is_none()
            && self.confidence.is_keep()
    }
}

/// Where a suggestion stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
pub enum SuggestionStatus {
    Open,
    /// Accepted: the edit was applied in this version.
    Accepted {
        in_version: VersionNumber,
    },
    Declined {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<Text>,
    },
}

impl SuggestionStatus {
    pub fn label(&self) -> &'static str {
        match self {
            SuggestionStatus::Open => "open",
            SuggestionStatus::Accepted { .. } => "accepted",
            SuggestionStatus::Declined { .. } => "declined",
        }
    }
}

/// A proposed edit of one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suggestion {
    pub meta: ItemMeta,
    /// The action it would change.
    pub action: ItemId,
    pub changes: ActionChanges,
    /// Why, in the suggester's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
    pub status: SuggestionStatus,
}
