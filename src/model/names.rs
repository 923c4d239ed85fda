//! Each weight's Hugging Face name written once, as candle's `VarBuilder` does: the towers are
//! built by one constructor over a [`Builder`] that either reads a checkpoint or draws seeded
//! random values, and records every tensor's name, layout and burn `ParamId` as it goes. Export
//! (`Vlm::save`), LoRA targeting and PEFT keys read that record instead of spelling names again.

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::nn::Linear;
use burn::prelude::*;

use super::layers::{Norm, tensor1, to_vec, transpose_host};
use super::precision::{Precision, matrix, widened};
use super::weights::{Checkpoint, NamedTensor, WeightsError};
use crate::rng::Rng;

/// How a tensor is stored here relative to the checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// As is (vectors, the embedding matrix).
    Same,
    /// A linear weight: `[in, out]` here, `[out, in]` in the checkpoint.
    Transposed,
    /// The patch embedding: `[patch_len, width]` here, Conv3d `[width, c, t, p, p]` there.
    Conv,
}

/// One tensor of the checkpoint.
#[derive(Debug, Clone)]
pub struct TensorName {
    /// Full Hugging Face name (`model.layers.0.self_attn.q_proj.weight`, transformers-4 layout).
    pub hf: String,
    /// The parameter holding it.
    pub id: ParamId,
    /// Its layout here.
    pub layout: Layout,
    /// Its shape in the checkpoint.
    pub hf_shape: Vec<usize>,
}

/// One linear layer: the module name LoRA targets (`model.layers.0.self_attn.q_proj`).
#[derive(Debug, Clone)]
pub struct LinearName {
    /// Module name (transformers-4 layout).
    pub hf: String,
    /// Its weight's parameter.
    pub weight: ParamId,
    /// In the vision tower.
    pub vision: bool,
}

/// The record a [`Builder`] leaves: every tensor and every linear layer, in construction order.
#[derive(Debug, Clone, Default)]
pub struct WeightNames {
    /// Tensors.
    pub tensors: Vec<TensorName>,
    /// Linear layers.
    pub linears: Vec<LinearName>,
}

/// Where values come from.
pub enum Init<'a> {
    /// A checkpoint (names and shapes checked).
    Load(&'a Checkpoint),
    /// Seeded random values (identical on every backend).
    Random(&'a mut Rng),
}

/// Builds modules under name prefixes, loading or drawing each tensor and recording its name.
pub struct Builder<'a> {
    init: Init<'a>,
    device: Device,
    store: Precision,
    prefix: Vec<String>,
    vision: bool,
    names: WeightNames,
}

impl<'a> Builder<'a> {
    /// Reads `ck` (weight matrices stored in `ck.store`).
    pub fn load(ck: &'a Checkpoint, device: &Device) -> Self {
        Self::new(Init::Load(ck), ck.store, device)
    }

    /// Draws from `rng` (f32).
    pub fn random(rng: &'a mut Rng, device: &Device) -> Self {
        Self::new(Init::Random(rng), Precision::F32, device)
    }

    fn new(init: Init<'a>, store: Precision, device: &Device) -> Self {
        Self { init, device: device.clone(), store, prefix: Vec::new(), vision: false, names: WeightNames::default() }
    }

    /// The record so far.
    pub fn finish(self) -> WeightNames {
        self.names
    }

    /// The device tensors go to.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs `f` under the name prefix `name` (`model.layers.3`).
    pub fn scope<R>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.prefix.push(name.to_string());
        let out = f(self);
        self.prefix.pop();
        out
    }

    /// Marks what follows as the vision tower (LoRA leaves it frozen by default).
    pub fn set_vision(&mut self, vision: bool) {
        self.vision = vision;
    }

    fn full(&self, name: &str) -> String {
        let mut parts = self.prefix.clone();
        parts.push(name.to_string());
        parts.join(".")
    }

    fn record(&mut self, hf: String, id: ParamId, layout: Layout, hf_shape: &[usize]) {
        self.names.tensors.push(TensorName { hf, id, layout, hf_shape: hf_shape.to_vec() });
    }

    /// A matrix in `layout`: loaded and rearranged, or drawn ~ N(0, std²) directly in our layout.
    fn matrix(
        &mut self,
        name: &str,
        hf_shape: &[usize],
        ours: [usize; 2],
        layout: Layout,
        std: f64,
    ) -> Result<Param<Tensor<2>>, WeightsError> {
        let full = self.full(name);
        let data = match &mut self.init {
            Init::Load(ck) => {
                let v = ck.get(&full, hf_shape)?;
                match layout {
                    Layout::Same => v,
                    Layout::Transposed | Layout::Conv => transpose_host(&v, ours[1], ours[0]),
                }
            }
            Init::Random(rng) => super::layers::normal_vec(ours[0] * ours[1], std, rng),
        };
        let p = Param::from_tensor(matrix(data, ours, self.store, &self.device));
        self.record(full, p.id, layout, hf_shape);
        Ok(p)
    }

    /// A vector: loaded, or `fill` for a fresh model.
    fn vector(&mut self, name: &str, dim: usize, fill: f32) -> Result<Param<Tensor<1>>, WeightsError> {
        let full = self.full(name);
        let t = match &self.init {
            Init::Load(ck) => tensor1(ck.get(&full, &[dim])?, &self.device),
            Init::Random(_) => tensor1(vec![fill; dim], &self.device),
        };
        let p = Param::from_tensor(t);
        self.record(full, p.id, Layout::Same, &[dim]);
        Ok(p)
    }

    /// `name.weight` (`[out, in]` in the checkpoint) and `name.bias`; random weights ~
    /// N(0, gain² / d_in), zero bias.
    ///
    /// # Errors
    /// Missing or mis-shaped tensors, named.
    pub fn linear(
        &mut self,
        name: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
        gain: f64,
    ) -> Result<Linear, WeightsError> {
        let std = gain / (d_in as f64).sqrt();
        let weight =
            self.scope(name, |b| b.matrix("weight", &[d_out, d_in], [d_in, d_out], Layout::Transposed, std))?;
        let bias = if bias { Some(self.scope(name, |b| b.vector("bias", d_out, 0.0))?) } else { None };
        let (hf, vision) = (self.full(name), self.vision);
        self.names.linears.push(LinearName { hf, weight: weight.id, vision });
        Ok(Linear { weight, bias })
    }

    /// A LayerNorm (`weight`, `bias`) or RMSNorm (`weight`); fresh: weight 1, bias 0.
    ///
    /// # Errors
    /// Missing or mis-shaped tensors, named.
    pub fn norm(&mut self, name: &str, dim: usize, layer_norm: bool, eps: f64) -> Result<Norm, WeightsError> {
        let weight = self.scope(name, |b| b.vector("weight", dim, 1.0))?;
        let bias = if layer_norm { Some(self.scope(name, |b| b.vector("bias", dim, 0.0))?) } else { None };
        Ok(Norm { weight, bias, eps })
    }

    /// An embedding matrix `[rows, cols]`, stored as in the checkpoint; random ~ N(0, std²).
    ///
    /// # Errors
    /// Missing or mis-shaped tensors, named.
    pub fn embedding(
        &mut self,
        name: &str,
        rows: usize,
        cols: usize,
        std: f64,
    ) -> Result<Param<Tensor<2>>, WeightsError> {
        self.matrix(name, &[rows, cols], [rows, cols], Layout::Same, std)
    }

    /// A bias-free Conv3d whose kernel equals its stride, as a `[patch_len, width]` matrix;
    /// random ~ N(0, 1 / patch_len).
    ///
    /// # Errors
    /// Missing or mis-shaped tensors, named.
    pub fn conv_as_matrix(&mut self, name: &str, hf_shape: [usize; 5]) -> Result<Param<Tensor<2>>, WeightsError> {
        let width = hf_shape[0];
        let patch_len: usize = hf_shape[1..].iter().product();
        self.matrix(name, &hf_shape, [patch_len, width], Layout::Conv, 1.0 / (patch_len as f64).sqrt())
    }
}

impl WeightNames {
    /// Every recorded tensor of `vlm` under its Hugging Face name in the checkpoint's layout,
    /// f32, LoRA adapters merged (`base + s A B`).
    pub fn export(&self, vlm: &super::Vlm) -> Vec<NamedTensor> {
        // A visitor sees an adapted weight's base alone: linear weights come from their layers
        // (adapters merged), every other recorded tensor from the visitor.
        let linears = super::lora::linears(vlm);
        let lin_ids: std::collections::HashSet<ParamId> = linears.iter().map(|l| l.linear.weight.id).collect();
        let want = self.tensors.iter().map(|t| t.id).filter(|id| !lin_ids.contains(id)).collect();
        let mut c = Collect { want, values: HashMap::new() };
        vlm.visit(&mut c);
        for l in linears {
            let w = super::layers::dense_weight(l.linear, false);
            c.values.insert(l.linear.weight.id, (w.dims().to_vec(), to_vec(w)));
        }
        self.tensors
            .iter()
            .filter_map(|t| {
                let (dims, data) = c.values.remove(&t.id)?;
                let data = match t.layout {
                    Layout::Same => data,
                    Layout::Transposed | Layout::Conv => transpose_host(&data, dims[0], dims[1]),
                };
                Some(NamedTensor { name: t.hf.clone(), shape: t.hf_shape.clone(), data })
            })
            .collect()
    }

    /// The linear layer whose weight is `id`.
    pub fn linear(&self, id: ParamId) -> Option<&LinearName> {
        self.linears.iter().find(|l| l.weight == id)
    }
}

/// Host copies (f32) of the float parameters in `want`, by id.
struct Collect {
    want: std::collections::HashSet<ParamId>,
    values: HashMap<ParamId, (Vec<usize>, Vec<f32>)>,
}

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !self.want.contains(&param.id) {
            return;
        }
        let base = widened(param.base());
        self.values.insert(param.id, (base.dims().to_vec(), to_vec(base)));
    }
}
