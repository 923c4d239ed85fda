//! A run's memory plan from its data and model ([`crate::train::memory`]): made before launch by
//! the runner (refusing a run that cannot fit) and, with the pre-flight check, by `medvlm train
//! --dry-run` without reading the weights.

use std::path::Path;

use super::config::GrpoConfig;
use super::error::RunError;
use super::preflight::Preflight;
use super::prompts::check_items;
use crate::model::ModelError;
use crate::model::processor::{ImageProcessor, Processor};
use crate::store::Project;
use crate::train::inputs::ModelSource;
use crate::train::memory::{self, HOST_OVERHEAD, MemoryPlan, PlanInputs};

/// The plan of `cfg` on the model in `dir` for items whose longest prompt and largest image are
/// `(prompt_len, image_patches)`; `trainable` overrides the parameter count the LoRA settings give
/// (an adapter loaded from a file).
///
/// # Errors
/// Unreadable checkpoint or configuration.
pub fn plan_for(
    dir: &Path,
    cfg: &GrpoConfig,
    (prompt_len, image_patches): (usize, usize),
    trainable: Option<u64>,
    gpu: bool,
) -> Result<MemoryPlan, ModelError> {
    let model = crate::model::VlmConfig::from_file(&dir.join("config.json"))?;
    let (base, lora_trainable) = memory::count_params(dir, cfg.lora.as_ref())?;
    let inputs = PlanInputs {
        base_params: base,
        trainable: trainable.unwrap_or(lora_trainable),
        prompt_len,
        image_patches,
        host_generation: !gpu,
    };
    Ok(memory::plan(&model, cfg, inputs))
}

/// The memory a run may use: `memory_limit_gb` when set, else the host's available memory on the
/// CPU, else unknown (wgpu does not report a GPU's size).
pub fn limit(cfg: &GrpoConfig, gpu: bool) -> Option<u64> {
    if cfg.memory_limit_gb > 0.0 {
        Some((cfg.memory_limit_gb * f64::from(1u32 << 30)) as u64)
    } else if gpu {
        None
    } else {
        crate::model::budget::available_host_memory()
    }
}

/// The planned peak a device must hold: the plan, plus the process itself on the CPU.
pub fn needed(plan: &MemoryPlan, gpu: bool) -> u64 {
    plan.peak() + if gpu { 0 } else { HOST_OVERHEAD }
}

/// Refuses a plan larger than the limit, with the table.
///
/// # Errors
/// [`RunError::Config`] with the plan and what to change.
pub fn check(plan: &MemoryPlan, limit: Option<u64>, gpu: bool) -> Result<(), RunError> {
    let Some(limit) = limit else { return Ok(()) };
    let need = needed(plan, gpu);
    if need <= limit {
        return Ok(());
    }
    Err(RunError::Config(format!(
        "the run needs about {} but {} is available — use LoRA ([lora]), gradient_checkpointing = true, fewer \
         prompts_per_step or num_generations, more gradient_accumulation_steps, or a shorter max_completion_length:\n{}",
        memory::gb(need),
        memory::gb(limit),
        plan.table()
    )))
}

/// `medvlm train --dry-run`: the pre-flight check and the memory plan from the configuration
/// files, tokenizer and data, without reading the weights or decoding an image.
///
/// # Errors
/// [`RunError`] naming the file, item or field.
pub fn dry_run(project: &Project, cfg: &GrpoConfig, gpu: bool) -> Result<(Preflight, MemoryPlan), RunError> {
    let source = ModelSource::parse(&cfg.model);
    let dir = source.dir()?;
    let mut images = ImageProcessor::from_dir(&dir)?;
    images.preprocess = cfg.image_settings(&images.preprocess);
    let processor = Processor { tok: crate::model::chat::ChatTokenizer::load(&dir)?, images };
    let mut checked = check_items(project, cfg, &processor)?;
    checked.estimate = super::preflight::estimate(project, cfg, checked.mean_prompt_len());
    let trainable = match &cfg.adapter {
        Some(a) => Some(adapter_params(Path::new(a))?),
        None => None,
    };
    let plan = plan_for(&dir, cfg, checked.data_sizes(), trainable, gpu)?;
    Ok((checked, plan))
}

/// Values in a PEFT adapter's safetensors.
fn adapter_params(dir: &Path) -> Result<u64, ModelError> {
    let ck = crate::model::weights::Checkpoint::open(&dir.join("adapter_model.safetensors"))?;
    Ok(ck.names().iter().filter_map(|n| ck.shape(n)).map(|s| s.iter().map(|&d| d as u64).product::<u64>()).sum())
}
