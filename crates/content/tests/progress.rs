//! CSP-3 / CSP-7 progress: the SVG chart is valid XML whose points are exactly the records, and
//! the table beside it holds the same data.

mod common;

use careplan_content::{
    ChartError, ChartScale, ProgressPoint, ProgressSeries, progress_svg, progress_table,
};
use careplan_model::meta::{Actor, ItemMeta, Role, Stamp};
use careplan_model::values::{Date, ItemId, Text, Timestamp, VersionNumber};
use careplan_model::{ProgressRecord, ProgressScale, ProgressValue};
use proptest::prelude::*;
use roxmltree::{Document, Node};
use time::macros::{date, format_description};

const SVG: &str = "http://www.w3.org/2000/svg";

fn point(date: Date, value: i32, note: Option<&str>) -> ProgressPoint {
    ProgressPoint {
        date,
        value,
        note: note.map(str::to_owned),
    }
}

fn record(date: Date, scale: ProgressScale, value: i64, note: Option<&str>) -> ProgressRecord {
    let stamp = Stamp {
        version: VersionNumber::new(1).unwrap(),
        at: Timestamp::parse("2026-03-01T09:00:00Z").unwrap(),
        by: Actor {
            id: Text::new("user-1").unwrap(),
            name: Text::new("Nurse Ng").unwrap(),
            role: Role::Practitioner,
        },
    };
    ProgressRecord {
        meta: ItemMeta::new(&stamp),
        goal: ItemId::parse("goal-1").unwrap(),
        date,
        progress: ProgressValue::new(scale, value).unwrap(),
        note: note.map(|n| Text::new(n).unwrap()),
    }
}

/// Parses the chart and checks what every chart must have.
fn parse_svg(svg: &str) -> Document<'_> {
    let doc = Document::parse(svg).unwrap_or_else(|e| panic!("not XML ({e}): {svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.tag_name().namespace(), Some(SVG));
    assert_eq!(root.attribute("version"), Some("1.1"));
    assert_eq!(root.attribute("role"), Some("img"));
    let view_box: Vec<f64> = root
        .attribute("viewBox")
        .expect("viewBox")
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(view_box.len(), 4);
    let children: Vec<Node<'_, '_>> = root.children().filter(Node::is_element).collect();
    assert_eq!(children[0].tag_name().name(), "title", "title first");
    assert_eq!(children[1].tag_name().name(), "desc", "then desc");
    for node in doc.descendants().filter(Node::is_element) {
        assert_eq!(node.tag_name().namespace(), Some(SVG), "only SVG elements");
        assert!(
            !matches!(
                node.tag_name().name(),
                "script" | "foreignObject" | "image" | "use" | "a" | "style"
            ),
            "<{}> in the chart",
            node.tag_name().name()
        );
        for attribute in node.attributes() {
            let name = attribute.name();
            assert!(!name.starts_with("on"), "{name} in the chart");
            assert!(name != "href" && name != "style", "{name} in the chart");
            assert!(!attribute.value().contains("url("), "external reference");
            if name == "font-family" {
                assert!(
                    ["sans-serif", "serif", "monospace"].contains(&attribute.value()),
                    "font {}",
                    attribute.value()
                );
            }
        }
    }
    doc
}

fn num(node: Node<'_, '_>, attribute: &str) -> f64 {
    node.attribute(attribute)
        .unwrap_or_else(|| panic!("no {attribute}"))
        .parse()
        .unwrap()
}

fn with_class<'a, 'i>(doc: &'a Document<'i>, class: &str) -> Vec<Node<'a, 'i>> {
    doc.descendants()
        .filter(|n| n.attribute("class") == Some(class))
        .collect()
}

/// Reads a tick number such as "+2", "0" or "−1" (true minus sign).
fn tick_number(text: &str) -> f64 {
    text.replace('\u{2212}', "-")
        .trim_start_matches('+')
        .parse()
        .unwrap()
}

/// The chart's points read back through its own axes: (date, value) per circle, in drawing
/// order. Two y ticks and two x ticks (or one, for a single date) define each axis.
fn read_points(doc: &Document<'_>) -> Vec<(Date, f64)> {
    let y_ticks: Vec<(f64, f64)> = with_class(doc, "tick-value")
        .into_iter()
        .map(|n| (tick_number(n.text().unwrap()), num(n, "y")))
        .collect();
    assert!(y_ticks.len() >= 2, "the y axis needs ticks");
    let (v0, y0) = y_ticks[0];
    let (v1, y1) = y_ticks[y_ticks.len() - 1];
    let value_at = |y: f64| v0 + (y - y0) * (v1 - v0) / (y1 - y0);

    let format = format_description!("[day padding:none] [month repr:short] [year]");
    let x_ticks: Vec<(i32, f64)> = with_class(doc, "tick-date")
        .into_iter()
        .map(|n| {
            let date = Date::parse(n.text().unwrap(), &format).unwrap();
            (date.to_julian_day(), num(n, "x"))
        })
        .collect();
    assert!(!x_ticks.is_empty(), "the x axis needs dates");
    let (d0, x0) = x_ticks[0];
    let (d1, x1) = x_ticks[x_ticks.len() - 1];
    let day_at = |x: f64| {
        if d0 == d1 {
            assert!((x - x0).abs() < 1e-9, "one date, one x");
            f64::from(d0)
        } else {
            f64::from(d0) + (x - x0) * f64::from(d1 - d0) / (x1 - x0)
        }
    };

    with_class(doc, "point")
        .into_iter()
        .map(|circle| {
            assert_eq!(circle.tag_name().name(), "circle");
            let day = day_at(num(circle, "cx"));
            assert!((day - day.round()).abs() < 0.05, "x {day} is not on a day");
            let date = Date::from_julian_day(day.round() as i32).unwrap();
            (date, value_at(num(circle, "cy")))
        })
        .collect()
}

fn assert_points_match(svg: &str, expected: &[(Date, i32)]) {
    let doc = parse_svg(svg);
    let read = read_points(&doc);
    assert_eq!(read.len(), expected.len(), "one circle per record: {svg}");
    for ((date, value), (want_date, want_value)) in read.iter().zip(expected) {
        assert_eq!(date, want_date, "{svg}");
        assert!(
            (value - f64::from(*want_value)).abs() < 0.01,
            "value {value} for {want_value}: {svg}"
        );
    }
    // The line joins the circles in date order.
    let circles: Vec<(f64, f64)> = with_class(&doc, "point")
        .into_iter()
        .map(|c| (num(c, "cx"), num(c, "cy")))
        .collect();
    let lines = with_class(&doc, "progress-line");
    if expected.len() > 1 {
        assert_eq!(lines.len(), 1, "{svg}");
        assert_eq!(lines[0].tag_name().name(), "polyline");
        let joined: Vec<(f64, f64)> = lines[0]
            .attribute("points")
            .unwrap()
            .split(' ')
            .map(|pair| {
                let (x, y) = pair.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        assert_eq!(joined, circles);
        assert!(joined.windows(2).all(|w| w[0].0 <= w[1].0), "left to right");
    } else {
        assert!(lines.is_empty());
    }
}

#[test]
fn csp3_goal_attainment_chart_points_match_the_records() {
    // Given out of order: the chart sorts by date.
    let records = [
        record(
            date!(2026 - 04 - 14),
            ProgressScale::GoalAttainment,
            0,
            Some("Walked to the corner"),
        ),
        record(
            date!(2026 - 03 - 03),
            ProgressScale::GoalAttainment,
            -2,
            None,
        ),
        record(
            date!(2026 - 06 - 30),
            ProgressScale::GoalAttainment,
            2,
            Some("Shop and back!"),
        ),
        record(
            date!(2026 - 03 - 24),
            ProgressScale::GoalAttainment,
            -1,
            None,
        ),
        record(
            date!(2026 - 05 - 02),
            ProgressScale::GoalAttainment,
            1,
            None,
        ),
    ];
    let series = ProgressSeries::from_records(ProgressScale::GoalAttainment, &records).unwrap();
    let svg = progress_svg("Walking to the shop", &series);
    assert_points_match(
        &svg,
        &[
            (date!(2026 - 03 - 03), -2),
            (date!(2026 - 03 - 24), -1),
            (date!(2026 - 04 - 14), 0),
            (date!(2026 - 05 - 02), 1),
            (date!(2026 - 06 - 30), 2),
        ],
    );
    let doc = parse_svg(&svg);
    // Every value of the scale is on the axis with its words.
    let labels: Vec<&str> = with_class(&doc, "tick-label")
        .into_iter()
        .map(|n| n.text().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "much less than expected",
            "somewhat less than expected",
            "expected outcome",
            "somewhat more than expected",
            "much more than expected",
        ]
    );
    let numbers: Vec<&str> = with_class(&doc, "tick-value")
        .into_iter()
        .map(|n| n.text().unwrap())
        .collect();
    assert_eq!(numbers, ["\u{2212}2", "\u{2212}1", "0", "+1", "+2"]);
    // Each circle names its date and value.
    let titles: Vec<String> = with_class(&doc, "point")
        .into_iter()
        .map(|c| c.first_element_child().unwrap().text().unwrap().to_owned())
        .collect();
    assert_eq!(
        titles[0],
        "3 March 2026: \u{2212}2 (much less than expected)"
    );
    assert_eq!(titles[4], "30 June 2026: +2 (much more than expected)");
    let title = doc.root_element().first_element_child().unwrap();
    assert_eq!(title.text(), Some("Walking to the shop"));
    let desc = title.next_sibling_element().unwrap().text().unwrap();
    assert!(desc.contains("5 progress records"), "{desc}");
    assert!(desc.contains("from 3 March 2026 to 30 June 2026"), "{desc}");
    assert!(
        desc.contains("Latest: +2 (much more than expected)"),
        "{desc}"
    );
}

#[test]
fn csp3_zero_to_ten_chart_over_a_long_span_matches_the_records() {
    // Twelve records over two years, some on the same day: interpolated date ticks.
    let mut points = Vec::new();
    let mut expected = Vec::new();
    let start = date!(2025 - 01 - 07);
    for (i, offset) in [0, 13, 13, 40, 97, 150, 211, 300, 365, 366, 500, 731]
        .into_iter()
        .enumerate()
    {
        let day = start + time::Duration::days(offset);
        let value = ((i * 7) % 11) as i32;
        points.push(point(day, value, None));
        expected.push((day, value));
    }
    points.reverse();
    // Same-date records keep their given order, so reverse the expectation for that pair.
    expected.swap(1, 2);
    let series = ProgressSeries::new(ChartScale::from(ProgressScale::ZeroToTen), points).unwrap();
    let svg = progress_svg("Confidence with money", &series);
    assert_points_match(&svg, &expected);
    let doc = parse_svg(&svg);
    let dates = with_class(&doc, "tick-date");
    assert!(dates.len() >= 2 && dates.len() <= 6, "{svg}");
    let xs: Vec<f64> = dates.iter().map(|n| num(*n, "x")).collect();
    assert!(
        xs.windows(2).all(|w| w[1] - w[0] >= 80.0),
        "labels overlap: {xs:?}"
    );
    let numbers = with_class(&doc, "tick-value").len();
    assert_eq!(numbers, 11, "0 to 10");
}

#[test]
fn csp3_single_record_chart_and_custom_scale() {
    let scale = ChartScale::new(
        "percent of the way",
        0,
        100,
        [(0, "start".to_owned()), (100, "there".to_owned())],
    )
    .unwrap();
    let series = ProgressSeries::new(scale, vec![point(date!(2026 - 02 - 28), 37, None)]).unwrap();
    let svg = progress_svg("Kitchen skills", &series);
    assert_points_match(&svg, &[(date!(2026 - 02 - 28), 37)]);
}

#[test]
fn csp3_empty_series_says_no_progress_recorded_yet() {
    let series = ProgressSeries::new(ChartScale::goal_attainment(), vec![]).unwrap();
    let svg = progress_svg("Walking", &series);
    let doc = parse_svg(&svg);
    assert!(with_class(&doc, "point").is_empty());
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "text")
        .filter_map(|n| n.text())
        .collect();
    assert!(texts.contains(&"No progress recorded yet"), "{svg}");
    let desc = doc
        .descendants()
        .find(|n| n.tag_name().name() == "desc")
        .unwrap();
    assert!(desc.text().unwrap().contains("No progress recorded yet"));

    let table = progress_table("Walking", &series);
    assert!(
        table.contains("<td colspan=\"3\">No progress recorded yet</td>"),
        "{table}"
    );
}

#[test]
fn csp3_chart_escapes_its_title_and_stays_xml() {
    let title = "Tom & Jerry's <script>alert(1)</script> \"goal\" \u{1}";
    let series = ProgressSeries::new(
        ChartScale::goal_attainment(),
        vec![point(date!(2026 - 01 - 01), 1, None)],
    )
    .unwrap();
    let svg = progress_svg(title, &series);
    let doc = parse_svg(&svg);
    assert!(!svg.contains("<script"), "{svg}");
    let shown = doc
        .root_element()
        .first_element_child()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(
        shown,
        "Tom & Jerry's <script>alert(1)</script> \"goal\" \u{FFFD}"
    );
}

#[test]
fn csp3_series_refuses_values_off_the_scale_and_mixed_scales() {
    let error = ProgressSeries::new(
        ChartScale::goal_attainment(),
        vec![point(date!(2026 - 01 - 01), 3, None)],
    )
    .unwrap_err();
    assert_eq!(
        error,
        ChartError::ValueOutOfRange {
            date: date!(2026 - 01 - 01),
            value: 3,
            min: -2,
            max: 2
        }
    );
    assert!(error.to_string().contains("outside the scale"));

    let records = [
        record(
            date!(2026 - 01 - 01),
            ProgressScale::GoalAttainment,
            1,
            None,
        ),
        record(date!(2026 - 02 - 01), ProgressScale::ZeroToTen, 7, None),
    ];
    let error = ProgressSeries::from_records(ProgressScale::GoalAttainment, &records).unwrap_err();
    assert!(matches!(error, ChartError::ScaleMismatch { .. }), "{error}");
    assert!(error.to_string().contains("0 to 10 scale"), "{error}");
}

#[test]
fn csp3_progress_table_holds_the_same_data() {
    let records = [
        record(
            date!(2026 - 04 - 14),
            ProgressScale::GoalAttainment,
            0,
            Some("Walked to the **corner** <script>x</script>"),
        ),
        record(
            date!(2026 - 03 - 03),
            ProgressScale::GoalAttainment,
            -2,
            None,
        ),
    ];
    let series = ProgressSeries::from_records(ProgressScale::GoalAttainment, &records).unwrap();
    let html = progress_table("Walking <to> the shop", &series);
    for tag in common::tags(&html) {
        assert!(
            [
                "table", "caption", "thead", "tbody", "tr", "th", "td", "time", "p", "strong"
            ]
            .contains(&tag.name.as_str()),
            "<{}> in {html}",
            tag.name
        );
        for (name, _) in &tag.attributes {
            assert!(
                ["class", "scope", "datetime", "colspan"].contains(&name.as_str()),
                "{name} in {html}"
            );
        }
    }
    assert!(
        html.contains("<caption>Walking &lt;to&gt; the shop</caption>"),
        "{html}"
    );
    assert!(html.contains("<th scope=\"col\">Date</th>"));
    assert!(html.contains("<th scope=\"col\">Progress (goal attainment (−2 to +2))</th>"));
    assert!(html.contains("<th scope=\"col\">Note</th>"));
    let rows: Vec<&str> = html
        .split("<tbody>")
        .nth(1)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("<tr>"))
        .collect();
    assert_eq!(rows.len(), 2, "{html}");
    assert!(rows[0].starts_with("<tr><th scope=\"row\"><time datetime=\"2026-03-03\">3 March 2026</time></th><td>\u{2212}2 (much less than expected)</td><td></td>"), "{}", rows[0]);
    assert!(
        rows[1].contains("<td>0 (expected outcome)</td>"),
        "{}",
        rows[1]
    );
    assert!(rows[1].contains("<strong>corner</strong>"), "{}", rows[1]);
    assert!(rows[1].contains("&lt;script&gt;"), "{}", rows[1]);
}

proptest! {
    #[test]
    fn csp3_any_series_draws_as_xml_with_its_points(
        title in any::<String>(),
        note in any::<String>(),
        raw in proptest::collection::vec((0i32..2000, -2i32..=2), 0..20),
    ) {
        let start = date!(2024 - 01 - 01);
        let points: Vec<ProgressPoint> = raw
            .iter()
            .map(|(offset, value)| point(start + time::Duration::days(i64::from(*offset)), *value, Some(&note)))
            .collect();
        let mut expected: Vec<(Date, i32)> = points.iter().map(|p| (p.date, p.value)).collect();
        expected.sort_by_key(|(date, _)| *date);
        let series = ProgressSeries::new(ChartScale::goal_attainment(), points).unwrap();
        let svg = progress_svg(&title, &series);
        if expected.is_empty() {
            let doc = parse_svg(&svg);
            prop_assert!(with_class(&doc, "point").is_empty());
        } else {
            assert_points_match(&svg, &expected);
        }
        let table = progress_table(&title, &series);
        prop_assert!(!table.to_ascii_lowercase().contains("<script"));
    }
}
