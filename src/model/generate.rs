//! Batched generation: left-padded prompts, one prefill then one token per step through the KV
//! cache, greedy or temperature / top-k / top-p sampling, per-sequence stop tokens, and the
//! log-probability of each generated token under `logits / T` (what GRPO needs). The decoder runs in
//! burn (wgpu) or in the host decoder (CPU); the sampling loop is shared.

use burn::prelude::*;

use super::host::{HostCache, HostDecoder};
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

/// Which implementation runs the decoder during generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// burn tensors on the given device (the wgpu path).
    Burn,
    /// The host decoder ([`crate::model::host`]): the CPU path.
    Host,
}

impl Engine {
    /// The host decoder on burn's CPU device, burn otherwise.
    pub fn for_device(device: &Device) -> Self {
        if *device == Device::flex() { Self::Host } else { Self::Burn }
    }
}

/// New positions for one decoder call: embeddings for the prefill, token ids afterwards.
enum Input<'a> {
    Embeddings(Box<Tensor<3>>),
    Tokens(&'a [u32]),
}

/// One decoder call: runs `len` new positions with host rotary tables `[batch, len, head_dim]` and
/// returns the logits `[batch, vocab]` of each row's last new position.
trait Decoder {
    fn run(&mut self, x: Input<'_>, len: usize, cos: Vec<f32>, sin: Vec<f32>, key_valid: &[Vec<bool>]) -> Vec<f32>;
}

struct BurnDecoder<'a> {
    model: &'a Vlm,
    cache: KvCache,
    device: Device,
}

impl Decoder for BurnDecoder<'_> {
    fn run(&mut self, x: Input<'_>, len: usize, cos: Vec<f32>, sin: Vec<f32>, key_valid: &[Vec<bool>]) -> Vec<f32> {
        let (tc, dev) = (&self.model.config.text, &self.device);
        let (b, hd) = (key_valid.len(), tc.head_dim());
        let x = match x {
            Input::Embeddings(e) => *e,
            Input::Tokens(t) => {
                let ids = index1(t.iter().map(|&t| i64::from(t)).collect(), dev);
                self.model.text.embed(ids).reshape([b, len, tc.hidden_size])
            }
        };
        let cos = tensor2(cos, [b * len, hd], dev).reshape([b, 1, len, hd]);
        let sin = tensor2(sin, [b * len, hd], dev).reshape([b, 1, len, hd]);
        let mask = attention_mask(key_valid, len, dev);
        let hidden = self.model.text.forward(x, cos, sin, mask, Some(&mut self.cache));
        to_vec(self.model.text.logits(hidden.narrow(1, len - 1, 1).reshape([b, tc.hidden_size])))
    }
}

/// The host decoder over row shards: with several cores, each shard (a contiguous block of rows with
/// its own cache) runs the whole forward pass on one core; decode-sized products are too small to
/// split well inside one product.
struct HostRun<'a> {
    decoder: &'a HostDecoder,
    shards: Vec<(std::ops::Range<usize>, HostCache)>,
}

impl<'a> HostRun<'a> {
    fn new(decoder: &'a HostDecoder, batch: usize, capacity: usize) -> Self {
        let n = rayon::current_num_threads().clamp(1, batch.max(1));
        let per = batch.div_ceil(n);
        let shards = (0..batch)
            .step_by(per.max(1))
            .map(|start| {
                let rows = start..(start + per).min(batch);
                let cache = decoder.cache(rows.len(), capacity, n == 1);
                (rows, cache)
            })
            .collect();
        Self { decoder, shards }
    }
}

impl Decoder for HostRun<'_> {
    fn run(&mut self, x: Input<'_>, len: usize, cos: Vec<f32>, sin: Vec<f32>, key_valid: &[Vec<bool>]) -> Vec<f32> {
        use rayon::prelude::*;
        let x = match x {
            Input::Embeddings(e) => to_vec(*e),
            Input::Tokens(t) => self.decoder.embed(t),
        };
        let dec = self.decoder;
        let (h, hd) = (dec.config().hidden_size * len, dec.config().head_dim() * len);
        let logits: Vec<Vec<f32>> = self
            .shards
            .par_iter_mut()
            .map(|(rows, cache)| {
                let xs = x[rows.start * h..rows.end * h].to_vec();
                let (cs, sn) = (&cos[rows.start * hd..rows.end * hd], &sin[rows.start * hd..rows.end * hd]);
                dec.forward(xs, len, cs, sn, &key_valid[rows.clone()], cache)
            })
            .collect();
        logits.concat()
    }
}

/// Generates for every row of `batch` until each hits a stop id or `max_new_tokens`, with the
/// engine [`Engine::for_device`] picks (one batch; [`Generator`] for many).
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
    Generator::new(model, device).generate(batch, stop_ids, s, pad_id)
}

/// A model ready to generate many batches (evaluation, pass counts): on the CPU the host decoder's
/// copy of the weights is made once, not per batch. The image tower and embeddings always run in burn.
pub struct Generator<'a> {
    model: &'a Vlm,
    device: Device,
    host: Option<HostDecoder>,
}

impl<'a> Generator<'a> {
    /// The engine [`Engine::for_device`] picks.
    pub fn new(model: &'a Vlm, device: &Device) -> Self {
        Self::with_engine(Engine::for_device(device), model, device)
    }

    /// A chosen engine.
    pub fn with_engine(engine: Engine, model: &'a Vlm, device: &Device) -> Self {
        let host = (engine == Engine::Host).then(|| HostDecoder::new(&model.text));
        Self { model, device: device.clone(), host }
    }

    /// Generates for every row of `batch` (see [`generate`]).
    ///
    /// # Errors
    /// As [`generate`].
    pub fn generate(
        &self,
        batch: &Batch,
        stop_ids: &[u32],
        s: &Sampling,
        pad_id: u32,
    ) -> Result<Generated, ModelError> {
        let (model, device) = (self.model, &self.device);
        let tc = &model.config.text;
        let (b, seq) = (batch.batch, batch.seq);
        let (emb, pos) = model.embed(batch, device)?;
        let capacity = seq + s.max_new_tokens;
        let mut decoder: Box<dyn Decoder + '_> = match &self.host {
            None => {
                Box::new(BurnDecoder { model, cache: KvCache::new(tc, b, capacity, device), device: device.clone() })
            }
            Some(h) => Box::new(HostRun::new(h, b, capacity)),
        };
        let mut key_valid = batch.key_valid();
        let (cos, sin) = mrope_cos_sin(tc, &pos.ids, b, seq);
        let mut logits = decoder.run(Input::Embeddings(Box::new(emb)), seq, cos, sin, &key_valid);
        let vocab = tc.vocab_size;
        let mut n_valid: Vec<i64> = key_valid.iter().map(|r| r.iter().filter(|&&v| v).count() as i64).collect();
        let mut out = Generated { tokens: vec![Vec::new(); b], logprobs: vec![Vec::new(); b], stopped: vec![false; b] };
        let mut rng = Rng::new(s.seed);
        // Vision placeholders are never generated: a completion holding one could not be fed back to
        // the model (it would ask for an image that is not there), which breaks GRPO's training pass.
        let c = &model.config;
        let suppressed: Vec<usize> =
            [c.image_token_id, c.video_token_id, c.vision_start_token_id, c.vision_end_token_id]
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
            logits = decoder.run(Input::Tokens(&next), 1, cos, sin, &key_valid);
        }
        Ok(out)
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
}
