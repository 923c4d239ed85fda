//! `medvlm import`: files or folders into a project, with a progress bar and a per-file report.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::ValueEnum;

use super::{BarSink, Cli, require_project};
use crate::domain::Split;
use crate::io::import::{ImportFormat, ImportOptions, import_paths};
use crate::store::Project;

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Detect from the file name and first record.
    Auto,
    /// MedVLM-R1 / HuatuoGPT-Vision evaluation JSON.
    MedvlmR1,
    /// MedVLThinker unified schema (JSONL).
    Medvlthinker,
    /// VQA-RAD JSON (images in `images/` beside it).
    VqaRad,
    /// SLAKE JSON (images in `imgs/` beside it).
    Slake,
    /// A folder of images with manifest.jsonl / manifest.csv (or the manifest itself).
    Folder,
    /// Parquet with embedded images: MedVLThinker's HF datasets, verl training files, our export.
    Parquet,
}

/// `medvlm import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Files or folders to import.
    #[arg(required = true, value_name = "FILE_OR_DIR")]
    pub inputs: Vec<PathBuf>,
    /// Input format.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// Put every item in this split (default: from the record or the file name, e.g. `testset.json`).
    #[arg(long, value_parser = parse_split)]
    pub split: Option<Split>,
    /// Override the source dataset tag.
    #[arg(long)]
    pub source: Option<String>,
    /// Tag every imported item (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Also read images outside each manifest's folder (by default such paths are refused: an
    /// untrusted manifest must not make the importer read arbitrary files).
    #[arg(long)]
    pub allow_outside: bool,
    /// Print the full report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn parse_split(s: &str) -> Result<Split, String> {
    Split::parse(s).ok_or_else(|| format!("unknown split {s:?} (train, val, test)"))
}

/// How many problems per file are printed before "and N more".
const SHOW_PROBLEMS: usize = 20;

pub(super) fn run(cli: &Cli, args: &ImportArgs) -> anyhow::Result<i32> {
    let project_path = require_project(cli)?;
    let (mut project, created) =
        Project::open_or_create(project_path).with_context(|| format!("opening project {}", project_path.display()))?;
    if created {
        eprintln!("created project {}", project_path.display());
    }
    let format = match args.format {
        FormatArg::Auto => None,
        FormatArg::MedvlmR1 => Some(ImportFormat::MedvlmR1),
        FormatArg::Medvlthinker => Some(ImportFormat::Medvlthinker),
        FormatArg::VqaRad => Some(ImportFormat::VqaRad),
        FormatArg::Slake => Some(ImportFormat::Slake),
        FormatArg::Folder => Some(ImportFormat::Folder),
        FormatArg::Parquet => Some(ImportFormat::Parquet),
    };
    let opts = ImportOptions {
        format,
        split: args.split,
        source: args.source.clone(),
        tags: args.tags.clone(),
        allow_outside: args.allow_outside,
    };
    let bar = BarSink::new();
    let summary = import_paths(&mut project, &args.inputs, &opts, &bar).context("import failed")?;
    bar.finish();
    // A failed import into a new project leaves no empty project behind.
    let remove_new = created && summary.imported() == 0;
    let count = project.item_count()?;
    drop(project);
    if remove_new {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = project_path.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(std::path::PathBuf::from(p));
        }
        eprintln!("nothing was imported: project {} not created", project_path.display());
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        for f in &summary.files {
            let fmt = f.format.map_or("?", ImportFormat::as_str);
            match &f.fatal {
                Some(reason) => eprintln!("error: {reason}"),
                None => outln!(
                    "{} [{fmt}]: imported {}, already present {}, invalid {}, missing images {}",
                    f.path.display(),
                    f.imported,
                    f.duplicates,
                    f.errors.len(),
                    f.missing_images
                ),
            }
            for p in f.errors.iter().take(SHOW_PROBLEMS) {
                eprintln!("  skipped {p}");
            }
            if f.errors.len() > SHOW_PROBLEMS {
                eprintln!("  ... and {} more (use --json for all)", f.errors.len() - SHOW_PROBLEMS);
            }
            for p in f.warnings.iter().take(SHOW_PROBLEMS) {
                eprintln!("  warning: {p}");
            }
            if f.warnings.len() > SHOW_PROBLEMS {
                eprintln!("  ... and {} more warnings (use --json for all)", f.warnings.len() - SHOW_PROBLEMS);
            }
        }
        outln!("{}", summary.one_line());
        for (reason, n) in summary.reasons() {
            outln!("  {n} x {reason}");
        }
        if !remove_new {
            outln!("project {} now holds {count} items", project_path.display());
        }
    }
    // 2: no input could be read at all; 1: inputs were read but no record could be used.
    Ok(if summary.files.iter().all(|f| f.fatal.is_some()) {
        2
    } else if summary.nothing_usable() {
        1
    } else {
        0
    })
}
