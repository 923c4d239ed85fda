//! `medvlm pretrain-tiny`: builds `medvlm-tiny` from nothing, reproducibly from a seed — trains the
//! tokenizer, initialises the model, runs the supervised warm start on noisy templated traces of the
//! sample train split, saves an HF-compatible checkpoint (f16) and reports test accuracy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use serde::Serialize;

use super::eval::{EvalReport, evaluate};
use super::sft::{Example, completion_nll};
use super::tiny::{TINY_VOCAB, tiny_config, tiny_preprocess, tokenizer_corpus, train_tokenizer, warm_start_templates};
use crate::domain::prompt::PromptTemplate;
use crate::domain::{Split, VqaItem};
use crate::jobs::ProgressSink;
use crate::model::chat::ChatTokenizer;
use crate::model::generate::Sampling;
use crate::model::processor::Processor;
use crate::model::weights::Dtype;
use crate::model::{ModelError, Vlm};
use crate::rng::Rng;
use crate::store::Project;
use crate::train::inputs::{Evaluable, load_items_where};

/// Settings of the warm start.
#[derive(Debug, Clone, Serialize)]
pub struct PretrainOptions {
    /// The sample project (train split = training data, test split = report).
    pub project: PathBuf,
    /// Output folder (the model).
    pub out: PathBuf,
    /// Seed for tokenizer corpus, initialisation, data order and trace noise.
    pub seed: u64,
    /// Optimizer steps.
    pub steps: usize,
    /// Examples per step.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Probability that a training trace makes a systematic reasoning error (see `traces::decide`).
    pub rule_noise: f32,
    /// Probability that a training trace argues for a random wrong option.
    pub random_noise: f32,
    /// Fraction of examples drawn from the broad pretraining stream (all modalities, never in the
    /// project) instead of the sample train split.
    pub pretraining_mix: f32,
}

impl Default for PretrainOptions {
    fn default() -> Self {
        Self {
            project: PathBuf::from("sample-data/sample.medvlm"),
            out: PathBuf::from("sample-data/medvlm-tiny"),
            seed: 7,
            steps: 3000,
            batch: 16,
            lr: 3e-3,
            rule_noise: 0.6,
            random_noise: 0.0,
            pretraining_mix: 1.0,
        }
    }
}

/// What the warm start did.
#[derive(Debug, Clone, Serialize)]
pub struct PretrainReport {
    /// Options used.
    pub options: PretrainOptions,
    /// Vocabulary size of the trained tokenizer.
    pub vocab_size: usize,
    /// Parameters.
    pub parameters: usize,
    /// Loss every 10 steps.
    pub losses: Vec<(usize, f32)>,
    /// Training wall time.
    pub train_seconds: f64,
    /// Greedy evaluation on the test split (MedVLM-R1 evaluation template).
    pub test: EvalReport,
}

/// Errors of the warm start.
#[derive(Debug, thiserror::Error)]
pub enum PretrainError {
    /// The project could not be read.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Model, tokenizer or image failure.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// An image could not be read.
    #[error(transparent)]
    Image(#[from] crate::io::images::BadImage),
    /// Items could not be made into model input.
    #[error(transparent)]
    Input(#[from] crate::train::inputs::InputError),
    /// The project has no usable training items.
    #[error("the project has no sample items with recorded findings in the train split: {0}")]
    NoData(PathBuf),
    /// The loss became NaN or infinite.
    #[error("the loss became {0} at step {1}; nothing was saved")]
    Diverged(f32, usize),
}

fn lr_at(step: usize, steps: usize, peak: f64) -> f64 {
    let warm = 30.min(steps / 10).max(1);
    if step < warm {
        return peak * (step + 1) as f64 / warm as f64;
    }
    let t = (step - warm) as f64 / (steps - warm).max(1) as f64;
    peak * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
}

/// Runs the warm start and writes the model.
///
/// # Errors
/// [`PretrainError`].
pub fn pretrain(opts: &PretrainOptions, progress: &dyn ProgressSink) -> Result<PretrainReport, PretrainError> {
    let project = Project::open(&opts.project)?;
    progress.update("Training the tokenizer", 0, None);
    let all: Vec<VqaItem> = project.items()?.into_iter().map(|(_, it)| it).collect();
    let corpus = tokenizer_corpus(&all, opts.seed);
    train_tokenizer(&corpus, TINY_VOCAB, &opts.out)?;
    let tok = ChatTokenizer::load(&opts.out)?;
    let vocab = tok.inner().get_vocab_size(true);
    let device = Device::flex().autodiff();
    let mut model = Vlm::random(tiny_config(vocab), tiny_preprocess(), opts.seed, &device)?;
    let parameters = model.num_params();
    let processor = Processor::new(tok, &model);
    let tok = &processor.tok;
    let items = load_items_where(&project, |_| true)?;
    // Training items keep their raw pixels: each visit may mirror the image (and the findings and key
    // with it), so the 400 sample images teach position-invariant perception.
    let mut train = Vec::new();
    for (item, _) in items
        .iter()
        .filter(|(i, path)| i.split == Split::Train && path.is_some() && super::traces::item_findings(i).is_some())
    {
        if let Some(r) = item.images.first() {
            let (rgb, h, w) = crate::io::images::read_rgb(&project.resolve_image(&r.path))?;
            train.push((item, rgb, h, w));
        }
    }
    if train.is_empty() {
        return Err(PretrainError::NoData(opts.project.clone()));
    }
    let merge = model.config.vision.spatial_merge_size;
    let templates = warm_start_templates();
    let mut optim = AdamWConfig::new().with_weight_decay(0.01).with_epsilon(1e-8).init();
    let mut rng = Rng::new(opts.seed ^ 0x5F7);
    let (mut losses, t0) = (Vec::new(), Instant::now());
    for step in 0..opts.steps {
        let mut examples = Vec::with_capacity(opts.batch);
        for _ in 0..opts.batch {
            // Half the examples come from the sample train split (MRI), half from a broad synthetic
            // pretraining stream of all modalities (never the test images), like a base model's corpus.
            let (orig, rgb, h, w) = if rng.chance(opts.pretraining_mix) {
                let (item, rgb, h, w) = crate::sample::pretraining_item(opts.seed, rng.next_u64() % 1_000_000);
                (std::borrow::Cow::Owned(item), std::borrow::Cow::Owned(rgb), h, w)
            } else {
                let (item, rgb, h, w) = &train[rng.below(train.len())];
                (std::borrow::Cow::Borrowed(*item), std::borrow::Cow::Borrowed(rgb.as_slice()), *h, *w)
            };
            let (fh, fv) = (rng.chance(0.5), rng.chance(0.5));
            let Some(item) = super::traces::flipped(&orig, fh, fv, w as f32) else { continue };
            let pixels = super::traces::flip_rgb(&rgb, h, w, fh, fv);
            let img = processor.image(&pixels, h, w)?;
            let t = &templates[rng.below(templates.len())];
            let prompt = tok.prompt(&t.render(&item), &[img.n_tokens(merge)], None)?;
            let noise = super::traces::TraceNoise { rule: opts.rule_noise, random: opts.random_noise };
            let Some((trace, _)) = super::traces::trace(&item, noise, &mut rng) else { continue };
            let completion = tok.encode(&format!("{trace}<|im_end|>"))?;
            examples.push(Example { prompt, completion, image: Some(img) });
        }
        let refs: Vec<&Example> = examples.iter().collect();
        let loss = completion_nll(&model, &refs, tok.endoftext, &device)?;
        let value: f32 = loss.clone().into_scalar::<f32>();
        if !value.is_finite() {
            return Err(PretrainError::Diverged(value, step));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr_at(step, opts.steps, opts.lr), model, grads);
        if step % 10 == 0 || step + 1 == opts.steps {
            losses.push((step, value));
            tracing::info!(step, loss = value, "warm start");
        }
        progress.update(&format!("Warm start (loss {value:.3})"), step as u64 + 1, Some(opts.steps as u64));
    }
    let train_seconds = t0.elapsed().as_secs_f64();
    let model = model.valid();
    let mut meta = BTreeMap::new();
    meta.insert("medvlm".into(), format!("medvlm-tiny warm start, seed {}, {} steps", opts.seed, opts.steps));
    model.save(&opts.out, Dtype::F16, meta)?;
    // Evaluate what was saved (f16 round trip), on the plain CPU device.
    let cpu = Device::flex();
    let saved = Vlm::load(&opts.out, &cpu)?;
    let test: Vec<Evaluable> = items.into_iter().filter(|(i, _)| i.split == Split::Test).collect();
    let sampling = Sampling { greedy: true, max_new_tokens: 96, ..Sampling::default() };
    let n_test = test.len() as u64;
    let report = evaluate(&saved, &processor, &test, &PromptTemplate::MedvlmR1Eval, &sampling, 32, &cpu, |n| {
        progress.update("Evaluating on the test split", n as u64, Some(n_test));
        true
    })?;
    let out =
        PretrainReport { options: opts.clone(), vocab_size: vocab, parameters, losses, train_seconds, test: report };
    write_report(&opts.out, &out)?;
    Ok(out)
}

fn write_report(dir: &Path, r: &PretrainReport) -> Result<(), ModelError> {
    let mut summary = serde_json::to_value(r).unwrap_or_default();
    if let Some(t) = summary.get_mut("test").and_then(|t| t.as_object_mut()) {
        t.remove("records");
    }
    let path = dir.join("warm_start.json");
    std::fs::write(&path, serde_json::to_string_pretty(&summary).unwrap_or_default())
        .map_err(|e| ModelError::Io { reason: e.to_string(), path })
}
