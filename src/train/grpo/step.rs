//! One GRPO step: sample G completions per prompt (groups contiguous), score them, normalise
//! advantages, then μ passes of loss + backward over gradient-accumulation micro-batches and one
//! AdamW step per pass. Returns the new policy, TRL-named metrics and the rollouts.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;

use super::config::GrpoConfig;
use super::logps::{TrainBatch, token_logps};
use super::loss::{advantages, grpo_loss, unbiased_std};
use super::runner::{PromptItem, RunError};
use crate::model::chat::ChatTokenizer;
use crate::model::generate::{Sampling, generate};
use crate::model::layers::{tensor1, tensor2, to_vec};
use crate::model::{Batch, Vlm};
use crate::sample::rng::Rng;
use crate::store::RolloutRow;
use crate::train::optim::AdamW;

/// The result of a step.
pub struct StepOutcome {
    /// Updated policy.
    pub model: Vlm,
    /// Metrics under TRL's names.
    pub metrics: BTreeMap<String, f64>,
    /// Every completion with its item uid.
    pub rollouts: Vec<(String, RolloutRow)>,
    /// Completion tokens generated.
    pub n_tokens: usize,
}

fn mean(v: &[f32]) -> f64 {
    if v.is_empty() { 0.0 } else { v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64 }
}

/// Runs one step.
///
/// # Errors
/// [`RunError`] from the model.
#[allow(clippy::too_many_arguments)]
pub fn grpo_step(
    policy: Vlm,
    reference: Option<&Vlm>,
    prompts: &[&PromptItem],
    cfg: &GrpoConfig,
    tok: &ChatTokenizer,
    optim: &mut AdamW,
    step: usize,
    dev: &Device,
    train_dev: &Device,
) -> Result<StepOutcome, RunError> {
    let g = cfg.num_generations;
    let mut metrics = BTreeMap::new();
    // 1. Rollouts: each prompt G times in a row, so group k is rows kG..kG+G-1.
    let t_gen = Instant::now();
    let seqs: Vec<Vec<u32>> = prompts.iter().flat_map(|p| std::iter::repeat_n(p.prompt.clone(), g)).collect();
    let images: Vec<_> = prompts.iter().flat_map(|p| std::iter::repeat_n(p.image.clone(), g)).flatten().collect();
    let batch = Batch::left_padded(&seqs, tok.endoftext, images.clone());
    let sampling = Sampling {
        greedy: false,
        temperature: cfg.temperature,
        top_k: cfg.top_k,
        top_p: cfg.top_p,
        max_new_tokens: cfg.max_completion_length,
        seed: Rng::derive(cfg.seed, 0x5A3D_0000 + step as u64).next_u64(),
    };
    let gen_model = policy.valid();
    let out = generate(&gen_model, &batch, &tok.stop_ids(), &sampling, tok.endoftext, dev)?;
    drop(gen_model);
    metrics.insert("timing/generate".into(), t_gen.elapsed().as_secs_f64());
    // 2. Rewards and advantages.
    let spec = cfg.reward_spec();
    let mut totals = Vec::with_capacity(seqs.len());
    let mut per_fn: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    let mut texts = Vec::with_capacity(seqs.len());
    for (r, toks) in out.tokens.iter().enumerate() {
        let item = &prompts[r / g].item;
        let text = tok.decode(toks, true)?;
        let (parts, total) = spec.score(&text, item);
        for (k, v) in &parts {
            per_fn.entry(k.clone()).or_default().push(*v);
        }
        totals.push(total);
        texts.push((text, parts));
    }
    let adv = advantages(&totals, g, cfg.scale_rewards, cfg.advantage_eps);
    let group_std: Vec<f32> = totals.chunks(g).map(unbiased_std).collect();
    metrics.insert("reward".into(), mean(&totals));
    metrics.insert("reward_std".into(), mean(&group_std));
    metrics.insert(
        "frac_reward_zero_std".into(),
        group_std.iter().filter(|s| **s < 1e-6).count() as f64 / group_std.len().max(1) as f64,
    );
    for (k, v) in &per_fn {
        metrics.insert(format!("rewards/{k}/mean"), mean(v));
        metrics.insert(format!("rewards/{k}/std"), f64::from(unbiased_std(v)));
    }
    let lens: Vec<f32> = out.tokens.iter().map(|t| t.len() as f32).collect();
    let terminated: Vec<f32> =
        out.tokens.iter().zip(&out.stopped).filter(|(_, s)| **s).map(|(t, _)| t.len() as f32).collect();
    metrics.insert("completions/mean_length".into(), mean(&lens));
    metrics.insert("completions/min_length".into(), f64::from(lens.iter().copied().fold(f32::INFINITY, f32::min)));
    metrics.insert("completions/max_length".into(), f64::from(lens.iter().copied().fold(0.0, f32::max)));
    metrics.insert("completions/mean_terminated_length".into(), mean(&terminated));
    metrics.insert(
        "completions/clipped_ratio".into(),
        out.stopped.iter().filter(|s| !**s).count() as f64 / out.stopped.len().max(1) as f64,
    );
    let n_tokens: usize = out.tokens.iter().map(Vec::len).sum();
    // 3. Optimisation: mu passes over gradient-accumulation micro-batches.
    let gas = cfg.gradient_accumulation_steps;
    let per_mb = prompts.len() / gas;
    let rows_of = |mb: usize| (mb * per_mb * g)..((mb + 1) * per_mb * g);
    let build = |mb: usize| {
        let rows = rows_of(mb);
        let ps: Vec<&[u32]> = rows.clone().map(|r| seqs[r].as_slice()).collect();
        let cs: Vec<&[u32]> = rows.clone().map(|r| out.tokens[r].as_slice()).collect();
        let imgs = prompts[mb * per_mb..(mb + 1) * per_mb]
            .iter()
            .flat_map(|p| std::iter::repeat_n(p.image.clone(), g))
            .flatten()
            .collect();
        TrainBatch::new(&ps, &cs, imgs, tok.endoftext)
    };
    let loss_cfg = cfg.loss();
    let t_ref = Instant::now();
    let mut refs = Vec::new();
    let mut olds = Vec::new();
    for mb in 0..gas {
        let tb = build(mb);
        if let Some(r) = reference {
            refs.push(to_vec(token_logps(r, &tb, cfg.temperature, false, dev)?.0));
        }
        if cfg.num_iterations > 1 {
            olds.push(to_vec(token_logps(&policy.valid(), &tb, cfg.temperature, false, dev)?.0));
        }
    }
    metrics.insert("timing/reference_and_old_logps".into(), t_ref.elapsed().as_secs_f64());
    let (mut loss_sum, mut kl, mut clip_low, mut clip_high, mut entropy, mut grad_norm) =
        (0.0f64, 0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut t_fwd_bwd, mut t_opt) = (0.0, 0.0);
    let mut policy = policy;
    for iter in 0..cfg.num_iterations {
        let mut acc = GradientsAccumulator::<Vlm>::new();
        for mb in 0..gas {
            let t = Instant::now();
            let tb = build(mb);
            let shape = [tb.batch.batch, tb.comp_len];
            let (logps, ent) = token_logps(&policy, &tb, cfg.temperature, iter == 0, train_dev)?;
            let mask = tb.mask_tensor(train_dev);
            let old = if cfg.num_iterations > 1 {
                tensor2(olds[mb].clone(), shape, train_dev)
            } else {
                logps.clone().detach()
            };
            let reference_lp = refs.get(mb).map(|r| tensor2(r.clone(), shape, train_dev));
            let adv_mb = tensor1(adv[rows_of(mb)].to_vec(), train_dev);
            let (loss, stats) = grpo_loss(logps, old, reference_lp, adv_mb, mask.clone(), &loss_cfg);
            let loss = loss.div_scalar(gas as f64);
            if let Some(e) = ent {
                let m = mask.clone().sum().clamp_min(1.0).into_scalar::<f32>();
                entropy += f64::from((e * mask).sum().into_scalar::<f32>() / m) / gas as f64;
            }
            let lv = f64::from(loss.clone().into_scalar::<f32>());
            loss_sum += lv / cfg.num_iterations as f64;
            kl += f64::from(stats.kl) / (gas * cfg.num_iterations) as f64;
            clip_low += f64::from(stats.clip_low) / (gas * cfg.num_iterations) as f64;
            clip_high += f64::from(stats.clip_high) / (gas * cfg.num_iterations) as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &policy);
            acc.accumulate(&policy, grads);
            t_fwd_bwd += t.elapsed().as_secs_f64();
        }
        let t = Instant::now();
        let (next, norm) = optim.step(policy, acc.grads(), cfg.lr_at(step));
        policy = next;
        if iter == 0 {
            grad_norm = norm;
        }
        t_opt += t.elapsed().as_secs_f64();
    }
    metrics.insert("loss".into(), loss_sum);
    metrics.insert("grad_norm".into(), grad_norm);
    metrics.insert("learning_rate".into(), cfg.lr_at(step));
    metrics.insert("entropy".into(), entropy);
    metrics.insert("clip_ratio/low_mean".into(), clip_low);
    metrics.insert("clip_ratio/high_mean".into(), clip_high);
    if cfg.beta != 0.0 {
        metrics.insert("kl".into(), kl);
    }
    metrics.insert("timing/logps_loss_backward".into(), t_fwd_bwd);
    metrics.insert("timing/optimizer".into(), t_opt);
    let rollouts = texts
        .into_iter()
        .enumerate()
        .map(|(r, (completion, rewards))| {
            let p = prompts[r / g];
            let row = RolloutRow {
                item_id: p.id,
                group_index: r / g,
                sample_index: r % g,
                completion,
                rewards,
                reward: totals[r],
                advantage: adv[r],
                n_tokens: out.tokens[r].len(),
            };
            (p.item.uid.clone(), row)
        })
        .collect();
    Ok(StepOutcome { model: policy, metrics, rollouts, n_tokens })
}
