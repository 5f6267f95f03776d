//! Small validated values used everywhere in the plan: ids, text, scales, time.
//!
//! Each type can only hold a valid value: parsing is the one way in, so a `Priority` of 11 or an
//! empty description cannot exist anywhere past the edge that read it.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Why a value was refused; the message is a sentence a person understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// The text is shared (`Arc<str>`), so copying an id, as every copy of a plan's map of
        /// items does, costs a reference count, not an allocation.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(Arc<str>);

        impl $name {
            /// Parses an id: 1–64 characters of letters, digits, `-` and `.` (the FHIR id rule,
            /// so every id can travel as a FHIR resource id unchanged).
            pub fn parse(value: &str) -> Result<Self, InvalidValue> {
                let ok = !value.is_empty()
                    && value.len() <= 64
                    && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
                if ok {
                    Ok(Self(Arc::from(value)))
                } else {
                    Err(InvalidValue(format!(
                        "“{value}” is not a valid id: use 1 to 64 letters, digits, hyphens or dots"
                    )))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0.as_ref().to_owned()
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id! {
    /// The id of one care and support plan. There is one plan per person.
    PlanId
}
string_id! {
    /// The id of a person whose plan this is.
    PersonId
}
string_id! {
    /// The id of an item inside a plan (a goal, a need, a comment…), unique within that plan
    /// across every kind of item, so a link can name an item by id alone.
    ItemId
}

/// The number of one version of a plan: 1 for the version that created it, then +1 per change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VersionNumber(u64);

impl VersionNumber {
    pub const FIRST: VersionNumber = VersionNumber(1);

    pub fn new(number: u64) -> Result<Self, InvalidValue> {
        if number == 0 {
            Err(InvalidValue("version numbers start at 1".into()))
        } else {
            Ok(Self(number))
        }
    }

    pub fn get(self) -> u64 {
        self.0
    }

    pub fn next(self) -> VersionNumber {
        VersionNumber(self.0 + 1)
    }
}

impl fmt::Display for VersionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

macro_rules! one_to_ten {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "i64", into = "u8")]
        pub struct $name(u8);

        impl $name {
            pub fn new(value: i64) -> Result<Self, InvalidValue> {
                if (1..=10).contains(&value) {
                    Ok(Self(value as u8))
                } else {
                    Err(InvalidValue(format!(
                        concat!($what, " must be a whole number from 1 to 10, not {}"),
                        value
                    )))
                }
            }

            pub fn get(self) -> u8 {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = InvalidValue;
            fn try_from(value: i64) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for u8 {
            fn from(value: $name) -> u8 {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}/10", self.0)
            }
        }
    };
}

one_to_ten! {
    /// How important something is to the person, 1 (least) to 10 (most): the standard's
    /// "scale 1 to 10" for goals, also used for the importance of needs and strengths.
    Priority, "A priority"
}
one_to_ten! {
    /// How confident the person is to carry out an action, 1 (not at all) to 10 (completely).
    Confidence, "A confidence rating"
}

/// Text a person wrote: trimmed, never empty, at most [`Text::MAX_CHARS`] characters.
/// Stored exactly as written (Markdown is rendered, not stored, by the edges).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl Text {
    pub const MAX_CHARS: usize = 20_000;

    pub fn new(value: &str) -> Result<Self, InvalidValue> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(InvalidValue("this text must not be empty".into()));
        }
        let chars = trimmed.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(InvalidValue(format!(
                "this text is {chars} characters long; the most allowed is {}",
                Self::MAX_CHARS
            )));
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            return Err(InvalidValue(
                "this text contains control characters that cannot be shown".into(),
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Text {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<Text> for String {
    fn from(value: Text) -> String {
        value.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An instant, always in UTC, written as RFC 3339. The model never reads a clock: the edge that
/// commits a version passes the time in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn from_datetime(at: OffsetDateTime) -> Self {
        Self(at.to_offset(time::UtcOffset::UTC))
    }

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        OffsetDateTime::parse(value, &Rfc3339)
            .map(Self::from_datetime)
            .map_err(|_| {
                InvalidValue(format!(
                    "“{value}” is not a date and time such as 2026-03-01T09:30:00Z"
                ))
            })
    }

    pub fn datetime(self) -> OffsetDateTime {
        self.0
    }

    pub fn date(self) -> time::Date {
        self.0.date()
    }
}

impl TryFrom<String> for Timestamp {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Timestamp> for String {
    fn from(value: Timestamp) -> String {
        value.to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // RFC 3339 formatting of a UTC time cannot fail.
        let text = self.0.format(&Rfc3339).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

/// A calendar date (date of birth, target date, review date), written `YYYY-MM-DD`.
pub type Date = time::Date;

/// Parses `YYYY-MM-DD` with a sentence for a person when it is not a real date.
pub fn parse_date(value: &str) -> Result<Date, InvalidValue> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(value.trim(), &format).map_err(|_| {
        InvalidValue(format!(
            "“{value}” is not a date: write it as year-month-day, for example 2026-03-01"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp6_priority_accepts_one_to_ten_only() {
        for (input, ok) in [
            (0, false),
            (1, true),
            (5, true),
            (10, true),
            (11, false),
            (-3, false),
        ] {
            assert_eq!(Priority::new(input).is_ok(), ok, "priority {input}");
        }
        assert_eq!(
            Priority::new(11).unwrap_err().to_string(),
            "A priority must be a whole number from 1 to 10, not 11"
        );
    }

    #[test]
    fn csp8_confidence_accepts_one_to_ten_only() {
        assert!(Confidence::new(0).is_err());
        assert_eq!(Confidence::new(7).unwrap().get(), 7);
        assert!(Confidence::new(11).is_err());
        let parsed: Result<Confidence, _> = serde_json::from_str("12");
        assert!(parsed.is_err());
    }

    #[test]
    fn text_is_trimmed_and_never_empty() {
        assert_eq!(
            Text::new("  walk to the shop \n").unwrap().as_str(),
            "walk to the shop"
        );
        assert!(Text::new("   ").is_err());
        assert!(Text::new("bell\u{7}").is_err());
        assert!(Text::new(&"x".repeat(Text::MAX_CHARS + 1)).is_err());
    }

    #[test]
    fn ids_follow_the_fhir_id_rule() {
        assert!(ItemId::parse("goal-3fj9k2m").is_ok());
        assert!(ItemId::parse("").is_err());
        assert!(ItemId::parse("has space").is_err());
        assert!(ItemId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn timestamps_round_trip_in_utc() {
        let t = Timestamp::parse("2026-03-01T10:30:00+01:00").unwrap();
        assert_eq!(t.to_string(), "2026-03-01T09:30:00Z");
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn dates_are_year_month_day() {
        assert_eq!(parse_date("2026-02-28").unwrap().to_string(), "2026-02-28");
        assert!(parse_date("2026-02-30").is_err());
        assert!(parse_date("28/02/2026").is_err());
    }
}
