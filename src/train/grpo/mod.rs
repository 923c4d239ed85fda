//! The GRPO engine: advantages and losses (TRL / verl semantics), configs and presets, rollouts
//! with rewards, and the training loop with checkpoints and resume.

pub mod backward;
pub mod checkpoint;
pub mod config;
pub mod dynamic;
pub mod error;
pub mod logps;
pub mod loss;
pub mod metrics;
pub mod planning;
pub mod preflight;
pub mod prompts;
pub mod runner;
pub mod step;
pub mod warmup;
