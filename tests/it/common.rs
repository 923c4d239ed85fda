//! Shared helpers: fixture paths, temporary folders, a private copy of the sample project.

use std::path::{Path, PathBuf};

/// The crate root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `tests/fixtures`.
pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

/// A fresh temporary folder (deleted on drop).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("medvlm-it-").tempdir().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Copies the committed sample project (file + images) into `dir` and returns the project path.
pub fn sample_copy(dir: &Path) -> PathBuf {
    let src = root().join("sample-data");
    copy_dir(&src.join("images"), &dir.join("images"));
    let dst = dir.join("sample.medvlm");
    std::fs::copy(src.join("sample.medvlm"), &dst).unwrap();
    dst
}

/// The `medvlm` binary built for these tests (`MEDVLM_TEST_BIN` runs the same tests against another
/// build, e.g. to show that a defect test fails on an older commit).
pub fn bin() -> std::process::Command {
    let exe = std::env::var_os("MEDVLM_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_medvlm").into());
    let mut c = std::process::Command::new(exe);
    c.env("RUST_LOG", "warn");
    c
}

/// Writes `toml` to `config` and runs `medvlm --backend cpu train --project <project> --config
/// <config>` to its end.
pub fn train_with(project: &Path, config: &Path, toml: &str) -> std::process::Output {
    std::fs::write(config, toml).unwrap();
    bin().args(["--backend", "cpu", "train", "--project"]).arg(project).arg("--config").arg(config).output().unwrap()
}

/// Serialises the tests that run kernels on the wgpu device: kernel compilation counts are per
/// process, so a test counting them must not share the device with another test.
pub fn gpu_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A safetensors tensor as f32 (f32 or i64 stored).
pub fn read_f32(path: &std::path::Path, key: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let v = st.tensor(key).unwrap_or_else(|_| panic!("{key} missing in {}", path.display()));
    match v.dtype() {
        safetensors::Dtype::F32 => {
            v.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
        }
        safetensors::Dtype::I64 => {
            v.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f32).collect()
        }
        d => panic!("{d:?}"),
    }
}

/// Largest absolute difference.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Writes a 16-bit MONOCHROME2 image of `w`×`h` (explicit VR little endian) to `path`; `extra`
/// attributes are added last and replace the defaults (a Bits Stored of 12, another SOP Instance
/// UID, which the meta group then names too).
pub fn write_grey16(
    path: &Path,
    (class, w, h, signed): (&str, usize, usize, bool),
    extra: Vec<dicom_core::DataElement<dicom_object::InMemDicomObject>>,
    pixels: dicom_core::PrimitiveValue,
) {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let us = |t, v: u16| DataElement::new(t, VR::US, PrimitiveValue::from(v));
    let mut obj = dicom_object::InMemDicomObject::new_empty();
    for e in [
        DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from(class)),
        DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.826.0.1.3680043.8.498.8100")),
        DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from("MONOCHROME2")),
        us(tags::ROWS, h as u16),
        us(tags::COLUMNS, w as u16),
        us(tags::SAMPLES_PER_PIXEL, 1),
        us(tags::BITS_ALLOCATED, 16),
        us(tags::BITS_STORED, 16),
        us(tags::HIGH_BIT, 15),
        us(tags::PIXEL_REPRESENTATION, u16::from(signed)),
        DataElement::new(tags::PIXEL_DATA, VR::OW, pixels),
    ]
    .into_iter()
    .chain(extra)
    {
        obj.put(e);
    }
    let instance = obj.element(tags::SOP_INSTANCE_UID).unwrap().to_str().unwrap().to_string();
    let meta = dicom_object::meta::FileMetaTableBuilder::new()
        .transfer_syntax("1.2.840.10008.1.2.1")
        .media_storage_sop_class_uid(class)
        .media_storage_sop_instance_uid(instance);
    obj.with_meta(meta).unwrap().write_to_file(path).unwrap();
}
