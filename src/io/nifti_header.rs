//! The NIfTI-1, NIfTI-2 and Analyze 7.5 header ([`super::nifti`] reads the volume): the fields in
//! either byte order, SPM2's Analyze scaling, the data types and their decoding.

/// A NIfTI-1, NIfTI-2 or Analyze 7.5 header, as read.
pub(super) struct Header {
    pub(super) version: u8,
    pub(super) big: bool,
    pub(super) dim: [i64; 8],
    pub(super) datatype: i16,
    /// NIfTI intent code (0 for Analyze).
    pub(super) intent: i32,
    pub(super) pixdim: [f64; 8],
    pub(super) vox_offset: u64,
    pub(super) slope: f64,
    pub(super) inter: f64,
    pub(super) cal: (f64, f64),
    pub(super) qform: i32,
    pub(super) sform: i32,
    pub(super) quat: [f64; 6],
    pub(super) srow: [[f64; 4]; 3],
}

/// Whether `b` begins with an Analyze 7.5 header: sizeof_hdr 348 in either byte order, no NIfTI magic.
pub(crate) fn is_analyze(b: &[u8]) -> bool {
    let Some(head) = b.get(..4).and_then(|h| <[u8; 4]>::try_from(h).ok()) else { return false };
    (i32::from_le_bytes(head) == 348 || i32::from_be_bytes(head) == 348)
        && !matches!(b.get(344..348), Some(b"n+1\0" | b"ni1\0"))
}

/// Whether `b` begins with the header of a pair, whose voxels are in a `.img` beside it: a
/// two-file NIfTI (magic `ni1` / `ni2`) or an Analyze 7.5 header.
pub(super) fn is_pair_header(b: &[u8]) -> bool {
    b.get(344..348) == Some(b"ni1\0") || b.get(4..8) == Some(b"ni2\0") || is_analyze(b)
}

/// SPM2's scaling of an Analyze 7.5 header, as nibabel reads it: `funused1` (where NIfTI-1 has
/// `scl_slope`) and `funused2` when the slope is usable, else the `glmin..glmax` to `cal_min..cal_max`
/// map, else none.
fn analyze_scaling(r: &Reader<'_>) -> (f64, f64) {
    let (slope, inter) = (f64::from(r.f32(112)), f64::from(r.f32(116)));
    if slope.is_finite() && slope != 0.0 {
        return (slope, if inter.is_finite() { inter } else { 0.0 });
    }
    let (glmax, glmin) = (f64::from(r.i32(140)), f64::from(r.i32(144)));
    let (cal_max, cal_min) = (f64::from(r.f32(124)), f64::from(r.f32(128)));
    if glmax != glmin && cal_max != cal_min && (cal_max - cal_min).is_finite() {
        let slope = (cal_max - cal_min) / (glmax - glmin);
        return (slope, cal_min - slope * glmin);
    }
    (0.0, 0.0)
}

/// The header at the start of `b`.
pub(super) fn header(b: &[u8]) -> Result<Header, String> {
    if b.len() < 348 {
        return Err("not a NIfTI file (shorter than a header)".into());
    }
    let le1 = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let be1 = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let (version, big) = match (le1, be1) {
        (348, _) => (1, false),
        (_, 348) => (1, true),
        (540, _) => (2, false),
        (_, 540) => (2, true),
        _ => return Err("not a NIfTI file (sizeof_hdr is neither 348 nor 540)".into()),
    };
    let r = Reader { b, big };
    if version == 1 {
        // Analyze 7.5 has no qform or sform (SPM keeps its origin where NIfTI-1 put their codes).
        let analyze = is_analyze(b);
        let (slope, inter) = if analyze { analyze_scaling(&r) } else { (f64::from(r.f32(112)), f64::from(r.f32(116))) };
        let code = |at| if analyze { 0 } else { i32::from(r.i16(at)) };
        Ok(Header {
            version: if analyze { 0 } else { version },
            big,
            dim: std::array::from_fn(|i| i64::from(r.i16(40 + 2 * i))),
            datatype: r.i16(70),
            intent: if analyze { 0 } else { i32::from(r.i16(68)) },
            pixdim: std::array::from_fn(|i| f64::from(r.f32(76 + 4 * i))),
            vox_offset: r.f32(108).max(0.0) as u64,
            slope,
            inter,
            cal: (f64::from(r.f32(128)), f64::from(r.f32(124))),
            qform: code(252),
            sform: code(254),
            quat: std::array::from_fn(|i| f64::from(r.f32(256 + 4 * i))),
            srow: std::array::from_fn(|row| std::array::from_fn(|c| f64::from(r.f32(280 + 16 * row + 4 * c)))),
        })
    } else {
        if b.len() < 540 {
            return Err("truncated NIfTI-2 header".into());
        }
        if &b[4..8] != b"n+2\0" && &b[4..8] != b"ni2\0" {
            return Err("not a NIfTI-2 file (no n+2/ni2 magic)".into());
        }
        Ok(Header {
            version,
            big,
            dim: std::array::from_fn(|i| r.i64(16 + 8 * i)),
            datatype: r.i16(12),
            intent: r.i32(504),
            pixdim: std::array::from_fn(|i| r.f64(104 + 8 * i)),
            vox_offset: r.i64(168).max(0) as u64,
            slope: r.f64(176),
            inter: r.f64(184),
            cal: (r.f64(200), r.f64(192)),
            qform: r.i32(344),
            sform: r.i32(348),
            quat: std::array::from_fn(|i| r.f64(352 + 8 * i)),
            srow: std::array::from_fn(|row| std::array::from_fn(|c| r.f64(400 + 32 * row + 8 * c))),
        })
    }
}

/// Numbers at byte offsets, in the file's byte order.
struct Reader<'a> {
    b: &'a [u8],
    big: bool,
}

impl Reader<'_> {
    fn arr<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut a: [u8; N] = std::array::from_fn(|i| self.b[at + i]);
        if self.big {
            a.reverse();
        }
        a
    }
    fn i16(&self, at: usize) -> i16 {
        i16::from_le_bytes(self.arr(at))
    }
    fn i32(&self, at: usize) -> i32 {
        i32::from_le_bytes(self.arr(at))
    }
    fn i64(&self, at: usize) -> i64 {
        i64::from_le_bytes(self.arr(at))
    }
    fn f32(&self, at: usize) -> f32 {
        f32::from_le_bytes(self.arr(at))
    }
    fn f64(&self, at: usize) -> f64 {
        f64::from_le_bytes(self.arr(at))
    }
}

/// Name and byte size of a NIfTI data type code.
pub(super) fn datatype(code: i16) -> Result<(&'static str, usize), String> {
    Ok(match code {
        2 => ("uint8", 1),
        4 => ("int16", 2),
        8 => ("int32", 4),
        16 => ("float32", 4),
        64 => ("float64", 8),
        256 => ("int8", 1),
        512 => ("uint16", 2),
        768 => ("uint32", 4),
        1024 => ("int64", 8),
        1280 => ("uint64", 8),
        128 => ("rgb24", 3),
        32 | 1792 | 2048 => return Err(format!("unsupported data type {code} (complex)")),
        2304 => return Err("unsupported data type 2304 (RGBA32)".into()),
        other => return Err(format!("unknown data type {other}")),
    })
}

/// Voxel values as f64 (RGB as its luminance, ITU-R BT.601).
pub(super) fn decode(b: &[u8], code: i16, big: bool, n: usize) -> Vec<f64> {
    let r = Reader { b, big };
    (0..n)
        .map(|i| match code {
            2 => f64::from(b[i]),
            4 => f64::from(r.i16(2 * i)),
            8 => f64::from(r.i32(4 * i)),
            16 => f64::from(r.f32(4 * i)),
            64 => r.f64(8 * i),
            256 => f64::from(b[i] as i8),
            512 => f64::from(u16::from_le_bytes(r.arr(2 * i))),
            768 => f64::from(u32::from_le_bytes(r.arr(4 * i))),
            1024 => r.i64(8 * i) as f64,
            1280 => u64::from_le_bytes(r.arr(8 * i)) as f64,
            128 => {
                let p = &b[3 * i..3 * i + 3];
                0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2])
            }
            _ => 0.0,
        })
        .map(|v| if v.is_finite() { v } else { 0.0 })
        .collect()
}
