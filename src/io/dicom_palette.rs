//! PALETTE COLOR (PS3.3 C.7.6.3.1.5): the red, green and blue lookup tables a palette image's
//! stored values index, given whole or as segments (C.7.9.2: discrete, linear, indirect).

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;

use super::dicom::Problem;

/// The three tables, as 8-bit values, and the first stored value they map.
pub(super) struct Palette {
    first: i64,
    channels: [Vec<u8>; 3],
}

impl Palette {
    pub(super) fn of(obj: &DefaultDicomObject) -> Result<Self, Problem> {
        let bad = |why: String| Problem::BadPixels(why);
        let bytes_of = |t: Tag| obj.element_opt(t).ok().flatten().and_then(|e| e.to_bytes().ok().map(|b| b.to_vec()));
        let table = |descriptor: Tag, data: Tag, segmented: Tag, name: &str| -> Result<(i64, Vec<u8>), Problem> {
            let d: Vec<i64> = obj
                .element_opt(descriptor)
                .ok()
                .flatten()
                .and_then(|e| e.to_multi_int::<i64>().ok())
                .filter(|d| d.len() == 3)
                .ok_or_else(|| bad(format!("no {name} palette descriptor")))?;
            // 0 entries means 65536; the first mapped value may be stored as unsigned 16 bits.
            let entries = if d[0] == 0 { 65536 } else { d[0].rem_euclid(65536) as usize };
            let bytes = match (bytes_of(data), bytes_of(segmented)) {
                (Some(b), _) => b,
                (None, Some(s)) => {
                    expand(&s, d[2] == 8, entries).map_err(|why| bad(format!("the segmented {name} palette: {why}")))?
                }
                (None, None) => return Err(bad(format!("no {name} palette data"))),
            };
            let values: Vec<u8> = if d[2] == 8 && bytes.len() == entries {
                bytes
            } else {
                let words: Vec<u16> = bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect();
                if d[2] == 8 {
                    words.iter().map(|&w| w.min(255) as u8).collect()
                } else {
                    words.iter().map(|&w| (w >> 8) as u8).collect()
                }
            };
            if values.len() < entries {
                return Err(bad(format!("the {name} palette holds {} of {entries} entries", values.len())));
            }
            Ok((d[1], values[..entries].to_vec()))
        };
        let (first, r) = table(
            tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            tags::SEGMENTED_RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            "red",
        )?;
        let (_, g) = table(
            tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            tags::SEGMENTED_GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            "green",
        )?;
        let (_, b) = table(
            tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            tags::SEGMENTED_BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            "blue",
        )?;
        Ok(Palette { first, channels: [r, g, b] })
    }

    /// Stored values to interleaved RGB; values outside the table take its first or last entry.
    pub(super) fn apply(&self, values: &[i64], pixels: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(pixels * 3);
        for &v in values.iter().take(pixels) {
            for c in &self.channels {
                let i = (v - self.first).clamp(0, c.len() as i64 - 1) as usize;
                out.push(c[i]);
            }
        }
        out
    }
}

/// A segmented table's words (bytes for 8-bit entries) expanded to the plain table's bytes, as
/// pydicom expands them (a linear segment rounds half to even; an indirect segment's offset is
/// counted in entries from the start of the data). Expansion stops at `entries` values.
fn expand(bytes: &[u8], eight: bool, entries: usize) -> Result<Vec<u8>, String> {
    let data: Vec<u32> = if eight {
        bytes.iter().map(|&b| u32::from(b)).collect()
    } else {
        bytes.chunks_exact(2).map(|b| u32::from(u16::from_le_bytes([b[0], b[1]]))).collect()
    };
    let mut seg = Segments { data, eight, entries, lut: Vec::new() };
    seg.run(0, None, None, 0)?;
    let Some(&last) = seg.lut.last() else { return Err("no segments".into()) };
    seg.lut.resize(entries, last);
    Ok(if eight {
        seg.lut.iter().map(|&v| v.min(255) as u8).collect()
    } else {
        seg.lut.iter().flat_map(|&v| (v.min(65535) as u16).to_le_bytes()).collect()
    })
}

struct Segments {
    data: Vec<u32>,
    eight: bool,
    entries: usize,
    lut: Vec<u32>,
}

impl Segments {
    /// Expands the segments from word `at`: all of them, or `count` when an indirect segment copies
    /// a run. `last` is the value a copied linear segment starts from.
    fn run(&mut self, mut at: usize, count: Option<usize>, last: Option<u32>, depth: usize) -> Result<(), String> {
        if depth > 8 {
            return Err("indirect segments nest more than 8 deep".into());
        }
        let mut read = 0;
        while at + 1 < self.data.len() && self.lut.len() < self.entries && count.is_none_or(|n| read < n) {
            let (op, len) = (self.data[at], self.data[at + 1] as usize);
            at += 2;
            match op {
                0 => {
                    let end = (at + len).min(self.data.len());
                    self.lut.extend_from_slice(&self.data[at..end]);
                    at = end;
                }
                1 => {
                    let y0 = self.lut.last().copied().or(last).ok_or("a linear segment comes first")?;
                    let y1 = *self.data.get(at).ok_or("a linear segment ends early")?;
                    at += 1;
                    let step = (f64::from(y1) - f64::from(y0)) / len.max(1) as f64;
                    let ramp = (1..=len).map(|j| (f64::from(y0) + step * j as f64).round_ties_even() as u32);
                    self.lut.extend(ramp);
                }
                2 => {
                    let y0 = self.lut.last().copied().ok_or("an indirect segment comes first")?;
                    let n = if self.eight { 4 } else { 2 };
                    let w = self.data.get(at..at + n).ok_or("an indirect segment ends early")?;
                    let offset =
                        if self.eight { w[0] | w[1] << 8 | w[2] << 16 | w[3] << 24 } else { w[0] | w[1] << 16 };
                    at += n;
                    if offset as usize >= self.data.len() {
                        return Err("an indirect segment points past the data".into());
                    }
                    self.run(offset as usize, Some(len), Some(y0), depth + 1)?;
                }
                other => return Err(format!("segment type {other} is not 0, 1 or 2")),
            }
            read += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::expand;

    fn words(w: &[u16]) -> Vec<u8> {
        w.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn values(b: &[u8]) -> Vec<u16> {
        b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()
    }

    #[test]
    fn discrete_linear_and_indirect_segments_expand() {
        // Discrete [0, 10]; linear to 40 in 3 steps; indirect: the 2 segments from word 0 again.
        let data = words(&[0, 2, 0, 10, 1, 3, 40, 2, 2, 0, 0]);
        assert_eq!(values(&expand(&data, false, 12).unwrap()), vec![0, 10, 20, 30, 40, 0, 10, 20, 30, 40, 40, 40]);
        // Linear rounds half to even, as numpy does: 0 → 5 in 2 steps is 2.5 → 2, then 5.
        assert_eq!(values(&expand(&words(&[0, 1, 0, 1, 2, 5]), false, 3).unwrap()), vec![0, 2, 5]);
        // Eight-bit entries.
        assert_eq!(expand(&[0, 1, 100, 1, 2, 200], true, 3).unwrap(), vec![100, 150, 200]);
    }

    #[test]
    fn broken_segments_are_named() {
        assert!(expand(&words(&[1, 3, 40]), false, 4).unwrap_err().contains("linear segment comes first"));
        assert!(expand(&words(&[0, 1, 5, 7, 1]), false, 4).unwrap_err().contains("segment type 7"));
        assert!(expand(&words(&[0, 1, 5, 2, 1, 900, 0]), false, 4).unwrap_err().contains("past the data"));
        // An indirect segment pointing at itself stops at the depth limit, not in a loop.
        let own = words(&[0, 1, 5, 2, 1, 3, 0, 0]);
        assert!(expand(&own, false, 65536).unwrap_err().contains("nest"));
    }
}
