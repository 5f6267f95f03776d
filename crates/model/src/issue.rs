//! Why a command was refused: every problem at once, each with a code, a path and a sentence.
//!
//! The same list maps onto FHIR OperationOutcome issues, RFC 9457 problem details and a page's
//! error summary, so callers never parse messages.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueCode {
    /// A value is not acceptable (out of range, empty, wrong format).
    Invalid,
    /// An id names nothing in this plan.
    NotFound,
    /// An id names an item of another kind than the command needs.
    WrongKind,
    /// The item is archived; restore it first.
    Archived,
    /// An item with this id already exists.
    DuplicateId,
    /// The command needs an id and none was given (the store fills ids in before applying).
    MissingId,
    /// The plan already exists.
    AlreadyExists,
    /// The command would change nothing.
    NoChange,
    /// CSP-9: an active goal must address at least one active need, concern or problem.
    GoalWithoutNeed,
    /// An active action must belong to an active goal.
    ActionWithoutGoal,
    /// A link points at something that does not exist or is of the wrong kind.
    BrokenLink,
    /// A ranking must list every active goal exactly once.
    Ranking,
    /// CSP-12: a best-interest decision needs an assessment that found a lack of capacity.
    Capacity,
    /// CSP-13: the funding section holds the source only, never amounts.
    FundingDetail,
    /// The version being written is not the one after the plan's current version.
    Version,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub code: IssueCode,
    /// Where: a JSON pointer into the command (`/priority`) or a plan path (`/goals/g1/addresses`).
    pub path: String,
    /// One sentence for a person.
    pub message: String,
}

impl Issue {
    pub fn new(code: IssueCode, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Joins issues into one paragraph for a terminal or a log line.
pub fn sentences(issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| {
            let m = i.message.trim_end_matches('.');
            format!("{m}.")
        })
        .collect::<Vec<_>>()
        .join(" ")
}
