//! CSP-2 Attachment and hyperlink records. This module holds their metadata; the bytes of an
//! attachment live in the blob store, addressed by their SHA-256.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::comment::Target;
use crate::meta::ItemMeta;
use crate::values::{InvalidValue, Text};

/// Why something is attached, in the standard's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Guidance,
    LearningMaterial,
    ExplanatoryNote,
    ProgressPicture,
    Diagram,
    Recording,
    Document,
    Other,
}

impl Purpose {
    pub fn label(self) -> &'static str {
        match self {
            Purpose::Guidance => "guidance",
            Purpose::LearningMaterial => "learning material",
            Purpose::ExplanatoryNote => "explanatory note",
            Purpose::ProgressPicture => "progress picture",
            Purpose::Diagram => "diagram",
            Purpose::Recording => "recording",
            Purpose::Document => "document",
            Purpose::Other => "other",
        }
    }
}

/// A SHA-256 digest in lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Hex(String);

impl Sha256Hex {
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(value.to_ascii_lowercase()))
        } else {
            Err(InvalidValue(format!(
                "“{value}” is not a SHA-256 digest (64 hexadecimal characters)"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sha256Hex {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Sha256Hex> for String {
    fn from(value: Sha256Hex) -> String {
        value.0
    }
}

/// A web address a hyperlink may point at: `http` or `https` only, with a host, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebAddress(String);

impl WebAddress {
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let v = value.trim();
        let lower = v.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"));
        let Some(rest) = rest else {
            return Err(InvalidValue(format!(
                "“{value}” is not a web address: links must start with https:// or http://"
            )));
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit('@').next().unwrap_or("");
        if host.is_empty()
            || host.starts_with(':')
            || v.len() > 2048
            || v.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(InvalidValue(format!(
                "“{value}” is not a complete web address"
            )));
        }
        Ok(Self(v.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WebAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for WebAddress {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<WebAddress> for String {
    fn from(value: WebAddress) -> String {
        value.0
    }
}

/// A file attached to the plan. `meta.added` is when and by whom it was added (CSP-2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub meta: ItemMeta,
    pub target: Target,
    pub title: Text,
    pub purpose: Purpose,
    /// The media type sniffed from the bytes, e.g. `image/png`.
    pub content_type: Text,
    pub size_bytes: u64,
    pub sha256: Sha256Hex,
    /// A text alternative for images, diagrams and clips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
}

/// A link to guidance or material held elsewhere. `meta.added` is when and by whom (CSP-2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hyperlink {
    pub meta: ItemMeta,
    pub target: Target,
    pub title: Text,
    pub url: WebAddress,
    pub purpose: Purpose,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp2_links_accept_http_and_https_only() {
        assert!(WebAddress::parse("https://www.nhs.uk/conditions/copd/").is_ok());
        assert!(WebAddress::parse("http://example.org").is_ok());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "ftp://example.org",
            "https://",
            "https:// spaced.org",
            "www.nhs.uk",
        ] {
            assert!(WebAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
