//! The scan behind an item's image, for the viewer: a DICOM file's frames or its series (the
//! DICOM files of its folder with the same size and modality, ordered by position), or a NIfTI
//! volume's slices along each axis, all in the values after the Modality LUT / scaling (HU for
//! CT), so the viewer windows the real values. No UI imports.

use std::path::Path;
use std::sync::Arc;

use super::WindowLevel;
use super::gpu::GreyImage;
use crate::io::{dicom, nifti};

/// Files of a folder read as one series, at most.
pub const MAX_SERIES: usize = 1000;

/// One scrollable stack of slices.
#[derive(Debug, Clone)]
pub struct Stack {
    /// `series`, `frames`, `axial`, `coronal` or `sagittal`.
    pub name: String,
    /// The slices, in order.
    pub slices: Vec<Arc<GreyImage>>,
    /// What each slice is (`z = 12.5 mm`, `frame 3`).
    pub labels: Vec<String>,
    /// Row and column spacing, mm.
    pub spacing: Option<(f64, f64)>,
}

/// The scan of an item: its stacks, the one and the slice the item's image shows, its window.
#[derive(Debug, Clone)]
pub struct ScanStack {
    /// Stacks (one for grey DICOM, none for colour; axial, coronal and sagittal for NIfTI).
    pub stacks: Vec<Stack>,
    /// The slice of the first stack the item's image is.
    pub start: usize,
    /// The window of the rendering (the file's, else one spanning the data).
    pub window: WindowLevel,
    /// The window is the file's (DICOM's window or VOI LUT, NIfTI's `cal_min`..`cal_max`), not
    /// one made from the data's range.
    pub window_from_file: bool,
    /// One line about the scan (`CT series of 40 files, explicit VR little endian`).
    pub summary: String,
    /// Files of the folder that could not be read into the series, with the reason.
    pub skipped: Vec<String>,
    /// DICOM: the attributes (by name, no patient values) of the item's file.
    pub tags: Vec<dicom::TagRow>,
    /// The volume shown of a 4-D NIfTI (0-based) and how many the file has (1 otherwise).
    pub volume: usize,
    /// Volumes in the file.
    pub volumes: usize,
}

fn grey(width: usize, height: usize, values: Vec<f32>) -> Arc<GreyImage> {
    Arc::new(GreyImage::new([width, height], values))
}

fn wl(w: dicom::Window) -> WindowLevel {
    WindowLevel { center: w.center as f32, width: w.width as f32, function: w.function }
}

/// A DICOM frame's slice, carrying its file's VOI LUT table.
fn dicom_grey(img: &dicom::DicomImage, values: Vec<f32>) -> Arc<GreyImage> {
    Arc::new(GreyImage { lut: img.voi_lut.clone(), ..GreyImage::new([img.cols, img.rows], values) })
}

/// Loads the scan at `source` (`.dcm` or NIfTI, by content).
///
/// # Errors
/// Why the file cannot be read (naming it).
pub fn load(source: &Path) -> Result<ScanStack, String> {
    match crate::io::images::sniff(source).map_err(|e| format!("cannot read ({e}): {}", source.display()))? {
        crate::io::images::FileKind::Nifti => load_volume(source, 0),
        _ => load_dicom(source),
    }
}

/// Loads volume `t` (0-based) of the NIfTI file `source`: its axial, coronal and sagittal stacks.
///
/// # Errors
/// Why the file or the volume cannot be read (naming the file).
pub fn load_volume(source: &Path, t: usize) -> Result<ScanStack, String> {
    let v = nifti::read_volume(source, t).map_err(|e| e.to_string())?;
    let mut stacks = Vec::new();
    for axis in nifti::Axis::ALL {
        let n = v.slices(axis);
        let mut slices = Vec::with_capacity(n);
        let mut spacing = None;
        for i in 0..n {
            let s = v.slice(axis, i);
            spacing = Some(s.spacing);
            slices.push(grey(s.width, s.height, s.values));
        }
        let labels = (0..n).map(|i| format!("{} {}/{n}", axis.as_str(), i + 1)).collect();
        stacks.push(Stack { name: axis.as_str().into(), slices, labels, spacing });
    }
    let start = v.slices(nifti::Axis::Axial) / 2;
    let summary = format!(
        "{} {}×{}×{} {} ({} from the {}){}",
        v.format_name(),
        v.dims[0],
        v.dims[1],
        v.dims[2],
        v.datatype,
        v.orientation(),
        v.affine_from,
        if v.volumes > 1 { format!(", volume {} of {}", v.volume + 1, v.volumes) } else { String::new() }
    );
    let window = wl(v.default_window());
    Ok(ScanStack {
        stacks,
        start,
        window,
        window_from_file: v.cal.is_some(),
        summary,
        skipped: vec![],
        tags: vec![],
        volume: v.volume,
        volumes: v.volumes,
    })
}

fn load_dicom(source: &Path) -> Result<ScanStack, String> {
    let img = dicom::read(source).map_err(|e| e.to_string())?;
    let tags = dicom::tag_rows(source).unwrap_or_default();
    let window = wl(img.default_window(img.frames() / 2));
    let syntax = img.transfer_syntax.1.clone();
    if img.grey.is_empty() {
        // Colour (screenshots, ultrasound): the stored rendering is the image; the attributes still show.
        let summary = format!("{} {}×{} colour, {} frames, {syntax}", img.modality, img.cols, img.rows, img.frames());
        return Ok(ScanStack {
            stacks: vec![],
            start: 0,
            window: WindowLevel::default(),
            window_from_file: false,
            summary,
            skipped: vec![],
            tags,
            volume: 0,
            volumes: 1,
        });
    }
    if img.frames() > 1 {
        let n = img.frames();
        let slices = (0..n)
            .map(|f| dicom_grey(&img, img.grey.get(f).cloned().unwrap_or_else(|| vec![0.0; img.cols * img.rows])))
            .collect();
        let labels = (0..n).map(|f| format!("frame {}/{n}", f + 1)).collect();
        let stack = Stack { name: "frames".into(), slices, labels, spacing: img.pixel_spacing };
        let summary = format!("{} {}×{}, {n} frames, {syntax}", img.modality, img.cols, img.rows);
        return Ok(ScanStack {
            stacks: vec![stack],
            start: n / 2,
            window,
            window_from_file: img.window.is_some(),
            summary,
            skipped: vec![],
            tags,
            volume: 0,
            volumes: 1,
        });
    }
    // A single-frame file: its folder's files of its series (Series Instance UID; a file without
    // one, the files without one of the same size and modality) form the series.
    let mut series = Vec::new();
    let mut skipped = Vec::new();
    let dir = source.parent().unwrap_or(Path::new("."));
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    let same_series = |o: &dicom::DicomImage| {
        o.series == img.series
            && o.rows == img.rows
            && o.cols == img.cols
            && o.modality == img.modality
            && o.frames() == 1
    };
    for f in files.into_iter().take(MAX_SERIES) {
        if f == source {
            continue;
        }
        if !matches!(crate::io::images::sniff(&f), Ok(crate::io::images::FileKind::Dicom)) {
            continue;
        }
        match dicom::read(&f) {
            Ok(o) if same_series(&o) => series.push((f, o)),
            Ok(_) => {}
            // A file that does not decode is named when it is of this series (or has no UID to tell).
            Err(e) => {
                let other = !img.series.is_empty() && dicom::header(&f).is_ok_and(|h| h.series != img.series);
                if !other {
                    skipped.push(e.to_string());
                }
            }
        }
    }
    series.push((source.to_path_buf(), img.clone()));
    dicom::order_series(&mut series);
    let start = series.iter().position(|(p, _)| p == source).unwrap_or(0);
    let n = series.len();
    let labels = series
        .iter()
        .enumerate()
        .map(|(i, (_, o))| match o.position {
            Some(p) => format!("slice {}/{n} · z = {:.1} mm", i + 1, p[2]),
            None => format!("slice {}/{n}", i + 1),
        })
        .collect();
    let slices = series.iter().map(|(_, o)| dicom_grey(o, o.grey[0].clone())).collect();
    let summary = format!("{} series of {n} files, {}×{}, {syntax}", img.modality, img.cols, img.rows);
    let stack = Stack { name: "series".into(), slices, labels, spacing: img.pixel_spacing };
    let window_from_file = img.window.is_some();
    Ok(ScanStack {
        stacks: vec![stack],
        start,
        window,
        window_from_file,
        summary,
        skipped,
        tags,
        volume: 0,
        volumes: 1,
    })
}
