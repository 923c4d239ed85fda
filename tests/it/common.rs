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
