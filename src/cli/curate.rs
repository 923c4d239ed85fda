//! `medvlm curate`: difficulty curation from the command line — `passrate` runs the pass-count job
//! with a progress bar (resumable: items already estimated under the same key are skipped) and
//! prints the histogram; `histogram` prints it for an existing estimate; `filter` / `undo` / `redo`
//! live in `filter.rs`.

use std::collections::HashMap;
use std::path::PathBuf;

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
    /// Export items (a split, a difficulty band, a version) as unified JSONL, verl Parquet or TRL JSONL.
    Export(ExportArgs),
    /// Dataset versions: `create NAME`, `list`, `diff OLD [NEW]` (NEW defaults to the live items).
    Version(VersionArgs),
    /// Leakage check across splits: the same image bytes, or the same question on a same-named image.
    Leakage,
    /// Select items by facets, text, review status and difficulty; print them, optionally apply a
    /// bulk action (`--apply tag:NAME|untag:NAME|exclude|split:S|band:B`) as one undoable action.
    Filter(super::filter::FilterArgs),
    /// Undo the last edit or bulk action (GUI or CLI: one shared edit log).
    Undo,
    /// Redo the last undone action.
    Redo,
}

/// `medvlm curate export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// `jsonl` (unified schema, re-importable), `verl-parquet` (embedded images) or `trl-jsonl`.
    #[arg(long, default_value = "jsonl")]
    pub format: String,
    /// Output file, or a folder (the file is then named `<version|current>-<format>.<ext>`).
    #[arg(long)]
    pub out: PathBuf,
    /// Only this split.
    #[arg(long)]
    pub split: Option<String>,
    /// Keep only pass counts in this band, e.g. `1-7` (uses the project's largest estimate).
    #[arg(long)]
    pub band: Option<String>,
    /// `as-is`, `shuffled`, `easy-to-hard` or `hard-to-easy` (seeded shuffle, then sort by pass count).
    #[arg(long, default_value = "as-is")]
    pub order: String,
    /// Shuffle seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Export this dataset version instead of the live items.
    #[arg(long)]
    pub version: Option<String>,
    /// verl `data_source`.
    #[arg(long, default_value = "medvlm-workbench")]
    pub data_source: String,
    /// Prompt template for verl / TRL prompts.
    #[arg(long, default_value = "medvlthinker")]
    pub template: String,
    /// Also export items tagged `excluded`.
    #[arg(long)]
    pub include_excluded: bool,
    /// Export this metadata column too (repeatable). By default only the dataset fields the
    /// workbench knows leave the machine; other columns are listed in a warning.
    #[arg(long = "keep-meta", value_name = "NAME")]
    pub keep_meta: Vec<String>,
    /// Export items tagged `burned-in-text` (their pixels may show patient text) anyway; without
    /// it such an export is refused (best effort: only what import could flag is flagged).
    #[arg(long)]
    pub allow_burned_in_text: bool,
    /// JSONL: also write de-identified copies of the items' source DICOM files in `dicom/`
    /// (PS3.15 Basic Profile, best effort; UIDs remapped within this export; regions blacked out
    /// of a rendering are blacked out of its copy's pixels too).
    #[arg(long)]
    pub with_dicom: bool,
    /// The PS3.15 options of those copies.
    #[command(flatten)]
    pub deid: super::dicom::DeidArgs,
}

/// `medvlm curate version`.
#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// `create`, `list` or `diff`.
    pub action: String,
    /// Version name (create) or the older version (diff).
    pub name: Option<String>,
    /// The newer version (diff; default: the live items).
    pub other: Option<String>,
    /// A note stored with a new version.
    #[arg(long, default_value = "")]
    pub note: String,
}

/// `medvlm curate passrate`.
#[derive(Debug, clap::Args)]
pub struct PassrateArgs {
    /// Model folder, or `sample` for the built-in medvlm-tiny.
    #[arg(long, default_value = "sample")]
    pub model: String,
    /// A PEFT LoRA adapter folder on the model.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    /// Weight dtype and QLoRA base.
    #[command(flatten)]
    pub compute: super::model::ComputeArgs,
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
    /// Estimate at most this many items (after the filters).
    #[arg(long)]
    pub limit: Option<usize>,
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
        CurateCommand::Export(e) => export(cli, e),
        CurateCommand::Version(v) => version(cli, v),
        CurateCommand::Filter(f) => super::filter::filter(cli, f),
        CurateCommand::Undo => super::filter::undo_redo(cli, false),
        CurateCommand::Redo => super::filter::undo_redo(cli, true),
        CurateCommand::Leakage => {
            let path = require_project(cli)?;
            let project = Project::open(path).with_context(|| format!("opening {}", path.display()))?;
            let items: Vec<_> = project.items()?.into_iter().map(|(_, it)| it).collect();
            let leaks = crate::curation::leakage::find_leaks(&items, 5);
            for l in leaks.iter().take(50) {
                outln!("{:?}: {} ({}) ~ {} ({})", l.kind, l.a.0, l.a.1, l.b.0, l.b.1);
            }
            outln!("{} cross-split pairs (at most 5 listed per shared image or question)", leaks.len());
            Ok(i32::from(!leaks.is_empty()))
        }
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
        adapter: a.adapter.clone(),
        dtype: a.compute.dtype,
        quantize_base: a.compute.quantize_base,
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
        limit: a.limit,
        items_per_batch: a.batch,
        seed: a.seed,
        backend: super::model::backend(cli),
    };
    let key = estimate_key(&opts)?;
    let bar = BarSink::new();
    let report = estimate(&path, &opts, &bar)?;
    bar.finish();
    eprintln!(
        "estimated {} items ({} samples) in {:.1} s ({:.0} samples/s); {} already estimated with this model/prompt/sampling; {} skipped",
        report.estimated,
        report.samples,
        report.seconds,
        report.samples as f64 / report.seconds.max(1e-9),
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

fn print_histogram(
    project: &Project,
    key: &EstimateKey,
    est: &HashMap<i64, PassCount>,
    by: SplitBy,
) -> anyhow::Result<()> {
    let rows: Vec<_> = project.item_rows()?.into_iter().filter(|r| est.contains_key(&r.id)).collect();
    let h = Histogram::build(&rows, est, key.k, by);
    let band = Band::medium(key.k);
    outln!("pass counts ({}), {} items; medium band {}…{} of {}", key.label(), rows.len(), band.lo, band.hi, key.k);
    out!("{:<12}", "correct");
    for n in 0..=key.k {
        out!("{n:>5}");
    }
    outln!("{:>8}", "in band");
    for (name, bars) in h.series.iter().chain(std::iter::once((&"all".to_string(), &h.totals()))) {
        out!("{name:<12}");
        for c in bars {
            out!("{c:>5}");
        }
        let inside: usize = bars.iter().enumerate().filter(|(n, _)| band.contains(*n)).map(|(_, c)| c).sum();
        outln!("{inside:>8}");
    }
    let n = est.len().max(1) as f64;
    let mean =
        |kk: usize| est.values().map(|c| crate::curation::pass_at_k(c.n_samples, c.n_correct, kk)).sum::<f64>() / n;
    outln!("unbiased pass@1 {:.1}%, pass@{} {:.1}% (mean over items)", 100.0 * mean(1), key.k, 100.0 * mean(key.k));
    Ok(())
}

/// `medvlm export` / `medvlm curate export`.
pub(super) fn export(cli: &Cli, a: &ExportArgs) -> anyhow::Result<i32> {
    use crate::io::export::{ExportFormat, ExportOptions, Order};
    let path = require_project(cli)?;
    let project = Project::open(path).with_context(|| format!("opening {}", path.display()))?;
    let format = ExportFormat::parse(&a.format)
        .with_context(|| format!("unknown --format {:?} (jsonl, verl-parquet, trl-jsonl)", a.format))?;
    let order = match a.order.as_str() {
        "as-is" => Order::AsIs,
        "shuffled" => Order::Shuffled,
        "easy-to-hard" => Order::EasyToHard,
        "hard-to-easy" => Order::HardToEasy,
        o => anyhow::bail!("unknown --order {o:?} (as-is, shuffled, easy-to-hard, hard-to-easy)"),
    };
    let split = match &a.split {
        Some(s) => Some(Split::parse(s).with_context(|| format!("unknown split {s:?}"))?),
        None => None,
    };
    let key = project.estimate_keys()?.into_iter().next().map(|(k, _)| k);
    let band = a.band.as_deref().map(Band::parse).transpose().map_err(|e| anyhow::anyhow!("--band {e}"))?;
    if (band.is_some() || matches!(order, Order::EasyToHard | Order::HardToEasy)) && key.is_none() {
        anyhow::bail!("--band and difficulty orders need pass counts: run `medvlm curate passrate` first");
    }
    let template = crate::domain::prompt::PromptTemplate::parse(&a.template)
        .with_context(|| format!("unknown --template {:?}", a.template))?;
    let opts = ExportOptions {
        format,
        split,
        difficulty: key.map(|k| (k, band)),
        order,
        seed: a.seed,
        template,
        data_source: a.data_source.clone(),
        include_excluded: a.include_excluded,
        version: a.version.clone(),
        keep_meta: a.keep_meta.clone(),
        allow_burned_in_text: a.allow_burned_in_text,
        dicom_copies: a.with_dicom,
        deid: a.deid.options()?,
    };
    // `--out DIR` (an existing folder, or a path without extension): a file named after the version.
    let out = if a.out.is_dir() || a.out.extension().is_none() {
        std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
        let ext = if format == ExportFormat::VerlParquet { "parquet" } else { "jsonl" };
        let kind = match format {
            ExportFormat::Jsonl => "unified",
            ExportFormat::VerlParquet => "verl",
            ExportFormat::TrlJsonl => "trl",
        };
        a.out.join(format!("{}-{kind}.{ext}", a.version.as_deref().unwrap_or("current")))
    } else {
        // A file in a folder that is not there yet: the folder is made, as for `--out DIR`.
        if let Some(parent) = a.out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        a.out.clone()
    };
    let bar = BarSink::new();
    let s = crate::io::export::export(&project, &opts, &out, &bar)?;
    bar.finish();
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    outln!(
        "wrote {} rows to {} ({} items filtered out, {} image files); dataset card {}",
        s.rows,
        s.path.display(),
        s.filtered_out,
        s.images_written,
        s.card.display()
    );
    Ok(0)
}

fn version(cli: &Cli, a: &VersionArgs) -> anyhow::Result<i32> {
    let path = require_project(cli)?;
    let mut project = Project::open(path).with_context(|| format!("opening {}", path.display()))?;
    match a.action.as_str() {
        "create" => {
            let name = a.name.as_deref().context("usage: medvlm curate version create NAME [--note TEXT]")?;
            let v = project.create_version(name, &a.note)?;
            outln!("version {:?}: {} items, {}", v.name, v.item_count, v.created_at);
        }
        "list" => {
            for v in project.versions()? {
                outln!("{:<24} {:>7} items  {}  {}", v.name, v.item_count, v.created_at, v.note);
            }
        }
        "diff" => {
            let old = a.name.as_deref().context("usage: medvlm curate version diff OLD [NEW]")?;
            let d = project.diff_versions(old, a.other.as_deref())?;
            outln!(
                "{} → {}: {} added, {} removed, {} edited",
                old,
                a.other.as_deref().unwrap_or("live items"),
                d.added.len(),
                d.removed.len(),
                d.edited.len()
            );
            for u in d.added.iter().take(20) {
                outln!("+ {u}");
            }
            for u in d.removed.iter().take(20) {
                outln!("- {u}");
            }
            for (u, f) in d.edited.iter().take(20) {
                outln!("~ {u}: {}", f.join(", "));
            }
        }
        other => anyhow::bail!("unknown version action {other:?} (create, list, diff)"),
    }
    Ok(0)
}
