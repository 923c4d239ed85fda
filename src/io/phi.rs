//! Patient data in DICOM headers, by PS3.15 Annex E (the Basic Application Level Confidentiality
//! Profile): which of its attributes a file carries, named by keyword only. A value is never read
//! into a message, a log line or an error: detection reports names, and removal replaces the
//! values. Best effort: burned-in text and free text elsewhere are not found this way.

use dicom_core::Tag;

pub use super::phi_table::{Action, TABLE, action};

/// Modalities whose pixels often carry burned-in text (ultrasound, secondary capture and
/// screenshots, document scans).
pub const BURNED_IN_MODALITIES: &[&str] = &["US", "SC", "OT", "DOC", "XC"];

/// The Basic Profile attributes (Table E.1-1, [`super::phi_table`]) that `present` reports as
/// carrying a non-empty value, by keyword, in tag order, plus `PrivateTags` when any odd-group
/// (private) element is there.
pub fn detect(present: impl Fn(Tag) -> bool, has_private: bool) -> Vec<&'static str> {
    let mut out: Vec<&'static str> =
        TABLE.iter().map(|(t, _)| Tag((t >> 16) as u16, *t as u16)).filter(|t| present(*t)).map(keyword).collect();
    if has_private {
        out.push("PrivateTags");
    }
    out
}

/// The dictionary keyword of a tag (`PatientName`); `Unnamed` for the few the dictionary lacks.
pub fn keyword(tag: Tag) -> &'static str {
    use dicom_core::dictionary::DataDictionary as _;
    dicom_dictionary_std::StandardDataDictionary.by_tag(tag).map_or("Unnamed", |e| e.alias)
}

/// True for a private (odd) group; 0001–0007 are not allowed for private data, but files carry
/// them, and they are treated the same.
pub fn is_private(tag: Tag) -> bool {
    tag.group() % 2 == 1
}

/// Whether Table E.1-1 lists the attribute.
pub fn is_basic_profile(tag: Tag) -> bool {
    action(tag).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_names_attributes_and_private_groups() {
        let present = |t: Tag| t == Tag(0x0010, 0x0010) || t == Tag(0x0008, 0x0050);
        assert_eq!(detect(present, true), ["AccessionNumber", "PatientName", "PrivateTags"]);
        assert!(detect(|_| false, false).is_empty());
        assert!(
            is_private(Tag(0x0009, 0x1010))
                && !is_private(Tag(0x0010, 0x0010))
                && is_private(Tag(0x0001, 0x0001))
                && !is_private(Tag(0x0002, 0x0010))
        );
        assert!(is_basic_profile(Tag(0x0010, 0x0020)) && !is_basic_profile(Tag(0x0028, 0x0010)));
    }
}
