//! Outcomes of goals, and formal progress records towards them (CSP-3, CSP-6).

use serde::{Deserialize, Serialize};

use crate::meta::ItemMeta;
use crate::values::{Date, InvalidValue, ItemId, Text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    Achieved,
    PartlyAchieved,
    NotAchieved,
}

impl OutcomeStatus {
    pub fn label(self) -> &'static str {
        match self {
            OutcomeStatus::Achieved => "achieved",
            OutcomeStatus::PartlyAchieved => "partly achieved",
            OutcomeStatus::NotAchieved => "not achieved",
        }
    }
}

/// What happened for a goal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    pub meta: ItemMeta,
    pub goal: ItemId,
    pub description: Text,
    pub status: OutcomeStatus,
    pub date: Date,
}

/// The scale a progress value is on.
///
/// Goal attainment scaling (Kiresuk and Sherman, 1968; used by the HL7 Person-Centered Outcomes
/// guide) rates each goal from −2 (much less than expected) through 0 (the expected outcome) to
/// +2 (much more than expected). A plain 0–10 scale is offered for people who find that easier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgressScale {
    GoalAttainment,
    ZeroToTen,
}

impl ProgressScale {
    pub fn range(self) -> std::ops::RangeInclusive<i8> {
        match self {
            ProgressScale::GoalAttainment => -2..=2,
            ProgressScale::ZeroToTen => 0..=10,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ProgressScale::GoalAttainment => "goal attainment (−2 to +2)",
            ProgressScale::ZeroToTen => "0 to 10",
        }
    }
}

/// A value on a progress scale; only values inside the scale's range can be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawProgressValue", into = "RawProgressValue")]
pub struct ProgressValue {
    scale: ProgressScale,
    value: i8,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProgressValue {
    scale: ProgressScale,
    value: i64,
}

impl ProgressValue {
    pub fn new(scale: ProgressScale, value: i64) -> Result<Self, InvalidValue> {
        let range = scale.range();
        match i8::try_from(value) {
            Ok(v) if range.contains(&v) => Ok(Self { scale, value: v }),
            _ => Err(InvalidValue(format!(
                "a progress value on the {} scale must be from {} to {}, not {value}",
                scale.label(),
                range.start(),
                range.end()
            ))),
        }
    }

    pub fn scale(self) -> ProgressScale {
        self.scale
    }

    pub fn value(self) -> i8 {
        self.value
    }
}

impl TryFrom<RawProgressValue> for ProgressValue {
    type Error = InvalidValue;
    fn try_from(raw: RawProgressValue) -> Result<Self, Self::Error> {
        Self::new(raw.scale, raw.value)
    }
}

impl From<ProgressValue> for RawProgressValue {
    fn from(v: ProgressValue) -> Self {
        RawProgressValue {
            scale: v.scale,
            value: i64::from(v.value),
        }
    }
}

/// A dated progress record towards a goal: the formal mechanism CSP-3 asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgressRecord {
    pub meta: ItemMeta,
    pub goal: ItemId,
    pub date: Date,
    pub progress: ProgressValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp3_progress_values_stay_on_their_scale() {
        assert!(ProgressValue::new(ProgressScale::GoalAttainment, -2).is_ok());
        assert!(ProgressValue::new(ProgressScale::GoalAttainment, 3).is_err());
        assert!(ProgressValue::new(ProgressScale::ZeroToTen, 10).is_ok());
        assert!(ProgressValue::new(ProgressScale::ZeroToTen, -1).is_err());
        assert!(ProgressValue::new(ProgressScale::ZeroToTen, 300).is_err());
    }
}
