//! `medvlm curate filter`: the Curation workspace's filter from the command line — facets, text,
//! review status, difficulty band / pass count / class under a chosen estimate — printing what
//! matches, optionally applying a bulk action to it (one undoable edit group); and
//! `medvlm curate undo|redo`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;

use super::{Cli, require_project};
use crate::curation::bulk::BulkAction;
use crate::curation::query::DifficultyFilter;
use crate::curation::{Band, Difficulty};
use crate::domain::{ItemFilter, Modality, ReviewStatus, Split};
use crate::store::Project;

/// `medvlm curate filter`.
#[derive(Debug, clap::Args)]
pub struct FilterArgs {
    /// Only these splits (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub split: Vec<String>,
    /// Only these modalities (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub modality: Vec<String>,
    /// Only these sources (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub source: Vec<String>,
    /// Only items with one of these tags (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub tag: Vec<String>,
    /// Only these body parts (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub body_part: Vec<String>,
    /// Only these review states: unreviewed, accepted, needs-changes, rejected (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub review: Vec<String>,
    /// Case-insensitive text in the question, id or tags.
    #[arg(long, default_value = "")]
    pub text: String,
    /// Which pass-count estimate (0 = the one covering most items, as `medvlm curate histogram`).
    #[arg(long, default_value_t = 0)]
    pub estimate: usize,
    /// The difficulty band `LO-HI` (default: the medium band of the estimate's k, 1-7 of 16).
    #[arg(long)]
    pub band: Option<String>,
    /// Keep only items inside the band (or set to `medium` by hand).
    #[arg(long)]
    pub in_band: bool,
    /// Keep only items with exactly this pass count.
    #[arg(long)]
    pub pass_count: Option<usize>,
    /// Keep only these classes: unestimated, too-hard, medium, easy, solved (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub difficulty: Vec<String>,
    /// Apply to every match, as one undoable action: tag:NAME, untag:NAME, exclude, split:S,
    /// band:too-hard|medium|easy|solved|clear.
    #[arg(long)]
    pub apply: Option<String>,
    /// List at most this many matching ids.
    #[arg(long, default_value_t = 20)]
    pub list: usize,
    /// Print one JSON object (counts and every matching uid) instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_all<T: Ord>(
    values: &[String],
    flag: &str,
    known: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> anyhow::Result<BTreeSet<T>> {
    values.iter().map(|v| parse(v.trim()).with_context(|| format!("--{flag} {v:?}: expected one of {known}"))).collect()
}

pub(super) fn filter(cli: &Cli, a: &FilterArgs) -> anyhow::Result<i32> {
    let path = require_project(cli)?;
    let mut project = Project::open(path).with_context(|| format!("opening {}", path.display()))?;
    let facets = ItemFilter {
        modalities: parse_all(&a.modality, "modality", "MRI, CT, X-ray, …", Modality::parse)?,
        splits: parse_all(&a.split, "split", "train, val, test", Split::parse)?,
        sources: a.source.iter().cloned().collect(),
        tags: a.tag.iter().cloned().collect(),
        body_parts: a.body_part.iter().cloned().collect(),
        reviews: parse_all(&a.review, "review", "unreviewed, accepted, needs-changes, rejected", ReviewStatus::parse)?,
        text: a.text.clone(),
        missing_images_only: false,
    };
    let classes = parse_all(&a.difficulty, "difficulty", "unestimated, too-hard, medium, easy, solved", |s| {
        if s == "unestimated" { Some(Difficulty::Unestimated) } else { Difficulty::from_slug(s) }
    })?;
    let action = a.apply.as_deref().map(BulkAction::parse).transpose()?;
    let rows = project.item_rows()?;
    let keys = project.estimate_keys()?;
    let key = keys.get(a.estimate).map(|(k, _)| k.clone());
    if key.is_none() && (a.in_band || a.pass_count.is_some() || a.band.is_some() || a.estimate > 0) {
        if keys.is_empty() {
            eprintln!(
                "note: no pass-count estimates in the project (run `medvlm curate passrate`); only bands set by hand count"
            );
        } else {
            anyhow::bail!(
                "--estimate {}: the project has {} estimate(s) (0…{})",
                a.estimate,
                keys.len(),
                keys.len() - 1
            );
        }
    }
    let counts: Vec<_> = match &key {
        Some(k) => {
            let est = project.estimates(k)?;
            rows.iter().map(|r| est.get(&r.id).copied()).collect()
        }
        None => Vec::new(),
    };
    let k = key.as_ref().map_or(16, |k| k.k);
    let band = match &a.band {
        Some(b) => {
            let band = Band::parse(b).map_err(|e| anyhow::anyhow!("--band {e}"))?;
            anyhow::ensure!(band.hi <= k, "--band {b}: HI is above k = {k}");
            band
        }
        None => Band::medium(k),
    };
    let diff = DifficultyFilter { band, band_only: a.in_band, pass_count: a.pass_count, classes };
    let mut matched = facets.apply(&rows);
    diff.retain(&mut matched, &rows, &counts);
    let ids: Vec<i64> = matched.iter().map(|&i| rows[i].id).collect();
    let applied = match &action {
        Some(act) => Some(crate::curation::bulk::apply(&mut project, &ids, act)?),
        None => None,
    };
    let mut by_split: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_modality: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in &matched {
        *by_split.entry(rows[i].split.as_str()).or_default() += 1;
        *by_modality.entry(rows[i].modality.as_str()).or_default() += 1;
    }
    let classes = diff.class_counts(&matched, &rows, &counts);
    if a.json {
        let out = serde_json::json!({
            "matched": matched.len(),
            "total": rows.len(),
            "estimate": key.as_ref().map(|k| k.label()),
            "band": [band.lo, band.hi],
            "by_split": by_split,
            "by_modality": by_modality,
            "by_difficulty": classes.iter().map(|(d, n)| (d.slug(), n)).collect::<BTreeMap<_, _>>(),
            "applied": applied.clone().flatten(),
            "uids": matched.iter().map(|&i| rows[i].uid.as_str()).collect::<Vec<_>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    outln!("{} of {} items match", matched.len(), rows.len());
    if let Some(k) = &key {
        outln!("estimate: {} (band {}…{} of {})", k.label(), band.lo, band.hi, k.k);
    }
    let join = |m: &BTreeMap<&str, usize>| m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
    outln!("by split: {}", join(&by_split));
    outln!("by modality: {}", join(&by_modality));
    outln!(
        "by difficulty: {}",
        classes.iter().map(|(d, n)| format!("{} {n}", d.slug())).collect::<Vec<_>>().join(", ")
    );
    for &i in matched.iter().take(a.list) {
        let pc =
            counts.get(i).copied().flatten().map(|c| format!("{}/{}", c.n_correct, c.n_samples)).unwrap_or_default();
        outln!(
            "  {:<28} {:<6} {:<5} {:>5}  {}",
            rows[i].uid,
            rows[i].modality.as_str(),
            rows[i].split.as_str(),
            pc,
            rows[i].question
        );
    }
    if matched.len() > a.list {
        outln!("  … {} more (--list N, or --json for every id)", matched.len() - a.list);
    }
    match applied {
        Some(Some(label)) => outln!("applied: {label} (undo with `medvlm curate undo`)"),
        Some(None) => outln!("applied: nothing to change"),
        None => {}
    }
    Ok(0)
}

/// `medvlm curate undo` / `redo`.
pub(super) fn undo_redo(cli: &Cli, redo: bool) -> anyhow::Result<i32> {
    let path = require_project(cli)?;
    let mut project = Project::open(path).with_context(|| format!("opening {}", path.display()))?;
    let r = if redo { project.redo()? } else { project.undo()? };
    match r {
        Some(o) => outln!("{}: {}", if redo { "redone" } else { "undone" }, o.label),
        None => outln!("nothing to {}", if redo { "redo" } else { "undo" }),
    }
    Ok(0)
}
