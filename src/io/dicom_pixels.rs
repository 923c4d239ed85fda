//! DICOM pixel data to values: the stored samples of every frame (1, 8, 16 or 32 bits allocated,
//! any bits stored, signed or not, either planar configuration), through the Modality LUT to grey
//! values, or to 8-bit RGB from RGB, YBR (full, 4:2:2) and palette colour. Uncompressed and RLE
//! data, JPEG-LS ([`super::jpegls`]) and 12-bit JPEG ([`super::jpeg12`]) are decoded here; other
//! JPEG and JPEG 2000 by dicom-pixeldata.
//! Attributes that disagree with the data (a Number of Frames that is not a number, too few
//! bytes) give a reason, never a panic.

use dicom_core::value::PixelFragmentSequence;
use dicom_core::value::Value as DicomValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex as _;
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::PixelDecoder as _;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use super::dicom::Problem;

/// How the samples are laid out.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub rows: usize,
    pub cols: usize,
    pub samples: usize,
    pub bits_allocated: usize,
    pub bits_stored: usize,
    pub signed: bool,
    pub planar: bool,
    pub photometric: String,
    /// Number of Frames when it reads as a positive number.
    pub frames: Option<usize>,
}

/// The decoded frames: grey values after the Modality LUT, or 8-bit RGB.
pub(super) enum Frames {
    Grey(Vec<Vec<f32>>),
    Rgb(Vec<Vec<u8>>),
}

/// Samples of one frame at most (a 16k × 16k grey image): a header claiming more is refused
/// before anything that size is allocated.
pub(super) const MAX_SAMPLES: usize = 1 << 28;

fn int(obj: &DefaultDicomObject, tag: Tag) -> Option<i64> {
    obj.element_opt(tag).ok().flatten()?.to_int::<i64>().ok()
}

pub(super) fn bad(why: impl Into<String>) -> Problem {
    Problem::BadPixels(why.into())
}

impl Layout {
    pub(super) fn of(obj: &DefaultDicomObject) -> Result<Self, Problem> {
        let need = |tag, name: &'static str| {
            int(obj, tag).filter(|&v| v > 0).map(|v| v as usize).ok_or(Problem::MissingAttribute(name))
        };
        let rows = need(tags::ROWS, "Rows")?;
        let cols = need(tags::COLUMNS, "Columns")?;
        let bits_allocated = need(tags::BITS_ALLOCATED, "BitsAllocated")?;
        if ![1, 8, 16, 32].contains(&bits_allocated) {
            return Err(bad(format!("{bits_allocated} bits allocated (1, 8, 16 or 32 are read)")));
        }
        let samples = int(obj, tags::SAMPLES_PER_PIXEL).filter(|&s| s == 1 || s == 3).unwrap_or(1) as usize;
        if rows * cols * samples > MAX_SAMPLES {
            return Err(bad(format!("{cols}×{rows}×{samples} samples a frame, more than the {MAX_SAMPLES} read")));
        }
        let bits_stored =
            int(obj, tags::BITS_STORED).filter(|&b| b > 0).map_or(bits_allocated, |b| (b as usize).min(bits_allocated));
        let photometric = obj
            .element_opt(tags::PHOTOMETRIC_INTERPRETATION)
            .ok()
            .flatten()
            .and_then(|e| e.to_str().ok().map(|s| s.trim().to_uppercase()))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| if samples == 1 { "MONOCHROME2".into() } else { "RGB".into() });
        Ok(Layout {
            rows,
            cols,
            samples,
            bits_allocated,
            bits_stored,
            signed: int(obj, tags::PIXEL_REPRESENTATION) == Some(1),
            planar: samples > 1 && int(obj, tags::PLANAR_CONFIGURATION) == Some(1),
            photometric,
            frames: int(obj, tags::NUMBER_OF_FRAMES).filter(|&n| n > 0).map(|n| n as usize),
        })
    }

    /// Bytes of one uncompressed frame (4:2:2 keeps two samples a pixel).
    fn frame_bytes(&self) -> usize {
        let samples = if self.photometric == "YBR_FULL_422" { 2 } else { self.samples };
        (self.rows * self.cols * samples * self.bits_allocated).div_ceil(8)
    }
}

/// Decodes every frame of `obj`'s pixel data, laid out as `layout` ([`Layout::of`]) says.
pub(super) fn decode(obj: &DefaultDicomObject, syntax: &str, layout: Layout) -> Result<Frames, Problem> {
    let (layout, raw) = decode_raw(obj, syntax, layout)?;
    convert(obj, &layout, raw)
}

/// Every frame's stored samples, uncompressed: little endian, `bits_allocated` wide (1-bit data
/// one byte a pixel), colour interleaved by pixel unless `planar`; the layout returned says how
/// the codecs left them.
pub(super) fn decode_raw(
    obj: &DefaultDicomObject,
    syntax: &str,
    mut layout: Layout,
) -> Result<(Layout, Vec<Vec<u8>>), Problem> {
    let pixel = obj.element_opt(tags::PIXEL_DATA).ok().flatten().ok_or(Problem::MissingAttribute("PixelData"))?;
    let encapsulated = TransferSyntaxRegistry.get(syntax).is_some_and(|ts| ts.is_encapsulated_pixel_data());
    if let (true, DicomValue::Primitive(p)) = (encapsulated, pixel.value()) {
        // Fragments under a defined length (GDCM's JPEGDefinedLengthSequenceOfFragments): read
        // as the sequence they are.
        let fragments =
            items(&p.to_bytes()).ok_or_else(|| bad("compressed pixel data that is not a sequence of fragments"))?;
        let mut obj = obj.clone();
        let seq = PixelFragmentSequence::new(Vec::<u32>::new(), fragments);
        obj.put(DataElement::new(tags::PIXEL_DATA, VR::OB, DicomValue::PixelSequence(seq)));
        return decode_raw(&obj, syntax, layout);
    }
    let raw: Vec<Vec<u8>> = match (syntax, pixel.value()) {
        ("1.2.840.10008.1.2.5", DicomValue::PixelSequence(seq)) => {
            let frames = frame_fragments(seq.fragments(), layout.frames)?;
            let out = frames.iter().map(|f| rle(f, &layout)).collect::<Result<Vec<_>, _>>()?;
            // RLE keeps one segment a sample whatever Planar Configuration says (GDCM writes 1);
            // the decoder interleaves them by pixel.
            layout.planar = false;
            out
        }
        ("1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81", DicomValue::PixelSequence(seq)) => {
            let frames = frame_fragments(seq.fragments(), layout.frames)?;
            let out = frames.iter().map(|f| super::jpegls::decode(f, &layout)).collect::<Result<Vec<_>, _>>()?;
            // The codec leaves colour interleaved by pixel and YBR as stored.
            layout.planar = false;
            out
        }
        ("1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51", DicomValue::PixelSequence(seq))
            if layout.samples == 3
                && layout.photometric == "RGB"
                && seq.fragments().first().is_some_and(|f| super::dicom_jpeg::stored_as_rgb(f)) =>
        {
            let frames = frame_fragments(seq.fragments(), layout.frames)?;
            layout.planar = false;
            frames.iter().map(|f| super::dicom_jpeg::decode_rgb(f)).collect::<Result<_, _>>()?
        }
        ("1.2.840.10008.1.2.4.51", DicomValue::PixelSequence(seq))
            if layout.samples == 1 && seq.fragments().first().is_some_and(|f| super::jpeg12::is_12_bit(f)) =>
        {
            let frames = frame_fragments(seq.fragments(), layout.frames)?;
            layout.bits_allocated = 16;
            layout.bits_stored = layout.bits_stored.min(16);
            frames.iter().map(|f| super::jpeg12::decode(f)).collect::<Result<_, _>>()?
        }
        (_, DicomValue::Primitive(p)) => {
            let bytes = p.to_bytes();
            let big_words = syntax == "1.2.840.10008.1.2.2" && layout.bits_allocated == 32;
            native_frames(&bytes, &layout, big_words)?
        }
        (_, DicomValue::PixelSequence(seq)) => {
            if let Some(first) = seq.fragments().iter().find(|f| !f.is_empty()) {
                check_codestream(syntax, first, &layout)?;
            }
            let decoded = obj.decode_pixel_data().map_err(|e| bad(super::dicom_open::reason(&e)))?;
            layout.bits_allocated = usize::from(decoded.bits_allocated());
            layout.bits_stored = usize::from(decoded.bits_stored()).min(layout.bits_allocated);
            layout.planar = false;
            if layout.samples == 3 {
                layout.photometric = "RGB".into();
            }
            let n = decoded.number_of_frames();
            (0..n)
                .map(|f| decoded.frame_data(f).map(<[u8]>::to_vec).map_err(|e| bad(super::dicom_open::reason(&e))))
                .collect::<Result<_, _>>()?
        }
        (_, DicomValue::Sequence(_)) => return Err(bad("the pixel data element is a sequence")),
    };
    Ok((layout, raw))
}

/// The Float (32-bit) or Double Float (64-bit) Pixel Data element, with its sample width in bytes.
fn float_element(obj: &DefaultDicomObject) -> Option<(&dicom_object::mem::InMemElement, usize)> {
    [(tags::FLOAT_PIXEL_DATA, 4), (tags::DOUBLE_FLOAT_PIXEL_DATA, 8)]
        .into_iter()
        .find_map(|(tag, width)| obj.element_opt(tag).ok().flatten().map(|e| (e, width)))
}

/// Whether the data set holds Float or Double Float Pixel Data.
pub(super) fn has_float_pixels(obj: &DefaultDicomObject) -> bool {
    float_element(obj).is_some()
}

/// Rows, columns and the frames' values.
pub(super) type FloatFrames = (usize, usize, Vec<Vec<f32>>);

/// The frames of Float Pixel Data (32-bit) or Double Float Pixel Data (64-bit), as parametric maps
/// store them: `None` when the data set has neither.
pub(super) fn float_frames(obj: &DefaultDicomObject) -> Result<Option<FloatFrames>, Problem> {
    let Some((element, width)) = float_element(obj) else { return Ok(None) };
    let need = |tag, name: &'static str| {
        int(obj, tag).filter(|&v| v > 0).map(|v| v as usize).ok_or(Problem::MissingAttribute(name))
    };
    let (rows, cols) = (need(tags::ROWS, "Rows")?, need(tags::COLUMNS, "Columns")?);
    if rows * cols > MAX_SAMPLES {
        return Err(bad(format!("{cols}×{rows} samples a frame, more than the {MAX_SAMPLES} read")));
    }
    let bytes = element.to_bytes().map_err(|e| bad(super::dicom_open::reason(&e)))?;
    let values: Vec<f32> = if width == 4 {
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    } else {
        bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect()
    };
    let frames = int(obj, tags::NUMBER_OF_FRAMES).filter(|&n| n > 0).map_or(1, |n| n as usize);
    if values.len() < rows * cols * frames {
        return Err(bad(format!(
            "{} float values; {frames} frame(s) of {cols}×{rows} need {}",
            values.len(),
            rows * cols * frames
        )));
    }
    Ok(Some((rows, cols, values.chunks_exact(rows * cols).take(frames).map(<[f32]>::to_vec).collect())))
}

/// A JPEG or JPEG 2000 frame that does not begin as one, or a JPEG 2000 frame of another size
/// than the header's, is named here rather than by the codec (openjpeg's message is "Null pointer").
fn check_codestream(syntax: &str, first: &[u8], l: &Layout) -> Result<(), Problem> {
    let j2k = syntax.starts_with("1.2.840.10008.1.2.4.9");
    let jpeg = ["50", "51", "57", "70"].iter().any(|s| syntax == format!("1.2.840.10008.1.2.4.{s}"));
    let starts = |m: &[u8]| first.starts_with(m);
    let ok = if j2k {
        starts(&[0xFF, 0x4F, 0xFF, 0x51]) || starts(&[0, 0, 0, 0x0C, b'j', b'P', b' ', b' '])
    } else if jpeg {
        starts(&[0xFF, 0xD8])
    } else {
        true
    };
    if ok && j2k && starts(&[0xFF, 0x4F, 0xFF, 0x51]) {
        // The SIZ segment follows SOC: the image's extent is Xsiz − XOsiz by Ysiz − YOsiz.
        let word = |at: usize| first.get(at..at + 4).map(|b| u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])));
        let (Some(x), Some(y), Some(x0), Some(y0)) = (word(8), word(12), word(16), word(20)) else {
            return Err(bad(String::from("the first frame ends inside its JPEG 2000 header")));
        };
        let (w, h) = (x.saturating_sub(x0), y.saturating_sub(y0));
        if (w, h) != (l.cols as u64, l.rows as u64) {
            return Err(bad(format!(
                "the first frame's JPEG 2000 header says {w}×{h} pixels, the DICOM header {}×{}",
                l.cols, l.rows
            )));
        }
    }
    if ok {
        return Ok(());
    }
    let head: Vec<String> = first.iter().take(4).map(|b| format!("{b:02X}")).collect();
    let kind = if j2k { "JPEG 2000 codestream" } else { "JPEG stream" };
    Err(bad(format!("the first frame is not a {kind} (it begins {})", head.join(" "))))
}

/// The fragments in `bytes` (items, the first being the offset table), as an encapsulated Pixel
/// Data element of undefined length holds them; `None` when the bytes are not items.
fn items(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let (tag, len) = (word(at), word(at + 4) as usize);
        match tag {
            0xE000_FFFE => {
                let data = bytes.get(at + 8..at + 8 + len)?;
                out.push(data.to_vec());
                at += 8 + len;
            }
            0xE0DD_FFFE => break,
            _ => return None,
        }
    }
    // The first item is the Basic Offset Table.
    (out.len() > 1).then(|| out.split_off(1))
}

/// The fragments of each frame: one each, or all of them for a single frame.
fn frame_fragments(fragments: &[Vec<u8>], frames: Option<usize>) -> Result<Vec<Vec<u8>>, Problem> {
    let frames = frames.unwrap_or(1);
    if fragments.len() == frames {
        Ok(fragments.to_vec())
    } else if frames == 1 && !fragments.is_empty() {
        Ok(vec![fragments.concat()])
    } else {
        Err(bad(format!("{} fragments for {frames} frames", fragments.len())))
    }
}

/// Splits uncompressed data into frames. A Number of Frames that is missing or not a number is
/// taken from the data's length; too few bytes for the frames named is an error.
fn native_frames(bytes: &[u8], l: &Layout, big_words: bool) -> Result<Vec<Vec<u8>>, Problem> {
    let per = l.frame_bytes();
    let frames = l.frames.unwrap_or_else(|| (bytes.len() / per.max(1)).max(1));
    if l.bits_allocated == 1 {
        let bits = l.rows * l.cols * l.samples;
        if bytes.len() * 8 < bits * frames {
            return Err(bad(format!(
                "{} bytes of pixel data; {frames} frame(s) of 1-bit pixels need {}",
                bytes.len(),
                (bits * frames).div_ceil(8)
            )));
        }
        let unpacked = (0..bits * frames).map(|i| (bytes[i / 8] >> (i % 8)) & 1).collect::<Vec<u8>>();
        return Ok(unpacked.chunks(bits).map(<[u8]>::to_vec).collect());
    }
    if bytes.len() < per * frames {
        return Err(bad(format!(
            "{} bytes of pixel data; {frames} frame(s) of {}×{} need {}",
            bytes.len(),
            l.cols,
            l.rows,
            per * frames
        )));
    }
    Ok(bytes[..per * frames]
        .chunks(per)
        .map(|f| {
            if big_words {
                // Big endian 32-bit data was read as 16-bit words: put the high word first.
                f.chunks_exact(4).flat_map(|w| [w[2], w[3], w[0], w[1]]).collect()
            } else {
                f.to_vec()
            }
        })
        .collect())
}

/// One RLE frame (PS3.5 G): a header of segment offsets, one PackBits segment per byte plane,
/// most significant first, sample by sample. Returns the frame little endian, pixel-interleaved.
fn rle(data: &[u8], l: &Layout) -> Result<Vec<u8>, Problem> {
    let word = |i: usize| data.get(i * 4..i * 4 + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let bytes_per = l.bits_allocated / 8;
    let segments = word(0).ok_or_else(|| bad("an RLE frame without a header"))?;
    if bytes_per == 0 || segments != bytes_per * l.samples || segments > 15 {
        return Err(bad(format!("{segments} RLE segments for {} samples of {} bits", l.samples, l.bits_allocated)));
    }
    let pixels = l.rows * l.cols;
    let mut out = vec![0u8; pixels * l.samples * bytes_per];
    for seg in 0..segments {
        let start = word(seg + 1).unwrap_or(0);
        let end = if seg + 1 < segments { word(seg + 2).unwrap_or(data.len()) } else { data.len() };
        let plane = packbits(data.get(start..end.min(data.len())).unwrap_or_default(), pixels);
        if plane.len() < pixels {
            return Err(bad(format!("RLE segment {} holds {} of {pixels} pixels", seg + 1, plane.len())));
        }
        let (sample, byte) = (seg / bytes_per, bytes_per - 1 - seg % bytes_per);
        for (p, &v) in plane.iter().take(pixels).enumerate() {
            out[(p * l.samples + sample) * bytes_per + byte] = v;
        }
    }
    Ok(out)
}

fn packbits(src: &[u8], want: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(want);
    let mut i = 0;
    while i < src.len() && out.len() < want {
        let n = src[i] as i8;
        i += 1;
        if n >= 0 {
            let end = (i + n as usize + 1).min(src.len());
            out.extend_from_slice(&src[i..end]);
            i = end;
        } else if n != -128 {
            if let Some(&b) = src.get(i) {
                out.extend(std::iter::repeat_n(b, (1 - i32::from(n)) as usize));
            }
            i += 1;
        }
    }
    out
}

/// Stored samples (little endian) as integers, masked to the bits stored and sign-extended.
pub(super) fn samples(frame: &[u8], l: &Layout) -> Vec<i64> {
    let raw: Vec<u64> = match l.bits_allocated {
        1 | 8 => frame.iter().map(|&b| u64::from(b)).collect(),
        16 => frame.chunks_exact(2).map(|b| u64::from(u16::from_le_bytes([b[0], b[1]]))).collect(),
        _ => frame.chunks_exact(4).map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect(),
    };
    let bits = l.bits_stored.clamp(1, 32) as u32;
    let mask = (1u64 << bits) - 1;
    raw.into_iter()
        .map(|v| {
            let v = v & mask;
            if l.signed && v >> (bits - 1) & 1 == 1 { v as i64 - (1i64 << bits) } else { v as i64 }
        })
        .collect()
}

/// Rescale slope and intercept of frame `f`: the data set's, else the enhanced multi-frame
/// functional groups' (shared, then per frame); `None` when the file gives none.
fn rescale(obj: &DefaultDicomObject, f: usize) -> Option<(f64, f64)> {
    let pair = |o: &dicom_object::InMemDicomObject| {
        let get = |t| o.element_opt(t).ok().flatten().and_then(|e| e.to_float64().ok()).filter(|v| v.is_finite());
        get(tags::RESCALE_SLOPE).map(|s| (s, get(tags::RESCALE_INTERCEPT).unwrap_or(0.0)))
    };
    let group = |seq: Tag, index: usize| {
        let item = obj.element_opt(seq).ok().flatten()?.items()?.get(index)?;
        item.element_opt(tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE).ok().flatten()?.items()?.first().and_then(pair)
    };
    pair(obj)
        .or_else(|| group(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, 0))
        .or_else(|| group(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, f))
        .filter(|(s, _)| *s != 0.0)
}

pub(super) fn convert(obj: &DefaultDicomObject, l: &Layout, raw: Vec<Vec<u8>>) -> Result<Frames, Problem> {
    let pixels = l.rows * l.cols;
    match (l.samples, l.photometric.as_str()) {
        (1, "MONOCHROME1" | "MONOCHROME2") => {
            let mut grey = Vec::with_capacity(raw.len());
            // A Modality LUT Sequence where no frame rescales linearly.
            let lut = if rescale(obj, 0).is_none() { super::dicom_lut::ModalityLut::of(obj, l.signed) } else { None };
            for (f, frame) in raw.iter().enumerate() {
                let v = samples(frame, l);
                if v.len() < pixels {
                    return Err(bad(format!("frame {} holds {} of {pixels} pixels", f + 1, v.len())));
                }
                if let Some(lut) = &lut {
                    grey.push(v[..pixels].iter().map(|&x| lut.apply(x)).collect());
                    continue;
                }
                let (slope, intercept) = rescale(obj, f).unwrap_or((1.0, 0.0));
                grey.push(v[..pixels].iter().map(|&x| (x as f64 * slope + intercept) as f32).collect());
            }
            Ok(Frames::Grey(grey))
        }
        (1, "PALETTE COLOR") => {
            let lut = super::dicom_palette::Palette::of(obj)?;
            Ok(Frames::Rgb(raw.iter().map(|frame| lut.apply(&samples(frame, l), pixels)).collect()))
        }
        (3, p) if p == "RGB" || p.starts_with("YBR_FULL") => {
            let shift = l.bits_stored.saturating_sub(8) as u32;
            let mut rgb = Vec::with_capacity(raw.len());
            for (f, frame) in raw.iter().enumerate() {
                let v: Vec<u8> = samples(frame, l).into_iter().map(|x| (x.max(0) >> shift).min(255) as u8).collect();
                let v = if p == "YBR_FULL_422" { upsample_422(&v, l)? } else { v };
                if v.len() < pixels * 3 {
                    return Err(bad(format!("frame {} holds {} of {} samples", f + 1, v.len(), pixels * 3)));
                }
                let v = if l.planar { interleave(&v[..pixels * 3], pixels) } else { v[..pixels * 3].to_vec() };
                rgb.push(if p.starts_with("YBR_FULL") { ybr_to_rgb(&v) } else { v });
            }
            Ok(Frames::Rgb(rgb))
        }
        (_, p) => Err(Problem::Photometric(p.to_string())),
    }
}

/// `RRR…GGG…BBB…` to `RGBRGB…`.
fn interleave(planar: &[u8], pixels: usize) -> Vec<u8> {
    (0..pixels).flat_map(|p| [planar[p], planar[pixels + p], planar[2 * pixels + p]]).collect()
}

/// YBR_FULL_422 as stored (`Y1 Y2 Cb Cr` per pair of pixels in a row) to full YBR.
fn upsample_422(v: &[u8], l: &Layout) -> Result<Vec<u8>, Problem> {
    let need = l.rows * l.cols * 2;
    if v.len() < need || l.cols % 2 == 1 {
        return Err(bad(format!("YBR_FULL_422 data of {} bytes for {}×{}", v.len(), l.cols, l.rows)));
    }
    Ok(v[..need].chunks_exact(4).flat_map(|q| [q[0], q[2], q[3], q[1], q[2], q[3]]).collect())
}

/// Full-range YCbCr to RGB, ITU-R BT.601 (PS3.3 C.7.6.3.1.2).
pub(super) fn ybr_to_rgb(ybr: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ybr.len());
    for p in ybr.chunks_exact(3) {
        let (y, cb, cr) = (f32::from(p[0]), f32::from(p[1]) - 128.0, f32::from(p[2]) - 128.0);
        for v in [y + 1.402 * cr, y - 0.344_136 * cb - 0.714_136 * cr, y + 1.772 * cb] {
            out.push(v.round().clamp(0.0, 255.0) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(bits_allocated: usize, bits_stored: usize, signed: bool) -> Layout {
        Layout {
            rows: 1,
            cols: 2,
            samples: 1,
            bits_allocated,
            bits_stored,
            signed,
            planar: false,
            photometric: "MONOCHROME2".into(),
            frames: None,
        }
    }

    #[test]
    fn stored_bits_are_masked_and_sign_extended() {
        // 12 bits stored in 16: the high nibble is an overlay or garbage.
        assert_eq!(samples(&[0xFF, 0xFF, 0x01, 0xF0], &layout(16, 12, true)), vec![-1, 1]);
        assert_eq!(samples(&[0xFF, 0xFF, 0x01, 0xF0], &layout(16, 12, false)), vec![4095, 1]);
        assert_eq!(samples(&[0, 0, 0, 0x80], &layout(32, 32, true)), vec![-(1i64 << 31)]);
    }

    #[test]
    fn packbits_runs_and_literals() {
        // A literal of 2, a run of 3, a no-op.
        assert_eq!(packbits(&[1, 7, 8, 0xFE, 9, 0x80], 10), vec![7, 8, 9, 9, 9]);
    }

    #[test]
    fn a_missing_number_of_frames_is_taken_from_the_length() {
        let l = layout(8, 8, false);
        assert_eq!(native_frames(&[1, 2, 3, 4, 5], &l, false).map(|f| f.len()).ok(), Some(2));
        assert!(matches!(native_frames(&[1], &l, false), Err(Problem::BadPixels(_))));
    }
}
