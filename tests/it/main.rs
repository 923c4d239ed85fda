//! The one integration-test binary (matklad's rule): one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod architecture;
mod checkpointing;
mod cli;
mod common;
mod curation;
mod deid_profile;
mod dicom;
mod dicomdir;
mod faults_data;
mod faults_runs;
mod gpu;
mod grpo;
mod import;
mod lora;
mod model_parity;
mod nifti;
mod parquet;
mod precision;
mod review;
mod sample;
mod shader;
mod store;
mod train;
mod ui;
mod ui_scans;
