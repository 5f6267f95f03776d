//! CSP-12 Agreement of a plan version, mental capacity and best-interest decisions.

use serde::{Deserialize, Serialize};

use crate::meta::ItemMeta;
use crate::values::{Date, ItemId, Text, VersionNumber};

/// The legal authority under which a representative agrees on the person's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalAuthority {
    /// Lasting power of attorney for health and welfare (Mental Capacity Act 2005).
    LastingPowerOfAttorneyHealthAndWelfare,
    /// A deputy appointed by the Court of Protection for personal welfare.
    CourtAppointedDeputy,
    /// Another authority, described in `authority_reference`.
    Other,
}

impl LegalAuthority {
    pub fn label(self) -> &'static str {
        match self {
            LegalAuthority::LastingPowerOfAttorneyHealthAndWelfare => {
                "lasting power of attorney for health and welfare"
            }
            LegalAuthority::CourtAppointedDeputy => "court-appointed deputy",
            LegalAuthority::Other => "other legal authority",
        }
    }
}

/// Who agreed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "who", rename_all = "snake_case", deny_unknown_fields)]
pub enum AgreedBy {
    Person,
    Representative {
        name: Text,
        /// Their relationship to the person ("daughter", "solicitor").
        relationship: Text,
        legal_authority: LegalAuthority,
        /// E.g. the Office of the Public Guardian registration reference.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        authority_reference: Option<Text>,
    },
}

/// Whether agreement was obtained, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case", deny_unknown_fields)]
pub enum AgreementOutcome {
    Agreed { by: AgreedBy },
    NotObtained { reason: Text },
}

impl AgreementOutcome {
    /// In words: "agreed by the person", "agreed by Susan Marlowe (daughter, lasting power of
    /// attorney for health and welfare)", "not obtained: …".
    pub fn describe(&self) -> String {
        match self {
            AgreementOutcome::Agreed {
                by: AgreedBy::Person,
            } => "agreed by the person".to_owned(),
            AgreementOutcome::Agreed {
                by:
                    AgreedBy::Representative {
                        name,
                        relationship,
                        legal_authority,
                        ..
                    },
            } => format!(
                "agreed by {name} ({relationship}, {})",
                legal_authority.label()
            ),
            AgreementOutcome::NotObtained { reason } => format!("not obtained: {reason}"),
        }
    }
}

/// The record that a specific version of the plan was agreed (or why it could not be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agreement {
    pub meta: ItemMeta,
    /// The version agreed: the version that recorded the agreement, whose content is exactly the
    /// plan the person (or representative) was shown plus this record.
    pub agreed_version: VersionNumber,
    pub outcome: AgreementOutcome,
    /// The first later version that changed the plan: from then on this agreement is for an
    /// earlier version of the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_in: Option<VersionNumber>,
}

/// The person's own steps and rights: what was done to help them decide for themselves, and how
/// their rights are promoted. One per plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacitySupport {
    pub meta: ItemMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps_to_maximise_capacity: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rights_promotion: Option<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapacityOutcome {
    HasCapacity,
    LacksCapacity,
}

impl CapacityOutcome {
    pub fn label(self) -> &'static str {
        match self {
            CapacityOutcome::HasCapacity => "has capacity for this decision",
            CapacityOutcome::LacksCapacity => "lacks capacity for this decision",
        }
    }
}

/// A decision-specific mental capacity assessment (Mental Capacity Act 2005, s2–3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityAssessment {
    pub meta: ItemMeta,
    /// The specific decision assessed ("whether to move into residential care").
    pub decision: Text,
    pub outcome: CapacityOutcome,
    pub assessed_by: Text,
    pub assessed_on: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Text>,
}

/// A best-interest decision (Mental Capacity Act 2005, s4), made when the person lacks capacity
/// for a decision and has no legal representative for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BestInterestDecision {
    pub meta: ItemMeta,
    pub decision: Text,
    /// The capacity assessment that found the person lacks capacity for this decision.
    pub assessment: ItemId,
    pub decision_maker: Text,
    /// The people consulted (family, carers, an IMCA).
    pub consulted: Vec<Text>,
    pub rationale: Text,
    pub decided_on: Date,
}
