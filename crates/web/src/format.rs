//! Dates, times and names as people read them: "3 March 2026", "3 March 2026 at 14:05".

use careplan_model::{Date, Timestamp};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// "3 March 2026".
pub fn date(d: Date) -> String {
    format!(
        "{} {} {}",
        d.day(),
        MONTHS[usize::from(u8::from(d.month())) - 1],
        d.year()
    )
}

/// "3 March 2026 at 14:05" (UTC).
pub fn when(t: Timestamp) -> String {
    let dt = t.datetime();
    format!("{} at {:02}:{:02}", date(dt.date()), dt.hour(), dt.minute())
}

/// A stored RFC 3339 time as `when` shows it; the text itself if it cannot be read.
pub fn when_text(s: &str) -> String {
    Timestamp::parse(s).map_or_else(|_| s.to_owned(), when)
}

/// A stored `YYYY-MM-DD` as `date` shows it.
pub fn date_text(s: &str) -> String {
    careplan_model::parse_date(s).map_or_else(|_| s.to_owned(), date)
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// "943 476 5919" from "9434765919".
pub fn nhs_number(s: &str) -> String {
    if s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit()) {
        format!("{} {} {}", &s[..3], &s[3..6], &s[6..])
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_words() {
        let d = careplan_model::parse_date("2026-03-01").unwrap();
        assert_eq!(date(d), "1 March 2026");
        assert_eq!(nhs_number("9434765919"), "943 476 5919");
        assert_eq!(url_encode("/people?q=a b"), "%2Fpeople%3Fq%3Da+b");
    }
}
