//! Dynamic sampling (DAPO; verl's `algorithm.filter_groups`): a group whose rewards are all equal
//! has advantages of 0 and teaches nothing, so it is dropped and more prompts are rolled out until
//! the batch holds `prompts_per_step` groups with mixed rewards, or `max_sampling_rounds` rounds
//! have run. A batch still short is then topped up with dropped groups, so its shape (and on the
//! GPU its kernels) stays that of every other step; how many were dropped, the rounds and the
//! top-up are logged (`dynamic_sampling/*`).

use super::error::RunError;
use super::step::{Rollouts, Scored, StepCtx, StepImages, rollout_round, score};
use crate::model::Vlm;
use crate::model::generate::Generated;
use crate::train::inputs::PromptItem;

/// A batch filled by dynamic sampling.
pub struct Sampled {
    /// The kept groups' rollouts, prompt-major.
    pub rollouts: Rollouts,
    /// Their rewards and advantages (recomputed over the final batch).
    pub scored: Scored,
    /// Their prompts.
    pub prompts: Vec<PromptItem>,
    /// Groups dropped for equal rewards.
    pub dropped: usize,
    /// Rounds of rollouts.
    pub rounds: usize,
    /// Dropped groups put back to fill the batch after the last round.
    pub topped_up: usize,
}

/// Groups `groups` of `r` (G rows each), in that order.
fn select(r: &Rollouts, groups: &[usize], g: usize) -> Rollouts {
    let mut out = Rollouts {
        seqs: Vec::new(),
        images: StepImages::default(),
        out: Generated { tokens: Vec::new(), logprobs: Vec::new(), stopped: Vec::new() },
        texts: Vec::new(),
        seconds: 0.0,
    };
    for &p in groups {
        out.images.of_prompt.push(r.images.of_prompt.get(p).copied().flatten().map(|i| {
            out.images.images.push(r.images.images[i].clone());
            out.images.images.len() - 1
        }));
        for row in p * g..(p + 1) * g {
            out.seqs.push(r.seqs[row].clone());
            out.out.tokens.push(r.out.tokens[row].clone());
            out.out.logprobs.push(r.out.logprobs[row].clone());
            out.out.stopped.push(r.out.stopped[row]);
            out.texts.push(r.texts[row].clone());
        }
    }
    out
}

/// Appends `b`'s groups to `a`.
fn append(a: &mut Rollouts, b: Rollouts) {
    let offset = a.images.images.len();
    a.images.of_prompt.extend(b.images.of_prompt.into_iter().map(|i| i.map(|i| i + offset)));
    a.images.images.extend(b.images.images);
    a.seqs.extend(b.seqs);
    a.out.tokens.extend(b.out.tokens);
    a.out.logprobs.extend(b.out.logprobs);
    a.out.stopped.extend(b.out.stopped);
    a.texts.extend(b.texts);
    a.seconds += b.seconds;
}

/// Rolls out `first`, then `more(round)`'s prompts, keeping groups with mixed rewards.
///
/// # Errors
/// [`RunError`] from the model or from reading more prompts.
pub fn sample_filtered(
    policy: &Vlm,
    first: &[&PromptItem],
    ctx: &StepCtx<'_>,
    more: &mut dyn FnMut(usize) -> Result<Vec<PromptItem>, RunError>,
) -> Result<Sampled, RunError> {
    let (cfg, g) = (ctx.cfg, ctx.cfg.num_generations);
    let want = cfg.prompts_per_step;
    let mut kept: Option<Rollouts> = None;
    let mut prompts: Vec<PromptItem> = Vec::new();
    let mut spare: Vec<(Rollouts, PromptItem)> = Vec::new();
    let (mut dropped, mut rounds) = (0, 0);
    let mut batch: Vec<PromptItem> = first.iter().map(|p| (*p).clone()).collect();
    loop {
        let refs: Vec<&PromptItem> = batch.iter().collect();
        let r = rollout_round(policy, &refs, ctx, rounds as u64)?;
        let s = score(&r, &refs, cfg);
        rounds += 1;
        for (p, item) in batch.drain(..).enumerate() {
            let group = select(&r, &[p], g);
            if s.group_std[p] > 1e-6 && prompts.len() < want {
                match &mut kept {
                    Some(k) => append(k, group),
                    None => kept = Some(group),
                }
                prompts.push(item);
            } else if s.group_std[p] <= 1e-6 {
                dropped += 1;
                spare.push((group, item));
            }
        }
        if prompts.len() >= want || rounds >= cfg.max_sampling_rounds.max(1) {
            break;
        }
        batch = more(rounds)?;
    }
    let topped_up = want.saturating_sub(prompts.len());
    for (group, item) in spare.into_iter().take(topped_up) {
        match &mut kept {
            Some(k) => append(k, group),
            None => kept = Some(group),
        }
        prompts.push(item);
    }
    let rollouts = kept.ok_or_else(|| RunError::Config("dynamic sampling produced no groups".into()))?;
    let refs: Vec<&PromptItem> = prompts.iter().collect();
    let scored = score(&rollouts, &refs, cfg);
    Ok(Sampled { rollouts, scored, prompts, dropped, rounds, topped_up })
}
