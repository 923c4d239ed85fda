//! Pure image math for display: window/level (the CPU reference for `shaders/window_level.wgsl`). No UI imports.

pub mod window;

pub use window::{PRESETS, WindowLevel};
