//! AdamW as PyTorch defines it (decoupled weight decay, bias-corrected moments), with global
//! gradient-norm clipping (`clip_grad_norm_`) and state keyed by parameter path, so a checkpoint's
//! optimizer state survives a restart (burn's own optimizer keys state by per-process ids).

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::model::weights::{self, Checkpoint, Dtype, NamedTensor, WeightsError};

/// Hyper-parameters (a config may give any subset; the rest come from the preset).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamWParams {
    /// beta1.
    pub beta1: f64,
    /// beta2.
    pub beta2: f64,
    /// Denominator epsilon.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Global gradient-norm clip (0 = off).
    pub max_grad_norm: f64,
}

impl Default for AdamWParams {
    /// `torch.optim.AdamW` defaults with HF Trainer's clip of 1.0 and no weight decay.
    fn default() -> Self {
        Self { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, max_grad_norm: 1.0 }
    }
}

/// Optimizer state: step count and moments per parameter path (flattened).
pub struct AdamW {
    /// Settings.
    pub params: AdamWParams,
    /// Steps taken.
    pub step: u64,
    moments: BTreeMap<String, (Tensor<1>, Tensor<1>)>,
}

struct Path_(Vec<String>);

impl Path_ {
    fn key(&self) -> String {
        self.0.join(".")
    }
}

struct NormVisitor<'a> {
    grads: &'a GradientsParams,
    /// Sum of squares, kept on the device: one read at the end, not one per parameter (a GPU sync each).
    sum_sq: Option<Tensor<1>>,
}

impl ModuleVisitor for NormVisitor<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.square().sum();
            self.sum_sq = Some(match self.sum_sq.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
}

struct StepMapper<'a> {
    opt: &'a mut AdamW,
    grads: &'a mut GradientsParams,
    lr: f64,
    scale: f64,
    path: Path_,
}

impl ModuleMapper for StepMapper<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.0.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.0.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let p = self.opt.params;
        // Put back the parameter's gradient-checkpointing strategy (`from_inner` gives the default).
        let strategy = tensor.gradient_checkpointing_strategy();
        let dims = tensor.dims();
        let n: usize = dims.iter().product();
        let value = tensor.inner();
        let g = grad.reshape([n]).mul_scalar(self.scale);
        let key = self.path.key();
        let (m, v) = self.opt.moments.remove(&key).unwrap_or_else(|| (g.zeros_like(), g.zeros_like()));
        let m = m.mul_scalar(p.beta1) + g.clone().mul_scalar(1.0 - p.beta1);
        let v = v.mul_scalar(p.beta2) + g.square().mul_scalar(1.0 - p.beta2);
        let t = self.opt.step as i32;
        let bc1 = 1.0 - p.beta1.powi(t);
        let bc2 = 1.0 - p.beta2.powi(t);
        // torch: p *= 1 - lr*wd; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
        let denom = v.clone().sqrt().div_scalar(bc2.sqrt()).add_scalar(p.eps);
        let update = (m.clone() / denom).mul_scalar(self.lr / bc1).reshape(dims);
        let value = value.mul_scalar(1.0 - self.lr * p.weight_decay) - update;
        self.opt.moments.insert(key, (m, v));
        let mut value = Tensor::from_inner(value);
        if let Some(s) = strategy {
            value = value.with_gradient_checkpointing_strategy(s);
        }
        Param::from_mapped_value(id, value.require_grad(), mapper)
    }
}

impl AdamW {
    /// A fresh optimizer.
    pub fn new(params: AdamWParams) -> Self {
        Self { params, step: 0, moments: BTreeMap::new() }
    }

    /// The global L2 norm of the gradients (before clipping).
    pub fn grad_norm<M: Module>(module: &M, grads: &GradientsParams) -> f64 {
        let mut v = NormVisitor { grads, sum_sq: None };
        module.visit(&mut v);
        v.sum_sq.map_or(0.0, |s| f64::from(s.into_scalar::<f32>()).sqrt())
    }

    /// One step at learning rate `lr`; clips by global norm first. Returns the pre-clip norm.
    pub fn step<M: Module>(&mut self, module: M, mut grads: GradientsParams, lr: f64) -> (M, f64) {
        let norm = Self::grad_norm(&module, &grads);
        let scale = if self.params.max_grad_norm > 0.0 && norm > self.params.max_grad_norm {
            self.params.max_grad_norm / (norm + 1e-6)
        } else {
            1.0
        };
        self.step += 1;
        let mut mapper = StepMapper { opt: self, grads: &mut grads, lr, scale, path: Path_(Vec::new()) };
        (module.map(&mut mapper), norm)
    }

    /// Saves the moments (f32) and step count.
    ///
    /// # Errors
    /// [`WeightsError::Write`].
    pub fn save(&self, path: &Path) -> Result<(), WeightsError> {
        let mut tensors = Vec::new();
        for (k, (m, v)) in &self.moments {
            let to = |t: &Tensor<1>| t.clone().into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
            let (m, v) = (to(m), to(v));
            tensors.push(NamedTensor { name: format!("{k}.exp_avg"), shape: vec![m.len()], data: m });
            tensors.push(NamedTensor { name: format!("{k}.exp_avg_sq"), shape: vec![v.len()], data: v });
        }
        let mut meta = BTreeMap::new();
        meta.insert("step".into(), self.step.to_string());
        meta.insert("params".into(), serde_json::to_string(&self.params).unwrap_or_default());
        weights::write(path, &tensors, Dtype::F32, meta)
    }

    /// Loads a state saved by [`AdamW::save`] onto `device`.
    ///
    /// # Errors
    /// [`WeightsError`].
    pub fn load(path: &Path, params: AdamWParams, step: u64, device: &Device) -> Result<Self, WeightsError> {
        let ck = Checkpoint::open(path)?;
        let mut moments = BTreeMap::new();
        for name in ck.names() {
            let Some(key) = name.strip_suffix(".exp_avg") else { continue };
            let shape = ck.shape(&name).map(<[usize]>::to_vec).unwrap_or_default();
            let m = ck.get(&name, &shape)?;
            let v = ck.get(&format!("{key}.exp_avg_sq"), &shape)?;
            let n = m.len();
            let t = |d: Vec<f32>| Tensor::<1>::from_data(TensorData::new(d, [n]), device);
            moments.insert(key.to_string(), (t(m), t(v)));
        }
        Ok(Self { params, step, moments })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Module, Debug)]
    struct Toy {
        w: Param<Tensor<2>>,
        b: Param<Tensor<1>>,
    }

    /// Two steps against `torch.optim.AdamW(lr=0.1, weight_decay=0.01)` with `clip_grad_norm_(1.0)`
    /// (values printed by PyTorch 2.15).
    #[test]
    fn matches_torch_adamw_with_clipping() {
        let dev = Device::flex().autodiff();
        let t2 = |v: [f32; 4]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [2, 2]), &dev);
        let t1 = |v: [f32; 2]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [2]), &dev);
        let mut toy = Toy { w: Param::from_tensor(t2([0.5, -1.0, 2.0, 0.25])), b: Param::from_tensor(t1([0.1, -0.2])) };
        let mut opt = AdamW::new(AdamWParams { weight_decay: 0.01, ..AdamWParams::default() });
        let steps = [([0.3, -2.0, 1.0, 0.5], [0.4, 0.1]), ([0.1, 0.2, -0.3, 0.05], [-0.2, 0.3])];
        let want_norm = [2.347_338_9, 0.522_015_3];
        let want_w =
            [[0.399_5, -0.898_999, 1.898, 0.149_750_01], [0.300_468_86, -0.849_883_2, 1.884_185_4, 0.067_355_94]];
        let want_b = [[-9.999_424e-5, -0.299_799_98], [0.013_110_346, -0.382_591_5]];
        for (i, (gw, gb)) in steps.iter().enumerate() {
            // loss = sum(w * gw) + sum(b * gb)  =>  grads are exactly gw, gb.
            let loss = (toy.w.val() * t2(*gw)).sum() + (toy.b.val() * t1(*gb)).sum();
            let grads = GradientsParams::from_grads(loss.backward(), &toy);
            let (next, norm) = opt.step(toy, grads, 0.1);
            toy = next;
            assert!((norm - want_norm[i]).abs() < 1e-5, "norm {norm}");
            let w = toy.w.val().into_data().try_into_vec::<f32>().unwrap();
            let b = toy.b.val().into_data().try_into_vec::<f32>().unwrap();
            for (a, e) in w.iter().zip(want_w[i]).chain(b.iter().zip(want_b[i])) {
                assert!((a - e).abs() < 2e-6, "step {i}: {a} vs {e}");
            }
        }
        // The state survives a save / load round trip.
        let dir = tempfile::tempdir().unwrap();
        opt.save(&dir.path().join("o.safetensors")).unwrap();
        let back = AdamW::load(&dir.path().join("o.safetensors"), opt.params, opt.step, &Device::flex()).unwrap();
        assert_eq!(back.moments.len(), 2);
    }
}
