//! Batched generation: left-padded prompts, one prefill then one token per step through the KV
//! cache, greedy or temperature / top-k / top-p sampling, per-sequence stop tokens, and the
//! log-probability of each generated token under `logits / temperature` (what GRPO needs).

use burn::prelude::*;

use super::layers::{index1, tensor2, to_vec};
use super::text::{KvCache, attention_mask, mrope_cos_sin};
use super::vlm::{Batch, ModelError, Vlm};
use crate::sample::rng::Rng;

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

/// What generation produced, per row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Generated {
    /// New tokens, including the stop token when one was produced.
    pub tokens: Vec<Vec<u32>>,
    /// `log softmax(logits / T)` of each new token.
    pub logprobs: Vec<Vec<f32>>,
    /// True when the row ended with a stop token (false = cut at `max_new_tokens`).
    pub stopped: Vec<bool>,
}

/// Like [`pick`], never choosing a token in `suppressed`; the log-probability is still that of the
/// full `log softmax(logits / T)`, as the trainer computes it.
pub fn pick_allowed(logits: &[f32], suppressed: &[usize], s: &Sampling, rng: &mut Rng) -> (u32, f32) {
    if suppressed.is_empty() {
        return pick(logits, s, rng);
    }
    let mut masked = logits.to_vec();
    for &t in suppressed {
        if let Some(l) = masked.get_mut(t) {
            *l = f32::NEG_INFINITY;
        }
    }
    let (tok, _) = pick(&masked, s, rng);
    let t = if s.greedy { 1.0 } else { s.temperature.max(1e-6) };
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let log_z = logits.iter().map(|&l| ((l - max) / t).exp()).sum::<f32>().ln();
    (tok, (logits[tok as usize] - max) / t - log_z)
}

/// Picks a token from one row of logits; returns it with its log-probability under `logits / T`.
pub fn pick(logits: &[f32], s: &Sampling, rng: &mut Rng) -> (u32, f32) {
    let t = if s.greedy { 1.0 } else { s.temperature.max(1e-6) };
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // log p(i) = (l_i - max)/t - ln(sum exp((l - max)/t))
    let log_z = logits.iter().map(|&l| ((l - max) / t).exp()).sum::<f32>().ln();
    let logp = |i: usize| (logits[i] - max) / t - log_z;
    if s.greedy {
        // First maximum, like torch.argmax.
        let mut best = 0;
        for (i, &l) in logits.iter().enumerate() {
            if l > logits[best] {
                best = i;
            }
        }
        return (best as u32, logp(best));
    }
    let mut cand: Vec<(usize, f32)> = logits.iter().enumerate().map(|(i, &l)| (i, (l - max) / t)).collect();
    cand.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if s.top_k > 0 && s.top_k < cand.len() {
        cand.truncate(s.top_k);
    }
    let z: f32 = cand.iter().map(|c| c.1.exp()).sum();
    let mut probs: Vec<f32> = cand.iter().map(|c| c.1.exp() / z).collect();
    if s.top_p < 1.0 {
        // Keep the smallest prefix whose mass reaches top_p (always at least one token).
        let mut acc = 0.0;
        let mut keep = probs.len();
        for (i, p) in probs.iter().enumerate() {
            acc += p;
            if acc >= s.top_p {
                keep = i + 1;
                break;
            }
        }
        cand.truncate(keep);
        probs.truncate(keep);
        let z: f32 = probs.iter().sum();
        for p in &mut probs {
            *p /= z;
        }
    }
    let u = rng.f32();
    let mut acc = 0.0;
    for (c, p) in cand.iter().zip(&probs) {
        acc += p;
        if u < acc {
            return (c.0 as u32, logp(c.0));
        }
    }
    let last = cand.last().map_or(0, |c| c.0);
    (last as u32, logp(last))
}

/// Generates for every row of `batch` until each hits a stop id or `max_new_tokens`.
///
/// # Errors
/// [`ModelError`] when the prompt and images disagree or ids are out of range.
pub fn generate(
    model: &Vlm,
    batch: &Batch,
    stop_ids: &[u32],
    s: &Sampling,
    pad_id: u32,
    device: &Device,
) -> Result<Generated, ModelError> {
    let tc = &model.config.text;
    let (b, seq, hd) = (batch.batch, batch.seq, tc.head_dim());
    let (emb, pos) = model.embed(batch, device)?;
    let mut cache = KvCache::new(tc, b, seq + s.max_new_tokens, device);
    let mut key_valid = batch.key_valid();
    let (cos, sin) = mrope_cos_sin(tc, &pos.ids, b, seq);
    let shape = [b, 1, seq, hd];
    let cos = tensor2(cos, [b * seq, hd], device).reshape(shape);
    let sin = tensor2(sin, [b * seq, hd], device).reshape(shape);
    let mask = attention_mask(&key_valid, seq, device);
    let hidden = model.text.forward(emb, cos, sin, mask, Some(&mut cache));
    let mut logits = to_vec(model.text.logits(hidden.narrow(1, seq - 1, 1).reshape([b, tc.hidden_size])));
    let vocab = tc.vocab_size;
    let mut n_valid: Vec<i64> = key_valid.iter().map(|r| r.iter().filter(|&&v| v).count() as i64).collect();
    let mut out = Generated { tokens: vec![Vec::new(); b], logprobs: vec![Vec::new(); b], stopped: vec![false; b] };
    let mut rng = Rng::new(s.seed);
    // Vision placeholders are never generated: a completion holding one could not be fed back to
    // the model (it would ask for an image that is not there), which breaks GRPO's training pass.
    let c = &model.config;
    let suppressed: Vec<usize> = [c.image_token_id, c.video_token_id, c.vision_start_token_id, c.vision_end_token_id]
        .into_iter()
        .map(|t| t as usize)
        .filter(|&t| t < vocab)
        .collect();
    for step in 0..s.max_new_tokens {
        let mut next = Vec::with_capacity(b);
        for r in 0..b {
            if out.stopped[r] {
                next.push(pad_id);
                continue;
            }
            let (tok, lp) = pick_allowed(&logits[r * vocab..(r + 1) * vocab], &suppressed, s, &mut rng);
            out.tokens[r].push(tok);
            out.logprobs[r].push(lp);
            if stop_ids.contains(&tok) {
                out.stopped[r] = true;
            }
            next.push(tok);
        }
        if out.stopped.iter().all(|&x| x) || step + 1 == s.max_new_tokens {
            break;
        }
        // The new token of row r sits at valid index n_valid[r] and position n_valid[r] + delta[r].
        let mut p = vec![0i64; 3 * b];
        for r in 0..b {
            for axis in 0..3 {
                p[axis * b + r] = n_valid[r] + pos.deltas[r];
            }
            n_valid[r] += 1;
            key_valid[r].push(true);
        }
        let (cos, sin) = mrope_cos_sin(tc, &p, b, 1);
        let cos = tensor2(cos, [b, hd], device).reshape([b, 1, 1, hd]);
        let sin = tensor2(sin, [b, hd], device).reshape([b, 1, 1, hd]);
        let mask = attention_mask(&key_valid, 1, device);
        let x = model.text.embed(index1(next.iter().map(|&t| i64::from(t)).collect(), device)).reshape([
            b,
            1,
            tc.hidden_size,
        ]);
        let hidden = model.text.forward(x, cos, sin, mask, Some(&mut cache));
        logits = to_vec(model.text.logits(hidden.reshape([b, tc.hidden_size])));
    }
    Ok(out)
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
}
