//! CSP-7 rich text: Markdown renders to HTML in which nothing can run, and plain text.

mod common;

use careplan_content::{plain_text, render_markdown};
use common::{TagInfo, assert_safe_html};
use proptest::prelude::*;

fn has_tag(tags: &[TagInfo], name: &str) -> bool {
    tags.iter().any(|tag| tag.name == name && !tag.closing)
}

fn href_of(tags: &[TagInfo]) -> Vec<String> {
    tags.iter()
        .flat_map(|tag| &tag.attributes)
        .filter(|(name, _)| name == "href" || name == "src")
        .map(|(_, value)| value.clone())
        .collect()
}

#[test]
fn csp7_script_tags_are_neutralised() {
    for source in [
        "<script>alert(1)</script>",
        "Hello <script>alert(1)</script> there",
        "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
        "- item\n\n  <script>alert(1)</script>",
        "> <script>alert(1)</script>",
        "| a |\n|---|\n| <script>alert(1)</script> |",
        "<scr<script>ipt>alert(1)</script>",
    ] {
        let html = render_markdown(source);
        assert_safe_html(&html);
        assert!(
            !html.to_ascii_lowercase().contains("<script"),
            "{source:?} gave {html:?}"
        );
    }
    // Raw HTML is escaped, not dropped: the person sees what they typed.
    let html = render_markdown("Hello <script>alert(1)</script> there");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html:?}"
    );
}

#[test]
fn csp7_iframes_styles_and_other_embedded_content_are_neutralised() {
    for (source, needle) in [
        ("<iframe src=\"https://evil.example\"></iframe>", "<iframe"),
        ("text <iframe src=https://evil.example>", "<iframe"),
        ("<style>body { display: none }</style>", "<style"),
        (
            "<object data=\"https://evil.example/x.swf\"></object>",
            "<object",
        ),
        ("<embed src=\"https://evil.example/x\">", "<embed"),
        ("<svg onload=alert(1)><circle/></svg>", "<svg"),
        (
            "<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>",
            "<math",
        ),
        (
            "<form action=https://evil.example><button>Go</button></form>",
            "<form",
        ),
        (
            "<meta http-equiv=refresh content=\"0;url=https://evil.example\">",
            "<meta",
        ),
        ("<base href=\"https://evil.example/\">", "<base"),
    ] {
        let html = render_markdown(source);
        assert_safe_html(&html);
        assert!(
            !html.to_ascii_lowercase().contains(needle),
            "{source:?} gave {html:?}"
        );
    }
}

#[test]
fn csp7_event_handler_attributes_are_neutralised() {
    for source in [
        "<img src=x onerror=alert(1)>",
        "<img src=\"https://ok.example/a.png\" OnError=\"alert(1)\">",
        "<a href=\"https://ok.example\" onclick=\"alert(1)\">x</a>",
        "<div onmouseover=\"alert(1)\">hover</div>",
        "<p>para <b onclick=alert(1)>bold</b></p>",
        "<body onload=alert(1)>",
        "[x](https://ok.example \"title\\\" onmouseover=\\\"alert(1)\")",
        "![alt\" onerror=\"alert(1)](https://ok.example/a.png)",
    ] {
        let html = render_markdown(source);
        let tags = assert_safe_html(&html);
        assert!(
            tags.iter()
                .flat_map(|tag| &tag.attributes)
                .all(|(name, _)| !name.starts_with("on")),
            "{source:?} gave {html:?}"
        );
    }
}

#[test]
fn csp7_script_urls_in_links_are_removed() {
    for source in [
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](java&#x09;script:alert(1))",
        "[click](java&#9;script:alert(1))",
        "[click](&#106;avascript:alert(1))",
        "[click](&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;alert(1))",
        "[click](<java script:alert(1)>)",
        "[click](<java\nscript:alert(1)>)",
        "[click](javascript&colon;alert(1))",
        "[click](vbscript:msgbox(1))",
        "[click](VBScript:msgbox(1))",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[click](DATA:text/html,<script>alert(1)</script>)",
        "[click][ref]\n\n[ref]: javascript:alert(1)",
        "[click][ref]\n\n[ref]: <data:text/html,x>",
        "[click](file:///etc/passwd)",
        "[click](//evil.example/path)",
        "[click](relative/page)",
    ] {
        let html = render_markdown(source);
        let tags = assert_safe_html(&html);
        assert!(!has_tag(&tags, "a"), "{source:?} kept a link: {html:?}");
        assert!(
            html.contains("click"),
            "{source:?} lost its words: {html:?}"
        );
        let lower = html.to_ascii_lowercase();
        for scheme in ["javascript", "vbscript", "data:", "file:"] {
            assert!(!lower.contains(scheme), "{source:?} gave {html:?}");
        }
    }
    // An autolink to a script keeps its words as text, never as an address.
    let html = render_markdown("<javascript:alert(1)>");
    let tags = assert_safe_html(&html);
    assert!(!has_tag(&tags, "a"), "{html:?}");
    assert!(href_of(&tags).is_empty(), "{html:?}");
    // So does raw HTML with a script link.
    let html = render_markdown("<a href=\"javascript:alert(1)\">x</a>");
    let tags = assert_safe_html(&html);
    assert!(href_of(&tags).is_empty(), "{html:?}");
}

#[test]
fn csp7_script_and_data_urls_in_images_are_removed() {
    for source in [
        "![chart](javascript:alert(1))",
        "![chart](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
        "![chart](DaTa:image/png;base64,iVBORw0KGgo=)",
        "![chart](java&#x09;script:alert(1))",
        "![chart](mailto:someone@example.org)",
        "![chart](/relative.png)",
    ] {
        let html = render_markdown(source);
        let tags = assert_safe_html(&html);
        assert!(!has_tag(&tags, "img"), "{source:?} kept an image: {html:?}");
        assert!(
            html.contains("chart"),
            "{source:?} lost its alt text: {html:?}"
        );
        let lower = html.to_ascii_lowercase();
        assert!(
            !lower.contains("javascript") && !lower.contains("data:"),
            "{html:?}"
        );
    }
}

#[test]
fn csp7_style_attributes_are_removed() {
    for source in [
        "<p style=\"position:fixed;top:0\">x</p>",
        "<div style=\"background:url(https://evil.example)\">x</div>",
        "| left | centre | right |\n|:-----|:------:|------:|\n| a | b | c |",
    ] {
        let html = render_markdown(source);
        let tags = assert_safe_html(&html);
        assert!(
            tags.iter()
                .flat_map(|tag| &tag.attributes)
                .all(|(name, _)| name != "style"),
            "{source:?} gave {html:?}"
        );
    }
}

#[test]
fn csp7_safe_links_keep_http_https_and_mailto_with_rel() {
    let html = render_markdown(
        "See [the leaflet](https://www.nhs.uk/leaflet \"Leaflet\"), [our site](HTTP://example.org/a?b=1&c=2) \
         and <someone@example.org>, or <https://example.org/auto>.",
    );
    let tags = assert_safe_html(&html);
    assert_eq!(
        href_of(&tags),
        vec![
            "https://www.nhs.uk/leaflet".to_owned(),
            "HTTP://example.org/a?b=1&c=2".to_owned(),
            "mailto:someone@example.org".to_owned(),
            "https://example.org/auto".to_owned(),
        ],
        "{html:?}"
    );
    assert_eq!(
        tags.iter().filter(|t| t.name == "a" && !t.closing).count(),
        4
    );
    assert!(html.contains("title=\"Leaflet\""), "{html:?}");

    let html = render_markdown("![Walking frame](https://example.org/frame.png \"Frame\")");
    let tags = assert_safe_html(&html);
    assert!(has_tag(&tags, "img"), "{html:?}");
    assert!(html.contains("alt=\"Walking frame\""), "{html:?}");
}

#[test]
fn csp7_headings_lists_emphasis_code_and_quotes_render() {
    let html = render_markdown(
        "# What matters to me\n\n## Hopes\n\n*Walking* to the **shop**.\n\n\
         - one\n- two\n\n1. first\n2. second\n\n> said by Mo\n\n`inline` code\n\n\
         ```\nfenced <b>code</b>\n```\n\n---\n",
    );
    let tags = assert_safe_html(&html);
    for name in [
        "h1",
        "h2",
        "em",
        "strong",
        "ul",
        "ol",
        "li",
        "blockquote",
        "code",
        "pre",
        "hr",
        "p",
    ] {
        assert!(has_tag(&tags, name), "no <{name}> in {html:?}");
    }
    assert!(html.contains("fenced &lt;b&gt;code&lt;/b&gt;"), "{html:?}");
}

#[test]
fn csp7_tables_render_with_header_cells() {
    let html = render_markdown(
        "| Day | What happens | Who helps |\n|---|---|---|\n| Monday | Swimming | Sam |\n| Tuesday | Market | *on my own* |\n",
    );
    let tags = assert_safe_html(&html);
    for name in ["table", "thead", "tbody", "tr", "th", "td", "em"] {
        assert!(has_tag(&tags, name), "no <{name}> in {html:?}");
    }
    let headers = tags.iter().filter(|t| t.name == "th" && !t.closing).count();
    let cells = tags.iter().filter(|t| t.name == "td" && !t.closing).count();
    assert_eq!((headers, cells), (3, 6), "{html:?}");
    assert!(html.contains("<th>What happens</th>"), "{html:?}");
}

#[test]
fn csp7_raw_html_is_shown_as_text() {
    let html = render_markdown("I like <b>bold</b> & <i>italics</i>\n\n<div>\nblock\n</div>");
    let tags = assert_safe_html(&html);
    assert!(!has_tag(&tags, "b") && !has_tag(&tags, "div"), "{html:?}");
    assert!(
        html.contains("&lt;b&gt;bold&lt;/b&gt; &amp; &lt;i&gt;"),
        "{html:?}"
    );
    assert!(html.contains("&lt;div&gt;"), "{html:?}");
    // HTML comments are shown as text too, so nothing the person typed is hidden.
    let html = render_markdown("a <!-- hidden --> b");
    assert!(html.contains("&lt;!-- hidden --&gt;"), "{html:?}");
}

#[test]
fn csp7_plain_text_keeps_the_words_and_structure() {
    let text = plain_text(
        "# Morning\n\nGet up with *Anne*.\n\n- wash\n- dress\n  1. shirt\n  2. shoes\n\n\
         | Day | What |\n|---|---|\n| Mon | Swim |\n\n\
         Read [the leaflet](https://www.nhs.uk/x) or <https://example.org>.\n\n\
         ![A photo of the garden](https://example.org/g.png)\n\n<b>raw</b> [bad](javascript:alert(1))",
    );
    assert_eq!(
        text,
        "Morning\n\nGet up with Anne.\n\n- wash\n- dress\n  1. shirt\n  2. shoes\n\n\
         Day | What\nMon | Swim\n\n\
         Read the leaflet (https://www.nhs.uk/x) or https://example.org.\n\n\
         A photo of the garden\n\n<b>raw</b> bad"
    );
}

#[test]
fn csp7_plain_text_of_empty_input_is_empty() {
    assert_eq!(plain_text(""), "");
    assert_eq!(plain_text("   \n\n  "), "");
    assert_eq!(render_markdown(""), "");
}

/// Pieces of known attacks, and pieces of Markdown syntax that change how the next piece is read.
const FRAGMENTS: &[&str] = &[
    "<script>alert(1)</script>",
    "<SCRIPT>",
    "<scr",
    "ipt>",
    "</script>",
    "<img src=x onerror=alert(1)>",
    " onerror=",
    " onclick=\"alert(1)\"",
    "onload=",
    "<a href=\"javascript:alert(1)\">",
    "</a>",
    "javascript:",
    "JaVaScRiPt:",
    "java&#x09;script:",
    "&#106;avascript:",
    "java\tscript:",
    "vbscript:",
    "data:text/html,",
    "alert(1)",
    "[x](",
    "![x](",
    ")",
    "<",
    ">",
    "\"",
    "'",
    "`",
    "&",
    "&lt;",
    "&#60;",
    "\n",
    "\n\n",
    "    ",
    "| a | b |\n|---|---|\n",
    "<iframe src=",
    "<style>",
    "<svg/onload=alert(1)>",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "[r]: ",
    "[r]",
    "*",
    "**",
    "# ",
    "> ",
    "- ",
    "1. ",
    "http://ok.example/",
];

fn attack() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => proptest::sample::select(FRAGMENTS).prop_map(str::to_owned),
        1 => "[a-zA-Z0-9 :/=\"'<>&;#()\\[\\]!\t\n-]{0,8}",
        1 => any::<String>().prop_map(|s| s.chars().take(6).collect::<String>()),
    ];
    proptest::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn csp7_rendered_markdown_never_holds_scripts_handlers_or_script_urls(source in attack()) {
        let html = render_markdown(&source);
        assert_safe_html(&html);
        let lower = html.to_ascii_lowercase();
        prop_assert!(!lower.contains("<script"), "{source:?} gave {html:?}");
    }
}
