//! CSP-6 Goals and hopes: what the person wants to achieve, why it matters, how much.
//!
//! "Goal" (health) and "hope" (social care) are the same record with a different label.

use serde::{Deserialize, Serialize};

use crate::meta::ItemMeta;
use crate::values::{Date, ItemId, Priority, Text, VersionNumber};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GoalLabel {
    #[default]
    Goal,
    Hope,
}

impl GoalLabel {
    pub fn label(self) -> &'static str {
        match self {
            GoalLabel::Goal => "goal",
            GoalLabel::Hope => "hope",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GoalStatus {
    Proposed,
    #[default]
    Active,
    OnHold,
    Achieved,
    NotAchieved,
    Cancelled,
}

impl GoalStatus {
    pub fn label(self) -> &'static str {
        match self {
            GoalStatus::Proposed => "proposed",
            GoalStatus::Active => "active",
            GoalStatus::OnHold => "on hold",
            GoalStatus::Achieved => "achieved",
            GoalStatus::NotAchieved => "not achieved",
            GoalStatus::Cancelled => "cancelled",
        }
    }
}

/// Set on a goal when something it depends on changed importance (CSP-11), until someone
/// reviews or edits the goal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewFlag {
    pub raised_in: VersionNumber,
    /// The need, concern, problem or strength whose importance changed.
    pub because_of: ItemId,
    pub reason: Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    pub meta: ItemMeta,
    #[serde(default)]
    pub label: GoalLabel,
    pub description: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_it_matters: Option<Text>,
    /// Importance to the person, 1–10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// The person's order of importance: 1 first. Unique among active goals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<u32>,
    #[serde(default)]
    pub status: GoalStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_date: Option<Date>,
    /// The needs, concerns and problems this goal addresses. Never empty for an active goal.
    pub addresses: Vec<ItemId>,
    /// Strengths the person can draw on for this goal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strengths: Vec<ItemId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewFlag>,
}
