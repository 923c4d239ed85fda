//! The vision towers: Qwen2-VL (LayerNorm, QuickGELU MLP, full attention per image) and Qwen2.5-VL
//! (RMSNorm, SwiGLU with biases, window attention except in `fullatt_block_indexes`), both with
//! 2-D rotary embeddings, non-causal block-diagonal attention and the 2x2 PatchMerger.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::{gelu, sigmoid, silu};

use super::config::{Arch, VisionConfig};
use super::layers::{Adapters, Norm, apply_rotary, index1, inv_freq, linear_rows_with, tensor2};
use super::names::Builder;
use super::positions::{vision_positions, window_index};
use super::preprocess::PixelValues;
use super::segments::segmented_attention;
use super::shapes::ShapePolicy;
use super::weights::WeightsError;

/// One ViT block.
#[derive(Module, Debug)]
pub struct VisionBlock {
    /// Pre-attention norm.
    pub norm1: Norm,
    /// Pre-MLP norm.
    pub norm2: Norm,
    /// Fused q/k/v projection.
    pub qkv: Linear,
    /// Attention output projection.
    pub proj: Linear,
    /// Qwen2-VL MLP: fc1 -> QuickGELU -> fc2.
    pub fc1: Option<Linear>,
    /// See `fc1`.
    pub fc2: Option<Linear>,
    /// Qwen2.5-VL MLP: down(silu(gate(x)) * up(x)).
    pub gate_proj: Option<Linear>,
    /// See `gate_proj`.
    pub up_proj: Option<Linear>,
    /// See `gate_proj`.
    pub down_proj: Option<Linear>,
    /// Heads.
    #[module(skip)]
    pub heads: usize,
}

/// The tower: patch embedding, blocks, merger.
#[derive(Module, Debug)]
pub struct VisionTower {
    /// Conv3d weight flattened to a `[patch_len, width]` matrix (kernel = stride, no bias).
    pub patch_embed: Param<Tensor<2>>,
    /// ViT blocks.
    pub blocks: Vec<VisionBlock>,
    /// Merger norm.
    pub ln_q: Norm,
    /// Merger `Linear(4E, 4E)`.
    pub mlp0: Linear,
    /// Merger `Linear(4E, H)`.
    pub mlp2: Linear,
    /// Configuration.
    #[module(skip)]
    pub cfg: VisionConfig,
    /// Family.
    #[module(skip)]
    pub arch: Arch,
    /// How the linear layers use LoRA adapters.
    #[module(skip)]
    pub adapters: Adapters,
}

impl VisionTower {
    /// Builds the tower under Hugging Face's names (`visual.*`): loaded from a checkpoint or drawn
    /// at random, by the same code.
    ///
    /// # Errors
    /// Missing or mis-shaped tensors, named.
    pub fn build(b: &mut Builder<'_>, cfg: &VisionConfig, arch: Arch) -> Result<Self, WeightsError> {
        let e = cfg.width;
        let qwen25 = arch == Arch::Qwen25Vl;
        let m2 = cfg.spatial_merge_size * cfg.spatial_merge_size * e;
        b.set_vision(true);
        let tower = b.scope("visual", |b| -> Result<_, WeightsError> {
            let mut blocks = Vec::with_capacity(cfg.depth);
            for i in 0..cfg.depth {
                blocks.push(b.scope(&format!("blocks.{i}"), |b| -> Result<_, WeightsError> {
                    let (qkv, proj) = b.scope("attn", |b| -> Result<_, WeightsError> {
                        Ok((b.linear("qkv", e, 3 * e, true, 1.0)?, b.linear("proj", e, e, true, 0.5)?))
                    })?;
                    let mlp = b.scope("mlp", |b| -> Result<_, WeightsError> {
                        Ok(if qwen25 {
                            (
                                None,
                                None,
                                Some(b.linear("gate_proj", e, cfg.mlp_hidden, true, 1.0)?),
                                Some(b.linear("up_proj", e, cfg.mlp_hidden, true, 1.0)?),
                                Some(b.linear("down_proj", cfg.mlp_hidden, e, true, 0.5)?),
                            )
                        } else {
                            (
                                Some(b.linear("fc1", e, cfg.mlp_hidden, true, 1.0)?),
                                Some(b.linear("fc2", cfg.mlp_hidden, e, true, 0.5)?),
                                None,
                                None,
                                None,
                            )
                        })
                    })?;
                    let (fc1, fc2, gate_proj, up_proj, down_proj) = mlp;
                    Ok(VisionBlock {
                        norm1: b.norm("norm1", e, !qwen25, 1e-6)?,
                        norm2: b.norm("norm2", e, !qwen25, 1e-6)?,
                        qkv,
                        proj,
                        fc1,
                        fc2,
                        gate_proj,
                        up_proj,
                        down_proj,
                        heads: cfg.num_heads,
                    })
                })?);
            }
            let kernel = [e, cfg.in_channels, cfg.temporal_patch_size, cfg.patch_size, cfg.patch_size];
            let patch_embed = b.conv_as_matrix("patch_embed.proj.weight", kernel)?;
            let (ln_q, mlp0, mlp2) = b.scope("merger", |b| -> Result<_, WeightsError> {
                Ok((
                    b.norm("ln_q", e, !qwen25, 1e-6)?,
                    b.linear("mlp.0", m2, m2, true, 1.0)?,
                    b.linear("mlp.2", m2, cfg.out_hidden, true, 1.0)?,
                ))
            })?;
            Ok(Self { patch_embed, blocks, ln_q, mlp0, mlp2, cfg: cfg.clone(), adapters: Adapters::default(), arch })
        });
        b.set_vision(false);
        tower
    }

    /// Image features for the images, in order (raster order per image): `[rows, text hidden]`
    /// where the first `sum of tokens` rows are real. Under the bucketed shape policy (GPU) the
    /// packed patches are padded to a bucket and `rows` is that bucket over the merge unit; the
    /// padding never reaches a real row (see [`segmented_attention`]).
    pub fn forward(&self, images: &[PixelValues], policy: ShapePolicy, device: &Device) -> Tensor<2> {
        let c = &self.cfg;
        let grids: Vec<[usize; 3]> = images.iter().map(|p| p.grid_thw).collect();
        let n: usize = images.iter().map(PixelValues::n_patches).sum();
        let rows = policy.len(n);
        let mut data = Vec::with_capacity(rows * c.patch_len());
        for p in images {
            data.extend_from_slice(&p.data);
        }
        data.resize(rows * c.patch_len(), 0.0);
        let pv = tensor2(data, [rows, c.patch_len()], device);
        let mut x = super::precision::mm(pv, self.patch_embed.val());
        let hd = c.width / c.num_heads;
        let (mut cos, mut sin) = vision_rotary(&grids, c.spatial_merge_size, hd, c.rope_theta);
        cos.resize(rows * hd, 1.0);
        sin.resize(rows * hd, 0.0);
        let (mut cos, mut sin) = (tensor2(cos, [rows, hd], device), tensor2(sin, [rows, hd], device));
        let unit = c.spatial_merge_size * c.spatial_merge_size;
        let mut full: Vec<(usize, usize)> = Vec::new();
        let mut start = 0;
        for &[t, h, w] in &grids {
            for _ in 0..t {
                full.push((start, h * w));
                start += h * w;
            }
        }
        let mut windows = full.clone();
        let mut unpermute = None;
        if self.arch == Arch::Qwen25Vl {
            let (widx, cu) = window_index(&grids, c.spatial_merge_size, c.window_size, c.patch_size);
            // Padding rows (and units) stay where they are.
            let units = rows / unit;
            let order: Vec<usize> = widx.iter().copied().chain(widx.len()..units).collect();
            let rows_idx: Vec<i64> =
                order.iter().flat_map(|&u| (0..unit).map(move |k| (u * unit + k) as i64)).collect();
            let rows_idx = index1(rows_idx, device);
            x = x.select(0, rows_idx.clone());
            cos = cos.select(0, rows_idx.clone());
            sin = sin.select(0, rows_idx);
            windows = cu.windows(2).map(|w| (w[0], w[1] - w[0])).collect();
            let mut inv = vec![0i64; units];
            for (pos, &u) in order.iter().enumerate() {
                inv[u] = pos as i64;
            }
            unpermute = Some(index1(inv, device));
        }
        let (cos, sin) = (cos.unsqueeze_dim::<3>(0), sin.unsqueeze_dim::<3>(0));
        for (i, blk) in self.blocks.iter().enumerate() {
            let segs =
                if self.arch == Arch::Qwen25Vl && !c.fullatt_block_indexes.contains(&i) { &windows } else { &full };
            x = blk.forward(x, (&cos, &sin), segs, policy, device, self.adapters);
        }
        let h = self.ln_q.forward(x).reshape([rows / unit, unit * c.width]);
        let ad = self.adapters;
        let h = linear_rows_with(&self.mlp2, gelu(linear_rows_with(&self.mlp0, h, ad)), ad);
        match unpermute {
            Some(inv) => h.select(0, inv),
            None => h,
        }
    }
}

/// Host-side cos/sin `[n, head_dim]` of the 2-D rotary embedding, rows in `pixel_values` order.
pub fn vision_rotary(grids: &[[usize; 3]], merge: usize, hd: usize, theta: f64) -> (Vec<f32>, Vec<f32>) {
    let inv = inv_freq(theta, hd / 2); // length hd/4
    let pos = vision_positions(grids, merge);
    let (mut cos, mut sin) = (Vec::with_capacity(pos.len() * hd), Vec::with_capacity(pos.len() * hd));
    for [r, c] in pos {
        let freqs: Vec<f32> = inv.iter().map(|f| r as f32 * f).chain(inv.iter().map(|f| c as f32 * f)).collect();
        for _ in 0..2 {
            cos.extend(freqs.iter().map(|a| a.cos()));
            sin.extend(freqs.iter().map(|a| a.sin()));
        }
    }
    (cos, sin)
}

impl VisionBlock {
    fn forward(
        &self,
        x: Tensor<2>,
        (cos, sin): (&Tensor<3>, &Tensor<3>),
        segs: &[(usize, usize)],
        policy: ShapePolicy,
        device: &Device,
        ad: Adapters,
    ) -> Tensor<2> {
        let [n, e] = x.dims();
        let lin = |l: &Linear, x: Tensor<2>| linear_rows_with(l, x, ad);
        let hd = e / self.heads;
        let qkv = lin(&self.qkv, self.norm1.forward(x.clone())).reshape([n, 3, self.heads, hd]).permute([1, 2, 0, 3]);
        let q = apply_rotary(qkv.clone().narrow(0, 0, 1).squeeze_dim::<3>(0), cos.clone(), sin.clone());
        let k = apply_rotary(qkv.clone().narrow(0, 1, 1).squeeze_dim::<3>(0), cos.clone(), sin.clone());
        let v = qkv.narrow(0, 2, 1).squeeze_dim::<3>(0);
        let attn = segmented_attention(q, k, v, segs, policy, device); // [heads, n, hd]
        let x = x + lin(&self.proj, attn.permute([1, 0, 2]).reshape([n, e]));
        let h = self.norm2.forward(x.clone());
        let mlp = match (&self.fc1, &self.fc2, &self.gate_proj, &self.up_proj, &self.down_proj) {
            (Some(fc1), Some(fc2), ..) => {
                let a = lin(fc1, h);
                lin(fc2, a.clone() * sigmoid(a.mul_scalar(1.702)))
            }
            (_, _, Some(g), Some(u), Some(d)) => lin(d, silu(lin(g, h.clone())) * lin(u, h)),
            _ => h,
        };
        x + mlp
    }
}
