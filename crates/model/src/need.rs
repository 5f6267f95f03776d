//! CSP-5 Needs, concerns and problems: three distinct kinds that goals address.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::meta::ItemMeta;
use crate::values::{InvalidValue, Priority, Text};

/// Who identified a need or whose concern it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaisedBy {
    Person,
    Carer,
    Professional,
}

impl RaisedBy {
    pub fn label(self) -> &'static str {
        match self {
            RaisedBy::Person => "the person",
            RaisedBy::Carer => "a carer",
            RaisedBy::Professional => "a professional",
        }
    }
}

/// The domain of a concern, as the standard names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcernDomain {
    Biological,
    Psychological,
    Social,
}

impl ConcernDomain {
    pub fn label(self) -> &'static str {
        match self {
            ConcernDomain::Biological => "biological",
            ConcernDomain::Psychological => "psychological",
            ConcernDomain::Social => "social",
        }
    }
}

/// A health or care deficit, such as "to dress myself": the motivation for care activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Need {
    pub meta: ItemMeta,
    pub description: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identified_by: Option<RaisedBy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance: Option<Priority>,
}

/// Something the person, a carer or a professional is concerned about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concern {
    pub meta: ItemMeta,
    pub description: Text,
    pub raised_by: RaisedBy,
    pub domain: ConcernDomain,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance: Option<Priority>,
}

/// A condition every professional should know about; may carry a SNOMED CT code and point at the
/// entry in a GP system's or shared care record's problem list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    pub meta: ItemMeta,
    pub description: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<SnomedConcept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_reference: Option<ExternalReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance: Option<Priority>,
}

/// A reference to a record held elsewhere: the system (a URI or a name) and its identifier there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalReference {
    pub system: Text,
    pub value: Text,
}

/// A SNOMED CT concept: its id and the display term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnomedConcept {
    pub code: SctId,
    pub display: Text,
}

/// A SNOMED CT identifier: 6 to 18 digits, no leading zero, a concept partition, and a valid
/// Verhoeff check digit, so typing mistakes are caught at the edge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SctId(String);

impl SctId {
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let v = value.trim();
        let digits_ok = (6..=18).contains(&v.len())
            && v.bytes().all(|b| b.is_ascii_digit())
            && !v.starts_with('0');
        if !digits_ok {
            return Err(InvalidValue(format!(
                "“{value}” is not a SNOMED CT code: it must be 6 to 18 digits"
            )));
        }
        // The partition identifier (second and third digits from the right): 00 or 10 mark a
        // concept; descriptions and relationships are not codes a problem can carry.
        let partition = &v[v.len() - 3..v.len() - 1];
        if partition != "00" && partition != "10" {
            return Err(InvalidValue(format!(
                "“{value}” is a SNOMED CT id but not of a concept"
            )));
        }
        if !verhoeff_valid(v) {
            return Err(InvalidValue(format!(
                "“{value}” is not a valid SNOMED CT code: its check digit is wrong"
            )));
        }
        Ok(Self(v.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SctId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SctId {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SctId> for String {
    fn from(value: SctId) -> String {
        value.0
    }
}

/// The Verhoeff check used by SNOMED CT identifiers.
fn verhoeff_valid(digits: &str) -> bool {
    const D: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const P: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    let mut c = 0u8;
    for (i, b) in digits.bytes().rev().enumerate() {
        c = D[c as usize][P[i % 8][(b - b'0') as usize] as usize];
    }
    c == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp5_snomed_codes_are_checked() {
        // Chronic obstructive lung disease; osteoarthritis of knee; diabetes mellitus.
        for good in ["13645005", "239873007", "73211009"] {
            assert!(SctId::parse(good).is_ok(), "{good}");
        }
        assert!(SctId::parse("13645006").is_err(), "check digit");
        assert!(SctId::parse("12345").is_err(), "too short");
        assert!(SctId::parse("013645005").is_err(), "leading zero");
        assert!(SctId::parse("1364500X").is_err(), "letter");
    }
}
