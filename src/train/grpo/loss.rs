//! GRPO mathematics: group-normalised advantages (TRL / verl) and the clipped policy loss with
//! its KL term, for TRL's loss types (`grpo`, `bnpo`, `dr_grpo`, `dapo`, `cispo`) and verl's
//! dual-clip token-mean. Matches TRL 1.16's `_compute_loss` (loss and gradient) bit for bit on the
//! reference fixture (`tests/it/grpo.rs`).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// How rewards are scaled into advantages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScaleRewards {
    /// `(r - group mean) / (group std + eps)` (TRL default, MedVLM-R1, verl GRPO).
    #[default]
    Group,
    /// `(r - group mean) / (batch std + eps)`.
    Batch,
    /// `r - group mean` (Dr. GRPO).
    None,
}

/// Loss aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LossType {
    /// Mean over sequences of token means (original GRPO, MedVLM-R1).
    Grpo,
    /// Token sum over the batch / token count.
    Bnpo,
    /// Token sum / (batch * max completion length).
    DrGrpo,
    /// Token sum / active tokens of the generation batch (TRL's default).
    #[default]
    Dapo,
    /// CISPO: clipped IS weight (detached) times `A * logp`.
    Cispo,
    /// verl: dual-clip PPO (`clip_ratio_c`), token mean, log ratio clamped to ±20.
    VerlTokenMean,
}

/// KL estimator against the frozen reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KlType {
    /// k3 `exp(ref - lp) - (ref - lp) - 1`, times the importance ratio (TRL's `use_bias_correction_kl`).
    #[default]
    K3BiasCorrected,
    /// Plain k3 (MedVLM-R1's trainer).
    K3,
    /// verl `low_var_kl`: k3 with the log ratio clamped to ±20 and the result to [-10, 10].
    LowVar,
}

/// Loss settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    /// Aggregation.
    pub loss_type: LossType,
    /// KL coefficient (0 disables the reference model).
    pub beta: f32,
    /// Lower clip range.
    pub eps_low: f32,
    /// Upper clip range.
    pub eps_high: f32,
    /// verl dual-clip constant for negative advantages.
    pub clip_ratio_c: f32,
    /// KL estimator.
    pub kl: KlType,
    /// Needed by `dr_grpo`.
    pub max_completion_length: usize,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            loss_type: LossType::Dapo,
            beta: 0.0,
            eps_low: 0.2,
            eps_high: 0.2,
            clip_ratio_c: 3.0,
            kl: KlType::K3BiasCorrected,
            max_completion_length: 512,
        }
    }
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len().max(1) as f32
}

/// Bessel-corrected standard deviation (`torch.std`); NaN for fewer than two values.
pub fn unbiased_std(v: &[f32]) -> f32 {
    if v.len() < 2 {
        return f32::NAN;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / (v.len() - 1) as f32).sqrt()
}

/// Advantages for rewards grouped contiguously in groups of `g`; NaN becomes 0 (TRL).
pub fn advantages(rewards: &[f32], g: usize, scale: ScaleRewards, eps: f32) -> Vec<f32> {
    let batch_std = unbiased_std(rewards);
    let mut out = Vec::with_capacity(rewards.len());
    for group in rewards.chunks(g.max(1)) {
        let m = mean(group);
        for r in group {
            let a = match scale {
                ScaleRewards::Group => (r - m) / (unbiased_std(group) + eps),
                ScaleRewards::Batch => (r - m) / (batch_std + eps),
                ScaleRewards::None => r - m,
            };
            out.push(if a.is_nan() { 0.0 } else { a });
        }
    }
    out
}

/// Diagnostics of one loss evaluation (host values).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LossStats {
    /// Mean masked KL (0 when beta = 0).
    pub kl: f32,
    /// Fraction of tokens clipped below (ratio < 1 - eps_low with A < 0).
    pub clip_low: f32,
    /// Fraction of tokens clipped above (ratio > 1 + eps_high with A > 0).
    pub clip_high: f32,
}

/// The GRPO loss. `logps` (with gradient), `old_logps` and `ref_logps` are `[B, T]` per-token
/// log-probabilities of the completions; `adv` is `[B]`; `mask` is `[B, T]` (1 up to and including EOS).
pub fn grpo_loss(
    logps: Tensor<2>,
    old_logps: Tensor<2>,
    ref_logps: Option<Tensor<2>>,
    adv: Tensor<1>,
    mask: Tensor<2>,
    cfg: &LossConfig,
) -> (Tensor<1>, LossStats) {
    let [b, _t] = logps.dims();
    let adv = adv.unsqueeze_dim::<2>(1);
    let log_ratio = logps.clone() - old_logps;
    let log_ratio = if cfg.loss_type == LossType::VerlTokenMean { log_ratio.clamp(-20.0, 20.0) } else { log_ratio };
    let coef_1 = log_ratio.exp();
    let mut per_tok = match cfg.loss_type {
        LossType::Cispo => coef_1.clone().clamp_max(cfg.eps_high).detach().neg() * adv.clone() * logps.clone(),
        _ => {
            let coef_2 = coef_1.clone().clamp(1.0 - cfg.eps_low, 1.0 + cfg.eps_high);
            let unclipped = coef_1.clone() * adv.clone();
            let clipped = coef_2 * adv.clone();
            unclipped.min_pair(clipped).neg()
        }
    };
    if cfg.loss_type == LossType::VerlTokenMean {
        // Dual clip: for negative advantages the loss is capped at -A * clip_ratio_c.
        let cap = adv.clone().neg().mul_scalar(cfg.clip_ratio_c);
        let capped = per_tok.clone().min_pair(cap);
        let negative = adv.clone().lower_elem(0.0).expand(per_tok.dims());
        per_tok = per_tok.mask_where(negative, capped);
    }
    let mut kl_mean = 0.0;
    if cfg.beta != 0.0
        && let Some(r) = ref_logps
    {
        let d = r - logps.clone();
        let kl = match cfg.kl {
            KlType::LowVar => {
                let d = d.clamp(-20.0, 20.0);
                (d.clone().exp() - d - 1.0).clamp(-10.0, 10.0)
            }
            _ => d.clone().exp() - d - 1.0,
        };
        let kl = if cfg.kl == KlType::K3BiasCorrected { kl * coef_1.clone() } else { kl };
        kl_mean = ((kl.clone() * mask.clone()).sum() / mask.clone().sum().clamp_min(1.0)).into_scalar::<f32>();
        per_tok = per_tok + kl.mul_scalar(cfg.beta);
    }
    let masked = per_tok * mask.clone();
    let loss = match cfg.loss_type {
        LossType::Grpo => (masked.sum_dim(1) / mask.clone().sum_dim(1).clamp_min(1.0)).mean(),
        LossType::Bnpo | LossType::Dapo | LossType::Cispo | LossType::VerlTokenMean => {
            masked.sum() / mask.clone().sum().clamp_min(1.0)
        }
        LossType::DrGrpo => masked.sum().div_scalar((b * cfg.max_completion_length) as f64),
    };
    let n = mask.clone().sum().clamp_min(1.0).into_scalar::<f32>();
    let low = coef_1.clone().lower_elem(1.0 - cfg.eps_low).bool_and(adv.clone().lower_elem(0.0).expand(coef_1.dims()));
    let high = coef_1.clone().greater_elem(1.0 + cfg.eps_high).bool_and(adv.greater_elem(0.0).expand(coef_1.dims()));
    let frac = |m: Tensor<2, Bool>| (m.float() * mask.clone()).sum().into_scalar::<f32>() / n;
    let stats = LossStats { kl: kl_mean, clip_low: frac(low), clip_high: frac(high) };
    (loss.reshape([1]), stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advantages_are_group_normalised_with_unbiased_std() {
        let a = advantages(&[1.0, 0.0, 1.0, 1.0], 4, ScaleRewards::Group, 1e-4);
        // mean 0.75, unbiased std 0.5
        assert!((a[1] - (-0.75 / 0.5001)).abs() < 1e-5, "{a:?}");
        assert_eq!(advantages(&[2.0, 2.0], 2, ScaleRewards::Group, 1e-4), vec![0.0, 0.0]);
        assert_eq!(advantages(&[1.0, 3.0], 2, ScaleRewards::None, 1e-4), vec![-1.0, 1.0]);
    }
}
