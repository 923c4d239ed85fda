//! Token sampling: the settings, the host sampler the CPU path uses (one row of logits at a time,
//! sort-free unless top-k / top-p need it) and the device sampler the GPU path uses (whole batch
//! on the device, Gumbel-max draws, top-p by bisection on the probability threshold), so a GPU
//! decode step reads back only the chosen ids and their log-probabilities, never the logits.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{log_softmax, softmax};

use super::kv::MASKED;
use super::layers::tensor2;
use crate::rng::Rng;

/// Decoding settings. Set explicitly: nothing is inherited from a checkpoint's `generation_config`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sampling {
    /// Argmax decoding (temperature, top-k and top-p ignored).
    pub greedy: bool,
    /// Softmax temperature (> 0).
    pub temperature: f32,
    /// Keep the k most likely tokens (0 = off).
    pub top_k: usize,
    /// Keep the smallest set with cumulative probability >= top_p (1.0 = off).
    pub top_p: f32,
    /// Tokens to generate at most.
    pub max_new_tokens: usize,
    /// Random seed.
    pub seed: u64,
}

impl Default for Sampling {
    fn default() -> Self {
        Self { greedy: true, temperature: 1.0, top_k: 0, top_p: 1.0, max_new_tokens: 512, seed: 0 }
    }
}

/// Like [`pick`], never choosing a token in `suppressed`; the log-probability is still that of the
/// full `log softmax(logits / T)`, as the trainer computes it.
pub fn pick_allowed(logits: &[f32], suppressed: &[usize], s: &Sampling, rng: &mut Rng) -> (u32, f32) {
    let t = if s.greedy { 1.0 } else { s.temperature.max(1e-6) };
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // log p(i) = (l_i - max)/t - ln(sum exp((l - max)/t)); the weights are reused for sampling.
    let mut weights: Vec<f32> = logits.iter().map(|&l| ((l - max) / t).exp()).collect();
    let log_z = weights.iter().sum::<f32>().ln();
    for &i in suppressed {
        if let Some(w) = weights.get_mut(i) {
            *w = 0.0;
        }
    }
    let tok = if s.greedy {
        // First maximum among the allowed tokens, like torch.argmax.
        let mut best: Option<usize> = None;
        for (i, &l) in logits.iter().enumerate() {
            if weights[i] > 0.0 && best.is_none_or(|b| l > logits[b]) {
                best = Some(i);
            }
        }
        best.unwrap_or(0)
    } else {
        sample(&weights, s, rng)
    };
    (tok as u32, logits.get(tok).map_or(f32::NEG_INFINITY, |&l| (l - max) / t - log_z))
}

/// Draws an index from unnormalised weights, keeping only the `top_k` largest (ties: lower index
/// first) and then the smallest head with mass >= `top_p`. Only those need sorting: with both off,
/// one pass over the vocabulary in index order.
fn sample(weights: &[f32], s: &Sampling, rng: &mut Rng) -> usize {
    let u = rng.f32();
    let draw = |cand: &mut dyn Iterator<Item = (usize, f32)>, total: f32| {
        let target = u * total;
        let (mut acc, mut last) = (0.0f32, 0);
        for (i, w) in cand {
            acc += w;
            last = i;
            if target < acc {
                return i;
            }
        }
        last
    };
    let allowed = weights.iter().filter(|&&w| w > 0.0).count();
    let top_k = if s.top_k == 0 || s.top_k >= allowed { 0 } else { s.top_k };
    if top_k == 0 && s.top_p >= 1.0 {
        let total: f32 = weights.iter().sum();
        return draw(&mut weights.iter().copied().enumerate().filter(|c| c.1 > 0.0), total);
    }
    let order = |a: &usize, b: &usize| weights[*b].total_cmp(&weights[*a]).then(a.cmp(b));
    let mut cand: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0.0).collect();
    if top_k > 0 {
        cand.select_nth_unstable_by(top_k - 1, order);
        cand.truncate(top_k);
    }
    cand.sort_unstable_by(order);
    if s.top_p < 1.0 {
        let z: f32 = cand.iter().map(|&i| weights[i]).sum();
        let mut acc = 0.0;
        let keep = cand
            .iter()
            .position(|&i| {
                acc += weights[i] / z;
                acc >= s.top_p
            })
            .map_or(cand.len(), |p| p + 1);
        cand.truncate(keep);
    }
    let total: f32 = cand.iter().map(|&i| weights[i]).sum();
    draw(&mut cand.iter().map(|&i| (i, weights[i])), total)
}

/// Picks a token from one row of logits; returns it with its log-probability under `logits / T`.
pub fn pick(logits: &[f32], s: &Sampling, rng: &mut Rng) -> (u32, f32) {
    pick_allowed(logits, &[], s, rng)
}

/// Samples a whole batch on the device: temperature, top-k (ties at the k-th value kept), top-p
/// (the smallest head with mass >= top_p, found by bisecting the probability threshold), vision
/// placeholders never chosen; the log-probability is that of the full `log softmax(logits / T)`,
/// as the host sampler and the trainer compute it. Randomness comes from the device's seeded
/// generator (`Device::seed`), so draws differ from the CPU path's but follow the same distribution.
pub struct DeviceSampler {
    suppress: Tensor<2>,
    s: Sampling,
}

impl DeviceSampler {
    /// Bisection steps for the top-p threshold: its error is below 2^-24 of the top probability.
    const TOP_P_STEPS: usize = 24;

    /// A sampler over `vocab` logits that never picks a token in `suppressed`.
    pub fn new(vocab: usize, suppressed: &[usize], s: &Sampling, device: &Device) -> Self {
        let mut bias = vec![0f32; vocab];
        for &i in suppressed {
            if let Some(b) = bias.get_mut(i) {
                *b = MASKED;
            }
        }
        Self { suppress: tensor2(bias, [1, vocab], device), s: s.clone() }
    }

    /// Picks one token per row of `logits` `[batch, vocab]`: `(ids [batch], log-probs [batch])`.
    pub fn pick(&self, logits: Tensor<2>) -> (Tensor<1, Int>, Tensor<1>) {
        let [b, v] = logits.dims();
        let s = &self.s;
        let t = if s.greedy { 1.0 } else { f64::from(s.temperature.max(1e-6)) };
        let z = if t == 1.0 { logits } else { logits.div_scalar(t) };
        let logp = log_softmax(z.clone(), 1);
        let mut f = z + self.suppress.clone();
        if !s.greedy {
            if s.top_k > 0 && s.top_k < v {
                let kth = f.clone().topk(s.top_k, 1).min_dim(1);
                f = f.clone().mask_fill(f.clone().lower(kth.expand([b, v])), MASKED);
            }
            if s.top_p < 1.0 {
                f = Self::nucleus(f, s.top_p);
            }
            let u = Tensor::<2>::random([b, v], Distribution::Uniform(0.0, 1.0), &f.device()).clamp(1e-20, 1.0 - 1e-7);
            f = f - u.log().neg().log();
        }
        let tok = f.argmax(1);
        let lp = logp.gather(1, tok.clone()).reshape([b]);
        (tok.reshape([b]), lp)
    }

    /// Masks every token outside the smallest set of most likely tokens with mass >= `top_p`.
    fn nucleus(f: Tensor<2>, top_p: f32) -> Tensor<2> {
        let [b, v] = f.dims();
        let probs = softmax(f.clone(), 1);
        let mut lo = Tensor::<2>::zeros([b, 1], &f.device());
        let mut hi = probs.clone().max_dim(1);
        for _ in 0..Self::TOP_P_STEPS {
            let mid = (lo.clone() + hi.clone()).mul_scalar(0.5);
            let below = probs.clone().lower(mid.clone().expand([b, v]));
            let mass = probs.clone().mask_fill(below, 0.0).sum_dim(1);
            let ok = mass.greater_equal_elem(top_p);
            lo = lo.mask_where(ok.clone(), mid.clone());
            hi = hi.mask_where(ok.bool_not(), mid);
        }
        let out = probs.lower(lo.expand([b, v]));
        f.mask_fill(out, MASKED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_maximum_and_reports_its_logprob() {
        let s = Sampling::default();
        let (t, lp) = pick(&[0.0, 2.0, 2.0, -1.0], &s, &mut Rng::new(0));
        assert_eq!(t, 1);
        let z: f32 = [0.0f32, 2.0, 2.0, -1.0].iter().map(|x| x.exp()).sum();
        assert!((lp - (2.0f32.exp() / z).ln()).abs() < 1e-6);
    }

    #[test]
    fn top_k_one_is_greedy_and_top_p_keeps_the_head() {
        let s = Sampling { greedy: false, temperature: 1.0, top_k: 1, ..Sampling::default() };
        let mut rng = Rng::new(1);
        for _ in 0..20 {
            assert_eq!(pick(&[0.1, 3.0, 0.2], &s, &mut rng).0, 1);
        }
        let s = Sampling { greedy: false, temperature: 1.0, top_p: 0.5, ..Sampling::default() };
        for _ in 0..20 {
            assert_eq!(pick(&[0.0, 5.0, 0.0], &s, &mut rng).0, 1);
        }
        // Temperature sampling visits more than one token.
        let s = Sampling { greedy: false, temperature: 1.0, ..Sampling::default() };
        let seen: std::collections::BTreeSet<u32> = (0..200).map(|_| pick(&[0.0, 0.0, 0.0], &s, &mut rng).0).collect();
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn sampling_follows_the_softmax_and_top_k_keeps_the_k_largest() {
        let logits = [0.0f32, 1.0, 2.0, 0.5];
        let z: f32 = logits.iter().map(|l| l.exp()).sum();
        let mut rng = Rng::new(11);
        let s = Sampling { greedy: false, temperature: 1.0, ..Sampling::default() };
        let n = 40_000;
        let mut counts = [0usize; 4];
        for _ in 0..n {
            counts[pick(&logits, &s, &mut rng).0 as usize] += 1;
        }
        for (c, l) in counts.iter().zip(logits) {
            let (got, want) = (*c as f32 / n as f32, l.exp() / z);
            assert!((got - want).abs() < 0.01, "frequency {got} vs probability {want}");
        }
        // top-k 2 keeps tokens 2 and 1 (renormalised); ties break toward the lower id.
        let s2 = Sampling { top_k: 2, ..s.clone() };
        let mut counts = [0usize; 4];
        for _ in 0..n {
            counts[pick(&logits, &s2, &mut rng).0 as usize] += 1;
        }
        assert_eq!(counts[0] + counts[3], 0);
        let want = 1.0f32.exp() / (1.0f32.exp() + 2.0f32.exp());
        assert!((counts[1] as f32 / n as f32 - want).abs() < 0.01);
        let tie = Sampling { top_k: 1, ..s };
        assert_eq!(pick(&[1.0, 3.0, 3.0], &tie, &mut rng).0, 1);
    }

    #[test]
    fn suppressed_tokens_are_never_picked_and_logprobs_stay_full_vocab() {
        let s = Sampling { greedy: true, ..Sampling::default() };
        let logits = [0.0, 5.0, 1.0];
        let (t, lp) = pick_allowed(&logits, &[1], &s, &mut Rng::new(0));
        assert_eq!(t, 2);
        let z: f32 = logits.iter().map(|l| l.exp()).sum();
        assert!((lp - (1.0f32.exp() / z).ln()).abs() < 1e-5);
        let hot = Sampling { greedy: false, temperature: 1.0, ..Sampling::default() };
        let mut rng = Rng::new(3);
        assert!((0..200).all(|_| pick_allowed(&logits, &[1], &hot, &mut rng).0 != 1));
    }

    fn device_counts(logits: &[f32], s: &Sampling, rows: usize) -> Vec<usize> {
        let dev = Device::flex();
        dev.seed(7);
        let v = logits.len();
        let data: Vec<f32> = (0..rows).flat_map(|_| logits.iter().copied()).collect();
        let (tok, lp) = DeviceSampler::new(v, &[], s, &dev).pick(tensor2(data, [rows, v], &dev));
        let ids: Vec<i64> = tok.into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
        let lps = crate::model::layers::to_vec(lp);
        let z: f32 = logits.iter().map(|l| (l / s.temperature).exp()).sum();
        for (i, l) in ids.iter().zip(&lps) {
            let want = logits[*i as usize] / s.temperature - z.ln();
            assert!((l - want).abs() < 1e-4, "log-prob {l} vs {want}");
        }
        let mut counts = vec![0usize; v];
        for i in ids {
            counts[i as usize] += 1;
        }
        counts
    }

    #[test]
    fn device_sampler_follows_the_softmax_and_its_filters() {
        let logits = [0.0f32, 1.0, 2.0, 0.5];
        let n = 40_000;
        let s = Sampling { greedy: false, temperature: 1.0, ..Sampling::default() };
        let z: f32 = logits.iter().map(|l| l.exp()).sum();
        for (c, l) in device_counts(&logits, &s, n).iter().zip(logits) {
            let (got, want) = (*c as f32 / n as f32, l.exp() / z);
            assert!((got - want).abs() < 0.01, "frequency {got} vs probability {want}");
        }
        let k2 = device_counts(&logits, &Sampling { top_k: 2, ..s.clone() }, n);
        assert_eq!(k2[0] + k2[3], 0, "top-k 2 keeps tokens 1 and 2: {k2:?}");
        // top-p 0.7: p = [0.08, 0.21, 0.58, 0.13]; 0.58 + 0.21 >= 0.7 keeps tokens 2 and 1.
        let p7 = device_counts(&logits, &Sampling { top_p: 0.7, ..s.clone() }, n);
        assert_eq!(p7[0] + p7[3], 0, "{p7:?}");
        assert!(p7[1] > 0 && p7[2] > p7[1], "{p7:?}");
        let hot = device_counts(&logits, &Sampling { temperature: 0.5, ..s }, 1000);
        assert!(hot[2] > 700, "T = 0.5 sharpens: {hot:?}");
        let greedy = device_counts(&[0.0, 5.0, 1.0], &Sampling::default(), 3);
        assert_eq!(greedy, [0, 3, 0]);
    }

    #[test]
    fn device_sampler_never_picks_suppressed_tokens() {
        let dev = Device::flex();
        let s = Sampling { greedy: false, temperature: 1.0, ..Sampling::default() };
        let logits = tensor2([0.0, 5.0, 1.0].repeat(500), [500, 3], &dev);
        let (tok, _) = DeviceSampler::new(3, &[1], &s, &dev).pick(logits.clone());
        let ids: Vec<i64> = tok.into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
        assert!(ids.iter().all(|&t| t != 1));
        let (g, _) = DeviceSampler::new(3, &[1], &Sampling::default(), &dev).pick(logits);
        assert!(g.into_data().convert::<i64>().try_into_vec::<i64>().unwrap().iter().all(|&t| t == 2));
    }
}
