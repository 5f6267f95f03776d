//! Wire shapes shared by the API and the CLI's `--json` output.

use careplan_model::{Plan, Section, VersionNumber};
use serde_json::{Map, Value, json};

/// A plan for machines: every item by kind and id (archived ones included, marked in `meta`),
/// plus which sections were withheld from the reader and which releases were used.
pub fn plan(
    plan: &Plan,
    latest: VersionNumber,
    withheld: &[Section],
    releases_used: &[String],
) -> Value {
    let mut sections: Map<String, Value> = Map::new();
    for key in plan.item_keys() {
        let item = plan.get(&key).expect("listed key");
        let value = serde_json::to_value(item).unwrap_or(Value::Null);
        match key.kind.fixed_id() {
            Some(_) => {
                sections.insert(key.kind.as_str().to_owned(), value);
            }
            None => {
                let entry = sections
                    .entry(key.kind.as_str().to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = entry {
                    m.insert(key.id.to_string(), value);
                }
            }
        }
    }
    json!({
        "plan_id": plan.id,
        "person_id": plan.details.person_id,
        "version": plan.version,
        "latest_version": latest,
        "last_updated": plan.last_updated,
        "withheld": withheld,
        "releases_used": releases_used,
        "items": sections,
    })
}
