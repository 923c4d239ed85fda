//! Supervised fine-tuning on (prompt, completion, image) examples: the mean negative
//! log-likelihood of the completion tokens only, computed through the whole model (vision tower
//! included) on an autodiff device.

use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::log_softmax;

use crate::model::layers::tensor2;
use crate::model::preprocess::PixelValues;
use crate::model::{Batch, ModelError, Vlm};

/// One training example.
#[derive(Debug, Clone)]
pub struct Example {
    /// Prompt ids (image placeholders already expanded).
    pub prompt: Vec<u32>,
    /// Completion ids, ending with the stop token.
    pub completion: Vec<u32>,
    /// The image the prompt refers to, if any.
    pub image: Option<PixelValues>,
}

/// Left-pads `prompt ++ completion` rows into a batch; returns it with the completion lengths.
pub fn batch_of(examples: &[&Example], pad: u32) -> (Batch, Vec<usize>) {
    let seqs: Vec<Vec<u32>> =
        examples.iter().map(|e| e.prompt.iter().chain(&e.completion).copied().collect()).collect();
    let images = examples.iter().filter_map(|e| e.image.clone()).collect();
    (Batch::left_padded(&seqs, pad, images), examples.iter().map(|e| e.completion.len()).collect())
}

/// Mean NLL of the completion tokens, `[1]`.
///
/// # Errors
/// [`ModelError`] when prompts and images disagree.
pub fn completion_nll(model: &Vlm, examples: &[&Example], pad: u32, device: &Device) -> Result<Tensor<1>, ModelError> {
    let (batch, comp) = batch_of(examples, pad);
    let (b, l) = (batch.batch, batch.seq);
    let c = comp.iter().copied().max().unwrap_or(0).min(l - 1);
    let hidden = model.hidden(&batch, device)?;
    // Position t predicts token t + 1: the last c predictions cover every completion token.
    let logits = model.text.logits(hidden.narrow(1, l - c - 1, c));
    let logp = log_softmax(logits, 2);
    let mut targets = Vec::with_capacity(b * c);
    let mut mask = Vec::with_capacity(b * c);
    for (r, &n) in comp.iter().enumerate() {
        for j in 0..c {
            targets.push(i64::from(batch.ids[r * l + l - c + j]));
            mask.push(if j >= c - n.min(c) { 1.0f32 } else { 0.0 });
        }
    }
    let targets: Tensor<3, Int> = Tensor::from_data(TensorData::new(targets, [b, c, 1]), device);
    let tok_lp = logp.gather(2, targets).reshape([b, c]);
    let mask = tensor2(mask, [b, c], device);
    let n = mask.clone().sum();
    Ok((tok_lp * mask).sum().neg() / n)
}
