//! Window/level (DICOM PS3.3 C.11.2.1.2 linear VOI LUT) and the standard presets. The GPU shader
//! `shaders/window_level.wgsl` implements the same function for the GPU image view.

/// A display window: values below `center - width/2` are black, above `center + width/2` white.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowLevel {
    /// Window centre (level).
    pub center: f32,
    /// Window width (at least 1).
    pub width: f32,
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
    PRESETS.get(i).map(|p| (p.0, WindowLevel { center: p.1, width: p.2 }))
}

impl Default for WindowLevel {
    fn default() -> Self {
        Self { center: 127.5, width: 256.0 }
    }
}

impl WindowLevel {
    /// The DICOM linear VOI function, mapped to `[0, 1]`.
    pub fn apply(&self, v: f32) -> f32 {
        let w = self.width.max(1.0);
        let c = self.center;
        if v <= c - 0.5 - (w - 1.0) / 2.0 {
            0.0
        } else if v > c - 0.5 + (w - 1.0) / 2.0 {
            1.0
        } else {
            ((v - (c - 0.5)) / (w - 1.0) + 0.5).clamp(0.0, 1.0)
        }
    }

    /// The preset with this name.
    pub fn preset(name: &str) -> Option<Self> {
        PRESETS.iter().find(|p| p.0 == name).map(|p| Self { center: p.1, width: p.2 })
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
            assert_eq!(preset_for_key(key), Some((name, WindowLevel { center: level, width })), "key {key}");
            assert_eq!(WindowLevel::preset(name), Some(WindowLevel { center: level, width }));
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
    fn percentiles_by_rank() {
        let v: Vec<f32> = (0..=100).rev().map(|x| x as f32).chain([f32::NAN]).collect();
        assert_eq!(percentiles(&v, 10.0, 90.0), Some((10.0, 90.0)));
        assert_eq!(percentiles(&[f32::NAN], 1.0, 99.0), None);
    }
}
