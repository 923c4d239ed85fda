//! MedVLM Workbench: curate medical VQA data by difficulty, train vision-language models to reason
//! with GRPO on-device, watch training live, and review reasoning next to the image.
//!
//! # Architecture
//! A pure core and a thin UI, in one crate:
//! - [`domain`]: items, datasets, filters, edits — pure data and rules.
//! - [`io`]: importers for the formats users have; image file inspection.
//! - [`store`]: the project file (SQLite): items, images, edit log, runs, metrics, reviews.
//! - [`sample`]: the deterministic synthetic sample-data generator; [`rng`]: its seeded generator,
//!   shared by the models and training.
//! - [`imaging`]: display math (window/level).
//! - [`model`]: Qwen2-VL / Qwen2.5-VL in burn (wgpu or CPU), checkpoints, tokenizer, generation.
//! - [`jobs`]: background work on named threads, bounded channels, an injected waker.
//! - [`app`] and [`ui`]: the eframe application — the only modules that import egui.
//!
//! The UI reads state and emits [`app::Command`]s; `app` applies them at the start of a frame.
//! Long work never runs on the UI thread. A test (`tests/it/architecture.rs`) fails if a core module imports egui.
//!
//! # Failure handling
//! Library modules return `thiserror` errors whose messages name the file, line or field (paths last);
//! the CLI adds context with `anyhow`, the GUI shows them as toasts. Bad input never panics and never
//! loses what was already saved: every store write is one SQLite transaction.

pub mod app;
pub mod cli;
pub mod curation;
pub mod domain;
pub mod imaging;
pub mod io;
pub mod jobs;
pub mod metrics;
pub mod model;
pub mod review;
pub mod rng;
pub mod sample;
pub mod store;
pub mod train;
pub mod ui;
pub mod util;

/// This build's version (`CARGO_PKG_VERSION`), recorded in projects, imports and runs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
