//! Training on the model: supervised warm start of the built-in tiny model, evaluation, and (next)
//! the GRPO engine. Runs on its own thread when started from the GUI; never imports egui.

pub mod compare;
pub mod eval;
pub mod full_size;
pub mod grpo;
pub mod inputs;
pub mod memory;
pub mod optim;
pub mod pretrain;
pub mod sft;
pub mod tiny;
pub mod traces;

/// Items a job left out, as `(item uid, why)`: jobs skip an unusable item, name it and go on.
pub type Skipped = Vec<(String, String)>;
