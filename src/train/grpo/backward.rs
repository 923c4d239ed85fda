//! Loss and backward of one micro-batch, plainly or with decoder-layer gradient checkpointing as
//! transformers' `gradient_checkpointing_enable()` does it: a forward pass without autodiff keeps
//! only each decoder layer's input `[B, L, hidden]`; the backward pass then runs segment by
//! segment from the top (final norm + head + loss, each layer, the embeddings), recomputing one
//! segment's activations at a time and feeding it the gradient of its output. LoRA dropout is
//! drawn from the same device seed in both passes, so the gradients are those of the plain pass.

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;

use super::logps::{TrainBatch, logps_of_hidden, token_logps};
use crate::model::gpu::MemoryPeak;
use crate::model::shapes::ShapePolicy;
use crate::model::{ModelError, Vlm};
use crate::rng::Rng;

static DROPOUT_STREAM: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Where a micro-batch's backward runs and how.
#[derive(Debug, Clone, Copy)]
pub struct BackwardCtx<'a> {
    /// Inference device (the checkpointed forward pass).
    pub dev: &'a Device,
    /// The same with autodiff.
    pub train_dev: &'a Device,
    /// `Some(seed)`: decoder-layer gradient checkpointing, dropout seeded from `seed`.
    pub layered: Option<u64>,
    /// Sampling temperature of the log-probabilities.
    pub temperature: f32,
    /// Whether to return token entropies.
    pub with_entropy: bool,
}

/// The gradients of every trainable parameter for `loss_of(token log-probabilities, entropies)`
/// of `tb` under `policy` (entropies `[B, comp_len]`, detached, when `ctx.with_entropy`).
///
/// # Errors
/// [`ModelError`] when prompts and images disagree.
pub fn loss_backward(
    policy: &Vlm,
    tb: &TrainBatch,
    ctx: BackwardCtx<'_>,
    peak: &mut MemoryPeak,
    loss_of: impl FnOnce(Tensor<2>, Option<&Tensor<2>>) -> Tensor<1>,
) -> Result<GradientsParams, ModelError> {
    let Some(seed) = ctx.layered else {
        let (logps, entropy) = token_logps(policy, tb, ctx.temperature, ctx.with_entropy, ctx.train_dev)?;
        let grads = loss_of(logps, entropy.as_ref()).backward();
        peak.sample(ctx.dev);
        return Ok(GradientsParams::from_grads(grads, policy));
    };
    let seed_of = |segment: usize| Rng::derive(seed, segment as u64).next_u64();
    // The backend's random stream is process-wide: no other dropout pass may draw between a
    // segment's seed and its masks (generation elsewhere in the process can still draw; the app
    // runs one model job at a time).
    let _stream = DROPOUT_STREAM.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let shapes = ShapePolicy::for_device(ctx.dev);
    let mut inner = policy.valid();
    inner.text.adapters.dropout_everywhere = true;
    inner.visual.adapters.dropout_everywhere = true;
    // Forward without autodiff: keep each layer's input.
    ctx.dev.seed(seed_of(0));
    let (emb, pos) = inner.embed_shaped(&tb.batch, shapes, ctx.dev)?;
    let [cos, sin, mask] = inner.rope_and_mask(&tb.batch, &pos, ctx.dev);
    let mut inputs = Vec::with_capacity(inner.text.layers.len());
    let mut x = emb;
    for (l, layer) in inner.text.layers.iter().enumerate() {
        ctx.dev.seed(seed_of(l + 1));
        let y = layer.forward(x.clone(), &cos, &sin, &mask, None, inner.text.adapters);
        inputs.push(x);
        x = y;
    }
    drop(inner);
    let mut acc = GradientsAccumulator::<Vlm>::new();
    // Final norm, head and loss.
    let top = x.autodiff().require_grad();
    let hidden = policy.text.norm.forward(top.clone());
    let (logps, entropy) = logps_of_hidden(policy, hidden, tb, ctx.temperature, ctx.with_entropy, ctx.train_dev);
    let mut grads = loss_of(logps, entropy.as_ref()).backward();
    peak.sample(ctx.dev);
    let mut upstream = top.grad_remove(&mut grads);
    acc.accumulate(policy, GradientsParams::from_grads(grads, policy));
    let (cos, sin, mask) = (cos.autodiff(), sin.autodiff(), mask.autodiff());
    // Each layer from the top, recomputed with the gradient of its output.
    for l in (0..policy.text.layers.len()).rev() {
        let (Some(x), Some(g)) = (inputs.pop(), upstream.take()) else { break };
        let x = x.autodiff().require_grad();
        ctx.train_dev.seed(seed_of(l + 1));
        let y = policy.text.layers[l].forward(x.clone(), &cos, &sin, &mask, None, policy.text.adapters);
        let mut grads = (y * g.autodiff()).sum().backward();
        peak.sample(ctx.dev);
        upstream = x.grad_remove(&mut grads);
        acc.accumulate(policy, GradientsParams::from_grads(grads, policy));
    }
    // Embeddings and vision tower, when any of their parameters trains.
    let g = upstream.ok_or_else(|| ModelError::Invalid("no gradient reached the decoder's input".into()))?;
    ctx.train_dev.seed(seed_of(0));
    let (emb, _) = policy.embed_shaped(&tb.batch, shapes, ctx.train_dev)?;
    if emb.is_tracked() {
        let grads = (emb * g.autodiff()).sum().backward();
        peak.sample(ctx.dev);
        acc.accumulate(policy, GradientsParams::from_grads(grads, policy));
    }
    Ok(acc.grads())
}
