//! DICOM files through dicom-rs: every transfer syntax the crates or we decode (explicit and
//! implicit VR little endian, big endian, deflate, RLE, JPEG baseline / extended (8 and 12-bit) /
//! lossless, JPEG 2000, and JPEG-LS lossless and near-lossless by our own decoder), files that
//! are not quite Part 10 ([`super::dicom_open`]), the pixel layouts of [`super::dicom_pixels`]
//! (1–32 bits, planar, RGB, YBR, palette colour), the Modality LUT (rescale slope and intercept:
//! Hounsfield units for CT) before any window, the file's window as the default (with its VOI LUT
//! Function, or its VOI LUT table when it has no window), MONOCHROME1 inverted, every frame; the geometry a viewer and a series need (pixel spacing, position,
//! instance number); and which patient attributes the header carries ([`super::phi`], names
//! only). Errors name the file and the reason, never a tag's value.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::imaging::{VoiFunction, VoiLut};

use dicom_core::Tag;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex as _;
use dicom_object::DefaultDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

/// Why a DICOM file cannot be used, with the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct DicomError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub problem: Problem,
}

/// What is wrong with a DICOM file (never a tag's value).
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// No `DICM` marker after the 128-byte preamble.
    #[error("not a DICOM file (no DICM marker at byte 128)")]
    NotDicom,
    /// The header or data set does not parse.
    #[error("the DICOM data set cannot be read ({0})")]
    Corrupt(String),
    /// A transfer syntax the crates cannot decode.
    #[error("unsupported transfer syntax {uid} ({name})")]
    UnsupportedSyntax {
        /// Its UID.
        uid: String,
        /// Its name.
        name: String,
    },
    /// A data set with no public attribute: a meta header alone, or private elements only.
    #[error("the data set holds no public attribute (only its meta header or private elements): not an image")]
    NoAttributes,
    /// No pixel data: a structured report, a waveform, a presentation state.
    #[error("no pixel data (SOP class {0}): not an image")]
    NoPixelData(String),
    /// Pixel data present but not decodable: the decoder's reason.
    #[error("the pixel data cannot be decoded: {0}")]
    BadPixels(String),
    /// An image attribute the pixels need is missing or not a number.
    #[error("the image attribute {0} is missing or unreadable")]
    MissingAttribute(&'static str),
    /// A photometric interpretation not handled.
    #[error("unsupported photometric interpretation {0}")]
    Photometric(String),
    /// The file cannot be read.
    #[error("{0}")]
    Io(String),
    /// Regions to black out that all lie outside the image.
    #[error("no region to black out lies inside the {cols}×{rows} image")]
    OutsideImage {
        /// Columns.
        cols: usize,
        /// Rows.
        rows: usize,
    },
}

/// A window: centre and width, in the values after the Modality LUT, and the VOI function it is
/// applied with.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Window {
    /// Centre.
    pub center: f64,
    /// Width (> 1).
    pub width: f64,
    /// VOI LUT Function (0028,1056), or the file's VOI LUT table.
    #[serde(default)]
    pub function: VoiFunction,
}

impl Window {
    /// A window applied with the linear function.
    pub const fn linear(center: f64, width: f64) -> Self {
        Self { center, width, function: VoiFunction::Linear }
    }

    /// The window whose linear VOI function maps `lo` to black and `hi` to white, whatever the
    /// range (a probability map's 0..1 as well as CT's thousands); a flat range's one value is black.
    pub fn spanning(lo: f64, hi: f64) -> Self {
        if hi > lo { Window::linear((lo + hi + 1.0) / 2.0, hi - lo + 1.0) } else { Window::linear(lo + 1.0, 2.0) }
    }
}

/// A decoded DICOM image.
#[derive(Debug, Clone)]
pub struct DicomImage {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Grey frames: Modality-LUT values (HU for CT), row-major, `rows × cols` each; empty for colour.
    pub grey: Vec<Vec<f32>>,
    /// Colour frames: interleaved 8-bit RGB, `rows × cols × 3` each; empty for grey.
    pub rgb: Vec<Vec<u8>>,
    /// MONOCHROME1: low values are white.
    pub monochrome1: bool,
    /// The file's first window, if it has one (a [`VoiFunction::Table`] window spans the ramp of
    /// the VOI LUT it stands for).
    pub window: Option<Window>,
    /// The file's first VOI LUT table, if it has one.
    pub voi_lut: Option<Arc<VoiLut>>,
    /// Row and column spacing in mm.
    pub pixel_spacing: Option<(f64, f64)>,
    /// Image Position (Patient), mm.
    pub position: Option<[f64; 3]>,
    /// Instance Number.
    pub instance: Option<i64>,
    /// Modality (`CT`, `MR`, `CR`, `US`, ...).
    pub modality: String,
    /// Series Instance UID (empty when absent): groups files in memory, never stored.
    pub series: String,
    /// Transfer syntax UID and name.
    pub transfer_syntax: (String, String),
    /// Patient attributes the header carries, by keyword ([`super::phi`]).
    pub phi: Vec<&'static str>,
    /// Burned-in text is declared (Burned In Annotation = YES) or likely (the modality).
    pub burned_in: bool,
}

fn text(obj: &DefaultDicomObject, tag: Tag) -> Option<String> {
    let s = obj.element_opt(tag).ok().flatten()?.to_str().ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn floats(obj: &DefaultDicomObject, tag: Tag) -> Option<Vec<f64>> {
    obj.element_opt(tag).ok().flatten()?.to_multi_float64().ok().filter(|v| !v.is_empty())
}

/// `tag` at the top level, else (an enhanced multi-frame file) in the functional group macro
/// `group` (Pixel Measures, Plane Position): shared, else the first frame's.
fn floats_grouped(obj: &DefaultDicomObject, group: Tag, tag: Tag) -> Option<Vec<f64>> {
    use dicom_dictionary_std::tags;
    let within = |seq| {
        let item = obj.element_opt(seq).ok().flatten()?.items()?.first()?;
        let inner = item.element_opt(group).ok().flatten()?.items()?.first()?;
        inner.element_opt(tag).ok().flatten()?.to_multi_float64().ok().filter(|v| !v.is_empty())
    };
    floats(obj, tag)
        .or_else(|| within(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE))
        .or_else(|| within(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE))
}

/// True when the element exists with a value (a sequence counts when it has items).
fn has_value(obj: &DefaultDicomObject, tag: Tag) -> bool {
    match obj.element_opt(tag) {
        Ok(Some(e)) => e.to_str().map_or(true, |s| !s.trim().is_empty()),
        _ => false,
    }
}

/// Opens `path` (Part 10, or a bare data set: [`super::dicom_open`]).
pub(crate) fn open(path: &Path) -> Result<DefaultDicomObject, Problem> {
    super::dicom_open::open(path)
}

/// A data set of private elements only, or none (a meta header alone): nothing to read or copy.
pub(crate) fn no_public_attribute(obj: &dicom_object::InMemDicomObject) -> bool {
    obj.iter().all(|e| super::phi::is_private(e.header().tag))
}

/// Reads and decodes `path`.
///
/// # Errors
/// [`DicomError`] naming the file and the reason.
pub fn read(path: &Path) -> Result<DicomImage, DicomError> {
    read_inner(path).map_err(|problem| DicomError { path: path.to_path_buf(), problem })
}

fn read_inner(path: &Path) -> Result<DicomImage, Problem> {
    use dicom_dictionary_std::tags;
    let obj = open(path)?;
    let uid = obj.meta().transfer_syntax().trim_end_matches('\0').to_string();
    let syntax = TransferSyntaxRegistry.get(&uid);
    let name = syntax.map_or("unknown", |s| s.name()).to_string();
    if no_public_attribute(&obj) {
        return Err(Problem::NoAttributes);
    }
    let (rows, cols, monochrome1, grey, rgb) = if obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_some() {
        let jpegls = uid == "1.2.840.10008.1.2.4.80" || uid == "1.2.840.10008.1.2.4.81";
        if !jpegls && !syntax.is_some_and(|s| s.can_decode_all()) {
            return Err(Problem::UnsupportedSyntax { uid, name });
        }
        let layout = super::dicom_pixels::Layout::of(&obj)?;
        let (rows, cols, monochrome1) = (layout.rows, layout.cols, layout.photometric == "MONOCHROME1");
        match super::dicom_pixels::decode(&obj, &uid, layout)? {
            super::dicom_pixels::Frames::Grey(g) => (rows, cols, monochrome1, g, Vec::new()),
            super::dicom_pixels::Frames::Rgb(c) => (rows, cols, monochrome1, Vec::new(), c),
        }
    } else if let Some((rows, cols, grey)) = super::dicom_pixels::float_frames(&obj)? {
        // Float or Double Float Pixel Data (a parametric map): the values as they are.
        (rows, cols, false, grey, Vec::new())
    } else {
        // A DICOMDIR names its SOP class only in the meta group; it is an index, read by a folder import.
        let directory = obj.meta().media_storage_sop_class_uid().trim_end_matches('\0') == "1.2.840.10008.1.3.10";
        let sop = match text(&obj, tags::SOP_CLASS_UID) {
            _ if directory => {
                "1.2.840.10008.1.3.10, a DICOMDIR: import it, or its folder, to import the files it indexes".into()
            }
            Some(sop) => sop,
            None => "unknown".into(),
        };
        return Err(Problem::NoPixelData(sop));
    };
    let lut = super::dicom_lut::voi_lut(&obj);
    let window = window(&obj).or_else(|| lut.as_ref().map(|l| l.1));
    let modality = text(&obj, tags::MODALITY).unwrap_or_default();
    let burned_in = text(&obj, tags::BURNED_IN_ANNOTATION).is_some_and(|v| v.eq_ignore_ascii_case("YES"))
        || super::phi::BURNED_IN_MODALITIES.contains(&modality.as_str());
    let has_private = obj.tags().any(super::phi::is_private);
    Ok(DicomImage {
        rows,
        cols,
        grey,
        rgb,
        monochrome1,
        window,
        voi_lut: lut.map(|l| Arc::new(l.0)),
        pixel_spacing: floats_grouped(&obj, tags::PIXEL_MEASURES_SEQUENCE, tags::PIXEL_SPACING)
            .filter(|v| v.len() == 2)
            .map(|v| (v[0], v[1])),
        position: floats_grouped(&obj, tags::PLANE_POSITION_SEQUENCE, tags::IMAGE_POSITION_PATIENT)
            .filter(|v| v.len() == 3)
            .map(|v| [v[0], v[1], v[2]]),
        instance: text(&obj, tags::INSTANCE_NUMBER).and_then(|s| s.parse().ok()),
        modality,
        series: text(&obj, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
        transfer_syntax: (uid, name),
        phi: super::phi::detect(|t| has_value(&obj, t), has_private),
        burned_in,
    })
}

/// What grouping a folder into series needs, read without decoding the pixels. The
/// series UID is kept in memory to group files and never stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Series Instance UID (empty when absent).
    pub series: String,
    /// Image Position Patient z.
    pub z: Option<f64>,
    /// Instance Number.
    pub instance: Option<i64>,
    /// Number of Frames (1 when absent).
    pub frames: usize,
    /// The file has pixel data.
    pub has_pixels: bool,
    /// The file is a DICOMDIR (Media Storage Directory): an index of the files beside it.
    pub directory: bool,
}

/// Reads `path`'s header (the pixels are not decoded).
///
/// # Errors
/// [`DicomError`] naming the file.
pub fn header(path: &Path) -> Result<Header, DicomError> {
    use dicom_dictionary_std::tags;
    let err = |problem| DicomError { path: path.to_path_buf(), problem };
    let obj = open(path).map_err(err)?;
    Ok(Header {
        series: text(&obj, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
        z: floats(&obj, tags::IMAGE_POSITION_PATIENT).filter(|v| v.len() == 3).map(|v| v[2]),
        instance: text(&obj, tags::INSTANCE_NUMBER).and_then(|s| s.trim().parse().ok()),
        frames: text(&obj, tags::NUMBER_OF_FRAMES).and_then(|s| s.trim().parse().ok()).unwrap_or(1),
        has_pixels: obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_some()
            || super::dicom_pixels::has_float_pixels(&obj),
        directory: obj.meta().media_storage_sop_class_uid().trim_end_matches('\0') == "1.2.840.10008.1.3.10",
    })
}

/// The file's first window (Window Center / Width, with its VOI LUT Function), else the enhanced
/// multi-frame functional groups' Frame VOI LUT (shared, else the first frame's). A function this
/// reader does not know is applied as LINEAR, the standard's default.
fn window(obj: &DefaultDicomObject) -> Option<Window> {
    use dicom_dictionary_std::tags;
    let first = |o: &dicom_object::InMemDicomObject, t| {
        o.element_opt(t).ok().flatten()?.to_multi_float64().ok()?.first().copied().filter(|v| v.is_finite())
    };
    let pair = |o: &dicom_object::InMemDicomObject| {
        let function = o
            .element_opt(tags::VOILUT_FUNCTION)
            .ok()
            .flatten()
            .and_then(|e| e.to_str().ok().and_then(|f| VoiFunction::from_dicom(&f)))
            .unwrap_or_default();
        Some(Window { center: first(o, tags::WINDOW_CENTER)?, width: first(o, tags::WINDOW_WIDTH)?, function })
    };
    let group = |seq| {
        let item = obj.element_opt(seq).ok().flatten()?.items()?.first()?;
        item.element_opt(tags::FRAME_VOILUT_SEQUENCE).ok().flatten()?.items()?.first().and_then(pair)
    };
    pair(obj)
        .or_else(|| group(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE))
        .or_else(|| group(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE))
        .filter(|w| w.width > 0.0)
}

impl DicomImage {
    /// Frames in the file.
    pub fn frames(&self) -> usize {
        self.grey.len().max(self.rgb.len())
    }

    /// The window a rendering uses by default: the file's, else the frame's full range.
    pub fn default_window(&self, frame: usize) -> Window {
        self.window.unwrap_or_else(|| {
            let v = self.grey.get(frame).map_or(&[][..], Vec::as_slice);
            let (lo, hi) = v.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
            if lo.is_finite() { Window::spanning(f64::from(lo), f64::from(hi)) } else { Window::linear(0.0, 2.0) }
        })
    }

    /// Frame `frame` as interleaved 8-bit RGB: grey values through `window` (the default window
    /// when `None`) with its VOI function of PS3.3 C.11.2 (a table window through the file's VOI
    /// LUT), MONOCHROME1 inverted; colour frames as stored.
    pub fn render(&self, frame: usize, window: Option<Window>) -> Option<Vec<u8>> {
        if let Some(rgb) = self.rgb.get(frame) {
            return Some(rgb.clone());
        }
        let values = self.grey.get(frame)?;
        let w = window.unwrap_or_else(|| self.default_window(frame));
        Some(windowed(values, w, self.voi_lut.as_deref(), self.monochrome1))
    }
}

/// Grey values through the window's PS3.3 VOI function (`lut` for a table window) to 8-bit RGB
/// (inverted for MONOCHROME1).
pub fn windowed(values: &[f32], w: Window, lut: Option<&VoiLut>, invert: bool) -> Vec<u8> {
    let width = match w.function {
        VoiFunction::Linear | VoiFunction::Table => w.width.max(1.0 + f64::EPSILON),
        _ => w.width,
    };
    let mut out = Vec::with_capacity(values.len() * 3);
    for &x in values {
        let y = crate::imaging::window::voi(f64::from(x), w.center, width, w.function, lut) * 255.0;
        let g = y.round() as u8;
        let g = if invert { 255 - g } else { g };
        out.extend([g, g, g]);
    }
    out
}

/// What a DICOM rendering stored in a project came from: everything but the header's values.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rendered {
    /// The frame rendered (the middle one of a multi-frame file).
    pub frame: usize,
    /// Frames in the file.
    pub frames: usize,
    /// The window used (the file's, else the frame's range).
    pub window: Window,
    /// Modality as the file says.
    pub modality: String,
    /// Transfer syntax name.
    pub transfer_syntax: String,
    /// Row and column spacing, mm.
    pub pixel_spacing: Option<(f64, f64)>,
    /// Patient attributes the header carried, by keyword (their values are not kept).
    pub phi: Vec<&'static str>,
    /// Burned-in text declared or likely.
    pub burned_in: bool,
    /// Lines of text found in the rendering's pixels ([`crate::imaging::text`]).
    pub text_found: Vec<[u32; 4]>,
}

/// Renders `path`'s middle frame through its default window to an 8-bit PNG in `dir`, named by
/// the PNG's content hash (the name says nothing of the patient, and the PNG carries no header);
/// returns the PNG's reference and what it came from.
///
/// # Errors
/// [`DicomError`] naming the file; writing the PNG.
pub fn render_to(path: &Path, dir: &Path) -> Result<(crate::domain::ImageRef, Rendered), DicomError> {
    let err = |problem| DicomError { path: path.to_path_buf(), problem };
    let img = read(path)?;
    let frame = img.frames() / 2;
    let window = img.default_window(frame);
    let rgb = img.render(frame, Some(window)).ok_or_else(|| err(Problem::BadPixels("no frame to render".into())))?;
    // Text burned into the pixels of a modality not known for it (a CT secondary capture).
    let text_found = crate::imaging::text::boxes_in_rgb(&rgb, img.cols, img.rows);
    let r = super::images::store_png(rgb, img.cols, img.rows, dir).map_err(|e| err(Problem::Io(e)))?;
    let rendered = Rendered {
        frame,
        frames: img.frames(),
        window: if img.rgb.is_empty() { window } else { Window::linear(127.5, 256.0) },
        modality: img.modality.clone(),
        transfer_syntax: img.transfer_syntax.1.clone(),
        pixel_spacing: img.pixel_spacing,
        phi: img.phi.clone(),
        burned_in: img.burned_in,
        text_found,
    };
    Ok((r, rendered))
}

/// Our modality for a DICOM Modality value.
pub fn modality_of(dicom: &str) -> Option<crate::domain::Modality> {
    use crate::domain::Modality;
    match dicom {
        "CT" => Some(Modality::Ct),
        "MR" => Some(Modality::Mri),
        "CR" | "DX" | "RG" | "MG" | "XR" => Some(Modality::XRay),
        "US" => Some(Modality::Ultrasound),
        _ => None,
    }
}

/// A series' files in anatomical order: by position along the slice normal (z of Image Position
/// (Patient)), then Instance Number, then file name.
pub fn order_series(images: &mut [(PathBuf, DicomImage)]) {
    images.sort_by(|(pa, a), (pb, b)| {
        let z = |i: &DicomImage| i.position.map(|p| p[2]);
        z(a).partial_cmp(&z(b)).unwrap_or(std::cmp::Ordering::Equal).then(a.instance.cmp(&b.instance)).then(pa.cmp(pb))
    });
}

/// One header element as a tag browser shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    /// `(gggg,eeee)`.
    pub tag: String,
    /// Value representation.
    pub vr: String,
    /// Dictionary keyword (`PatientName`), or `Private` / `Unknown`.
    pub keyword: String,
    /// The value as text, or what it is: patient data and private values are hidden, binary
    /// values give their size.
    pub value: String,
}

/// The top-level elements of `path`'s data set, in tag order, with patient data hidden.
///
/// # Errors
/// [`DicomError`] naming the file.
pub fn tag_rows(path: &Path) -> Result<Vec<TagRow>, DicomError> {
    use dicom_core::dictionary::{DataDictionary as _, DataDictionaryEntry as _};
    use dicom_core::header::HasLength as _;
    let obj = open(path).map_err(|problem| DicomError { path: path.to_path_buf(), problem })?;
    let dict = dicom_dictionary_std::StandardDataDictionary;
    let words = super::dicom_deid::identifying_words(&obj);
    let mut out = Vec::new();
    for e in obj.iter() {
        let tag = e.header().tag;
        let vr = e.header().vr().to_string().to_string();
        let keyword = if super::phi::is_private(tag) {
            "Private".to_string()
        } else {
            dict.by_tag(tag).map_or("Unknown".to_string(), |d| d.alias().to_string())
        };
        let value = if super::phi::is_basic_profile(tag) || super::phi::is_private(tag) || vr == "PN" {
            "(hidden: patient data)".to_string()
        } else if matches!(vr.as_str(), "OB" | "OW" | "OF" | "OD" | "UN" | "SQ") {
            match e.header().length().get() {
                Some(n) => format!("({n} bytes)"),
                None => "(undefined length)".to_string(),
            }
        } else {
            let s = e.to_str().map(|s| s.trim().to_string()).unwrap_or_default();
            if super::dicom_deid::quotes(&s, &words) {
                "(hidden: quotes patient data)".to_string()
            } else if s.chars().count() > 80 {
                format!("{}…", s.chars().take(80).collect::<String>())
            } else {
                s
            }
        };
        out.push(TagRow { tag: format!("({:04X},{:04X})", tag.group(), tag.element()), vr, keyword, value });
    }
    Ok(out)
}
