//! Fresh ids. Randomness is I/O, so ids are made here at the edge and handed to the model.

use careplan_model::{ItemId, ItemKind, PersonId, PlanId};

pub fn new_plan_id() -> PlanId {
    PlanId::parse(&uuid::Uuid::new_v4().to_string()).expect("a UUID is a valid id")
}

pub fn new_person_id() -> PersonId {
    PersonId::parse(&uuid::Uuid::new_v4().to_string()).expect("a UUID is a valid id")
}

/// A short id a person can read and type: the kind, then eight base-32 characters
/// (`goal-k3x9m2pq`). Unique within a plan with overwhelming probability; the model refuses a
/// duplicate rather than overwriting.
pub fn new_item_id(kind: ItemKind) -> ItemId {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let prefix = match kind {
        ItemKind::CareTeamMember => "team",
        ItemKind::Strength => "strength",
        ItemKind::Need => "need",
        ItemKind::Concern => "concern",
        ItemKind::Problem => "problem",
        ItemKind::Goal => "goal",
        ItemKind::Action => "action",
        ItemKind::Outcome => "outcome",
        ItemKind::Progress => "progress",
        ItemKind::Suggestion => "suggestion",
        ItemKind::Comment => "comment",
        ItemKind::Attachment => "attachment",
        ItemKind::Hyperlink => "link",
        ItemKind::Agreement => "agreement",
        ItemKind::CapacityAssessment => "capacity",
        ItemKind::BestInterestDecision => "best-interest",
        ItemKind::ConsentPreference => "consent",
        ItemKind::Details
        | ItemKind::Person
        | ItemKind::CapacitySupport
        | ItemKind::Funding
        | ItemKind::Schedule => "item",
    };
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let suffix: String = bytes[..8]
        .iter()
        .map(|b| ALPHABET[(*b & 31) as usize] as char)
        .collect();
    ItemId::parse(&format!("{prefix}-{suffix}")).expect("valid id")
}
