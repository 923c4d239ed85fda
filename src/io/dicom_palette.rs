//! PALETTE COLOR (PS3.3 C.7.6.3.1.5): the red, green and blue lookup tables a palette image's
//! stored values index. Segmented tables are refused by name.

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
        let has = |t: Tag| obj.element_opt(t).ok().flatten().is_some();
        if has(tags::SEGMENTED_RED_PALETTE_COLOR_LOOKUP_TABLE_DATA) && !has(tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA) {
            return Err(Problem::Photometric("PALETTE COLOR with segmented tables".into()));
        }
        let table = |descriptor: Tag, data: Tag, name: &str| -> Result<(i64, Vec<u8>), Problem> {
            let d: Vec<i64> = obj
                .element_opt(descriptor)
                .ok()
                .flatten()
                .and_then(|e| e.to_multi_int::<i64>().ok())
                .filter(|d| d.len() == 3)
                .ok_or_else(|| bad(format!("no {name} palette descriptor")))?;
            // 0 entries means 65536; the first mapped value may be stored as unsigned 16 bits.
            let entries = if d[0] == 0 { 65536 } else { d[0].rem_euclid(65536) as usize };
            let bytes = obj
                .element_opt(data)
                .ok()
                .flatten()
                .and_then(|e| e.to_bytes().ok().map(|b| b.to_vec()))
                .ok_or_else(|| bad(format!("no {name} palette data")))?;
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
        let (first, r) =
            table(tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR, tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA, "red")?;
        let (_, g) = table(
            tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
            "green",
        )?;
        let (_, b) = table(
            tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
            tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
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
