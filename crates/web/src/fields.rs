//! One form page for every change: fields in the NHS.UK style (labels, hints, error messages
//! beside the field and in an error summary that links to it), with what was entered kept when
//! something is wrong.

use askama::Template;

use crate::layout::Chrome;
use crate::session::FormData;

#[derive(Debug, Clone)]
pub enum Kind {
    /// A one-line text box; the class sets its width.
    Text(&'static str),
    Textarea,
    /// A whole number, with `inputmode=numeric`.
    Number,
    /// Day, month and year boxes.
    Date,
    Select(Vec<(String, String)>),
    /// (value, label, hint)
    Radios(Vec<(String, String, String)>),
    Checkboxes(Vec<(String, String)>),
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub label: String,
    pub hint: String,
    pub kind: Kind,
    /// The value shown (for a date, `YYYY-MM-DD` or the parts as entered).
    pub value: String,
    /// Checked boxes, or a date's [day, month, year] as entered.
    pub values: Vec<String>,
    pub error: Option<String>,
}

impl Field {
    pub fn new(name: &str, label: &str, kind: Kind) -> Field {
        Field {
            name: name.to_owned(),
            label: label.to_owned(),
            hint: String::new(),
            kind,
            value: String::new(),
            values: Vec::new(),
            error: None,
        }
    }

    pub fn hint(mut self, hint: &str) -> Field {
        self.hint = hint.to_owned();
        self
    }

    pub fn value(mut self, value: impl Into<String>) -> Field {
        self.value = value.into();
        if matches!(self.kind, Kind::Date) {
            self.values = date_parts(&self.value);
        }
        self
    }

    pub fn values(mut self, values: Vec<String>) -> Field {
        self.values = values;
        self
    }

    /// The id the error summary links to: the field, or its first box or option.
    pub fn anchor(&self) -> String {
        match self.kind {
            Kind::Date => format!("{}-day", self.name),
            _ => self.name.clone(),
        }
    }

    /// Takes what was entered for this field from a form post.
    pub fn fill_from(&mut self, form: &FormData) {
        match self.kind {
            Kind::Checkboxes(_) => self.values = form.all(&self.name),
            Kind::Date => {
                self.values = ["day", "month", "year"]
                    .iter()
                    .map(|p| form.text(&format!("{}-{p}", self.name)))
                    .collect();
                self.value = date_value(&self.values);
            }
            _ => self.value = form.get(&self.name).unwrap_or("").to_owned(),
        }
    }

    pub fn is_checked(&self, value: &str) -> bool {
        self.values.iter().any(|v| v == value)
    }

    pub fn is_selected(&self, value: &str) -> bool {
        self.value == value
    }

    pub fn day(&self) -> &str {
        self.values.first().map_or("", String::as_str)
    }

    pub fn month(&self) -> &str {
        self.values.get(1).map_or("", String::as_str)
    }

    pub fn year(&self) -> &str {
        self.values.get(2).map_or("", String::as_str)
    }

    /// The ids a field's `aria-describedby` names: its hint and its error.
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if !self.hint.is_empty() {
            ids.push(format!("{}-hint", self.name));
        }
        if self.error.is_some() {
            ids.push(format!("{}-error", self.name));
        }
        ids.join(" ")
    }

    pub fn error_text(&self) -> &str {
        self.error.as_deref().unwrap_or("")
    }
}

/// `YYYY-MM-DD` into [day, month, year] without leading zeros.
fn date_parts(value: &str) -> Vec<String> {
    let mut parts = value.splitn(3, '-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(y), Some(m), Some(d)) if y.len() == 4 => vec![
            d.trim_start_matches('0').to_owned(),
            m.trim_start_matches('0').to_owned(),
            y.to_owned(),
        ],
        _ => vec![String::new(), String::new(), String::new()],
    }
}

/// [day, month, year] as entered into `YYYY-MM-DD` (or "" when all are empty).
fn date_value(parts: &[String]) -> String {
    let (d, m, y) = (
        parts.first().map_or("", String::as_str),
        parts.get(1).map_or("", String::as_str),
        parts.get(2).map_or("", String::as_str),
    );
    if d.is_empty() && m.is_empty() && y.is_empty() {
        return String::new();
    }
    let pad = |s: &str| {
        if s.len() == 1 {
            format!("0{s}")
        } else {
            s.to_owned()
        }
    };
    format!("{y}-{}-{}", pad(m), pad(d))
}

/// A whole form page.
#[derive(Template)]
#[template(path = "form.html")]
pub struct FormPage {
    pub chrome: Chrome,
    pub caption: String,
    pub heading: String,
    /// Paragraphs before the fields.
    pub intro: Vec<String>,
    pub action: String,
    pub csrf: String,
    /// The version of the plan the form was written against (0 when not about a plan).
    pub base_version: u64,
    pub fields: Vec<Field>,
    /// Errors not about one field (shown in the summary only, linking to the first field).
    pub general_errors: Vec<String>,
    /// The plan changed while this form was open: what to do, in a sentence.
    pub stale: Option<String>,
    pub submit: String,
    /// A red button (archiving).
    pub warning: bool,
    pub back_href: String,
    pub back_text: String,
}

impl FormPage {
    /// The error summary: (anchor, message), field errors first in field order.
    pub fn summary(&self) -> Vec<(String, String)> {
        let first = self
            .fields
            .first()
            .map_or_else(|| "maincontent".to_owned(), Field::anchor);
        self.general_errors
            .iter()
            .map(|e| (first.clone(), e.clone()))
            .chain(
                self.fields
                    .iter()
                    .filter_map(|f| f.error.as_ref().map(|e| (f.anchor(), e.clone()))),
            )
            .collect()
    }

    pub fn has_errors(&self) -> bool {
        !self.general_errors.is_empty() || self.fields.iter().any(|f| f.error.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_split_and_join() {
        assert_eq!(date_parts("2026-03-01"), vec!["1", "3", "2026"]);
        assert_eq!(
            date_value(&["1".into(), "3".into(), "2026".into()]),
            "2026-03-01"
        );
        assert_eq!(
            date_value(&[String::new(), String::new(), String::new()]),
            ""
        );
    }
}
