//! The GRPO training loop, run on its own thread: rollouts (G samples per prompt, contiguous),
//! rewards, advantages, the loss, AdamW; metrics under TRL's names and rollouts written to the
//! project each step; checkpoints every `save_steps` and at stop; resume from the last checkpoint
//! with the same data order and sampling seeds; pause / stop; a NaN guard.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::prelude::*;

use super::checkpoint::{ResumeState, checkpoint_dir, save};
use super::config::GrpoConfig;
use super::step::{StepOutcome, grpo_step};
use crate::domain::prompt::PromptTemplate;
use crate::domain::{Modality, Split, VqaItem};
use crate::model::chat::ChatTokenizer;
use crate::model::device::{BackendChoice, choose};
use crate::model::preprocess::PixelValues;
use crate::model::{ModelError, Vlm};
use crate::sample::rng::Rng;
use crate::store::{GroupOutcome, Project, RolloutRow, StepInfo, StoreError};
use crate::train::optim::AdamW;

/// What the loop reports.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The run started (or resumed at `first_step`).
    Started {
        /// Run id.
        run: i64,
        /// First step to compute.
        first_step: usize,
        /// Steps in all.
        steps: usize,
        /// Device description.
        device: String,
    },
    /// A step finished.
    Step {
        /// Run id.
        run: i64,
        /// Step (1-based, as TRL logs it).
        step: usize,
        /// Metrics under TRL names.
        metrics: BTreeMap<String, f64>,
        /// x-axis values.
        info: StepInfo,
        /// A few rollouts of this step with their item uid.
        rollouts: Vec<(String, RolloutRow)>,
    },
    /// A checkpoint was written.
    Checkpoint {
        /// Step.
        step: usize,
        /// Folder.
        path: PathBuf,
    },
    /// The run ended.
    Ended {
        /// `finished`, `stopped` or `failed`.
        status: String,
        /// Why, for stopped/failed runs.
        message: Option<String>,
    },
}

/// Shared flags the UI or the CLI flips.
#[derive(Debug, Default)]
pub struct RunControl {
    /// Stop at the next step boundary (a checkpoint is written).
    pub stop: AtomicBool,
    /// Hold before the next step.
    pub pause: AtomicBool,
}

/// Why a run could not proceed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Project access.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Model, tokenizer, preprocessing.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Bad configuration.
    #[error("config: {0}")]
    Config(String),
    /// No items to train on.
    #[error("no multiple-choice items with images in split {0} (after the modality filter)")]
    NoData(String),
    /// An item's prompt is too long.
    #[error(
        "item {uid}: the prompt has {len} tokens ({image} image tokens), more than max_prompt_length = {max}; prompts are never truncated (that could cut image tokens) — raise max_prompt_length or lower max_pixels"
    )]
    PromptTooLong {
        /// Item uid.
        uid: String,
        /// Prompt tokens.
        len: usize,
        /// Image tokens among them.
        image: usize,
        /// The limit.
        max: usize,
    },
    /// An image could not be read.
    #[error(transparent)]
    Image(#[from] crate::io::images::BadImage),
    /// Loss or gradient became NaN / infinite.
    #[error(
        "the {what} became {value} at step {step}; the run was stopped and the last good checkpoint (step {last_good}) kept"
    )]
    NonFinite {
        /// `loss` or `gradient norm`.
        what: &'static str,
        /// The value.
        value: f64,
        /// Step.
        step: usize,
        /// Last checkpoint step.
        last_good: usize,
    },
}

/// A training example ready for prompting.
pub struct PromptItem {
    /// Store row id.
    pub id: i64,
    /// The item.
    pub item: VqaItem,
    /// Prompt token ids (image placeholders expanded).
    pub prompt: Vec<u32>,
    /// Its image.
    pub image: Option<PixelValues>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Project file.
    pub project: PathBuf,
    /// Configuration (ignored on resume: the run's stored config is used).
    pub config: GrpoConfig,
    /// Resume this run id.
    pub resume: Option<i64>,
    /// Compute backend.
    pub backend: BackendChoice,
    /// Run name.
    pub name: String,
}

/// Item order of prompt number `i`: a fresh seeded permutation every epoch.
pub fn item_at(i: u64, n: usize, seed: u64) -> usize {
    let epoch = i / n as u64;
    let mut order: Vec<usize> = (0..n).collect();
    Rng::derive(seed, 0xDA7A_0000 + epoch).shuffle(&mut order);
    order[(i % n as u64) as usize]
}

/// An item rendered as a prompt: its first image preprocessed for `model`, the template applied and
/// tokenised. Prompts longer than `max_len` are an error, never truncated.
///
/// # Errors
/// [`RunError::PromptTooLong`], image and tokenizer errors.
pub fn prompt_item(
    project: &Project,
    id: i64,
    item: VqaItem,
    model: &Vlm,
    tok: &ChatTokenizer,
    template: &PromptTemplate,
    max_len: usize,
) -> Result<PromptItem, RunError> {
    let image = match item.images.first() {
        Some(r) => {
            let (rgb, h, w) = crate::io::images::read_rgb(&project.resolve_image(&r.path))?;
            Some(
                crate::model::preprocess::preprocess_rgb(&rgb, h, w, &model.config.vision, &model.preprocess)
                    .map_err(ModelError::from)?,
            )
        }
        None => None,
    };
    let counts: Vec<usize> = image.iter().map(|p| p.n_tokens(model.config.vision.spatial_merge_size)).collect();
    let prompt = tok.prompt(&template.render(&item), &counts, None)?;
    if prompt.len() > max_len {
        return Err(RunError::PromptTooLong {
            uid: item.uid,
            len: prompt.len(),
            image: counts.iter().sum(),
            max: max_len,
        });
    }
    Ok(PromptItem { id, item, prompt, image })
}

fn load_prompts(
    project: &Project,
    cfg: &GrpoConfig,
    model: &Vlm,
    tok: &ChatTokenizer,
) -> Result<Vec<PromptItem>, RunError> {
    let split = Split::parse(&cfg.split).ok_or_else(|| RunError::Config(format!("unknown split {}", cfg.split)))?;
    let mods: Vec<Modality> = cfg.modalities.iter().filter_map(|m| Modality::parse(m)).collect();
    let template = cfg.prompt_template();
    let mut out = Vec::new();
    for row in project.item_rows()? {
        if row.split != split
            || row.answer_letter.is_none()
            || (!mods.is_empty() && !mods.contains(&row.modality))
            || row.missing_images > 0
        {
            continue;
        }
        let item = project.item(row.id)?;
        out.push(prompt_item(project, row.id, item, model, tok, &template, cfg.max_prompt_length)?);
    }
    if out.is_empty() {
        return Err(RunError::NoData(cfg.split.clone()));
    }
    Ok(out)
}

/// Runs (or resumes) a GRPO run until done or stopped. Every step is recorded before the next begins.
///
/// # Errors
/// [`RunError`]; the run is marked failed in the project with the message.
pub fn run(spec: &RunSpec, control: &Arc<RunControl>, sink: &dyn Fn(RunEvent)) -> Result<i64, RunError> {
    let mut project = Project::open(&spec.project)?;
    let (run, cfg, state) = match spec.resume {
        Some(id) => {
            let row = project
                .runs()?
                .into_iter()
                .find(|r| r.id == id)
                .ok_or_else(|| RunError::Config(format!("no run {id} in this project")))?;
            let cfg: GrpoConfig = serde_json::from_str(&row.config_json)
                .map_err(|e| RunError::Config(format!("stored config of run {id}: {e}")))?;
            let ck = project.latest_checkpoint(id)?;
            let state = match &ck {
                Some(c) => Some((
                    serde_json::from_str::<ResumeState>(&c.state_json).map_err(|e| RunError::Config(e.to_string()))?,
                    project.resolve_image(&c.path),
                )),
                None => None,
            };
            // Steps after the checkpoint are recomputed: drop them so nothing is duplicated.
            project.truncate_run_after(id, state.as_ref().map_or(0, |s| s.0.step as i64 + 1))?;
            project.set_run_status(id, "running", None)?;
            (id, cfg, state)
        }
        None => {
            spec.config.validate().map_err(|e| RunError::Config(e.to_string()))?;
            let json = serde_json::to_string(&spec.config).unwrap_or_default();
            let id = project.create_run(&spec.name, "grpo", &json, spec.config.seed)?;
            // "Which exact items trained checkpoint 12?": pin the dataset version of the run.
            project.pin_version_for_run(id)?;
            (id, spec.config.clone(), None)
        }
    };
    let result = run_inner(&mut project, run, &cfg, state, spec.backend, control, sink);
    let (status, message) = match &result {
        Ok(s) => (s.clone(), None),
        Err(e) => ("failed".to_string(), Some(e.to_string())),
    };
    project.set_run_status(run, &status, message.as_deref())?;
    sink(RunEvent::Ended { status, message });
    result.map(|_| run)
}

fn run_inner(
    project: &mut Project,
    run: i64,
    cfg: &GrpoConfig,
    resume: Option<(ResumeState, PathBuf)>,
    backend: BackendChoice,
    control: &Arc<RunControl>,
    sink: &dyn Fn(RunEvent),
) -> Result<String, RunError> {
    let chosen = choose(backend);
    let train_dev = chosen.device.clone().autodiff();
    let base_dir = model_dir(&cfg.model)?;
    let weights_dir = resume.as_ref().map_or(base_dir.clone(), |(_, p)| p.clone());
    let mut policy = Vlm::load(&weights_dir, &train_dev)?;
    let reference = if cfg.beta != 0.0 { Some(Vlm::load(&base_dir, &chosen.device)?) } else { None };
    let tok = ChatTokenizer::load(&base_dir)?;
    let items = load_prompts(project, cfg, &policy, &tok)?;
    let mut state = resume.as_ref().map(|(s, _)| *s).unwrap_or_default();
    let first_step = if resume.is_some() { state.step + 1 } else { 0 };
    let mut optim = match &resume {
        Some((s, dir)) => AdamW::load(&dir.join("optimizer.safetensors"), cfg.adam, s.optimizer_steps, &chosen.device)
            .map_err(ModelError::from)?,
        None => AdamW::new(cfg.adam),
    };
    sink(RunEvent::Started { run, first_step, steps: cfg.steps, device: chosen.description.clone() });
    let mut last_good = if resume.is_some() { state.step } else { 0 };
    let run_start = Instant::now();
    let wall0 = crate::util::unix_seconds();
    for step in first_step..cfg.steps {
        while control.pause.load(Ordering::Relaxed) && !control.stop.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if control.stop.load(Ordering::Relaxed) {
            if step > 0 {
                write_checkpoint(project, run, step - 1, &policy, &optim, &base_dir, &state, sink)?;
            }
            return Ok("stopped".into());
        }
        let t0 = Instant::now();
        let batch: Vec<&PromptItem> = (0..cfg.prompts_per_step)
            .map(|k| &items[item_at(state.cursor + k as u64, items.len(), cfg.seed)])
            .collect();
        let StepOutcome { model, mut metrics, rollouts, n_tokens } =
            grpo_step(policy, reference.as_ref(), &batch, cfg, &tok, &mut optim, step, &chosen.device, &train_dev)?;
        policy = model;
        for (what, key) in [("loss", "loss"), ("gradient norm", "grad_norm")] {
            let v = metrics.get(key).copied().unwrap_or(0.0);
            if !v.is_finite() {
                return Err(RunError::NonFinite { what, value: v, step: step + 1, last_good });
            }
        }
        state.cursor += cfg.prompts_per_step as u64;
        state.samples_seen += (cfg.prompts_per_step * cfg.num_generations) as u64;
        state.tokens_seen += n_tokens as u64;
        state.optimizer_steps = optim.step;
        state.step = step;
        let dt = t0.elapsed().as_secs_f64();
        metrics.insert("step_time".into(), dt);
        metrics.insert("tokens_per_second".into(), n_tokens as f64 / dt.max(1e-9));
        metrics.insert("num_tokens".into(), state.tokens_seen as f64);
        metrics.insert("epoch".into(), state.cursor as f64 / items.len() as f64);
        let info = StepInfo {
            step: step as i64 + 1,
            wall_time: wall0 + run_start.elapsed().as_secs_f64(),
            samples_seen: state.samples_seen as i64,
            tokens_seen: state.tokens_seen as i64,
        };
        let keep = if cfg.store_rollouts == 0 { rollouts.len() } else { cfg.store_rollouts.min(rollouts.len()) };
        let rows: Vec<RolloutRow> = rollouts.iter().take(keep).map(|(_, r)| r.clone()).collect();
        project.record_step(run, info, &metrics, &rows)?;
        project.record_group_outcomes(run, info.step, &group_outcomes(cfg, &rollouts))?;
        sink(RunEvent::Step {
            run,
            step: step + 1,
            metrics,
            info,
            rollouts: rollouts.into_iter().take(keep.min(16)).collect(),
        });
        if (step + 1) % cfg.save_steps.max(1) == 0 || step + 1 == cfg.steps {
            write_checkpoint(project, run, step, &policy, &optim, &base_dir, &state, sink)?;
            last_good = step;
        }
    }
    Ok("finished".into())
}

#[allow(clippy::too_many_arguments)]
fn write_checkpoint(
    project: &mut Project,
    run: i64,
    step: usize,
    policy: &Vlm,
    optim: &AdamW,
    base: &Path,
    state: &ResumeState,
    sink: &dyn Fn(RunEvent),
) -> Result<(), RunError> {
    let dir = checkpoint_dir(project.dir(), run, step + 1);
    save(&dir, &policy.valid(), optim, base, state)?;
    let stored = project.store_image_path(&dir);
    project.add_checkpoint(run, step as i64 + 1, &stored, &serde_json::to_string(state).unwrap_or_default())?;
    sink(RunEvent::Checkpoint { step: step + 1, path: dir });
    Ok(())
}

/// The closed loop: each group's pass count and whether its rewards were all alike.
fn group_outcomes(cfg: &GrpoConfig, rollouts: &[(String, RolloutRow)]) -> Vec<GroupOutcome> {
    let spec = cfg.reward_spec();
    rollouts
        .chunks(cfg.num_generations.max(1))
        .filter_map(|g| {
            let first = &g.first()?.1;
            let n_correct = g.iter().filter(|(_, r)| spec.correct_parts(&r.rewards).unwrap_or(false)).count();
            let zero_std = g.iter().all(|(_, r)| (r.reward - first.reward).abs() < 1e-6);
            Some(GroupOutcome { item_id: first.item_id, n_samples: g.len(), n_correct, zero_std })
        })
        .collect()
}

/// The folder of a model name: `sample` / `medvlm-tiny` is the bundled model, anything else a path.
///
/// # Errors
/// [`RunError::Config`] when the bundled model is missing.
pub fn model_dir(name: &str) -> Result<PathBuf, RunError> {
    if name == "sample" || name == "medvlm-tiny" {
        return crate::sample::bundled_tiny_model()
            .ok_or_else(|| RunError::Config("the bundled medvlm-tiny model was not found".into()));
    }
    Ok(PathBuf::from(name))
}
