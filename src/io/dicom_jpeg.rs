//! RGB JPEG frames stored without a colour transform. A JPEG decoder takes three components as
//! YCbCr unless a marker says otherwise; a DICOM file whose header says RGB and whose stream has
//! no JFIF segment, no complete Adobe segment and component identifiers other than 1, 2, 3 (or
//! `R`, `G`, `B`) holds its RGB samples as they are, which is how pydicom reads such files.

use super::dicom::Problem;

/// True when the three-component stream `frame` gives no sign of YCbCr.
pub(super) fn stored_as_rgb(frame: &[u8]) -> bool {
    let mut at = 2;
    let (mut jfif, mut adobe, mut ids) = (false, false, Vec::new());
    while let (Some(&0xFF), Some(&marker)) = (frame.get(at), frame.get(at + 1)) {
        let Some(len) = frame.get(at + 2..at + 4).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else { break };
        let seg = frame.get(at + 4..at + 2 + len).unwrap_or_default();
        match marker {
            0xE0 => jfif |= seg.starts_with(b"JFIF\0"),
            0xEE => adobe |= seg.starts_with(b"Adobe") && seg.len() >= 12,
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                let n = usize::from(*seg.get(5).unwrap_or(&0));
                ids = (0..n).filter_map(|c| seg.get(6 + 3 * c).copied()).collect();
            }
            0xDA => break,
            _ => {}
        }
        at += 2 + len;
    }
    ids.len() == 3 && !jfif && !adobe && ids != [1, 2, 3] && ids != [b'R', b'G', b'B']
}

/// Decodes an RGB frame without a colour transform.
pub(super) fn decode_rgb(frame: &[u8]) -> Result<Vec<u8>, Problem> {
    let mut decoder = jpeg_decoder::Decoder::new(frame);
    decoder.set_color_transform(jpeg_decoder::ColorTransform::None);
    decoder.decode().map_err(|e| Problem::BadPixels(format!("JPEG: {e}")))
}
