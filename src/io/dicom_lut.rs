//! The Modality LUT Sequence (0028,3000, PS3.3 C.11.1): a table from stored values to the
//! modality's values, used by files that do not rescale linearly (some X-ray, nuclear and older CT
//! files). Applied instead of Rescale Slope / Intercept, which the standard says a file holds one
//! or the other of.

use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;

/// A Modality LUT: the output for stored values `first ..= first + table.len() - 1`; values
/// below and above take the first and the last entry.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ModalityLut {
    first: i64,
    table: Vec<f32>,
}

impl ModalityLut {
    /// The file's first Modality LUT, when it has a well-formed one. `signed`: the pixels are
    /// signed, so a first-mapped value written as US above 32767 is negative.
    pub(super) fn of(obj: &DefaultDicomObject, signed: bool) -> Option<Self> {
        let item = obj.element_opt(tags::MODALITY_LUT_SEQUENCE).ok().flatten()?.items()?.first()?;
        let desc: Vec<i64> = item.element_opt(tags::LUT_DESCRIPTOR).ok().flatten()?.to_multi_int().ok()?;
        let &[n, first, bits, ..] = desc.as_slice() else { return None };
        let n = if n == 0 { 65_536 } else { usize::try_from(n).ok()? };
        let first = if signed && first > 32_767 { first - 65_536 } else { first };
        let data = item.element_opt(tags::LUT_DATA).ok().flatten()?;
        let mut values: Vec<i64> = data.to_multi_int().ok()?;
        // 8-bit entries packed two to a 16-bit word (OW), low byte first.
        if bits == 8 && values.len() * 2 >= n && values.len() < n {
            values = values.iter().flat_map(|w| [w & 0xFF, (w >> 8) & 0xFF]).collect();
        }
        if values.len() < n || n == 0 {
            return None;
        }
        Some(Self { first, table: values[..n].iter().map(|&v| v as f32).collect() })
    }

    /// The modality value of stored value `x`.
    pub(super) fn apply(&self, x: i64) -> f32 {
        let last = self.table.len() as i64 - 1;
        self.table[(x - self.first).clamp(0, last) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_outside_the_table_take_its_ends() {
        let lut = ModalityLut { first: -2, table: vec![10.0, 20.0, 30.0] };
        assert_eq!([-5, -2, -1, 0, 7].map(|x| lut.apply(x)), [10.0, 10.0, 20.0, 30.0, 30.0]);
    }
}
