//! The Modality LUT Sequence (0028,3000, PS3.3 C.11.1): a table from stored values to the
//! modality's values, used by files that do not rescale linearly (some X-ray, nuclear and older CT
//! files), applied instead of Rescale Slope / Intercept, which the standard says a file holds one
//! or the other of; and the VOI LUT Sequence (0028,3010), applied as its table.

use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;

use crate::imaging::{VoiFunction, VoiLut};

/// A Modality LUT: the output for stored values `first ..= first + table.len() - 1`; values
/// below and above take the first and the last entry.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ModalityLut {
    first: i64,
    table: Vec<f32>,
}

/// The first-mapped input and the entries of the first item of the LUT sequence `seq`, when
/// it is well formed. `signed`: the pixels are signed, so a first-mapped value written as US
/// above 32767 is negative (as pydicom reads it). 8-bit entries packed two to a 16-bit word (OW)
/// are unpacked, low byte first.
fn entries(obj: &DefaultDicomObject, seq: dicom_core::Tag, signed: bool) -> Option<(i64, Vec<i64>)> {
    let item = obj.element_opt(seq).ok().flatten()?.items()?.first()?;
    let desc: Vec<i64> = item.element_opt(tags::LUT_DESCRIPTOR).ok().flatten()?.to_multi_int().ok()?;
    let &[n, first, bits, ..] = desc.as_slice() else { return None };
    let n = if n == 0 { 65_536 } else { usize::try_from(n).ok()? };
    let first = if signed && first > 32_767 { first - 65_536 } else { first };
    let mut values: Vec<i64> = item.element_opt(tags::LUT_DATA).ok().flatten()?.to_multi_int().ok()?;
    if bits == 8 && values.len() * 2 >= n && values.len() < n {
        values = values.iter().flat_map(|w| [w & 0xFF, (w >> 8) & 0xFF]).collect();
    }
    if values.len() < n || n == 0 {
        return None;
    }
    values.truncate(n);
    Some((first, values))
}

impl ModalityLut {
    /// The file's first Modality LUT, when it has a well-formed one. `signed`: the pixels are
    /// signed.
    pub(super) fn of(obj: &DefaultDicomObject, signed: bool) -> Option<Self> {
        let (first, values) = entries(obj, tags::MODALITY_LUT_SEQUENCE, signed)?;
        Some(Self { first, table: values.iter().map(|&v| v as f32).collect() })
    }

    /// The modality value of stored value `x`.
    pub(super) fn apply(&self, x: i64) -> f32 {
        let last = self.table.len() as i64 - 1;
        self.table[(x - self.first).clamp(0, last) as usize]
    }
}

/// The file's first VOI LUT (0028,3010), applied as its table, with the window that spans its
/// ramp (where dragging the window starts from). A file with both a window and a table is shown
/// through its window; the table is one choice away in the viewer.
pub(super) fn voi_lut(obj: &DefaultDicomObject) -> Option<(VoiLut, super::dicom::Window)> {
    let signed =
        obj.element_opt(tags::PIXEL_REPRESENTATION).ok().flatten().and_then(|e| e.to_int::<u16>().ok()) == Some(1);
    let (first, values) = entries(obj, tags::VOILUT_SEQUENCE, signed)?;
    let ramp = ramp_window(first, &values)?;
    Some((VoiLut::new(first, &values)?, ramp))
}

/// The window mapping the last input at `table`'s lowest output (before its first highest) to
/// black and its first highest to white; `first` is the input of entry 0.
fn ramp_window(first: i64, table: &[i64]) -> Option<super::dicom::Window> {
    let (lo, hi) = (*table.iter().min()?, *table.iter().max()?);
    if lo == hi {
        return None;
    }
    let top = table.iter().position(|&v| v == hi)?;
    let bottom = table[..=top].iter().rposition(|&v| v == lo).unwrap_or(0);
    let (a, b) = (first + bottom as i64, first + top.max(bottom + 1) as i64);
    // The linear VOI function maps c - 0.5 ± (w - 1) / 2 to black and white.
    Some(super::dicom::Window {
        center: (a + b) as f64 / 2.0 + 0.5,
        width: (b - a) as f64 + 1.0,
        function: VoiFunction::Table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_outside_the_table_take_its_ends() {
        let lut = ModalityLut { first: -2, table: vec![10.0, 20.0, 30.0] };
        assert_eq!([-5, -2, -1, 0, 7].map(|x| lut.apply(x)), [10.0, 10.0, 20.0, 30.0, 30.0]);
    }

    #[test]
    fn a_voi_lut_ramp_gives_the_window_it_starts_from() {
        use super::super::dicom::{Window, windowed};
        // Flat at 0 up to input 102, a ramp to 4095 at input 110, flat after.
        let table: Vec<i64> = (0..20).map(|i| ((i - 2).clamp(0, 8) * 4095 / 8) as i64).collect();
        let w = ramp_window(100, &table).unwrap();
        assert_eq!(w, Window { center: 106.5, width: 9.0, function: VoiFunction::Table });
        let linear = Window { function: VoiFunction::Linear, ..w };
        let grey: Vec<u8> = windowed(&[102.0, 106.0, 110.0], linear, None, false).iter().step_by(3).copied().collect();
        assert_eq!(grey, [0, 128, 255]);
        // Through the table itself: 106 is entry 6, 4 steps of 8 up the ramp.
        let lut = VoiLut::new(100, &table).unwrap();
        let grey: Vec<u8> = windowed(&[102.0, 106.0, 110.0], w, Some(&lut), false).iter().step_by(3).copied().collect();
        assert_eq!(grey, [0, 127, 255]);
        assert_eq!(ramp_window(0, &[7, 7, 7]), None, "a flat table");
    }
}
