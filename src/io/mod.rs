//! File formats: importers for the VQA datasets users actually have, exports that carry no local
//! paths or identifying columns, and image file inspection. No UI imports.

pub mod deid;
pub mod export;
pub mod images;
pub mod import;
pub mod parquet;
