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

impl Target {
    /// The target named by the parts a query string or form gives: `on` (`plan` when absent,
    /// `section` or `item`), with `section` or `item`. The error is a sentence.
    pub fn from_parts(
        on: Option<&str>,
        section: Option<&str>,
        item: Option<&str>,
    ) -> Result<Target, String> {
        match on.unwrap_or("plan") {
            "plan" => Ok(Target::Plan),
            "section" => {
                let name =
                    section.ok_or("With on=section, name the section, e.g. section=goals")?;
                let section = Section::parse(name).ok_or_else(|| {
                    let keys: Vec<&str> = Section::ALL.iter().map(|s| s.key()).collect();
                    format!(
                        "“{name}” is not a section of the plan; the sections are: {}",
                        keys.join(", ")
                    )
                })?;
                Ok(Target::Section { section })
            }
            "item" => {
                let raw = item.ok_or("With on=item, name the item, e.g. item=goal-walk")?;
                let item = ItemId::parse(raw).map_err(|_| format!("“{raw}” is not an item id"))?;
                Ok(Target::Item { item })
            }
            other => Err(format!(
                "“{other}” is not something a file can be attached to: on must be plan, section or item"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comment {
    pub meta: ItemMeta,
    pub target: Target,
    pub text: Text,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp2_targets_are_read_from_query_parts() {
        assert_eq!(Target::from_parts(None, None, None), Ok(Target::Plan));
        assert_eq!(
            Target::from_parts(Some("section"), Some("care_team"), None),
            Ok(Target::Section {
                section: Section::CareTeam
            })
        );
        assert_eq!(
            Target::from_parts(Some("item"), None, Some("goal-walk")),
            Ok(Target::Item {
                item: ItemId::parse("goal-walk").unwrap()
            })
        );
        for (on, section, item) in [
            (Some("section"), None, None),
            (Some("section"), Some("Goals"), None),
            (Some("item"), None, None),
            (Some("item"), None, Some("")),
            (Some("person"), None, None),
        ] {
            assert!(Target::from_parts(on, section, item).is_err());
        }
    }

    #[test]
    fn section_keys_are_their_json_names() {
        for s in Section::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.key());
            assert_eq!(Section::parse(s.key()), Some(s));
        }
    }
}
