//! Image display: window/level on the CPU (the reference) and on the GPU (`shaders/window_level.wgsl`
//! through plain wgpu). No UI imports.

pub mod gpu;
pub mod ruler;
pub mod window;

pub use window::{PRESETS, WindowLevel};
