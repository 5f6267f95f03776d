//! CSP-7 tables: a weekly schedule is structured, validated, and renders as an accessible table.

mod common;

use std::collections::BTreeMap;

use careplan_content::{
    Cell, ClockTime, Day, ScheduleError, TimeSlot, WeeklySchedule, schedule_table,
};
use careplan_model::values::Text;
use common::tags;
use serde_json::json;

fn parse(value: serde_json::Value) -> Result<WeeklySchedule, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

fn week() -> WeeklySchedule {
    parse(json!({ "slots": [
        { "start": "08:00", "end": "09:00", "label": "Breakfast",
          "days": {
            "monday": { "what": "Help to get up and dressed", "who": "Anne (carer)" },
            "Saturday": { "what": "Breakfast at the café" } } },
        { "start": "14:00",
          "days": { "wednesday": { "what": "Swimming <3 & a chat", "who": "Sam \"the driver\"" } } }
    ] }))
    .expect("a valid week")
}

#[test]
fn csp7_schedule_reads_and_writes_its_json_shape() {
    let schedule = week();
    assert_eq!(schedule.slots().len(), 2);
    let monday: Vec<_> = schedule.day(Day::Monday).collect();
    assert_eq!(monday.len(), 1);
    assert_eq!(monday[0].0.start, ClockTime::new(8, 0).unwrap());
    assert_eq!(monday[0].1.who.as_ref().unwrap().as_str(), "Anne (carer)");
    assert_eq!(schedule.day(Day::Saturday).count(), 1);
    assert_eq!(schedule.day(Day::Sunday).count(), 0);

    let written = serde_json::to_value(&schedule).unwrap();
    assert_eq!(
        written["slots"][0]["days"],
        json!({
            "monday": { "what": "Help to get up and dressed", "who": "Anne (carer)" },
            "saturday": { "what": "Breakfast at the café" }
        })
    );
    assert_eq!(written["slots"][1].get("end"), None);
    let again: WeeklySchedule = serde_json::from_value(written).unwrap();
    assert_eq!(again, schedule);
}

#[test]
fn csp7_schedule_refuses_an_unknown_day() {
    let error = parse(json!({ "slots": [
        { "start": "08:00", "days": { "funday": { "what": "Bowling" } } }
    ] }))
    .unwrap_err();
    assert!(
        error.contains("“funday” is not a day of the week"),
        "{error}"
    );
    assert_eq!(
        "Mon".parse::<Day>(),
        Err(ScheduleError::UnknownDay {
            value: "Mon".to_owned()
        })
    );
    assert_eq!(" SUNDAY ".parse::<Day>(), Ok(Day::Sunday));
}

#[test]
fn csp7_schedule_refuses_a_day_given_twice_in_a_slot() {
    let error = parse(json!({ "slots": [
        { "start": "08:00", "days": {
            "monday": { "what": "Bowling" }, "Monday": { "what": "Chess" } } }
    ] }))
    .unwrap_err();
    assert!(
        error.contains("Monday appears more than once in the 08:00 slot"),
        "{error}"
    );
}

#[test]
fn csp7_schedule_refuses_slots_out_of_order_or_overlapping() {
    let error = parse(json!({ "slots": [
        { "start": "14:00", "days": { "monday": { "what": "Swim" } } },
        { "start": "08:00", "days": { "monday": { "what": "Breakfast" } } }
    ] }))
    .unwrap_err();
    assert!(
        error.contains("the slot starting at 08:00 is out of order"),
        "{error}"
    );

    let error = parse(json!({ "slots": [
        { "start": "08:00", "days": { "monday": { "what": "Swim" } } },
        { "start": "08:00", "days": { "tuesday": { "what": "Breakfast" } } }
    ] }))
    .unwrap_err();
    assert!(error.contains("out of order"), "{error}");

    let error = parse(json!({ "slots": [
        { "start": "08:00", "end": "10:00", "days": { "monday": { "what": "Swim" } } },
        { "start": "09:30", "days": { "tuesday": { "what": "Breakfast" } } }
    ] }))
    .unwrap_err();
    assert!(
        error.contains("overlaps the slot before it, which runs from 08:00 to 10:00"),
        "{error}"
    );

    let error = parse(json!({ "slots": [
        { "start": "10:00", "end": "09:00", "days": { "monday": { "what": "Swim" } } }
    ] }))
    .unwrap_err();
    assert!(
        error.contains("ends at 09:00, which is not after it"),
        "{error}"
    );

    // Back to back is fine.
    parse(json!({ "slots": [
        { "start": "08:00", "end": "09:00", "days": { "monday": { "what": "Swim" } } },
        { "start": "09:00", "days": { "monday": { "what": "Rest" } } }
    ] }))
    .unwrap();
}

#[test]
fn csp7_schedule_refuses_empty_schedules_slots_and_cells() {
    let error = parse(json!({ "slots": [] })).unwrap_err();
    assert!(error.contains("needs at least one time slot"), "{error}");

    let error = parse(json!({ "slots": [ { "start": "08:00", "days": {} } ] })).unwrap_err();
    assert!(
        error.contains("the 08:00 slot has nothing in it on any day"),
        "{error}"
    );

    let error = parse(json!({ "slots": [
        { "start": "08:00", "days": { "friday": { "what": "   " } } }
    ] }))
    .unwrap_err();
    assert!(
        error.contains("what happens on Friday in the 08:00 slot: this text must not be empty"),
        "{error}"
    );

    assert_eq!(WeeklySchedule::new(vec![]), Err(ScheduleError::NoSlots));
}

#[test]
fn csp7_schedule_refuses_times_that_are_not_times() {
    for bad in [
        "8am", "24:00", "08:60", "0800", "08:0", "-1:00", "", "08:00:00",
    ] {
        let error = parse(json!({ "slots": [
            { "start": bad, "days": { "monday": { "what": "Swim" } } }
        ] }))
        .unwrap_err();
        assert!(error.contains("is not a time of day"), "{bad}: {error}");
    }
    assert_eq!(ClockTime::parse("7:05").unwrap().to_string(), "07:05");
    assert_eq!(ClockTime::parse("23:59").unwrap().hour(), 23);
}

#[test]
fn csp7_schedule_refuses_unknown_fields() {
    let error = parse(json!({ "slots": [
        { "start": "08:00", "days": { "monday": { "what": "Swim", "colour": "red" } } }
    ] }))
    .unwrap_err();
    assert!(error.contains("unknown field `colour`"), "{error}");
}

#[test]
fn csp7_schedule_table_has_caption_and_scoped_headers() {
    let html = schedule_table(&week(), "Mo's week");
    let found = tags(&html);
    let opening: Vec<_> = found.iter().filter(|t| !t.closing).collect();
    assert_eq!(opening[0].name, "table");
    assert_eq!(
        opening[1].name, "caption",
        "the caption comes first: {html}"
    );
    assert!(html.contains("<caption>Mo&#39;s week</caption>"), "{html}");

    let scope = |value: &str| {
        opening
            .iter()
            .filter(|t| {
                t.name == "th" && t.attributes.iter().any(|(n, v)| n == "scope" && v == value)
            })
            .count()
    };
    assert_eq!(scope("col"), 8, "Time and seven days: {html}");
    assert_eq!(scope("row"), 2, "one per slot: {html}");
    let all_th = opening.iter().filter(|t| t.name == "th").count();
    assert_eq!(all_th, 10, "every header has a scope: {html}");

    let days: Vec<&str> = Day::ALL.iter().map(|d| d.name()).collect();
    let header_row = html.split("</thead>").next().unwrap();
    let mut at = 0;
    for day in days {
        let found = header_row[at..]
            .find(&format!("<th scope=\"col\">{day}</th>"))
            .unwrap_or_else(|| panic!("{day} out of order in {header_row}"));
        at += found;
    }

    let rows: Vec<&str> = html
        .split("<tr>")
        .skip(2)
        .map(|row| row.split("</tr>").next().unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0].starts_with(
            "<th scope=\"row\">08:00 to 09:00<br><span class=\"slot-label\">Breakfast</span></th>"
        ),
        "{}",
        rows[0]
    );
    // Eight cells a row: the header then Monday to Sunday, Monday filled, Saturday filled.
    let cells: Vec<&str> = rows[0].split("<td>").skip(1).collect();
    assert_eq!(cells.len(), 7, "{}", rows[0]);
    assert!(cells[0].contains("Help to get up and dressed"));
    assert!(cells[0].contains("Who helps: Anne (carer)"));
    assert_eq!(cells[1], "</td>");
    assert!(cells[5].contains("Breakfast at the café"));
    assert!(!cells[5].contains("Who helps"));
}

#[test]
fn csp7_schedule_table_escapes_every_text() {
    let cell = |what: &str, who: Option<&str>| Cell {
        what: Text::new(what).unwrap(),
        who: who.map(|w| Text::new(w).unwrap()),
    };
    let schedule = WeeklySchedule::new(vec![TimeSlot {
        start: ClockTime::new(9, 30).unwrap(),
        end: None,
        label: Some(Text::new("<img src=x onerror=alert(1)>").unwrap()),
        days: BTreeMap::from([
            (
                Day::Tuesday,
                cell("<script>alert(1)</script>", Some("\"><b onclick=x>")),
            ),
            (Day::Sunday, cell("Tea & cake", None)),
        ]),
    }])
    .unwrap();
    let html = schedule_table(&schedule, "<iframe src=https://evil.example>");
    let found = tags(&html);
    for tag in &found {
        assert!(
            [
                "table", "caption", "thead", "tbody", "tr", "th", "td", "br", "span"
            ]
            .contains(&tag.name.as_str()),
            "<{}> in {html}",
            tag.name
        );
        for (name, _) in &tag.attributes {
            assert!(
                ["scope", "class"].contains(&name.as_str()),
                "{name} in {html}"
            );
        }
    }
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("Who helps: &quot;&gt;&lt;b onclick=x&gt;"),
        "{html}"
    );
    assert!(html.contains("Tea &amp; cake"), "{html}");
    assert!(html.contains("<caption>&lt;iframe src=https://evil.example&gt;</caption>"));

    // A blank caption still gives the table a name.
    assert!(schedule_table(&schedule, "  ").contains("<caption>Weekly schedule</caption>"));
}
