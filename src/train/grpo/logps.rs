//! Per-token log-probabilities of completions under a model (`log softmax(logits / T)`, as TRL
//! computes them), with token entropies, for a batch laid out as left-padded prompts followed by
//! right-padded completions.

use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::log_softmax;

use crate::model::layers::tensor2;
use crate::model::preprocess::PixelValues;
use crate::model::shapes::ShapePolicy;
use crate::model::{Batch, ModelError, Vlm};

/// Prompts and completions in one batch.
#[derive(Debug, Clone)]
pub struct TrainBatch {
    /// The model input.
    pub batch: Batch,
    /// Common (padded) prompt length.
    pub prompt_len: usize,
    /// Common (padded) completion length.
    pub comp_len: usize,
    /// Completion ids `[B * comp_len]` (padding = `pad`).
    pub comp_ids: Vec<u32>,
    /// Completion mask `[B * comp_len]`: 1 for generated tokens (up to and including the stop token).
    pub comp_mask: Vec<f32>,
}

impl TrainBatch {
    /// Lays out `prompt[i] ++ completion[i]` rows; placeholder run k is `images[k]`.
    pub fn new(prompts: &[&[u32]], completions: &[&[u32]], images: Vec<PixelValues>, pad: u32) -> Self {
        let image_of = (0..images.len()).collect();
        Self::shaped(prompts, completions, images, image_of, pad, ShapePolicy::Exact, usize::MAX)
    }

    /// Lays out the rows under a shape policy: prompts left-padded to a length bucket, completions
    /// right-padded to a completion bucket of `max_completion` (see [`ShapePolicy`]); placeholder
    /// run k uses `images[image_of[k]]`.
    pub fn shaped(
        prompts: &[&[u32]],
        completions: &[&[u32]],
        images: Vec<PixelValues>,
        image_of: Vec<usize>,
        pad: u32,
        policy: ShapePolicy,
        max_completion: usize,
    ) -> Self {
        let lp = policy.len(prompts.iter().map(|p| p.len()).max().unwrap_or(0));
        let longest = completions.iter().map(|c| c.len()).max().unwrap_or(0);
        let lc = policy.completion_len(longest, max_completion.max(longest));
        let (mut ids, mut mask, mut comp_ids, mut comp_mask) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (p, c) in prompts.iter().zip(completions) {
            ids.extend(std::iter::repeat_n(pad, lp - p.len()));
            mask.extend(std::iter::repeat_n(0u8, lp - p.len()));
            ids.extend_from_slice(p);
            mask.extend(std::iter::repeat_n(1u8, p.len()));
            for j in 0..lc {
                let present = j < c.len();
                let t = if present { c[j] } else { pad };
                ids.push(t);
                mask.push(u8::from(present));
                comp_ids.push(t);
                comp_mask.push(if present { 1.0 } else { 0.0 });
            }
        }
        let b = prompts.len();
        Self {
            batch: Batch { ids, mask, batch: b, seq: lp + lc, images, image_of },
            prompt_len: lp,
            comp_len: lc,
            comp_ids,
            comp_mask,
        }
    }

    /// The completion mask as a tensor `[B, comp_len]`.
    pub fn mask_tensor(&self, device: &Device) -> Tensor<2> {
        tensor2(self.comp_mask.clone(), [self.batch.batch, self.comp_len], device)
    }
}

/// Token log-probabilities `[B, comp_len]` and (optionally) token entropies of the completions.
///
/// # Errors
/// [`ModelError`] when prompts and images disagree.
pub fn token_logps(
    model: &Vlm,
    tb: &TrainBatch,
    temperature: f32,
    with_entropy: bool,
    device: &Device,
) -> Result<(Tensor<2>, Option<Tensor<2>>), ModelError> {
    let hidden = model.hidden(&tb.batch, device)?;
    Ok(logps_of_hidden(model, hidden, tb, temperature, with_entropy, device))
}

/// [`token_logps`] from the final hidden states `[B, L, hidden]` of `tb`.
pub fn logps_of_hidden(
    model: &Vlm,
    hidden: Tensor<3>,
    tb: &TrainBatch,
    temperature: f32,
    with_entropy: bool,
    device: &Device,
) -> (Tensor<2>, Option<Tensor<2>>) {
    let (b, lc) = (tb.batch.batch, tb.comp_len);
    // Position t predicts token t + 1: completions start at prompt_len.
    let logits = model.text.logits(hidden.narrow(1, tb.prompt_len - 1, lc));
    // Dividing by T = 1 would cost a pass over [B, L, vocab] forward and backward.
    let logits = if temperature == 1.0 { logits } else { logits.div_scalar(f64::from(temperature)) };
    let logp = log_softmax(logits, 2);
    let ids: Vec<i64> = tb.comp_ids.iter().map(|&t| i64::from(t)).collect();
    let ids: Tensor<3, Int> = Tensor::from_data(TensorData::new(ids, [b, lc, 1]), device);
    let tok = logp.clone().gather(2, ids).reshape([b, lc]);
    let entropy = with_entropy.then(|| {
        let lp = logp.detach();
        (lp.clone().exp() * lp).sum_dim(2).reshape([b, lc]).neg()
    });
    (tok, entropy)
}
