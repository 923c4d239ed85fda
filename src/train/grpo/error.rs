//! Why a GRPO run stops early: every failure names what to do about it, and none loses a checkpoint.

use crate::model::ModelError;

/// What was kept of a stopped run.
fn kept(last_good: usize) -> String {
    if last_good == 0 {
        "before its first checkpoint (none was written)".into()
    } else {
        format!("its last good checkpoint (step {last_good}) kept")
    }
}
use crate::store::StoreError;

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
    /// The model, an adapter, an item's image or prompt.
    #[error(transparent)]
    Input(#[from] crate::train::inputs::InputError),
    /// No device to run on.
    #[error(transparent)]
    Device(#[from] crate::model::device::DeviceError),
    /// The GPU ran out of memory.
    #[error(
        "the GPU ran out of memory at step {step} ({message}); the run was stopped, {} — lower prompts_per_step, num_generations, max_completion_length or max_pixels, or use --backend cpu",
        kept(*last_good)
    )]
    OutOfMemory {
        /// Step.
        step: usize,
        /// The runtime's words.
        message: String,
        /// Last checkpoint step (0: none yet).
        last_good: usize,
    },
    /// The training code panicked (a bug): the run is marked failed and nothing saved is lost.
    #[error("the trainer stopped unexpectedly{context}: {message}; checkpoints written so far were kept")]
    Panicked {
        /// Where, e.g. ` at step 3` (may be empty).
        context: String,
        /// The panic message.
        message: String,
    },
    /// Loss or gradient became NaN / infinite.
    #[error("the {what} became {value} at step {step}; the run was stopped, {}", kept(*last_good))]
    NonFinite {
        /// `loss` or `gradient norm`.
        what: &'static str,
        /// The value.
        value: f64,
        /// Step.
        step: usize,
        /// Last checkpoint step (0: none yet).
        last_good: usize,
    },
    /// The policy stopped learning: reward and gradient norm both zero for several steps.
    #[error(
        "the run collapsed: reward and gradient norm were both 0 for {steps} steps in a row (steps {first}-{last}); it was stopped, {} — lower the learning rate (set stop_on_collapse = false to only warn)",
        kept(*last_good)
    )]
    Collapsed {
        /// Steps in a row.
        steps: usize,
        /// First collapsed step.
        first: usize,
        /// Last collapsed step.
        last: usize,
        /// Last checkpoint step (0: none yet).
        last_good: usize,
    },
}
