//! Synthetic radiology-like phantoms with known findings: MRI-like axial brain slices, CT-like
//! chest cross-sections and X-ray-like chest films, each with 0-3 lesions at recorded positions.
//!
//! Orientation follows the radiological convention: the patient's left is on the image's right.

use serde::{Deserialize, Serialize};

use super::draw::Canvas;
use super::rng::Rng;
use crate::domain::Modality;

/// Image side length in pixels (a multiple of 28, the Qwen2-VL patch-merge factor).
pub const SIZE: usize = 112;

/// One lesion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Lesion {
    /// Centre x in pixels.
    pub x: f32,
    /// Centre y in pixels.
    pub y: f32,
    /// Radius in pixels.
    pub r: f32,
}

/// Patient side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// Patient's left (image right).
    Left,
    /// Patient's right (image left).
    Right,
}

impl Lesion {
    /// The patient side the lesion is on.
    pub fn side(&self) -> Side {
        if self.x >= SIZE as f32 / 2.0 { Side::Left } else { Side::Right }
    }

    /// Image quadrant, e.g. `"upper left"` (in image terms, as the question says).
    pub fn quadrant(&self) -> &'static str {
        let mid = SIZE as f32 / 2.0;
        match (self.y < mid, self.x < mid) {
            (true, true) => "upper left",
            (true, false) => "upper right",
            (false, true) => "lower left",
            (false, false) => "lower right",
        }
    }

    /// `"small"` (radius under 5 px) or `"large"`.
    pub fn size_class(&self) -> &'static str {
        if self.r < 5.0 { "small" } else { "large" }
    }
}

/// What is in a generated image: the ground truth questions are asked about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Findings {
    /// Modality drawn.
    pub modality: Modality,
    /// Body part drawn.
    pub body_part: String,
    /// Lesions drawn.
    pub lesions: Vec<Lesion>,
}

impl Findings {
    /// The single side all lesions share, if any.
    pub fn common_side(&self) -> Option<Side> {
        let first = self.lesions.first()?.side();
        self.lesions.iter().all(|l| l.side() == first).then_some(first)
    }
}

/// Regions where lesions may be placed: ellipses `(cx, cy, rx, ry)`.
fn lesion_regions(modality: Modality) -> Vec<(f32, f32, f32, f32)> {
    match modality {
        Modality::Mri => vec![(38.0, 52.0, 14.0, 26.0), (74.0, 52.0, 14.0, 26.0)],
        Modality::Ct => vec![(34.0, 54.0, 11.0, 18.0), (78.0, 54.0, 11.0, 18.0)],
        // X-ray: the upper and lateral lung zones, clear of the heart shadow.
        _ => vec![(34.0, 48.0, 10.0, 22.0), (80.0, 42.0, 8.0, 16.0)],
    }
}

/// Places `count` non-overlapping lesions inside the modality's organ regions, clear of the
/// midlines so side and quadrant are never ambiguous.
pub fn place_lesions(rng: &mut Rng, modality: Modality, count: usize, sides: Option<Side>) -> Vec<Lesion> {
    let regions = lesion_regions(modality);
    let mut out: Vec<Lesion> = Vec::new();
    let mid = SIZE as f32 / 2.0;
    let mut tries = 0;
    while out.len() < count && tries < 500 {
        tries += 1;
        let region = match sides {
            Some(Side::Right) => regions[0],
            Some(Side::Left) => regions[1],
            None => regions[rng.below(regions.len())],
        };
        let r = if rng.chance(0.5) { rng.range(3.0, 4.2) } else { rng.range(5.5, 8.0) };
        let a = rng.range(0.0, std::f32::consts::TAU);
        let d = rng.f32().sqrt() * 0.85;
        let (x, y) = (region.0 + region.2 * d * a.cos(), region.1 + region.3 * d * a.sin());
        let clear_mid = (x - mid).abs() > r + 4.0 && (y - mid).abs() > r + 3.0;
        let clear_others = out.iter().all(|o| ((o.x - x).powi(2) + (o.y - y).powi(2)).sqrt() > o.r + r + 4.0);
        if clear_mid && clear_others {
            // Rounded so the manifest stays readable; the drawing uses the same values.
            let round = |v: f32| (v * 100.0).round() / 100.0;
            out.push(Lesion { x: round(x), y: round(y), r: round(r) });
        }
    }
    out
}

/// Draws the phantom for `findings`.
pub fn render(rng: &mut Rng, findings: &Findings) -> Canvas {
    let mut c = match findings.modality {
        Modality::Mri => brain_mri(rng),
        Modality::Ct => chest_ct(rng),
        _ => chest_xray(rng),
    };
    for l in &findings.lesions {
        let (value, soft) = match findings.modality {
            Modality::Mri => (rng.range(0.95, 1.0), 0.8),
            Modality::Ct => (rng.range(0.55, 0.7), 0.8),
            _ => (rng.range(0.72, 0.85), 1.8),
        };
        c.ellipse(l.x, l.y, l.r, l.r * rng.range(0.8, 1.0), rng.range(0.0, 3.0), value, soft);
    }
    c.blur();
    c.noise(rng, 0.012);
    c
}

fn brain_mri(rng: &mut Rng) -> Canvas {
    let (cx, cy) = (56.0 + rng.range(-2.0, 2.0), 56.0 + rng.range(-2.0, 2.0));
    let (rx, ry) = (44.0 + rng.range(-2.0, 2.0), 51.0 + rng.range(-2.0, 1.0));
    let mut c = Canvas::new(SIZE, SIZE, 0.02);
    c.ellipse(cx, cy, rx, ry, 0.0, 0.66, 0.8); // scalp fat (bright on T1, but darker than lesions)
    c.ellipse(cx, cy, rx - 3.0, ry - 3.0, 0.0, 0.08, 0.6); // skull (dark)
    c.ellipse(cx, cy, rx - 5.5, ry - 5.5, 0.0, 0.42, 0.8); // cortex (grey matter)
    c.ellipse(cx, cy, rx - 10.0, ry - 11.0, 0.0, 0.55, 2.0); // white matter
    c.texture(rng, cx, cy, rx - 8.0, ry - 8.0, 14, 0.05);
    c.ellipse(cx, cy - 2.0, 1.0, ry - 8.0, 0.0, 0.3, 0.5); // falx / midline
    let v = rng.range(0.8, 1.2);
    c.ellipse(cx - 5.0, cy - 4.0, 3.5 * v, 11.0 * v, -0.3, 0.12, 0.8); // lateral ventricles (CSF dark)
    c.ellipse(cx + 5.0, cy - 4.0, 3.5 * v, 11.0 * v, 0.3, 0.12, 0.8);
    c
}

fn chest_ct(rng: &mut Rng) -> Canvas {
    let (cx, cy) = (56.0 + rng.range(-1.5, 1.5), 58.0 + rng.range(-1.5, 1.5));
    let mut c = Canvas::new(SIZE, SIZE, 0.0);
    c.ellipse(cx, cy, 51.0, 38.0, 0.0, 0.32, 0.6); // subcutaneous fat
    c.ellipse(cx, cy, 47.0, 34.0, 0.0, 0.5, 0.8); // muscle / soft tissue
    for i in 0..14 {
        // Ribs: bright dots just inside the body wall, skipping sternum (top) and spine (bottom).
        let t = std::f32::consts::TAU * (i as f32 + 0.5) / 14.0;
        if t.sin().abs() > 0.93 {
            continue;
        }
        c.ellipse(cx + 44.0 * t.cos(), cy + 31.0 * t.sin(), 2.2, 1.6, t, 0.92, 0.5);
    }
    c.ellipse(34.0, 54.0, 17.0, 25.0, 0.1, 0.04, 1.0); // right lung (image left)
    c.ellipse(78.0, 54.0, 17.0, 25.0, -0.1, 0.04, 1.0); // left lung
    c.texture(rng, 34.0, 54.0, 14.0, 22.0, 5, 0.04);
    c.texture(rng, 78.0, 54.0, 14.0, 22.0, 5, 0.04);
    c.ellipse(cx + 4.0, cy + 2.0, 12.0, 14.0, 0.4, 0.58, 1.0); // heart / mediastinum
    c.ellipse(cx, cy - 16.0, 3.5, 3.5, 0.0, 0.62, 0.5); // aorta
    c.ellipse(cx, cy + 28.0, 6.5, 6.0, 0.0, 0.95, 0.6); // vertebral body
    c.ellipse(cx, cy - 32.0, 5.0, 2.0, 0.0, 0.9, 0.5); // sternum
    c
}

fn chest_xray(rng: &mut Rng) -> Canvas {
    let (cx, cy) = (56.0 + rng.range(-1.5, 1.5), 58.0 + rng.range(-1.0, 1.0));
    let mut c = Canvas::new(SIZE, SIZE, 0.06);
    c.ellipse(cx, cy + 10.0, 54.0, 62.0, 0.0, 0.5, 4.0); // trunk soft tissue
    c.ellipse(36.0, 52.0, 15.0, 30.0, 0.08, 0.2, 3.0); // right lung field (image left)
    c.ellipse(76.0, 52.0, 15.0, 30.0, -0.08, 0.2, 3.0); // left lung field
    for i in 0..7 {
        // Posterior ribs: arcs rising from the spine and falling laterally.
        let y = 34.0 + i as f32 * 8.0;
        c.arc(40.0, y, 18.0, 9.0, 3.5, 5.4, 1.2, 0.38);
        c.arc(72.0, y, 18.0, 9.0, 4.0, 5.9, 1.2, 0.38);
    }
    c.ellipse(cx, cy, 4.5, 52.0, 0.0, 0.72, 1.5); // spine
    c.ellipse(cx + 9.0, cy + 14.0, 16.0 * rng.range(0.9, 1.15), 15.0, 0.3, 0.7, 3.0); // heart (patient left)
    c.arc(38.0, 26.0, 16.0, 4.0, 3.3, 6.0, 2.5, 0.75); // clavicles
    c.arc(74.0, 26.0, 16.0, 4.0, 3.3, 6.0, 2.5, 0.75);
    c.ellipse(36.0, 88.0, 18.0, 7.0, 0.0, 0.62, 2.5); // diaphragm domes
    c.ellipse(76.0, 90.0, 18.0, 7.0, 0.0, 0.62, 2.5);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lesions_stay_off_the_midlines_and_apart() {
        let mut rng = Rng::new(3);
        for m in [Modality::Mri, Modality::Ct, Modality::XRay] {
            for n in 0..4 {
                let ls = place_lesions(&mut rng, m, n, None);
                assert_eq!(ls.len(), n);
                for l in &ls {
                    assert!((l.x - 56.0).abs() > l.r, "{l:?}");
                }
            }
        }
        let ls = place_lesions(&mut rng, Modality::Mri, 2, Some(Side::Left));
        assert!(ls.iter().all(|l| l.side() == Side::Left));
    }
}
