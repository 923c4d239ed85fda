//! A folder of scans without a manifest (a PACS export, a DICOMDIR's tree, NIfTI volumes): one
//! item per DICOM series (grouped by series, ordered by position; the middle slice rendered) or
//! multi-frame file, and one per NIfTI volume, each left without a question for later authoring
//! (tag `needs-question`: training, evaluation and exports skip it until a question is written).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::folder::scan_meta;
use super::{ImportError, ImportOptions, Location, Parsed, short_hash};
use crate::domain::{Answer, Modality, NEEDS_QUESTION_TAG, Split, VqaItem};
use crate::io::images::{FileKind, ImageResolver, Rendering};
use crate::io::{dicom, dicomdir};

/// Files looked at, at most, and folder depth.
const MAX_FILES: usize = 50_000;
const MAX_DEPTH: usize = 8;

/// The DICOM and NIfTI files under `dir` (the DICOMDIR index itself left out), sorted.
pub(super) fn find(dir: &Path) -> Vec<(PathBuf, FileKind)> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    let mut seen = 0;
    while let Some((d, depth)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        let mut entries: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            seen += 1;
            if seen > MAX_FILES {
                return out;
            }
            if p.is_dir() {
                if depth < MAX_DEPTH {
                    stack.push((p, depth + 1));
                }
            } else if p.file_name().is_some_and(|n| !n.eq_ignore_ascii_case("DICOMDIR"))
                // By its bytes, or by its name (a damaged `.dcm` is named, not passed over).
                && let Some(kind) = crate::io::images::scan_kind(&p)
                // A pair's image file is read through its header, which is listed too.
                && crate::io::nifti::pair_header(&p).is_none()
            {
                out.push((p, kind));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

pub(super) fn parse(dir: &Path, opts: &ImportOptions, images: &mut ImageResolver) -> Result<Parsed, ImportError> {
    let files = find(dir);
    if files.is_empty() {
        return Err(ImportError::Unusable {
            reason: "no manifest and no DICOM or NIfTI files in the folder".into(),
            path: dir.to_path_buf(),
        });
    }
    Ok(items_of(dir, files, Parsed::default(), opts, images))
}

/// One DICOM or NIfTI file named on its own: one item (a multi-frame file or volume whole; a
/// single-frame DICOM file as a series of one), or, for a DICOMDIR whatever its name, the files
/// it indexes.
pub(super) fn parse_file(
    path: &Path,
    kind: FileKind,
    opts: &ImportOptions,
    images: &mut ImageResolver,
) -> Result<Parsed, ImportError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let (mut groups, mut out) = (Groups::default(), Parsed::default());
    if kind == FileKind::Nifti {
        groups.singles.push(path.to_path_buf());
    } else {
        // The header, read once, tells an index from an image.
        let header = dicom::header(path);
        if header.as_ref().is_ok_and(|h| h.directory) {
            return parse_dicomdir(path, opts, images);
        }
        groups.place(path.to_path_buf(), header, &mut out);
    }
    Ok(groups.items(dir, out, opts, images))
}

/// The files a DICOMDIR indexes ([`dicomdir::references`]), as [`parse`] makes items of a folder's;
/// each file it names that is not there is named. When none is there (an index copied without
/// its tree, or a tree renamed), the folder is walked instead, and that is said.
pub(super) fn parse_dicomdir(
    path: &Path,
    opts: &ImportOptions,
    images: &mut ImageResolver,
) -> Result<Parsed, ImportError> {
    let refs = dicomdir::references(path)
        .map_err(|e| ImportError::Unusable { reason: e.problem.to_string(), path: path.to_path_buf() })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let found: Vec<(PathBuf, FileKind)> =
        refs.iter().filter_map(|r| r.path.as_ref().ok()).map(|p| (p.clone(), FileKind::Dicom)).collect();
    if found.is_empty() {
        let mut out = parse(dir, opts, images)?;
        let why = if refs.is_empty() {
            "it names no file: the folder was walked instead".to_string()
        } else {
            format!("none of the {} files it names is there: the folder was walked instead", refs.len())
        };
        out.error(path, Location::File, why);
        return Ok(out);
    }
    let mut out = Parsed::default();
    for r in &refs {
        if let Err(why) = &r.path {
            out.error(path, Location::File, format!("names {}: {why}", r.id));
        }
    }
    Ok(items_of(dir, found, out, opts, images))
}

/// Items of `files` (under `dir`): one per single-frame series, per multi-frame file, per volume.
fn items_of(
    dir: &Path,
    files: Vec<(PathBuf, FileKind)>,
    mut out: Parsed,
    opts: &ImportOptions,
    images: &mut ImageResolver,
) -> Parsed {
    let mut groups = Groups::default();
    for (path, kind) in files {
        if kind == FileKind::Nifti {
            groups.singles.push(path);
        } else {
            let header = dicom::header(&path);
            groups.place(path, header, &mut out);
        }
    }
    groups.items(dir, out, opts, images)
}

/// Scan files sorted into items: single-frame DICOM files grouped by series (the UID only
/// groups; it is not stored), and the files that are an item each (multi-frame, volumes).
#[derive(Default)]
struct Groups {
    series: BTreeMap<String, Vec<(PathBuf, dicom::Header)>>,
    singles: Vec<PathBuf>,
}

impl Groups {
    /// Places a DICOM file by its header, or names why it is no item.
    fn place(&mut self, path: PathBuf, header: Result<dicom::Header, dicom::DicomError>, out: &mut Parsed) {
        match header {
            Ok(h) if h.directory => out.error(
                &path,
                Location::File,
                "a DICOMDIR: the files it indexes in this folder are imported, not the index",
            ),
            Ok(h) if !h.has_pixels => out.error(
                &path,
                Location::File,
                "no pixel data (a report, a waveform, a colour palette…): not an image",
            ),
            Ok(h) if h.frames > 1 || h.series.is_empty() => self.singles.push(path),
            Ok(h) => self.series.entry(h.series.clone()).or_default().push((path, h)),
            Err(e) => out.error(&path, Location::File, e.problem.to_string()),
        }
    }

    /// The items: each series by its middle slice in position order, then each single file.
    fn items(self, dir: &Path, mut out: Parsed, opts: &ImportOptions, images: &mut ImageResolver) -> Parsed {
        for (_, mut files) in self.series {
            files.sort_by(|a, b| {
                let key = |h: &dicom::Header| (h.z.unwrap_or(f64::NAN), h.instance.unwrap_or(0));
                key(&a.1).0.total_cmp(&key(&b.1).0).then(key(&a.1).1.cmp(&key(&b.1).1)).then(a.0.cmp(&b.0))
            });
            // The middle slice stands for the series (the viewer scrolls the rest).
            let n = files.len();
            let (middle, _) = &files[n / 2];
            add(&mut out, dir, middle, n, opts, images);
        }
        for path in self.singles {
            add(&mut out, dir, &path, 1, opts, images);
        }
        out
    }
}

fn add(out: &mut Parsed, dir: &Path, path: &Path, files: usize, opts: &ImportOptions, images: &mut ImageResolver) {
    match item(dir, path, files, opts, images) {
        Ok(item) => out.push(path, Location::File, item),
        Err(reason) => out.error(path, Location::File, reason),
    }
}

fn item(
    dir: &Path,
    path: &Path,
    files: usize,
    opts: &ImportOptions,
    images: &mut ImageResolver,
) -> Result<VqaItem, String> {
    let r = images.resolve(path).map_err(|e| e.reason)?;
    let scan = images.scan_source(&r.path).cloned().ok_or("not rendered as a scan")?;
    let rel = path.strip_prefix(dir).unwrap_or(path).to_string_lossy().into_owned();
    let source = opts.source.clone().unwrap_or_else(|| "scans".into());
    let modality = match &scan.rendered {
        Rendering::Dicom(d) => dicom::modality_of(&d.modality).unwrap_or(Modality::Other),
        Rendering::Nifti(_) => crate::io::nifti::modality_of_bids_name(&scan.source).unwrap_or(Modality::Other),
    };
    let mut meta = BTreeMap::new();
    let mut tags: Vec<String> = opts.tags.clone();
    tags.push(NEEDS_QUESTION_TAG.into());
    scan_meta(&scan, &mut meta, &mut tags);
    if files > 1 {
        meta.insert("series_files".into(), serde_json::Value::from(files));
    }
    let mut item = VqaItem {
        // Named by the file's place in the folder, hashed: paths can hold a patient's name.
        uid: format!("{source}/{}", short_hash(&[&rel])),
        images: vec![r],
        question: String::new(),
        options: vec![],
        answer: Answer::Open(String::new()),
        modality,
        body_part: None,
        source,
        split: opts.split.unwrap_or(Split::Train),
        tags,
        meta,
    };
    item.normalize_tags();
    Ok(item)
}
