//! Image files: content hash, size and pixel dimensions (read from the header only), cached per path.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::domain::ImageRef;

/// File extensions treated as images.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

/// True when the path has an image extension.
pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Hex SHA-256 and byte count of a file.
///
/// # Errors
/// I/O errors.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex(&hasher.finalize()), total))
}

/// Lower-case hex encoding.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Inspects image files once each and remembers the result (datasets reuse images across questions).
#[derive(Debug, Default)]
pub struct ImageResolver {
    cache: HashMap<PathBuf, ImageRef>,
}

/// Why an existing image file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable image ({reason}): {path}")]
pub struct BadImage {
    /// What is wrong.
    pub reason: String,
    /// The file.
    pub path: String,
}

impl ImageResolver {
    /// Looks at `path` (absolute). A missing file gives a reference flagged missing; a file that
    /// exists but is not a decodable PNG/JPEG header is an error.
    ///
    /// # Errors
    /// [`BadImage`] for an existing but unreadable file.
    pub fn resolve(&mut self, path: &Path) -> Result<ImageRef, BadImage> {
        let path = crate::util::normalize(path);
        if let Some(r) = self.cache.get(&path) {
            return Ok(r.clone());
        }
        let shown = path.to_string_lossy().into_owned();
        let r = if path.is_file() {
            let bad = |reason: String| BadImage { reason, path: shown.clone() };
            let (sha, bytes) = hash_file(&path).map_err(|e| bad(e.to_string()))?;
            let (w, h) = image::ImageReader::open(&path)
                .and_then(|r| r.with_guessed_format())
                .map_err(|e| bad(e.to_string()))?
                .into_dimensions()
                .map_err(|e| bad(e.to_string()))?;
            ImageRef { path: shown, sha256: Some(sha), bytes: Some(bytes), width: Some(w), height: Some(h) }
        } else {
            ImageRef::missing(shown)
        };
        self.cache.insert(path, r.clone());
        Ok(r)
    }

    /// Number of distinct files looked at.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// True when nothing was looked at yet.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }
}

/// Decodes an image file to interleaved 8-bit RGB (grayscale and alpha are converted, like
/// PIL's `convert("RGB")`). Returns `(pixels, height, width)`.
///
/// # Errors
/// [`BadImage`] naming the file.
pub fn read_rgb(path: &Path) -> Result<(Vec<u8>, usize, usize), BadImage> {
    let shown = path.to_string_lossy().into_owned();
    let img = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| BadImage { reason: e.to_string(), path: shown.clone() })?
        .decode()
        .map_err(|e| BadImage { reason: e.to_string(), path: shown })?
        .to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    Ok((img.into_raw(), h, w))
}
