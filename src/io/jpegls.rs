//! JPEG-LS decoding (ITU-T T.87, ISO 14495-1) for DICOM's JPEG-LS Lossless and Near-Lossless
//! syntaxes: 2–16 bit samples, one or three components, all three interleave modes, preset
//! coding parameters (LSE). Mapping tables, restart markers, point transforms and subsampled
//! components are refused by name. The decoder follows the standard's procedure (A.2–A.8): the
//! context model of gradients quantised by T1–T3, the median edge predictor with bias
//! correction, limited-length Golomb codes, and run mode with run interruption samples.

use super::dicom::Problem;
use super::dicom_pixels::Layout;

const J: [u32; 32] =
    [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15];

fn bad(why: impl Into<String>) -> Problem {
    Problem::BadPixels(format!("JPEG-LS: {}", why.into()))
}

/// Decodes one JPEG-LS frame to little-endian samples interleaved by pixel.
pub(super) fn decode(data: &[u8], layout: &Layout) -> Result<Vec<u8>, Problem> {
    let mut frame: Option<(u32, usize, usize, usize)> = None; // precision, width, height, components
    let mut preset = Preset::default();
    let mut planes: Vec<Vec<u16>> = Vec::new();
    let mut ids: Vec<u8> = Vec::new();
    let mut at = 0;
    if data.get(..2) != Some(&[0xFF, 0xD8]) {
        return Err(bad("no start-of-image marker"));
    }
    at += 2;
    while at < data.len() {
        while data.get(at) == Some(&0xFF) && data.get(at + 1) == Some(&0xFF) {
            at += 1; // fill bytes
        }
        let (Some(&0xFF), Some(&marker)) = (data.get(at), data.get(at + 1)) else {
            return Err(bad(format!("no marker at byte {at}")));
        };
        at += 2;
        if marker == 0xD9 {
            break;
        }
        let len = data
            .get(at..at + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or_else(|| bad("truncated"))?;
        let seg = data.get(at + 2..at + len).ok_or_else(|| bad("a segment runs past the end"))?;
        at += len;
        match marker {
            0xF7 => {
                if seg.len() < 6 {
                    return Err(bad("short frame header"));
                }
                let comps = usize::from(seg[5]);
                if seg.len() < 6 + 3 * comps || !(comps == 1 || comps == 3) {
                    return Err(bad(format!("{comps} components")));
                }
                if (0..comps).any(|c| seg[6 + 3 * c + 1] != 0x11) {
                    return Err(bad("subsampled components are not read"));
                }
                let (w, h) = (
                    usize::from(u16::from_be_bytes([seg[3], seg[4]])),
                    usize::from(u16::from_be_bytes([seg[1], seg[2]])),
                );
                if !(2..=16).contains(&seg[0]) || w == 0 || h == 0 {
                    return Err(bad(format!("{} bits, {w}×{h}", seg[0])));
                }
                if (w, h, comps) != (layout.cols, layout.rows, layout.samples) {
                    return Err(bad(format!(
                        "the stream is {w}×{h}×{comps}, the header says {}×{}×{}",
                        layout.cols, layout.rows, layout.samples
                    )));
                }
                planes = vec![vec![0; w * h]; comps];
                ids = (0..comps).map(|c| seg[6 + 3 * c]).collect();
                frame = Some((u32::from(seg[0]), w, h, comps));
            }
            0xF8 => match seg.first() {
                Some(1) if seg.len() >= 11 => {
                    let v = |i: usize| i32::from(u16::from_be_bytes([seg[i], seg[i + 1]]));
                    preset = Preset { maxval: v(1), t1: v(3), t2: v(5), t3: v(7), reset: v(9) };
                }
                _ => return Err(bad("mapping tables (LSE) are not read")),
            },
            0xDA => {
                let (precision, w, h, comps) = frame.ok_or_else(|| bad("a scan before the frame header"))?;
                let ns = usize::from(*seg.first().ok_or_else(|| bad("short scan header"))?);
                let tail = seg.get(1 + 2 * ns..1 + 2 * ns + 3).ok_or_else(|| bad("short scan header"))?;
                if (0..ns).any(|i| seg[2 + 2 * i] != 0) {
                    return Err(bad("mapping tables are not read"));
                }
                if tail[2] & 0x0F != 0 {
                    return Err(bad("point transforms are not read"));
                }
                // The scan's components by their identifiers in the frame header.
                let targets = (0..ns)
                    .map(|i| {
                        ids.iter()
                            .position(|&id| id == seg[1 + 2 * i])
                            .ok_or_else(|| bad("a scan of an unknown component"))
                    })
                    .collect::<Result<Vec<usize>, _>>()?;
                let params = Params::new(precision, i32::from(tail[0]), preset)?;
                let (scan_end, bits) = destuff(&data[at..]);
                let mut scan = Scan { p: params, bits: Bits { data: &bits, pos: 0 }, ctx: Contexts::new(&params) };
                match (ns, tail[1]) {
                    (1, _) => scan.lines(&mut planes, &targets, w, h)?,
                    (_, 1) => scan.lines(&mut planes, &targets, w, h)?,
                    (3, 2) if comps == 3 => scan.samples(&mut planes, w, h)?,
                    (_, ilv) => return Err(bad(format!("interleave mode {ilv} with {ns} components"))),
                }
                at += scan_end;
            }
            0xDD => return Err(bad("restart markers are not read")),
            _ => {} // APPn, COM
        }
    }
    let (_, w, h, comps) = frame.ok_or_else(|| bad("no frame header"))?;
    if w != layout.cols || h != layout.rows || comps != layout.samples {
        return Err(bad(format!(
            "the stream is {w}×{h}×{comps}, the header says {}×{}×{}",
            layout.cols, layout.rows, layout.samples
        )));
    }
    let mut out = Vec::with_capacity(w * h * comps * 2);
    for i in 0..w * h {
        for p in &planes {
            if layout.bits_allocated <= 8 {
                out.push(p[i] as u8);
            } else {
                out.extend(p[i].to_le_bytes());
            }
        }
    }
    Ok(out)
}

/// LSE preset parameters (0 = default).
#[derive(Debug, Clone, Copy, Default)]
struct Preset {
    maxval: i32,
    t1: i32,
    t2: i32,
    t3: i32,
    reset: i32,
}

#[derive(Debug, Clone, Copy)]
struct Params {
    maxval: i32,
    near: i32,
    range: i32,
    qbpp: u32,
    limit: u32,
    t1: i32,
    t2: i32,
    t3: i32,
    reset: i32,
}

impl Params {
    fn new(precision: u32, near: i32, preset: Preset) -> Result<Self, Problem> {
        let maxval = if preset.maxval > 0 { preset.maxval } else { (1 << precision) - 1 };
        let range = (maxval + 2 * near) / (2 * near + 1) + 1;
        let ceil_log2 = |v: i32| 32 - (v - 1).max(0).leading_zeros();
        let qbpp = ceil_log2(range);
        let bpp = ceil_log2(maxval + 1).max(2);
        let limit = 2 * (bpp + bpp.max(8));
        // C.2.4.1.1: default thresholds from BASIC_T1..3 = 3, 7, 21.
        let clamp = |i: i32, j: i32| if i > maxval || i < j { j } else { i };
        let (d1, d2, d3) = if maxval >= 128 {
            let f = (maxval.min(4095) + 128) / 256;
            // BASIC_T1 - 2 = 1.
            let t1 = clamp(f + 2 + 3 * near, near + 1);
            let t2 = clamp(f * (7 - 3) + 3 + 5 * near, t1);
            (t1, t2, clamp(f * (21 - 4) + 4 + 7 * near, t2))
        } else {
            let f = 256 / (maxval + 1);
            let t1 = clamp((3 / f + 3 * near).max(2), near + 1);
            let t2 = clamp((7 / f + 5 * near).max(3), t1);
            (t1, t2, clamp((21 / f + 7 * near).max(4), t2))
        };
        let pick = |v: i32, d: i32| if v > 0 { v } else { d };
        let p = Params {
            maxval,
            near,
            range,
            qbpp,
            limit,
            t1: pick(preset.t1, d1),
            t2: pick(preset.t2, d2),
            t3: pick(preset.t3, d3),
            reset: pick(preset.reset, 64),
        };
        if near < 0 || near > maxval / 2 || p.t1 > p.t2 || p.t2 > p.t3 {
            return Err(bad(format!("NEAR {near} or thresholds {}/{}/{} out of range", p.t1, p.t2, p.t3)));
        }
        Ok(p)
    }

    fn quantize(&self, d: i32) -> i32 {
        match d {
            d if d <= -self.t3 => -4,
            d if d <= -self.t2 => -3,
            d if d <= -self.t1 => -2,
            d if d < -self.near => -1,
            d if d <= self.near => 0,
            d if d < self.t1 => 1,
            d if d < self.t2 => 2,
            d if d < self.t3 => 3,
            _ => 4,
        }
    }

    fn context(&self, ra: i32, rb: i32, rc: i32, rd: i32) -> i32 {
        (self.quantize(rd - rb) * 9 + self.quantize(rb - rc)) * 9 + self.quantize(rc - ra)
    }

    fn clamp(&self, v: i32) -> i32 {
        v.clamp(0, self.maxval)
    }

    /// Px + error × (2 NEAR + 1), reduced modulo the range and clamped.
    fn reconstruct(&self, px: i32, err: i32) -> i32 {
        let step = 2 * self.near + 1;
        let mut v = px + err * step;
        if v < -self.near {
            v += self.range * step;
        } else if v > self.maxval + self.near {
            v -= self.range * step;
        }
        self.clamp(v)
    }
}

/// The 365 regular contexts and the 2 run interruption contexts.
struct Contexts {
    a: Vec<i32>,
    b: Vec<i32>,
    c: Vec<i32>,
    n: Vec<i32>,
    run_a: [i32; 2],
    run_n: [i32; 2],
    run_nn: [i32; 2],
}

impl Contexts {
    fn new(p: &Params) -> Self {
        let a0 = ((p.range + 32) / 64).max(2);
        Contexts {
            a: vec![a0; 365],
            b: vec![0; 365],
            c: vec![0; 365],
            n: vec![1; 365],
            run_a: [a0; 2],
            run_n: [1; 2],
            run_nn: [0; 2],
        }
    }
}

/// Removes the stuffed bit after each 0xFF; returns where the scan's data ends (the next marker)
/// and its bits, packed.
fn destuff(data: &[u8]) -> (usize, Vec<u8>) {
    let mut out = Vec::with_capacity(data.len());
    let (mut acc, mut n) = (0u32, 0u32);
    let mut i = 0;
    while i < data.len() {
        let byte = data[i];
        if byte == 0xFF && data.get(i + 1).is_some_and(|&b| b & 0x80 != 0) {
            return (i, flush(out, acc, n));
        }
        // After 0xFF the encoder stuffed a 0 bit: the byte holds 7 bits.
        let (value, width) = if i > 0 && data[i - 1] == 0xFF { (u32::from(byte), 7) } else { (u32::from(byte), 8) };
        acc = (acc << width) | value;
        n += width;
        while n >= 8 {
            out.push((acc >> (n - 8)) as u8);
            n -= 8;
        }
        acc &= (1 << n) - 1;
        i += 1;
    }
    (data.len(), flush(out, acc, n))
}

fn flush(mut out: Vec<u8>, acc: u32, n: u32) -> Vec<u8> {
    if n > 0 {
        out.push((acc << (8 - n)) as u8);
    }
    out
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    /// The next 64 bits from `pos`, most significant first (zeros past the end).
    fn window(&self) -> u64 {
        let at = self.pos / 8;
        let mut w = [0u8; 8];
        let n = self.data.len().saturating_sub(at).min(8);
        w[..n].copy_from_slice(&self.data[at..at + n]);
        u64::from_be_bytes(w) << (self.pos % 8)
    }

    fn advance(&mut self, n: usize) -> Result<(), Problem> {
        self.pos += n;
        if self.pos > self.data.len() * 8 {
            return Err(bad("the scan ends early"));
        }
        Ok(())
    }

    fn bit(&mut self) -> Result<u32, Problem> {
        let b = (self.window() >> 63) as u32;
        self.advance(1)?;
        Ok(b)
    }

    /// `n` ≤ 32 bits as a number.
    fn bits(&mut self, n: u32) -> Result<i32, Problem> {
        if n == 0 {
            return Ok(0);
        }
        let v = (self.window() >> (64 - n)) as i32;
        self.advance(n as usize)?;
        Ok(v)
    }

    /// A limited-length Golomb code (A.5.3): zeros, a one, then `k` bits (or `qbpp` after an
    /// escape of `limit - qbpp - 1` zeros).
    fn golomb(&mut self, k: u32, limit: u32, qbpp: u32) -> Result<i32, Problem> {
        // At least 57 bits of the window are the stream's, so a count below that is exact.
        let mut zeros = self.window().leading_zeros().min(56);
        self.advance(zeros as usize)?;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > limit {
                return Err(bad("a code longer than LIMIT"));
            }
        }
        if zeros > limit {
            return Err(bad("a code longer than LIMIT"));
        }
        if zeros >= limit.saturating_sub(qbpp + 1) {
            return Ok(self.bits(qbpp)? + 1);
        }
        Ok(((zeros as i32) << k) + self.bits(k)?)
    }
}

struct Scan<'a> {
    p: Params,
    bits: Bits<'a>,
    ctx: Contexts,
}

fn k_for(n: i32, a: i32) -> u32 {
    let mut k = 0;
    while (n << k) < a && k < 24 {
        k += 1;
    }
    k
}

impl Scan<'_> {
    /// A regular-mode sample with context `qs` (nonzero, or 0 in sample-interleaved mode).
    fn regular(&mut self, qs: i32, pred: i32) -> Result<i32, Problem> {
        let sign = if qs < 0 { -1 } else { 1 };
        let q = qs.unsigned_abs() as usize;
        let c = &mut self.ctx;
        let k = k_for(c.n[q], c.a[q]);
        let px = self.p.clamp(pred + sign * c.c[q]);
        let m = self.bits.golomb(k, self.p.limit, self.p.qbpp)?;
        let mut err = if m & 1 == 0 { m >> 1 } else { -((m + 1) >> 1) };
        if k == 0 && self.p.near == 0 && 2 * c.b[q] + c.n[q] - 1 < 0 {
            err = -err - 1;
        }
        // A.6: context update and bias correction.
        c.a[q] += err.abs();
        c.b[q] += err * (2 * self.p.near + 1);
        if c.n[q] == self.p.reset {
            c.a[q] >>= 1;
            c.b[q] >>= 1;
            c.n[q] >>= 1;
        }
        c.n[q] += 1;
        if c.b[q] + c.n[q] <= 0 {
            c.b[q] += c.n[q];
            if c.b[q] <= -c.n[q] {
                c.b[q] = -c.n[q] + 1;
            }
            c.c[q] -= i32::from(c.c[q] > -128);
        } else if c.b[q] > 0 {
            c.b[q] -= c.n[q];
            if c.b[q] > 0 {
                c.b[q] = 0;
            }
            c.c[q] += i32::from(c.c[q] < 127);
        }
        Ok(self.p.reconstruct(px, sign * err))
    }

    /// The length of a run of `Ra` (A.7.1), at most `left`; `run_index` is updated.
    fn run_length(&mut self, left: usize, run_index: &mut usize) -> Result<usize, Problem> {
        let mut count = 0;
        while self.bits.bit()? == 1 {
            let step = 1usize << J[*run_index];
            let n = step.min(left - count);
            count += n;
            if n == step {
                *run_index = (*run_index + 1).min(31);
            }
            if count == left {
                return Ok(count);
            }
        }
        count += self.bits.bits(J[*run_index])? as usize;
        if count > left {
            return Err(bad("a run past the end of the line"));
        }
        Ok(count)
    }

    /// The error of a run interruption sample (A.7.2) in run context `ri`.
    fn interruption_error(&mut self, ri: usize, run_index: usize) -> Result<i32, Problem> {
        let c = &mut self.ctx;
        let temp = if ri == 0 { c.run_a[0] } else { c.run_a[1] + (c.run_n[1] >> 1) };
        let k = k_for(c.run_n[ri], temp);
        let limit = self.p.limit - J[run_index] - 1;
        let em = self.bits.golomb(k, limit, self.p.qbpp)?;
        let t = em + ri as i32;
        let map = t & 1;
        let abs = (t + map) / 2;
        let err = if (k != 0 || 2 * c.run_nn[ri] >= c.run_n[ri]) == (map == 1) { -abs } else { abs };
        if err < 0 {
            c.run_nn[ri] += 1;
        }
        c.run_a[ri] += (em + 1 - ri as i32) >> 1;
        if c.run_n[ri] == self.p.reset {
            c.run_a[ri] >>= 1;
            c.run_n[ri] >>= 1;
            c.run_nn[ri] >>= 1;
        }
        c.run_n[ri] += 1;
        Ok(err)
    }

    /// Non-interleaved or line-interleaved scans: each line of each component in turn.
    fn lines(&mut self, planes: &mut [Vec<u16>], comps: &[usize], w: usize, h: usize) -> Result<(), Problem> {
        // Lines with one sample of padding on each side: index 0 is x = -1.
        let mut prev = vec![vec![0i32; w + 2]; comps.len()];
        let mut cur = vec![vec![0i32; w + 2]; comps.len()];
        let mut run_index = vec![0usize; comps.len()];
        for y in 0..h {
            for (i, &comp) in comps.iter().enumerate() {
                let (pl, cl) = (&mut prev[i], &mut cur[i]);
                pl[w + 1] = pl[w];
                cl[0] = pl[1];
                let mut x = 0;
                while x < w {
                    let (ra, rb, rc, rd) = (cl[x], pl[x + 1], pl[x], pl[x + 2]);
                    let qs = self.p.context(ra, rb, rc, rd);
                    if qs != 0 {
                        cl[x + 1] = self.regular(qs, predict(ra, rb, rc))?;
                        x += 1;
                        continue;
                    }
                    let n = self.run_length(w - x, &mut run_index[i])?;
                    for v in &mut cl[x + 1..x + 1 + n] {
                        *v = ra;
                    }
                    x += n;
                    if x < w {
                        let rb = pl[x + 1];
                        let ri = usize::from((ra - rb).abs() <= self.p.near);
                        let err = self.interruption_error(ri, run_index[i])?;
                        cl[x + 1] = if ri == 1 {
                            self.p.reconstruct(ra, err)
                        } else {
                            self.p.reconstruct(rb, if rb < ra { -err } else { err })
                        };
                        run_index[i] = run_index[i].saturating_sub(1);
                        x += 1;
                    }
                }
                for (dst, &v) in planes[comp][y * w..(y + 1) * w].iter_mut().zip(&cl[1..=w]) {
                    *dst = v as u16;
                }
            }
            std::mem::swap(&mut prev, &mut cur);
        }
        Ok(())
    }

    /// Sample-interleaved scans of three components: one context per component, and a run
    /// only when all three are flat.
    fn samples(&mut self, planes: &mut [Vec<u16>], w: usize, h: usize) -> Result<(), Problem> {
        let mut prev = vec![[0i32; 3]; w + 2];
        let mut cur = vec![[0i32; 3]; w + 2];
        let mut run_index = 0usize;
        for y in 0..h {
            prev[w + 1] = prev[w];
            cur[0] = prev[1];
            let mut x = 0;
            while x < w {
                let (ra, rb, rc, rd) = (cur[x], prev[x + 1], prev[x], prev[x + 2]);
                let qs: [i32; 3] = std::array::from_fn(|c| self.p.context(ra[c], rb[c], rc[c], rd[c]));
                if qs != [0; 3] {
                    let mut v = [0; 3];
                    for c in 0..3 {
                        v[c] = self.regular(qs[c], predict(ra[c], rb[c], rc[c]))?;
                    }
                    cur[x + 1] = v;
                    x += 1;
                    continue;
                }
                let n = self.run_length(w - x, &mut run_index)?;
                for v in &mut cur[x + 1..x + 1 + n] {
                    *v = ra;
                }
                x += n;
                if x < w {
                    let rb = prev[x + 1];
                    let mut v = [0; 3];
                    for c in 0..3 {
                        let err = self.interruption_error(0, run_index)?;
                        v[c] = self.p.reconstruct(rb[c], if rb[c] < ra[c] { -err } else { err });
                    }
                    cur[x + 1] = v;
                    run_index = run_index.saturating_sub(1);
                    x += 1;
                }
            }
            for (i, px) in cur[1..=w].iter().enumerate() {
                for c in 0..3 {
                    planes[c][y * w + i] = px[c] as u16;
                }
            }
            std::mem::swap(&mut prev, &mut cur);
        }
        Ok(())
    }
}

/// The median edge detector (A.4.1).
fn predict(ra: i32, rb: i32, rc: i32) -> i32 {
    if rc >= ra.max(rb) {
        ra.min(rb)
    } else if rc <= ra.min(rb) {
        ra.max(rb)
    } else {
        ra + rb - rc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffed_bits_after_ff_are_dropped_and_a_marker_ends_the_scan() {
        // 0xFF then 0x7F: 8 + 7 bits of ones; then 0xFF 0xD9 ends the scan.
        let (end, bits) = destuff(&[0xFF, 0x7F, 0x00, 0xFF, 0xD9]);
        assert_eq!(end, 3);
        assert_eq!(bits, vec![0xFF, 0xFE, 0x00]);
    }

    #[test]
    fn default_thresholds_match_the_standard() {
        let p = Params::new(8, 0, Preset::default()).map_err(|e| e.to_string());
        let p = p.as_ref().map(|p| (p.t1, p.t2, p.t3, p.limit, p.qbpp));
        assert_eq!(p, Ok((3, 7, 21, 32, 8)));
        let p = Params::new(16, 0, Preset::default()).map_err(|e| e.to_string());
        assert_eq!(p.map(|p| (p.t1, p.t2, p.t3)), Ok((18, 67, 276)));
    }
}
