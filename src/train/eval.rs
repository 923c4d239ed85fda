//! Evaluating a model on items: greedy (or sampled) completions, parsed three ways — MedVLM-R1's
//! strict parser (its reported metric), MedVLThinker's first-pass and regrade parsers with
//! `grade_answer` — with accuracy per modality and per source.

use std::collections::BTreeMap;

use burn::prelude::*;
use serde::Serialize;

use crate::domain::prompt::PromptTemplate;
use crate::domain::reward::grade_answer;
use crate::domain::trace::{first_pass_answer, format_ok, regrade_answer, strict_letter};
use crate::model::generate::{Generator, Sampling};
use crate::model::processor::Processor;
use crate::model::{Batch, ModelError, Vlm};
use crate::train::inputs::{Evaluable, InputError, read_image};

/// One evaluated item.
#[derive(Debug, Clone, Serialize)]
pub struct EvalRecord {
    /// Item uid.
    pub uid: String,
    /// The completion (special tokens removed).
    pub output: String,
    /// Letter parsed by the strict parser.
    pub extracted: Option<char>,
    /// Key.
    pub key: Option<char>,
    /// Whether the format check passed.
    pub format_ok: bool,
    /// Strict-parser correctness (MedVLM-R1).
    pub correct: bool,
    /// MedVLThinker first-pass prediction and correctness.
    pub first_pass: (String, bool),
    /// MedVLThinker regrade prediction and correctness (the numbers in its tables).
    pub regrade: (String, bool),
}

/// Counts for a group.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Tally {
    /// Items.
    pub n: usize,
    /// Correct.
    pub correct: usize,
    /// Well-formatted.
    pub formatted: usize,
    /// Correct by MedVLThinker's first-pass parser.
    pub first_pass: usize,
    /// Correct by MedVLThinker's regrade parser.
    pub regrade: usize,
}

impl Tally {
    /// Accuracy in percent.
    pub fn accuracy(&self) -> f64 {
        if self.n == 0 { 0.0 } else { 100.0 * self.correct as f64 / self.n as f64 }
    }

    /// Format-valid rate in percent.
    pub fn format_rate(&self) -> f64 {
        if self.n == 0 { 0.0 } else { 100.0 * self.formatted as f64 / self.n as f64 }
    }

    /// Percentage of `k` over `n`.
    pub fn pct(&self, k: usize) -> f64 {
        if self.n == 0 { 0.0 } else { 100.0 * k as f64 / self.n as f64 }
    }

    fn add(&mut self, r: &EvalRecord) {
        self.n += 1;
        self.correct += usize::from(r.correct);
        self.formatted += usize::from(r.format_ok);
        self.first_pass += usize::from(r.first_pass.1);
        self.regrade += usize::from(r.regrade.1);
    }
}

/// Results of an evaluation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EvalReport {
    /// Per item.
    pub records: Vec<EvalRecord>,
    /// Overall.
    pub total: Tally,
    /// By modality name.
    pub by_modality: BTreeMap<String, Tally>,
    /// By source.
    pub by_source: BTreeMap<String, Tally>,
    /// Items left out because their image did not decode when its batch came, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// Evaluates `items` in batches, each item's image read and preprocessed when its batch comes
/// (a real image preprocesses to up to ~24 MB: a split's worth at once would not fit).
/// `on_progress` gets the items done after each batch and returns whether to go on: `false`
/// (a cancel) stops before the next batch, and the report holds what was done.
///
/// # Errors
/// [`ModelError`].
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    model: &Vlm,
    processor: &Processor,
    items: &[Evaluable],
    template: &PromptTemplate,
    sampling: &Sampling,
    batch_size: usize,
    device: &Device,
    mut on_progress: impl FnMut(usize) -> bool,
) -> Result<EvalReport, ModelError> {
    let tok = &processor.tok;
    let mut report = EvalReport::default();
    let generator = Generator::new(model, device).with_rows(batch_size.max(1));
    for chunk in items.chunks(batch_size.max(1)) {
        let mut seqs = Vec::with_capacity(chunk.len());
        let mut images = Vec::new();
        let mut batch_items = Vec::with_capacity(chunk.len());
        for (item, path) in chunk {
            let img = match path.as_deref().map(|p| read_image(processor, p)).transpose() {
                Ok(img) => img,
                Err(InputError::Image(e)) => {
                    report.skipped.push((item.uid.clone(), e.to_string()));
                    continue;
                }
                Err(e) => return Err(ModelError::Invalid(e.to_string())),
            };
            let counts: Vec<usize> = img.iter().map(|p| processor.images.tokens(p)).collect();
            seqs.push(tok.prompt(&template.render(item), &counts, None)?);
            images.extend(img);
            batch_items.push(item);
        }
        if seqs.is_empty() {
            continue;
        }
        let batch = Batch::left_padded(&seqs, tok.endoftext, images);
        let out = generator.generate(&batch, &tok.stop_ids(), sampling, tok.endoftext)?;
        for (item, ids) in batch_items.into_iter().zip(&out.tokens) {
            let output = tok.decode(ids, true)?;
            let extracted = strict_letter(&output);
            let key = item.answer_letter();
            let label = key.map(|k| k.to_string()).unwrap_or_default();
            let grade = |pred: String| {
                let ok = if key.is_some() {
                    grade_answer(&pred, item.answer_text(), &label)
                } else {
                    crate::domain::reward::normalize_open(&pred)
                        == crate::domain::reward::normalize_open(item.answer_text())
                };
                (pred, ok)
            };
            let rec = EvalRecord {
                uid: item.uid.clone(),
                format_ok: format_ok(&output),
                correct: extracted.is_some() && extracted == key,
                first_pass: grade(first_pass_answer(&output)),
                regrade: grade(regrade_answer(&output)),
                extracted,
                key,
                output,
            };
            report.total.add(&rec);
            report.by_modality.entry(item.modality.as_str().to_string()).or_default().add(&rec);
            report.by_source.entry(item.source.clone()).or_default().add(&rec);
            report.records.push(rec);
        }
        if !on_progress(report.records.len() + report.skipped.len()) {
            break;
        }
    }
    Ok(report)
}
