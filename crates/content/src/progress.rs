//! Progress towards a goal drawn as a chart (CSP-3 formal progress, CSP-7 "diagrams, e.g.
//! progress"), with a table of the same data for screen readers.
//!
//! The plan states the scale of each record (`careplan_model::ProgressScale`). The default is
//! **goal attainment scaling** (Kiresuk and Sherman, 1968), the scale the HL7 Person-Centered
//! Outcomes guide uses for goal attainment: −2 much less than expected, −1 somewhat less than
//! expected, 0 the expected outcome, +1 somewhat more, +2 much more. It is anchored on the
//! outcome the person and practitioner agreed, so it works for any goal, and it is recognised in
//! health and social care. A plain 0–10 scale is offered for people who find numbers easier.
//! [`ChartScale`] describes either (or another integer scale) for drawing.

use std::collections::BTreeMap;

use careplan_model::values::Date;
use careplan_model::{ProgressRecord, ProgressScale};
use time::macros::format_description;

use crate::escape::escape;
use crate::markdown::render_markdown;

/// Why a scale or a series was refused; each message is a sentence a person understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChartError {
    #[error("a progress scale must go up: its lowest value {min} is not below its highest {max}")]
    InvalidRange { min: i32, max: i32 },
    #[error(
        "a progress scale can span at most {} steps; {min} to {max} is too wide to draw",
        ChartScale::MAX_SPAN
    )]
    TooWide { min: i32, max: i32 },
    #[error("the label for {value} is outside the scale, which runs from {min} to {max}")]
    LabelOutOfRange { value: i32, min: i32, max: i32 },
    #[error(
        "the label for {value} must be 1 to {} characters long",
        ChartScale::MAX_LABEL_CHARS
    )]
    InvalidLabel { value: i32 },
    #[error("the scale needs a name")]
    NoName,
    #[error(
        "the progress recorded on {date} is {value}, outside the scale, which runs from {min} to {max}"
    )]
    ValueOutOfRange {
        date: Date,
        value: i32,
        min: i32,
        max: i32,
    },
    #[error(
        "the progress recorded on {date} is on the {found} scale, not the {expected} scale of this chart"
    )]
    ScaleMismatch {
        date: Date,
        expected: &'static str,
        found: &'static str,
    },
}

/// An integer scale to draw progress on: its name, its range and words for some of its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartScale {
    name: String,
    min: i32,
    max: i32,
    labels: BTreeMap<i32, String>,
}

impl ChartScale {
    /// The widest scale that can be drawn (0–100 fits).
    pub const MAX_SPAN: i32 = 100;
    /// The longest label, in characters, so the axis stays readable.
    pub const MAX_LABEL_CHARS: usize = 60;

    /// A scale from `min` to `max` (integers), with labels for any of its values.
    pub fn new(
        name: &str,
        min: i32,
        max: i32,
        labels: impl IntoIterator<Item = (i32, String)>,
    ) -> Result<Self, ChartError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(ChartError::NoName);
        }
        if min >= max {
            return Err(ChartError::InvalidRange { min, max });
        }
        if i64::from(max) - i64::from(min) > i64::from(Self::MAX_SPAN) {
            return Err(ChartError::TooWide { min, max });
        }
        let mut checked = BTreeMap::new();
        for (value, label) in labels {
            if !(min..=max).contains(&value) {
                return Err(ChartError::LabelOutOfRange { value, min, max });
            }
            let label = label.trim();
            if label.is_empty() || label.chars().count() > Self::MAX_LABEL_CHARS {
                return Err(ChartError::InvalidLabel { value });
            }
            checked.insert(value, label.to_owned());
        }
        Ok(Self {
            name: name.to_owned(),
            min,
            max,
            labels: checked,
        })
    }

    /// Goal attainment scaling, −2 to +2, every value labelled.
    pub fn goal_attainment() -> Self {
        Self::from(ProgressScale::GoalAttainment)
    }

    /// 0 to 10, with its ends labelled.
    pub fn zero_to_ten() -> Self {
        Self::from(ProgressScale::ZeroToTen)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn min(&self) -> i32 {
        self.min
    }

    pub fn max(&self) -> i32 {
        self.max
    }

    /// The words for `value`, if the scale has any.
    pub fn label(&self, value: i32) -> Option<&str> {
        self.labels.get(&value).map(String::as_str)
    }

    /// A value as a number: signed ("+1", "0", "−2" with a true minus sign) when the scale goes
    /// below zero, plain otherwise.
    pub fn format_number(&self, value: i32) -> String {
        if value < 0 {
            format!("\u{2212}{}", value.unsigned_abs())
        } else if self.min < 0 && value > 0 {
            format!("+{value}")
        } else {
            value.to_string()
        }
    }

    /// A value with its words: "+1 (somewhat more than expected)", or just the number.
    pub fn format_value(&self, value: i32) -> String {
        match self.label(value) {
            Some(label) => format!("{} ({label})", self.format_number(value)),
            None => self.format_number(value),
        }
    }

    /// The values that get a tick on the axis: every step of a readable size, the ends, and
    /// every labelled value.
    fn ticks(&self) -> Vec<i32> {
        let span = self.max - self.min;
        let step = match span {
            ..=10 => 1,
            11..=20 => 2,
            21..=50 => 5,
            _ => 10,
        };
        let mut ticks: Vec<i32> = (self.min..=self.max)
            .filter(|v| v.rem_euclid(step) == 0 || *v == self.min || *v == self.max)
            .chain(self.labels.keys().copied())
            .collect();
        ticks.sort_unstable();
        ticks.dedup();
        ticks
    }
}

impl From<ProgressScale> for ChartScale {
    fn from(scale: ProgressScale) -> Self {
        let labels: &[(i32, &str)] = match scale {
            ProgressScale::GoalAttainment => &[
                (-2, "much less than expected"),
                (-1, "somewhat less than expected"),
                (0, "expected outcome"),
                (1, "somewhat more than expected"),
                (2, "much more than expected"),
            ],
            ProgressScale::ZeroToTen => &[(0, "no progress"), (10, "goal fully met")],
        };
        let range = scale.range();
        Self {
            name: scale.label().to_owned(),
            min: i32::from(*range.start()),
            max: i32::from(*range.end()),
            labels: labels
                .iter()
                .map(|(value, label)| (*value, (*label).to_owned()))
                .collect(),
        }
    }
}

/// One dated value, with an optional note (Markdown, as the person wrote it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressPoint {
    pub date: Date,
    pub value: i32,
    pub note: Option<String>,
}

impl From<&ProgressRecord> for ProgressPoint {
    fn from(record: &ProgressRecord) -> Self {
        ProgressPoint {
            date: record.date,
            value: i32::from(record.progress.value()),
            note: record.note.as_ref().map(|note| note.as_str().to_owned()),
        }
    }
}

/// Progress records on one scale, in date order (records on the same date keep their order);
/// every value is inside the scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressSeries {
    scale: ChartScale,
    points: Vec<ProgressPoint>,
}

impl ProgressSeries {
    /// Checks every value against the scale and sorts the points by date.
    pub fn new(scale: ChartScale, mut points: Vec<ProgressPoint>) -> Result<Self, ChartError> {
        if let Some(point) = points
            .iter()
            .find(|p| !(scale.min..=scale.max).contains(&p.value))
        {
            return Err(ChartError::ValueOutOfRange {
                date: point.date,
                value: point.value,
                min: scale.min,
                max: scale.max,
            });
        }
        points.sort_by_key(|point| point.date);
        Ok(Self { scale, points })
    }

    /// A goal's progress records, all of which must be on `scale`.
    pub fn from_records<'a>(
        scale: ProgressScale,
        records: impl IntoIterator<Item = &'a ProgressRecord>,
    ) -> Result<Self, ChartError> {
        let mut points = Vec::new();
        for record in records {
            let found = record.progress.scale();
            if found != scale {
                return Err(ChartError::ScaleMismatch {
                    date: record.date,
                    expected: scale.label(),
                    found: found.label(),
                });
            }
            points.push(ProgressPoint::from(record));
        }
        Self::new(ChartScale::from(scale), points)
    }

    pub fn scale(&self) -> &ChartScale {
        &self.scale
    }

    /// The points in date order.
    pub fn points(&self) -> &[ProgressPoint] {
        &self.points
    }

    /// One or two sentences describing the series, for the chart's `<desc>`.
    fn describe(&self, title: &str) -> String {
        let scale = &self.scale;
        let (Some(first), Some(last)) = (self.points.first(), self.points.last()) else {
            return format!(
                "{title}. No progress recorded yet on the {} scale.",
                scale.name
            );
        };
        let count = self.points.len();
        let records = if count == 1 { "record" } else { "records" };
        let mut text = format!(
            "{title}. {count} progress {records} on the {} scale, from {} to {}.",
            scale.name,
            long_date(first.date),
            long_date(last.date)
        );
        text.push_str(&format!(
            " First: {} on {}.",
            scale.format_value(first.value),
            long_date(first.date)
        ));
        if count > 1 {
            text.push_str(&format!(
                " Latest: {} on {}.",
                scale.format_value(last.value),
                long_date(last.date)
            ));
        }
        text
    }
}

/// A date as shown: "3 Mar 2026".
fn short_date(date: Date) -> String {
    date.format(format_description!(
        "[day padding:none] [month repr:short] [year]"
    ))
    .unwrap_or_else(|_| date.to_string())
}

/// A date as read out: "3 March 2026".
fn long_date(date: Date) -> String {
    date.format(format_description!(
        "[day padding:none] [month repr:long] [year]"
    ))
    .unwrap_or_else(|_| date.to_string())
}

/// A coordinate with at most two decimals and no trailing zeros.
fn coord(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// Rough width of `text` in the chart's 12px sans-serif, to size the left margin.
fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * 7.0
}

// Layout of the chart, in SVG user units.
const PLOT_WIDTH: f64 = 480.0;
const PLOT_HEIGHT: f64 = 240.0;
const TOP: f64 = 64.0;
const RIGHT: f64 = 24.0;
const BOTTOM: f64 = 64.0;
/// Space inside the plot between the axis and the first and last dates.
const INSET: f64 = 20.0;
/// The least room a date label needs on the x axis.
const DATE_LABEL_GAP: f64 = 84.0;
const INK: &str = "#0b0c0c";
const LINE: &str = "#1d70b8";
const GRID: &str = "#d8d8d8";

/// Draws a progress series as a standalone SVG 1.1 document.
///
/// The document has `role="img"`, a `<title>` (`title`) and a `<desc>` summing the series up in
/// words; a y axis with the scale's values and their labels; dates on the x axis; one `<circle>`
/// per record whose `<title>` gives its date and value; and a `<polyline>` joining them in date
/// order. Records on the same date are drawn at the same x. With no records it says "No progress
/// recorded yet". No scripts, no external references, generic font families only, and every text
/// escaped, so it can be served as `image/svg+xml` or put inline in a page.
pub fn progress_svg(title: &str, series: &ProgressSeries) -> String {
    let title = match title.trim() {
        "" => "Progress",
        given => given,
    };
    let scale = &series.scale;
    let ticks = scale.ticks();
    let widest_label = ticks
        .iter()
        .map(|v| text_width(&tick_text(scale, *v)))
        .fold(0.0, f64::max);
    let left = (widest_label + 24.0).max(56.0);
    let width = left + PLOT_WIDTH + RIGHT;
    let height = TOP + PLOT_HEIGHT + BOTTOM;
    let bottom = TOP + PLOT_HEIGHT;
    let right = left + PLOT_WIDTH;

    let mut svg = String::with_capacity(4096 + series.points.len() * 256);
    svg.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    svg.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" role=\"img\" font-family=\"sans-serif\" font-size=\"12\" \
         fill=\"{INK}\">\n",
        w = coord(width),
        h = coord(height)
    ));
    svg.push_str(&format!("<title>{}</title>\n", escape(title)));
    svg.push_str(&format!(
        "<desc>{}</desc>\n",
        escape(&series.describe(title))
    ));
    svg.push_str(&format!(
        "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n",
        coord(width),
        coord(height)
    ));
    svg.push_str(&format!(
        "<text x=\"16\" y=\"26\" font-size=\"16\" font-weight=\"bold\">{}</text>\n",
        escape(title)
    ));
    svg.push_str(&format!(
        "<text x=\"16\" y=\"46\">Scale: {}</text>\n",
        escape(&scale.name)
    ));

    if series.points.is_empty() {
        svg.push_str(&format!(
            "<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14\">No progress recorded yet</text>\n",
            coord(width / 2.0),
            coord(TOP + PLOT_HEIGHT / 2.0)
        ));
        svg.push_str("</svg>\n");
        return svg;
    }

    // y axis: value → y, highest value at the top.
    let span = f64::from(scale.max - scale.min);
    let y_of = |value: i32| TOP + f64::from(scale.max - value) / span * PLOT_HEIGHT;
    svg.push_str("<g class=\"y-axis\">\n");
    for value in &ticks {
        let y = coord(y_of(*value));
        svg.push_str(&format!(
            "<line class=\"gridline\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{GRID}\" stroke-width=\"1\"/>\n",
            coord(left),
            coord(right)
        ));
        svg.push_str(&format!(
            "<text class=\"tick-value\" x=\"{}\" y=\"{y}\" dy=\"4\" text-anchor=\"end\" font-weight=\"bold\">{}</text>\n",
            coord(left - 8.0),
            escape(&scale.format_number(*value))
        ));
        if let Some(label) = scale.label(*value) {
            svg.push_str(&format!(
                "<text class=\"tick-label\" x=\"{}\" y=\"{y}\" dy=\"4\" text-anchor=\"end\">{}</text>\n",
                coord(left - 36.0),
                escape(label)
            ));
        }
    }
    svg.push_str(&format!(
        "<line class=\"axis\" x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{b}\" stroke=\"{INK}\" stroke-width=\"1\"/>\n</g>\n",
        l = coord(left),
        t = coord(TOP),
        b = coord(bottom)
    ));

    // x axis: date → x, first date at the left.
    let first = series.points[0].date.to_julian_day();
    let last = series.points[series.points.len() - 1].date.to_julian_day();
    let days = f64::from(last - first);
    let x_of = |date: Date| {
        if last == first {
            left + PLOT_WIDTH / 2.0
        } else {
            left + INSET
                + f64::from(date.to_julian_day() - first) / days * (PLOT_WIDTH - 2.0 * INSET)
        }
    };
    svg.push_str("<g class=\"x-axis\">\n");
    svg.push_str(&format!(
        "<line class=\"axis\" x1=\"{}\" y1=\"{b}\" x2=\"{}\" y2=\"{b}\" stroke=\"{INK}\" stroke-width=\"1\"/>\n",
        coord(left),
        coord(right),
        b = coord(bottom)
    ));
    for date in date_ticks(&series.points, x_of) {
        let x = coord(x_of(date));
        svg.push_str(&format!(
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"{INK}\" stroke-width=\"1\"/>\n",
            coord(bottom),
            coord(bottom + 6.0)
        ));
        svg.push_str(&format!(
            "<text class=\"tick-date\" x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            coord(bottom + 22.0),
            escape(&short_date(date))
        ));
    }
    svg.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">Date</text>\n</g>\n",
        coord(left + PLOT_WIDTH / 2.0),
        coord(bottom + 48.0)
    ));

    // The series.
    let positions: Vec<(String, String)> = series
        .points
        .iter()
        .map(|p| (coord(x_of(p.date)), coord(y_of(p.value))))
        .collect();
    if positions.len() > 1 {
        let joined: Vec<String> = positions.iter().map(|(x, y)| format!("{x},{y}")).collect();
        svg.push_str(&format!(
            "<polyline class=\"progress-line\" points=\"{}\" fill=\"none\" stroke=\"{LINE}\" stroke-width=\"2\"/>\n",
            joined.join(" ")
        ));
    }
    svg.push_str("<g class=\"points\">\n");
    for (point, (x, y)) in series.points.iter().zip(&positions) {
        svg.push_str(&format!(
            "<circle class=\"point\" cx=\"{x}\" cy=\"{y}\" r=\"5\" fill=\"{LINE}\" stroke=\"#ffffff\" stroke-width=\"1.5\"><title>{}: {}</title></circle>\n",
            escape(&long_date(point.date)),
            escape(&scale.format_value(point.value))
        ));
    }
    svg.push_str("</g>\n</svg>\n");
    svg
}

/// The text beside a y-axis tick, for sizing the margin: the number and its label.
fn tick_text(scale: &ChartScale, value: i32) -> String {
    match scale.label(value) {
        Some(label) => format!("{label}     {}", scale.format_number(value)),
        None => scale.format_number(value),
    }
}

/// The dates labelled on the x axis: every record's date when there are few, otherwise six
/// evenly spaced days; left to right, any label too close to the one before is skipped, and the
/// last date is always labelled.
fn date_ticks(points: &[ProgressPoint], x_of: impl Fn(Date) -> f64) -> Vec<Date> {
    let mut dates: Vec<Date> = points.iter().map(|p| p.date).collect();
    dates.dedup();
    let candidates = if dates.len() <= 6 {
        dates
    } else {
        let first = dates[0].to_julian_day();
        let last = dates[dates.len() - 1].to_julian_day();
        let mut spaced: Vec<Date> = (0..=5)
            .filter_map(|k| {
                let day = first + ((i64::from(last - first) * k + 2) / 5) as i32;
                Date::from_julian_day(day).ok()
            })
            .collect();
        spaced.dedup();
        spaced
    };
    let mut chosen: Vec<Date> = Vec::new();
    for date in &candidates {
        let fits = chosen
            .last()
            .is_none_or(|before| x_of(*date) - x_of(*before) >= DATE_LABEL_GAP);
        if fits {
            chosen.push(*date);
        }
    }
    if let (Some(last), Some(placed)) = (candidates.last(), chosen.last())
        && placed != last
    {
        if chosen.len() > 1 {
            chosen.pop();
        }
        let fits = chosen
            .last()
            .is_none_or(|before| x_of(*last) - x_of(*before) >= DATE_LABEL_GAP);
        if fits {
            chosen.push(*last);
        }
    }
    chosen
}

/// The same data as [`progress_svg`], as an HTML table for screen readers and for anyone who
/// prefers numbers: a `<caption>`, column headers Date, Progress (with the scale's name) and Note,
/// and one row per record in date order whose `<th scope="row">` is its date (in a `<time>`
/// element). Values show their label; notes are Markdown, rendered with [`render_markdown`].
/// With no records, one row says "No progress recorded yet". Every text is escaped.
pub fn progress_table(caption: &str, series: &ProgressSeries) -> String {
    let caption = match caption.trim() {
        "" => "Progress",
        given => given,
    };
    let scale = &series.scale;
    let mut html = String::with_capacity(512 + series.points.len() * 256);
    html.push_str("<table class=\"progress-table\">\n");
    html.push_str(&format!("<caption>{}</caption>\n", escape(caption)));
    html.push_str(&format!(
        "<thead>\n<tr><th scope=\"col\">Date</th><th scope=\"col\">Progress ({})</th><th scope=\"col\">Note</th></tr>\n</thead>\n<tbody>\n",
        escape(&scale.name)
    ));
    if series.points.is_empty() {
        html.push_str("<tr><td colspan=\"3\">No progress recorded yet</td></tr>\n");
    }
    for point in &series.points {
        let note = point
            .note
            .as_deref()
            .map(render_markdown)
            .unwrap_or_default();
        html.push_str(&format!(
            "<tr><th scope=\"row\"><time datetime=\"{}\">{}</time></th><td>{}</td><td>{}</td></tr>\n",
            point.date,
            escape(&long_date(point.date)),
            escape(&scale.format_value(point.value)),
            note.trim_end()
        ));
    }
    html.push_str("</tbody>\n</table>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp3_scales_refuse_what_cannot_be_drawn() {
        assert_eq!(
            ChartScale::new("x", 3, 3, []),
            Err(ChartError::InvalidRange { min: 3, max: 3 })
        );
        assert!(matches!(
            ChartScale::new("x", 0, 1000, []),
            Err(ChartError::TooWide { .. })
        ));
        assert!(matches!(
            ChartScale::new("x", 0, 5, [(6, "too high".to_owned())]),
            Err(ChartError::LabelOutOfRange { value: 6, .. })
        ));
        assert!(matches!(
            ChartScale::new("x", 0, 5, [(1, " ".to_owned())]),
            Err(ChartError::InvalidLabel { value: 1 })
        ));
        assert_eq!(ChartScale::new(" ", 0, 5, []), Err(ChartError::NoName));
        assert!(ChartScale::new("percent", 0, 100, []).is_ok());
    }

    #[test]
    fn csp3_values_are_signed_on_scales_below_zero() {
        let gas = ChartScale::goal_attainment();
        assert_eq!(gas.format_number(2), "+2");
        assert_eq!(gas.format_number(0), "0");
        assert_eq!(gas.format_number(-1), "\u{2212}1");
        assert_eq!(gas.format_value(1), "+1 (somewhat more than expected)");
        let ten = ChartScale::zero_to_ten();
        assert_eq!(ten.format_value(7), "7");
        assert_eq!(ten.format_value(10), "10 (goal fully met)");
        assert_eq!(ten.ticks(), (0..=10).collect::<Vec<_>>());
        let percent = ChartScale::new("percent", 0, 100, [(50, "half".to_owned())]).unwrap();
        assert_eq!(
            percent.ticks(),
            vec![0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
        );
    }

    #[test]
    fn csp3_coordinates_are_short_and_exact() {
        assert_eq!(coord(12.0), "12");
        assert_eq!(coord(12.5), "12.5");
        assert_eq!(coord(1.0 / 3.0), "0.33");
        assert_eq!(coord(-0.001), "0");
    }
}
