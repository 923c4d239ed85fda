//! Pass-count estimation (MedVLThinker §2.3): k samples per item at T=1 from a chosen model and
//! prompt, graded by the reward's correctness, stored per item under a key of (model, prompt,
//! sampling, reward, k) so estimates from different models never mix. Items already estimated under
//! the same key are skipped, so a stopped or crashed job resumes where it was; each batch of items is
//! written in one transaction. Progress moves with every generated token (items, ETA, samples/s)
//! and a cancel stops the generation within a token, its unfinished batch not written.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::domain::prompt::PromptTemplate;
use crate::domain::reward::{RewardFn, RewardSpec};
use crate::domain::{Modality, Split};
use crate::jobs::ProgressSink;
use crate::model::device::BackendChoice;
use crate::model::generate::{Generator, Sampling};
use crate::model::processor::Processor;
use crate::model::{Batch, ModelError};
use crate::rng::Rng;
use crate::store::{EstimateKey, PassCount, Project, RolloutRow, RunKind, RunStatus, StoreError};
use crate::train::inputs::{InputError, Loaded, ModelSource, OpenOptions, prompt_item};

/// Settings of a pass-count job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PassrateOptions {
    /// Model folder, or `sample` for the bundled tiny model.
    pub model: String,
    /// A PEFT LoRA adapter folder on top of the model.
    #[serde(default)]
    pub adapter: Option<std::path::PathBuf>,
    /// Weight dtype (part of the estimate's model key unless f32).
    #[serde(default)]
    pub dtype: crate::model::precision::Precision,
    /// QLoRA base under the adapter (part of the model key).
    #[serde(default)]
    pub quantize_base: Option<crate::model::precision::BaseQuant>,
    /// Samples per item.
    pub k: usize,
    /// Sampling temperature.
    pub temperature: f32,
    /// Nucleus threshold (1 = off).
    pub top_p: f32,
    /// Top-k (0 = off).
    pub top_k: usize,
    /// Tokens per sample at most.
    pub max_new_tokens: usize,
    /// Prompt template name (or a custom template with `{question}` / `{options}`).
    pub template: String,
    /// Reward whose correctness grades a sample (`medvlm-r1` or `medvlthinker`).
    pub reward: String,
    /// Only this split (`None` = all).
    pub split: Option<Split>,
    /// Only these modalities (empty = all).
    pub modalities: Vec<Modality>,
    /// Only these item row ids (`None` = every item passing the filters).
    pub item_ids: Option<Vec<i64>>,
    /// Estimate at most this many items (after the filters; `None` = all).
    pub limit: Option<usize>,
    /// Items per generation batch (each contributes k rows).
    pub items_per_batch: usize,
    /// Sampling seed.
    pub seed: u64,
    /// Compute backend.
    pub backend: BackendChoice,
}

impl Default for PassrateOptions {
    /// MedVLThinker's protocol: 16 samples at T=1, top-p 1, its prompt and reward.
    fn default() -> Self {
        Self {
            model: "sample".into(),
            adapter: None,
            dtype: crate::model::precision::Precision::F32,
            quantize_base: None,
            k: 16,
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            max_new_tokens: 128,
            template: "medvlm-r1-train".into(),
            reward: "medvlm-r1".into(),
            split: None,
            modalities: vec![],
            item_ids: None,
            limit: None,
            items_per_batch: 4,
            seed: 0,
            backend: BackendChoice::Auto,
        }
    }
}

/// What a job did.
#[derive(Debug, Clone, Serialize)]
pub struct PassrateReport {
    /// The key the estimates were stored under.
    pub key: EstimateKey,
    /// Items estimated now.
    pub estimated: usize,
    /// Items skipped because they were already estimated under this key.
    pub already_done: usize,
    /// Items skipped because they cannot be graded (open-ended without reference, missing image).
    pub skipped: Vec<(String, String)>,
    /// Samples drawn.
    pub samples: usize,
    /// Wall time.
    pub seconds: f64,
    /// True when the job was stopped before the end (what was done is kept).
    pub cancelled: bool,
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum PassrateError {
    /// Project access.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Model or tokenizer.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Model lookup, device, adapter, prompt building, images.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A bad option.
    #[error("passrate option {field}: {reason}")]
    Option {
        /// The option.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

/// Rewards offered for grading samples (any single reward function's name is accepted too).
pub const GRADING_REWARDS: [&str; 4] = ["medvlm-r1", "medvlthinker", "accuracy", "open_match"];

/// The reward spec of a name.
pub fn reward_spec(name: &str) -> Option<RewardSpec> {
    match name {
        "medvlm-r1" => Some(RewardSpec::medvlm_r1()),
        "medvlthinker" => Some(RewardSpec::medvlthinker()),
        other => RewardFn::parse(other).map(|f| RewardSpec { terms: vec![(f, 1.0)], custom: vec![] }),
    }
}

/// Identity of a model folder: its path and the size and modification time of its weights, so a
/// retrained model in the same folder gets new estimates.
pub fn model_key(dir: &Path) -> String {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut fp = String::new();
    for f in ["model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors"] {
        if let Ok(m) = std::fs::metadata(dir.join(f)) {
            let t =
                m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());
            fp = format!("{}:{t}", m.len());
            break;
        }
    }
    format!("{}#{fp}", canonical.display())
}

/// The estimate key of a job (without running it).
///
/// # Errors
/// [`PassrateError`] for an unknown model or reward.
pub fn estimate_key(opts: &PassrateOptions) -> Result<EstimateKey, PassrateError> {
    let source = ModelSource::parse(&opts.model).with_adapter(opts.adapter.clone());
    let mut model_key = model_key(&source.dir()?);
    if let Some(a) = &source.adapter {
        model_key = format!("{model_key}+{}", self::model_key(a));
    }
    if opts.dtype != crate::model::precision::Precision::F32 {
        model_key = format!("{model_key}@{}", opts.dtype.name());
    }
    if let Some(q) = opts.quantize_base {
        model_key = format!("{model_key}@{}", q.name());
    }
    let sampling = serde_json::json!({
        "temperature": opts.temperature, "top_p": opts.top_p, "top_k": opts.top_k,
        "max_new_tokens": opts.max_new_tokens, "reward": opts.reward,
    });
    Ok(EstimateKey { model_key, prompt_key: opts.template.clone(), sampling_json: sampling.to_string(), k: opts.k })
}

fn check(opts: &PassrateOptions) -> Result<RewardSpec, PassrateError> {
    let bad = |field, reason: &str| Err(PassrateError::Option { field, reason: reason.into() });
    if opts.k == 0 || opts.k > 256 {
        return bad("k", "must be between 1 and 256");
    }
    if !(opts.temperature > 0.0 && opts.temperature.is_finite()) {
        return bad("temperature", "must be a positive number");
    }
    if !(opts.top_p > 0.0 && opts.top_p <= 1.0) {
        return bad("top_p", "must be in (0, 1]");
    }
    if opts.max_new_tokens == 0 {
        return bad("max_new_tokens", "must be at least 1");
    }
    reward_spec(&opts.reward).ok_or_else(|| PassrateError::Option {
        field: "reward",
        reason: format!("unknown reward {:?} ({})", opts.reward, GRADING_REWARDS.join(", ")),
    })
}

/// What every batch of a pass-count job shares.
struct Job<'a> {
    project: &'a mut Project,
    opts: &'a PassrateOptions,
    spec: &'a RewardSpec,
    key: &'a EstimateKey,
    processor: &'a Processor,
    template: &'a PromptTemplate,
}

/// The sampling stream of sample `j` of an item: from the job's seed and the item's uid only, so an
/// item gets the same samples whatever it is batched with and however often the job was resumed.
pub fn sample_seed(seed: u64, uid: &str, j: usize) -> u64 {
    let h = uid.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    Rng::derive(Rng::derive(seed, h).next_u64(), j as u64).next_u64()
}

/// Progress inside a batch, fed by the generator after every token: items advance in proportion
/// to the tokens generated, so a long batch shows movement, an ETA and a rate, and a cancel is
/// seen within one token.
struct BatchProgress<'a> {
    /// Items finished before the current batch, and the current batch's size.
    before: AtomicU64,
    len: AtomicU64,
    /// Samples written so far.
    samples: AtomicU64,
    total: u64,
    max_new_tokens: usize,
    k: usize,
    started: Instant,
    sink: &'a dyn ProgressSink,
}

impl BatchProgress<'_> {
    fn start_batch(&self, before: u64, len: usize) {
        self.before.store(before, Ordering::Relaxed);
        self.len.store(len as u64, Ordering::Relaxed);
    }

    /// Reports `tokens` of the batch's completions generated; false when the job is cancelled.
    fn tick(&self, tokens: usize) -> bool {
        let frac = (tokens as f64 / self.max_new_tokens.max(1) as f64).min(1.0);
        let len = self.len.load(Ordering::Relaxed) as f64;
        let done = self.before.load(Ordering::Relaxed) + (frac * len).floor() as u64;
        let samples = self.samples.load(Ordering::Relaxed) as f64 + frac * len * self.k as f64;
        self.report(done, samples);
        !self.sink.is_cancelled()
    }

    /// "estimating pass counts · 12.5 samples/s", with `done` items of the total.
    fn report(&self, done: u64, samples: f64) {
        let rate = samples / self.started.elapsed().as_secs_f64().max(1e-9);
        self.sink.update(&format!("estimating pass counts · {rate:.1} samples/s"), done, Some(self.total));
    }
}

#[allow(clippy::too_many_arguments)]
fn run_batches(
    job: &mut Job<'_>,
    generator: &Generator<'_>,
    batches: &[Vec<i64>],
    run: Option<i64>,
    report: &mut PassrateReport,
    progress: &BatchProgress<'_>,
) -> Result<(), PassrateError> {
    let (opts, tok, sink) = (job.opts, &job.processor.tok, progress.sink);
    let mut processed = 0u64;
    progress.report(0, 0.0);
    for chunk in batches {
        if sink.is_cancelled() {
            report.cancelled = true;
            break;
        }
        let mut prompts = Vec::new();
        for &id in chunk {
            let item = job.project.item(id)?;
            let uid = item.uid.clone();
            match prompt_item(job.project, id, item, job.processor, job.template, 1 << 20) {
                Ok(p) => prompts.push(p),
                Err(e) => report.skipped.push((uid, e.to_string())),
            }
        }
        progress.start_batch(processed, chunk.len());
        processed += chunk.len() as u64;
        if prompts.is_empty() {
            continue;
        }
        let seqs: Vec<Vec<u32>> = prompts.iter().flat_map(|p| std::iter::repeat_n(p.prompt.clone(), opts.k)).collect();
        let seeds: Vec<u64> =
            prompts.iter().flat_map(|p| (0..opts.k).map(|j| sample_seed(opts.seed, &p.item.uid, j))).collect();
        // Each item's image is encoded once for its k samples.
        let (mut images, mut image_of) = (Vec::new(), Vec::new());
        for p in &prompts {
            if let Some(img) = &p.image {
                images.push(img.clone());
                image_of.extend(std::iter::repeat_n(images.len() - 1, opts.k));
            }
        }
        let batch = Batch::left_padded(&seqs, tok.endoftext, vec![]).with_shared_images(images, image_of);
        let sampling = Sampling {
            greedy: false,
            temperature: opts.temperature,
            top_k: opts.top_k,
            top_p: opts.top_p,
            max_new_tokens: opts.max_new_tokens,
            seed: opts.seed,
        };
        let out = generator.generate_seeded(&batch, &tok.stop_ids(), &sampling, tok.endoftext, &seeds)?;
        if sink.is_cancelled() {
            // Generation ended early: this batch's samples are incomplete and are not written.
            report.cancelled = true;
            break;
        }
        let mut rows = Vec::with_capacity(prompts.len());
        let mut samples = Vec::with_capacity(prompts.len() * opts.k);
        for (g, (p, group)) in prompts.iter().zip(out.tokens.chunks(opts.k)).enumerate() {
            let mut n_correct = 0;
            for (j, ids) in group.iter().enumerate() {
                let text = tok.decode(ids, true)?;
                let (mut rewards, reward) = job.spec.score(&text, &p.item);
                let ok = job.spec.correct(&rewards, &text, &p.item);
                n_correct += usize::from(ok);
                rewards.insert("correct".into(), f32::from(u8::from(ok)));
                samples.push(RolloutRow {
                    item_id: p.id,
                    group_index: g,
                    sample_index: j,
                    completion: text,
                    rewards,
                    reward,
                    advantage: 0.0,
                    n_tokens: ids.len(),
                });
            }
            rows.push((p.id, PassCount { n_correct, n_samples: opts.k }));
        }
        job.project.put_estimates_with_samples(job.key, &rows, run, &samples)?;
        report.estimated += rows.len();
        report.samples += rows.len() * opts.k;
        progress.samples.store(report.samples as u64, Ordering::Relaxed);
        progress.report(processed, report.samples as f64);
    }
    Ok(())
}

/// Runs the job on the calling thread (CLI, or a job thread in the GUI).
///
/// # Errors
/// [`PassrateError`]; estimates written before the error are kept.
pub fn estimate(
    project_path: &Path,
    opts: &PassrateOptions,
    sink: &dyn ProgressSink,
) -> Result<PassrateReport, PassrateError> {
    let spec = check(opts)?;
    let key = estimate_key(opts)?;
    let started = Instant::now();
    let mut project = Project::open(project_path)?;
    sink.update("loading model", 0, None);
    let source = ModelSource::parse(&opts.model).with_adapter(opts.adapter.clone());
    let open = OpenOptions { precision: opts.dtype, quantize: opts.quantize_base, ..OpenOptions::infer(opts.backend) };
    let Loaded { vlm: model, processor, chosen, .. } = Loaded::open(&source, &open)?;
    let dev = chosen.device.clone();
    let template =
        PromptTemplate::parse(&opts.template).unwrap_or_else(|| PromptTemplate::Custom(opts.template.clone()));
    let done = project.estimates(&key)?;
    let mut report = PassrateReport {
        key: key.clone(),
        estimated: 0,
        already_done: 0,
        skipped: vec![],
        samples: 0,
        seconds: 0.0,
        cancelled: false,
    };
    let wanted = opts.item_ids.as_ref().map(|v| v.iter().copied().collect::<std::collections::HashSet<_>>());
    // Batches are cut from every candidate (done or not), in id order, so a resumed job sees the
    // same batches as an uninterrupted one and skips those already written.
    let mut candidates = Vec::new();
    for row in project.item_rows()? {
        if wanted.as_ref().is_some_and(|w| !w.contains(&row.id))
            || opts.split.is_some_and(|s| s != row.split)
            || (!opts.modalities.is_empty() && !opts.modalities.contains(&row.modality))
        {
            continue;
        }
        if done.contains_key(&row.id) {
            report.already_done += 1;
            candidates.push((row.id, true));
        } else if row.missing_images > 0 {
            report.skipped.push((row.uid, "image file missing".into()));
        } else if row.unreadable_images > 0 {
            report.skipped.push((row.uid, "image unreadable (see the import report)".into()));
        } else {
            candidates.push((row.id, false));
        }
    }
    let per_batch = opts.items_per_batch.max(1);
    let mut budget = opts.limit.unwrap_or(usize::MAX);
    let mut batches: Vec<Vec<i64>> = Vec::new();
    for chunk in candidates.chunks(per_batch) {
        let todo: Vec<i64> = chunk.iter().filter(|(_, d)| !d).map(|(id, _)| *id).take(budget).collect();
        budget -= todo.len();
        if !todo.is_empty() {
            batches.push(todo);
        }
    }
    let total: u64 = batches.iter().map(|b| b.len() as u64).sum();
    // The samples are kept as rollouts of a `passrate` run so the Inspector can show them.
    let run = if batches.is_empty() {
        None
    } else {
        let name = format!("pass counts k={} · {}", opts.k, key.label());
        let json = serde_json::to_string(opts).unwrap_or_default();
        Some(project.create_run(&name, RunKind::Passrate, &json, opts.seed)?)
    };
    let heartbeat = run.map(|r| crate::store::Heartbeat::start(project_path, r));
    let progress = BatchProgress {
        before: AtomicU64::new(0),
        len: AtomicU64::new(0),
        samples: AtomicU64::new(0),
        total,
        max_new_tokens: opts.max_new_tokens,
        k: opts.k,
        started,
        sink,
    };
    let observer = |tokens: usize| progress.tick(tokens);
    let generator = Generator::new(&model, &dev).with_rows(per_batch * opts.k).with_observer(&observer);
    let mut job =
        Job { project: &mut project, opts, spec: &spec, key: &key, processor: &processor, template: &template };
    let outcome = run_batches(&mut job, &generator, &batches, run, &mut report, &progress);
    drop(heartbeat);
    if let Some(run) = run {
        let (status, message) = match &outcome {
            Ok(()) if report.cancelled => (RunStatus::Stopped, None),
            Ok(()) => (RunStatus::Finished, None),
            Err(e) => (RunStatus::Failed, Some(e.to_string())),
        };
        project.set_run_status(run, status, message.as_deref())?;
    }
    outcome?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
