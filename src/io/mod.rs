//! File formats: importers for the VQA datasets users actually have, and image file inspection. No UI imports.

pub mod export;
pub mod images;
pub mod import;
pub mod parquet;
