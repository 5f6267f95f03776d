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

/// What a plan body depends on: which plan, which version, and what the reader may not see.
/// A version never changes, so a body made for one key is right for as long as it is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BodyKey {
    pub plan: careplan_model::PlanId,
    pub version: VersionNumber,
    pub latest: VersionNumber,
    pub withheld: Vec<Section>,
    pub releases_used: Vec<String>,
}

/// Serialised plan bodies, so many readers of the same plan version cost one serialisation.
/// Bounded: when full, one entry makes way for the new one.
#[derive(Debug, Default)]
pub struct PlanBodies {
    bodies: std::sync::Mutex<std::collections::HashMap<BodyKey, bytes::Bytes>>,
}

impl PlanBodies {
    const CAPACITY: usize = 512;

    /// The JSON body of `plan` for `key`, made once.
    pub fn get_or_make(&self, key: BodyKey, plan: &Plan) -> bytes::Bytes {
        let lock = || self.bodies.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(body) = lock().get(&key) {
            return body.clone();
        }
        let value = self::plan(plan, key.latest, &key.withheld, &key.releases_used);
        let body = bytes::Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        let mut bodies = lock();
        if bodies.len() >= Self::CAPACITY
            && let Some(victim) = bodies.keys().next().cloned()
        {
            bodies.remove(&victim);
        }
        bodies.insert(key, body.clone());
        body
    }
}
