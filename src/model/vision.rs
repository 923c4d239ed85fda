//! The vision towers: Qwen2-VL (LayerNorm, QuickGELU MLP, full attention per image) and Qwen2.5-VL
//! (RMSNorm, SwiGLU with biases, window attention except in `fullatt_block_indexes`), both with
//! 2-D rotary embeddings, non-causal block-diagonal attention and the 2x2 PatchMerger.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::{gelu, sigmoid, silu};

use super::config::{Arch, VisionConfig};
use super::layers::{
    Adapters, Norm, apply_rotary, export_linear, index1, inv_freq, linear_rows_with, load_linear, normal_vec,
    random_linear, tensor2, to_vec, transpose_host,
};
use super::positions::{vision_positions, window_index};
use super::preprocess::PixelValues;
use super::segments::segmented_attention;
use super::shapes::ShapePolicy;
use super::weights::{Checkpoint, NamedTensor, WeightsError};
use crate::rng::Rng;

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
    /// Loads `visual.*` tensors.
    ///
    /// # Errors
    /// Missing or mis-shaped tensors, named.
    pub fn load(ck: &Checkpoint, cfg: &VisionConfig, arch: Arch, device: &Device) -> Result<Self, WeightsError> {
        let (e, pl) = (cfg.width, cfg.patch_len());
        let qwen25 = arch == Arch::Qwen25Vl;
        let pe = ck.get(
            "visual.patch_embed.proj.weight",
            &[e, cfg.in_channels, cfg.temporal_patch_size, cfg.patch_size, cfg.patch_size],
        )?;
        let patch_embed =
            Param::from_tensor(super::precision::matrix(transpose_host(&pe, e, pl), [pl, e], ck.store, device));
        let mut blocks = Vec::with_capacity(cfg.depth);
        for i in 0..cfg.depth {
            let b = format!("visual.blocks.{i}");
            let lin = |n: &str, i: usize, o: usize| load_linear(ck, &format!("{b}.{n}"), i, o, true, device);
            let (fc1, fc2, gate_proj, up_proj, down_proj) = if qwen25 {
                (
                    None,
                    None,
                    Some(lin("mlp.gate_proj", e, cfg.mlp_hidden)?),
                    Some(lin("mlp.up_proj", e, cfg.mlp_hidden)?),
                    Some(lin("mlp.down_proj", cfg.mlp_hidden, e)?),
                )
            } else {
                (Some(lin("mlp.fc1", e, cfg.mlp_hidden)?), Some(lin("mlp.fc2", cfg.mlp_hidden, e)?), None, None, None)
            };
            blocks.push(VisionBlock {
                norm1: Norm::load(ck, &format!("{b}.norm1"), e, !qwen25, 1e-6, device)?,
                norm2: Norm::load(ck, &format!("{b}.norm2"), e, !qwen25, 1e-6, device)?,
                qkv: lin("attn.qkv", e, 3 * e)?,
                proj: lin("attn.proj", e, e)?,
                fc1,
                fc2,
                gate_proj,
                up_proj,
                down_proj,
                heads: cfg.num_heads,
            });
        }
        let m2 = cfg.spatial_merge_size * cfg.spatial_merge_size * e;
        Ok(Self {
            patch_embed,
            blocks,
            ln_q: Norm::load(ck, "visual.merger.ln_q", e, !qwen25, 1e-6, device)?,
            mlp0: load_linear(ck, "visual.merger.mlp.0", m2, m2, true, device)?,
            mlp2: load_linear(ck, "visual.merger.mlp.2", m2, cfg.out_hidden, true, device)?,
            cfg: cfg.clone(),
            adapters: Adapters::default(),
            arch,
        })
    }

    /// A randomly initialised tower (the built-in tiny model's starting point).
    pub fn random(cfg: &VisionConfig, arch: Arch, rng: &mut Rng, device: &Device) -> Self {
        let (e, pl) = (cfg.width, cfg.patch_len());
        let qwen25 = arch == Arch::Qwen25Vl;
        let mut blocks = Vec::with_capacity(cfg.depth);
        for _ in 0..cfg.depth {
            let qkv = random_linear(e, 3 * e, true, 1.0, rng, device);
            let proj = random_linear(e, e, true, 0.5, rng, device);
            let (fc1, fc2, gate_proj, up_proj, down_proj) = if qwen25 {
                let g = random_linear(e, cfg.mlp_hidden, true, 1.0, rng, device);
                let u = random_linear(e, cfg.mlp_hidden, true, 1.0, rng, device);
                let d = random_linear(cfg.mlp_hidden, e, true, 0.5, rng, device);
                (None, None, Some(g), Some(u), Some(d))
            } else {
                let f1 = random_linear(e, cfg.mlp_hidden, true, 1.0, rng, device);
                let f2 = random_linear(cfg.mlp_hidden, e, true, 0.5, rng, device);
                (Some(f1), Some(f2), None, None, None)
            };
            blocks.push(VisionBlock {
                norm1: Norm::new(e, !qwen25, 1e-6, device),
                norm2: Norm::new(e, !qwen25, 1e-6, device),
                qkv,
                proj,
                fc1,
                fc2,
                gate_proj,
                up_proj,
                down_proj,
                heads: cfg.num_heads,
            });
        }
        let m2 = cfg.spatial_merge_size * cfg.spatial_merge_size * e;
        let std = 1.0 / (pl as f64).sqrt();
        Self {
            patch_embed: Param::from_tensor(tensor2(normal_vec(pl * e, std, rng), [pl, e], device)),
            blocks,
            ln_q: Norm::new(e, !qwen25, 1e-6, device),
            mlp0: random_linear(m2, m2, true, 1.0, rng, device),
            mlp2: random_linear(m2, cfg.out_hidden, true, 1.0, rng, device),
            cfg: cfg.clone(),
            adapters: Adapters::default(),
            arch,
        }
    }

    /// Exports under HF names.
    pub fn export(&self, out: &mut Vec<NamedTensor>) {
        let c = &self.cfg;
        let pe = to_vec(self.patch_embed.val());
        out.push(NamedTensor {
            name: "visual.patch_embed.proj.weight".into(),
            shape: vec![c.width, c.in_channels, c.temporal_patch_size, c.patch_size, c.patch_size],
            data: transpose_host(&pe, c.patch_len(), c.width),
        });
        for (i, b) in self.blocks.iter().enumerate() {
            let p = format!("visual.blocks.{i}");
            b.norm1.export(&format!("{p}.norm1"), out);
            b.norm2.export(&format!("{p}.norm2"), out);
            export_linear(&b.qkv, &format!("{p}.attn.qkv"), out);
            export_linear(&b.proj, &format!("{p}.attn.proj"), out);
            for (l, n) in [
                (&b.fc1, "fc1"),
                (&b.fc2, "fc2"),
                (&b.gate_proj, "gate_proj"),
                (&b.up_proj, "up_proj"),
                (&b.down_proj, "down_proj"),
            ] {
                if let Some(l) = l {
                    export_linear(l, &format!("{p}.mlp.{n}"), out);
                }
            }
        }
        self.ln_q.export("visual.merger.ln_q", out);
        export_linear(&self.mlp0, "visual.merger.mlp.0", out);
        export_linear(&self.mlp2, "visual.merger.mlp.2", out);
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
