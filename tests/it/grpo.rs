//! The GRPO loss and its gradient against TRL 1.16's `_compute_loss` (the shared reference fixture,
//! checked bit-exact against TRL): 5 loss types x beta in {0, 0.04}, off-policy so clipping triggers.

use burn::prelude::*;
use burn::tensor::TensorData;
use medvlm::model::layers::to_vec;
use medvlm::train::grpo::loss::{KlType, LossConfig, LossType, ScaleRewards, advantages, grpo_loss};

use super::common::fixture;

fn load() -> std::collections::HashMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(fixture("grpo_loss_fixture.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, v)| {
            let vals: Vec<f32> = match v.dtype() {
                safetensors::Dtype::F32 => {
                    v.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
                }
                safetensors::Dtype::I64 => {
                    v.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f32).collect()
                }
                d => panic!("{n}: {d:?}"),
            };
            (n, (v.shape().to_vec(), vals))
        })
        .collect()
}

fn t2(v: &[f32], shape: &[usize], dev: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v.to_vec(), [shape[0], shape[1]]), dev)
}

fn rel(a: f32, b: f32) -> f32 {
    (a - b).abs() / b.abs().max(1e-6)
}

#[test]
fn advantages_match_trl() {
    let f = load();
    let g = f["num_generations"].1[0] as usize;
    for (name, scale) in [("group", ScaleRewards::Group), ("batch", ScaleRewards::Batch), ("none", ScaleRewards::None)]
    {
        let ours = advantages(&f["rewards"].1, g, scale, 1e-4);
        for (a, b) in ours.iter().zip(&f[&format!("adv.{name}")].1) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{name}: {a} vs {b}");
        }
    }
}

#[test]
fn loss_and_gradient_match_trl_for_every_loss_type() {
    let f = load();
    let dev = Device::flex().autodiff();
    let shape = f["per_token_logps"].0.clone();
    let t = f["max_completion_length"].1[0] as usize;
    let adv: Tensor<1> = Tensor::from_data(TensorData::new(f["adv.group"].1.clone(), [shape[0]]), &dev);
    for (lt, name) in [
        (LossType::Grpo, "grpo"),
        (LossType::Bnpo, "bnpo"),
        (LossType::DrGrpo, "dr_grpo"),
        (LossType::Dapo, "dapo"),
        (LossType::Cispo, "cispo"),
    ] {
        for beta in [0.0f32, 0.04] {
            let eh = match lt {
                LossType::Cispo => 5.0,
                LossType::Dapo => 0.28,
                _ => 0.2,
            };
            let cfg = LossConfig {
                loss_type: lt,
                beta,
                eps_low: 0.2,
                eps_high: eh,
                clip_ratio_c: 3.0,
                kl: KlType::K3BiasCorrected,
                max_completion_length: t,
            };
            let x = t2(&f["per_token_logps"].1, &shape, &dev).require_grad();
            let (loss, _) = grpo_loss(
                x.clone(),
                t2(&f["old_per_token_logps"].1, &shape, &dev),
                Some(t2(&f["ref_per_token_logps"].1, &shape, &dev)),
                adv.clone(),
                t2(&f["completion_mask"].1, &shape, &dev),
                &cfg,
            );
            let key = format!("{name}.beta{beta:?}.eps0.2-{eh:?}");
            let got = loss.clone().into_scalar::<f32>();
            let want = f[&format!("{key}.loss")].1[0];
            assert!(rel(got, want) <= 1e-6 || (got - want).abs() <= 1e-7, "{key}: loss {got} vs {want}");
            let grads = loss.backward();
            let g = to_vec(x.grad(&grads).unwrap());
            for (i, (a, b)) in g.iter().zip(&f[&format!("{key}.grad")].1).enumerate() {
                assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-3), "{key}: grad[{i}] {a} vs {b}");
            }
        }
    }
}
