//! What a file is, judged from its bytes, and whether we accept it.
//!
//! The type a client claims is only a hint: the stored type is what the bytes are. A claim that
//! contradicts the bytes is refused, so a script cannot be uploaded as a "photo". The allow-list
//! is what a care plan needs: photos and diagrams, PDFs, plain text, office documents, and common
//! audio and video. Nothing that a browser would run (HTML, SVG, JavaScript) is on it.

/// How many leading bytes are read before deciding a file's type. Office documents (ZIP and OLE2
/// containers) need a few kilobytes to tell a letter from a spreadsheet.
pub const HEAD_BYTES: usize = 64 * 1024;

/// The groups of accepted files, which decide how a page shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Image,
    Document,
    Text,
    Audio,
    Video,
}

/// Every accepted media type, with a short name people recognise and its usual file extension.
const ALLOWED: &[(&str, Family, &str, &str)] = &[
    ("image/jpeg", Family::Image, "JPEG image", "jpg"),
    ("image/png", Family::Image, "PNG image", "png"),
    ("image/gif", Family::Image, "GIF image", "gif"),
    ("image/webp", Family::Image, "WebP image", "webp"),
    ("application/pdf", Family::Document, "PDF document", "pdf"),
    ("text/plain", Family::Text, "plain text", "txt"),
    ("text/csv", Family::Text, "CSV text", "csv"),
    ("text/markdown", Family::Text, "Markdown text", "md"),
    ("application/rtf", Family::Document, "RTF document", "rtf"),
    (
        "application/msword",
        Family::Document,
        "Word document",
        "doc",
    ),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Family::Document,
        "Word document",
        "docx",
    ),
    (
        "application/vnd.ms-excel",
        Family::Document,
        "Excel spreadsheet",
        "xls",
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Family::Document,
        "Excel spreadsheet",
        "xlsx",
    ),
    (
        "application/vnd.ms-powerpoint",
        Family::Document,
        "PowerPoint presentation",
        "ppt",
    ),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        Family::Document,
        "PowerPoint presentation",
        "pptx",
    ),
    (
        "application/vnd.oasis.opendocument.text",
        Family::Document,
        "OpenDocument text",
        "odt",
    ),
    (
        "application/vnd.oasis.opendocument.spreadsheet",
        Family::Document,
        "OpenDocument spreadsheet",
        "ods",
    ),
    (
        "application/vnd.oasis.opendocument.presentation",
        Family::Document,
        "OpenDocument presentation",
        "odp",
    ),
    ("audio/mpeg", Family::Audio, "MP3 audio", "mp3"),
    ("audio/mp4", Family::Audio, "MP4 audio", "m4a"),
    ("audio/aac", Family::Audio, "AAC audio", "aac"),
    ("audio/ogg", Family::Audio, "Ogg audio", "ogg"),
    ("audio/wav", Family::Audio, "WAV audio", "wav"),
    ("audio/flac", Family::Audio, "FLAC audio", "flac"),
    ("audio/webm", Family::Audio, "WebM audio", "weba"),
    ("video/mp4", Family::Video, "MP4 video", "mp4"),
    ("video/webm", Family::Video, "WebM video", "webm"),
    ("video/quicktime", Family::Video, "QuickTime video", "mov"),
    ("video/ogg", Family::Video, "Ogg video", "ogv"),
];

const OOXML: [&str; 3] = [
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
];
const OLE2: [&str; 3] = [
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
];

/// The family of an accepted media type.
pub fn family(media_type: &str) -> Option<Family> {
    ALLOWED
        .iter()
        .find(|(t, ..)| *t == media_type)
        .map(|(_, f, ..)| *f)
}

/// A name for a media type that people recognise ("PDF document"), or the type itself.
pub fn describe(media_type: &str) -> String {
    ALLOWED.iter().find(|(t, ..)| *t == media_type).map_or_else(
        || media_type.to_owned(),
        |(_, _, name, _)| (*name).to_owned(),
    )
}

/// The usual file extension of an accepted media type.
pub fn extension(media_type: &str) -> Option<&'static str> {
    ALLOWED
        .iter()
        .find(|(t, ..)| *t == media_type)
        .map(|(.., ext)| *ext)
}

/// The accepted kinds, for error messages: "images (JPEG, PNG, …), PDF, …".
pub fn accepted_summary() -> &'static str {
    "photos and images (JPEG, PNG, GIF, WebP), PDF, plain text, office documents (Word, Excel, \
     PowerPoint, OpenDocument, RTF), audio (MP3, M4A, AAC, Ogg, WAV, FLAC) and video (MP4, WebM, \
     QuickTime, Ogg)"
}

/// A claimed type in its canonical spelling, without parameters: `image/jpg` → `image/jpeg`.
pub fn normalise(claimed: &str) -> String {
    let t = claimed
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let canonical = match t.as_str() {
        "image/jpg" | "image/pjpeg" => "image/jpeg",
        "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => "audio/wav",
        "audio/x-flac" => "audio/flac",
        "audio/m4a" | "audio/x-m4a" => "audio/mp4",
        "audio/mp3" | "audio/x-mp3" | "audio/mpeg3" => "audio/mpeg",
        "audio/x-aac" => "audio/aac",
        "video/x-m4v" => "video/mp4",
        "text/rtf" => "application/rtf",
        "application/ogg" => "audio/ogg",
        other => return other.to_owned(),
    };
    canonical.to_owned()
}

/// What the bytes say, before the claim is considered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    /// A type on the allow-list, in canonical spelling.
    Known(&'static str),
    /// A ZIP holding an Office Open XML document whose kind the first bytes do not settle.
    Ooxml,
    /// An OLE2 compound file (Word, Excel or PowerPoint 97–2003) not settled by the first bytes.
    Ole2,
    /// No binary signature: accepted as text only if every byte is UTF-8 without NULs.
    MaybeText,
    /// Recognised, but not accepted (e.g. `text/html`, `application/x-msdownload`).
    Refused(String),
}

/// Reads a file's type from its first bytes (up to [`HEAD_BYTES`]).
pub fn sniff(head: &[u8]) -> Sniffed {
    if let Some(kind) = infer::get(head) {
        let t = normalise(kind.mime_type());
        if let Some((known, ..)) = ALLOWED.iter().find(|(a, ..)| *a == t) {
            return Sniffed::Known(known);
        }
        return match t.as_str() {
            "application/zip" if is_ooxml_zip(head) => Sniffed::Ooxml,
            "application/x-ole-storage" | "application/x-cfb" => Sniffed::Ole2,
            _ => Sniffed::Refused(t),
        };
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Sniffed::Ole2;
    }
    if head.starts_with(b"PK\x03\x04") && is_ooxml_zip(head) {
        return Sniffed::Ooxml;
    }
    if head.starts_with(b"PK\x03\x04") {
        return Sniffed::Refused("application/zip".into());
    }
    let start = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let trimmed = start.trim_ascii_start().to_ascii_lowercase();
    if [
        &b"<!doctype html"[..],
        b"<html",
        b"<svg",
        b"<?xml",
        b"<script",
    ]
    .iter()
    .any(|p| trimmed.starts_with(p))
    {
        return Sniffed::Refused("markup (HTML, SVG or XML)".into());
    }
    Sniffed::MaybeText
}

fn is_ooxml_zip(head: &[u8]) -> bool {
    let window = &head[..head.len().min(HEAD_BYTES)];
    window.windows(19).any(|w| w == b"[Content_Types].xml")
}

/// The outcome of weighing a claim against the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Store with this type. `text` means the rest of the bytes must still prove to be text.
    Accept { media_type: String, text: bool },
    /// The bytes are of a kind we do not accept.
    NotAllowed { found: String },
    /// The bytes are an accepted kind, but not the one claimed.
    Contradicts { claimed: String, found: String },
}

/// Weighs the claimed type (if any) against what the bytes are. A missing claim, or
/// `application/octet-stream`, takes the sniffed type.
pub fn judge(sniffed: &Sniffed, claimed: Option<&str>) -> Verdict {
    let claimed = claimed
        .map(normalise)
        .filter(|c| !c.is_empty() && c != "application/octet-stream");
    let accept = |t: &str, text: bool| Verdict::Accept {
        media_type: t.to_owned(),
        text,
    };
    match sniffed {
        Sniffed::Refused(found) => Verdict::NotAllowed {
            found: found.clone(),
        },
        Sniffed::Known(found) => match claimed {
            None => accept(found, false),
            Some(c) if c == *found => accept(found, false),
            // One container holds either sound or pictures: trust the claim for which.
            Some(c) if same_container(&c, found) => accept(&c, false),
            Some(c) => Verdict::Contradicts {
                claimed: c,
                found: (*found).to_owned(),
            },
        },
        Sniffed::Ooxml => match claimed {
            Some(c) if OOXML.contains(&c.as_str()) => accept(&c, false),
            Some(c) => Verdict::Contradicts {
                claimed: c,
                found: "an Office document".into(),
            },
            None => Verdict::NotAllowed {
                found: "an Office document of unstated kind (send its type, e.g. application/vnd.openxmlformats-officedocument.wordprocessingml.document)".into(),
            },
        },
        Sniffed::Ole2 => match claimed {
            Some(c) if OLE2.contains(&c.as_str()) => accept(&c, false),
            Some(c) => Verdict::Contradicts {
                claimed: c,
                found: "an Office 97–2003 document".into(),
            },
            None => Verdict::NotAllowed {
                found: "an Office 97–2003 document of unstated kind (send its type, e.g. application/msword)".into(),
            },
        },
        Sniffed::MaybeText => match claimed {
            None => accept("text/plain", true),
            Some(c) if family(&c) == Some(Family::Text) => accept(&c, true),
            Some(c) if family(&c).is_some() => Verdict::Contradicts {
                claimed: c,
                found: "text or an unknown format".into(),
            },
            Some(c) => Verdict::NotAllowed { found: c },
        },
    }
}

fn same_container(a: &str, b: &str) -> bool {
    let groups: [&[&str]; 3] = [
        &["audio/mp4", "video/mp4"],
        &["audio/webm", "video/webm"],
        &["audio/ogg", "video/ogg"],
    ];
    groups.iter().any(|g| g.contains(&a) && g.contains(&b))
}

/// Checks, chunk by chunk, that a stream is UTF-8 text without NUL bytes.
#[derive(Debug, Default)]
pub struct TextCheck {
    carry: Vec<u8>,
    failed: bool,
}

impl TextCheck {
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.failed {
            return;
        }
        if chunk.contains(&0) {
            self.failed = true;
            return;
        }
        let joined;
        let data: &[u8] = if self.carry.is_empty() {
            chunk
        } else {
            joined = [self.carry.as_slice(), chunk].concat();
            &joined
        };
        match std::str::from_utf8(data) {
            Ok(_) => self.carry.clear(),
            // A character split across chunks: keep its first bytes for the next chunk.
            Err(e) if e.error_len().is_none() => self.carry = data[e.valid_up_to()..].to_vec(),
            Err(_) => self.failed = true,
        }
    }

    /// Whether everything fed was text.
    pub fn is_text(&self) -> bool {
        !self.failed && self.carry.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png() -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        v.extend([0u8; 17]);
        v
    }

    #[test]
    fn csp2_sniffed_type_wins_over_a_missing_or_generic_claim() {
        assert_eq!(
            judge(&sniff(&png()), None),
            Verdict::Accept {
                media_type: "image/png".into(),
                text: false
            }
        );
        assert_eq!(
            judge(&sniff(b"%PDF-1.7\n"), Some("application/octet-stream")),
            Verdict::Accept {
                media_type: "application/pdf".into(),
                text: false
            }
        );
    }

    #[test]
    fn csp2_a_claim_the_bytes_contradict_is_refused() {
        assert!(matches!(
            judge(&sniff(&png()), Some("application/pdf")),
            Verdict::Contradicts { .. }
        ));
        assert!(matches!(
            judge(&sniff(b"just some words"), Some("image/jpeg")),
            Verdict::Contradicts { .. }
        ));
    }

    #[test]
    fn csp2_markup_and_programs_are_not_accepted() {
        for bytes in [
            &b"<!DOCTYPE html><script>alert(1)</script>"[..],
            b"  <svg xmlns='http://www.w3.org/2000/svg'/>",
            b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0",
        ] {
            let verdict = judge(&sniff(bytes), Some("text/plain"));
            assert!(matches!(verdict, Verdict::NotAllowed { .. }), "{verdict:?}");
        }
    }

    #[test]
    fn csp2_aliases_and_shared_containers_are_understood() {
        assert_eq!(normalise("image/JPG; q=1"), "image/jpeg");
        assert_eq!(
            judge(&Sniffed::Known("video/mp4"), Some("audio/x-m4a")),
            Verdict::Accept {
                media_type: "audio/mp4".into(),
                text: false
            }
        );
    }

    #[test]
    fn csp2_text_must_be_utf8_without_nul_even_across_chunks() {
        let mut ok = TextCheck::default();
        let s = "Café ☕ and more".as_bytes();
        // Split inside the three-byte cup.
        let cut = s.iter().position(|&b| b == 0xE2).unwrap() + 1;
        ok.feed(&s[..cut]);
        ok.feed(&s[cut..]);
        assert!(ok.is_text());
        let mut bad = TextCheck::default();
        bad.feed(b"abc\0def");
        assert!(!bad.is_text());
        let mut cut_off = TextCheck::default();
        cut_off.feed(&s[..cut]);
        assert!(!cut_off.is_text());
    }
}
