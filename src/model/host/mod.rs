//! The decoder's CPU generation path: the text model's weights copied once per generation into
//! host buffers (q|k|v and gate|up fused), then prefill and KV-cached decoding with gemm products
//! and fused loops. At decode batch sizes burn's per-operation dispatch on the CPU costs more than
//! the arithmetic; this path computes the same function (equal to float rounding: the tests compare
//! it with the burn path) and is what `generate` uses on the `flex` device.

pub mod kernels;

use burn::nn::Linear;

use super::config::TextConfig;
use super::layers::{Norm, to_vec};
use super::text::TextModel;
use kernels::{AttnShape, Mat, attention, matmul, rms_norm, rotary, swiglu};

struct Layer {
    ln1: Vec<f32>,
    ln2: Vec<f32>,
    /// `[hidden, hidden + 2·kv]`: q, k and v projections side by side.
    wqkv: Vec<f32>,
    bqkv: Vec<f32>,
    /// `[hidden, hidden]`.
    wo: Vec<f32>,
    /// `[hidden, 2·intermediate]`: gate and up side by side.
    wgu: Vec<f32>,
    /// `[intermediate, hidden]`.
    wd: Vec<f32>,
}

/// Host copy of a text decoder, ready to generate.
pub struct HostDecoder {
    cfg: TextConfig,
    layers: Vec<Layer>,
    norm: Vec<f32>,
    /// `[vocab, hidden]`.
    embed: Vec<f32>,
    /// Untied head `[hidden, vocab]`; `None` = the transposed embeddings.
    head: Option<Vec<f32>>,
}

/// Per-layer key/value cache `[batch, kv_heads, capacity, head_dim]` on the host.
pub struct HostCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    /// Positions filled.
    pub len: usize,
    capacity: usize,
    batch: usize,
    /// Products and attention may use every core (false when several caches run side by side).
    parallel: bool,
}

/// Columns of several row-major `[rows, cols_i]` matrices side by side: `[rows, Σ cols_i]`.
fn side_by_side(parts: &[(Vec<f32>, usize)], rows: usize) -> Vec<f32> {
    let width: usize = parts.iter().map(|p| p.1).sum();
    let mut out = Vec::with_capacity(rows * width);
    for r in 0..rows {
        for (data, cols) in parts {
            out.extend_from_slice(&data[r * cols..(r + 1) * cols]);
        }
    }
    out
}

/// A layer's weight as the host computes with it, in f32: LoRA adapters merged, or the frozen base
/// alone when the model's adapters are off.
fn weight_of(l: &Linear, adapters_off: bool) -> (Vec<f32>, usize) {
    let w = crate::model::layers::dense_weight(l, adapters_off);
    let cols = w.dims()[1];
    (to_vec(w), cols)
}

fn bias(l: &Linear, n: usize) -> Vec<f32> {
    l.bias.as_ref().map_or_else(|| vec![0.0; n], |b| to_vec(b.val()))
}

fn norm_weight(n: &Norm) -> Vec<f32> {
    to_vec(n.weight.val())
}

impl HostDecoder {
    /// Copies the decoder's weights to the host.
    pub fn new(text: &TextModel) -> Self {
        let cfg = text.cfg.clone();
        let h = cfg.hidden_size;
        let kv = cfg.num_key_value_heads * cfg.head_dim();
        let off = text.adapters.off;
        let weight = |l: &Linear| weight_of(l, off);
        let layers = text
            .layers
            .iter()
            .map(|l| {
                let a = &l.self_attn;
                let (q, k, v) = (weight(&a.q_proj), weight(&a.k_proj), weight(&a.v_proj));
                let mut bqkv = bias(&a.q_proj, h);
                bqkv.extend(bias(&a.k_proj, kv));
                bqkv.extend(bias(&a.v_proj, kv));
                Layer {
                    ln1: norm_weight(&l.input_layernorm),
                    ln2: norm_weight(&l.post_attention_layernorm),
                    wqkv: side_by_side(&[q, k, v], h),
                    bqkv,
                    wo: weight(&a.o_proj).0,
                    wgu: side_by_side(&[weight(&l.gate_proj), weight(&l.up_proj)], h),
                    wd: weight(&l.down_proj).0,
                }
            })
            .collect();
        Self {
            layers,
            norm: norm_weight(&text.norm),
            embed: to_vec(text.embed_tokens.val()),
            head: text.lm_head.as_ref().map(|l| weight(l).0),
            cfg,
        }
    }

    /// The decoder's configuration.
    pub fn config(&self) -> &TextConfig {
        &self.cfg
    }

    /// An empty cache for `batch` rows and up to `capacity` positions; `parallel`: the forward
    /// passes using it may spread single products over every core.
    pub fn cache(&self, batch: usize, capacity: usize, parallel: bool) -> HostCache {
        let n = batch * self.cfg.num_key_value_heads * capacity * self.cfg.head_dim();
        let layers = self.cfg.num_hidden_layers;
        HostCache { k: vec![vec![0.0; n]; layers], v: vec![vec![0.0; n]; layers], len: 0, capacity, batch, parallel }
    }

    /// Embeddings `[n, hidden]` of token ids (ids must be in the vocabulary).
    pub fn embed(&self, ids: &[u32]) -> Vec<f32> {
        let h = self.cfg.hidden_size;
        let mut out = Vec::with_capacity(ids.len() * h);
        for &t in ids {
            let row = (t as usize).min(self.cfg.vocab_size.saturating_sub(1));
            out.extend_from_slice(&self.embed[row * h..(row + 1) * h]);
        }
        out
    }

    /// Runs `len` new positions per row (`x`: `[batch, len, hidden]`, rotary `cos`/`sin`:
    /// `[batch, len, head_dim]`) through the layers, appending their keys/values to the cache, and
    /// returns the logits `[batch, vocab]` of each row's last new position.
    /// `key_valid[r]` covers every cached position plus the new ones.
    pub fn forward(
        &self,
        mut x: Vec<f32>,
        len: usize,
        cos: &[f32],
        sin: &[f32],
        key_valid: &[Vec<bool>],
        cache: &mut HostCache,
    ) -> Vec<f32> {
        let c = &self.cfg;
        let (b, h, hd) = (cache.batch, c.hidden_size, c.head_dim());
        let (nh, nkv, inter) = (c.num_attention_heads, c.num_key_value_heads, c.intermediate_size);
        let (rows, width) = (b * len, h + 2 * nkv * hd);
        let eps = c.rms_norm_eps as f32;
        let shape = AttnShape {
            batch: b,
            len,
            heads: nh,
            kv_heads: nkv,
            head_dim: hd,
            past: cache.len,
            capacity: cache.capacity,
            parallel: cache.parallel,
        };
        let par = cache.parallel;
        let mut normed = vec![0f32; rows * h];
        let mut qkv = vec![0f32; rows * width];
        let mut attn = vec![0f32; rows * h];
        let mut gate_up = vec![0f32; rows * 2 * inter];
        let mut act = vec![0f32; rows * inter];
        for (i, l) in self.layers.iter().enumerate() {
            rms_norm(&mut normed, &x, &l.ln1, eps);
            for row in qkv.chunks_exact_mut(width) {
                row.copy_from_slice(&l.bqkv);
            }
            matmul(&mut qkv, &normed, Mat::rows(&l.wqkv, width), (rows, h, width), true, par);
            for (row, (cs, sn)) in qkv.chunks_exact_mut(width).zip(cos.chunks_exact(hd).zip(sin.chunks_exact(hd))) {
                rotary(&mut row[..h + nkv * hd], cs, sn);
            }
            // Keys and values of the new positions into the cache.
            for r in 0..b {
                for t in 0..len {
                    let row = &qkv[(r * len + t) * width..][..width];
                    for kvh in 0..nkv {
                        let dst = ((r * nkv + kvh) * cache.capacity + cache.len + t) * hd;
                        cache.k[i][dst..dst + hd].copy_from_slice(&row[h + kvh * hd..][..hd]);
                        cache.v[i][dst..dst + hd].copy_from_slice(&row[h + (nkv + kvh) * hd..][..hd]);
                    }
                }
            }
            attention(&mut attn, &qkv, width, &cache.k[i], &cache.v[i], key_valid, shape);
            matmul(&mut x, &attn, Mat::rows(&l.wo, h), (rows, h, h), true, par);
            rms_norm(&mut normed, &x, &l.ln2, eps);
            matmul(&mut gate_up, &normed, Mat::rows(&l.wgu, 2 * inter), (rows, h, 2 * inter), false, par);
            swiglu(&mut act, &gate_up, inter);
            matmul(&mut x, &act, Mat::rows(&l.wd, h), (rows, inter, h), true, par);
        }
        cache.len += len;
        // Final norm and head for the last new position of each row only.
        let last: Vec<f32> = (0..b).flat_map(|r| x[((r + 1) * len - 1) * h..][..h].to_vec()).collect();
        let mut hidden = vec![0f32; b * h];
        rms_norm(&mut hidden, &last, &self.norm, eps);
        let vocab = c.vocab_size;
        let mut logits = vec![0f32; b * vocab];
        let head = match &self.head {
            Some(w) => Mat::rows(w, vocab),
            None => Mat::transposed(&self.embed, h),
        };
        matmul(&mut logits, &hidden, head, (b, h, vocab), false, par);
        logits
    }
}
