//! GPU kernel preparation before the first step: every shape a run can produce (one per prompt
//! bucket for generation, one per prompt bucket × completion bucket for the training pass) is run
//! once on the run's own items, so kernels compile and autotune here, with progress, and not
//! inside the steps. The policy is never changed: training passes run on a copy with a
//! throwaway optimizer. On the CPU there is nothing to prepare.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::module::{Module as _, ModuleMapper, Param};
use burn::prelude::*;

use super::error::RunError;
use super::step::{Rollouts, Scored, StepCtx, StepImages, optimize};
use crate::model::generate::{Generated, Generator, Sampling};
use crate::model::gpu::{KernelCounts, settled_kernel_counts};
use crate::model::shapes::completion_buckets;
use crate::model::{Batch, Vlm};
use crate::train::inputs::PromptItem;
use crate::train::optim::AdamW;

/// What the preparation did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Prepared {
    /// Wall seconds.
    pub seconds: f64,
    /// Shapes run.
    pub shapes: usize,
    /// Kernels compiled and autotune runs during the preparation.
    pub counts: KernelCounts,
}

/// The prompt buckets of a run's items, ascending (a step's batch lands in one of them).
pub fn prompt_buckets(items: &[PromptItem], ctx: &StepCtx<'_>) -> Vec<usize> {
    let mut b: Vec<usize> = items.iter().map(|p| ctx.policy.len(p.prompt.len())).collect();
    b.sort_unstable();
    b.dedup();
    b
}

/// A copy of the model whose parameters share no memory with it. burn fuses the optimizer's
/// updates in place when a parameter has one owner, as in a real step; a plain `clone` shares them
/// and would prepare the out-of-place kernels instead.
fn owned_copy(model: &Vlm) -> Vlm {
    struct Copy;
    impl ModuleMapper for Copy {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            let copy = Tensor::from_inner(tensor.inner().mul_scalar(1.0)).require_grad();
            Param::from_mapped_value(id, copy, mapper)
        }
    }
    model.clone().map(&mut Copy)
}

/// Runs every bucketed shape once. `progress(done, total)` is called before each shape and at the end.
///
/// # Errors
/// [`RunError`] from the model.
pub fn prepare(
    policy: &Vlm,
    reference: Option<&Vlm>,
    items: &[PromptItem],
    ctx: &StepCtx<'_>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Prepared, RunError> {
    let t = Instant::now();
    let before = settled_kernel_counts(ctx.dev);
    let (cfg, tok) = (ctx.cfg, ctx.tok);
    let g = cfg.num_generations;
    let buckets = prompt_buckets(items, ctx);
    let comps = completion_buckets(cfg.max_completion_length);
    let total = buckets.len() * (1 + comps.len());
    let mut done = 0;
    // Training passes run on an owned copy with a throwaway optimizer, chained so the optimizer
    // reaches its steady state (moments present and updated in place) as in a real run's step 2.
    let mut copy = owned_copy(policy);
    let mut throwaway = AdamW::new(cfg.adam);
    for &p in &buckets {
        // The step's own batch size, from items of this bucket (repeated when there are few).
        let of_bucket: Vec<&PromptItem> = items.iter().filter(|i| ctx.policy.len(i.prompt.len()) == p).collect();
        let prompts: Vec<&PromptItem> = of_bucket.iter().copied().cycle().take(cfg.prompts_per_step).collect();
        let seqs: Vec<Vec<u32>> = prompts.iter().flat_map(|x| std::iter::repeat_n(x.prompt.clone(), g)).collect();
        let images = StepImages::of(&prompts);
        progress(done, total);
        let (imgs, image_of) = images.rows(0..prompts.len(), g);
        let batch = Batch::left_padded_to(&seqs, tok.endoftext, vec![], p).with_shared_images(imgs, image_of);
        let sampling = Sampling {
            greedy: false,
            temperature: cfg.temperature,
            top_k: cfg.top_k,
            top_p: cfg.top_p,
            max_new_tokens: cfg.max_completion_length,
            seed: 0,
        };
        // The full length, no stop: burn fuses the operations between two read-backs into kernels,
        // so only a whole generation shows every fused kernel a real one needs.
        Generator::new(&policy.valid(), ctx.dev).generate(&batch, &[], &sampling, tok.endoftext)?;
        done += 1;
        for &c in &comps {
            progress(done, total);
            let out = Generated {
                tokens: vec![vec![tok.endoftext; c]; seqs.len()],
                logprobs: vec![vec![0.0; c]; seqs.len()],
                stopped: vec![true; seqs.len()],
            };
            let r = Rollouts { seqs: seqs.clone(), images: images.clone(), out, texts: vec![], seconds: 0.0 };
            let zero = vec![0.0; seqs.len()];
            let s =
                Scored { totals: zero.clone(), parts: vec![BTreeMap::new(); seqs.len()], adv: zero, group_std: vec![] };
            let passes = if throwaway.step == 0 { 2 } else { 1 };
            for _ in 0..passes {
                copy = optimize(copy, reference, &r, &s, &mut throwaway, ctx)?.0;
            }
            done += 1;
        }
    }
    drop(copy);
    progress(total, total);
    let counts = settled_kernel_counts(ctx.dev) - before;
    Ok(Prepared { seconds: t.elapsed().as_secs_f64(), shapes: total, counts })
}
