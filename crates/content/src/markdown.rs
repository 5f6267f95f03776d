//! Markdown (CommonMark with tables) to sanitised HTML and to plain text.
//!
//! Two layers keep the HTML safe, so that a mistake in one is caught by the other:
//!
//! 1. **The Markdown events are filtered** before any HTML is written. Raw HTML in the source
//!    (a `<script>` block, an inline `<img onerror=…>`) is turned into ordinary text, so it is
//!    *escaped* and shown as the person wrote it rather than silently stripped: nothing they typed
//!    disappears, and nothing they typed runs. Links whose address is not `http`, `https` or
//!    `mailto`, and images whose address is not `http` or `https`, lose their address and keep
//!    only their words (the link text, the image's alternative text). The scheme is read the way
//!    a browser reads it: after entity decoding (the Markdown parser does that), with ASCII
//!    whitespace and control characters removed and case ignored, so `JaVa&#x09;Script:` is
//!    still `javascript:`. Relative addresses are refused too, since a plan's text is shown in
//!    several places and a relative link would point somewhere different in each.
//! 2. **The HTML is sanitised** by `ammonia` with an allow-list of exactly the elements Markdown
//!    produces, no `style`, `class` or event-handler attributes, the same URL schemes, relative
//!    URLs denied, and `rel="noopener noreferrer nofollow"` on every link. Table column alignment
//!    (which the Markdown writer emits as a `style` attribute) is therefore dropped.

use std::collections::HashSet;
use std::sync::LazyLock;

use ammonia::{Builder, UrlRelative};
use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd, html};

/// The Markdown dialect: CommonMark plus tables.
fn options() -> Options {
    Options::ENABLE_TABLES
}

/// The elements Markdown with tables can produce; everything else is removed by the sanitiser.
const ALLOWED_TAGS: &[&str] = &[
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

/// Elements removed together with their content if they ever reach the sanitiser.
const REMOVED_WITH_CONTENT: &[&str] = &[
    "script", "style", "iframe", "object", "embed", "template", "noscript", "svg", "math",
];

/// The `rel` every link gets: no access to the opening window, no referrer, no endorsement.
pub const LINK_REL: &str = "noopener noreferrer nofollow";

static SANITISER: LazyLock<Builder<'static>> = LazyLock::new(|| {
    let mut builder = Builder::empty();
    builder
        .add_tags(ALLOWED_TAGS)
        .clean_content_tags(REMOVED_WITH_CONTENT.iter().copied().collect())
        .add_tag_attributes("a", ["href", "title"])
        .add_tag_attributes("img", ["src", "alt", "title"])
        .add_tag_attributes("ol", ["start"])
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .url_relative(UrlRelative::Deny)
        .link_rel(Some(LINK_REL))
        .strip_comments(true);
    builder
});

/// Renders Markdown (CommonMark with tables) as sanitised HTML, safe to put inside a page.
///
/// Headings, paragraphs, emphasis, lists, block quotes, code, links, images and tables render.
/// Raw HTML in the source is escaped, so it shows as the text the person typed. Links keep only
/// `http`, `https` and `mailto` addresses (images only `http` and `https`), and every link gets
/// `rel="noopener noreferrer nofollow"`. See the module documentation for the two layers that
/// make this hold.
pub fn render_markdown(source: &str) -> String {
    let mut raw = String::with_capacity(source.len() + source.len() / 2 + 16);
    html::push_html(&mut raw, safe_events(source).into_iter());
    SANITISER.clean(&raw).to_string()
}

/// The source's Markdown events with raw HTML turned into text and unsafe link and image
/// addresses removed (the words inside stay).
fn safe_events(source: &str) -> Vec<Event<'_>> {
    let mut events = Vec::new();
    // For each open link or image: whether its start tag was dropped (so its end must be too).
    let mut dropped = Vec::new();
    for event in Parser::new_ext(source, options()) {
        match event {
            Event::Html(raw) | Event::InlineHtml(raw) => events.push(Event::Text(raw)),
            Event::Start(Tag::HtmlBlock) => events.push(Event::Start(Tag::Paragraph)),
            Event::End(TagEnd::HtmlBlock) => events.push(Event::End(TagEnd::Paragraph)),
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                let keep = link_allowed(link_type, &dest_url);
                dropped.push(!keep);
                if keep {
                    events.push(Event::Start(Tag::Link {
                        link_type,
                        dest_url,
                        title,
                        id,
                    }));
                }
            }
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                let keep = image_allowed(&dest_url);
                dropped.push(!keep);
                if keep {
                    events.push(Event::Start(Tag::Image {
                        link_type,
                        dest_url,
                        title,
                        id,
                    }));
                }
            }
            Event::End(end @ (TagEnd::Link | TagEnd::Image)) => {
                if !dropped.pop().unwrap_or(false) {
                    events.push(Event::End(end));
                }
            }
            other => events.push(other),
        }
    }
    events
}

/// The scheme of `url` as a browser would see it, lower-cased; `None` for a relative address.
///
/// Browsers drop ASCII tabs and newlines anywhere in a URL and leading and trailing controls and
/// spaces, so all ASCII whitespace and control characters are removed before the scheme is read.
fn scheme_of(url: &str) -> Option<String> {
    let cleaned: String = url
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_control())
        .collect();
    let end = cleaned.find([':', '/', '?', '#'])?;
    cleaned[end..]
        .starts_with(':')
        .then(|| cleaned[..end].to_ascii_lowercase())
}

/// Whether a link may keep its address: `http`, `https` or `mailto` only. An email autolink
/// (`<someone@example.org>`) has no scheme in its address; the HTML writer adds `mailto:`.
fn link_allowed(link_type: LinkType, url: &str) -> bool {
    let scheme = match link_type {
        LinkType::Email => Some("mailto".to_owned()),
        _ => scheme_of(url),
    };
    matches!(scheme.as_deref(), Some("http" | "https" | "mailto"))
}

/// Whether an image may keep its address: `http` or `https` only.
fn image_allowed(url: &str) -> bool {
    matches!(scheme_of(url).as_deref(), Some("http" | "https"))
}

/// Renders Markdown as plain text: for screen-reader summaries, text-only channels and the CLI.
///
/// Blocks are separated by a blank line, list items start with `- ` or their number (nested
/// lists are indented by two spaces a level), table cells are separated by ` | `, a link's
/// allowed address follows its words in brackets, and images become their alternative text.
/// Raw HTML is kept as the text the person typed, as [`render_markdown`] shows it. The result is
/// plain text, not HTML: escape it before putting it in a page.
pub fn plain_text(source: &str) -> String {
    let mut writer = PlainWriter::default();
    for event in Parser::new_ext(source, options()) {
        writer.event(event);
    }
    writer.finish()
}

/// Collects plain text from Markdown events.
#[derive(Debug, Default)]
struct PlainWriter {
    out: String,
    /// Open lists, innermost last: the next number of an ordered list, `None` for a bulleted one.
    lists: Vec<Option<u64>>,
    /// Open links and images: the address to show after the words, if any.
    links: Vec<Option<String>>,
    /// Where the words of each open link started in `out`.
    link_starts: Vec<usize>,
    /// True just after a list item's marker, so its first paragraph stays on the marker's line.
    at_item_start: bool,
    /// Cells written so far in the current table row.
    cells_in_row: usize,
}

impl PlainWriter {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(end) => self.end(end),
            Event::Text(text)
            | Event::Code(text)
            | Event::Html(text)
            | Event::InlineHtml(text)
            | Event::InlineMath(text)
            | Event::DisplayMath(text) => self.text(&text),
            Event::FootnoteReference(label) => self.text(&format!("[{label}]")),
            Event::SoftBreak => self.text(" "),
            Event::HardBreak => self.out.push('\n'),
            Event::Rule => {
                self.block();
                self.out.push_str("---");
            }
            Event::TaskListMarker(done) => self.text(if done { "[x] " } else { "[ ] " }),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph
            | Tag::Heading { .. }
            | Tag::BlockQuote(_)
            | Tag::CodeBlock(_)
            | Tag::HtmlBlock
            | Tag::Table(_)
            | Tag::FootnoteDefinition(_)
            | Tag::DefinitionList
            | Tag::MetadataBlock(_) => self.block(),
            Tag::List(first) => {
                if self.lists.is_empty() {
                    self.block();
                }
                self.lists.push(first);
            }
            Tag::Item => {
                self.line();
                let depth = self.lists.len().saturating_sub(1);
                self.out.push_str(&"  ".repeat(depth));
                let marker = match self.lists.last_mut() {
                    Some(Some(number)) => {
                        let marker = format!("{number}. ");
                        *number += 1;
                        marker
                    }
                    _ => "- ".to_owned(),
                };
                self.out.push_str(&marker);
                self.at_item_start = true;
            }
            Tag::TableHead | Tag::TableRow => {
                self.line();
                self.cells_in_row = 0;
            }
            Tag::TableCell => {
                if self.cells_in_row > 0 {
                    self.out.push_str(" | ");
                }
                self.cells_in_row += 1;
            }
            Tag::Link {
                link_type,
                dest_url,
                ..
            } => {
                let shown = link_allowed(link_type, &dest_url).then(|| dest_url.to_string());
                self.links.push(shown);
                self.link_starts.push(self.out.len());
            }
            Tag::Image { .. } => {
                self.links.push(None);
                self.link_starts.push(self.out.len());
            }
            Tag::DefinitionListTitle | Tag::DefinitionListDefinition => self.line(),
            Tag::Emphasis
            | Tag::Strong
            | Tag::Strikethrough
            | Tag::Superscript
            | Tag::Subscript => {}
        }
    }

    fn end(&mut self, end: TagEnd) {
        match end {
            TagEnd::List(_) => {
                self.lists.pop();
            }
            TagEnd::Link | TagEnd::Image => {
                let start = self.link_starts.pop().unwrap_or(self.out.len());
                if let Some(Some(url)) = self.links.pop() {
                    let words = self.out[start..].trim();
                    let bare = url.strip_prefix("mailto:").unwrap_or(&url);
                    if words != url && words != bare {
                        self.out.push_str(&format!(" ({url})"));
                    }
                }
            }
            _ => {}
        }
    }

    fn text(&mut self, text: &str) {
        self.at_item_start = false;
        self.out.push_str(text);
    }

    /// Starts a new line unless already at the start of one.
    fn line(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    /// Starts a new block: a blank line before it, or, inside a list item, a new indented line
    /// (except for the item's first block, which stays beside its marker).
    fn block(&mut self) {
        if self.at_item_start {
            return;
        }
        if self.lists.is_empty() {
            self.line();
            if !self.out.is_empty() && !self.out.ends_with("\n\n") {
                self.out.push('\n');
            }
        } else {
            self.line();
            self.out.push_str(&"  ".repeat(self.lists.len()));
        }
    }

    fn finish(self) -> String {
        let lines: Vec<&str> = self.out.lines().map(str::trim_end).collect();
        lines.join("\n").trim().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp7_scheme_is_read_like_a_browser() {
        assert_eq!(
            scheme_of("JaVa\tScRiPt:alert(1)").as_deref(),
            Some("javascript")
        );
        assert_eq!(
            scheme_of(" \u{1}java\nscript:x").as_deref(),
            Some("javascript")
        );
        assert_eq!(
            scheme_of("https://example.org/a:b").as_deref(),
            Some("https")
        );
        assert_eq!(scheme_of("/plans/1"), None);
        assert_eq!(scheme_of("page?x=a:b"), None);
        assert_eq!(scheme_of("javascript%3Aalert(1)"), None);
        assert!(link_allowed(LinkType::Inline, "mailto:someone@example.org"));
        assert!(link_allowed(LinkType::Email, "someone@example.org"));
        assert!(!image_allowed("mailto:someone@example.org"));
        assert!(!link_allowed(LinkType::Inline, "data:text/html,hi"));
        assert!(!link_allowed(LinkType::Inline, "relative/page"));
        assert!(!link_allowed(LinkType::Autolink, "javascript:alert(1)"));
    }
}
