//! CSP-3 Comments on the plan, a section or an item. Comments are notes on the record, not
//! messages between people.

use serde::{Deserialize, Serialize};

use crate::meta::ItemMeta;
use crate::plan::Section;
use crate::values::{ItemId, Text};

/// What a comment, attachment or hyperlink is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    Plan,
    Section { section: Section },
    Item { item: ItemId },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comment {
    pub meta: ItemMeta,
    pub target: Target,
    pub text: Text,
}
