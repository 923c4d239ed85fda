//! Batched generation: left-padded prompts, one prefill then one token per step through the KV
//! cache, greedy or temperature / top-k / top-p sampling, per-sequence stop tokens, and the
//! log-probability of each generated token under `logits / T` (what GRPO needs).
//!
//! Two engines. The host decoder (the CPU path) samples on the host from each step's logits. The
//! burn engine (the GPU path) keeps everything on the device with fixed shapes: the prompt is
//! padded to a length bucket, the KV cache holds the bucket plus `max_new_tokens` from the start,
//! every decode step attends over all cache slots with a bias hiding the empty ones, and tokens are
//! sampled on the device; only the chosen ids and their log-probabilities come back, a few steps at
//! a time. So a generation compiles its decode kernels once, not once per token.

use burn::prelude::*;

use super::host::{HostCache, HostDecoder};
use super::kv::{KvCache, causal_bias, decode_bias, key_bias, slot_positions};
use super::layers::{tensor2, to_vec};
use super::shapes::ShapePolicy;
use super::text::mrope_cos_sin;
use super::vlm::{Batch, ModelError, Vlm};
use crate::rng::Rng;

pub use super::sampling::{DeviceSampler, Sampling, pick, pick_allowed};

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

impl Generated {
    fn new(rows: usize) -> Self {
        Self { tokens: vec![Vec::new(); rows], logprobs: vec![Vec::new(); rows], stopped: vec![false; rows] }
    }

    /// Appends `tok` to row `r` unless it stopped already; returns true if the row is (now) done.
    fn push(&mut self, r: usize, tok: u32, lp: f32, stop_ids: &[u32]) -> bool {
        if !self.stopped[r] {
            self.tokens[r].push(tok);
            self.logprobs[r].push(lp);
            self.stopped[r] = stop_ids.contains(&tok);
        }
        self.stopped[r]
    }
}

/// Which implementation runs the decoder during generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// burn tensors on the given device, sampling on the device (the wgpu path).
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

/// Steps between two read-backs of sampled ids on the burn engine: the device runs ahead meanwhile,
/// and at most this many steps are computed after every row stopped.
pub const READBACK_STEPS: usize = 8;

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
    policy: ShapePolicy,
    rows: Option<usize>,
    step_limit: Option<usize>,
    observer: Option<&'a (dyn Fn(usize) -> bool + Sync)>,
}

impl<'a> Generator<'a> {
    /// The engine [`Engine::for_device`] picks.
    pub fn new(model: &'a Vlm, device: &Device) -> Self {
        Self::with_engine(Engine::for_device(device), model, device)
    }

    /// A chosen engine (shapes as the device wants them).
    pub fn with_engine(engine: Engine, model: &'a Vlm, device: &Device) -> Self {
        let host = (engine == Engine::Host).then(|| HostDecoder::new(&model.text));
        Self {
            model,
            device: device.clone(),
            host,
            policy: ShapePolicy::for_device(device),
            rows: None,
            step_limit: None,
            observer: None,
        }
    }

    /// Overrides the shape policy of the burn engine (tests compare bucketed and exact shapes on the CPU).
    pub fn with_policy(mut self, policy: ShapePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Pads every batch to `rows` rows on the burn engine, so a short last batch reuses the kernels.
    pub fn with_rows(mut self, rows: usize) -> Self {
        self.rows = Some(rows);
        self
    }

    /// Stops after `steps` new tokens while sizing everything for `max_new_tokens` (kernel preparation:
    /// the shapes of a full generation at the cost of a few steps).
    pub fn with_step_limit(mut self, steps: usize) -> Self {
        self.step_limit = Some(steps.max(1));
        self
    }

    /// Calls `observer(tokens so far)` after every new token: progress of long generations, and
    /// their cancellation (when it returns false generation ends early, its output incomplete:
    /// callers discard it).
    pub fn with_observer(mut self, observer: &'a (dyn Fn(usize) -> bool + Sync)) -> Self {
        self.observer = Some(observer);
        self
    }

    /// False when the observer asks to stop after `tokens` new tokens.
    fn go_on(&self, tokens: usize) -> bool {
        self.observer.is_none_or(|o| o(tokens))
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
        self.generate_seeded(batch, stop_ids, s, pad_id, &[])
    }

    /// [`Generator::generate`] with one sampling seed per row (instead of `s.seed` for the batch),
    /// so a row's samples do not depend on the rows batched with it (pass counts after a resume).
    /// On the CPU each row draws from its own stream; the GPU's device generator is seeded from all
    /// the rows' seeds, so there the same rows batched together give the same samples.
    ///
    /// # Errors
    /// As [`generate`].
    pub fn generate_seeded(
        &self,
        batch: &Batch,
        stop_ids: &[u32],
        s: &Sampling,
        pad_id: u32,
        row_seeds: &[u64],
    ) -> Result<Generated, ModelError> {
        if s.max_new_tokens == 0 {
            return Ok(Generated::new(batch.batch));
        }
        if !row_seeds.is_empty() && row_seeds.len() != batch.batch {
            return Err(ModelError::Invalid(format!("{} row seeds for {} rows", row_seeds.len(), batch.batch)));
        }
        super::budget::check_sampling(s).map_err(ModelError::Invalid)?;
        let rows = self.rows.unwrap_or(0).max(batch.batch);
        super::budget::check_generation(
            &self.model.config.text,
            rows,
            self.policy.len(batch.seq),
            s.max_new_tokens,
            &self.device,
        )
        .map_err(ModelError::Invalid)?;
        match &self.host {
            Some(h) => self.generate_host(h, batch, stop_ids, s, pad_id, row_seeds),
            None => {
                let seed = row_seeds.iter().fold(s.seed, |acc, &x| Rng::derive(acc, x).next_u64());
                self.generate_burn(batch, stop_ids, &Sampling { seed, ..s.clone() }, pad_id)
            }
        }
    }

    /// Vision placeholders are never generated: a completion holding one could not be fed back to
    /// the model (it would ask for an image that is not there), which breaks GRPO's training pass.
    fn suppressed(&self) -> Vec<usize> {
        let c = &self.model.config;
        [c.image_token_id, c.video_token_id, c.vision_start_token_id, c.vision_end_token_id]
            .into_iter()
            .map(|t| t as usize)
            .filter(|&t| t < c.text.vocab_size)
            .collect()
    }

    fn generate_host(
        &self,
        host: &HostDecoder,
        batch: &Batch,
        stop_ids: &[u32],
        s: &Sampling,
        pad_id: u32,
        row_seeds: &[u64],
    ) -> Result<Generated, ModelError> {
        let (model, device) = (self.model, &self.device);
        let tc = &model.config.text;
        let (b, seq) = (batch.batch, batch.seq);
        let (emb, pos) = model.embed(batch, device)?;
        let mut run = HostRun::new(host, b, seq + s.max_new_tokens);
        let mut key_valid = batch.key_valid();
        let (cos, sin) = mrope_cos_sin(tc, &pos.ids, b, seq);
        let mut logits = run.run(to_vec(emb), seq, &cos, &sin, &key_valid);
        let vocab = tc.vocab_size;
        let mut n_valid: Vec<i64> = key_valid.iter().map(|r| r.iter().filter(|&&v| v).count() as i64).collect();
        let mut out = Generated::new(b);
        // One stream for the batch, or one per row.
        let mut rngs: Vec<Rng> = if row_seeds.is_empty() {
            vec![Rng::new(s.seed)]
        } else {
            row_seeds.iter().map(|&x| Rng::new(x)).collect()
        };
        let suppressed = self.suppressed();
        let steps = s.max_new_tokens.min(self.step_limit.unwrap_or(usize::MAX));
        for step in 0..steps {
            let mut next = Vec::with_capacity(b);
            for r in 0..b {
                if out.stopped[r] {
                    next.push(pad_id);
                    continue;
                }
                let rng = if rngs.len() == 1 { &mut rngs[0] } else { &mut rngs[r] };
                let (tok, lp) = pick_allowed(&logits[r * vocab..(r + 1) * vocab], &suppressed, s, rng);
                out.push(r, tok, lp, stop_ids);
                next.push(tok);
            }
            if out.stopped.iter().all(|&x| x) || step + 1 == steps || !self.go_on(step + 1) {
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
            logits = run.run(host.embed(&next), 1, &cos, &sin, &key_valid);
        }
        Ok(out)
    }

    /// The batch as the burn engine runs it: prompt columns padded on the left to a length bucket,
    /// rows padded to the configured count.
    fn shaped(&self, batch: &Batch, pad_id: u32) -> Batch {
        let len = self.policy.len(batch.seq);
        let mut out = batch.clone();
        if len > batch.seq {
            let extra = len - batch.seq;
            out.ids.clear();
            out.mask.clear();
            for r in 0..batch.batch {
                out.ids.extend(std::iter::repeat_n(pad_id, extra));
                out.ids.extend_from_slice(&batch.ids[r * batch.seq..(r + 1) * batch.seq]);
                out.mask.extend(std::iter::repeat_n(0u8, extra));
                out.mask.extend_from_slice(&batch.mask[r * batch.seq..(r + 1) * batch.seq]);
            }
            out.seq = len;
        }
        match self.rows {
            Some(rows) if self.policy.is_bucketed() && rows > out.batch => {
                let extra = rows - out.batch;
                out.with_padding_rows(extra, pad_id)
            }
            _ => out,
        }
    }

    fn generate_burn(
        &self,
        batch: &Batch,
        stop_ids: &[u32],
        s: &Sampling,
        pad_id: u32,
    ) -> Result<Generated, ModelError> {
        let (model, dev) = (self.model, &self.device);
        let tc = &model.config.text;
        let real_rows = batch.batch;
        let batch = self.shaped(batch, pad_id);
        let (b, p, hd) = (batch.batch, batch.seq, tc.head_dim());
        let cap = p + s.max_new_tokens;
        let (emb, pos) = model.embed_shaped(&batch, self.policy, dev)?;
        let mut cache = KvCache::new(tc, b, cap, dev);
        let mut key_valid = batch.key_valid();
        let (cos, sin) = mrope_cos_sin(tc, &pos.ids, b, p);
        let rope = |v: Vec<f32>, len: usize| tensor2(v, [b * len, hd], dev).reshape([b, 1, len, hd]);
        let bias = causal_bias(key_bias(&key_valid, dev), p);
        let hidden = model.text.forward(emb, rope(cos, p), rope(sin, p), bias, Some(&mut cache));
        let mut logits = model.text.logits(hidden.narrow(1, p - 1, 1).reshape([b, tc.hidden_size]));
        // Every generated slot is visible once written; decode_bias hides the ones not written yet.
        for row in &mut key_valid {
            row.resize(cap, true);
        }
        let prompt_bias = key_bias(&key_valid, dev);
        let slots = slot_positions(cap, dev);
        // Rotary tables of every new position (they do not depend on the sampled tokens).
        let n_valid: Vec<i64> = batch.key_valid().iter().map(|r| r.iter().filter(|&&v| v).count() as i64).collect();
        let mut positions = vec![0i64; 3 * b * s.max_new_tokens];
        for step in 0..s.max_new_tokens {
            for r in 0..b {
                for axis in 0..3 {
                    positions[(axis * b + r) * s.max_new_tokens + step] = n_valid[r] + pos.deltas[r] + step as i64;
                }
            }
        }
        let (cos, sin) = mrope_cos_sin(tc, &positions, b, s.max_new_tokens);
        let (cos, sin) = (rope(cos, s.max_new_tokens), rope(sin, s.max_new_tokens));
        let sampler = DeviceSampler::new(tc.vocab_size, &self.suppressed(), s, dev);
        if !s.greedy {
            dev.seed(s.seed);
        }
        let mut out = Generated::new(real_rows);
        let mut pending: Vec<(Tensor<1, Int>, Tensor<1>)> = Vec::with_capacity(READBACK_STEPS);
        let steps = s.max_new_tokens.min(self.step_limit.unwrap_or(usize::MAX));
        for step in 0..steps {
            let (tok, lp) = sampler.pick(logits);
            pending.push((tok.clone(), lp));
            let last = step + 1 == steps;
            if (pending.len() == READBACK_STEPS || last) && read_back(&mut pending, &mut out, stop_ids) {
                break;
            }
            if last || !self.go_on(step + 1) {
                break;
            }
            let x = model.text.embed(tok).reshape([b, 1, tc.hidden_size]);
            let (c, sn) = (cos.clone().narrow(2, step, 1), sin.clone().narrow(2, step, 1));
            let bias = decode_bias(&prompt_bias, &slots, p + step);
            let hidden = model.text.forward(x, c, sn, bias, Some(&mut cache));
            logits = model.text.logits(hidden.reshape([b, tc.hidden_size]));
        }
        Ok(out)
    }
}

/// Reads the pending steps' ids and log-probabilities back (one transfer) into `out`; true when
/// every real row has stopped.
fn read_back(pending: &mut Vec<(Tensor<1, Int>, Tensor<1>)>, out: &mut Generated, stop_ids: &[u32]) -> bool {
    let steps = pending.len();
    let (toks, lps): (Vec<_>, Vec<_>) = pending.drain(..).unzip();
    let b = toks.first().map_or(0, |t| t.dims()[0]);
    let toks: Vec<i64> = Tensor::cat(toks, 0).into_data().convert::<i64>().try_into_vec::<i64>().unwrap_or_default();
    let lps = to_vec(Tensor::cat(lps, 0));
    let rows = out.stopped.len();
    for step in 0..steps {
        for r in 0..rows {
            let i = step * b + r;
            let tok = toks.get(i).map_or(0, |&t| t.max(0) as u32);
            out.push(r, tok, lps.get(i).copied().unwrap_or(f32::NAN), stop_ids);
        }
    }
    out.stopped.iter().all(|&x| x)
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

    /// Runs `len` new positions (`x`: `[batch, len, hidden]`) with host rotary tables
    /// `[batch, len, head_dim]`; returns the logits `[batch, vocab]` of each row's last new position.
    fn run(&mut self, x: Vec<f32>, len: usize, cos: &[f32], sin: &[f32], key_valid: &[Vec<bool>]) -> Vec<f32> {
        use rayon::prelude::*;
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
