//! `medvlm nifti info|render`: a NIfTI volume's geometry (version, size, data type, orientation
//! from the sform or qform, voxel size) and a slice along an anatomical axis through a window to PNG,
//! in radiological orientation.

use std::path::PathBuf;

use anyhow::{Context as _, bail};

use crate::io::nifti::{Axis, read, read_volume};

/// `medvlm nifti`.
#[derive(Debug, clap::Args)]
pub struct NiftiArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: NiftiCommand,
}

/// NIfTI subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum NiftiCommand {
    /// One line per file. Exit status 1 when a file fails.
    Info {
        /// `.nii` or `.nii.gz` files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// A slice through a window (default: `cal_min`..`cal_max`, else the 1st–99th percentile) to PNG.
    Render {
        /// The file.
        file: PathBuf,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
        /// `axial`, `coronal` or `sagittal`.
        #[arg(long, default_value = "axial")]
        axis: String,
        /// Slice (0-based; default: the middle one).
        #[arg(long)]
        slice: Option<usize>,
        /// Window as `CENTRE,WIDTH` in the volume's scaled values.
        #[arg(long, allow_hyphen_values = true)]
        window: Option<String>,
        /// Volume of a 4-D file (0-based).
        #[arg(long, default_value_t = 0)]
        volume: usize,
    },
}

pub(super) fn run(a: &NiftiArgs) -> anyhow::Result<i32> {
    match &a.command {
        NiftiCommand::Info { files } => {
            let mut failed = 0;
            for f in files {
                match read(f) {
                    Ok(v) => {
                        let w = v.default_window();
                        outln!(
                            "{}: {} {}x{}x{} {} volumes {} orientation {} ({}) voxel {:.3}x{:.3}x{:.3} mm window {:.1}/{:.1}",
                            f.display(),
                            v.format_name(),
                            v.dims[0],
                            v.dims[1],
                            v.dims[2],
                            v.datatype,
                            v.volumes,
                            v.orientation(),
                            v.affine_from,
                            v.spacing[0],
                            v.spacing[1],
                            v.spacing[2],
                            w.center,
                            w.width
                        );
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {e}");
                    }
                }
            }
            Ok(i32::from(failed > 0))
        }
        NiftiCommand::Render { file, out, axis, slice, window, volume } => {
            let axis = Axis::parse(axis).context("--axis: axial, coronal or sagittal")?;
            let v = read_volume(file, *volume)?;
            let n = v.slices(axis);
            let i = slice.unwrap_or(n / 2);
            if i >= n {
                bail!("{}: no {} slice {i} (it has {n})", file.display(), axis.as_str());
            }
            let w = match window.as_deref() {
                Some(s) => super::dicom::parse_window(s)?,
                None => v.default_window(),
            };
            let s = v.slice(axis, i);
            let rgb = crate::io::dicom::windowed(&s.values, w, None, false);
            super::dicom::write_png(rgb, s.width, s.height, out)?;
            Ok(0)
        }
    }
}
