//! The person whose plan it is: name, date of birth, NHS number and other identifiers.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::values::{Date, InvalidValue, Text};

/// An NHS number: ten digits whose last is a modulus 11 check digit. Spaces and hyphens are
/// accepted on input (people write `943 476 5919`); the stored form is the ten digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NhsNumber(String);

impl NhsNumber {
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let digits: String = value
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidValue(format!(
                "“{value}” is not an NHS number: it must have exactly 10 digits"
            )));
        }
        let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
        let sum: u32 = d[..9].iter().zip((2..=10).rev()).map(|(x, w)| x * w).sum();
        let check = match 11 - sum % 11 {
            11 => 0,
            10 => {
                return Err(InvalidValue(format!(
                    "“{value}” is not a valid NHS number: no check digit fits its first nine digits"
                )));
            }
            n => n,
        };
        if check != d[9] {
            return Err(InvalidValue(format!(
                "“{value}” is not a valid NHS number: its check digit is wrong (is a digit mistyped?)"
            )));
        }
        Ok(Self(digits))
    }

    /// The ten digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NhsNumber {
    /// The NHS's own display form, `3 3 4` digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", &self.0[..3], &self.0[3..6], &self.0[6..])
    }
}

impl TryFrom<String> for NhsNumber {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<NhsNumber> for String {
    fn from(value: NhsNumber) -> String {
        value.0
    }
}

/// Any other identifier of the person (a local authority case number, a hospital number): the
/// system that issued it (a URI or a name) and the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identifier {
    pub system: Text,
    pub value: Text,
}

/// The person the plan is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// Given name(s), as the person wants them written.
    pub given_name: Text,
    pub family_name: Text,
    /// What the person likes to be called, if not their given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_name: Option<Text>,
    pub date_of_birth: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nhs_number: Option<NhsNumber>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_identifiers: Vec<Identifier>,
}

impl Person {
    /// "Given Family", or "Preferred Family" when the person has a preferred name.
    pub fn display_name(&self) -> String {
        let given = self.preferred_name.as_ref().unwrap_or(&self.given_name);
        format!("{given} {}", self.family_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhs_number_check_digit_is_verified() {
        // 943 476 5919 is the NHS's published example of a valid number.
        let n = NhsNumber::parse("943 476 5919").unwrap();
        assert_eq!(n.as_str(), "9434765919");
        assert_eq!(n.to_string(), "943 476 5919");
        assert!(NhsNumber::parse("943-476-5919").is_ok());
        assert!(NhsNumber::parse("9434765918").is_err(), "wrong check digit");
        assert!(NhsNumber::parse("943476591").is_err(), "nine digits");
        assert!(NhsNumber::parse("94347659190").is_err(), "eleven digits");
        assert!(NhsNumber::parse("94347659a9").is_err(), "a letter");
    }

    #[test]
    fn nhs_number_with_remainder_ten_is_never_valid() {
        // Weighted sum of 000000006 is 6*2 = 12 → 11 - 1 = 10: no valid check digit exists.
        for last in 0..=9 {
            assert!(NhsNumber::parse(&format!("000000006{last}")).is_err());
        }
    }

    #[test]
    fn nhs_number_error_is_a_sentence() {
        let err = NhsNumber::parse("9434765918").unwrap_err().to_string();
        assert!(err.contains("check digit is wrong"), "{err}");
    }
}
