//! Training prompts: the run's items through the model's processor ([`crate::train::inputs`]), and
//! the seeded item order.

use super::config::GrpoConfig;
use super::error::RunError;
use crate::domain::{Modality, Split};
use crate::model::processor::Processor;
use crate::rng::Rng;
use crate::store::Project;
use crate::train::inputs::{InputError, PromptItem, prompt_item};

/// Item order of prompt number `i`: a fresh seeded permutation every epoch.
pub fn item_at(i: u64, n: usize, seed: u64) -> usize {
    let epoch = i / n as u64;
    let mut order: Vec<usize> = (0..n).collect();
    Rng::derive(seed, 0xDA7A_0000 + epoch).shuffle(&mut order);
    order[(i % n as u64) as usize]
}

/// Every usable training item of the run's split and modalities, as prompts, and the items left
/// out because their image is missing, unreadable or does not decode, each with the reason.
///
/// # Errors
/// [`RunError`]: bad split, a prompt too long, no items.
pub fn load_prompts(
    project: &Project,
    cfg: &GrpoConfig,
    processor: &Processor,
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
        match prompt_item(project, row.id, item, processor, &template, cfg.max_prompt_length) {
            Ok(p) => out.push(p),
            Err(InputError::Image(e)) => skipped.push((row.uid, e.to_string())),
            Err(e) => return Err(e.into()),
        }
    }
    if out.is_empty() {
        return Err(RunError::NoData(cfg.split.clone()));
    }
    Ok((out, skipped))
}
