//! Window/level (the DICOM VOI functions of PS3.3 C.11.2.1.2–3: LINEAR, LINEAR_EXACT, SIGMOID,
//! or a VOI LUT table) and the standard presets. The GPU shader `shaders/window_level.wgsl`
//! implements the same functions for the GPU image view.

/// How a window maps values to grey: the VOI LUT Function (0028,1056), or the file's VOI LUT
/// Sequence (0028,3010) table, whose ramp the centre and width then describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VoiFunction {
    /// The default: `c - 0.5 ± (w - 1) / 2` to black and white.
    #[default]
    Linear,
    /// `c ± w / 2` to black and white.
    LinearExact,
    /// `1 / (1 + exp(-4 (x - c) / w))`.
    Sigmoid,
    /// The image's VOI LUT table (linear when the image has none).
    Table,
}

impl VoiFunction {
    /// The function a file names in VOI LUT Function (0028,1056); `None` for an unknown name.
    pub fn from_dicom(name: &str) -> Option<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "" | "LINEAR" => Some(Self::Linear),
            "LINEAR_EXACT" => Some(Self::LinearExact),
            "SIGMOID" => Some(Self::Sigmoid),
            _ => None,
        }
    }

    /// How the viewer and `info` name it (empty for the default, linear).
    pub fn label(self) -> &'static str {
        match self {
            Self::Linear => "",
            Self::LinearExact => "linear exact",
            Self::Sigmoid => "sigmoid",
            Self::Table => "VOI LUT table",
        }
    }

    /// Its code in the shader's uniforms.
    pub fn code(self) -> f32 {
        match self {
            Self::Linear => 0.0,
            Self::LinearExact => 1.0,
            Self::Sigmoid => 2.0,
            Self::Table => 3.0,
        }
    }
}

/// A VOI LUT table (PS3.3 C.11.2.1.1): entry `i` is the grey, in `[0, 1]`, of input `first + i`;
/// inputs below and above take the first and last entry (as pydicom's `apply_voi`).
#[derive(Debug, Clone, PartialEq)]
pub struct VoiLut {
    /// The input of entry 0.
    pub first: i64,
    /// The entries, in `[0, 1]`.
    pub table: Vec<f32>,
}

impl VoiLut {
    /// A table of raw entries, scaled to `[0, 1]` by the bit depth of the largest one (the
    /// descriptor's bits are not trusted: tables declared 16-bit often hold 12-bit values, as
    /// cornerstone notes); `None` for an empty or flat-zero table.
    pub fn new(first: i64, raw: &[i64]) -> Option<Self> {
        let top = raw.iter().copied().max().filter(|&m| m > 0)?;
        let full = ((1u64 << (64 - (top as u64).leading_zeros())) - 1) as f64;
        Some(Self { first, table: raw.iter().map(|&v| (v.max(0) as f64 / full) as f32).collect() })
    }

    /// The grey of input `x` (its integer part, as the table is indexed).
    pub fn apply(&self, x: f64) -> f64 {
        let last = self.table.len().saturating_sub(1) as f64;
        let i = (x.floor() - self.first as f64).clamp(0.0, last);
        self.table.get(i as usize).map_or(0.0, |&v| f64::from(v))
    }
}

/// The grey in `[0, 1]` of `x` under the window `center`/`width` applied with `function`
/// (`lut` for [`VoiFunction::Table`]; without one, a table window is applied linearly).
pub fn voi(x: f64, center: f64, width: f64, function: VoiFunction, lut: Option<&VoiLut>) -> f64 {
    match (function, lut) {
        (VoiFunction::Table, Some(t)) => t.apply(x),
        (VoiFunction::LinearExact, _) => {
            let w = width.max(f64::MIN_POSITIVE);
            ((x - center) / w + 0.5).clamp(0.0, 1.0)
        }
        (VoiFunction::Sigmoid, _) => 1.0 / (1.0 + (-4.0 * (x - center) / width.max(f64::MIN_POSITIVE)).exp()),
        _ => {
            let w = width.max(1.0);
            let c = center;
            if x <= c - 0.5 - (w - 1.0) / 2.0 {
                0.0
            } else if x > c - 0.5 + (w - 1.0) / 2.0 {
                1.0
            } else {
                ((x - (c - 0.5)) / (w - 1.0) + 0.5).clamp(0.0, 1.0)
            }
        }
    }
}

/// A display window: for the linear function, values below `center - width/2` are black, above
/// `center + width/2` white.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowLevel {
    /// Window centre (level).
    pub center: f32,
    /// Window width (at least 1).
    pub width: f32,
    /// The VOI function the window is applied with.
    #[serde(default)]
    pub function: VoiFunction,
}

/// Named presets as `(name, center, width)` in Hounsfield units, in the order of keys 1–5 in the
/// image view: soft tissue 400/40, lung 1500/−600, bone 2000/300, brain 80/40, abdomen 350/50
/// (width/level), then the full 8-bit range.
pub const PRESETS: &[(&str, f32, f32)] = &[
    ("Soft tissue", 40.0, 400.0),
    ("Lung", -600.0, 1500.0),
    ("Bone", 300.0, 2000.0),
    ("Brain", 40.0, 80.0),
    ("Abdomen", 50.0, 350.0),
    ("Full range (8-bit)", 127.5, 256.0),
];

/// The preset on number key `key` (1–5).
pub fn preset_for_key(key: u8) -> Option<(&'static str, WindowLevel)> {
    let i = usize::from(key).checked_sub(1).filter(|i| *i < 5)?;
    PRESETS.get(i).map(|p| (p.0, WindowLevel::linear(p.1, p.2)))
}

impl Default for WindowLevel {
    fn default() -> Self {
        Self::linear(127.5, 256.0)
    }
}

impl WindowLevel {
    /// A window applied with the linear function.
    pub const fn linear(center: f32, width: f32) -> Self {
        Self { center, width, function: VoiFunction::Linear }
    }

    /// The window's VOI function, mapped to `[0, 1]` (a table window linearly: see [`Self::apply_lut`]).
    pub fn apply(&self, v: f32) -> f32 {
        self.apply_lut(v, None)
    }

    /// The window's VOI function, mapped to `[0, 1]`, with the image's VOI LUT table.
    pub fn apply_lut(&self, v: f32, lut: Option<&VoiLut>) -> f32 {
        voi(f64::from(v), f64::from(self.center), f64::from(self.width), self.function, lut) as f32
    }

    /// The preset with this name.
    pub fn preset(name: &str) -> Option<Self> {
        PRESETS.iter().find(|p| p.0 == name).map(|p| Self::linear(p.1, p.2))
    }
}

/// The `lo` and `hi` percentiles of the finite `values`; `None` when there is none.
pub fn percentiles(values: &[f32], lo: f32, hi: f32) -> Option<(f32, f32)> {
    let mut v: Vec<f32> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let mut at = |p: f32| {
        let i = ((p.clamp(0.0, 100.0) / 100.0) * (v.len() - 1) as f32).round() as usize;
        *v.select_nth_unstable_by(i, f32::total_cmp).1
    };
    Some((at(lo), at(hi)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_on_keys_1_to_5_match_the_table() {
        // (key, name, width, level): guards against the classic mistakes (bone/brain swapped, lung width 150).
        let table = [
            (1, "Soft tissue", 400.0, 40.0),
            (2, "Lung", 1500.0, -600.0),
            (3, "Bone", 2000.0, 300.0),
            (4, "Brain", 80.0, 40.0),
            (5, "Abdomen", 350.0, 50.0),
        ];
        for (key, name, width, level) in table {
            assert_eq!(preset_for_key(key), Some((name, WindowLevel::linear(level, width))), "key {key}");
            assert_eq!(WindowLevel::preset(name), Some(WindowLevel::linear(level, width)));
        }
        assert_eq!(preset_for_key(0), None);
        assert_eq!(preset_for_key(6), None);
        // Lung at -600 / 1500: -1350 HU and below is black, 150 HU and above white.
        let lung = WindowLevel::preset("Lung").unwrap();
        assert!(lung.apply(-1400.0) <= 0.0 && lung.apply(200.0) >= 1.0);
    }

    #[test]
    fn full_range_is_identity_on_8_bit() {
        let wl = WindowLevel::default();
        for v in [0u8, 1, 64, 128, 254, 255] {
            let y = wl.apply(f32::from(v)) * 255.0;
            assert!((y - f32::from(v)).abs() <= 1.0, "{v} -> {y}");
        }
    }

    #[test]
    fn the_voi_functions_follow_ps3_3() {
        let lin = |f| [99.0, 100.0, 150.0, 199.0, 200.0].map(|x| voi(x, 150.0, 100.0, f, None));
        // LINEAR: 99.5 ± 49.5 to black and white; LINEAR_EXACT: 100 and 200.
        assert_eq!(lin(VoiFunction::Linear), [0.0, 0.0, 0.5 + 0.5 / 99.0, 1.0, 1.0]);
        let exact = lin(VoiFunction::LinearExact);
        assert!(exact.iter().zip([0.0, 0.0, 0.5, 0.99, 1.0]).all(|(a, b)| (a - b).abs() < 1e-12), "{exact:?}");
        let s = lin(VoiFunction::Sigmoid);
        assert!((s[2] - 0.5).abs() < 1e-12 && (s[4] - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-12, "{s:?}");
        // A table without its image falls back to the linear function.
        assert_eq!(lin(VoiFunction::Table), lin(VoiFunction::Linear));
        assert_eq!(VoiFunction::from_dicom("sigmoid "), Some(VoiFunction::Sigmoid));
        assert_eq!(VoiFunction::from_dicom("GAMMA"), None);
    }

    #[test]
    fn a_voi_lut_scales_by_its_largest_entry_and_clamps_its_inputs() {
        // Declared 16-bit, holding 12-bit values: 4095 is white.
        let lut = VoiLut::new(-10, &[0, 1000, 4095]).unwrap();
        let g = [-20.0, -10.0, -9.5, -9.0, 50.0].map(|x| lut.apply(x));
        assert_eq!([g[0], g[1], g[2], g[4]], [0.0, 0.0, 0.0, 1.0]);
        assert!((g[3] - 1000.0 / 4095.0).abs() < 1e-6, "{g:?}");
        assert_eq!(VoiLut::new(0, &[0, 0]), None);
    }

    #[test]
    fn percentiles_by_rank() {
        let v: Vec<f32> = (0..=100).rev().map(|x| x as f32).chain([f32::NAN]).collect();
        assert_eq!(percentiles(&v, 10.0, 90.0), Some((10.0, 90.0)));
        assert_eq!(percentiles(&[f32::NAN], 1.0, 99.0), None);
    }
}
