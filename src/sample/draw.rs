//! A minimal float raster for drawing phantoms: soft-edged ellipses, Gaussian blobs, arcs, noise, blur.

use super::rng::Rng;

/// A grayscale image with values in `[0, 1]`.
#[derive(Debug, Clone)]
pub struct Canvas {
    /// Width in pixels.
    pub w: usize,
    /// Height in pixels.
    pub h: usize,
    /// Row-major pixels.
    pub px: Vec<f32>,
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

impl Canvas {
    /// A canvas filled with `value`.
    pub fn new(w: usize, h: usize, value: f32) -> Self {
        Self { w, h, px: vec![value; w * h] }
    }

    /// Coverage in `[0,1]` of pixel centre `(x, y)` by the ellipse (soft over `soft` pixels).
    #[allow(clippy::too_many_arguments)]
    pub fn ellipse_coverage(x: f32, y: f32, cx: f32, cy: f32, rx: f32, ry: f32, angle: f32, soft: f32) -> f32 {
        let (s, c) = angle.sin_cos();
        let (dx, dy) = (x - cx, y - cy);
        let (u, v) = (dx * c + dy * s, -dx * s + dy * c);
        let d = ((u / rx).powi(2) + (v / ry).powi(2)).sqrt();
        // Distance from the edge in pixels, approximately.
        let edge = (d - 1.0) * rx.min(ry);
        1.0 - smoothstep(-soft, soft, edge)
    }

    /// Blends `value` into a (rotated) ellipse with an anti-aliased edge.
    #[allow(clippy::too_many_arguments)]
    pub fn ellipse(&mut self, cx: f32, cy: f32, rx: f32, ry: f32, angle: f32, value: f32, soft: f32) {
        let r = rx.max(ry) + soft + 1.0;
        let (x0, x1) = ((cx - r).floor().max(0.0) as usize, ((cx + r).ceil() as usize).min(self.w));
        let (y0, y1) = ((cy - r).floor().max(0.0) as usize, ((cy + r).ceil() as usize).min(self.h));
        for y in y0..y1 {
            for x in x0..x1 {
                let a = Self::ellipse_coverage(x as f32 + 0.5, y as f32 + 0.5, cx, cy, rx, ry, angle, soft);
                if a > 0.0 {
                    let p = &mut self.px[y * self.w + x];
                    *p = *p * (1.0 - a) + value * a;
                }
            }
        }
    }

    /// Adds a Gaussian bump of height `amp` and standard deviation `sigma`.
    pub fn blob(&mut self, cx: f32, cy: f32, sigma: f32, amp: f32) {
        let r = 3.0 * sigma;
        let (x0, x1) = ((cx - r).floor().max(0.0) as usize, ((cx + r).ceil() as usize).min(self.w));
        let (y0, y1) = ((cy - r).floor().max(0.0) as usize, ((cy + r).ceil() as usize).min(self.h));
        for y in y0..y1 {
            for x in x0..x1 {
                let d2 = (x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2);
                self.px[y * self.w + x] += amp * (-d2 / (2.0 * sigma * sigma)).exp();
            }
        }
    }

    /// Blends `value` along an elliptic arc of thickness `width` (ribs, clavicles).
    #[allow(clippy::too_many_arguments)]
    pub fn arc(&mut self, cx: f32, cy: f32, rx: f32, ry: f32, from: f32, to: f32, width: f32, value: f32) {
        let steps = ((to - from).abs() * rx.max(ry) * 2.0).ceil().max(8.0) as usize;
        for i in 0..=steps {
            let t = from + (to - from) * i as f32 / steps as f32;
            let (x, y) = (cx + rx * t.cos(), cy + ry * t.sin());
            self.ellipse(x, y, width * 0.5, width * 0.5, 0.0, value, 0.6);
        }
    }

    /// Adds smooth low-frequency texture: a few random Gaussian bumps inside an ellipse.
    #[allow(clippy::too_many_arguments)]
    pub fn texture(&mut self, rng: &mut Rng, cx: f32, cy: f32, rx: f32, ry: f32, n: usize, amp: f32) {
        for _ in 0..n {
            let a = rng.range(0.0, std::f32::consts::TAU);
            let r = rng.f32().sqrt();
            let (x, y) = (cx + rx * r * a.cos(), cy + ry * r * a.sin());
            self.blob(x, y, rng.range(2.0, 6.0), rng.range(-amp, amp));
        }
    }

    /// Adds white Gaussian noise of standard deviation `sigma`.
    pub fn noise(&mut self, rng: &mut Rng, sigma: f32) {
        for p in &mut self.px {
            *p += sigma * rng.normal();
        }
    }

    /// 3x3 box blur (softens edges the way a scanner's point-spread function does).
    pub fn blur(&mut self) {
        let src = self.px.clone();
        for y in 0..self.h {
            for x in 0..self.w {
                let mut s = 0.0;
                let mut n = 0.0;
                for dy in -1i32..=1 {
                    for dx in -1i32..=1 {
                        let (xx, yy) = (x as i32 + dx, y as i32 + dy);
                        if xx >= 0 && yy >= 0 && (xx as usize) < self.w && (yy as usize) < self.h {
                            s += src[yy as usize * self.w + xx as usize];
                            n += 1.0;
                        }
                    }
                }
                self.px[y * self.w + x] = s / n;
            }
        }
    }

    /// 8-bit grayscale pixels (clamped).
    pub fn to_u8(&self) -> Vec<u8> {
        self.px.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipse_fills_inside_only() {
        let mut c = Canvas::new(20, 20, 0.0);
        c.ellipse(10.0, 10.0, 5.0, 5.0, 0.0, 1.0, 0.5);
        assert!(c.px[10 * 20 + 10] > 0.99);
        assert!(c.px[0] < 0.01);
        assert!(c.px[10 * 20 + 17] < 0.01);
    }
}
