//! Helpers shared by the integration tests: a small reader of the HTML the crate produces.
//!
//! The crate's HTML escapes every `<` in text, so every `<` in its output starts a tag; ammonia
//! writes attribute values in double quotes. That makes the tags easy to read without a full
//! HTML parser, and strict: anything the reader does not understand fails the test.

#![allow(dead_code)]

/// A start or end tag found in HTML output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    pub name: String,
    pub closing: bool,
    /// Attribute names (lower case) and their values with entities decoded.
    pub attributes: Vec<(String, String)>,
}

/// Every tag in `html`, in order. Panics on anything that is not a well-formed tag.
pub fn tags(html: &str) -> Vec<TagInfo> {
    let mut found = Vec::new();
    let bytes = html.as_bytes();
    let mut i = 0;
    while let Some(offset) = html[i..].find('<') {
        let mut j = i + offset + 1;
        let closing = bytes.get(j) == Some(&b'/');
        if closing {
            j += 1;
        }
        let name_start = j;
        while j < bytes.len() && bytes[j].is_ascii_alphanumeric() {
            j += 1;
        }
        assert!(
            j > name_start,
            "a `<` that does not start a tag in {html:?}"
        );
        let name = html[name_start..j].to_ascii_lowercase();
        let mut attributes = Vec::new();
        loop {
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            match bytes.get(j) {
                Some(b'>') => {
                    j += 1;
                    break;
                }
                Some(b'/') if bytes.get(j + 1) == Some(&b'>') => {
                    j += 2;
                    break;
                }
                Some(_) => {
                    let attr_start = j;
                    while j < bytes.len()
                        && !bytes[j].is_ascii_whitespace()
                        && !matches!(bytes[j], b'=' | b'>' | b'/')
                    {
                        j += 1;
                    }
                    let attr = html[attr_start..j].to_ascii_lowercase();
                    assert!(!attr.is_empty(), "unreadable attribute in {html:?}");
                    let mut value = String::new();
                    if bytes.get(j) == Some(&b'=') {
                        j += 1;
                        assert_eq!(bytes.get(j), Some(&b'"'), "unquoted value in {html:?}");
                        let end = html[j + 1..].find('"').expect("closing quote") + j + 1;
                        value = decode(&html[j + 1..end]);
                        j = end + 1;
                    }
                    attributes.push((attr, value));
                }
                None => panic!("unterminated tag in {html:?}"),
            }
        }
        found.push(TagInfo {
            name,
            closing,
            attributes,
        });
        i = j;
    }
    found
}

/// Decodes the entities an HTML serialiser writes in attribute values.
pub fn decode(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after.find(';').expect("entity ends with ;");
        let entity = &after[..semi];
        let decoded = match entity {
            "amp" => '&',
            "quot" => '"',
            "lt" => '<',
            "gt" => '>',
            "nbsp" => '\u{a0}',
            "apos" => '\'',
            _ if entity.starts_with("#x") => {
                char::from_u32(u32::from_str_radix(&entity[2..], 16).unwrap()).unwrap()
            }
            _ if entity.starts_with('#') => char::from_u32(entity[1..].parse().unwrap()).unwrap(),
            other => panic!("unknown entity &{other};"),
        };
        out.push(decoded);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    out
}

/// The elements Markdown with tables may produce.
pub const MARKDOWN_TAGS: &[&str] = &[
    "a",
    "blockquote",
    "br",
    "code",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
];

/// The scheme of a URL the way a browser reads it, or `None` for a relative one.
fn scheme(url: &str) -> Option<String> {
    let cleaned: String = url
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    let colon = cleaned.find(':')?;
    let prefix = &cleaned[..colon];
    (!prefix.contains(['/', '?', '#'])).then(|| prefix.to_owned())
}

/// Checks that rendered Markdown holds nothing that can run: only Markdown's elements, no
/// event handlers or styles, links to http/https/mailto only (with the safe `rel`), images from
/// http/https only. Returns the tags for further checks.
pub fn assert_safe_html(html: &str) -> Vec<TagInfo> {
    let lower = html.to_ascii_lowercase();
    for needle in [
        "<script", "<iframe", "<style", "<object", "<embed", "<svg", "<math",
    ] {
        assert!(!lower.contains(needle), "{needle} in {html:?}");
    }
    let found = tags(html);
    for tag in &found {
        assert!(
            MARKDOWN_TAGS.contains(&tag.name.as_str()),
            "element <{}> in {html:?}",
            tag.name
        );
        for (name, value) in &tag.attributes {
            assert!(!name.starts_with("on"), "event handler {name} in {html:?}");
            assert!(
                !matches!(
                    name.as_str(),
                    "style" | "class" | "id" | "srcset" | "formaction"
                ),
                "attribute {name} in {html:?}"
            );
            let lowered = value.to_ascii_lowercase();
            assert!(
                !lowered.contains("javascript:") && !lowered.contains("vbscript:"),
                "script URL in {name}={value:?} of {html:?}"
            );
            if name == "href" {
                let scheme = scheme(value);
                assert!(
                    matches!(scheme.as_deref(), Some("http" | "https" | "mailto")),
                    "link to {value:?} in {html:?}"
                );
            }
            if name == "src" {
                let scheme = scheme(value);
                assert!(
                    matches!(scheme.as_deref(), Some("http" | "https")),
                    "image from {value:?} in {html:?}"
                );
            }
        }
        if tag.name == "a" && !tag.closing {
            let rel = tag.attributes.iter().find(|(name, _)| name == "rel");
            assert_eq!(
                rel.map(|(_, value)| value.as_str()),
                Some("noopener noreferrer nofollow"),
                "link without the safe rel in {html:?}"
            );
        }
    }
    found
}
