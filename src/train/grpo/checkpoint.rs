//! Checkpoints of a GRPO run: the policy as an HF-compatible folder (f32, with the tokenizer), the
//! optimizer state, and the resume state (step, data cursor, counters) recorded in the project.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::weights::Dtype;
use crate::model::{ModelError, Vlm};
use crate::train::optim::AdamW;

/// What a resume needs besides the weights.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ResumeState {
    /// Last completed step (0-based steps; `step + 1` steps done).
    pub step: usize,
    /// Prompts consumed from the data order.
    pub cursor: u64,
    /// Completions generated so far.
    pub samples_seen: u64,
    /// Completion tokens generated so far.
    pub tokens_seen: u64,
    /// Optimizer steps taken.
    pub optimizer_steps: u64,
}

/// Folder of a run's checkpoint: `<project dir>/runs/run-<id>/checkpoint-<step>`.
pub fn checkpoint_dir(project_dir: &Path, run: i64, step: usize) -> PathBuf {
    project_dir.join("runs").join(format!("run-{run}")).join(format!("checkpoint-{step}"))
}

/// Writes weights (f32; a LoRA model writes its PEFT adapter instead, as TRL with PEFT does),
/// the image processor's sizes, tokenizer and optimizer state.
///
/// # Errors
/// I/O and weight-writing errors.
pub fn save(
    dir: &Path,
    model: &Vlm,
    optim: &AdamW,
    tokenizer_from: &Path,
    base_name: &str,
    state: &ResumeState,
) -> Result<(), ModelError> {
    // Written beside the final folder and renamed when complete: a failure (disk full, a kill)
    // leaves no half checkpoint that a resume could pick up.
    let mut name = dir.file_name().map(std::ffi::OsString::from).unwrap_or_default();
    name.push(".partial");
    let tmp = dir.with_file_name(name);
    let io = |e: std::io::Error| ModelError::Io { reason: e.to_string(), path: dir.to_path_buf() };
    let _ = std::fs::remove_dir_all(&tmp);
    let written = (|| {
        let mut meta = std::collections::BTreeMap::new();
        meta.insert("medvlm_step".into(), state.step.to_string());
        if model.has_adapters() {
            crate::model::lora::save_peft(model, &tmp, base_name)?;
            // The run's image sizes, which evaluating the adapter must use too.
            model.save_preprocessor(&tmp)?;
        } else {
            model.save(&tmp, Dtype::F32, meta)?;
        }
        let tok =
            if tokenizer_from.is_dir() { tokenizer_from.join("tokenizer.json") } else { tokenizer_from.to_path_buf() };
        std::fs::copy(&tok, tmp.join("tokenizer.json")).map_err(io)?;
        optim.save(&tmp.join("optimizer.safetensors"))?;
        std::fs::write(tmp.join("resume_state.json"), serde_json::to_string_pretty(state).unwrap_or_default())
            .map_err(io)?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io)?;
        }
        std::fs::rename(&tmp, dir).map_err(io)
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}
