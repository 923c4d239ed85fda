//! What an export may carry: images named by their content hash (never by their local path,
//! whose folder and file names often hold a patient's name, birth date or record number), item
//! metadata by an allow-list (the columns the supported datasets define), and the columns left out,
//! with those that look like patient identifiers or free-text reports named in a warning.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::domain::{ImageRef, VqaItem};
use crate::io::images::{FileKind, sniff};

/// Metadata columns exported by default: the fields of the datasets the importers read (MedVLM-R1,
/// MedVLThinker, VQA-RAD, SLAKE, the sample project). Nothing here identifies a patient.
pub const META_ALLOW: &[&str] = &[
    "subset",
    "dataset",
    "dataset_index",
    "qid",
    "img_id",
    "options_inferred",
    "modality_inferred_from",
    "answer_type",
    "answer_raw",
    "question_type",
    "phrase_type",
    "image_organ",
    "base_type",
    "content_type",
    "location",
    "triple",
    "q_lang",
    "findings",
];

/// Column-name fragments of identifiers (PS3.15 Annex E's kinds: names, dates, ids, addresses,
/// contacts, institutions, physicians) and of free text that may quote them (reports, notes).
const PHI_WORDS: &[&str] = &[
    "name",
    "patient",
    "birth",
    "dob",
    "date",
    "age",
    "sex",
    "gender",
    "mrn",
    "accession",
    "record",
    "ssn",
    "social",
    "address",
    "street",
    "zip",
    "postal",
    "city",
    "phone",
    "tel",
    "fax",
    "email",
    "mail",
    "institution",
    "hospital",
    "clinic",
    "physician",
    "doctor",
    "referring",
    "operator",
    "report",
    "note",
    "comment",
    "history",
    "uid",
    "study",
    "series",
    "insurance",
    "account",
    "licen",
    "serial",
];

/// The words of a column name: split at non-alphanumerics and lower-to-upper case changes.
fn words(column: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut prev_lower = false;
    for ch in column.chars() {
        if !ch.is_alphanumeric() {
            out.push(String::new());
            prev_lower = false;
            continue;
        }
        if ch.is_uppercase() && prev_lower {
            out.push(String::new());
        }
        prev_lower = ch.is_lowercase();
        if let Some(w) = out.last_mut() {
            w.extend(ch.to_lowercase());
        }
    }
    out.retain(|w| !w.is_empty());
    out
}

/// True when a metadata column's name suggests patient identifiers or free text.
pub fn phi_looking(column: &str) -> bool {
    words(column).iter().any(|w| w == "id" || PHI_WORDS.iter().any(|p| w.starts_with(p)))
}

/// Applies the allow-list (plus `keep`, columns the user exports on purpose) to one item's metadata.
pub fn allowed_meta(
    meta: &BTreeMap<String, serde_json::Value>,
    keep: &[String],
    dropped: &mut BTreeSet<String>,
) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for (k, v) in meta {
        if META_ALLOW.contains(&k.as_str()) || keep.iter().any(|x| x == k) {
            out.insert(k.clone(), v.clone());
        } else {
            dropped.insert(k.clone());
        }
    }
    out
}

/// The export warning for metadata columns left out, PHI-looking ones first.
pub fn dropped_warning(dropped: &BTreeSet<String>) -> Option<String> {
    if dropped.is_empty() {
        return None;
    }
    let (phi, other): (Vec<&String>, Vec<&String>) = dropped.iter().partition(|c| phi_looking(c));
    let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    let mut s = String::from("metadata columns left out of the export");
    if !phi.is_empty() {
        s += &format!(" — they look like patient identifiers or free text: {}", list(&phi));
    }
    if !other.is_empty() {
        let lead = if phi.is_empty() { " (not on the allow-list)" } else { "; also (not on the allow-list)" };
        s += &format!("{lead}: {}", list(&other));
    }
    s += ". Export a column on purpose with --keep-meta NAME";
    Some(s)
}

/// An image as exported: its content-hash name and where its bytes are.
#[derive(Debug, Clone)]
pub struct ExportImage {
    /// `<sha256>.png` / `<sha256>.jpg`.
    pub name: String,
    /// The local file (read, never written into the export).
    pub source: PathBuf,
}

/// The content-hash name of an image, or why it cannot be exported (missing, unreadable).
pub fn export_image(img: &ImageRef, resolved: &Path) -> Result<ExportImage, String> {
    if let Some(why) = &img.unreadable {
        return Err(format!("image unreadable ({why})"));
    }
    let sha = img.sha256.as_ref().ok_or("image file missing")?;
    if !resolved.is_file() {
        return Err("image file missing".into());
    }
    let ext = match sniff(resolved) {
        Ok(FileKind::Png) => "png",
        Ok(FileKind::Jpeg) => "jpg",
        _ => return Err("image is no longer a PNG or JPEG".into()),
    };
    Ok(ExportImage { name: format!("{sha}.{ext}"), source: resolved.to_path_buf() })
}

/// Every image of `item` as exported, or the reason the item cannot be exported.
pub fn item_images(item: &VqaItem, resolve: impl Fn(&str) -> PathBuf) -> Result<Vec<ExportImage>, String> {
    item.images.iter().map(|i| export_image(i, &resolve(&i.path))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_columns_are_recognised_and_dataset_columns_are_not() {
        for c in ["patient_name", "PatientName", "birth_date", "DOB", "accession", "MRN", "report", "study_uid", "id"] {
            assert!(phi_looking(c), "{c}");
        }
        for c in ["qid", "answer_type", "question_type", "subset", "findings", "triple"] {
            assert!(!phi_looking(c) || META_ALLOW.contains(&c), "{c}");
        }
        let meta: BTreeMap<String, serde_json::Value> = [("qid", "1"), ("patient_name", "Doe^John"), ("scanner", "X")]
            .map(|(k, v)| (k.to_string(), v.into()))
            .into();
        let mut dropped = BTreeSet::new();
        let kept = allowed_meta(&meta, &[], &mut dropped);
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["qid"]);
        let w = dropped_warning(&dropped).unwrap();
        assert!(w.contains("patient identifiers or free text: patient_name") && w.contains("scanner"), "{w}");
    }
}
