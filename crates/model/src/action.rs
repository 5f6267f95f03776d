//! CSP-8 Actions: what will be done towards a goal, by whom, when, and how confident the person
//! is to carry it out.

use serde::{Deserialize, Serialize};

use crate::meta::ItemMeta;
use crate::values::{Confidence, ItemId, Text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PerformerKind {
    /// The person themselves.
    Person,
    Carer,
    Representative,
    Practitioner,
    Organisation,
    Other,
}

impl PerformerKind {
    pub fn label(self) -> &'static str {
        match self {
            PerformerKind::Person => "the person",
            PerformerKind::Carer => "carer",
            PerformerKind::Representative => "representative",
            PerformerKind::Practitioner => "practitioner",
            PerformerKind::Organisation => "organisation",
            PerformerKind::Other => "other",
        }
    }
}

/// Who does an action. `name` and `organisation` let a professional's own system find the actions
/// that are its focus (CSP-10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Performer {
    pub kind: PerformerKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<Text>,
}

impl Performer {
    pub fn display(&self) -> String {
        let mut out = match &self.name {
            Some(name) => name.to_string(),
            None => self.kind.label().to_owned(),
        };
        if let Some(org) = &self.organisation {
            out.push_str(&format!(" ({org})"));
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    #[default]
    NotStarted,
    InProgress,
    OnHold,
    Completed,
    Cancelled,
}

impl ActionStatus {
    pub fn label(self) -> &'static str {
        match self {
            ActionStatus::NotStarted => "not started",
            ActionStatus::InProgress => "in progress",
            ActionStatus::OnHold => "on hold",
            ActionStatus::Completed => "completed",
            ActionStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub meta: ItemMeta,
    /// The goal this action works towards.
    pub goal: ItemId,
    pub description: Text,
    pub performer: Performer,
    /// When or how often, in words ("every Tuesday morning", "by the end of March").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<Text>,
    #[serde(default)]
    pub status: ActionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
}
