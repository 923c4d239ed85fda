//! Reading a file that may be gzip-compressed (`.nii.gz`, and `.dcm.gz` as research pipelines and
//! test suites keep DICOM): the bytes as they are, or gunzipped when they start with the gzip
//! magic, with a bound on the unpacked size so that a small bomb cannot fill the memory.

use std::io::Read as _;
use std::path::Path;

/// The most a gzip stream may unpack to.
pub const MAX_UNPACKED: u64 = 4 << 30;

/// True when `bytes` start with the gzip magic.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1F, 0x8B])
}

/// The bytes of `path`, gunzipped when they start with the gzip magic.
///
/// # Errors
/// Why not, in words (the file cannot be read, the stream is broken or unpacks to more than
/// [`MAX_UNPACKED`]).
pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    let raw = std::fs::read(path).map_err(|e| format!("cannot read ({e})"))?;
    if !is_gzip(&raw) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(raw.as_slice())
        .take(MAX_UNPACKED + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("broken gzip stream ({e})"))?;
    if out.len() as u64 > MAX_UNPACKED {
        return Err(format!("the gzip stream unpacks to more than {} GiB", MAX_UNPACKED >> 30));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn plain_and_gzipped_bytes_read_the_same_and_a_broken_stream_is_named() {
        let d = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"DICM body").unwrap();
        let packed = gz.finish().unwrap();
        std::fs::write(d.path().join("a.gz"), &packed).unwrap();
        std::fs::write(d.path().join("b"), b"DICM body").unwrap();
        std::fs::write(d.path().join("c.gz"), &packed[..packed.len() / 2]).unwrap();
        assert_eq!(read(&d.path().join("a.gz")).unwrap(), b"DICM body");
        assert_eq!(read(&d.path().join("b")).unwrap(), b"DICM body");
        assert!(read(&d.path().join("c.gz")).unwrap_err().starts_with("broken gzip stream"));
    }
}
