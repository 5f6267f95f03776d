//! A weekly schedule (CSP-7: "tables, e.g. a weekly schedule"): Monday to Sunday × time slots,
//! each cell saying what happens and who helps.
//!
//! An action keeps its "when or how often" as words (`Action::timing`); a schedule is the
//! structured form of a whole week, kept on the plan as one item ([`CareSchedule`], in the
//! actions section, set with `set_weekly_schedule`). `careplan-content` renders it as a table. It is built with [`WeeklySchedule::new`] or deserialised (both
//! validate), so an invalid schedule cannot exist:
//!
//! ```json
//! { "slots": [
//!     { "start": "08:00", "end": "09:00", "label": "Breakfast",
//!       "days": { "monday": { "what": "Help to get up and dressed", "who": "Anne (carer)" },
//!                 "saturday": { "what": "Breakfast at the café" } } }
//! ] }
//! ```
//!
//! Slots are listed in time order, each starting after the previous one starts and not before it
//! ends; every slot has something on at least one day; days are the English names, in any case.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::meta::ItemMeta;
use crate::values::Text;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a schedule was refused; each message is a sentence a person understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("a weekly schedule needs at least one time slot")]
    NoSlots,
    #[error("the {slot} slot has nothing in it on any day: add what happens, or remove the slot")]
    EmptySlot { slot: String },
    #[error(
        "“{value}” is not a day of the week: use Monday, Tuesday, Wednesday, Thursday, Friday, Saturday or Sunday"
    )]
    UnknownDay { value: String },
    #[error("{day} appears more than once in the {slot} slot")]
    DuplicateDay { slot: String, day: Day },
    #[error(
        "“{value}” is not a time of day: write hours and minutes on the 24-hour clock, for example 08:30"
    )]
    InvalidTime { value: String },
    #[error("the slot starting at {start} ends at {end}, which is not after it starts")]
    EndNotAfterStart { start: ClockTime, end: ClockTime },
    #[error(
        "the slot starting at {start} is out of order: it must start after the slot before it, which starts at {previous}"
    )]
    OutOfOrder {
        previous: ClockTime,
        start: ClockTime,
    },
    #[error(
        "the slot starting at {start} overlaps the slot before it, which runs from {previous} to {previous_end}"
    )]
    Overlap {
        previous: ClockTime,
        previous_end: ClockTime,
        start: ClockTime,
    },
    #[error("{field}: {reason}")]
    InvalidText { field: String, reason: String },
}

/// A day of the week, Monday first (the ISO 8601 and UK convention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Day {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Day {
    /// Every day, Monday to Sunday: the table's column order.
    pub const ALL: [Day; 7] = [
        Day::Monday,
        Day::Tuesday,
        Day::Wednesday,
        Day::Thursday,
        Day::Friday,
        Day::Saturday,
        Day::Sunday,
    ];

    /// The day's English name, as shown: "Monday".
    pub fn name(self) -> &'static str {
        match self {
            Day::Monday => "Monday",
            Day::Tuesday => "Tuesday",
            Day::Wednesday => "Wednesday",
            Day::Thursday => "Thursday",
            Day::Friday => "Friday",
            Day::Saturday => "Saturday",
            Day::Sunday => "Sunday",
        }
    }

    /// The day's key in the serialised shape: "monday".
    pub fn key(self) -> &'static str {
        match self {
            Day::Monday => "monday",
            Day::Tuesday => "tuesday",
            Day::Wednesday => "wednesday",
            Day::Thursday => "thursday",
            Day::Friday => "friday",
            Day::Saturday => "saturday",
            Day::Sunday => "sunday",
        }
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Day {
    type Err = ScheduleError;

    /// Reads a day's English name in any case, ignoring surrounding spaces.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let wanted = value.trim();
        Day::ALL
            .into_iter()
            .find(|day| day.key().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ScheduleError::UnknownDay {
                value: value.to_owned(),
            })
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.key())
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        value.parse().map_err(serde::de::Error::custom)
    }
}

/// A time of day to the minute, 00:00 to 23:59, written `HH:MM` on the 24-hour clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime {
    minutes: u16,
}

impl ClockTime {
    /// A time from hours (0–23) and minutes (0–59).
    pub fn new(hour: u8, minute: u8) -> Result<Self, ScheduleError> {
        if hour < 24 && minute < 60 {
            Ok(Self {
                minutes: u16::from(hour) * 60 + u16::from(minute),
            })
        } else {
            Err(ScheduleError::InvalidTime {
                value: format!("{hour}:{minute:02}"),
            })
        }
    }

    /// Reads `H:MM` or `HH:MM` on the 24-hour clock.
    pub fn parse(value: &str) -> Result<Self, ScheduleError> {
        let invalid = || ScheduleError::InvalidTime {
            value: value.to_owned(),
        };
        let (hour, minute) = value.trim().split_once(':').ok_or_else(invalid)?;
        let digits = |part: &str, lengths: &[usize]| {
            (lengths.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u8>().ok())
                .flatten()
        };
        let hour = digits(hour, &[1, 2]).ok_or_else(invalid)?;
        let minute = digits(minute, &[2]).ok_or_else(invalid)?;
        Self::new(hour, minute).map_err(|_| invalid())
    }

    pub fn hour(self) -> u8 {
        // Always below 24, so the cast cannot truncate.
        (self.minutes / 60) as u8
    }

    pub fn minute(self) -> u8 {
        (self.minutes % 60) as u8
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        ClockTime::parse(&value).map_err(serde::de::Error::custom)
    }
}

/// One cell of the week: what happens, and who helps (nobody named means the person alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub what: Text,
    pub who: Option<Text>,
}

/// A row of the week: a time slot and what happens in it on each day that has something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeSlot {
    pub start: ClockTime,
    pub end: Option<ClockTime>,
    /// A name for the slot ("Breakfast", "Morning"), shown under its time.
    pub label: Option<Text>,
    pub days: BTreeMap<Day, Cell>,
}

impl TimeSlot {
    /// The slot's time as shown and named in errors: "08:00" or "08:00 to 09:00".
    pub fn time_range(&self) -> String {
        match self.end {
            Some(end) => format!("{} to {end}", self.start),
            None => self.start.to_string(),
        }
    }
}

/// A week of time slots, validated: at least one slot, slots in time order without overlaps,
/// every slot with something on at least one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSchedule", into = "RawSchedule")]
pub struct WeeklySchedule {
    slots: Vec<TimeSlot>,
}

impl WeeklySchedule {
    /// Checks and builds a schedule; the first problem found is the error.
    pub fn new(slots: Vec<TimeSlot>) -> Result<Self, ScheduleError> {
        if slots.is_empty() {
            return Err(ScheduleError::NoSlots);
        }
        let mut previous: Option<&TimeSlot> = None;
        for slot in &slots {
            if let Some(end) = slot.end
                && end <= slot.start
            {
                return Err(ScheduleError::EndNotAfterStart {
                    start: slot.start,
                    end,
                });
            }
            if let Some(before) = previous {
                if slot.start <= before.start {
                    return Err(ScheduleError::OutOfOrder {
                        previous: before.start,
                        start: slot.start,
                    });
                }
                if let Some(previous_end) = before.end
                    && slot.start < previous_end
                {
                    return Err(ScheduleError::Overlap {
                        previous: before.start,
                        previous_end,
                        start: slot.start,
                    });
                }
            }
            if slot.days.is_empty() {
                return Err(ScheduleError::EmptySlot {
                    slot: slot.time_range(),
                });
            }
            previous = Some(slot);
        }
        Ok(Self { slots })
    }

    /// The week in words, one slot after another: "08:00 to 09:00 (Breakfast): Monday: Help to
    /// get up, with Anne (carer); Saturday: Breakfast at the café | 14:00: …". For histories,
    /// diffs and the command line.
    pub fn summary(&self) -> String {
        self.slots
            .iter()
            .map(|slot| {
                let label = slot
                    .label
                    .as_ref()
                    .map(|l| format!(" ({l})"))
                    .unwrap_or_default();
                let days: Vec<String> = slot
                    .days
                    .iter()
                    .map(|(day, cell)| match &cell.who {
                        Some(who) => format!("{day}: {}, with {who}", cell.what),
                        None => format!("{day}: {}", cell.what),
                    })
                    .collect();
                format!("{}{label}: {}", slot.time_range(), days.join("; "))
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// The slots in time order.
    pub fn slots(&self) -> &[TimeSlot] {
        &self.slots
    }

    /// What happens on `day` in time order, with each slot.
    pub fn day(&self, day: Day) -> impl Iterator<Item = (&TimeSlot, &Cell)> {
        self.slots
            .iter()
            .filter_map(move |slot| slot.days.get(&day).map(|cell| (slot, cell)))
    }
}

/// The serialised shape: strings everywhere, so every problem gets one of our sentences.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    slots: Vec<RawSlot>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlot {
    start: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    days: RawDays,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCell {
    what: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    who: Option<String>,
}

/// A slot's days as written, in order and with duplicates kept, so a repeated day is reported
/// rather than silently overwritten.
struct RawDays(Vec<(String, RawCell)>);

impl Serialize for RawDays {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (day, cell) in &self.0 {
            map.serialize_entry(day, cell)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for RawDays {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DaysVisitor;
        impl<'de> Visitor<'de> for DaysVisitor {
            type Value = RawDays;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from days of the week to what happens")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<RawDays, A::Error> {
                let mut days = Vec::new();
                while let Some(entry) = access.next_entry::<String, RawCell>()? {
                    days.push(entry);
                }
                Ok(RawDays(days))
            }
        }
        deserializer.deserialize_map(DaysVisitor)
    }
}

fn text(value: &str, field: impl FnOnce() -> String) -> Result<Text, ScheduleError> {
    Text::new(value).map_err(|invalid| ScheduleError::InvalidText {
        field: field(),
        reason: invalid.0,
    })
}

impl TryFrom<RawSchedule> for WeeklySchedule {
    type Error = ScheduleError;

    fn try_from(raw: RawSchedule) -> Result<Self, Self::Error> {
        let mut slots = Vec::with_capacity(raw.slots.len());
        for raw_slot in raw.slots {
            let start = ClockTime::parse(&raw_slot.start)?;
            let end = raw_slot.end.as_deref().map(ClockTime::parse).transpose()?;
            let shown = match end {
                Some(end) => format!("{start} to {end}"),
                None => start.to_string(),
            };
            let label = raw_slot
                .label
                .as_deref()
                .map(|label| text(label, || format!("the label of the {shown} slot")))
                .transpose()?;
            let mut days = BTreeMap::new();
            for (key, raw_cell) in raw_slot.days.0 {
                let day: Day = key.parse()?;
                let what = text(&raw_cell.what, || {
                    format!("what happens on {day} in the {shown} slot")
                })?;
                let who = raw_cell
                    .who
                    .as_deref()
                    .filter(|who| !who.trim().is_empty())
                    .map(|who| text(who, || format!("who helps on {day} in the {shown} slot")))
                    .transpose()?;
                if days.insert(day, Cell { what, who }).is_some() {
                    return Err(ScheduleError::DuplicateDay { slot: shown, day });
                }
            }
            slots.push(TimeSlot {
                start,
                end,
                label,
                days,
            });
        }
        WeeklySchedule::new(slots)
    }
}

impl From<WeeklySchedule> for RawSchedule {
    fn from(schedule: WeeklySchedule) -> Self {
        RawSchedule {
            slots: schedule
                .slots
                .into_iter()
                .map(|slot| RawSlot {
                    start: slot.start.to_string(),
                    end: slot.end.map(|end| end.to_string()),
                    label: slot.label.map(String::from),
                    days: RawDays(
                        slot.days
                            .into_iter()
                            .map(|(day, cell)| {
                                (
                                    day.key().to_owned(),
                                    RawCell {
                                        what: cell.what.into(),
                                        who: cell.who.map(String::from),
                                    },
                                )
                            })
                            .collect(),
                    ),
                })
                .collect(),
        }
    }
}

/// The plan's weekly schedule: one item, in the actions section (who helps when is part of the
/// actions), replaced whole by `set_weekly_schedule` and archived like any other item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CareSchedule {
    pub meta: ItemMeta,
    pub week: WeeklySchedule,
}
