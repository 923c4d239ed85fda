//! File formats: importers for the VQA datasets users actually have, exports that carry no local
//! paths or identifying columns, image file inspection, and DICOM with its patient attributes. No
//! UI imports.

pub mod card;
pub mod deid;
pub mod dicom;
mod dicom_clean;
pub mod dicom_deid;
pub mod dicom_deid_options;
mod dicom_jpeg;
mod dicom_lut;
mod dicom_open;
mod dicom_palette;
mod dicom_pixels;
pub mod dicomdir;
pub mod export;
pub mod gz;
pub mod images;
pub mod import;
mod jpeg12;
mod jpegls;
pub mod nifti;
mod nifti_header;
pub mod parquet;
pub mod phi;
mod phi_table;
