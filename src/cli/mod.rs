//! The command line: `medvlm` with no subcommand opens the GUI; subcommands are scriptable
//! (progress bars on stderr, results on stdout, `--json` where a program will read the output).
//! This is the application edge, so errors are `anyhow` here.

/// `println!` for command output: when the reader went away (`medvlm info | head`), the command
/// ends quietly with status 0 instead of panicking on the broken pipe.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for command output (see [`outln!`]).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!($($arg)*))
    };
}

mod curate;
mod dev;
mod dicom;
mod eval;
mod filter;
mod import;
mod info;
pub mod model;
mod nifti;
mod progress;
mod review;
mod reward;
mod train;

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
    /// GPU autotune effort for new kernel shapes (results are cached in the user cache folder;
    /// `CUBECL_AUTOTUNE_LEVEL` overrides it): minimal gives the quickest first step.
    #[arg(long, global = true, value_enum, default_value_t = Autotune::Minimal)]
    pub autotune: Autotune,
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

/// GPU autotune level (cubecl's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Autotune {
    /// A few candidates per shape: the quickest first step.
    #[default]
    Minimal,
    /// cubecl's default.
    Balanced,
    /// More candidates.
    Extensive,
    /// Every candidate.
    Full,
}

impl Autotune {
    /// As the model layer's setting.
    pub fn level(self) -> crate::model::gpu::AutotuneLevel {
        use crate::model::gpu::AutotuneLevel as L;
        match self {
            Self::Minimal => L::Minimal,
            Self::Balanced => L::Balanced,
            Self::Extensive => L::Extensive,
            Self::Full => L::Full,
        }
    }
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
    /// Generate a completion from a checkpoint for a prompt and image(s).
    Generate(model::GenerateArgs),
    /// Run GRPO training on a project (progress bar, one metric line per log step).
    Train(train::TrainArgs),
    /// List or export training runs.
    Runs(train::RunsArgs),
    /// Evaluate a model on a split: accuracy per modality and per source.
    Eval(eval::EvalArgs),
    /// Export the items (or a dataset version) as unified JSONL, verl Parquet or TRL JSONL, with a dataset card.
    Export(curate::ExportArgs),
    /// Difficulty curation: pass-count estimation (`curate passrate`) and its histogram.
    Curate(curate::CurateArgs),
    /// Model debugging tools (`medvlm model logits`).
    Model(model::ModelArgs),
    /// DICOM files: `info` (syntax, geometry, window, patient attributes present), `tags` (the
    /// header with patient data hidden), `render` (a frame through a window to PNG).
    Dicom(dicom::DicomArgs),
    /// NIfTI volumes (`.nii`, `.nii.gz`): `info` (size, type, orientation, voxel size), `render`
    /// (a slice along an axis through a window to PNG).
    Nifti(nifti::NiftiArgs),
    /// Score a completion with a preset's reward functions against an answer key, each component
    /// printed (`--json`: `total` and one key per component).
    Reward(reward::RewardArgs),
    /// Clinician review of traces: rate, export/import ratings (JSONL/CSV), agreement (κ) per
    /// rubric dimension, the right-answer / wrong-reason matrix, rubric and guidelines.
    Review(review::ReviewArgs),
    /// Build the built-in medvlm-tiny model: train its tokenizer, run the supervised warm start on
    /// the sample train split, save it (f16) and report test accuracy. Reproducible from --seed.
    PretrainTiny(PretrainArgs),
    /// Generate the synthetic sample project (images, manifest.jsonl and sample.medvlm) into a folder.
    SampleData(SampleArgs),
    /// Developer tools: full-size checkpoints offline (`dev tokenizer`, `dev random-model`,
    /// `dev random-adapter`) and the crash-safety stress writers.
    Dev(dev::DevArgs),
}

/// `medvlm pretrain-tiny`.
#[derive(Debug, clap::Args)]
pub struct PretrainArgs {
    /// The sample project to train on.
    #[arg(long = "data", default_value = "sample-data/sample.medvlm")]
    pub data: PathBuf,
    /// Output model folder.
    #[arg(long, default_value = "sample-data/medvlm-tiny")]
    pub out: PathBuf,
    /// Seed (tokenizer corpus, initialisation, data order, trace noise).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Optimizer steps.
    #[arg(long, default_value_t = 3000)]
    pub steps: usize,
    /// Examples per step.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Probability that a trace makes a systematic reasoning error (the room GRPO has to fix).
    #[arg(long, default_value_t = 0.6)]
    pub rule_noise: f32,
    /// Probability that a trace argues for a random wrong option.
    #[arg(long, default_value_t = 0.0)]
    pub random_noise: f32,
    /// Fraction of examples from the broad synthetic pretraining stream (all modalities, never the
    /// project's images); 1 = like a real base model, which never saw the RL training set.
    #[arg(long, default_value_t = 1.0)]
    pub pretraining_mix: f32,
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
    crate::model::gpu::configure(&crate::model::gpu::GpuSettings { autotune: cli.autotune.level() });
    match command {
        Command::Gui => Ok(0),
        Command::Import(args) => import::run(cli, args),
        Command::Info(args) => info::run(cli, args),
        Command::SampleData(args) => {
            let bar = BarSink::new();
            let summary = crate::sample::generate(&args.out, args.seed, args.force, &bar)?;
            bar.finish();
            outln!(
                "wrote {} items to {} ({})",
                summary.imported(),
                args.out.join(crate::sample::PROJECT_FILE).display(),
                summary.one_line()
            );
            Ok(0)
        }
        Command::Dev(args) => dev::run(args),
        Command::Reward(args) => reward::run(args),
        Command::Dicom(args) => dicom::run(args),
        Command::Nifti(args) => nifti::run(args),
        Command::Generate(args) => model::generate_cmd(cli, args),
        Command::Eval(args) => eval::run(cli, args),
        Command::Review(args) => review::run(cli, args),
        Command::Train(args) => train::train(cli, args),
        Command::Runs(args) => train::runs(cli, args),
        Command::Curate(args) => curate::run(cli, args),
        Command::Export(args) => curate::export(cli, args),
        Command::PretrainTiny(a) => {
            let opts = crate::train::pretrain::PretrainOptions {
                project: a.data.clone(),
                out: a.out.clone(),
                seed: a.seed,
                steps: a.steps,
                batch: a.batch,
                lr: a.lr,
                rule_noise: a.rule_noise,
                random_noise: a.random_noise,
                pretraining_mix: a.pretraining_mix,
            };
            let bar = BarSink::new();
            let r = crate::train::pretrain::pretrain(&opts, &bar)?;
            bar.finish();
            outln!(
                "medvlm-tiny: {} parameters, vocab {}, {} steps in {:.0}s, final loss {:.3}",
                r.parameters,
                r.vocab_size,
                opts.steps,
                r.train_seconds,
                r.losses.last().map_or(f32::NAN, |l| l.1)
            );
            outln!(
                "test accuracy {:.1}% ({} of {}), format ok {:.1}%",
                r.test.total.accuracy(),
                r.test.total.correct,
                r.test.total.n,
                r.test.total.format_rate()
            );
            for (m, t) in &r.test.by_modality {
                outln!("  {m:<8} {:.1}% of {}", t.accuracy(), t.n);
            }
            outln!("wrote {}", opts.out.display());
            Ok(0)
        }
        Command::Model(args) => model::run(cli, args),
    }
}

/// Writes command output to stdout; a closed pipe ends the process quietly (status 0), any other
/// write error with status 2.
pub fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {e}");
        std::process::exit(2);
    }
}

/// The `--project` value, or an error naming the flag.
fn require_project(cli: &Cli) -> anyhow::Result<&PathBuf> {
    cli.project.as_ref().ok_or_else(|| anyhow::anyhow!("--project FILE is required for this command"))
}
