//! Building blocks shared by the vision tower and the decoder: linear layers (`[in, out]` here,
//! built by [`super::names::Builder`]), LayerNorm / RMSNorm (f32, weight not `1 + w`), rotary helpers, and
//! conversions between host vectors and tensors.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::TensorData;

use super::precision::mm;
use crate::rng::Rng;

/// A 2-D tensor from row-major host data.
pub fn tensor2(data: Vec<f32>, shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// A 1-D tensor from host data.
pub fn tensor1(data: Vec<f32>, device: &Device) -> Tensor<1> {
    let n = data.len();
    Tensor::from_data(TensorData::new(data, [n]), device)
}

/// An int index tensor.
pub fn index1(data: Vec<i64>, device: &Device) -> Tensor<1, Int> {
    let n = data.len();
    Tensor::from_data(TensorData::new(data, [n]), device)
}

/// Host copy of a float tensor.
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default()
}

/// Transposes a row-major `[rows, cols]` matrix.
pub fn transpose_host(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// How linear layers use their LoRA adapters (a module-level setting, cloned with the module).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Adapters {
    /// Compute with the frozen base weights only (the GRPO reference policy: no second copy).
    pub off: bool,
    /// Dropout on an adapter's input while training (PEFT's `lora_dropout`).
    pub dropout: f64,
    /// Dropout off the autodiff device too: the no-gradient forward pass of decoder-layer
    /// checkpointing draws the masks its recomputation draws (both seeded alike).
    pub dropout_everywhere: bool,
}

/// `lin` over the last dimension of any-rank input as one `[rows, in] x [in, out]` product. burn's
/// `Linear` on a 3-D input runs one product per batch row (and sums per-row weight gradients in
/// the backward pass), several times slower on the CPU for training-sized batches.
pub fn linear_rows<const D: usize>(lin: &Linear, x: Tensor<D>) -> Tensor<D> {
    linear_rows_with(lin, x, Adapters::default())
}

/// [`linear_rows`] with a LoRA adapter in PEFT's unmerged form `x W + s (x A) B` (never the dense
/// `W + s A B` burn's `Param::val` would compose at every call), or the base alone.
pub fn linear_rows_with<const D: usize>(lin: &Linear, x: Tensor<D>, adapters: Adapters) -> Tensor<D> {
    let mut dims = x.dims();
    let d_in = dims[D - 1];
    let rows: usize = dims[..D - 1].iter().product();
    let x = x.reshape([rows, d_in]);
    let y = match lin.weight.adapter() {
        None => {
            let y = mm(x, lin.weight.val());
            match &lin.bias {
                Some(b) => y + b.val().unsqueeze_dim::<2>(0),
                None => y,
            }
        }
        Some(ad) => {
            let mut y = mm(x.clone(), lin.weight.base());
            if !adapters.off {
                let xa = if adapters.dropout > 0.0 && (adapters.dropout_everywhere || x.device().is_autodiff()) {
                    let keep = 1.0 - adapters.dropout;
                    let mask = Tensor::<2>::random(x.dims(), burn::tensor::Distribution::Bernoulli(keep), &x.device());
                    x * mask.div_scalar(keep)
                } else {
                    x
                };
                y = y + xa.matmul(ad.a.val()).matmul(ad.b.val()).mul_scalar(ad.scale);
            }
            match &lin.bias {
                Some(b) => y + b.val().unsqueeze_dim::<2>(0),
                None => y,
            }
        }
    };
    dims[D - 1] = y.dims()[1];
    y.reshape(dims)
}

/// A layer's weight as one f32 matrix `[in, out]`: the base widened (dequantized for QLoRA), plus
/// `s A B` of its LoRA adapter unless `adapters_off`. burn's `Param::val` would add factors and
/// base of different dtypes.
pub fn dense_weight(lin: &Linear, adapters_off: bool) -> Tensor<2> {
    let base = super::precision::widened(lin.weight.base());
    match lin.weight.adapter() {
        Some(ad) if !adapters_off => {
            base + ad
                .a
                .val()
                .cast(burn::tensor::DType::F32)
                .matmul(ad.b.val().cast(burn::tensor::DType::F32))
                .mul_scalar(ad.scale)
        }
        _ => base,
    }
}

/// Host-side N(0, std²) values from the project's seeded generator (same on every backend).
pub fn normal_vec(n: usize, std: f64, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| (f64::from(rng.normal()) * std) as f32).collect()
}

/// LayerNorm (with bias) or RMSNorm (without), eps 1e-6 unless configured.
#[derive(Module, Debug)]
pub struct Norm {
    /// Scale.
    pub weight: Param<Tensor<1>>,
    /// Shift (LayerNorm only).
    pub bias: Option<Param<Tensor<1>>>,
    /// Epsilon.
    #[module(skip)]
    pub eps: f64,
}

impl Norm {
    /// Normalises the last dimension.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let w = self.weight.val().unsqueeze::<D>();
        match &self.bias {
            None => {
                let var = x.clone().square().mean_dim(D - 1);
                x * (var + self.eps).sqrt().recip() * w
            }
            Some(b) => {
                let mean = x.clone().mean_dim(D - 1);
                let centered = x - mean;
                let var = centered.clone().square().mean_dim(D - 1);
                centered * (var + self.eps).sqrt().recip() * w + b.val().unsqueeze::<D>()
            }
        }
    }
}

/// `rotate_half`: `[x1, x2] -> [-x2, x1]` on the last dimension.
pub fn rotate_half<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let d = x.dims()[D - 1];
    let x1 = x.clone().narrow(D - 1, 0, d / 2);
    let x2 = x.narrow(D - 1, d / 2, d / 2);
    Tensor::cat(vec![x2.neg(), x1], D - 1)
}

/// `x * cos + rotate_half(x) * sin`.
pub fn apply_rotary<const D: usize>(x: Tensor<D>, cos: Tensor<D>, sin: Tensor<D>) -> Tensor<D> {
    x.clone() * cos + rotate_half(x) * sin
}

/// Inverse frequencies `1 / theta^(i / dim)` for `i = 0, 2, 4, ... < dim`, in f32 as PyTorch computes them.
pub fn inv_freq(theta: f64, dim: usize) -> Vec<f32> {
    (0..dim).step_by(2).map(|i| 1.0f32 / (theta as f32).powf(i as f32 / dim as f32)).collect()
}
