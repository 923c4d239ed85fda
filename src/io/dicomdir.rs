//! A DICOMDIR (PS3.10 Media Storage Directory) read for the files it indexes: every directory
//! record's Referenced File ID (0004,1500), a path of up to eight components relative to the
//! DICOMDIR's folder, found on disk whatever the case of its letters (media copied from a CD are
//! often lower case, or keep ISO 9660's `;1` version suffix). The records' patient and study
//! attributes are never read into anything.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use dicom_core::Tag;

use super::dicom::{DicomError, Problem};

/// Directory Record Sequence.
const RECORDS: Tag = Tag(0x0004, 0x1220);
/// Referenced File ID.
const FILE_ID: Tag = Tag(0x0004, 0x1500);

/// One file a DICOMDIR names.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// The Referenced File ID as written, components joined with `/` (`PT000000/ST000000/IM1`).
    pub id: String,
    /// Where it is on disk; `Err` says why not (missing, or a name that leaves the folder).
    pub path: Result<PathBuf, String>,
}

/// The files `dicomdir` indexes, in record order, each once.
///
/// # Errors
/// [`DicomError`] naming the DICOMDIR when it cannot be read or has no directory records.
pub fn references(dicomdir: &Path) -> Result<Vec<Reference>, DicomError> {
    let err = |problem| DicomError { path: dicomdir.to_path_buf(), problem };
    let obj = super::dicom::open(dicomdir).map_err(err)?;
    let records = obj
        .element_opt(RECORDS)
        .ok()
        .flatten()
        .and_then(|e| e.items())
        .ok_or_else(|| err(Problem::Corrupt("no Directory Record Sequence: not a DICOMDIR".into())))?;
    let base = dicomdir.parent().unwrap_or(Path::new("."));
    let mut dirs = Listing::default();
    let mut out: Vec<Reference> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for record in records {
        let Some(parts) = record.element_opt(FILE_ID).ok().flatten().and_then(|e| e.to_multi_str().ok()) else {
            continue;
        };
        let parts: Vec<String> = parts.iter().map(|p| p.trim_end_matches(['\0', ' ']).to_string()).collect();
        let id = parts.join("/");
        if parts.is_empty() || !seen.insert(id.clone()) {
            continue;
        }
        let path = if parts.iter().any(|p| p.is_empty() || p == "." || p == ".." || p.contains(['/', '\\', ':'])) {
            Err("a name that leaves the DICOMDIR's folder".to_string())
        } else {
            dirs.resolve(base, &parts).ok_or_else(|| "not there".to_string())
        };
        out.push(Reference { id, path });
    }
    Ok(out)
}

/// Folder listings, read once each.
#[derive(Default)]
struct Listing(HashMap<PathBuf, Vec<OsString>>);

impl Listing {
    /// `base` joined with `parts`, each matched to an entry of its folder: exactly, else ignoring
    /// case, a trailing `.` and a `;1` version suffix.
    fn resolve(&mut self, base: &Path, parts: &[String]) -> Option<PathBuf> {
        let mut at = base.to_path_buf();
        for part in parts {
            let exact = at.join(part);
            if exact.exists() {
                at = exact;
                continue;
            }
            let names = self.0.entry(at.clone()).or_insert_with(|| {
                std::fs::read_dir(&at)
                    .map(|rd| rd.filter_map(Result::ok).map(|e| e.file_name()).collect())
                    .unwrap_or_default()
            });
            let plain = |s: &str| s.trim_end_matches(";1").trim_end_matches('.').to_ascii_uppercase();
            let want = plain(part);
            let found = names.iter().find(|n| n.to_str().is_some_and(|n| plain(n) == want))?.clone();
            at = at.join(found);
        }
        at.is_file().then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_whatever_their_case_and_version_suffix() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("pt0/st0")).unwrap();
        std::fs::write(d.path().join("pt0/st0/im0;1"), b"x").unwrap();
        std::fs::write(d.path().join("pt0/st0/IM1."), b"x").unwrap();
        let mut l = Listing::default();
        let parts = |s: &str| s.split('/').map(String::from).collect::<Vec<_>>();
        assert_eq!(l.resolve(d.path(), &parts("PT0/ST0/IM0")), Some(d.path().join("pt0/st0/im0;1")));
        assert_eq!(l.resolve(d.path(), &parts("PT0/ST0/IM1")), Some(d.path().join("pt0/st0/IM1.")));
        assert_eq!(l.resolve(d.path(), &parts("PT0/ST0/IM2")), None);
        assert_eq!(l.resolve(d.path(), &parts("PT0/ST0")), None, "a folder is not a file");
    }
}
