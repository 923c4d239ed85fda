//! The pure domain model: items, datasets, filters and edits. Never imports egui, eframe, wgpu or does I/O.

pub mod custom_reward;
pub mod dataset;
pub mod edit;
pub mod item;
pub mod prompt;
pub mod reward;
pub mod sort;
pub mod trace;

pub use dataset::{Dataset, DatasetStats, ItemFilter, ItemRow, Provenance, ReviewStatus};
pub use edit::{FieldEdit, ItemField};
pub use item::{Answer, ImageRef, ItemError, Modality, NEEDS_QUESTION_TAG, Split, VqaItem, letter, letter_index};
