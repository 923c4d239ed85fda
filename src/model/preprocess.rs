//! Image preprocessing exactly as `Qwen2VLImageProcessor` (torchvision backend): `smart_resize`
//! to multiples of 28 within [min_pixels, max_pixels], antialiased bicubic resize of the uint8 image
//! (PyTorch's native uint8 `_upsample_bicubic2d_aa`: the PIL filter with a = -0.5 in fixed point), CLIP
//! normalisation, and patchify to rows of `C*T*14*14` values in 2x2-block-major order. Pure CPU code.

use super::config::{PreprocessConfig, VisionConfig};

/// Why an image cannot be preprocessed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PreprocessError {
    /// Qwen's processor refuses aspect ratios above 200.
    #[error("image aspect ratio {0:.0} is above 200")]
    AspectRatio(f64),
    /// An empty image.
    #[error("image has zero width or height")]
    Empty,
}

/// Python's `round` (banker's rounding: halves go to the even neighbour).
fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 { 2.0 * (x / 2.0).round() } else { r }
}

/// Target `(height, width)`: multiples of `factor`, area within `[min_pixels, max_pixels]`, aspect kept.
///
/// # Errors
/// [`PreprocessError`] for empty images or aspect ratios above 200.
pub fn smart_resize(
    h: usize,
    w: usize,
    factor: usize,
    min_pixels: usize,
    max_pixels: usize,
) -> Result<(usize, usize), PreprocessError> {
    if h == 0 || w == 0 {
        return Err(PreprocessError::Empty);
    }
    let (hf, wf, f) = (h as f64, w as f64, factor as f64);
    let ratio = hf.max(wf) / hf.min(wf);
    if ratio > 200.0 {
        return Err(PreprocessError::AspectRatio(ratio));
    }
    let mut hb = round_half_even(hf / f) * f;
    let mut wb = round_half_even(wf / f) * f;
    if hb * wb > max_pixels as f64 {
        let beta = (hf * wf / max_pixels as f64).sqrt();
        hb = f.max((hf / beta / f).floor() * f);
        wb = f.max((wf / beta / f).floor() * f);
    } else if hb * wb < min_pixels as f64 {
        let beta = (min_pixels as f64 / (hf * wf)).sqrt();
        hb = (hf * beta / f).ceil() * f;
        wb = (wf * beta / f).ceil() * f;
    }
    Ok((hb as usize, wb as usize))
}

fn cubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// For each output index: first input index and normalised weights, computed in f64 as PyTorch's
/// `_compute_indices_min_size_weights_aa` does.
fn aa_weights(in_size: usize, out_size: usize) -> Vec<(usize, Vec<f64>)> {
    let scale = in_size as f64 / out_size as f64;
    let support = 2.0 * scale.max(1.0);
    let invscale = if scale >= 1.0 { 1.0 / scale } else { 1.0 };
    (0..out_size)
        .map(|i| {
            let center = scale * (i as f64 + 0.5);
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = (((center + support + 0.5) as i64) as usize).min(in_size);
            let mut w: Vec<f64> = (xmin..xmax).map(|j| cubic((j as f64 - center + 0.5) * invscale)).collect();
            let total: f64 = w.iter().sum();
            if total != 0.0 {
                for x in &mut w {
                    *x /= total;
                }
            }
            (xmin, w)
        })
        .collect()
}

/// Fixed-point weights as PyTorch's uint8 antialias kernel (a port of Pillow-SIMD): the largest
/// precision (at most 22 bits) for which the biggest weight still fits in an i16, round half away from 0.
fn int16_weights(weights: &[(usize, Vec<f64>)]) -> (Vec<(usize, Vec<i32>)>, u32) {
    let max_w = weights.iter().flat_map(|(_, w)| w.iter().copied()).fold(0.0f64, f64::max);
    let mut precision = 0u32;
    while precision < 22 {
        let next = (0.5 + max_w * f64::from(1u32 << (precision + 1))) as i64;
        if next >= 1 << 15 {
            break;
        }
        precision += 1;
    }
    let scale = f64::from(1u32 << precision);
    let ints = weights
        .iter()
        .map(|(start, w)| {
            let k = w.iter().map(|&v| {
                let x = v * scale;
                if x < 0.0 { (-0.5 + x) as i32 } else { (0.5 + x) as i32 }
            });
            (*start, k.collect())
        })
        .collect();
    (ints, precision)
}

fn apply_fixed(acc: i64, precision: u32) -> u8 {
    ((acc + (1i64 << (precision.max(1) - 1))) >> precision).clamp(0, 255) as u8
}

/// Antialiased bicubic resize of an interleaved 8-bit RGB image (`[h][w][3]`) exactly as
/// torchvision resizes `uint8` tensors on the CPU: PyTorch's native uint8 path, fixed-point weights,
/// a horizontal pass to an 8-bit buffer, then a vertical pass. Returns planes `[3][oh][ow]`.
pub fn resize_bicubic_aa(rgb: &[u8], h: usize, w: usize, oh: usize, ow: usize) -> Vec<u8> {
    let (wx, px) = int16_weights(&aa_weights(w, ow));
    let (wy, py) = int16_weights(&aa_weights(h, oh));
    let horizontal = ow != w;
    let vertical = oh != h;
    let mut out = vec![0u8; 3 * oh * ow];
    let mut tmp = vec![0u8; h * ow];
    for c in 0..3 {
        for y in 0..h {
            for x in 0..ow {
                tmp[y * ow + x] = if horizontal {
                    let (start, ks) = &wx[x];
                    let acc: i64 = ks
                        .iter()
                        .enumerate()
                        .map(|(k, &wk)| i64::from(rgb[(y * w + start + k) * 3 + c]) * i64::from(wk))
                        .sum();
                    apply_fixed(acc, px)
                } else {
                    rgb[(y * w + x) * 3 + c]
                };
            }
        }
        for y in 0..oh {
            for x in 0..ow {
                out[(c * oh + y) * ow + x] = if vertical {
                    let (start, ks) = &wy[y];
                    let acc: i64 = ks
                        .iter()
                        .enumerate()
                        .map(|(k, &wk)| i64::from(tmp[(start + k) * ow + x]) * i64::from(wk))
                        .sum();
                    apply_fixed(acc, py)
                } else {
                    tmp[y * ow + x]
                };
            }
        }
    }
    out
}

/// A preprocessed image: `pixel_values` rows and the `(t, h, w)` patch grid.
#[derive(Debug, Clone, PartialEq)]
pub struct PixelValues {
    /// Row-major `[n_patches, patch_len]`.
    pub data: Vec<f32>,
    /// `[t, gh, gw]` in patches.
    pub grid_thw: [usize; 3],
    /// Values per row (1176).
    pub patch_len: usize,
}

impl PixelValues {
    /// Number of patch rows.
    pub fn n_patches(&self) -> usize {
        self.grid_thw.iter().product()
    }

    /// Number of `<|image_pad|>` tokens the image becomes (patches / merge²).
    pub fn n_tokens(&self, merge: usize) -> usize {
        self.n_patches() / (merge * merge)
    }
}

/// Normalises and patchifies a resized channel-major `u8` image `[3][h][w]` (h, w multiples of 28).
pub fn patchify(chw: &[u8], h: usize, w: usize, vc: &VisionConfig, pc: &PreprocessConfig) -> PixelValues {
    let (p, m, tps, c) = (vc.patch_size, vc.spatial_merge_size, vc.temporal_patch_size, vc.in_channels.min(3));
    let (gh, gw) = (h / p, w / p);
    let patch_len = c * tps * p * p;
    // (u8 - 255*mean) / (255*std), computed in f32 like the fused rescale+normalise.
    let scale: Vec<(f32, f32)> = (0..c).map(|ch| (255.0 * pc.mean[ch], 255.0 * pc.std[ch])).collect();
    let mut data = vec![0f32; gh * gw * patch_len];
    let mut row = 0;
    for bh in 0..gh / m {
        for bw in 0..gw / m {
            for mh in 0..m {
                for mw in 0..m {
                    let (py0, px0) = ((bh * m + mh) * p, (bw * m + mw) * p);
                    let dst = &mut data[row * patch_len..(row + 1) * patch_len];
                    let mut k = 0;
                    for (ch, (mu, sd)) in scale.iter().enumerate() {
                        for _t in 0..tps {
                            for y in 0..p {
                                for x in 0..p {
                                    let v = f32::from(chw[(ch * h + py0 + y) * w + px0 + x]);
                                    dst[k] = (v - mu) / sd;
                                    k += 1;
                                }
                            }
                        }
                    }
                    row += 1;
                }
            }
        }
    }
    PixelValues { data, grid_thw: [1, gh, gw], patch_len }
}

/// The full processor: smart-resize (if needed), antialiased bicubic resize, normalise, patchify.
///
/// # Errors
/// [`PreprocessError`] for degenerate images.
pub fn preprocess_rgb(
    rgb: &[u8],
    h: usize,
    w: usize,
    vc: &VisionConfig,
    pc: &PreprocessConfig,
) -> Result<PixelValues, PreprocessError> {
    let (oh, ow) = smart_resize(h, w, vc.factor(), pc.min_pixels, pc.max_pixels)?;
    let chw = if (oh, ow) == (h, w) {
        // torchvision skips the resize when the size is unchanged: exact channel split.
        let mut out = vec![0u8; 3 * h * w];
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            for c in 0..3 {
                out[c * h * w + i] = px[c];
            }
        }
        out
    } else {
        resize_bicubic_aa(rgb, h, w, oh, ow)
    };
    Ok(patchify(&chw, oh, ow, vc, pc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smart_resize_matches_the_reference_examples() {
        let f = |h, w| smart_resize(h, w, 28, 56 * 56, 28 * 28 * 1280).unwrap();
        assert_eq!(f(75, 100), (84, 112));
        assert_eq!(f(20, 30), (56, 84));
        assert_eq!(f(56, 84), (56, 84));
        assert_eq!(f(112, 112), (112, 112));
        // Banker's rounding: 42/28 = 1.5 -> 2, 70/28 = 2.5 -> 2.
        assert_eq!(smart_resize(42, 70, 28, 0, usize::MAX).unwrap(), (56, 56));
        assert!(smart_resize(1, 300, 28, 0, usize::MAX).is_err());
        // Large images shrink under max_pixels.
        let (h, w) = f(2000, 3000);
        assert!(h * w <= 28 * 28 * 1280 && h % 28 == 0 && w % 28 == 0);
    }

    #[test]
    fn resize_weights_sum_to_one_and_identity_is_exact() {
        for (i, o) in [(10, 3), (3, 10), (100, 84)] {
            for (_, w) in aa_weights(i, o) {
                let s: f64 = w.iter().sum();
                assert!((s - 1.0).abs() < 1e-9);
            }
        }
        let img: Vec<u8> = (0..4 * 5 * 3).map(|x| (x * 7 % 256) as u8).collect();
        let out = resize_bicubic_aa(&img, 4, 5, 4, 5);
        for y in 0..4 {
            for x in 0..5 {
                for c in 0..3 {
                    assert_eq!(out[(c * 4 + y) * 5 + x], img[(y * 5 + x) * 3 + c]);
                }
            }
        }
    }
}
