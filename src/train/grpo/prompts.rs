//! Training prompts: the run's items (checked before the run, read per batch through the model's
//! processor, [`crate::train::inputs`]), and the seeded item order.

use super::config::GrpoConfig;
use super::error::RunError;
use super::preflight::{Preflight, Slot};
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

/// The run's pre-flight check (see [`super::preflight`]) with `processor`'s image settings, which
/// already carry the run's `min_pixels` / `max_pixels` (no step-time estimate: a run measures its
/// own; `--dry-run` and the form add it).
///
/// # Errors
/// [`RunError`]: a bad split, the store, the tokenizer.
pub fn check_items(project: &Project, cfg: &GrpoConfig, processor: &Processor) -> Result<Preflight, RunError> {
    let scan = super::preflight::scan(project, cfg, &processor.tok)?;
    Ok(scan.check(cfg, &processor.images.vision, &processor.images.preprocess))
}

/// The items a run trains on, each read (its image decoded and preprocessed) only when a batch
/// needs it: a real image preprocesses to up to ~24 MB of pixel values, so a split's worth would
/// not fit in memory.
///
/// # Errors
/// [`RunError::Config`] with the pre-flight's reason and fixes when the run cannot start;
/// [`RunError::NoData`] when no item is usable.
pub fn run_items(
    project: &Project,
    cfg: &GrpoConfig,
    processor: &Processor,
) -> Result<(Vec<Slot>, crate::train::Skipped), RunError> {
    let p = check_items(project, cfg, processor)?;
    if p.usable.is_empty() && p.too_long.is_empty() {
        return Err(RunError::NoData(cfg.split.clone()));
    }
    if let Some(why) = p.blocker() {
        let fixes: Vec<String> = p.fixes().iter().map(|f| f.label()).collect();
        return Err(RunError::Config(format!("pre-flight check: {why} — {}", fixes.join(", or "))));
    }
    Ok(p.trained_and_skipped())
}

/// The item of `slot` as a prompt, its image read and preprocessed now.
///
/// # Errors
/// [`InputError`]: the image (decoding), the prompt too long (an image whose stored size was wrong).
pub fn materialise(
    project: &Project,
    slot: &Slot,
    processor: &Processor,
    cfg: &GrpoConfig,
) -> Result<PromptItem, InputError> {
    let item = project.item(slot.id)?;
    prompt_item(project, slot.id, item, processor, &cfg.prompt_template(), cfg.max_prompt_length)
}

/// The prompts of the batch that starts at prompt number `cursor`, read now. An item that cannot
/// be read (its image no longer decodes, or its prompt turns out longer than its stored image size
/// said while long prompts are skipped) joins `bad`, is named through `warn`, and the next usable
/// item in the order takes its place.
///
/// # Errors
/// [`RunError::NoData`] when no item can be read; store and tokenizer errors.
pub fn batch_at(
    project: &Project,
    (items, bad): (&[Slot], &mut std::collections::BTreeSet<usize>),
    cursor: u64,
    (cfg, processor): (&GrpoConfig, &Processor),
    warn: &mut dyn FnMut(String),
) -> Result<Vec<PromptItem>, RunError> {
    let n = items.len();
    let mut out = Vec::with_capacity(cfg.prompts_per_step);
    for k in 0..cfg.prompts_per_step as u64 {
        let first = item_at(cursor + k, n, cfg.seed);
        let mut found = None;
        for idx in (0..n).map(|j| (first + j) % n).filter(|i| !bad.contains(i)).collect::<Vec<_>>() {
            match materialise(project, &items[idx], processor, cfg) {
                Ok(p) => {
                    found = Some(p);
                    break;
                }
                Err(e @ InputError::Image(_)) => warn(format!("item {} left out: {e}", items[idx].uid)),
                Err(e @ InputError::PromptTooLong { .. }) if cfg.skip_long_prompts => warn(format!("left out: {e}")),
                Err(e) => return Err(e.into()),
            }
            bad.insert(idx);
        }
        out.push(found.ok_or_else(|| RunError::NoData(cfg.split.clone()))?);
    }
    Ok(out)
}

/// For each prompt-length bucket of the items, a step's worth of them read now (GPU kernel
/// preparation runs every bucket's shapes once).
///
/// # Errors
/// As [`materialise`], unreadable images excepted (such items are passed over).
pub fn bucket_samples(
    project: &Project,
    items: &[Slot],
    (cfg, processor): (&GrpoConfig, &Processor),
    bucket: impl Fn(usize) -> usize,
) -> Result<Vec<PromptItem>, RunError> {
    let mut taken: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for s in items {
        let n = taken.entry(bucket(s.prompt_len)).or_default();
        if *n >= cfg.prompts_per_step {
            continue;
        }
        match materialise(project, s, processor, cfg) {
            Ok(p) => {
                out.push(p);
                *n += 1;
            }
            Err(InputError::Image(_) | InputError::PromptTooLong { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}
