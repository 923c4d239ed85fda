//! Clean Pixel Data (PS3.15 E.3.1) for de-identified copies: the regions a curator blacked out on
//! an item's rendering are blacked out in every frame of the copy's pixel data as well, so burned-in
//! text removed from the PNG does not stay in the DICOM file. The pixels are decoded and written
//! uncompressed (Explicit VR Little Endian). Grey data keeps its stored values, each region filled
//! with the frame's darkest value (so every window shows it black); colour and palette colour
//! become 8-bit RGB with the regions black. The icon, overlays and curves go in the profile.

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;

use super::dicom::Problem;
use super::dicom_pixels::{Frames, Layout, bad, convert, decode_raw, samples};

/// Explicit VR Little Endian.
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

/// Palette colour attributes, gone once the pixels are RGB.
const PALETTE: &[(u16, u16)] = &[
    (0x0028, 0x1101),
    (0x0028, 0x1102),
    (0x0028, 0x1103),
    (0x0028, 0x1199),
    (0x0028, 0x1201),
    (0x0028, 0x1202),
    (0x0028, 0x1203),
    (0x0028, 0x1221),
    (0x0028, 0x1222),
    (0x0028, 0x1223),
];

/// `[x0, y0, x1, y1]` (x1, y1 exclusive) clipped to `cols × rows`; empty ones are dropped.
fn clip(rects: &[[u32; 4]], cols: usize, rows: usize) -> Vec<[usize; 4]> {
    rects
        .iter()
        .map(|r| {
            let c = |v: u32, max: usize| (v as usize).min(max);
            [c(r[0], cols), c(r[1], rows), c(r[2], cols), c(r[3], rows)]
        })
        .filter(|r| r[0] < r[2] && r[1] < r[3])
        .collect()
}

/// Fills `rects` (of a `cols`-wide frame, `width` bytes a pixel) with `value`.
fn fill(frame: &mut [u8], cols: usize, width: usize, rects: &[[usize; 4]], value: &[u8]) {
    for r in rects {
        for y in r[1]..r[3] {
            for x in r[0]..r[2] {
                let at = (y * cols + x) * width;
                if let Some(px) = frame.get_mut(at..at + width) {
                    px.copy_from_slice(value);
                }
            }
        }
    }
}

/// Blacks out `rects` (pixel coordinates of a frame, x1 and y1 exclusive) in every frame of
/// `obj` and rewrites its pixel data uncompressed; returns the number of regions applied (none
/// for a file without pixel data).
///
/// # Errors
/// The pixel data cannot be decoded (the reason; never a value), or no region lies in the image.
pub(super) fn clean(obj: &mut DefaultDicomObject, rects: &[[u32; 4]]) -> Result<usize, Problem> {
    if obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_none() {
        // Refused rather than copied with the regions left in.
        return if super::dicom_pixels::has_float_pixels(obj) {
            Err(bad("regions cannot be blacked out of Float Pixel Data"))
        } else {
            Ok(0)
        };
    }
    let syntax = obj.meta().transfer_syntax().trim_end_matches('\0').to_string();
    let (l, mut raw) = decode_raw(obj, &syntax, Layout::of(obj)?)?;
    let rects = clip(rects, l.cols, l.rows);
    if rects.is_empty() {
        return Err(Problem::OutsideImage { cols: l.cols, rows: l.rows });
    }
    let pixels = l.rows * l.cols;
    let frames = raw.len();
    let grey = l.samples == 1 && (l.photometric == "MONOCHROME1" || l.photometric == "MONOCHROME2");
    let (data, vr) = if grey {
        let width = if l.bits_allocated == 1 { 1 } else { l.bits_allocated / 8 };
        for frame in &mut raw {
            let v = samples(frame, &l);
            let darkest = if l.photometric == "MONOCHROME1" { v.iter().max() } else { v.iter().min() };
            let value = darkest.copied().unwrap_or(0).to_le_bytes();
            fill(frame, l.cols, width, &rects, &value[..width]);
        }
        let data = if l.bits_allocated == 1 { pack_bits(&raw, pixels) } else { raw.concat() };
        obj.put(DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(l.bits_allocated as u16)));
        obj.put(DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(l.bits_stored as u16)));
        obj.put(DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(l.bits_stored.saturating_sub(1) as u16)));
        (data, if l.bits_allocated <= 8 { VR::OB } else { VR::OW })
    } else {
        let Frames::Rgb(mut rgb) = convert(obj, &l, raw)? else {
            return Err(bad("colour data decoded as grey"));
        };
        for frame in &mut rgb {
            fill(frame, l.cols, 3, &rects, &[0, 0, 0]);
        }
        for &(g, e) in PALETTE {
            obj.remove_element(Tag(g, e));
        }
        obj.put(DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(3u16)));
        obj.put_str(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB");
        obj.put(DataElement::new(tags::PLANAR_CONFIGURATION, VR::US, PrimitiveValue::from(0u16)));
        obj.put(DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(8u16)));
        obj.put(DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(8u16)));
        obj.put(DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(7u16)));
        obj.put(DataElement::new(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(0u16)));
        (rgb.concat(), VR::OB)
    };
    if frames > 1 {
        obj.put_str(tags::NUMBER_OF_FRAMES, VR::IS, frames.to_string());
    }
    // Offset tables of the encapsulated data no longer apply.
    obj.remove_element(Tag(0x7FE0, 0x0001));
    obj.remove_element(Tag(0x7FE0, 0x0002));
    obj.put(DataElement::new(tags::PIXEL_DATA, vr, PrimitiveValue::from(pad_even(data))));
    obj.update_meta(|m| m.transfer_syntax = EXPLICIT_LE.into());
    Ok(rects.len())
}

/// One-bit frames (one byte a pixel) packed as DICOM packs them: continuous across frames, the
/// first pixel in the lowest bit.
fn pack_bits(frames: &[Vec<u8>], pixels: usize) -> Vec<u8> {
    let bits = frames.iter().flat_map(|f| f.iter().take(pixels));
    let mut out = vec![0u8; (frames.len() * pixels).div_ceil(8)];
    for (i, &b) in bits.enumerate() {
        out[i / 8] |= (b & 1) << (i % 8);
    }
    out
}

fn pad_even(mut v: Vec<u8>) -> Vec<u8> {
    if v.len() % 2 == 1 {
        v.push(0);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_clipped_and_filled() {
        assert_eq!(clip(&[[2, 1, 9, 3], [5, 5, 5, 9], [10, 0, 12, 2]], 4, 3), vec![[2, 1, 4, 3]]);
        let mut f = vec![7u8; 4 * 3 * 2];
        fill(&mut f, 4, 2, &[[2, 1, 4, 3]], &[1, 2]);
        let px = |x: usize, y: usize| [f[(y * 4 + x) * 2], f[(y * 4 + x) * 2 + 1]];
        assert_eq!(px(2, 1), [1, 2]);
        assert_eq!(px(3, 2), [1, 2]);
        assert_eq!(px(1, 1), [7, 7]);
        assert_eq!(px(2, 0), [7, 7]);
    }

    #[test]
    fn one_bit_frames_pack_across_frame_boundaries() {
        let frames = vec![vec![1, 0, 1], vec![1, 1, 0]];
        assert_eq!(pack_bits(&frames, 3), vec![0b0001_1101]);
    }
}
