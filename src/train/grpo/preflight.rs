//! The pre-flight check of a GRPO run, before any weight is read: every chosen item's prompt length
//! from its text and its image's stored size (no image is decoded), the items a run would leave
//! out and why, and an estimated step time. It blocks a run that would fail, names the offending
//! items, and offers the fixes ([`Fix`]): a lower `max_pixels`, skipping the long prompts, or a
//! longer `max_prompt_length`. `medvlm train --dry-run` prints it; the Training form runs it live.

use std::fmt::Write as _;

use super::config::GrpoConfig;
use super::error::RunError;
use crate::domain::{Modality, Split, VqaItem};
use crate::model::chat::ChatTokenizer;
use crate::model::config::{PreprocessConfig, VisionConfig};
use crate::model::preprocess::smart_resize;
use crate::store::Project;

/// One item of the run's split and modalities, measured.
#[derive(Debug, Clone)]
pub struct ScanRow {
    /// Store row id.
    pub id: i64,
    /// Item uid.
    pub uid: String,
    /// Prompt tokens without the image's (its placeholder expanded to nothing).
    pub text_tokens: usize,
    /// Size of the first image `(height, width)`; `None`: a text-only item.
    pub image: Option<(usize, usize)>,
    /// Why a run leaves this item out whatever the settings.
    pub left_out: Option<String>,
}

/// The measured items of a run's split, template and model: what the settings do not change, so
/// the check can be redone for every edit of the form without touching the project.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The items.
    pub rows: Vec<ScanRow>,
}

/// A usable item of the run with its prompt length under the run's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Store row id.
    pub id: i64,
    /// Item uid.
    pub uid: String,
    /// Prompt tokens, image tokens included.
    pub prompt_len: usize,
    /// Image tokens among them.
    pub image_tokens: usize,
    /// Vision patches of the image (before the merge).
    pub patches: usize,
}

/// A change to the settings that makes a blocked run start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fix {
    /// Lower `max_pixels` so every image fits the prompt budget.
    LowerMaxPixels(usize),
    /// Leave the long prompts out (this many items).
    SkipLongPrompts(usize),
    /// Raise `max_prompt_length` to the longest prompt.
    RaiseMaxPromptLength(usize),
}

impl Fix {
    /// Applies the fix to a config.
    pub fn apply(self, cfg: &mut GrpoConfig) {
        match self {
            Self::LowerMaxPixels(p) => {
                cfg.max_pixels = p;
                if cfg.min_pixels > p {
                    cfg.min_pixels = 0;
                }
            }
            Self::SkipLongPrompts(_) => cfg.skip_long_prompts = true,
            Self::RaiseMaxPromptLength(n) => cfg.max_prompt_length = n,
        }
    }

    /// The fix in words (a button's label, a CLI hint).
    pub fn label(self) -> String {
        match self {
            Self::LowerMaxPixels(p) => format!("lower max_pixels to {} (≤ {} image tokens)", group(p), group(p / 784)),
            Self::SkipLongPrompts(n) => format!("skip the {} long prompts (skip_long_prompts = true)", group(n)),
            Self::RaiseMaxPromptLength(n) => format!("raise max_prompt_length to {}", group(n)),
        }
    }
}

/// A step time estimated from an earlier run of the same model.
#[derive(Debug, Clone, PartialEq)]
pub struct StepEstimate {
    /// Seconds per step, at most (completions at full length).
    pub seconds: f64,
    /// Where the number comes from.
    pub basis: String,
}

/// What the check found.
#[derive(Debug, Clone, Default)]
pub struct Preflight {
    /// Items of the split and modalities.
    pub considered: usize,
    /// Items a run trains on.
    pub usable: Vec<Slot>,
    /// Items whose prompt exceeds `max_prompt_length`.
    pub too_long: Vec<Slot>,
    /// Items left out whatever the settings, with the reason.
    pub left_out: Vec<(String, String)>,
    /// The limit checked.
    pub max_prompt_length: usize,
    /// Image area bound in force (pixels).
    pub max_pixels: usize,
    /// Long prompts are skipped rather than refused.
    pub skip_long: bool,
    /// Whether the model reads images.
    pub text_only: bool,
    /// The estimated step time, when an earlier run of the model timed one.
    pub estimate: Option<StepEstimate>,
    /// Sequences per step (prompts × generations) and completion tokens at most.
    pub per_step: (usize, usize),
}

/// Longest prompt and most image patches of `slots`.
pub fn data_sizes(slots: &[Slot]) -> (usize, usize) {
    let prompt = slots.iter().map(|s| s.prompt_len).max().unwrap_or(0);
    let patches = slots.iter().map(|s| s.patches).max().unwrap_or(0);
    (prompt, patches)
}

/// The kind of a left-out reason: the text before its first `:` ("image unreadable: …").
fn reason_kind(why: &str) -> &str {
    why.split(':').next().unwrap_or(why)
}

/// Items left out, counted by reason with up to three uids each: "1,314 items left out: 1,314
/// open question (no options: vqa-rad/train/4, …)".
pub fn skipped_summary(skipped: &[(String, String)]) -> String {
    let mut by: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for (uid, why) in skipped {
        by.entry(reason_kind(why)).or_default().push(uid);
    }
    let parts: Vec<String> = by
        .iter()
        .map(|(why, uids)| {
            let more = if uids.len() > 3 { ", …" } else { "" };
            format!("{} {why} ({}{more})", group(uids.len()), uids[..uids.len().min(3)].join(", "))
        })
        .collect();
    format!("{} items left out: {}", group(skipped.len()), parts.join("; "))
}

/// Thousands separators.
pub fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Why a run leaves `item` out whatever its settings.
fn left_out_reason(item: &VqaItem) -> Option<String> {
    if item.options.is_empty() {
        return Some("open question (no options)".into());
    }
    if item.answer_letter().is_none() {
        return Some("no answer key".into());
    }
    let image = item.images.first()?;
    if image.is_missing() {
        return Some("image file missing".into());
    }
    image.unreadable.as_ref().map(|u| format!("image unreadable: {u}"))
}

/// The first image's stored size, or its header's when the import did not record it.
fn image_size(project: &Project, item: &VqaItem) -> Result<Option<(usize, usize)>, String> {
    let Some(r) = item.images.first() else { return Ok(None) };
    if let (Some(w), Some(h)) = (r.width, r.height) {
        return Ok(Some((h as usize, w as usize)));
    }
    let path = project.resolve_image(&r.path);
    match image::image_dimensions(&path) {
        Ok((w, h)) => Ok(Some((h as usize, w as usize))),
        Err(e) => Err(format!("image size unknown ({e})")),
    }
}

/// Measures the items of `cfg`'s split and modalities with the model's tokenizer.
///
/// # Errors
/// [`RunError`]: a bad split, the store, the tokenizer.
pub fn scan(project: &Project, cfg: &GrpoConfig, tok: &ChatTokenizer) -> Result<Scan, RunError> {
    let split = Split::parse(&cfg.split).ok_or_else(|| RunError::Config(format!("unknown split {}", cfg.split)))?;
    let mods: Vec<Modality> = cfg.modalities.iter().filter_map(|m| Modality::parse(m)).collect();
    let template = cfg.prompt_template();
    let mut rows = Vec::new();
    for (id, item) in project.items()? {
        if item.split != split || (!mods.is_empty() && !mods.contains(&item.modality)) {
            continue;
        }
        let mut left_out = left_out_reason(&item);
        let image = match (&left_out, image_size(project, &item)) {
            (None, Err(e)) => {
                left_out = Some(e);
                None
            }
            (_, size) => size.unwrap_or(None),
        };
        let images = vec![0; usize::from(!item.images.is_empty())];
        let text_tokens = tok.prompt(&template.render(&item), &images, None)?;
        rows.push(ScanRow { id, uid: item.uid, text_tokens: text_tokens.len(), image, left_out });
    }
    Ok(Scan { rows })
}

/// Image tokens and vision patches of an `h`×`w` image under `pc`.
///
/// # Errors
/// The preprocessing's words (an empty image, an aspect ratio over 200).
pub fn image_tokens(h: usize, w: usize, vc: &VisionConfig, pc: &PreprocessConfig) -> Result<(usize, usize), String> {
    let (oh, ow) = smart_resize(h, w, vc.factor(), pc.min_pixels, pc.max_pixels).map_err(|e| e.to_string())?;
    let patches = (oh / vc.patch_size) * (ow / vc.patch_size);
    Ok((patches / (vc.spatial_merge_size * vc.spatial_merge_size), patches))
}

impl Scan {
    /// The check under `cfg`'s limits and `pc` (the model's image settings with the run's applied).
    pub fn check(&self, cfg: &GrpoConfig, vc: &VisionConfig, pc: &PreprocessConfig) -> Preflight {
        let mut out = Preflight {
            considered: self.rows.len(),
            max_prompt_length: cfg.max_prompt_length,
            max_pixels: pc.max_pixels,
            skip_long: cfg.skip_long_prompts,
            per_step: (cfg.prompts_per_step * cfg.num_generations, cfg.max_completion_length),
            ..Preflight::default()
        };
        for r in &self.rows {
            if let Some(why) = &r.left_out {
                out.left_out.push((r.uid.clone(), why.clone()));
                continue;
            }
            let (image_tokens, patches) = match r.image.map(|(h, w)| image_tokens(h, w, vc, pc)) {
                Some(Ok(t)) => t,
                Some(Err(e)) => {
                    out.left_out.push((r.uid.clone(), e));
                    continue;
                }
                None => (0, 0),
            };
            let slot =
                Slot { id: r.id, uid: r.uid.clone(), prompt_len: r.text_tokens + image_tokens, image_tokens, patches };
            if slot.prompt_len > cfg.max_prompt_length {
                out.too_long.push(slot);
            } else {
                out.usable.push(slot);
            }
        }
        out
    }
}

impl Preflight {
    /// Why a run cannot start with these settings (`None`: it can).
    pub fn blocker(&self) -> Option<String> {
        if !self.too_long.is_empty() && !self.skip_long {
            let longest = self.too_long.iter().max_by_key(|s| s.prompt_len)?;
            return Some(format!(
                "{} of {} items have prompts over max_prompt_length = {} (longest {}: {} tokens, {} of them image tokens)",
                group(self.too_long.len()),
                group(self.considered),
                self.max_prompt_length,
                longest.uid,
                group(longest.prompt_len),
                group(longest.image_tokens),
            ));
        }
        if self.usable.is_empty() {
            let why = if self.considered == 0 {
                "the split and modalities chosen have no items".to_string()
            } else {
                format!("none of the {} items can be trained on (see the items left out)", self.considered)
            };
            return Some(why);
        }
        None
    }

    /// The fixes for a blocked run, the least intrusive first.
    pub fn fixes(&self) -> Vec<Fix> {
        if self.too_long.is_empty() || self.skip_long {
            return vec![];
        }
        let mut out = Vec::new();
        // Every 28x28 pixels of the resized image are one token: the tightest text budget bounds it.
        let budget =
            self.too_long.iter().map(|s| self.max_prompt_length.saturating_sub(s.prompt_len - s.image_tokens)).min();
        if let Some(b) = budget.filter(|&b| b >= 4)
            && self.too_long.iter().all(|s| s.image_tokens > 0)
        {
            out.push(Fix::LowerMaxPixels(b * 784));
        }
        if !self.usable.is_empty() {
            out.push(Fix::SkipLongPrompts(self.too_long.len()));
        }
        if let Some(longest) = self.too_long.iter().map(|s| s.prompt_len).max() {
            out.push(Fix::RaiseMaxPromptLength(longest));
        }
        out
    }

    /// The items a run trains on, and those it leaves out with the reason (the long prompts among
    /// them when they are skipped).
    pub fn trained_and_skipped(&self) -> (Vec<Slot>, crate::train::Skipped) {
        let mut skipped = self.left_out.clone();
        if self.skip_long {
            skipped.extend(self.too_long.iter().map(|s| {
                (
                    s.uid.clone(),
                    format!("prompt of {} tokens over max_prompt_length = {}", s.prompt_len, self.max_prompt_length),
                )
            }));
        }
        (self.usable.clone(), skipped)
    }

    /// Mean prompt length of the items trained on.
    pub fn mean_prompt_len(&self) -> f64 {
        self.usable.iter().map(|s| s.prompt_len as f64).sum::<f64>() / self.usable.len().max(1) as f64
    }

    /// Longest prompt and most image patches of the items trained on.
    pub fn data_sizes(&self) -> (usize, usize) {
        data_sizes(&self.usable)
    }

    /// The table `medvlm train --dry-run` prints.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let row = |t: &mut String, k: &str, v: String| {
            let _ = writeln!(t, "  {k:<38} {v}");
        };
        let stats = |v: Vec<usize>| -> String {
            let mut v = v;
            v.sort_unstable();
            match (v.first(), v.last()) {
                (Some(lo), Some(hi)) => format!("{} / {} / {}", group(*lo), group(v[v.len() / 2]), group(*hi)),
                _ => "-".into(),
            }
        };
        let all: Vec<&Slot> = self.usable.iter().chain(&self.too_long).collect();
        row(&mut t, "items in split and modalities", group(self.considered));
        row(&mut t, "trainable", group(self.usable.len()));
        row(&mut t, "prompt tokens min / median / max", stats(all.iter().map(|s| s.prompt_len).collect()));
        row(&mut t, "image tokens min / median / max", stats(all.iter().map(|s| s.image_tokens).collect()));
        row(&mut t, "max_prompt_length", group(self.max_prompt_length));
        row(
            &mut t,
            "max_pixels",
            format!("{} (≤ {} image tokens)", group(self.max_pixels), group(self.max_pixels / 784)),
        );
        let verdict = match (self.too_long.is_empty(), self.skip_long) {
            (true, _) => "",
            (false, true) => " (skipped)",
            (false, false) => " (REFUSED)",
        };
        row(&mut t, "prompts over max_prompt_length", format!("{}{verdict}", group(self.too_long.len())));
        let mut reasons: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for (_, why) in &self.left_out {
            *reasons.entry(reason_kind(why)).or_default() += 1;
        }
        for (why, n) in reasons {
            row(&mut t, &format!("left out: {why}"), group(n));
        }
        row(
            &mut t,
            "sequences per step",
            format!("{} (completions ≤ {} tokens)", self.per_step.0, group(self.per_step.1)),
        );
        row(
            &mut t,
            "estimated time per step",
            self.estimate.as_ref().map_or("unknown (no earlier run of this model to time from)".into(), |e| {
                format!("≤ {:.1} s ({})", e.seconds, e.basis)
            }),
        );
        t
    }
}

/// The step time of `cfg` estimated from the newest earlier GRPO run of the same model that
/// logged steps: its median step time scaled by the tokens a step processes (sequences × prompt
/// and completion tokens), with completions at `max_completion_length`.
pub fn estimate(project: &Project, cfg: &GrpoConfig, mean_prompt: f64) -> Option<StepEstimate> {
    use super::metrics::names::{MEAN_LENGTH, STEP_TIME};
    let runs = project.runs().ok()?;
    for r in runs.iter().filter(|r| r.last_step.unwrap_or(0) > 0) {
        let Ok(prev) = serde_json::from_str::<GrpoConfig>(&r.config_json) else { continue };
        if prev.model != cfg.model {
            continue;
        }
        let metrics = project.run_metrics(r.id).ok()?;
        let median = |name: &str| -> Option<f64> {
            let mut v: Vec<f64> = metrics.get(name)?.iter().map(|p| p.1).filter(|x| x.is_finite()).collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied()
        };
        let (Some(step), Some(len)) = (median(STEP_TIME), median(MEAN_LENGTH)) else { continue };
        let then = (prev.prompts_per_step * prev.num_generations) as f64 * (mean_prompt + len);
        let now =
            (cfg.prompts_per_step * cfg.num_generations) as f64 * (mean_prompt + cfg.max_completion_length as f64);
        return Some(StepEstimate {
            seconds: step * now / then.max(1.0),
            basis: format!("run #{}: {step:.1} s per step on this model, scaled by tokens per step", r.id),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vc() -> VisionConfig {
        // The built-in model's patch geometry (14-px patches, 2x2 merge: 28 px per token side).
        crate::train::tiny::tiny_config(64).vision
    }

    fn pc(max: usize) -> PreprocessConfig {
        PreprocessConfig { max_pixels: max, ..PreprocessConfig::default() }
    }

    fn scan_of(rows: &[(usize, Option<(usize, usize)>)]) -> Scan {
        Scan {
            rows: rows
                .iter()
                .enumerate()
                .map(|(i, &(t, img))| ScanRow {
                    id: i as i64,
                    uid: format!("u{i}"),
                    text_tokens: t,
                    image: img,
                    left_out: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_long_prompt_blocks_the_run_and_the_pixel_fix_makes_every_prompt_fit() {
        let cfg = GrpoConfig { max_prompt_length: 512, ..GrpoConfig::default() };
        let scan = scan_of(&[(60, Some((1024, 1024))), (50, Some((112, 112))), (40, None)]);
        let p = scan.check(&cfg, &vc(), &pc(1_003_520));
        assert_eq!((p.usable.len(), p.too_long.len()), (2, 1));
        let why = p.blocker().unwrap();
        assert!(why.contains("1 of 3 items") && why.contains("u0"), "{why}");
        let fixes = p.fixes();
        let Some(Fix::LowerMaxPixels(px)) = fixes.first().copied() else { panic!("{fixes:?}") };
        assert_eq!(px, (512 - 60) * 784);
        let mut fixed = cfg.clone();
        Fix::LowerMaxPixels(px).apply(&mut fixed);
        let again = scan.check(&fixed, &vc(), &fixed.image_settings(&pc(1_003_520)));
        assert!(again.blocker().is_none() && again.too_long.is_empty(), "{:?}", again.too_long);
        assert!(
            fixes.contains(&Fix::SkipLongPrompts(1))
                && fixes.contains(&Fix::RaiseMaxPromptLength(p.too_long[0].prompt_len))
        );
    }

    #[test]
    fn skipping_long_prompts_lists_them_and_unblocks() {
        let cfg = GrpoConfig { max_prompt_length: 100, skip_long_prompts: true, ..GrpoConfig::default() };
        let p = scan_of(&[(60, Some((1024, 1024))), (50, None)]).check(&cfg, &vc(), &pc(1_003_520));
        assert!(p.blocker().is_none());
        let (trained, skipped) = p.trained_and_skipped();
        assert_eq!(trained.len(), 1);
        assert!(skipped[0].1.contains("over max_prompt_length = 100"), "{skipped:?}");
        assert!(p.table().contains("skipped"));
    }

    #[test]
    fn no_usable_items_block_with_the_reason() {
        let mut scan = scan_of(&[(10, None)]);
        scan.rows[0].left_out = Some("open question (no options)".into());
        let p = scan.check(&GrpoConfig::default(), &vc(), &pc(1_003_520));
        assert!(p.blocker().unwrap().contains("none of the 1 items"));
        assert!(p.table().contains("left out: open question"));
        let s =
            skipped_summary(&[("a".into(), "image unreadable: x".into()), ("b".into(), "image unreadable: y".into())]);
        assert_eq!(s, "2 items left out: 2 image unreadable (a, b)");
        assert_eq!(group(1_234_567), "1,234,567");
    }
}
