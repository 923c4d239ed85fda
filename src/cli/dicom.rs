//! `medvlm dicom info|tags|render|deid`: what a DICOM file holds (transfer syntax, geometry, window,
//! the patient attributes it carries, by name), its header as a searchable tag list with patient
//! data hidden, and a frame rendered through a window to PNG, as the model would see it.

use std::path::PathBuf;

use anyhow::{Context as _, bail};

use crate::imaging::VoiFunction;
use crate::io::dicom::{Window, order_series, read, tag_rows};

/// `medvlm dicom`.
#[derive(Debug, clap::Args)]
pub struct DicomArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DicomCommand,
}

/// DICOM subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DicomCommand {
    /// One line per file (a series in anatomical order): syntax, modality, size, frames, window,
    /// spacing, position, and the patient attributes present. Exit status 1 when a file fails.
    Info {
        /// Files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// The header's elements with their keywords; patient data and private values hidden.
    Tags {
        /// The file.
        file: PathBuf,
        /// Only rows whose tag, keyword or value contains this (case-insensitive).
        #[arg(long)]
        search: Option<String>,
    },
    /// De-identified copies (PS3.15 Basic Profile, best effort) in `--out`, named by their new
    /// SOP Instance UID; UIDs are remapped consistently across the files of one call.
    Deid {
        /// Files; a DICOMDIR stands for the files it names.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output folder (created).
        #[arg(long)]
        out: PathBuf,
        /// A region of burned-in text to black out in every frame of every copy, in pixels:
        /// `X0,Y0,X1,Y1` (X1 and Y1 exclusive); repeatable. The copies are then written
        /// uncompressed (Clean Pixel Data).
        #[arg(long = "black-out", value_name = "X0,Y0,X1,Y1", value_parser = region)]
        black_out: Vec<[u32; 4]>,
        #[command(flatten)]
        options: DeidArgs,
    },
    /// A frame through a window (default: the file's) to an 8-bit PNG.
    Render {
        /// The file.
        file: PathBuf,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
        /// Frame (0-based).
        #[arg(long, default_value_t = 0)]
        frame: usize,
        /// Window as `CENTRE,WIDTH` in Modality-LUT units (HU for CT), e.g. `-600,1500` for lung.
        #[arg(long, allow_hyphen_values = true)]
        window: Option<String>,
        /// The VOI function: `linear`, `linear_exact`, `sigmoid`, or `table` (the file's VOI LUT).
        /// Default: the file's own with its window, linear with `--window`.
        #[arg(long)]
        function: Option<String>,
    },
}

/// The PS3.15 options of de-identified copies (`dicom deid`, `curate export --with-dicom`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DeidArgs {
    /// Retain Patient Characteristics: keep the patient's sex, age, size, weight, ethnic group,
    /// smoking and pregnancy status.
    #[arg(long)]
    pub retain_patient_characteristics: bool,
    /// Retain Device Identity: keep station names, device and detector serial numbers and IDs.
    #[arg(long)]
    pub retain_device_identity: bool,
    /// Retain Institution Identity: keep the institution's name, address and department, and
    /// a clinical trial's site.
    #[arg(long)]
    pub retain_institution_identity: bool,
    /// Retain UIDs: keep the study, series and instance UIDs (and every other UID the profile
    /// replaces), so the copies still match the source's records.
    #[arg(long)]
    pub retain_uids: bool,
    /// The study, series and acquisition dates: `remove` (the Basic Profile), `full` (kept as
    /// they are), or `shift` (moved back by one to ten years, the same days for every file of a
    /// patient in this run, so intervals stay true; times kept). Birth dates are never kept.
    #[arg(long, default_value = "remove", value_name = "remove|full|shift")]
    pub dates: String,
}

impl DeidArgs {
    /// The options, or the flag that is wrong.
    pub fn options(&self) -> anyhow::Result<crate::io::dicom_deid_options::DeidOptions> {
        let dates = crate::io::dicom_deid_options::Dates::parse(&self.dates)
            .with_context(|| format!("--dates {}: use remove, full or shift", self.dates))?;
        Ok(crate::io::dicom_deid_options::DeidOptions {
            patient_characteristics: self.retain_patient_characteristics,
            device_identity: self.retain_device_identity,
            institution_identity: self.retain_institution_identity,
            uids: self.retain_uids,
            dates,
        })
    }
}

/// The VOI function named on the command line.
fn parse_function(s: &str) -> anyhow::Result<VoiFunction> {
    match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
        "table" => Ok(VoiFunction::Table),
        name => VoiFunction::from_dicom(name)
            .with_context(|| format!("--function {s}: use linear, linear_exact, sigmoid or table")),
    }
}

pub(super) fn parse_window(s: &str) -> anyhow::Result<Window> {
    let (c, w) = s.split_once(',').context("--window: use CENTRE,WIDTH")?;
    let (center, width): (f64, f64) =
        (c.trim().parse().context("--window centre")?, w.trim().parse().context("--window width")?);
    if width.is_nan() || width <= 1.0 {
        bail!("--window width must be more than 1");
    }
    Ok(Window::linear(center, width))
}

pub(super) fn run(a: &DicomArgs) -> anyhow::Result<i32> {
    match &a.command {
        DicomCommand::Info { files } => {
            let mut ok = Vec::new();
            let mut failed = 0;
            for f in files {
                match read(f) {
                    Ok(img) => ok.push((f.clone(), img)),
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {e}");
                    }
                }
            }
            order_series(&mut ok);
            for (f, i) in &ok {
                let w = i.window.map_or("-".into(), |w| match w.function.label() {
                    "" => format!("{}/{}", w.center, w.width),
                    f => format!("{}/{} ({f})", w.center, w.width),
                });
                let sp = i.pixel_spacing.map_or("-".into(), |(r, c)| format!("{r}x{c} mm"));
                let z = i.position.map_or("-".into(), |p| format!("z={}", p[2]));
                let phi = if i.phi.is_empty() { "none".into() } else { i.phi.join(",") };
                outln!(
                    "{}: {} {} {}x{} frames {} window {w} spacing {sp} {z}{}; patient data: {phi}",
                    f.display(),
                    i.transfer_syntax.1,
                    i.modality,
                    i.cols,
                    i.rows,
                    i.frames(),
                    if i.burned_in { "; burned-in text likely" } else { "" }
                );
            }
            Ok(i32::from(failed > 0))
        }
        DicomCommand::Tags { file, search } => {
            let needle = search.as_deref().map(str::to_lowercase);
            for r in tag_rows(file)? {
                let line = format!("{} {} {:<36} {}", r.tag, r.vr, r.keyword, r.value);
                if needle.as_ref().is_none_or(|n| line.to_lowercase().contains(n)) {
                    outln!("{line}");
                }
            }
            Ok(0)
        }
        DicomCommand::Deid { files, out, black_out, options } => {
            let options = options.options()?;
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            let mut uids = crate::io::dicom_deid::UidMap::new();
            let mut failed = 0;
            // A DICOMDIR stands for the files it names: its records hold the patients' names and
            // byte offsets that a de-identified copy would break, so it is not copied itself.
            let mut inputs = Vec::new();
            for f in files {
                if !f.file_name().is_some_and(|n| n.eq_ignore_ascii_case("DICOMDIR")) {
                    inputs.push(f.clone());
                    continue;
                }
                match crate::io::dicomdir::references(f) {
                    Ok(refs) => {
                        if refs.is_empty() {
                            failed += 1;
                            eprintln!("error: {}: a DICOMDIR that names no file", f.display());
                        }
                        for r in refs {
                            match r.path {
                                Ok(p) => inputs.push(p),
                                Err(why) => {
                                    failed += 1;
                                    eprintln!("error: {}: names {}: {why}", f.display(), r.id);
                                }
                            }
                        }
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {e}");
                    }
                }
            }
            for f in &inputs {
                // Written under a temporary name, then named by the new UID.
                let tmp = out.join(".deid.partial");
                match crate::io::dicom_deid::deidentify(f, &tmp, &mut uids, black_out, &options) {
                    Ok(uid) => {
                        // Two files with one SOP Instance UID (copies of one instance) keep both.
                        let dest = (1..)
                            .map(|k| out.join(if k == 1 { format!("{uid}.dcm") } else { format!("{uid}-{k}.dcm") }))
                            .find(|p| !p.exists())
                            .unwrap_or_else(|| out.join(format!("{uid}.dcm")));
                        if let Err(e) = std::fs::rename(&tmp, &dest) {
                            failed += 1;
                            eprintln!("error: writing {} ({e})", dest.display());
                            continue;
                        }
                        outln!("{} -> {}", f.display(), dest.display());
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {e}");
                    }
                }
            }
            Ok(i32::from(failed > 0))
        }
        DicomCommand::Render { file, out, frame, window, function } => {
            let img = read(file)?;
            let mut w = window.as_deref().map(parse_window).transpose()?;
            if let Some(f) = function.as_deref().map(parse_function).transpose()? {
                if f == VoiFunction::Table && img.voi_lut.is_none() {
                    bail!("{}: --function table: the file has no VOI LUT", file.display());
                }
                let base = w.unwrap_or_else(|| img.default_window(*frame));
                w = Some(Window { function: f, ..base });
            }
            let Some(rgb) = img.render(*frame, w) else {
                bail!("{}: no frame {frame} (the file has {})", file.display(), img.frames());
            };
            write_png(rgb, img.cols, img.rows, out)?;
            Ok(0)
        }
    }
}

/// Saves 8-bit RGB pixels as a PNG and says so.
pub(super) fn write_png(rgb: Vec<u8>, width: usize, height: usize, out: &std::path::Path) -> anyhow::Result<()> {
    image::RgbImage::from_raw(width as u32, height as u32, rgb)
        .context("pixel buffer size")?
        .save(out)
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// `X0,Y0,X1,Y1` in pixels.
fn region(s: &str) -> Result<[u32; 4], String> {
    let v: Vec<u32> =
        s.split(',').map(|p| p.trim().parse::<u32>()).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    match v[..] {
        [x0, y0, x1, y1] if x0 < x1 && y0 < y1 => Ok([x0, y0, x1, y1]),
        [_, _, _, _] => Err("X0 < X1 and Y0 < Y1 are needed".into()),
        _ => Err("four numbers are needed: X0,Y0,X1,Y1".into()),
    }
}
