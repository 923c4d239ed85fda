//! Qwen2-VL and Qwen2.5-VL in burn, generic over the device (wgpu or CPU chosen at run time):
//! configuration, safetensors loading, image preprocessing, vision towers, the M-RoPE decoder and
//! generation (with a host decoder for the CPU). Numerically equal to Hugging Face transformers
//! (see `tests/it/model_parity.rs`).

pub mod budget;
pub mod chat;
pub mod config;
pub mod device;
pub mod generate;
pub mod gpu;
pub mod hf_config;
pub mod host;
pub mod kv;
pub mod layers;
pub mod lora;
pub mod names;
pub mod positions;
pub mod precision;
pub mod preprocess;
pub mod processor;
pub mod sampling;
pub mod segments;
pub mod shapes;
pub mod text;
pub mod vision;
pub mod vlm;
pub mod weights;

pub use config::{Arch, PreprocessConfig, TextConfig, VisionConfig, VlmConfig};
pub use vlm::{Batch, ModelError, Vlm};
