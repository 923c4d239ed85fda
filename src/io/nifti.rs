//! NIfTI-1 and NIfTI-2 volumes (`.nii`, `.nii.gz`, either byte order), and their forerunner Analyze
//! 7.5 (`.hdr` + `.img`, scaled as SPM2 writes it): the header, the first 3-D volume scaled by
//! `scl_slope`/`scl_inter`, the voxel-to-world affine from the sform, else the qform, else the
//! voxel sizes, and slices along each anatomical axis shown in radiological
//! orientation (patient right on the left; anterior, or superior, at the top). Errors name the
//! file and the reason; NIfTI carries no patient attributes but `descrip`/`aux_file`, which are
//! never kept.

use std::path::{Path, PathBuf};

use super::dicom::Window;
pub(crate) use super::nifti_header::is_analyze;
use super::nifti_header::{Header, datatype, decode, header, is_pair_header};

/// Why a NIfTI file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{problem}: {}", .path.display())]
pub struct NiftiError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub problem: String,
}

/// An anatomical slicing axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Axis {
    /// Across left–right (x).
    Sagittal,
    /// Across anterior–posterior (y).
    Coronal,
    /// Across inferior–superior (z).
    Axial,
}

impl Axis {
    /// Every axis, in picker order.
    pub const ALL: [Axis; 3] = [Axis::Axial, Axis::Coronal, Axis::Sagittal];

    /// Parses `axial`, `coronal`, `sagittal`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Axis::Sagittal => "sagittal",
            Axis::Coronal => "coronal",
            Axis::Axial => "axial",
        }
    }

    fn world(self) -> usize {
        match self {
            Axis::Sagittal => 0,
            Axis::Coronal => 1,
            Axis::Axial => 2,
        }
    }
}

/// A decoded volume.
#[derive(Debug, Clone)]
pub struct Volume {
    /// NIfTI-1 or NIfTI-2; 0 for Analyze 7.5.
    pub version: u8,
    /// Voxels along i, j, k.
    pub dims: [usize; 3],
    /// 3-D volumes in the file (the 4th to 7th dimensions, flattened).
    pub volumes: usize,
    /// The volume read (0-based).
    pub volume: usize,
    /// Scaled voxel values, i fastest.
    pub data: Vec<f32>,
    /// Voxel size along i, j, k (mm, from the affine's columns).
    pub spacing: [f64; 3],
    /// Voxel (i, j, k, 1) to world (RAS+ mm), rows x, y, z.
    pub affine: [[f64; 4]; 3],
    /// Where the affine came from: `sform`, `qform` or `pixdim`.
    pub affine_from: &'static str,
    /// The data type's name.
    pub datatype: &'static str,
    /// `cal_min`/`cal_max` when set.
    pub cal: Option<(f64, f64)>,
}

/// One slice, ready to window: `values` row-major, `height` rows of `width`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Values (after scaling).
    pub values: Vec<f32>,
    /// Row and column spacing, mm (DICOM's PixelSpacing order).
    pub spacing: (f64, f64),
}

/// Reads `path` (gzip-compressed when it starts with the gzip magic).
///
/// # Errors
/// [`NiftiError`] naming the file: not NIfTI, truncated, an unsupported data type, a bad header.
pub fn read(path: &Path) -> Result<Volume, NiftiError> {
    read_volume(path, 0)
}

/// Reads volume `t` (0-based) of `path`'s 4th dimension.
///
/// # Errors
/// As [`read`]; a volume past the last is named.
pub fn read_volume(path: &Path, t: usize) -> Result<Volume, NiftiError> {
    // The image file of a pair named instead of its header: read through the header.
    if let Some(hdr) = pair_header(path) {
        return read_volume(&hdr, t);
    }
    let err = |problem: String| NiftiError { path: path.to_path_buf(), problem };
    let bytes = super::gz::read(path).map_err(err)?;
    // A two-file NIfTI (`.hdr` + `.img`, magic ni1/ni2) or an Analyze 7.5 header: the voxels are in
    // the image file, from vox_offset; they are read after the header as if it were one file.
    if is_pair_header(&bytes) {
        let header_len = if bytes.get(4..8) == Some(b"ni2\0") { 540 } else { 348 };
        let img = ["img", "img.gz"]
            .iter()
            .map(|ext| path.with_extension(ext))
            .find(|p| p.is_file())
            .ok_or_else(|| err("a two-file NIfTI or Analyze header without its .img file beside it".into()))?;
        let voxels = super::gz::read(&img).map_err(err)?;
        let mut one = bytes.get(..header_len).unwrap_or_default().to_vec();
        one.extend(voxels);
        return parse(&one, t, header_len).map_err(err);
    }
    parse(&bytes, t, 0).map_err(err)
}

/// Parses a volume whose voxels start `base` + vox_offset bytes into `b`.
fn parse(b: &[u8], t: usize, base: usize) -> Result<Volume, String> {
    let h = header(b)?;
    // CIFTI-2 (intents 3000-3099) stores grayordinates (surface vertices and voxels) along dims
    // 5 and 6 of a 1x1x1 "volume": there is no image to show.
    if (3000..=3099).contains(&h.intent) {
        return Err(format!(
            "a CIFTI-2 file (NIfTI intent {}): grayordinate data on surfaces, not a volume image",
            h.intent
        ));
    }
    let (name, size) = datatype(h.datatype)?;
    let nd = h.dim[0];
    if !(1..=7).contains(&nd) {
        return Err(format!("dim[0] = {nd} is not 1 to 7"));
    }
    let d = |i: usize| if (i as i64) <= nd { h.dim[i].max(1) } else { 1 };
    if (1..=4).any(|i| d(i) < 1) || h.dim[1..=nd as usize].iter().any(|&x| x < 1) {
        return Err(format!("bad dimensions {:?}", &h.dim[1..=nd as usize]));
    }
    let dims = [d(1) as usize, d(2) as usize, d(3) as usize];
    let volumes = (4..=7).map(d).product::<i64>() as usize;
    let n = dims.iter().product::<usize>();
    if t >= volumes {
        return Err(format!("volume {} asked for, the file has {volumes}", t + 1));
    }
    let start = usize::try_from(h.vox_offset).map_err(|_| "vox_offset out of range".to_string())? + base;
    let start = n
        .checked_mul(size)
        .and_then(|v| v.checked_mul(t))
        .and_then(|v| v.checked_add(start))
        .ok_or("dimensions overflow")?;
    let need = n.checked_mul(size).and_then(|x| x.checked_add(start)).ok_or("dimensions overflow")?;
    if b.len() < need {
        return Err(format!(
            "truncated: {} bytes of voxel data, the header says {}",
            b.len().saturating_sub(start),
            need - start
        ));
    }
    let data = decode(&b[start..need], h.datatype, h.big, n);
    // scl_slope 0 means no scaling (NIfTI-1 standard).
    let (slope, inter) = if h.slope == 0.0 || !h.slope.is_finite() { (1.0, 0.0) } else { (h.slope, h.inter) };
    let data = data.into_iter().map(|v| (v * slope + inter) as f32).collect();
    let (affine, affine_from) = affine(&h);
    let spacing = std::array::from_fn(|j| (0..3).map(|r| affine[r][j] * affine[r][j]).sum::<f64>().sqrt());
    let cal = (h.cal.1 > h.cal.0).then_some(h.cal);
    Ok(Volume { version: h.version, dims, volumes, volume: t, data, spacing, affine, affine_from, datatype: name, cal })
}

/// BIDS suffixes of MRI data (anatomical, functional, diffusion, field maps, perfusion, and
/// quantitative maps), as the BIDS specification names them.
#[rustfmt::skip]
const BIDS_MRI: &[&str] = &[
    "t1w", "t2w", "pdw", "t2starw", "flair", "inplanet1", "inplanet2", "pdt2", "angio", "t1map", "t2map", "t2starmap",
    "r1map", "r2map", "r2starmap", "pdmap", "mtrmap", "mtsat", "unit1", "t1rho", "mwfmap", "mtvmap", "chimap", "s0map",
    "m0map", "mese", "megre", "vfa", "irt1", "mp2rage", "mpm", "mts", "mtr", "bold", "cbv", "sbref", "phase", "dwi",
    "phasediff", "phase1", "phase2", "magnitude", "magnitude1", "magnitude2", "fieldmap", "epi", "asl", "m0scan",
    "tb1dam", "tb1epi", "tb1afi", "tb1tfl", "tb1rfm", "tb1srge", "tb1map", "rb1cor", "tb1stfl",
];

/// The modality a BIDS file name says (`sub-01_ses-1_T1w.nii.gz` is MRI, `..._ct.nii.gz` CT):
/// the suffix, the last `_` part of a name that begins with `sub-`. `None` for other names (a
/// NIfTI header does not say which scanner made it).
pub fn modality_of_bids_name(path: &Path) -> Option<crate::domain::Modality> {
    let name = path.file_name()?.to_str()?;
    let stem = name.split('.').next()?;
    if !stem.starts_with("sub-") {
        return None;
    }
    let suffix = stem.rsplit('_').next()?.to_ascii_lowercase();
    match suffix.as_str() {
        "ct" => Some(crate::domain::Modality::Ct),
        s if BIDS_MRI.contains(&s) => Some(crate::domain::Modality::Mri),
        _ => None,
    }
}

/// The header of the pair whose image file is `path` (`x.img` or `x.img.gz` beside `x.hdr`, an
/// Analyze 7.5 or two-file NIfTI header); `None` for any other file.
pub(crate) fn pair_header(path: &Path) -> Option<std::path::PathBuf> {
    let name = path.file_name()?.to_str()?;
    let lower = name.to_ascii_lowercase();
    let stem = lower.strip_suffix(".img.gz").or_else(|| lower.strip_suffix(".img"))?;
    let stem = name.get(..stem.len())?;
    let hdr = ["hdr", "HDR"].iter().map(|ext| path.with_file_name(format!("{stem}.{ext}"))).find(|p| p.is_file())?;
    let mut head = Vec::with_capacity(348);
    std::io::Read::read_to_end(&mut std::io::Read::take(std::fs::File::open(&hdr).ok()?, 348), &mut head).ok()?;
    is_pair_header(&head).then_some(hdr)
}

/// The sform when its code is set, else the qform (quaternion), else the voxel sizes read "the
/// ANALYZE 7.5 way" (NIfTI-1's method 1): i runs from the patient's right to left, ANALYZE's
/// radiological default, as nibabel (`get_base_affine`) and FSL read such a file.
fn affine(h: &Header) -> ([[f64; 4]; 3], &'static str) {
    if h.sform > 0 && h.srow.iter().flatten().all(|v| v.is_finite()) {
        return (h.srow, "sform");
    }
    let px = |i: usize| if h.pixdim[i] > 0.0 && h.pixdim[i].is_finite() { h.pixdim[i] } else { 1.0 };
    if h.qform > 0 {
        let [b, c, d, x, y, z] = h.quat;
        let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
        let r = [
            [a * a + b * b - c * c - d * d, 2.0 * (b * c - a * d), 2.0 * (b * d + a * c)],
            [2.0 * (b * c + a * d), a * a + c * c - b * b - d * d, 2.0 * (c * d - a * b)],
            [2.0 * (b * d - a * c), 2.0 * (c * d + a * b), a * a + d * d - c * c - b * b],
        ];
        let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
        let s = [px(1), px(2), px(3) * qfac];
        let off = [x, y, z];
        return (std::array::from_fn(|row| [r[row][0] * s[0], r[row][1] * s[1], r[row][2] * s[2], off[row]]), "qform");
    }
    ([[-px(1), 0.0, 0.0, 0.0], [0.0, px(2), 0.0, 0.0], [0.0, 0.0, px(3), 0.0]], "pixdim")
}

impl Volume {
    /// `NIfTI-1`, `NIfTI-2` or `Analyze 7.5`.
    pub fn format_name(&self) -> String {
        if self.version == 0 { "Analyze 7.5".into() } else { format!("NIfTI-{}", self.version) }
    }

    /// For each world axis (x, y, z), the voxel axis closest to it and whether the voxel axis
    /// runs along it (+) or against it (−).
    fn axes(&self) -> [(usize, bool); 3] {
        let mut out = [(0, true), (1, true), (2, true)];
        let mut free_w = vec![0, 1, 2];
        let mut free_v = vec![0, 1, 2];
        // Greedy: the largest direction cosine first, so that an oblique volume still gets each
        // world axis once.
        while !free_w.is_empty() {
            let mut best = (0.0f64, 0, 0);
            for &w in &free_w {
                for &v in &free_v {
                    let norm = self.spacing[v].max(f64::MIN_POSITIVE);
                    let c = (self.affine[w][v] / norm).abs();
                    if c >= best.0 {
                        best = (c, w, v);
                    }
                }
            }
            let (_, w, v) = best;
            out[w] = (v, self.affine[w][v] >= 0.0);
            free_w.retain(|&x| x != w);
            free_v.retain(|&x| x != v);
        }
        out
    }

    /// The orientation code, e.g. `RAS` or `LPS`: where each voxel axis points in the patient.
    pub fn orientation(&self) -> String {
        let mut code = [' '; 3];
        for (w, (v, plus)) in self.axes().into_iter().enumerate() {
            let labels = [('R', 'L'), ('A', 'P'), ('S', 'I')][w];
            code[v] = if plus { labels.0 } else { labels.1 };
        }
        code.iter().collect()
    }

    /// Slices along `axis`.
    pub fn slices(&self, axis: Axis) -> usize {
        self.dims[self.axes()[axis.world()].0]
    }

    /// Slice `index` along `axis` (clamped; counted from the patient's left, posterior or
    /// inferior side), in radiological orientation.
    pub fn slice(&self, axis: Axis, index: usize) -> Slice {
        let axes = self.axes();
        let (k, k_plus) = axes[axis.world()];
        // Horizontal and vertical world axes of the screen, and the direction drawn first.
        let (hw, vw) = match axis {
            Axis::Axial => (0, 1),
            Axis::Coronal => (0, 2),
            Axis::Sagittal => (1, 2),
        };
        let (hv, h_plus) = axes[hw];
        let (vv, v_plus) = axes[vw];
        let (width, height) = (self.dims[hv], self.dims[vv]);
        // Slice 0 is the most left, posterior or inferior one, whatever the storage order.
        let index = index.min(self.dims[k].saturating_sub(1));
        let index = if k_plus { index } else { self.dims[k] - 1 - index };
        let stride = [1, self.dims[0], self.dims[0] * self.dims[1]];
        let mut values = Vec::with_capacity(width * height);
        for row in 0..height {
            // Top of the screen: anterior (axial) or superior; left: patient right (or anterior).
            let vi = if v_plus { height - 1 - row } else { row };
            for col in 0..width {
                let hi = if h_plus { width - 1 - col } else { col };
                let at = index * stride[k] + vi * stride[vv] + hi * stride[hv];
                values.push(self.data.get(at).copied().unwrap_or(0.0));
            }
        }
        Slice { width, height, values, spacing: (self.spacing[vv], self.spacing[hv]) }
    }

    /// The window spanning the file's `cal_min`..`cal_max`, else the 1st to 99th percentile of the
    /// volume (a float map of 0..1 spans its range, not a step at one value).
    pub fn default_window(&self) -> Window {
        let (lo, hi) = self.cal.unwrap_or_else(|| {
            let (lo, hi) = crate::imaging::window::percentiles(&self.data, 1.0, 99.0).unwrap_or((0.0, 255.0));
            (f64::from(lo), f64::from(hi))
        });
        Window::spanning(lo, hi)
    }
}

/// What a NIfTI rendering stored in a project came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rendered {
    /// The slicing axis (axial).
    pub axis: Axis,
    /// The slice rendered (the middle one).
    pub slice: usize,
    /// Slices along the axis.
    pub slices: usize,
    /// The window used.
    pub window: Window,
    /// Orientation code of the voxel axes (`RAS`, `LPS`, ...).
    pub orientation: String,
    /// Row and column spacing of the slice, mm.
    pub pixel_spacing: (f64, f64),
    /// NIfTI-1 or -2.
    pub version: u8,
}

/// Renders `path`'s middle axial slice through its default window to a hash-named PNG in `dir`.
///
/// # Errors
/// [`NiftiError`] naming the file.
pub fn render_to(path: &Path, dir: &Path) -> Result<(crate::domain::ImageRef, Rendered), NiftiError> {
    let v = read(path)?;
    let axis = Axis::Axial;
    let slices = v.slices(axis);
    let slice = slices / 2;
    let s = v.slice(axis, slice);
    let window = v.default_window();
    let rgb = super::dicom::windowed(&s.values, window, None, false);
    let r = super::images::store_png(rgb, s.width, s.height, dir)
        .map_err(|e| NiftiError { path: path.to_path_buf(), problem: format!("cannot write the rendering ({e})") })?;
    let rendered = Rendered {
        axis,
        slice,
        slices,
        window,
        orientation: v.orientation(),
        pixel_spacing: s.spacing,
        version: v.version,
    };
    Ok((r, rendered))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nifti1(dims: [i16; 3], datatype: i16, data: &[u8], srow: Option<[[f32; 4]; 3]>) -> Vec<u8> {
        let mut h = vec![0u8; 352];
        h[0..4].copy_from_slice(&348i32.to_le_bytes());
        let dim = [3i16, dims[0], dims[1], dims[2], 1, 1, 1, 1];
        for (i, d) in dim.iter().enumerate() {
            h[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
        }
        h[70..72].copy_from_slice(&datatype.to_le_bytes());
        for (i, p) in [1.0f32, 1.0, 1.0, 2.0].iter().enumerate() {
            h[76 + 4 * i..80 + 4 * i].copy_from_slice(&p.to_le_bytes());
        }
        h[108..112].copy_from_slice(&352f32.to_le_bytes());
        if let Some(s) = srow {
            h[254..256].copy_from_slice(&1i16.to_le_bytes());
            for (r, row) in s.iter().enumerate() {
                for (c, v) in row.iter().enumerate() {
                    h[280 + 16 * r + 4 * c..284 + 16 * r + 4 * c].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
        h[344..348].copy_from_slice(b"n+1\0");
        h.extend_from_slice(data);
        h
    }

    #[test]
    fn ras_and_lps_volumes_show_the_same_radiological_slice() {
        // 2x2x1 uint8: value = 10*i + j.
        let data: Vec<u8> = vec![0, 10, 1, 11];
        let diag = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]];
        let ras = parse(&nifti1([2, 2, 1], 2, &data, Some(diag)), 0, 0).unwrap();
        assert_eq!(ras.orientation(), "RAS");
        // Without sform or qform, the ANALYZE way: i runs right to left, so the slice is mirrored.
        let analyze = parse(&nifti1([2, 2, 1], 2, &data, None), 0, 0).unwrap();
        assert_eq!((analyze.orientation().as_str(), analyze.affine_from), ("LAS", "pixdim"));
        assert_eq!(analyze.slice(Axis::Axial, 0).values, [1.0, 11.0, 0.0, 10.0]);
        // Axial: row 0 is anterior (j = 1), column 0 is patient right (i = 1).
        assert_eq!(ras.slice(Axis::Axial, 0).values, [11.0, 1.0, 10.0, 0.0]);
        // The same anatomy stored LPS (i and j reversed, with a negative sform).
        let lps_data: Vec<u8> = vec![11, 1, 10, 0];
        let s = [[-1.0, 0.0, 0.0, 1.0], [0.0, -1.0, 0.0, 1.0], [0.0, 0.0, 2.0, 0.0]];
        let lps = parse(&nifti1([2, 2, 1], 2, &lps_data, Some(s)), 0, 0).unwrap();
        assert_eq!((lps.orientation().as_str(), lps.affine_from), ("LPS", "sform"));
        assert_eq!(lps.slice(Axis::Axial, 0).values, ras.slice(Axis::Axial, 0).values);
        assert_eq!(lps.slices(Axis::Axial), 1);
        assert_eq!(lps.spacing, [1.0, 1.0, 2.0]);
    }

    #[test]
    fn a_bids_name_tells_the_modality() {
        use crate::domain::Modality;
        let m = |n: &str| modality_of_bids_name(Path::new(n));
        assert_eq!(m("data/sub-01/anat/sub-01_ses-1_T1w.nii.gz"), Some(Modality::Mri));
        assert_eq!(m("sub-pixar008_desc-preproc_T1w.nii.gz"), Some(Modality::Mri));
        assert_eq!(m("sub-01_task-rest_bold.nii"), Some(Modality::Mri));
        assert_eq!(m("sub-01_ct.nii.gz"), Some(Modality::Ct));
        assert_eq!(m("sub-01_desc-brain_mask.nii.gz"), None, "a mask says nothing of the scanner");
        assert_eq!(m("T1w.nii.gz"), None, "not a BIDS name");
        assert_eq!(m("brain_bold.nii"), None);
    }

    #[test]
    fn a_cifti_file_is_named_not_shown_as_a_one_voxel_volume() {
        let mut dscalar = nifti1([1, 1, 1], 16, &[0; 4], None);
        dscalar[68..70].copy_from_slice(&3006i16.to_le_bytes());
        let e = parse(&dscalar, 0, 0).unwrap_err();
        assert!(e.contains("CIFTI-2") && e.contains("3006"), "{e}");
        // Other intents (a statistic, a displacement field) are volumes.
        let mut zstat = nifti1([1, 1, 1], 16, &[0; 4], None);
        zstat[68..70].copy_from_slice(&5i16.to_le_bytes());
        assert!(parse(&zstat, 0, 0).is_ok());
    }

    #[test]
    fn a_probability_map_renders_its_range_not_a_step() {
        // float32 0, 0.25, 0.5, 1 (the tissue maps of SPM and nipype): black to white, not grey.
        let data: Vec<u8> = [0.0f32, 0.25, 0.5, 1.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let v = parse(&nifti1([2, 2, 1], 16, &data, None), 0, 0).unwrap();
        let rgb = crate::io::dicom::windowed(&v.data, v.default_window(), None, false);
        let grey: Vec<u8> = rgb.iter().step_by(3).copied().collect();
        assert_eq!(grey, [0, 64, 128, 255]);
    }

    #[test]
    fn bad_headers_are_named() {
        assert!(parse(b"hello", 0, 0).unwrap_err().contains("not a NIfTI"));
        let mut t = nifti1([4, 4, 4], 4, &[0; 10], None);
        t.truncate(360);
        assert!(parse(&t, 0, 0).unwrap_err().contains("truncated"));
        assert!(parse(&nifti1([1, 1, 1], 32, &[0; 8], None), 0, 0).unwrap_err().contains("complex"));
    }
}
