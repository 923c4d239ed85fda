//! Image files: what their first bytes say they are, whether they decode in full, content hash,
//! size and pixel dimensions, cached per path; reading only inside the data folder unless allowed.

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

/// The kind of scan a file's name says it is (`.dcm`, `.dicom`, `.ima`, `.dcm.gz`: DICOM; `.nii`,
/// `.nii.gz`, `.hdr`, `.img`: NIfTI or Analyze), whatever its bytes.
fn scan_kind_by_name(path: &Path) -> Option<FileKind> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let ends = |xs: &[&str]| xs.iter().any(|x| name.ends_with(x));
    if ends(&[".dcm", ".dicom", ".ima", ".dcm.gz"]) {
        Some(FileKind::Dicom)
    } else if ends(&[".nii", ".nii.gz", ".hdr", ".img"]) {
        Some(FileKind::Nifti)
    } else {
        None
    }
}

/// [`sniff`], but a file whose bytes are not recognised and whose name says scan is taken as
/// that scan: a damaged scan then goes to its reader, which names what is wrong, rather than
/// being passed over or taken for a dataset file.
///
/// # Errors
/// I/O errors.
pub fn sniff_or_name(path: &Path) -> std::io::Result<FileKind> {
    Ok(match sniff(path)? {
        FileKind::Other => scan_kind_by_name(path).unwrap_or(FileKind::Other),
        kind => kind,
    })
}

/// The kind of a scan file ([`sniff_or_name`]); `None` for anything else, or a file that cannot
/// be read.
pub fn scan_kind(path: &Path) -> Option<FileKind> {
    sniff_or_name(path).ok().filter(|k| matches!(k, FileKind::Dicom | FileKind::Nifti))
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

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// PNG signature.
    Png,
    /// JPEG start-of-image marker.
    Jpeg,
    /// `DICM` at byte 128, a `.dcm.gz`, or a DICOM file that is not Part 10 (no preamble, no meta
    /// group: read as pydicom reads it with `force`).
    Dicom,
    /// NIfTI-1 / NIfTI-2 magic, a gzip file named `.nii.gz`, an Analyze 7.5 `.hdr`, or the `.img`
    /// of a pair whose header is beside it.
    Nifti,
    /// Anything else.
    Other,
}

/// Reads at most the first 352 bytes of `path` and tells its kind (never reads the rest).
///
/// # Errors
/// I/O errors.
pub fn sniff(path: &Path) -> std::io::Result<FileKind> {
    let mut head = Vec::with_capacity(352);
    std::fs::File::open(path)?.take(352).read_to_end(&mut head)?;
    let name = path.to_string_lossy().to_ascii_lowercase();
    Ok(if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        FileKind::Png
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        FileKind::Jpeg
    } else if head.get(128..132) == Some(b"DICM")
        || (super::gz::is_gzip(&head) && name.ends_with(".dcm.gz"))
        || super::dicom_open::looks_bare(&head)
    {
        FileKind::Dicom
    } else if matches!(head.get(344..348), Some(b"n+1\0" | b"ni1\0"))
        || matches!(head.get(4..8), Some(b"n+2\0" | b"ni2\0"))
        || (super::gz::is_gzip(&head) && name.ends_with(".nii.gz"))
        || (name.ends_with(".hdr") && super::nifti::is_analyze(&head))
        || super::nifti::pair_header(path).is_some()
    {
        FileKind::Nifti
    } else {
        FileKind::Other
    })
}

/// The message for DICOM and NIfTI files given where only a dataset file or folder is expected.
pub const SCAN_NOT_A_DATASET: &str = "a DICOM/NIfTI scan, not a dataset file of this format: import it with the folder format (which `auto` picks), or name it in the `image` column of a manifest";

/// Why a PNG/JPEG file cannot be used, found by decoding all of it (and, for JPEG, by its
/// end-of-image marker: a truncated JPEG still decodes, with the missing part grey).
pub fn verify_decodes(path: &Path, kind: &FileKind) -> Result<(u32, u32), String> {
    decode_checked(path, kind).map(|img| (img.width(), img.height()))
}

/// The decoded image, checked as [`verify_decodes`] says.
fn decode_checked(path: &Path, kind: &FileKind) -> Result<image::DynamicImage, String> {
    let img = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| format!("does not decode ({e})"))?;
    if *kind == FileKind::Jpeg {
        let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let len = f.metadata().map_err(|e| e.to_string())?.len();
        let tail_len = len.min(4096);
        use std::io::Seek as _;
        f.seek(std::io::SeekFrom::Start(len - tail_len)).map_err(|e| e.to_string())?;
        let mut tail = Vec::new();
        f.read_to_end(&mut tail).map_err(|e| e.to_string())?;
        if !tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
            return Err("truncated JPEG (no end-of-image marker)".into());
        }
    }
    Ok(img)
}

/// Inspects image files once each and remembers the result (datasets reuse images across questions).
/// Paths outside the data folder ([`ImageResolver::set_root`]) are refused before anything is
/// read from them, unless allowed; a file is hashed only once its first bytes say it is a PNG or JPEG.
#[derive(Debug, Default)]
pub struct ImageResolver {
    cache: HashMap<PathBuf, ImageRef>,
    root: Option<PathBuf>,
    allow_outside: bool,
    /// Where DICOM renderings go (the project's `dicom-renders/`); `None`: DICOM is refused.
    renders: Option<PathBuf>,
    /// What each rendering came from, by the rendering's path as stored in its [`ImageRef`].
    scans: HashMap<String, Scan>,
    /// Lines of burned-in text found in a PNG/JPEG or a DICOM rendering ([`crate::imaging::text`]),
    /// by its path as stored in its [`ImageRef`].
    text: HashMap<String, Vec<[u32; 4]>>,
    /// Where image bytes embedded in a Parquet file are written (the project's `embedded-images/`).
    embedded: Option<PathBuf>,
}

/// A DICOM or NIfTI file an item's image was rendered from.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The file (absolute; kept in the project for the viewer, never exported).
    pub source: PathBuf,
    /// How it was rendered.
    pub rendered: Rendering,
}

/// A rendering's provenance by format.
#[derive(Debug, Clone)]
pub enum Rendering {
    /// A DICOM frame.
    Dicom(super::dicom::Rendered),
    /// A NIfTI slice.
    Nifti(super::nifti::Rendered),
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
    /// A resolver that accepts images anywhere (`--allow-outside`) or only under each input's folder.
    pub fn new(allow_outside: bool) -> Self {
        Self { allow_outside, ..Self::default() }
    }

    /// The data folder of the input being parsed: images must be inside it unless allowed.
    pub fn set_root(&mut self, dir: &Path) {
        let dir = crate::util::absolute(dir);
        self.root = Some(std::fs::canonicalize(&dir).unwrap_or(dir));
    }

    /// Renders DICOM files into `dir` (the project's `dicom-renders/`) instead of refusing them.
    pub fn set_render_dir(&mut self, dir: &Path) {
        self.renders = Some(dir.to_path_buf());
    }

    /// Writes image bytes embedded in an input (Parquet) into `dir`, named by content hash.
    pub fn set_embed_dir(&mut self, dir: &Path) {
        self.embedded = Some(dir.to_path_buf());
    }

    /// Keeps embedded image `bytes` as `<embed dir>/<sha256>.<png|jpg>` (written once; identical
    /// images share a file) and inspects it like a file on disk. `shown` names the bytes in errors
    /// (`file.parquet[row 3] images[0]`).
    ///
    /// # Errors
    /// [`BadImage`] when the bytes are not a PNG or JPEG, or no folder was set, or writing fails.
    pub fn store_embedded(&mut self, bytes: &[u8], shown: &str) -> Result<ImageRef, BadImage> {
        let bad = |reason: String| BadImage { reason, path: shown.to_string() };
        let dir = self.embedded.clone().ok_or_else(|| bad("embedded images need a project folder".into()))?;
        let (kind, ext) = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            (FileKind::Png, "png")
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            (FileKind::Jpeg, "jpg")
        } else if bytes.is_empty() {
            return Err(bad("embedded image bytes are empty".into()));
        } else {
            return Err(bad("embedded bytes are not a PNG or JPEG image".into()));
        };
        let sha = hex(&Sha256::digest(bytes));
        let path = crate::util::normalize(&crate::util::absolute(&dir.join(format!("{sha}.{ext}"))));
        if let Some(r) = self.cache.get(&path) {
            return Ok(r.clone());
        }
        if !path.is_file() {
            let io = |e: std::io::Error| bad(format!("cannot write it to {} ({e})", dir.display()));
            std::fs::create_dir_all(&dir).map_err(io)?;
            let tmp = path.with_extension(format!("{ext}.part"));
            std::fs::write(&tmp, bytes).map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
        }
        let (r, text) = inspect(&path, &kind, sha, bytes.len() as u64);
        self.keep_text(&r, text);
        self.cache.insert(path, r.clone());
        Ok(r)
    }

    /// The boxes of burned-in text found in the image at `stored` (an [`ImageRef::path`]).
    pub fn text_found(&self, stored: &str) -> &[[u32; 4]] {
        self.text.get(stored).map_or(&[], Vec::as_slice)
    }

    /// Where the image at `stored` (an [`ImageRef::path`]) was rendered from, if it is a DICOM or
    /// NIfTI rendering.
    pub fn scan_source(&self, stored: &str) -> Option<&Scan> {
        self.scans.get(stored)
    }

    fn outside(&self, path: &Path) -> Option<String> {
        let root = self.root.as_ref().filter(|_| !self.allow_outside)?;
        // Symbolic links count where they point.
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        (!real.starts_with(root)).then(|| {
            format!(
                "outside the data folder {} (images are read only from the manifest's folder; use --allow-outside to import it)",
                root.display()
            )
        })
    }

    /// Looks at `path` (absolute). A missing file gives a reference flagged missing; a PNG/JPEG that
    /// does not decode gives one flagged unreadable with the reason (jobs skip it and say so).
    ///
    /// # Errors
    /// [`BadImage`] for a file outside the data folder, or one that is not a PNG or JPEG at all.
    pub fn resolve(&mut self, path: &Path) -> Result<ImageRef, BadImage> {
        let path = crate::util::normalize(path);
        if let Some(r) = self.cache.get(&path) {
            return Ok(r.clone());
        }
        let shown = path.to_string_lossy().into_owned();
        let bad = |reason: String| BadImage { reason, path: shown.clone() };
        if let Some(reason) = self.outside(&path) {
            return Err(bad(reason));
        }
        let r = if path.exists() {
            if !path.is_file() {
                return Err(bad("not a regular file".into()));
            }
            let kind = sniff_or_name(&path).map_err(|e| bad(e.to_string()))?;
            match (&kind, &self.renders) {
                (FileKind::Png | FileKind::Jpeg, _) => {}
                (FileKind::Dicom | FileKind::Nifti, Some(dir)) => {
                    let (r, rendered) = if kind == FileKind::Dicom {
                        let (r, d) = super::dicom::render_to(&path, dir).map_err(|e| bad(e.problem.to_string()))?;
                        self.keep_text(&r, d.text_found.clone());
                        (r, Rendering::Dicom(d))
                    } else {
                        let (r, n) = super::nifti::render_to(&path, dir).map_err(|e| bad(e.problem))?;
                        (r, Rendering::Nifti(n))
                    };
                    // Absolute, so the viewer finds the scan whatever the working directory later.
                    let source =
                        std::path::absolute(&path).map_or_else(|_| path.clone(), |p| crate::util::normalize(&p));
                    self.scans.insert(r.path.clone(), Scan { source, rendered });
                    self.cache.insert(path, r.clone());
                    return Ok(r);
                }
                (FileKind::Dicom | FileKind::Nifti, _) => return Err(bad(SCAN_NOT_A_DATASET.into())),
                (FileKind::Other, _) => return Err(bad("not a PNG, JPEG, DICOM or NIfTI file".into())),
            }
            let (sha, bytes) = hash_file(&path).map_err(|e| bad(e.to_string()))?;
            let (r, text) = inspect(&path, &kind, sha, bytes);
            self.keep_text(&r, text);
            r
        } else {
            ImageRef::missing(shown)
        };
        self.cache.insert(path, r.clone());
        Ok(r)
    }

    fn keep_text(&mut self, r: &ImageRef, text: Vec<[u32; 4]>) {
        if !text.is_empty() {
            self.text.insert(r.path.clone(), text);
        }
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

/// Writes 8-bit RGB pixels as a PNG into `dir`, named by the PNG's content hash (the name says
/// nothing of where the pixels came from), once.
///
/// # Errors
/// Why encoding or writing failed.
pub fn store_png(rgb: Vec<u8>, width: usize, height: usize, dir: &Path) -> Result<ImageRef, String> {
    let mut png = Vec::new();
    image::RgbImage::from_raw(width as u32, height as u32, rgb)
        .ok_or("pixel buffer does not match the size")?
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    let sha = hex(&Sha256::digest(&png));
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let out = dir.join(format!("{sha}.png"));
    if !out.exists() {
        std::fs::write(&out, &png).map_err(|e| e.to_string())?;
    }
    Ok(ImageRef {
        path: out.to_string_lossy().into_owned(),
        sha256: Some(sha),
        bytes: Some(png.len() as u64),
        width: Some(width as u32),
        height: Some(height as u32),
        unreadable: None,
        redacted: Vec::new(),
    })
}

/// The reference to a PNG/JPEG file of known hash and size: its dimensions, or flagged unreadable;
/// and the boxes of the burned-in text lines found in it.
fn inspect(path: &Path, kind: &FileKind, sha: String, bytes: u64) -> (ImageRef, Vec<[u32; 4]>) {
    let (dims, unreadable, text) = match decode_checked(path, kind) {
        Ok(img) => {
            // Through the same grey conversion as a DICOM rendering (and `dev find-text`).
            let (w, h) = (img.width(), img.height());
            let text = crate::imaging::text::boxes_in_rgb(img.to_rgb8().as_raw(), w as usize, h as usize);
            (Some((w, h)), None, text)
        }
        Err(reason) => (None, Some(reason), Vec::new()),
    };
    let r = ImageRef {
        path: path.to_string_lossy().into_owned(),
        sha256: Some(sha),
        bytes: Some(bytes),
        width: dims.map(|d| d.0),
        height: dims.map(|d| d.1),
        unreadable,
        redacted: Vec::new(),
    };
    (r, text)
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
