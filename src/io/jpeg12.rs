//! Sequential Huffman JPEG with 12-bit samples (ITU-T T.81 process 4, DICOM's JPEG Extended
//! 1.2.840.10008.1.2.4.51), which the JPEG crates refuse: one grey component (how 12-bit
//! medical images are stored), 8- or 16-bit quantisation tables, restart intervals. The steps are
//! T.81 Annex F's decoder: Huffman tables by code length, DC differences, AC run/size pairs in
//! zig-zag order, dequantisation, the 8×8 inverse DCT, and the level shift of 2048. Progressive,
//! arithmetic-coded, hierarchical and multi-component streams are refused by name.

use super::dicom::Problem;
use super::dicom_jpeg::{is_frame_header, segments};

fn bad(why: impl Into<String>) -> Problem {
    Problem::BadPixels(format!("12-bit JPEG: {}", why.into()))
}

/// Natural (row-major) index of each zig-zag position.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
    28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54,
    47, 55, 62, 63,
];

/// True when `frame` is a JPEG stream whose frame header says 12-bit samples.
pub(super) fn is_12_bit(frame: &[u8]) -> bool {
    segments(frame).any(|(m, seg)| is_frame_header(m) && seg.first() == Some(&12))
}

#[derive(Clone, Default)]
struct Huffman {
    /// Per code length 1..=16: the largest code (−1 when none), and the index of its first value.
    maxcode: [i32; 17],
    valptr: [i32; 17],
    mincode: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8], values: &[u8]) -> Result<Self, Problem> {
        let mut h = Huffman { values: values.to_vec(), ..Default::default() };
        let (mut code, mut k) = (0i32, 0i32);
        for len in 1..=16 {
            let n = i32::from(counts[len - 1]);
            h.valptr[len] = k;
            h.mincode[len] = code;
            code += n;
            k += n;
            h.maxcode[len] = if n > 0 { code - 1 } else { -1 };
            if code > (1 << len) {
                return Err(bad("a Huffman table with more codes than fit"));
            }
            code <<= 1;
        }
        if k as usize > values.len() {
            return Err(bad("a Huffman table shorter than its counts"));
        }
        Ok(h)
    }
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u32,
    n: u32,
}

impl Bits<'_> {
    fn bit(&mut self) -> u32 {
        if self.n == 0 {
            let b = self.data.get(self.pos).copied().unwrap_or(0);
            // 0xFF 0x00 is a stuffed 0xFF; 0xFF then a marker ends the data (zeros follow).
            if b == 0xFF {
                match self.data.get(self.pos + 1) {
                    Some(0) => self.pos += 2,
                    _ => {
                        self.acc = 0;
                        self.n = 8;
                        return 0;
                    }
                }
            } else {
                self.pos += 1;
            }
            self.acc = u32::from(b);
            self.n = 8;
        }
        self.n -= 1;
        (self.acc >> self.n) & 1
    }

    fn bits(&mut self, n: u32) -> i32 {
        (0..n).fold(0, |v, _| (v << 1) | self.bit() as i32)
    }

    fn decode(&mut self, h: &Huffman) -> Result<u8, Problem> {
        let mut code = self.bit() as i32;
        for len in 1..=16 {
            if h.maxcode[len] >= code && code >= h.mincode[len] {
                let i = (h.valptr[len] + code - h.mincode[len]) as usize;
                return h.values.get(i).copied().ok_or_else(|| bad("a Huffman code past its table"));
            }
            code = (code << 1) | self.bit() as i32;
        }
        Err(bad("a Huffman code longer than 16 bits"))
    }

    /// `s` bits as a signed difference (T.81 F.2.2.1 EXTEND).
    fn receive(&mut self, s: u32) -> i32 {
        if s == 0 {
            return 0;
        }
        let v = self.bits(s);
        if v < 1 << (s - 1) { v - (1 << s) + 1 } else { v }
    }

    /// Skips to the byte after the next RSTn marker.
    fn restart(&mut self) {
        self.n = 0;
        while self.pos + 1 < self.data.len() {
            if self.data[self.pos] == 0xFF && (0xD0..=0xD7).contains(&self.data[self.pos + 1]) {
                self.pos += 2;
                return;
            }
            self.pos += 1;
        }
    }
}

/// Decodes a 12-bit grey JPEG frame to little-endian 16-bit samples, row-major.
pub(super) fn decode(data: &[u8]) -> Result<Vec<u8>, Problem> {
    let mut quant = [[1u16; 64]; 4];
    let (mut dc, mut ac) = (vec![Huffman::default(); 4], vec![Huffman::default(); 4]);
    let mut restart = 0usize;
    let mut frame: Option<(usize, usize, u8, usize)> = None; // width, height, component id, quant table
    let mut at = 2;
    if data.get(..2) != Some(&[0xFF, 0xD8]) {
        return Err(bad("no start-of-image marker"));
    }
    while at + 4 <= data.len() {
        if data[at] != 0xFF {
            return Err(bad(format!("no marker at byte {at}")));
        }
        let m = data[at + 1];
        if m == 0xFF {
            at += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        let seg = data.get(at + 4..at + 2 + len).ok_or_else(|| bad("a segment runs past the end"))?;
        at += 2 + len;
        match m {
            0xDB => {
                let mut s = seg;
                while let Some((&pq_tq, rest)) = s.split_first() {
                    let (wide, id) = (pq_tq >> 4 == 1, usize::from(pq_tq & 3));
                    let size = if wide { 128 } else { 64 };
                    let table = rest.get(..size).ok_or_else(|| bad("a short quantisation table"))?;
                    for k in 0..64 {
                        quant[id][k] = if wide {
                            u16::from_be_bytes([table[2 * k], table[2 * k + 1]])
                        } else {
                            u16::from(table[k])
                        };
                    }
                    s = &rest[size..];
                }
            }
            0xC4 => {
                let mut s = seg;
                while s.len() >= 17 {
                    let (class, id) = (s[0] >> 4, usize::from(s[0] & 3));
                    let counts = &s[1..17];
                    let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    let values = s.get(17..17 + n).ok_or_else(|| bad("a short Huffman table"))?;
                    let h = Huffman::new(counts, values)?;
                    if class == 0 {
                        dc[id] = h
                    } else {
                        ac[id] = h
                    }
                    s = &s[17 + n..];
                }
            }
            0xC0 | 0xC1 => {
                if seg.len() < 9 || seg[0] != 12 {
                    return Err(bad("not a 12-bit frame"));
                }
                if seg[5] != 1 {
                    return Err(bad(format!("{} components (one grey component is read)", seg[5])));
                }
                let (h, w) = (
                    usize::from(u16::from_be_bytes([seg[1], seg[2]])),
                    usize::from(u16::from_be_bytes([seg[3], seg[4]])),
                );
                if w == 0 || h == 0 || w * h > super::dicom_pixels::MAX_SAMPLES {
                    return Err(bad(format!("a frame of {w}×{h}")));
                }
                frame = Some((w, h, seg[6], usize::from(seg[8] & 3)));
            }
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(bad(format!("frame type 0xFF{m:02X} (only sequential Huffman is read)")));
            }
            0xDD => restart = usize::from(u16::from_be_bytes([*seg.first().unwrap_or(&0), *seg.get(1).unwrap_or(&0)])),
            0xDA => {
                let (w, h, _, q) = frame.ok_or_else(|| bad("a scan before the frame header"))?;
                let tables = seg.get(2).ok_or_else(|| bad("a short scan header"))?;
                let (d, a) = (&dc[usize::from(tables >> 4) & 3], &ac[usize::from(tables & 3)]);
                return scan(&data[at..], w, h, &quant[q], d, a, restart);
            }
            0xD9 => break,
            _ => {}
        }
    }
    Err(bad("no scan"))
}

fn scan(
    data: &[u8],
    w: usize,
    h: usize,
    q: &[u16; 64],
    dc: &Huffman,
    ac: &Huffman,
    restart: usize,
) -> Result<Vec<u8>, Problem> {
    let (bw, bh) = (w.div_ceil(8), h.div_ceil(8));
    let mut bits = Bits { data, pos: 0, acc: 0, n: 0 };
    let mut out = vec![0u16; w * h];
    let mut pred = 0i32;
    let cos = idct_table();
    for b in 0..bw * bh {
        if restart > 0 && b > 0 && b % restart == 0 {
            bits.restart();
            pred = 0;
        }
        let mut coef = [0f32; 64];
        let t = bits.decode(dc)?;
        if t > 16 {
            return Err(bad(format!("a DC difference of category {t}")));
        }
        pred = pred.saturating_add(bits.receive(u32::from(t)));
        coef[0] = pred as f32 * f32::from(q[0]);
        let mut k = 1;
        while k < 64 {
            let rs = bits.decode(ac)?;
            let (r, s) = (usize::from(rs >> 4), u32::from(rs & 15));
            if s == 0 {
                if r != 15 {
                    break;
                }
                k += 16;
                continue;
            }
            k += r;
            if k > 63 {
                return Err(bad("a coefficient past the block"));
            }
            coef[ZIGZAG[k]] = bits.receive(s) as f32 * f32::from(q[k]);
            k += 1;
        }
        let block = idct(&coef, &cos);
        let (x0, y0) = ((b % bw) * 8, (b / bw) * 8);
        for y in 0..8 {
            for x in 0..8 {
                let (px, py) = (x0 + x, y0 + y);
                if px < w && py < h {
                    out[py * w + px] = (block[y * 8 + x] + 2048.0).round().clamp(0.0, 4095.0) as u16;
                }
            }
        }
    }
    Ok(out.into_iter().flat_map(u16::to_le_bytes).collect())
}

/// `C(u) cos((2x + 1) u π / 16) / 2` for x, u in 0..8.
fn idct_table() -> [[f32; 8]; 8] {
    std::array::from_fn(|x| {
        std::array::from_fn(|u| {
            let c = if u == 0 { std::f32::consts::FRAC_1_SQRT_2 } else { 1.0 };
            c * ((2 * x + 1) as f32 * u as f32 * std::f32::consts::PI / 16.0).cos() / 2.0
        })
    })
}

/// The separable 8×8 inverse DCT of row-major coefficients.
fn idct(coef: &[f32; 64], cos: &[[f32; 8]; 8]) -> [f32; 64] {
    let mut rows = [0f32; 64];
    for v in 0..8 {
        for x in 0..8 {
            rows[v * 8 + x] = (0..8).map(|u| cos[x][u] * coef[v * 8 + u]).sum();
        }
    }
    let mut out = [0f32; 64];
    for y in 0..8 {
        for x in 0..8 {
            out[y * 8 + x] = (0..8).map(|v| cos[y][v] * rows[v * 8 + x]).sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dc_only_block_is_flat() {
        let mut coef = [0f32; 64];
        coef[0] = 80.0; // DC = 8 × the block's mean
        let out = idct(&coef, &idct_table());
        assert!(out.iter().all(|&v| (v - 10.0).abs() < 1e-4), "{out:?}");
    }

    #[test]
    fn extend_gives_negative_differences() {
        // Category 3: 000..011 are −7..−4, 100..111 are 4..7.
        let mut b = Bits { data: &[0b0001_1100], pos: 0, acc: 0, n: 0 };
        assert_eq!((b.receive(3), b.receive(3)), (-7, 7));
    }
}
