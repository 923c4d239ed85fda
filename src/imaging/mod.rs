//! Image display: window/level on the CPU (the reference) and on the GPU (`shaders/window_level.wgsl`
//! through plain wgpu), and the DICOM/NIfTI stack behind an item's image. No UI imports.

pub mod gpu;
pub mod ruler;
pub mod scan;
pub mod text;
pub mod window;

pub use window::{PRESETS, VoiFunction, VoiLut, WindowLevel};
