//! The GRPO training loop, run on its own thread: GPU kernel preparation, then per step rollouts
//! (G samples per prompt, contiguous), rewards, advantages, the loss, AdamW; metrics under TRL's
//! names and rollouts written to the project each step; checkpoints every `save_steps` and at stop;
//! resume from the last checkpoint with the same data order and sampling seeds; pause / stop; a NaN
//! guard. A step that panics or runs out of GPU memory ends the run as failed, its checkpoints kept.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::prelude::*;

use super::checkpoint::{ResumeState, checkpoint_dir, save};
use super::config::GrpoConfig;
use super::step::{StepCtx, StepOutcome, grpo_step_with};
use super::warmup::{Prepared, prepare};
use crate::model::device::{BackendChoice, choose};
use crate::model::gpu::kernel_counts;
use crate::model::{ModelError, Vlm};
use crate::store::{GroupOutcome, Heartbeat, Project, RolloutRow, RunKind, RunStatus, StepInfo};
use crate::train::inputs::{Loaded, ModelSource, OpenOptions};
use crate::train::optim::AdamW;

pub use super::error::RunError;
pub use super::prompts::{item_at, run_items};
pub use crate::train::inputs::PromptItem;

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
    /// GPU kernels are being prepared (`done` of `total` shapes).
    Preparing {
        /// Shapes done.
        done: usize,
        /// Shapes in all.
        total: usize,
    },
    /// GPU kernel preparation finished.
    Prepared(Prepared),
    /// The memory plan, before the first step, with the memory the run may use (`None`: unknown).
    Planned {
        /// The plan.
        plan: crate::train::memory::MemoryPlan,
        /// Bytes available (the host's, or `memory_limit_gb`).
        limit: Option<u64>,
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
    /// Something the user should see, the run going on (e.g. a collapse with `stop_on_collapse` off).
    Warning(String),
    /// A checkpoint was written.
    Checkpoint {
        /// Step.
        step: usize,
        /// Folder.
        path: PathBuf,
    },
    /// The run ended.
    Ended {
        /// `Finished`, `Stopped` or `Failed`.
        status: RunStatus,
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

/// Runs (or resumes) a GRPO run until done or stopped. Every step is recorded before the next begins.
///
/// # Errors
/// [`RunError`]; the run is marked failed in the project with the message.
pub fn run(spec: &RunSpec, control: &Arc<RunControl>, sink: &dyn Fn(RunEvent)) -> Result<i64, RunError> {
    let mut project = Project::open(&spec.project)?;
    let (run, cfg, state) = match spec.resume {
        Some(id) => {
            // One process per run: a second resume of a live run is refused before anything changes.
            project.claim_run(id)?;
            let row = project
                .runs()?
                .into_iter()
                .find(|r| r.id == id)
                .ok_or_else(|| RunError::Config(format!("no run {id} in this project")))?;
            if row.kind != RunKind::Grpo {
                return Err(RunError::Config(format!("run {id} is a {} run, not a GRPO run", row.kind)));
            }
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
            (id, cfg, state)
        }
        None => {
            spec.config.validate().map_err(|e| RunError::Config(e.to_string()))?;
            let json = serde_json::to_string(&spec.config).unwrap_or_default();
            let id = project.create_run(&spec.name, RunKind::Grpo, &json, spec.config.seed)?;
            // "Which exact items trained checkpoint 12?": pin the dataset version of the run.
            project.pin_version_for_run(id)?;
            (id, spec.config.clone(), None)
        }
    };
    let heartbeat = Heartbeat::start(project.path(), run);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        run_inner(&mut project, run, &cfg, state, spec.backend, control, sink)
    }))
    .unwrap_or_else(|p| {
        Err(RunError::Panicked { context: String::new(), message: crate::jobs::panic_text(p.as_ref()) })
    });
    drop(heartbeat);
    let (status, message) = match &result {
        Ok(s) => (*s, None),
        Err(e) => (RunStatus::Failed, Some(e.to_string())),
    };
    project.set_run_status(run, status, message.as_deref())?;
    sink(RunEvent::Ended { status, message });
    result.map(|_| run)
}

/// A panic from inside the GPU runtime that means the device ran out of memory.
pub fn is_out_of_memory(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["out of memory", "outofmemory", "out_of_memory", "oom", "memory allocation", "failed to allocate"]
        .iter()
        .any(|k| m.contains(k))
}

/// One step, with panics (a bug, or the GPU runtime failing) turned into errors.
fn supervised_step(
    policy: Vlm,
    reference: Option<&Vlm>,
    batch: &[&PromptItem],
    optim: &mut AdamW,
    (ctx, more): (&StepCtx<'_>, &mut dyn FnMut(usize) -> Result<Vec<PromptItem>, RunError>),
    last_good: usize,
) -> Result<StepOutcome, RunError> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| grpo_step_with(policy, reference, batch, optim, ctx, more))) {
        Ok(r) => r,
        Err(p) => {
            let message = crate::jobs::panic_text(p.as_ref());
            let step = ctx.step + 1;
            Err(if is_out_of_memory(&message) {
                RunError::OutOfMemory { step, message, last_good }
            } else {
                RunError::Panicked { context: format!(" at step {step}"), message }
            })
        }
    }
}

#[allow(clippy::too_many_lines)]
fn run_inner(
    project: &mut Project,
    run: i64,
    cfg: &GrpoConfig,
    resume: Option<(ResumeState, PathBuf)>,
    backend: BackendChoice,
    control: &Arc<RunControl>,
    sink: &dyn Fn(RunEvent),
) -> Result<RunStatus, RunError> {
    let chosen = choose(backend)?;
    let opts = OpenOptions { backend, train: true, lora: cfg.lora.clone(), precision: cfg.dtype, quantize: None };
    let train_dev = opts.device(&chosen);
    let source = match &resume {
        Some((_, dir)) => ModelSource::checkpoint(&cfg.model, dir),
        None => ModelSource::parse(&cfg.model).with_adapter(cfg.adapter.as_ref().map(PathBuf::from)),
    };
    let Loaded { vlm: mut policy, mut processor, dir: base_dir, .. } = Loaded::open_on(&source, chosen.clone(), &opts)?;
    // The run's image size bounds, saved with full checkpoints (their preprocessor_config.json).
    processor.images.preprocess = cfg.image_settings(&processor.images.preprocess);
    policy.preprocess = processor.images.preprocess.clone();
    let adapters = policy.has_adapters();
    // With adapters the reference is the policy with its adapters off (TRL with PEFT): no copy.
    let reference = if cfg.beta != 0.0 && !adapters {
        Some(Loaded::open_on(&ModelSource::parse(&cfg.model), chosen.clone(), &OpenOptions::default())?.vlm)
    } else {
        None
    };
    let reference_of = |policy: &Vlm| (cfg.beta != 0.0 && adapters).then(|| policy.valid().with_adapters_off(true));
    let tok = &processor.tok;
    let (items, skipped) = run_items(project, cfg, &processor)?;
    let mut unreadable = std::collections::BTreeSet::new();
    // The memory plan: refused now, with the numbers, when it cannot fit.
    let trainable = adapters.then(|| crate::model::lora::counts(&policy).0 as u64);
    let sizes = super::preflight::data_sizes(&items);
    let plan = super::planning::plan_for(&base_dir, cfg, sizes, trainable, chosen.gpu)?;
    let limit = super::planning::limit(cfg, chosen.gpu);
    sink(RunEvent::Planned { plan, limit });
    super::planning::check(&plan, limit, chosen.gpu)?;
    let mut state = resume.as_ref().map(|(s, _)| *s).unwrap_or_default();
    let first_step = if resume.is_some() { state.step + 1 } else { 0 };
    let mut optim = match &resume {
        Some((s, dir)) => AdamW::load(&dir.join("optimizer.safetensors"), cfg.adam, s.optimizer_steps, &chosen.device)
            .map_err(ModelError::from)?,
        None => AdamW::new(cfg.adam),
    };
    let ctx = StepCtx::new(cfg, tok, &chosen.device, &train_dev);
    // Sizes the device cannot hold are refused now, with the numbers, not discovered by the allocator.
    let longest = sizes.0;
    crate::model::budget::check_generation(
        &policy.config.text,
        cfg.prompts_per_step * cfg.num_generations,
        ctx.policy.len(longest),
        cfg.max_completion_length,
        &chosen.device,
    )
    .map_err(|e| RunError::Config(format!("max_completion_length / batch: {e}")))?;
    sink(RunEvent::Started { run, first_step, steps: cfg.steps, device: chosen.description.clone() });
    if !skipped.is_empty() {
        sink(RunEvent::Warning(super::preflight::skipped_summary(&skipped)));
    }
    let mut last_good = if resume.is_some() { state.step + 1 } else { 0 };
    let mut prep_seconds = 0.0;
    if chosen.gpu && first_step < cfg.steps {
        let prepared = match std::panic::catch_unwind(AssertUnwindSafe(|| {
            let view = reference_of(&policy);
            let samples = super::prompts::bucket_samples(project, &items, (cfg, &processor), |l| ctx.policy.len(l))?;
            prepare(&policy, reference.as_ref().or(view.as_ref()), &samples, &ctx, &mut |done, total| {
                sink(RunEvent::Preparing { done, total });
            })
        })) {
            Ok(r) => r?,
            Err(p) => {
                let message = crate::jobs::panic_text(p.as_ref());
                let step = first_step + 1;
                return Err(if is_out_of_memory(&message) {
                    RunError::OutOfMemory { step, message, last_good }
                } else {
                    RunError::Panicked { context: " while preparing GPU kernels".into(), message }
                });
            }
        };
        prep_seconds = prepared.seconds;
        sink(RunEvent::Prepared(prepared));
    }
    let run_start = Instant::now();
    let wall0 = crate::util::unix_seconds();
    let (mut collapsed, mut rewarded) = (0usize, false);
    for step in first_step..cfg.steps {
        while control.pause.load(Ordering::Relaxed) && !control.stop.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if control.stop.load(Ordering::Relaxed) {
            if step > 0 {
                write_checkpoint(project, run, step - 1, &policy, &optim, (&base_dir, &cfg.model), &state, sink)?;
            }
            return Ok(RunStatus::Stopped);
        }
        let t0 = Instant::now();
        let kernels0 = kernel_counts();
        let read =
            super::prompts::batch_at(project, (&items, &mut unreadable), state.cursor, (cfg, &processor), &mut |w| {
                sink(RunEvent::Warning(w))
            })?;
        let batch: Vec<&PromptItem> = read.iter().collect();
        let view = reference_of(&policy);
        crate::model::budget::reset_host_peak();
        // Dynamic sampling's further rounds read the prompts after this step's.
        let mut more = |round: usize| {
            let at = state.cursor + (round * cfg.prompts_per_step) as u64;
            super::prompts::batch_at(project, (&items, &mut unreadable), at, (cfg, &processor), &mut |w| {
                sink(RunEvent::Warning(w));
            })
        };
        let StepOutcome { model, metrics: mut m, rollouts } = supervised_step(
            policy,
            reference.as_ref().or(view.as_ref()),
            &batch,
            &mut optim,
            (&ctx.at(step), &mut more),
            last_good,
        )?;
        policy = model;
        m.host_peak = crate::model::budget::host_peak_rss();
        for (what, v) in [("loss", m.loss), ("gradient norm", m.grad_norm)] {
            if !v.is_finite() {
                return Err(RunError::NonFinite { what, value: v, step: step + 1, last_good });
            }
        }
        // A collapse: the reward had been earned, then reward and gradient stay at zero. Zero from
        // the start is no collapse but no learning signal (completions too short, wrong reward).
        let flat = m.reward.abs() < 1e-9 && m.grad_norm.abs() < 1e-12;
        rewarded |= m.reward.abs() >= 1e-9;
        collapsed = if flat { collapsed + 1 } else { 0 };
        if cfg.collapse_steps > 0 && collapsed == cfg.collapse_steps {
            let (first, last) = (step + 2 - collapsed, step + 1);
            if rewarded {
                let e = RunError::Collapsed { steps: collapsed, first, last, last_good };
                if cfg.stop_on_collapse {
                    return Err(e);
                }
                sink(RunEvent::Warning(e.to_string()));
            } else {
                sink(RunEvent::Warning(format!(
                    "no learning signal: every completion of steps {first}-{last} earned reward 0 — check the reward \
                     functions, and whether max_completion_length ({}) leaves room for an answer",
                    cfg.max_completion_length
                )));
            }
        }
        state.cursor += (cfg.prompts_per_step * m.dynamic.map_or(1, |d| d.rounds)) as u64;
        state.samples_seen += (cfg.prompts_per_step * cfg.num_generations) as u64;
        state.tokens_seen += m.tokens as u64;
        state.optimizer_steps = optim.step;
        state.step = step;
        m.step_time = t0.elapsed().as_secs_f64();
        m.num_tokens = state.tokens_seen as f64;
        m.epoch = state.cursor as f64 / items.len() as f64;
        if step == first_step {
            m.timing.kernel_preparation = prep_seconds;
        }
        if let Some(gpu) = &mut m.gpu {
            let d = kernel_counts() - kernels0;
            gpu.kernels_compiled = d.compiled;
            gpu.autotune_runs = d.autotuned;
        }
        let metrics = m.to_trl();
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
            write_checkpoint(project, run, step, &policy, &optim, (&base_dir, &cfg.model), &state, sink)?;
            last_good = step + 1;
        }
    }
    Ok(RunStatus::Finished)
}

#[allow(clippy::too_many_arguments)]
fn write_checkpoint(
    project: &mut Project,
    run: i64,
    step: usize,
    policy: &Vlm,
    optim: &AdamW,
    (base, base_name): (&Path, &str),
    state: &ResumeState,
    sink: &dyn Fn(RunEvent),
) -> Result<(), RunError> {
    let dir = checkpoint_dir(project.dir(), run, step + 1);
    save(&dir, &policy.valid(), optim, base, base_name, state)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_out_of_memory_panics_are_recognised_and_explained() {
        for m in ["Out of memory: failed to allocate 4 GiB", "wgpu error: OutOfMemory", "Device OOM on buffer"] {
            assert!(is_out_of_memory(m), "{m}");
        }
        assert!(!is_out_of_memory("index out of bounds: the len is 3"));
        let e = RunError::OutOfMemory { step: 4, message: "OutOfMemory".into(), last_good: 2 };
        let text = e.to_string();
        assert!(text.contains("step 4") && text.contains("checkpoint (step 2)") && text.contains("--backend cpu"));
        let none = RunError::NonFinite { what: "loss", value: f64::NAN, step: 1, last_good: 0 }.to_string();
        assert!(none.contains("none was written") && !none.contains("step 0"), "{none}");
    }
}
