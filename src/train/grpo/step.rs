//! One GRPO step in TRL's phases: [`rollout`] (G completions per prompt, groups contiguous, each
//! prompt's image encoded once), [`score`] (rewards, group-normalised advantages) and [`optimize`]
//! (μ passes of loss + backward over gradient-accumulation micro-batches, one AdamW step per pass).
//! Shapes follow the device's [`ShapePolicy`]: bucketed on the GPU, exact on the CPU.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::optim::GradientsAccumulator;
use burn::prelude::*;

use super::backward::{BackwardCtx, loss_backward};
use super::config::GrpoConfig;
use super::error::RunError;
use super::logps::{TrainBatch, token_logps};
use super::loss::{advantages, grpo_loss, unbiased_std};
use super::metrics::{LengthStats, StepMetrics};
use crate::model::chat::ChatTokenizer;
use crate::model::generate::{Generated, Generator, Sampling};
use crate::model::gpu::MemoryPeak;
use crate::model::layers::{tensor1, tensor2, to_vec};
use crate::model::preprocess::PixelValues;
use crate::model::shapes::ShapePolicy;
use crate::model::{Batch, Vlm};
use crate::rng::Rng;
use crate::store::RolloutRow;
use crate::train::inputs::PromptItem;
use crate::train::optim::AdamW;

/// What every phase of a step shares.
pub struct StepCtx<'a> {
    /// The run's configuration.
    pub cfg: &'a GrpoConfig,
    /// Tokenizer and chat template.
    pub tok: &'a ChatTokenizer,
    /// Inference device (generation, reference log-probabilities).
    pub dev: &'a Device,
    /// Training device (the same with autodiff).
    pub train_dev: &'a Device,
    /// Bucketed on the GPU, exact on the CPU.
    pub policy: ShapePolicy,
    /// The step (0-based): sampling seed and learning-rate schedule.
    pub step: usize,
}

impl<'a> StepCtx<'a> {
    /// A context with the policy the device wants, at step 0.
    pub fn new(cfg: &'a GrpoConfig, tok: &'a ChatTokenizer, dev: &'a Device, train_dev: &'a Device) -> Self {
        Self { cfg, tok, dev, train_dev, policy: ShapePolicy::for_device(dev), step: 0 }
    }

    /// The same context at `step`.
    pub fn at(&self, step: usize) -> Self {
        Self { step, ..*self }
    }
}

/// The prompts' images, each once, and for each row of the step (prompt-major, G per prompt) the
/// image its placeholder run uses.
#[derive(Debug, Clone, Default)]
pub struct StepImages {
    /// One per prompt that has an image.
    pub images: Vec<PixelValues>,
    /// Image index of each prompt (`None`: text only).
    pub of_prompt: Vec<Option<usize>>,
}

impl StepImages {
    /// Collects the images of `prompts`.
    pub fn of(prompts: &[&PromptItem]) -> Self {
        let mut out = Self::default();
        for p in prompts {
            out.of_prompt.push(p.image.as_ref().map(|img| {
                out.images.push(img.clone());
                out.images.len() - 1
            }));
        }
        out
    }

    /// Images and run mapping for prompts `range` (each repeated `g` times), renumbered from 0.
    pub fn rows(&self, range: std::ops::Range<usize>, g: usize) -> (Vec<PixelValues>, Vec<usize>) {
        let mut images = Vec::new();
        let mut image_of = Vec::new();
        for p in range {
            if let Some(i) = self.of_prompt.get(p).copied().flatten() {
                images.push(self.images[i].clone());
                image_of.extend(std::iter::repeat_n(images.len() - 1, g));
            }
        }
        (images, image_of)
    }
}

/// The rollouts of a step.
pub struct Rollouts {
    /// Prompt ids of every row (prompt-major, G rows per prompt).
    pub seqs: Vec<Vec<u32>>,
    /// The prompts' images.
    pub images: StepImages,
    /// Generated tokens and their log-probabilities.
    pub out: Generated,
    /// Decoded completions.
    pub texts: Vec<String>,
    /// Seconds generating.
    pub seconds: f64,
}

/// Samples G completions for each prompt with the current policy.
///
/// # Errors
/// [`RunError`] from the model or tokenizer.
pub fn rollout(policy: &Vlm, prompts: &[&PromptItem], ctx: &StepCtx<'_>) -> Result<Rollouts, RunError> {
    rollout_round(policy, prompts, ctx, 0)
}

/// [`rollout`] for sampling round `round` of the step (dynamic sampling rolls out more prompts,
/// each round with its own seed; round 0 is the step's usual seed).
///
/// # Errors
/// As [`rollout`].
pub fn rollout_round(
    policy: &Vlm,
    prompts: &[&PromptItem],
    ctx: &StepCtx<'_>,
    round: u64,
) -> Result<Rollouts, RunError> {
    let (cfg, tok) = (ctx.cfg, ctx.tok);
    let g = cfg.num_generations;
    let t = Instant::now();
    let seqs: Vec<Vec<u32>> = prompts.iter().flat_map(|p| std::iter::repeat_n(p.prompt.clone(), g)).collect();
    let images = StepImages::of(prompts);
    let (imgs, image_of) = images.rows(0..prompts.len(), g);
    let batch = Batch::left_padded(&seqs, tok.endoftext, vec![]).with_shared_images(imgs, image_of);
    let sampling = Sampling {
        greedy: false,
        temperature: cfg.temperature,
        top_k: cfg.top_k,
        top_p: cfg.top_p,
        max_new_tokens: cfg.max_completion_length,
        seed: match Rng::derive(cfg.seed, 0x5A3D_0000 + ctx.step as u64).next_u64() {
            s if round == 0 => s,
            s => Rng::derive(s, round).next_u64(),
        },
    };
    let out = Generator::new(policy, ctx.dev).with_policy(ctx.policy).generate(
        &batch,
        &tok.stop_ids(),
        &sampling,
        tok.endoftext,
    )?;
    let texts = out.tokens.iter().map(|t| tok.decode(t, true)).collect::<Result<Vec<_>, _>>()?;
    Ok(Rollouts { seqs, images, out, texts, seconds: t.elapsed().as_secs_f64() })
}

/// Rewards and advantages of a step's rollouts.
pub struct Scored {
    /// Total reward per row.
    pub totals: Vec<f32>,
    /// Reward components per row.
    pub parts: Vec<BTreeMap<String, f32>>,
    /// Advantage per row.
    pub adv: Vec<f32>,
    /// Unbiased reward std per group.
    pub group_std: Vec<f32>,
}

/// Scores every completion against its item and normalises advantages within groups.
pub fn score(r: &Rollouts, prompts: &[&PromptItem], cfg: &GrpoConfig) -> Scored {
    let g = cfg.num_generations;
    let spec = cfg.reward_spec();
    let (totals, parts): (Vec<f32>, Vec<BTreeMap<String, f32>>) = r
        .texts
        .iter()
        .enumerate()
        .map(|(row, text)| {
            let (parts, total) = spec.score(text, &prompts[row / g].item);
            (total, parts.into_iter().collect())
        })
        .unzip();
    let adv = advantages(&totals, g, cfg.scale_rewards, cfg.advantage_eps);
    let group_std = totals.chunks(g).map(unbiased_std).collect();
    Scored { totals, parts, adv, group_std }
}

fn mean(v: &[f32]) -> f64 {
    if v.is_empty() { 0.0 } else { v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64 }
}

/// The reward and length part of a step's metrics.
pub fn rollout_metrics(r: &Rollouts, s: &Scored) -> StepMetrics {
    let mut per_fn: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    for parts in &s.parts {
        for (k, v) in parts {
            per_fn.entry(k.clone()).or_default().push(*v);
        }
    }
    let out = &r.out;
    let lens: Vec<f32> = out.tokens.iter().map(|t| t.len() as f32).collect();
    let terminated: Vec<f32> =
        out.tokens.iter().zip(&out.stopped).filter(|(_, s)| **s).map(|(t, _)| t.len() as f32).collect();
    StepMetrics {
        reward: mean(&s.totals),
        reward_std: mean(&s.group_std),
        frac_reward_zero_std: s.group_std.iter().filter(|x| **x < 1e-6).count() as f64
            / s.group_std.len().max(1) as f64,
        rewards: per_fn.iter().map(|(k, v)| (k.clone(), (mean(v), f64::from(unbiased_std(v))))).collect(),
        completions: LengthStats {
            mean: mean(&lens),
            min: f64::from(lens.iter().copied().fold(f32::INFINITY, f32::min)),
            max: f64::from(lens.iter().copied().fold(0.0, f32::max)),
            mean_terminated: mean(&terminated),
            clipped_ratio: out.stopped.iter().filter(|s| !**s).count() as f64 / out.stopped.len().max(1) as f64,
        },
        tokens: out.tokens.iter().map(Vec::len).sum(),
        timing: super::metrics::Timing { generate: r.seconds, ..Default::default() },
        ..StepMetrics::default()
    }
}

/// The training batch of micro-batch `mb` (prompts `mb * per_mb ..`), shaped for the device.
pub fn micro_batch(r: &Rollouts, ctx: &StepCtx<'_>, mb: usize, per_mb: usize) -> TrainBatch {
    let g = ctx.cfg.num_generations;
    let rows = (mb * per_mb * g)..((mb + 1) * per_mb * g);
    let ps: Vec<&[u32]> = rows.clone().map(|i| r.seqs[i].as_slice()).collect();
    let cs: Vec<&[u32]> = rows.map(|i| r.out.tokens[i].as_slice()).collect();
    let (imgs, image_of) = r.images.rows(mb * per_mb..(mb + 1) * per_mb, g);
    TrainBatch::shaped(&ps, &cs, imgs, image_of, ctx.tok.endoftext, ctx.policy, ctx.cfg.max_completion_length)
}

/// What [`optimize`] measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Optimized {
    /// Loss (mean over passes).
    pub loss: f64,
    /// Pre-clip gradient norm of the first pass.
    pub grad_norm: f64,
    /// Mean token entropy of the first pass.
    pub entropy: f64,
    /// Tokens clipped below / above.
    pub clip: (f64, f64),
    /// KL to the reference (0 when beta = 0).
    pub kl: f64,
    /// Seconds: reference / old log-probabilities, log-probabilities + loss + backward, optimizer.
    pub seconds: (f64, f64, f64),
    /// Device memory peak while the gradients were alive.
    pub peak: MemoryPeak,
}

/// μ passes of loss + backward over the micro-batches, one AdamW step per pass.
///
/// # Errors
/// [`RunError`] from the model.
pub fn optimize(
    policy: Vlm,
    reference: Option<&Vlm>,
    r: &Rollouts,
    s: &Scored,
    optim: &mut AdamW,
    ctx: &StepCtx<'_>,
) -> Result<(Vlm, Optimized), RunError> {
    let cfg = ctx.cfg;
    let g = cfg.num_generations;
    let gas = cfg.gradient_accumulation_steps;
    let per_mb = r.seqs.len() / g / gas;
    let rows_of = |mb: usize| (mb * per_mb * g)..((mb + 1) * per_mb * g);
    let loss_cfg = cfg.loss();
    let mut o = Optimized::default();
    let t_ref = Instant::now();
    let (mut refs, mut olds) = (Vec::new(), Vec::new());
    for mb in 0..gas {
        let tb = micro_batch(r, ctx, mb, per_mb);
        if let Some(reference) = reference {
            refs.push(to_vec(token_logps(reference, &tb, cfg.temperature, false, ctx.dev)?.0));
        }
        if cfg.num_iterations > 1 {
            olds.push(to_vec(token_logps(&policy.valid(), &tb, cfg.temperature, false, ctx.dev)?.0));
        }
    }
    o.seconds.0 = t_ref.elapsed().as_secs_f64();
    let n = (gas * cfg.num_iterations) as f64;
    let mut policy = policy;
    for iter in 0..cfg.num_iterations {
        let mut acc = GradientsAccumulator::<Vlm>::new();
        for mb in 0..gas {
            let t = Instant::now();
            let tb = micro_batch(r, ctx, mb, per_mb);
            let shape = [tb.batch.batch, tb.comp_len];
            let mask = tb.mask_tensor(ctx.train_dev);
            let bctx = BackwardCtx {
                dev: ctx.dev,
                train_dev: ctx.train_dev,
                layered: cfg.gradient_checkpointing.then(|| {
                    Rng::derive(cfg.seed, 0xC4EC_0000 + ((ctx.step * cfg.num_iterations + iter) * gas + mb) as u64)
                        .next_u64()
                }),
                temperature: cfg.temperature,
                with_entropy: iter == 0,
            };
            let grads = loss_backward(&policy, &tb, bctx, &mut o.peak, |logps, ent| {
                let old = match olds.get(mb) {
                    Some(x) => tensor2(x.clone(), shape, ctx.train_dev),
                    None => logps.clone().detach(),
                };
                let reference_lp = refs.get(mb).map(|x| tensor2(x.clone(), shape, ctx.train_dev));
                let adv_mb = tensor1(s.adv[rows_of(mb)].to_vec(), ctx.train_dev);
                let (loss, stats) = grpo_loss(logps, old, reference_lp, adv_mb, mask.clone(), &loss_cfg);
                let loss = loss.div_scalar(gas as f64);
                if let Some(e) = ent {
                    let denom = mask.clone().sum().clamp_min(1.0);
                    o.entropy +=
                        f64::from(((e.clone() * mask.clone()).sum() / denom).into_scalar::<f32>()) / gas as f64;
                }
                o.loss += f64::from(loss.clone().into_scalar::<f32>()) / cfg.num_iterations as f64;
                o.kl += f64::from(stats.kl) / n;
                o.clip.0 += f64::from(stats.clip_low) / n;
                o.clip.1 += f64::from(stats.clip_high) / n;
                loss
            })?;
            acc.accumulate(&policy, grads);
            o.seconds.1 += t.elapsed().as_secs_f64();
        }
        let t = Instant::now();
        let (next, norm) = optim.step(policy, acc.grads(), cfg.lr_at(ctx.step));
        policy = next;
        if iter == 0 {
            o.grad_norm = norm;
        }
        o.seconds.2 += t.elapsed().as_secs_f64();
    }
    Ok((policy, o))
}

/// The result of a step.
pub struct StepOutcome {
    /// Updated policy.
    pub model: Vlm,
    /// Metrics.
    pub metrics: StepMetrics,
    /// Every completion with its item uid.
    pub rollouts: Vec<(String, RolloutRow)>,
}

/// Runs one step: rollout, score, optimize.
///
/// # Errors
/// [`RunError`] from the model.
pub fn grpo_step(
    policy: Vlm,
    reference: Option<&Vlm>,
    prompts: &[&PromptItem],
    optim: &mut AdamW,
    ctx: &StepCtx<'_>,
) -> Result<StepOutcome, RunError> {
    let mut none = |_| Err(RunError::Config("dynamic sampling needs a source of more prompts".into()));
    grpo_step_with(policy, reference, prompts, optim, ctx, &mut none)
}

/// [`grpo_step`] with dynamic sampling's source of more prompts: `more(round)` reads the prompts of
/// round `round` (see [`super::dynamic`]).
///
/// # Errors
/// As [`grpo_step`].
pub fn grpo_step_with(
    policy: Vlm,
    reference: Option<&Vlm>,
    prompts: &[&PromptItem],
    optim: &mut AdamW,
    ctx: &StepCtx<'_>,
    more: &mut dyn FnMut(usize) -> Result<Vec<PromptItem>, RunError>,
) -> Result<StepOutcome, RunError> {
    let mut peak = MemoryPeak::default();
    let owned: Vec<PromptItem>;
    let (r, s, prompts, dynamic) = if ctx.cfg.dynamic_sampling {
        let d = super::dynamic::sample_filtered(&policy.valid(), prompts, ctx, more)?;
        owned = d.prompts;
        let stats = super::metrics::DynamicStats { dropped: d.dropped, rounds: d.rounds, topped_up: d.topped_up };
        (d.rollouts, d.scored, owned.iter().collect::<Vec<_>>(), Some(stats))
    } else {
        let r = rollout(&policy.valid(), prompts, ctx)?;
        let s = score(&r, prompts, ctx.cfg);
        (r, s, prompts.to_vec(), None)
    };
    peak.sample(ctx.dev);
    let mut m = rollout_metrics(&r, &s);
    m.dynamic = dynamic;
    let (model, o) = optimize(policy, reference, &r, &s, optim, ctx)?;
    peak.sample(ctx.dev);
    m.loss = o.loss;
    m.grad_norm = o.grad_norm;
    m.entropy = o.entropy;
    (m.clip_low, m.clip_high) = o.clip;
    m.kl = (ctx.cfg.beta != 0.0).then_some(o.kl);
    m.learning_rate = ctx.cfg.lr_at(ctx.step);
    m.timing.reference_and_old_logps = o.seconds.0;
    m.timing.logps_loss_backward = o.seconds.1;
    m.timing.optimizer = o.seconds.2;
    if let Some(mem) = crate::model::gpu::memory(ctx.dev) {
        m.gpu = Some(super::metrics::GpuStepStats {
            memory_in_use: mem.in_use,
            memory_peak: peak.reserved.max(o.peak.reserved),
            ..Default::default()
        });
    }
    let g = ctx.cfg.num_generations;
    let rollouts = r
        .texts
        .into_iter()
        .zip(s.parts)
        .enumerate()
        .map(|(row, (completion, rewards))| {
            let p = prompts[row / g];
            let rr = RolloutRow {
                item_id: p.id,
                group_index: row / g,
                sample_index: row % g,
                completion,
                rewards,
                reward: s.totals[row],
                advantage: s.adv[row],
                n_tokens: r.out.tokens[row].len(),
            };
            (p.item.uid.clone(), rr)
        })
        .collect();
    Ok(StepOutcome { model, metrics: m, rollouts })
}
