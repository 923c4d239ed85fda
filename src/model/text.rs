//! The Qwen2 decoder with M-RoPE: GQA attention with q/k/v biases, RMSNorm, SwiGLU, tied or untied
//! LM head, and the preallocated KV cache of [`super::kv`] for generation.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::{silu, softmax};

use super::config::TextConfig;
use super::kv::KvCache;
use super::layers::{Adapters, Norm, apply_rotary, inv_freq, linear_rows_with};
use super::names::Builder;
use super::weights::WeightsError;

/// Self-attention of one layer.
#[derive(Module, Debug)]
pub struct Attention {
    /// Query projection (bias).
    pub q_proj: Linear,
    /// Key projection (bias).
    pub k_proj: Linear,
    /// Value projection (bias).
    pub v_proj: Linear,
    /// Output projection (no bias).
    pub o_proj: Linear,
    /// Query heads.
    #[module(skip)]
    pub n_heads: usize,
    /// Key/value heads.
    #[module(skip)]
    pub n_kv: usize,
}

/// One decoder layer.
#[derive(Module, Debug)]
pub struct DecoderLayer {
    /// Attention.
    pub self_attn: Attention,
    /// SwiGLU gate.
    pub gate_proj: Linear,
    /// SwiGLU up.
    pub up_proj: Linear,
    /// SwiGLU down.
    pub down_proj: Linear,
    /// Pre-attention RMSNorm.
    pub input_layernorm: Norm,
    /// Pre-MLP RMSNorm.
    pub post_attention_layernorm: Norm,
}

/// The decoder with embeddings and head.
#[derive(Module, Debug)]
pub struct TextModel {
    /// `[vocab, hidden]`.
    pub embed_tokens: Param<Tensor<2>>,
    /// Layers.
    pub layers: Vec<DecoderLayer>,
    /// Final RMSNorm.
    pub norm: Norm,
    /// Untied head (`[hidden, vocab]`); `None` when tied to the embeddings.
    pub lm_head: Option<Linear>,
    /// Configuration.
    #[module(skip)]
    pub cfg: TextConfig,
    /// How the linear layers use LoRA adapters.
    #[module(skip)]
    pub adapters: Adapters,
}

/// Host-side M-RoPE cos/sin `[batch, 1, len, head_dim]` from 3-axis positions `pos[axis][b][t]`.
pub fn mrope_cos_sin(cfg: &TextConfig, pos: &[i64], batch: usize, len: usize) -> (Vec<f32>, Vec<f32>) {
    let hd = cfg.head_dim();
    let inv = inv_freq(cfg.rope_theta, hd);
    // Frequency index -> axis: chunk k of mrope_section takes axis k % 3.
    let axis_of: Vec<usize> =
        cfg.mrope_section.iter().enumerate().flat_map(|(k, &n)| std::iter::repeat_n(k % 3, n)).collect();
    let (mut cos, mut sin) = (vec![0f32; batch * len * hd], vec![0f32; batch * len * hd]);
    for b in 0..batch {
        for t in 0..len {
            let base = (b * len + t) * hd;
            for (f, invf) in inv.iter().enumerate() {
                let p = pos[(axis_of[f] * batch + b) * len + t] as f32;
                let a = p * invf;
                let (s, c) = a.sin_cos();
                cos[base + f] = c;
                cos[base + f + hd / 2] = c;
                sin[base + f] = s;
                sin[base + f + hd / 2] = s;
            }
        }
    }
    (cos, sin)
}

impl TextModel {
    /// Builds the decoder under Hugging Face's names (`model.*`, `lm_head` unless tied): loaded
    /// from a checkpoint or drawn at random, by the same code.
    ///
    /// # Errors
    /// Missing or mis-shaped tensors, named.
    pub fn build(b: &mut Builder<'_>, cfg: &TextConfig) -> Result<Self, WeightsError> {
        let (h, kv, im) = (cfg.hidden_size, cfg.num_key_value_heads * cfg.head_dim(), cfg.intermediate_size);
        let eps = cfg.rms_norm_eps;
        // Residual-branch outputs start smaller in a fresh model (ignored when loading).
        let out_gain = 1.0 / (2.0 * cfg.num_hidden_layers as f64).sqrt();
        b.set_vision(false);
        let (layers, embed_tokens, norm) = b.scope("model", |b| -> Result<_, WeightsError> {
            let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
            for i in 0..cfg.num_hidden_layers {
                layers.push(b.scope(&format!("layers.{i}"), |b| -> Result<_, WeightsError> {
                    let self_attn = b.scope("self_attn", |b| -> Result<_, WeightsError> {
                        Ok(Attention {
                            q_proj: b.linear("q_proj", h, h, true, 1.0)?,
                            k_proj: b.linear("k_proj", h, kv, true, 1.0)?,
                            v_proj: b.linear("v_proj", h, kv, true, 1.0)?,
                            o_proj: b.linear("o_proj", h, h, false, out_gain)?,
                            n_heads: cfg.num_attention_heads,
                            n_kv: cfg.num_key_value_heads,
                        })
                    })?;
                    let (gate_proj, up_proj, down_proj) = b.scope("mlp", |b| -> Result<_, WeightsError> {
                        Ok((
                            b.linear("gate_proj", h, im, false, 1.0)?,
                            b.linear("up_proj", h, im, false, 1.0)?,
                            b.linear("down_proj", im, h, false, out_gain)?,
                        ))
                    })?;
                    Ok(DecoderLayer {
                        self_attn,
                        gate_proj,
                        up_proj,
                        down_proj,
                        input_layernorm: b.norm("input_layernorm", h, false, eps)?,
                        post_attention_layernorm: b.norm("post_attention_layernorm", h, false, eps)?,
                    })
                })?);
            }
            let embed = b.embedding("embed_tokens.weight", cfg.vocab_size, h, 0.1)?;
            Ok((layers, embed, b.norm("norm", h, false, eps)?))
        })?;
        let lm_head =
            if cfg.tie_word_embeddings { None } else { Some(b.linear("lm_head", h, cfg.vocab_size, false, 1.0)?) };
        Ok(Self { embed_tokens, layers, norm, lm_head, cfg: cfg.clone(), adapters: Adapters::default() })
    }

    /// Token embeddings `[n, hidden]` for ids.
    pub fn embed(&self, ids: Tensor<1, Int>) -> Tensor<2> {
        super::precision::widened(self.embed_tokens.val().select(0, ids))
    }

    /// Runs the layers on `x` `[batch, len, hidden]` and returns the final-norm hidden states.
    /// With a cache, keys/values are written at `cache.len..cache.len + len`; attention covers the new
    /// positions in the prefill and every cache slot afterwards. `mask` is the additive bias
    /// `[batch, 1, len, keys]` ([`super::kv::causal_bias`], [`super::kv::decode_bias`]).
    pub fn forward(
        &self,
        mut x: Tensor<3>,
        cos: Tensor<4>,
        sin: Tensor<4>,
        mask: Tensor<4>,
        mut cache: Option<&mut KvCache>,
    ) -> Tensor<3> {
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x, &cos, &sin, &mask, cache.as_deref_mut().map(|c| (c, i)), self.adapters);
        }
        if let Some(c) = cache {
            c.len += x.dims()[1];
        }
        self.norm.forward(x)
    }

    /// Logits `[.., vocab]` from final hidden states.
    pub fn logits<const D: usize>(&self, hidden: Tensor<D>) -> Tensor<D> {
        match &self.lm_head {
            Some(head) => linear_rows_with(head, hidden, self.adapters),
            None => {
                let dims = hidden.dims();
                let h = dims[D - 1];
                let rows: usize = dims[..D - 1].iter().product();
                let mut out_dims = dims;
                out_dims[D - 1] = self.cfg.vocab_size;
                super::precision::mm(hidden.reshape([rows, h]), self.embed_tokens.val().transpose()).reshape(out_dims)
            }
        }
    }
}

impl DecoderLayer {
    /// `x + attn(norm(x))`, then `+ mlp(norm(..))`: one layer of [`TextModel::forward`], alone for
    /// decoder-layer gradient checkpointing.
    pub fn forward(
        &self,
        x: Tensor<3>,
        cos: &Tensor<4>,
        sin: &Tensor<4>,
        mask: &Tensor<4>,
        cache: Option<(&mut KvCache, usize)>,
        ad: Adapters,
    ) -> Tensor<3> {
        let h = self.input_layernorm.forward(x.clone());
        let x = x + self.self_attn.forward(h, cos, sin, mask, cache, ad);
        let h = self.post_attention_layernorm.forward(x.clone());
        let act = silu(linear_rows_with(&self.gate_proj, h.clone(), ad)) * linear_rows_with(&self.up_proj, h, ad);
        x + linear_rows_with(&self.down_proj, act, ad)
    }
}

impl Attention {
    fn forward(
        &self,
        x: Tensor<3>,
        cos: &Tensor<4>,
        sin: &Tensor<4>,
        mask: &Tensor<4>,
        cache: Option<(&mut KvCache, usize)>,
        ad: Adapters,
    ) -> Tensor<3> {
        let [b, l, h] = x.dims();
        let hd = h / self.n_heads;
        let g = self.n_heads / self.n_kv;
        let q = linear_rows_with(&self.q_proj, x.clone(), ad).reshape([b, l, self.n_heads, hd]).swap_dims(1, 2);
        let k = linear_rows_with(&self.k_proj, x.clone(), ad).reshape([b, l, self.n_kv, hd]).swap_dims(1, 2);
        let v = linear_rows_with(&self.v_proj, x, ad).reshape([b, l, self.n_kv, hd]).swap_dims(1, 2);
        let q = apply_rotary(q, cos.clone(), sin.clone());
        let k = apply_rotary(k, cos.clone(), sin.clone());
        let (k, v) = match cache {
            Some((c, i)) => c.write(i, k, v),
            None => (k, v),
        };
        let kl = k.dims()[2];
        // GQA without copying K/V: query heads j = kv * g + gi share kv head `kv`.
        let q = q.reshape([b, self.n_kv, g * l, hd]);
        let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar((hd as f64).powf(-0.5)).reshape([b, self.n_kv, g, l, kl]);
        let probs = softmax(scores + mask.clone().unsqueeze_dim::<5>(1), 4).reshape([b, self.n_kv, g * l, kl]);
        let out = probs.matmul(v).reshape([b, self.n_heads, l, hd]).swap_dims(1, 2).reshape([b, l, h]);
        linear_rows_with(&self.o_proj, out, ad)
    }
}
