//! De-identified copies of DICOM files (PS3.15 Annex E Basic Profile, best effort): the 604
//! attributes of Table E.1-1 emptied, given dummy values or removed, instance UIDs replaced by
//! `2.25.` UIDs derived from a secret drawn per export (so one export's files still refer to each
//! other, and nothing links them back), private and UN elements, overlays, curves and any other
//! person name removed, every sequence left walked the same way, any text the profile kept that
//! quotes the patient's name or identifiers removed, and Patient Identity Removed
//! (0012,0062) = YES with De-identification Method (0012,0063) stamped. Values are never printed.

use std::collections::HashMap;
use std::path::Path;

use dicom_core::{Tag, VR};
use sha2::{Digest as _, Sha256};

use super::dicom::{DicomError, Problem};
use super::dicom_deid_options::{Dates, DeidOptions, Instead, date_spellings, shift_dates, shifted_spellings};
use super::phi::{Action, action, is_private};

/// Repeating groups removed whole: overlays (60xx, may draw text on the image) and the retired
/// curves (50xx).
fn repeating_group(tag: Tag) -> bool {
    matches!(tag.group(), 0x5000..=0x501E | 0x6000..=0x601E) && tag.group().is_multiple_of(2)
}

/// What is stamped in De-identification Method (0012,0063).
pub const METHOD: &str = "PS3.15 E.1.1 Basic Profile, best effort (MedVLM Workbench)";

/// Implementation Class UID (0002,0012) of the copies: `2.25.` and the first 128 bits of
/// SHA-256("MedVLM Workbench implementation class").
const IMPLEMENTATION_CLASS_UID: &str = "2.25.86291194678134722160941002354366292104";

/// The UID mapping of one export: the same original UID gets the same new one within it.
#[derive(Debug)]
pub struct UidMap {
    secret: [u8; 32],
    seen: HashMap<String, String>,
}

impl UidMap {
    /// A mapping with a fresh secret (time, process and address entropy through SHA-256).
    pub fn new() -> Self {
        let mut h = Sha256::new();
        h.update(format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes());
        let probe = Box::new(0u8);
        h.update((std::ptr::from_ref(&*probe) as usize).to_le_bytes());
        Self { secret: h.finalize().into(), seen: HashMap::new() }
    }

    /// A mapping from a given secret (tests).
    pub fn with_secret(secret: [u8; 32]) -> Self {
        Self { secret, seen: HashMap::new() }
    }

    /// The new UID for `uid`: `2.25.` and a 128-bit number (PS3.5 B.2).
    pub fn map(&mut self, uid: &str) -> String {
        let uid = uid.trim_end_matches('\0').trim();
        if let Some(u) = self.seen.get(uid) {
            return u.clone();
        }
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(uid.as_bytes());
        let d = h.finalize();
        let mut b = [0u8; 16];
        b.copy_from_slice(&d[..16]);
        let new = format!("2.25.{}", u128::from_be_bytes(b));
        self.seen.insert(uid.to_string(), new.clone());
        new
    }

    /// The days a patient's dates move back under Retain Longitudinal Temporal Information with
    /// Modified Dates: 365 to 3652 (one to ten years), the same for one patient (by Patient ID)
    /// within an export, drawn from its secret.
    pub fn day_shift(&self, patient: &str) -> i64 {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(b"date shift\0");
        h.update(patient.trim_end_matches('\0').trim().as_bytes());
        let d = h.finalize();
        let n = u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
        -(365 + (n % 3288) as i64)
    }
}

impl Default for UidMap {
    fn default() -> Self {
        Self::new()
    }
}

/// Calls `f` on every item of every sequence of `obj` (one level down).
fn for_each_item(obj: &mut dicom_object::InMemDicomObject, mut f: impl FnMut(&mut dicom_object::InMemDicomObject)) {
    let sequences: Vec<Tag> = obj.iter().filter(|e| e.vr() == VR::SQ).map(|e| e.header().tag).collect();
    for tag in sequences {
        obj.update_value(tag, |v| {
            if let Some(items) = v.items_mut() {
                items.iter_mut().for_each(&mut f);
            }
        });
    }
}

/// An element's value as text, as stored (not trimmed; empty when empty).
fn raw_text(obj: &dicom_object::InMemDicomObject, tag: Tag) -> Option<String> {
    obj.element_opt(tag).ok().flatten().and_then(|e| e.to_str().ok().map(|s| s.to_string()))
}

/// The dummy value (action D) for a VR, or `None` where the element is removed instead (binary
/// values, sequences, URIs).
fn dummy(vr: VR) -> Option<&'static str> {
    match vr {
        VR::DA => Some("19000101"),
        VR::TM => Some("000000"),
        VR::DT => Some("19000101000000"),
        VR::PN => Some("ANONYMOUS"),
        VR::AS => Some("000Y"),
        VR::IS | VR::DS => Some("0"),
        VR::LO | VR::SH | VR::LT | VR::ST | VR::UT | VR::UC | VR::CS | VR::AE => Some("ANONYMIZED"),
        _ => None,
    }
}

/// Applies the profile (Table E.1-1, [`super::phi_table`]) and the chosen options (`days`: the
/// patient's date shift) to a data set and, through every sequence left, to its items (a
/// Referenced SOP Instance UID or a physician's name deep in a sequence is found as well). A
/// person name the table does not list is removed too.
fn scrub(obj: &mut dicom_object::InMemDicomObject, uids: &mut UidMap, opts: &DeidOptions, days: i64, depth: usize) {
    // Private elements, and UN ones (a sequence whose VR was lost: its content cannot be checked).
    let opaque: Vec<Tag> = obj
        .iter()
        .filter(|e| is_private(e.header().tag) || e.vr() == VR::UN || repeating_group(e.header().tag))
        .map(|e| e.header().tag)
        .collect();
    for t in opaque {
        obj.remove_element(t);
    }
    let listed: Vec<(Tag, VR, Option<Action>)> =
        obj.iter().map(|e| (e.header().tag, e.vr(), action(e.header().tag))).collect();
    for (tag, vr, act) in listed {
        match act.and(opts.instead(tag, vr)) {
            Some(Instead::Keep) => continue,
            Some(Instead::Shift) => {
                let old = raw_text(obj, tag);
                match old.as_deref().map(|v| shift_dates(v, days)) {
                    Some(Some(new)) => {
                        obj.put_str(tag, vr, new);
                    }
                    // Not a date that can be moved (a range, a year alone): removed.
                    _ => {
                        obj.remove_element(tag);
                    }
                }
                continue;
            }
            None => {}
        }
        match act {
            // Retain UIDs: the copy keeps the source's.
            Some(Action::Uid) if opts.uids => {}
            Some(Action::Uid) => {
                let old = raw_text(obj, tag);
                match old {
                    Some(old) => {
                        let new: Vec<String> = old.split('\\').map(|u| uids.map(u)).collect();
                        obj.put_str(tag, VR::UI, new.join("\\"));
                    }
                    None => {
                        obj.remove_element(tag);
                    }
                }
            }
            // Type 2 attributes keep their place, empty; deeper down they go.
            Some(Action::Empty) if depth == 0 && vr != VR::SQ => {
                obj.put_str(tag, vr, "");
            }
            Some(Action::Dummy) => match dummy(vr) {
                Some(value) => {
                    obj.put_str(tag, vr, value);
                }
                None => {
                    obj.remove_element(tag);
                }
            },
            // Kept; the walk below maps the UIDs inside.
            Some(Action::UidsInside) if vr == VR::SQ => {}
            Some(_) => {
                obj.remove_element(tag);
            }
            None if vr == VR::PN => {
                obj.remove_element(tag);
            }
            None => {}
        }
    }
    if depth >= 16 {
        return;
    }
    for_each_item(obj, |item| scrub(item, uids, opts, days, depth + 1));
}

/// The patient's identifying words, upper-cased: the parts of the names (Patient's Name, Other
/// Patient Names, Birth Name, Mother's Birth Name) of 3 letters or more (2 for other scripts),
/// and the identifiers (Patient ID, Other Patient IDs, Accession Number, Medical Record Locator)
/// of 4 characters or more.
pub(crate) fn identifying_words(obj: &dicom_object::InMemDicomObject) -> Vec<String> {
    let value = |g, e| obj.element_opt(Tag(g, e)).ok().flatten().and_then(|el| el.to_str().ok().map(|s| s.to_string()));
    let mut words: Vec<String> = Vec::new();
    for (g, e) in [(0x0010, 0x0010), (0x0010, 0x1001), (0x0010, 0x1005), (0x0010, 0x1060)] {
        for part in value(g, e).unwrap_or_default().split(['^', '=', '\\', ' ', ',']) {
            let part = part.trim().to_uppercase();
            let long = if part.is_ascii() { 3 } else { 2 };
            if part.chars().count() >= long {
                words.push(part);
            }
        }
    }
    for (g, e) in [(0x0010, 0x0020), (0x0010, 0x1000), (0x0008, 0x0050), (0x0010, 0x1090)] {
        for id in value(g, e).unwrap_or_default().split('\\') {
            let id = id.trim().trim_end_matches('\0').to_uppercase();
            if id.chars().count() >= 4 {
                words.push(id);
            }
        }
    }
    words.sort();
    words.dedup();
    words
}

/// The dates of the record (every DA, and the date of every DT, at any depth) as `yyyymmdd`, the
/// birth date apart: `(birth, others)`.
fn record_dates(obj: &dicom_object::InMemDicomObject, depth: usize, out: &mut (Vec<String>, Vec<String>)) {
    for e in obj.iter() {
        if matches!(e.vr(), VR::DA | VR::DT) {
            let list = if e.header().tag == Tag(0x0010, 0x0030) { &mut out.0 } else { &mut out.1 };
            for v in e.to_str().unwrap_or_default().split('\\') {
                let v = v.trim().trim_end_matches('\0').replace('.', "");
                if let Some(date) = v.get(..8).filter(|d| d.bytes().all(|b| b.is_ascii_digit())) {
                    list.push(date.to_string());
                }
            }
        }
        if depth < 16 {
            for item in e.items().unwrap_or_default() {
                record_dates(item, depth + 1, out);
            }
        }
    }
}

/// What the sweep does with kept text that quotes a date of the record: the spellings whose text
/// is removed (the birth date always; every date when the dates are removed; one that cannot be
/// rewritten), and, with Modified Dates, each spelling rewritten as the moved date.
fn quoted_dates(obj: &dicom_object::InMemDicomObject, dates: Dates, days: i64) -> (Vec<String>, Vec<(String, String)>) {
    let mut found = (Vec::new(), Vec::new());
    record_dates(obj, 0, &mut found);
    let (birth, mut others) = found;
    others.sort();
    others.dedup();
    let mut remove: Vec<String> = birth.iter().flat_map(|d| date_spellings(d)).collect();
    let rewrite = match dates {
        Dates::Full => Vec::new(),
        Dates::Remove => {
            remove.extend(others.iter().flat_map(|d| date_spellings(d)));
            Vec::new()
        }
        Dates::Shifted => {
            let (pairs, ambiguous) = shifted_spellings(&others, days);
            remove.extend(ambiguous);
            pairs
        }
    };
    (remove, rewrite)
}

/// `text` with every `from` that stands as a word of its own written `to`; `None` when none does.
fn rewrite_words(text: &str, pairs: &[(String, String)]) -> Option<String> {
    let mut out = text.to_string();
    let mut changed = false;
    for (from, to) in pairs {
        let mut at = 0;
        while let Some(i) = out[at..].find(from.as_str()).map(|i| i + at) {
            let end = i + from.len();
            if stands_alone(&out, i, end) {
                out.replace_range(i..end, to);
                changed = true;
                at = i + to.len();
            } else {
                at = end;
            }
        }
    }
    changed.then_some(out)
}

/// True when `text` holds one of `words` ([`identifying_words`]) as a word of its own.
pub(crate) fn quotes(text: &str, words: &[String]) -> bool {
    let text = text.to_uppercase();
    words.iter().any(|w| holds_word(&text, w))
}

/// True when `word` stands in `text` as a word of its own (not inside a longer one).
fn holds_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| stands_alone(text, at, at + word.len()))
}

/// True when `text[start..end]` has no letter or digit just before or after it.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    text[..start].chars().next_back().is_none_or(|c| !c.is_alphanumeric())
        && text[end..].chars().next().is_none_or(|c| !c.is_alphanumeric())
}

/// Removes, at any depth, every text element the profile kept that quotes one of the patient's
/// identifying words or a date it cannot keep (a name or a study date typed into a comment the
/// table does not list), and rewrites the dates it quotes that move with Modified Dates.
fn sweep(obj: &mut dicom_object::InMemDicomObject, words: &[String], rewrite: &[(String, String)], depth: usize) {
    if (words.is_empty() && rewrite.is_empty()) || depth > 16 {
        return;
    }
    let text: Vec<(Tag, VR, String)> = obj
        .iter()
        // Not the image pixel module (group 28) or the character set: the copy needs them.
        .filter(|e| e.header().tag.group() != 0x0028 && e.header().tag != Tag(0x0008, 0x0005))
        .filter(|e| matches!(e.vr(), VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC | VR::PN | VR::CS | VR::AE))
        .filter_map(|e| Some((e.header().tag, e.vr(), e.to_str().ok()?.to_string())))
        .collect();
    for (tag, vr, value) in text {
        if quotes(&value, words) {
            obj.remove_element(tag);
        } else if let Some(moved) = rewrite_words(&value, rewrite) {
            obj.put_str(tag, vr, moved);
        }
    }
    for_each_item(obj, |item| sweep(item, words, rewrite, depth + 1));
}

/// De-identification Method Code Sequence (0012,0064): one item per code of CID 7050.
fn stamp_codes(obj: &mut dicom_object::InMemDicomObject, codes: &[(&str, &str)]) {
    use dicom_core::value::DataSetSequence;
    let items: Vec<dicom_object::InMemDicomObject> = codes
        .iter()
        .map(|(code, meaning)| {
            let mut item = dicom_object::InMemDicomObject::new_empty();
            item.put_str(Tag(0x0008, 0x0100), VR::SH, *code);
            item.put_str(Tag(0x0008, 0x0102), VR::SH, "DCM");
            item.put_str(Tag(0x0008, 0x0104), VR::LO, *meaning);
            item
        })
        .collect();
    obj.put(dicom_core::DataElement::new(Tag(0x0012, 0x0064), VR::SQ, DataSetSequence::from(items)));
}

/// Writes a de-identified copy of `src` to `out`; returns the new SOP Instance UID. `clean`:
/// regions (`[x0, y0, x1, y1]` in pixels, x1 and y1 exclusive) blacked out in every frame of the
/// copy ([`super::dicom_clean`]); empty leaves the pixel data as it is. `opts`: the PS3.15 options
/// (patient characteristics, device or institution identity, UIDs kept; dates kept or shifted), named
/// in the copy's De-identification Method Code Sequence.
///
/// # Errors
/// [`DicomError`] naming the source file (never a value).
pub fn deidentify(
    src: &Path,
    out: &Path,
    uids: &mut UidMap,
    clean: &[[u32; 4]],
    opts: &DeidOptions,
) -> Result<String, DicomError> {
    let err = |problem| DicomError { path: src.to_path_buf(), problem };
    let mut obj = super::dicom::open(src).map_err(err)?;
    if super::dicom::no_public_attribute(&obj) {
        // Nothing would be left to copy but what this function adds.
        return Err(err(Problem::NoAttributes));
    }
    let cleaned = if clean.is_empty() { 0 } else { super::dicom_clean::clean(&mut obj, clean).map_err(err)? };
    let method = if cleaned == 0 {
        METHOD.to_string()
    } else {
        // A second value (LO holds 64 characters a value; the attribute is multi-valued).
        format!("{METHOD}\\Clean Pixel Data: {cleaned} region(s) blacked out")
    };
    let days = uids.day_shift(raw_text(&obj, Tag(0x0010, 0x0020)).as_deref().unwrap_or_default());
    let mut words = identifying_words(&obj);
    let (dated, rewrite) = quoted_dates(&obj, opts.dates, days);
    words.extend(dated);
    words.sort();
    words.dedup();
    scrub(&mut obj, uids, opts, days, 0);
    sweep(&mut obj, &words, &rewrite, 0);
    obj.put_str(Tag(0x0012, 0x0062), VR::CS, "YES");
    obj.put_str(Tag(0x0012, 0x0063), VR::LO, method);
    stamp_codes(&mut obj, &opts.codes(cleaned > 0));
    obj.put_str(Tag(0x0028, 0x0303), VR::CS, opts.temporal());
    // One well-formed UID (a malformed file may carry several): it names the copy.
    let sop = obj
        .element_opt(Tag(0x0008, 0x0018))
        .ok()
        .flatten()
        .and_then(|e| {
            e.to_str().ok().map(|s| s.split('\\').next().unwrap_or_default().trim_end_matches('\0').trim().to_string())
        })
        .filter(|u| !u.is_empty() && u.len() <= 64 && u.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .unwrap_or_else(|| uids.map(&src.to_string_lossy()));
    obj.put_str(Tag(0x0008, 0x0018), VR::UI, sop.clone());
    // The file meta group: the AE titles can name a site's station, and the private
    // information is opaque; the copy names this program as the one that wrote it.
    obj.update_meta(|m| {
        m.media_storage_sop_instance_uid = sop.clone();
        m.implementation_class_uid = IMPLEMENTATION_CLASS_UID.to_string();
        m.implementation_version_name = Some("MEDVLM".to_string());
        m.source_application_entity_title = None;
        m.sending_application_entity_title = None;
        m.receiving_application_entity_title = None;
        m.private_information_creator_uid = None;
        m.private_information = None;
    });
    obj.write_to_file(out).map_err(|e| err(Problem::Io(format!("cannot write the copy ({e})"))))?;
    Ok(sop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifying_words_are_whole_words() {
        assert!(holds_word("CT CHEST FOR ROE", "ROE"));
        assert!(holds_word("ROE-FOLLOW UP", "ROE"));
        assert!(!holds_word("MONROE VIEW", "ROE") && !holds_word("ROENTGEN", "ROE"));
        let mut obj = dicom_object::InMemDicomObject::new_empty();
        obj.put_str(Tag(0x0010, 0x0010), VR::PN, "Roe^Richard^J^Mr");
        obj.put_str(Tag(0x0010, 0x0020), VR::LO, "MRN-0042\\ab");
        assert_eq!(identifying_words(&obj), ["MRN-0042", "RICHARD", "ROE"]);
    }
}
