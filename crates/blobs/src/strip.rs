//! Removing location and other identifying metadata from photos before they are stored.
//!
//! A photo taken at someone's home carries the home's GPS position in its EXIF block, and often
//! more in XMP and IPTC blocks. All of those are dropped. The pixels are not touched (no
//! re-encoding, no quality loss). Only the EXIF orientation survives, rebuilt as a minimal EXIF
//! block of its own, so a phone photo still shows the right way up.

use bytes::Bytes;
use img_parts::jpeg::{Jpeg, markers};
use img_parts::png::Png;
use img_parts::webp::WebP;
use img_parts::{ImageEXIF, ImageICC};

/// Why a photo could not be cleaned.
#[derive(Debug, thiserror::Error)]
#[error("the image could not be read: {0}")]
pub struct StripError(String);

/// Returns the image without location metadata, or `None` when there was nothing to remove
/// (the bytes are then stored exactly as uploaded).
pub fn strip_metadata(media_type: &str, bytes: Bytes) -> Result<Option<Bytes>, StripError> {
    match media_type {
        "image/jpeg" => strip_jpeg(bytes),
        "image/png" => strip_png(bytes),
        "image/webp" => strip_webp(bytes),
        _ => Ok(None),
    }
}

const XMP_PREFIX: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
const XMP_EXTENSION_PREFIX: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";

fn strip_jpeg(bytes: Bytes) -> Result<Option<Bytes>, StripError> {
    let mut jpeg = Jpeg::from_bytes(bytes).map_err(|e| StripError(e.to_string()))?;
    let orientation = jpeg.exif().and_then(|e| orientation(&e));
    let had_exif = jpeg.exif().is_some();
    let before = jpeg.segments().len();
    jpeg.segments_mut().retain(|s| {
        let contents = s.contents();
        let xmp = s.marker() == markers::APP1
            && (contents.starts_with(XMP_PREFIX) || contents.starts_with(XMP_EXTENSION_PREFIX));
        // APP13 holds Photoshop's IPTC block: city, location, sometimes names.
        let iptc = s.marker() == markers::APP13;
        !(xmp || iptc)
    });
    let removed_other = jpeg.segments().len() != before;
    if !had_exif && !removed_other {
        return Ok(None);
    }
    jpeg.set_exif(orientation.map(minimal_exif));
    Ok(Some(jpeg.encoder().bytes()))
}

fn strip_png(bytes: Bytes) -> Result<Option<Bytes>, StripError> {
    let mut png = Png::from_bytes(bytes).map_err(|e| StripError(e.to_string()))?;
    let orientation = png.exif().and_then(|e| orientation(&e));
    let before = png.chunks().len();
    // eXIf is EXIF; text chunks carry XMP ("XML:com.adobe.xmp") and free-form notes.
    png.chunks_mut()
        .retain(|c| !matches!(&c.kind(), b"eXIf" | b"iTXt" | b"tEXt" | b"zTXt"));
    if png.chunks().len() == before {
        return Ok(None);
    }
    if let Some(o) = orientation {
        png.set_exif(Some(minimal_exif(o)));
    }
    Ok(Some(png.encoder().bytes()))
}

fn strip_webp(bytes: Bytes) -> Result<Option<Bytes>, StripError> {
    let mut webp = WebP::from_bytes(bytes).map_err(|e| StripError(e.to_string()))?;
    let had = webp.exif().is_some() || webp.chunk_by_id(*b"XMP ").is_some();
    if !had {
        return Ok(None);
    }
    let orientation = webp.exif().and_then(|e| orientation(&e));
    webp.set_exif(orientation.map(minimal_exif));
    webp.remove_chunks_by_id(*b"XMP ");
    // Keep the ICC profile as it is (colours), but make sure the header flags agree.
    let icc = webp.icc_profile();
    webp.set_icc_profile(icc);
    Ok(Some(webp.encoder().bytes()))
}

/// The EXIF orientation (1–8) of a photo, if it states one other than "upright".
fn orientation(exif: &[u8]) -> Option<u16> {
    let fields = exif::Reader::new().read_raw(exif.to_vec()).ok()?;
    let field = fields.get_field(exif::Tag::Orientation, exif::In::PRIMARY)?;
    let value = field.value.get_uint(0)?;
    u16::try_from(value).ok().filter(|v| (2..=8).contains(v))
}

/// A TIFF-structured EXIF block holding nothing but the orientation.
fn minimal_exif(orientation: u16) -> Bytes {
    let mut v = Vec::with_capacity(26);
    v.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // big-endian TIFF, first IFD at offset 8
    v.extend_from_slice(&1u16.to_be_bytes()); // one entry
    v.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    v.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    v.extend_from_slice(&1u32.to_be_bytes()); // count 1
    v.extend_from_slice(&orientation.to_be_bytes());
    v.extend_from_slice(&[0, 0]); // value padding
    v.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    Bytes::from(v)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A TIFF EXIF block with an orientation and a GPS IFD holding a latitude reference.
    pub fn exif_with_gps(orientation: u16) -> Vec<u8> {
        let mut v = b"MM\0\x2a\0\0\0\x08".to_vec();
        // IFD0 at 8: two entries (Orientation, GPSInfo pointer), next IFD 0.
        v.extend_from_slice(&2u16.to_be_bytes());
        v.extend_from_slice(&0x0112u16.to_be_bytes());
        v.extend_from_slice(&3u16.to_be_bytes());
        v.extend_from_slice(&1u32.to_be_bytes());
        v.extend_from_slice(&orientation.to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&0x8825u16.to_be_bytes());
        v.extend_from_slice(&4u16.to_be_bytes()); // LONG
        v.extend_from_slice(&1u32.to_be_bytes());
        let gps_at = 8 + 2 + 12 * 2 + 4;
        v.extend_from_slice(&(gps_at as u32).to_be_bytes());
        v.extend_from_slice(&0u32.to_be_bytes());
        // GPS IFD: GPSLatitudeRef = "N".
        v.extend_from_slice(&1u16.to_be_bytes());
        v.extend_from_slice(&0x0001u16.to_be_bytes());
        v.extend_from_slice(&2u16.to_be_bytes()); // ASCII
        v.extend_from_slice(&2u32.to_be_bytes());
        v.extend_from_slice(b"N\0\0\0");
        v.extend_from_slice(&0u32.to_be_bytes());
        v
    }

    /// A minimal JPEG: SOI, APP1 EXIF (with GPS), APP1 XMP, a frame header, a scan, EOI.
    pub fn jpeg_with_location() -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend(exif_with_gps(6));
        v.extend([0xFF, 0xE1]);
        v.extend(((app1.len() + 2) as u16).to_be_bytes());
        v.extend(app1);
        let mut xmp = XMP_PREFIX.to_vec();
        xmp.extend_from_slice(
            b"<x:xmpmeta><exif:GPSLatitude>51,30.0N</exif:GPSLatitude></x:xmpmeta>",
        );
        v.extend([0xFF, 0xE1]);
        v.extend(((xmp.len() + 2) as u16).to_be_bytes());
        v.extend(xmp);
        // SOF0: 8-bit, 1x1, one component.
        v.extend([0xFF, 0xC0, 0, 11, 8, 0, 1, 0, 1, 1, 1, 0x11, 0]);
        // SOS with one component, then a byte of entropy-coded data and EOI.
        v.extend([
            0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 0x3F, 0, 0x12, 0x34, 0xFF, 0xD9,
        ]);
        v
    }

    #[test]
    fn csp2_jpeg_location_is_removed_and_orientation_kept() {
        let original = jpeg_with_location();
        assert!(original.windows(4).any(|w| w == b"GPSL"));
        let cleaned = strip_metadata("image/jpeg", Bytes::from(original))
            .unwrap()
            .expect("there was metadata to remove");
        assert!(
            !cleaned.windows(4).any(|w| w == b"GPSL"),
            "XMP location left"
        );
        let jpeg = Jpeg::from_bytes(cleaned.clone()).unwrap();
        let exif = jpeg.exif().expect("orientation kept");
        let fields = exif::Reader::new().read_raw(exif.to_vec()).unwrap();
        assert!(
            fields
                .get_field(exif::Tag::GPSLatitudeRef, exif::In::PRIMARY)
                .is_none()
        );
        assert!(
            fields
                .fields()
                .all(|f| f.tag != exif::Tag::GPSInfoIFDPointer)
        );
        assert_eq!(orientation(&exif), Some(6));
        // The scan data is untouched.
        assert!(cleaned.ends_with(&[0x12, 0x34, 0xFF, 0xD9]));
    }

    #[test]
    fn csp2_images_without_metadata_are_kept_byte_for_byte() {
        let mut plain = vec![0xFF, 0xD8];
        plain.extend([0xFF, 0xC0, 0, 11, 8, 0, 1, 0, 1, 1, 1, 0x11, 0]);
        plain.extend([0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 0x3F, 0, 0x55, 0xFF, 0xD9]);
        assert!(
            strip_metadata("image/jpeg", Bytes::from(plain))
                .unwrap()
                .is_none()
        );
        assert!(
            strip_metadata("application/pdf", Bytes::from_static(b"%PDF-1.4"))
                .unwrap()
                .is_none()
        );
    }
}
