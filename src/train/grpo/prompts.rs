//! Training prompts: an item rendered with the run's template and tokenised with its image
//! preprocessed, the seeded item order, and where a model name points.

use std::path::PathBuf;

use super::config::GrpoConfig;
use super::error::RunError;
use crate::domain::prompt::PromptTemplate;
use crate::domain::{Modality, Split, VqaItem};
use crate::model::chat::ChatTokenizer;
use crate::model::preprocess::PixelValues;
use crate::model::{ModelError, Vlm};
use crate::sample::rng::Rng;
use crate::store::Project;

/// A training example ready for prompting.
pub struct PromptItem {
    /// Store row id.
    pub id: i64,
    /// The item.
    pub item: VqaItem,
    /// Prompt token ids (image placeholders expanded).
    pub prompt: Vec<u32>,
    /// Its image.
    pub image: Option<PixelValues>,
}

/// Item order of prompt number `i`: a fresh seeded permutation every epoch.
pub fn item_at(i: u64, n: usize, seed: u64) -> usize {
    let epoch = i / n as u64;
    let mut order: Vec<usize> = (0..n).collect();
    Rng::derive(seed, 0xDA7A_0000 + epoch).shuffle(&mut order);
    order[(i % n as u64) as usize]
}

/// An item rendered as a prompt: its first image preprocessed for `model`, the template applied and
/// tokenised. Prompts longer than `max_len` are an error, never truncated.
///
/// # Errors
/// [`RunError::PromptTooLong`], image and tokenizer errors.
pub fn prompt_item(
    project: &Project,
    id: i64,
    item: VqaItem,
    model: &Vlm,
    tok: &ChatTokenizer,
    template: &PromptTemplate,
    max_len: usize,
) -> Result<PromptItem, RunError> {
    let image = match item.images.first() {
        Some(r) => {
            let (rgb, h, w) = crate::io::images::read_rgb(&project.resolve_image(&r.path))?;
            Some(
                crate::model::preprocess::preprocess_rgb(&rgb, h, w, &model.config.vision, &model.preprocess)
                    .map_err(ModelError::from)?,
            )
        }
        None => None,
    };
    let counts: Vec<usize> = image.iter().map(|p| p.n_tokens(model.config.vision.spatial_merge_size)).collect();
    let prompt = tok.prompt(&template.render(&item), &counts, None)?;
    if prompt.len() > max_len {
        return Err(RunError::PromptTooLong {
            uid: item.uid,
            len: prompt.len(),
            image: counts.iter().sum(),
            max: max_len,
        });
    }
    Ok(PromptItem { id, item, prompt, image })
}

/// Every usable training item of the run's split and modalities, as prompts, and the items left
/// out because their image is missing, unreadable or does not decode, each with the reason.
///
/// # Errors
/// [`RunError`]: bad split, a prompt too long, no items.
pub fn load_prompts(
    project: &Project,
    cfg: &GrpoConfig,
    model: &Vlm,
    tok: &ChatTokenizer,
) -> Result<(Vec<PromptItem>, crate::train::Skipped), RunError> {
    let split = Split::parse(&cfg.split).ok_or_else(|| RunError::Config(format!("unknown split {}", cfg.split)))?;
    let mods: Vec<Modality> = cfg.modalities.iter().filter_map(|m| Modality::parse(m)).collect();
    let template = cfg.prompt_template();
    let (mut out, mut skipped) = (Vec::new(), Vec::new());
    for row in project.item_rows()? {
        if row.split != split || row.answer_letter.is_none() || (!mods.is_empty() && !mods.contains(&row.modality)) {
            continue;
        }
        if row.missing_images > 0 {
            skipped.push((row.uid, "image file missing".into()));
            continue;
        }
        if row.unreadable_images > 0 {
            skipped.push((row.uid, "image unreadable (see the import report)".into()));
            continue;
        }
        let item = project.item(row.id)?;
        match prompt_item(project, row.id, item, model, tok, &template, cfg.max_prompt_length) {
            Ok(p) => out.push(p),
            Err(RunError::Image(e)) => skipped.push((row.uid, e.to_string())),
            Err(e) => return Err(e),
        }
    }
    if out.is_empty() {
        return Err(RunError::NoData(cfg.split.clone()));
    }
    Ok((out, skipped))
}

/// The folder of a model name: `sample` / `medvlm-tiny` is the bundled model, anything else a path.
///
/// # Errors
/// [`RunError::Config`] when the bundled model is missing.
pub fn model_dir(name: &str) -> Result<PathBuf, RunError> {
    if name == "sample" || name == "medvlm-tiny" {
        return crate::sample::bundled_tiny_model()
            .ok_or_else(|| RunError::Config("the bundled medvlm-tiny model was not found".into()));
    }
    Ok(PathBuf::from(name))
}
