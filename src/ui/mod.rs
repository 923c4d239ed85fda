//! Everything drawn with egui. The panes read [`crate::app::state::AppState`] and queue
//! [`crate::app::Command`]s; they never touch files or the database.

pub mod compare;
pub mod curation;
pub mod curves;
pub mod custom_rewards;
pub mod dialogs;
pub mod difficulty;
pub mod editor;
pub mod export;
pub mod gpu_view;
pub mod inspector;
pub mod pairwise;
pub mod review;
pub mod scan;
pub mod shell;
pub mod theme;
pub mod tiles;
pub mod toasts;
pub mod training;
pub mod training_form;
pub mod viewer;
pub mod windows;
