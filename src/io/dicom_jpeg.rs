//! RGB JPEG frames stored without a colour transform. A JPEG decoder takes three components as
//! YCbCr unless a marker says otherwise; a DICOM file whose header says RGB and whose stream has
//! no JFIF segment, no complete Adobe segment and component identifiers other than 1, 2, 3 (or
//! `R`, `G`, `B`) holds its RGB samples as they are, which is how pydicom reads such files.

use super::dicom::Problem;

/// True when the three-component stream `frame` gives no sign of YCbCr.
pub(super) fn stored_as_rgb(frame: &[u8]) -> bool {
    let (mut jfif, mut adobe, mut ids) = (false, false, Vec::new());
    for (marker, seg) in segments(frame) {
        match marker {
            0xE0 => jfif |= seg.starts_with(b"JFIF\0"),
            0xEE => adobe |= seg.starts_with(b"Adobe") && seg.len() >= 12,
            m if is_frame_header(m) => {
                let n = usize::from(*seg.get(5).unwrap_or(&0));
                ids = (0..n).filter_map(|c| seg.get(6 + 3 * c).copied()).collect();
            }
            _ => {}
        }
    }
    ids.len() == 3 && !jfif && !adobe && ids != [1, 2, 3] && ids != [b'R', b'G', b'B']
}

/// The marker segments of a JPEG stream before its first scan: (marker, payload).
pub(super) fn segments(data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut at = 2;
    std::iter::from_fn(move || {
        let (&0xFF, &m) = (data.get(at)?, data.get(at + 1)?) else { return None };
        if m == 0xD9 || m == 0xDA {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([*data.get(at + 2)?, *data.get(at + 3)?]));
        let seg = data.get(at + 4..at + 2 + len)?;
        at += 2 + len;
        Some((m, seg))
    })
}

/// A start-of-frame marker (SOF0–SOF15 but DHT, JPG and DAC).
pub(super) fn is_frame_header(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF)
}

/// Decodes an RGB frame without a colour transform.
pub(super) fn decode_rgb(frame: &[u8]) -> Result<Vec<u8>, Problem> {
    let mut decoder = jpeg_decoder::Decoder::new(frame);
    decoder.set_color_transform(jpeg_decoder::ColorTransform::None);
    decoder.decode().map_err(|e| Problem::BadPixels(format!("JPEG: {e}")))
}
