//! De-identified copies of DICOM files (PS3.15 Annex E Basic Profile, best effort): identifying
//! attributes emptied or removed, instance UIDs replaced by `2.25.` UIDs derived from a secret
//! drawn per export (so one export's files still refer to each other, and nothing links them back),
//! private and UN elements and the sequences known to carry identity removed, every other
//! sequence walked the same way, and Patient Identity Removed
//! (0012,0062) = YES with De-identification Method (0012,0063) stamped. Values are never printed.

use std::collections::HashMap;
use std::path::Path;

use dicom_core::{Tag, VR};
use sha2::{Digest as _, Sha256};

use super::dicom::{DicomError, Problem};
use super::phi::{BASIC_PROFILE, is_private};

/// Emptied (type 2: must be present) rather than removed.
const EMPTIED: &[&str] = &[
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyID",
    "ReferringPhysicianName",
    "PatientSex",
];

/// Replaced by a mapped UID (the same new UID wherever the old one appears in an export).
const UIDS: &[&str] = &[
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "InstanceCreatorUID",
    "ReferencedSOPInstanceUID",
    "IrradiationEventUID",
    "DeviceUID",
    "SynchronizationFrameOfReferenceUID",
    "ConcatenationUID",
    "DimensionOrganizationUID",
    "UID",
    "StorageMediaFileSetUID",
    "ReferencedFrameOfReferenceUID",
    "RelatedFrameOfReferenceUID",
];

/// Sequences removed whole: they hold patient, study or request identity.
const SEQUENCES: &[(u16, u16)] = &[
    (0x0008, 0x1110), // ReferencedStudySequence
    (0x0008, 0x1111), // ReferencedPerformedProcedureStepSequence
    (0x0008, 0x1120), // ReferencedPatientSequence
    (0x0008, 0x1140), // ReferencedImageSequence (instance UIDs)
    (0x0010, 0x1002), // OtherPatientIDsSequence
    (0x0040, 0x0275), // RequestAttributesSequence
    (0x0040, 0xA730), // ContentSequence
    (0x0088, 0x0200), // IconImageSequence (a thumbnail: burned-in text would stay in it)
];

/// Repeating groups removed whole: overlays (60xx, may draw text on the image) and the retired
/// curves (50xx).
fn repeating_group(tag: Tag) -> bool {
    matches!(tag.group(), 0x5000..=0x501E | 0x6000..=0x601E) && tag.group().is_multiple_of(2)
}

/// What is stamped in De-identification Method (0012,0063).
pub const METHOD: &str = "PS3.15 E.1.1 Basic Profile, best effort (MedVLM Workbench)";

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
}

impl Default for UidMap {
    fn default() -> Self {
        Self::new()
    }
}

/// Applies the profile to a data set and, through every sequence left, to its items (a
/// Referenced SOP Instance UID or a physician's name deep in a sequence is found as well).
fn scrub(obj: &mut dicom_object::InMemDicomObject, uids: &mut UidMap, depth: usize) {
    let text = |obj: &dicom_object::InMemDicomObject, t: Tag| {
        obj.element_opt(t).ok().flatten().and_then(|e| e.to_str().ok()).map(|s| s.to_string())
    };
    for &(g, e, keyword) in BASIC_PROFILE {
        let tag = Tag(g, e);
        if obj.element_opt(tag).ok().flatten().is_none() {
            continue;
        }
        if UIDS.contains(&keyword) {
            if let Some(old) = text(obj, tag) {
                let new: Vec<String> = old.split('\\').map(|u| uids.map(u)).collect();
                obj.put_str(tag, VR::UI, new.join("\\"));
            }
        } else if EMPTIED.contains(&keyword) && depth == 0 {
            let vr = obj.element_opt(tag).ok().flatten().map_or(VR::LO, |el| el.vr());
            obj.put_str(tag, vr, "");
        } else {
            obj.remove_element(tag);
        }
    }
    // Private elements, and UN ones (a sequence whose VR was lost: its content cannot be checked).
    let opaque: Vec<Tag> = obj
        .iter()
        .filter(|e| is_private(e.header().tag) || e.vr() == VR::UN || repeating_group(e.header().tag))
        .map(|e| e.header().tag)
        .collect();
    for t in opaque {
        obj.remove_element(t);
    }
    for &(g, e) in SEQUENCES {
        obj.remove_element(Tag(g, e));
    }
    if depth >= 16 {
        return;
    }
    let sequences: Vec<Tag> = obj.iter().filter(|e| e.vr() == VR::SQ).map(|e| e.header().tag).collect();
    for tag in sequences {
        obj.update_value(tag, |v| {
            if let Some(items) = v.items_mut() {
                for item in items.iter_mut() {
                    scrub(item, uids, depth + 1);
                }
            }
        });
    }
}

/// Writes a de-identified copy of `src` to `out`; returns the new SOP Instance UID. `clean`:
/// regions (`[x0, y0, x1, y1]` in pixels, x1 and y1 exclusive) blacked out in every frame of the
/// copy ([`super::dicom_clean`]); empty leaves the pixel data as it is.
///
/// # Errors
/// [`DicomError`] naming the source file (never a value).
pub fn deidentify(src: &Path, out: &Path, uids: &mut UidMap, clean: &[[u32; 4]]) -> Result<String, DicomError> {
    let err = |problem| DicomError { path: src.to_path_buf(), problem };
    let mut obj = super::dicom::open(src).map_err(err)?;
    let cleaned = if clean.is_empty() { 0 } else { super::dicom_clean::clean(&mut obj, clean).map_err(err)? };
    let method = if cleaned == 0 {
        METHOD.to_string()
    } else {
        // A second value (LO holds 64 characters a value; the attribute is multi-valued).
        format!("{METHOD}\\Clean Pixel Data: {cleaned} region(s) blacked out")
    };
    scrub(&mut obj, uids, 0);
    obj.put_str(Tag(0x0012, 0x0062), VR::CS, "YES");
    obj.put_str(Tag(0x0012, 0x0063), VR::LO, method);
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
    obj.update_meta(|m| m.media_storage_sop_instance_uid = sop.clone());
    obj.write_to_file(out).map_err(|e| err(Problem::Io(format!("cannot write the copy ({e})"))))?;
    Ok(sop)
}
