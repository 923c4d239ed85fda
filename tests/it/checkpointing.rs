//! Decoder-layer gradient checkpointing gives the plain backward pass's gradients: full fine-tuning
//! with an image (the embedding and vision segment included) and LoRA, every parameter's gradient
//! to 1e-5; with LoRA dropout, both passes draw the same masks (the same seed gives the same
//! gradients, and they differ from dropout off).

use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use medvlm::model::Vlm;
use medvlm::model::gpu::MemoryPeak;
use medvlm::model::layers::to_vec;
use medvlm::model::lora::{self, LoraSettings};
use medvlm::model::processor::Processor;
use medvlm::train::grpo::backward::{BackwardCtx, loss_backward};
use medvlm::train::grpo::logps::TrainBatch;

/// Largest difference between two gradient sets over every parameter, and how many were compared.
struct Compare<'a> {
    a: &'a GradientsParams,
    b: &'a GradientsParams,
    max: f32,
    scale: f32,
    n: usize,
}

impl ModuleVisitor for Compare<'_> {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        match (self.a.get::<D>(p.id), self.b.get::<D>(p.id)) {
            (Some(x), Some(y)) => {
                let (x, y) = (to_vec(x), to_vec(y));
                for (u, v) in x.iter().zip(&y) {
                    self.max = self.max.max((u - v).abs());
                    self.scale = self.scale.max(u.abs());
                }
                self.n += 1;
            }
            (None, None) => {}
            (x, y) => panic!("a gradient in one pass only ({}, {})", x.is_some(), y.is_some()),
        }
    }
}

fn compare(model: &Vlm, a: &GradientsParams, b: &GradientsParams) -> (f32, f32, usize) {
    let mut c = Compare { a, b, max: 0.0, scale: 0.0, n: 0 };
    model.visit(&mut c);
    (c.max, c.scale, c.n)
}

fn batch(processor: &Processor) -> TrainBatch {
    let (h, w) = (56, 84);
    let rgb: Vec<u8> = (0..h * w * 3).map(|i| ((i * 7) % 251) as u8).collect();
    let image = processor.image(&rgb, h, w).unwrap();
    let prompt = processor.prompt("Is the left lung clear? A) yes B) no", std::slice::from_ref(&image), None).unwrap();
    let short = prompt[prompt.len() - 6..].to_vec();
    let completions: [&[u32]; 2] = [&[103, 50, 60, 70, 80, 90, 100], &[110, 120, 130]];
    TrainBatch::new(&[&prompt, &short], &completions, vec![image], 0)
}

fn grads(model: &Vlm, tb: &TrainBatch, layered: Option<u64>) -> GradientsParams {
    let train_dev = Device::flex().autodiff();
    let ctx =
        BackwardCtx { dev: &Device::flex(), train_dev: &train_dev, layered, temperature: 0.9, with_entropy: true };
    let mut peak = MemoryPeak::default();
    loss_backward(model, tb, ctx, &mut peak, |logps, ent| {
        let mask = tb.mask_tensor(&train_dev);
        // A loss that reaches every position: weighted log-probabilities plus a squared term.
        let w = ent.map_or(1.0, |e| f64::from(e.clone().mean().into_scalar::<f32>()));
        (logps.clone() * mask.clone()).sum().mul_scalar(-w) + (logps * mask).powf_scalar(2.0).mean()
    })
    .unwrap()
}

fn tiny() -> (Vlm, Processor) {
    let dir = medvlm::sample::bundled_tiny_model().unwrap();
    let model = Vlm::load(&dir, &Device::flex().autodiff()).unwrap();
    let processor = Processor::load(&dir, &model).unwrap();
    (model, processor)
}

#[test]
fn layer_checkpointing_gives_the_plain_gradients_in_full_fine_tuning_and_lora() {
    let (model, processor) = tiny();
    let tb = batch(&processor);
    let plain = grads(&model, &tb, None);
    let layered = grads(&model, &tb, Some(7));
    let (max, scale, n) = compare(&model, &plain, &layered);
    eprintln!("full fine-tuning: {n} parameters, max |diff| {max:.2e} (largest gradient {scale:.2e})");
    assert!(n > 40, "the embeddings, vision tower and every layer have gradients ({n})");
    assert!(max <= 1e-5 * scale.max(1.0), "{max} vs {scale}");

    let s = LoraSettings { rank: 4, ..LoraSettings::default() };
    let model = lora::random_adapters(model, &s, 3, 0.05).unwrap();
    let plain = grads(&model, &tb, None);
    let layered = grads(&model, &tb, Some(7));
    let (max, scale, n) = compare(&model, &plain, &layered);
    eprintln!("LoRA: {n} parameters, max |diff| {max:.2e} (largest gradient {scale:.2e})");
    assert_eq!(n, plain.len(), "only the adapters have gradients");
    assert!(max <= 1e-5 * scale.max(1.0), "{max} vs {scale}");
}

#[test]
fn with_lora_dropout_both_passes_draw_the_same_masks() {
    let (model, processor) = tiny();
    let tb = batch(&processor);
    let s = LoraSettings { rank: 4, dropout: 0.3, ..LoraSettings::default() };
    let model = lora::random_adapters(model, &s, 3, 0.05).unwrap().with_lora_dropout(0.3);
    // Sampling in other tests draws from the same process-wide flex stream and can interleave
    // with a pass: one try in three agreeing shows the masks follow the seed.
    let (mut a, mut same, mut scale) = (grads(&model, &tb, Some(11)), f32::MAX, 0.0);
    for _ in 0..3 {
        let b = grads(&model, &tb, Some(11));
        (same, scale, _) = compare(&model, &a, &b);
        if same <= 1e-6 * scale.max(1.0) {
            break;
        }
        a = b;
    }
    assert!(same <= 1e-6 * scale.max(1.0), "one seed, one set of masks: {same}");
    let off = grads(&model.clone().with_lora_dropout(0.0), &tb, Some(11));
    let (moved, _, _) = compare(&model, &a, &off);
    assert!(moved > 1e-4 * scale, "dropout was applied ({moved})");
}
