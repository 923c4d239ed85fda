//! The command line: `medvlm` with no subcommand opens the GUI; subcommands are scriptable
//! (progress bars on stderr, results on stdout, `--json` where a program will read the output).
//! This is the application edge, so errors are `anyhow` here.

mod dev;
mod import;
mod info;
mod progress;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use progress::BarSink;

/// MedVLM Workbench: curate medical VQA data by difficulty, train VLMs to reason with GRPO on-device,
/// and review their reasoning next to the image.
#[derive(Debug, Parser)]
#[command(name = "medvlm", version, about, long_about = None)]
pub struct Cli {
    /// Project file (`*.medvlm`) to open in the GUI. Default: the last one opened, else the bundled sample project.
    #[arg(long, global = true, value_name = "FILE")]
    pub project: Option<PathBuf>,
    /// Compute backend for models: `auto` uses wgpu when a GPU adapter exists, else the CPU.
    #[arg(long, global = true, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// What to do (default: open the GUI).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Compute backend choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Backend {
    /// wgpu if an adapter is found, else CPU.
    #[default]
    Auto,
    /// burn's wgpu backend (Vulkan/Metal/DX12).
    Wgpu,
    /// burn's CPU backend (flex).
    Cpu,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the desktop workbench (the default).
    Gui,
    /// Import VQA data into a project (created if missing). Bad records are reported by file and
    /// line/index and skipped; exit status is non-zero only when no record could be used.
    Import(import::ImportArgs),
    /// Print a project's counts: items, missing images, by split, modality and source.
    Info(info::InfoArgs),
    /// Generate the synthetic sample project (images, manifest.jsonl and sample.medvlm) into a folder.
    SampleData(SampleArgs),
    /// Developer tools (used by the crash-safety tests).
    #[command(hide = true)]
    Dev(dev::DevArgs),
}

/// `medvlm sample-data`.
#[derive(Debug, clap::Args)]
pub struct SampleArgs {
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Random seed; the same seed gives byte-identical images.
    #[arg(long, default_value_t = crate::sample::DEFAULT_SEED)]
    pub seed: u64,
    /// Replace an existing `sample.medvlm` in the folder.
    #[arg(long)]
    pub force: bool,
}

/// Runs a subcommand. Returns the process exit code.
///
/// # Errors
/// Whatever the subcommand reports; `main` prints the chain.
pub fn run(cli: &Cli, command: &Command) -> anyhow::Result<i32> {
    match command {
        Command::Gui => Ok(0),
        Command::Import(args) => import::run(cli, args),
        Command::Info(args) => info::run(cli, args),
        Command::SampleData(args) => {
            let bar = BarSink::new();
            let summary = crate::sample::generate(&args.out, args.seed, args.force, &bar)?;
            bar.finish();
            println!(
                "wrote {} items to {} ({})",
                summary.imported(),
                args.out.join(crate::sample::PROJECT_FILE).display(),
                summary.one_line()
            );
            Ok(0)
        }
        Command::Dev(args) => dev::run(args),
    }
}

/// The `--project` value, or an error naming the flag.
fn require_project(cli: &Cli) -> anyhow::Result<&PathBuf> {
    cli.project.as_ref().ok_or_else(|| anyhow::anyhow!("--project FILE is required for this command"))
}
