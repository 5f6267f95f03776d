//! HTTP `Range: bytes=…` requests (RFC 9110 §14), so audio and video play and seek in a browser.

use std::ops::Range;

/// What a `Range` header asks of a file of a known size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: send the whole file (200). Several ranges at once are answered this way
    /// too, which RFC 9110 allows; browsers ask for one.
    Whole,
    /// One range, end exclusive (206).
    Part(Range<u64>),
    /// The range starts beyond the end of the file (416).
    Unsatisfiable,
}

/// Reads a `Range` header value against a file of `size` bytes.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(value) = header else {
        return RangeRequest::Whole;
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        // Another unit: ignore the header, as RFC 9110 says.
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        // "-N": the last N bytes.
        (true, false) => match parse(last) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Part(size.saturating_sub(n)..size),
            None => RangeRequest::Whole,
        },
        // "A-": from A to the end.
        (false, true) => match parse(first) {
            Some(a) if a >= size => RangeRequest::Unsatisfiable,
            Some(a) => RangeRequest::Part(a..size),
            None => RangeRequest::Whole,
        },
        // "A-B": inclusive, B clipped to the end.
        (false, false) => match (parse(first), parse(last)) {
            (Some(a), Some(b)) if a > b => RangeRequest::Whole,
            (Some(a), Some(_)) if a >= size => RangeRequest::Unsatisfiable,
            (Some(a), Some(b)) => RangeRequest::Part(a..b.saturating_add(1).min(size)),
            _ => RangeRequest::Whole,
        },
        (true, true) => RangeRequest::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::*;

    #[test]
    fn csp2_byte_ranges_follow_rfc_9110() {
        let size = 1000;
        assert_eq!(parse_range(None, size), Whole);
        assert_eq!(parse_range(Some("bytes=0-99"), size), Part(0..100));
        assert_eq!(parse_range(Some("bytes=500-"), size), Part(500..1000));
        assert_eq!(parse_range(Some("bytes=-100"), size), Part(900..1000));
        assert_eq!(parse_range(Some("bytes=-5000"), size), Part(0..1000));
        assert_eq!(parse_range(Some("bytes=990-2000"), size), Part(990..1000));
        assert_eq!(parse_range(Some("bytes=1000-"), size), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), size), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), size), Whole);
        assert_eq!(parse_range(Some("items=0-1"), size), Whole);
        assert_eq!(parse_range(Some("bytes=9-3"), size), Whole);
        assert_eq!(parse_range(Some("bytes=x-3"), size), Whole);
        assert_eq!(parse_range(Some("bytes=-1"), 0), Unsatisfiable);
    }
}
