//! `medvlm curate`: difficulty curation from the command line — `passrate` runs the pass-count job
//! with a progress bar (resumable: items already estimated under the same key are skipped) and
//! prints the histogram; `histogram` prints it for an existing estimate.

use std::collections::HashMap;

use anyhow::Context as _;

use super::{BarSink, Cli, require_project};
use crate::curation::passrate::{PassrateOptions, estimate, estimate_key};
use crate::curation::{Band, Histogram, SplitBy};
use crate::domain::{Modality, Split};
use crate::store::{EstimateKey, PassCount, Project};

/// `medvlm curate`.
#[derive(Debug, clap::Args)]
pub struct CurateArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: CurateCommand,
}

/// Curation subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CurateCommand {
    /// Estimate each item's pass count: k samples from a model, graded by the reward's correctness.
    Passrate(PassrateArgs),
    /// Print the pass-count histogram of the newest (or the largest) estimate in the project.
    Histogram(HistogramArgs),
}

/// `medvlm curate passrate`.
#[derive(Debug, clap::Args)]
pub struct PassrateArgs {
    /// Model folder, or `sample` for the built-in medvlm-tiny.
    #[arg(long, default_value = "sample")]
    pub model: String,
    /// Samples per item (MedVLThinker: 16).
    #[arg(long, default_value_t = 16)]
    pub k: usize,
    /// Sampling temperature.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Nucleus threshold (1 = off).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// Top-k (0 = off).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Maximum new tokens per sample.
    #[arg(long, default_value_t = 128)]
    pub max_new_tokens: usize,
    /// Prompt template.
    #[arg(long, default_value = "medvlm-r1-train")]
    pub template: String,
    /// Reward whose correctness grades samples: medvlm-r1, medvlthinker, accuracy, open_match.
    #[arg(long, default_value = "medvlm-r1")]
    pub reward: String,
    /// Only this split (train, val, test).
    #[arg(long)]
    pub split: Option<String>,
    /// Only these modalities (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub modality: Vec<String>,
    /// Items per generation batch.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `medvlm curate histogram`.
#[derive(Debug, clap::Args)]
pub struct HistogramArgs {
    /// Split the bars by `modality` or `source`.
    #[arg(long, default_value = "modality")]
    pub by: String,
}

pub(super) fn run(cli: &Cli, a: &CurateArgs) -> anyhow::Result<i32> {
    match &a.command {
        CurateCommand::Passrate(p) => passrate(cli, p),
        CurateCommand::Histogram(h) => {
            let path = require_project(cli)?;
            let project = Project::open(path).with_context(|| format!("opening {}", path.display()))?;
            let Some((key, _)) = project.estimate_keys()?.into_iter().next() else {
                anyhow::bail!("no pass-count estimates in {}; run `medvlm curate passrate` first", path.display());
            };
            let by = if h.by == "source" { SplitBy::Source } else { SplitBy::Modality };
            let est = project.estimates(&key)?;
            print_histogram(&project, &key, &est, by)?;
            Ok(0)
        }
    }
}

fn passrate(cli: &Cli, a: &PassrateArgs) -> anyhow::Result<i32> {
    let path = require_project(cli)?.clone();
    let split = match &a.split {
        Some(s) => Some(Split::parse(s).with_context(|| format!("unknown split {s:?} (train, val, test)"))?),
        None => None,
    };
    let modalities = a
        .modality
        .iter()
        .map(|m| Modality::parse(m).with_context(|| format!("unknown modality {m:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let opts = PassrateOptions {
        model: a.model.clone(),
        k: a.k,
        temperature: a.temperature,
        top_p: a.top_p,
        top_k: a.top_k,
        max_new_tokens: a.max_new_tokens,
        template: a.template.clone(),
        reward: a.reward.clone(),
        split,
        modalities,
        item_ids: None,
        items_per_batch: a.batch,
        seed: a.seed,
        backend: super::model::backend(cli),
    };
    let key = estimate_key(&opts)?;
    let bar = BarSink::new();
    let report = estimate(&path, &opts, &bar)?;
    bar.finish();
    eprintln!(
        "estimated {} items ({} samples) in {:.1} s; {} already estimated with this model/prompt/sampling; {} skipped",
        report.estimated,
        report.samples,
        report.seconds,
        report.already_done,
        report.skipped.len()
    );
    for (uid, why) in report.skipped.iter().take(10) {
        eprintln!("  skipped {uid}: {why}");
    }
    let project = Project::open(&path)?;
    let est = project.estimates(&key)?;
    print_histogram(&project, &key, &est, SplitBy::Modality)?;
    Ok(0)
}

fn print_histogram(project: &Project, key: &EstimateKey, est: &HashMap<i64, PassCount>, by: SplitBy) -> anyhow::Result<()> {
    let rows: Vec<_> = project.item_rows()?.into_iter().filter(|r| est.contains_key(&r.id)).collect();
    let h = Histogram::build(&rows, est, key.k, by);
    let band = Band::medium(key.k);
    println!("pass counts ({}), {} items; medium band {}…{} of {}", key.label(), rows.len(), band.lo, band.hi, key.k);
    print!("{:<12}", "correct");
    for n in 0..=key.k {
        print!("{n:>5}");
    }
    println!("{:>8}", "in band");
    for (name, bars) in h.series.iter().chain(std::iter::once((&"all".to_string(), &h.totals()))) {
        print!("{name:<12}");
        for c in bars {
            print!("{c:>5}");
        }
        let inside: usize = bars.iter().enumerate().filter(|(n, _)| band.contains(*n)).map(|(_, c)| c).sum();
        println!("{inside:>8}");
    }
    Ok(())
}
