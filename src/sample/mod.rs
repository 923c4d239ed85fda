//! The bundled sample project: a deterministic generator of synthetic radiology-like images with
//! multiple-choice questions, mirroring MedVLM-R1's protocol — a train split of MRI only and a test
//! split of MRI, CT and X-ray (the latter two out of domain). `medvlm sample-data` runs it.

pub mod draw;
pub mod phantom;
pub mod questions;
/// The seeded generator (kept here as `sample::rng` for existing callers).
pub use crate::rng;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::domain::{Modality, Split, letter};
use crate::io::import::{ImportFormat, ImportOptions, ImportSummary, import_paths};
use crate::jobs::ProgressSink;
use crate::store::Project;
use questions::QuestionType;
use rng::Rng;

/// The default seed of the committed sample project.
pub const DEFAULT_SEED: u64 = 20250226;

/// File name of the generated project.
pub const PROJECT_FILE: &str = "sample.medvlm";

/// Items per (split, modality) in the sample set.
pub const LAYOUT: &[(Split, Modality, usize)] = &[
    (Split::Train, Modality::Mri, 400),
    (Split::Val, Modality::Mri, 40),
    (Split::Test, Modality::Mri, 100),
    (Split::Test, Modality::Ct, 100),
    (Split::Test, Modality::XRay, 100),
];

/// Errors while generating sample data.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// Writing a file failed.
    #[error("cannot write ({source}): {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Encoding a PNG failed.
    #[error("cannot encode PNG ({reason}): {path}")]
    Png {
        /// Why.
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// The project exists and `force` was not given.
    #[error("{0} exists; pass --force to replace it")]
    Exists(PathBuf),
    /// Creating or filling the project failed.
    #[error(transparent)]
    Import(#[from] crate::io::import::ImportError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SampleError + '_ {
    move |source| SampleError::Io { path: path.to_path_buf(), source }
}

/// One synthetic item of stream `stream`: question, findings and image.
pub fn draw_item(seed: u64, stream: u64, modality: Modality) -> (questions::Question, phantom::Findings, draw::Canvas) {
    let mut rng = Rng::derive(seed, stream);
    let kind = QuestionType::draw(&mut rng);
    let findings = questions::findings_for(&mut rng, kind, modality);
    let canvas = phantom::render(&mut rng, &findings);
    let q = questions::ask(&mut rng, kind, &findings);
    (q, findings, canvas)
}

/// A synthetic item that is not in any project: for a model's broad pretraining (all modalities),
/// drawn from streams far from the sample project's, so test images are never seen.
/// Returns the item (findings in its metadata, no image path) and its RGB pixels `(rgb, h, w)`.
pub fn pretraining_item(seed: u64, index: u64) -> (crate::domain::VqaItem, Vec<u8>, usize, usize) {
    let modality = [Modality::Mri, Modality::Ct, Modality::XRay][(index % 3) as usize];
    let stream = 1_000_000_000 + index;
    let (q, findings, canvas) = draw_item(seed ^ 0x9E37_79B9, stream, modality);
    let mut meta = std::collections::BTreeMap::new();
    meta.insert("question_type".to_string(), serde_json::to_value(q.kind).unwrap_or_default());
    meta.insert("findings".to_string(), json!({ "lesions": findings.lesions }));
    let item = crate::domain::VqaItem {
        uid: format!("pretrain/{index}"),
        images: vec![],
        question: q.text,
        options: q.options,
        answer: crate::domain::Answer::Choice(q.answer),
        modality,
        body_part: Some(findings.body_part),
        source: "pretraining".into(),
        split: Split::Train,
        tags: vec![],
        meta,
    };
    let gray = canvas.to_u8();
    let rgb = gray.iter().flat_map(|&g| [g, g, g]).collect();
    (item, rgb, canvas.h, canvas.w)
}

/// Writes `out/images/*.png`, `out/manifest.jsonl` and the project `out/sample.medvlm` (created by
/// importing the manifest with the folder importer). Same seed, same bytes.
///
/// # Errors
/// [`SampleError`] on I/O failure, or if the project exists and `force` is false.
pub fn generate(out: &Path, seed: u64, force: bool, progress: &dyn ProgressSink) -> Result<ImportSummary, SampleError> {
    let project_path = out.join(PROJECT_FILE);
    if project_path.exists() {
        if !force {
            return Err(SampleError::Exists(project_path));
        }
        for suffix in ["", "-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{suffix}", project_path.display()));
            if p.exists() {
                std::fs::remove_file(&p).map_err(io_err(&p))?;
            }
        }
    }
    let images_dir = out.join("images");
    std::fs::create_dir_all(&images_dir).map_err(io_err(&images_dir))?;
    let total: usize = LAYOUT.iter().map(|l| l.2).sum();
    let manifest_path = out.join("manifest.jsonl");
    let mut manifest = Vec::new();
    let mut stream = 0u64;
    for &(split, modality, count) in LAYOUT {
        for n in 0..count {
            stream += 1;
            let (q, findings, canvas) = draw_item(seed, stream, modality);
            let tag = match modality {
                Modality::Mri => "mri",
                Modality::Ct => "ct",
                _ => "xray",
            };
            let name = format!("{split}-{tag}-{n:04}.png");
            let path = images_dir.join(&name);
            image::GrayImage::from_raw(canvas.w as u32, canvas.h as u32, canvas.to_u8())
                .ok_or_else(|| SampleError::Png { reason: "buffer size".into(), path: path.clone() })?
                .save(&path)
                .map_err(|e| SampleError::Png { reason: e.to_string(), path: path.clone() })?;
            let row = json!({
                "id": format!("{split}/{tag}/{n:04}"),
                "image": format!("images/{name}"),
                "question": q.text,
                "options": q.options,
                "answer": letter(q.answer).to_string(),
                "modality": modality.as_str(),
                "body_part": findings.body_part,
                "split": split.as_str(),
                "source": "sample",
                "question_type": q.kind,
                "findings": { "lesions": findings.lesions },
            });
            manifest.push(row.to_string());
            progress.update("Drawing sample images", stream, Some(total as u64));
        }
    }
    let mut f = std::fs::File::create(&manifest_path).map_err(io_err(&manifest_path))?;
    f.write_all((manifest.join("\n") + "\n").as_bytes()).map_err(io_err(&manifest_path))?;
    drop(f);
    let mut project = Project::create(&project_path)?;
    project.set_meta("description", "Synthetic sample project: MRI-only train split; MRI, CT and X-ray test split")?;
    project.set_meta("sample_seed", &seed.to_string())?;
    let opts = ImportOptions { format: Some(ImportFormat::Folder), ..ImportOptions::default() };
    let summary = import_paths(&mut project, &[manifest_path], &opts, progress)?;
    project.checkpoint()?;
    Ok(summary)
}

/// Where the bundled sample project may be: `./sample-data`, the source checkout this binary was
/// built from, and `sample-data/` next to the executable or its ancestors.
pub fn bundled_candidates() -> Vec<PathBuf> {
    let mut c = vec![PathBuf::from("sample-data").join(PROJECT_FILE)];
    c.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data").join(PROJECT_FILE));
    if let Ok(exe) = std::env::current_exe() {
        c.extend(exe.ancestors().skip(1).take(4).map(|a| a.join("sample-data").join(PROJECT_FILE)));
    }
    c
}

/// The bundled sample project if present, else a copy generated (once, in a second or two) into
/// the user's data folder. Works offline.
///
/// # Errors
/// [`SampleError`] if it has to be generated and that fails.
pub fn bundled_project(progress: &dyn ProgressSink) -> Result<PathBuf, SampleError> {
    if let Some(p) = bundled_candidates().into_iter().find(|p| p.is_file()) {
        return Ok(crate::util::absolute(&p));
    }
    let dir = crate::util::data_dir().join("sample");
    let project = dir.join(PROJECT_FILE);
    if !project.is_file() {
        generate(&dir, DEFAULT_SEED, true, progress)?;
    }
    Ok(project)
}

/// Folder name of the built-in tiny model inside `sample-data/`.
pub const TINY_MODEL_DIR: &str = "medvlm-tiny";

/// The bundled `medvlm-tiny` model folder, if present next to the sample project.
pub fn bundled_tiny_model() -> Option<PathBuf> {
    bundled_candidates()
        .into_iter()
        .filter_map(|p| p.parent().map(|d| d.join(TINY_MODEL_DIR)))
        .find(|d| d.join("config.json").is_file())
        .map(|d| crate::util::absolute(&d))
}
