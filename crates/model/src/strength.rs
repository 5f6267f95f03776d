//! CSP-4 Strengths: what the person is good at or enjoys, linkable to goals.

use serde::{Deserialize, Serialize};

use crate::meta::ItemMeta;
use crate::values::{Priority, Text};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strength {
    pub meta: ItemMeta,
    pub description: Text,
    /// How much this strength matters to the person's goals, 1–10. A change flags the goals it
    /// supports for review (CSP-11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance: Option<Priority>,
}
