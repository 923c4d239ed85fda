//! LoRA adapters on the model's linear layers, built on burn's own reparameterization
//! (`Module::apply_reparameterization` with burn's [`LoraAdapter`]): base weights frozen, factors
//! trained by the optimizer like any parameter. Layers compute PEFT's unmerged form
//! `x W + s (x A) B` ([`super::layers::linear_rows`]), so the frozen base alone (adapters off: the
//! GRPO reference policy) costs no second copy. Adapters load from and save to PEFT's format
//! (`adapter_model.safetensors` + `adapter_config.json`, transformers-4 or -5 key layouts).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::{Lora, LoraAdapter, Module, Param, ParamGroup, ParamId, Reparameterizer};
use burn::nn::Linear;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::layers::{tensor2, to_vec, transpose_host};
use super::precision::BaseQuant;
use super::vlm::{ModelError, Vlm};
use super::weights::{self, Checkpoint, Dtype, NamedTensor};

/// What LoRA adapts and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraSettings {
    /// Rank r.
    pub rank: usize,
    /// Scale numerator: the update is `alpha / r · A B`.
    pub alpha: f64,
    /// Dropout on the adapter's input while training (PEFT's `lora_dropout`).
    pub dropout: f64,
    /// PEFT `target_modules`: module names (`q_proj`, …, matched as the last name component), or
    /// one regular expression matched against the whole transformers-5 module name.
    pub target_modules: Vec<String>,
    /// Adapt the vision tower too (by default it stays frozen).
    pub train_vision: bool,
    /// QLoRA: the decoder's base linear weights quantized to 8 or 4 bits (none: the base keeps
    /// the run's dtype).
    pub quantize_base: Option<BaseQuant>,
}

impl Default for LoraSettings {
    fn default() -> Self {
        Self {
            rank: 16,
            alpha: 32.0,
            dropout: 0.0,
            target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
                .map(String::from)
                .to_vec(),
            train_vision: false,
            quantize_base: None,
        }
    }
}

impl LoraSettings {
    /// Checks the settings, naming the field.
    ///
    /// # Errors
    /// A message naming the bad field.
    pub fn validate(&self) -> Result<(), String> {
        if self.rank == 0 {
            return Err("lora.rank: must be at least 1".into());
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return Err("lora.alpha: must be positive".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err("lora.dropout: must be in [0, 1)".into());
        }
        if self.target_modules.is_empty() {
            return Err("lora.target_modules: name at least one module (q_proj, v_proj, ...)".into());
        }
        Target::parse(&self.target_modules).map(|_| ())
    }
}

/// A linear layer with its transformers-4 module name (`model.layers.3.self_attn.q_proj`), as
/// the model's builder recorded it.
pub struct NamedLinear<'a> {
    /// transformers-4 name (the Hub checkpoints' layout).
    pub hf: String,
    /// True for the vision tower.
    pub vision: bool,
    /// The layer.
    pub linear: &'a Linear,
}

/// Every linear layer of the model under the Hugging Face name its builder recorded
/// ([`super::names`]): the one table LoRA targeting, saving and loading use.
pub fn linears(vlm: &Vlm) -> Vec<NamedLinear<'_>> {
    let mut all: Vec<&Linear> = Vec::new();
    for l in &vlm.text.layers {
        let a = &l.self_attn;
        all.extend([&a.q_proj, &a.k_proj, &a.v_proj, &a.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj]);
    }
    all.extend(vlm.text.lm_head.as_ref());
    for b in &vlm.visual.blocks {
        all.extend([&b.qkv, &b.proj]);
        all.extend([&b.fc1, &b.fc2, &b.gate_proj, &b.up_proj, &b.down_proj].into_iter().flatten());
    }
    all.extend([&vlm.visual.mlp0, &vlm.visual.mlp2]);
    all.into_iter()
        .filter_map(|linear| {
            let n = vlm.names.linear(linear.weight.id)?;
            Some(NamedLinear { hf: n.hf.clone(), vision: n.vision, linear })
        })
        .collect()
}

/// QLoRA's base: the decoder layers' linear weights (`q/k/v/o_proj`, `gate/up/down_proj`; not the
/// embeddings, the LM head or the vision tower, as bitsandbytes leaves `lm_head`) quantized with
/// `q`, each widened to f32 first, frozen. Adapters attach afterwards, in f32.
pub fn quantize_base(vlm: Vlm, q: BaseQuant) -> Vlm {
    let ids: std::collections::HashSet<ParamId> = linears(&vlm)
        .into_iter()
        .filter(|l| !l.vision && l.hf.starts_with("model.layers."))
        .map(|l| l.linear.weight.id)
        .collect();
    let mut mapper = QuantizeBase { ids, quant: q };
    vlm.map(&mut mapper)
}

/// Quantizes the given 2-D parameters (each widened to f32 first).
struct QuantizeBase {
    ids: std::collections::HashSet<ParamId>,
    quant: BaseQuant,
}

impl burn::module::ModuleMapper for QuantizeBase {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if D != 2 || !self.ids.contains(&param.id) {
            return param;
        }
        let quant = self.quant;
        param
            .map(|t| {
                let scheme = quant.scheme(&t.device(), t.dims()[D - 1]);
                super::precision::widened(t).quantize_dynamic(&scheme)
            })
            .set_require_grad(false)
    }
}

/// A transformers-4 module name in transformers-5's layout (`model.language_model.layers…`,
/// `model.visual…`), which PEFT adapters trained with transformers 5 use.
pub fn hf5(name: &str) -> String {
    if let Some(rest) = name.strip_prefix("model.") {
        format!("model.language_model.{rest}")
    } else if name.starts_with("visual.") {
        format!("model.{name}")
    } else {
        name.to_string()
    }
}

/// The transformers-4 name of a module name in either layout.
pub fn hf4(name: &str) -> String {
    if let Some(rest) = name.strip_prefix("model.language_model.") {
        format!("model.{rest}")
    } else if let Some(rest) = name.strip_prefix("model.visual.") {
        format!("visual.{rest}")
    } else {
        name.to_string()
    }
}

/// PEFT's `target_modules`: names, or one regular expression.
pub enum Target {
    /// Module names matched as the last name components.
    Names(Vec<String>),
    /// A regular expression over the whole module name.
    Regex(regex::Regex),
}

impl Target {
    /// PEFT's reading of `target_modules`.
    ///
    /// # Errors
    /// An invalid regular expression.
    pub fn parse(targets: &[String]) -> Result<Self, String> {
        // PEFT: a string is a regex (full match); a list holds names matched as name suffixes.
        let looks_regex = targets.len() == 1 && targets[0].chars().any(|c| ".*+?[](){}|^$\\".contains(c));
        if looks_regex {
            let re = regex::Regex::new(&format!("^(?:{})$", targets[0]))
                .map_err(|e| format!("lora.target_modules: invalid regular expression ({e})"))?;
            Ok(Self::Regex(re))
        } else {
            Ok(Self::Names(targets.to_vec()))
        }
    }

    /// Whether a module (transformers-4 name) is targeted.
    pub fn matches(&self, hf4_name: &str) -> bool {
        match self {
            Self::Names(n) => n.iter().any(|t| hf4_name == t || hf4_name.ends_with(&format!(".{t}"))),
            Self::Regex(re) => re.is_match(&hf5(hf4_name)) || re.is_match(hf4_name),
        }
    }
}

/// Attaches fresh trainable adapters (A random, B zero: the model's output is unchanged) to the
/// targeted linear layers and freezes every base parameter.
///
/// # Errors
/// Bad settings, or targets that match no layer.
pub fn apply(vlm: Vlm, s: &LoraSettings) -> Result<Vlm, ModelError> {
    s.validate().map_err(ModelError::Invalid)?;
    let target = Target::parse(&s.target_modules).map_err(ModelError::Invalid)?;
    let ids: Vec<ParamId> = linears(&vlm)
        .into_iter()
        .filter(|l| (s.train_vision || !l.vision) && target.matches(&l.hf))
        .map(|l| l.linear.weight.id)
        .collect();
    if ids.is_empty() {
        return Err(ModelError::Invalid(format!(
            "lora.target_modules {:?} match no linear layer of this model",
            s.target_modules
        )));
    }
    let dropout = s.dropout;
    // f32 factors on any base (bf16, f16 or quantized): they are trained, and AdamW keeps f32 state.
    let lora =
        Lora::new(s.rank, s.alpha).set_param_group(ParamGroup::from_ids(ids)).set_dtype(burn::tensor::FloatDType::F32);
    Ok(vlm.apply_lora(lora).with_lora_dropout(dropout))
}

/// One layer's adapter on the host: A `[in, r]` with its shape, B `[r, out]` with its shape, scale.
type HostFactors = (Vec<f32>, [usize; 2], Vec<f32>, [usize; 2], f64);

/// Adapters read from a file, by module path, waiting to be attached.
struct Attach {
    /// path (`text.layers.0.self_attn.q_proj.weight`) -> factors.
    pending: HashMap<ParamId, HostFactors>,
}

impl Reparameterizer for Attach {
    type Reparam = LoraAdapter;

    fn reparameterize<const D: usize>(
        &mut self,
        _path: &str,
        param: Param<Tensor<D>>,
    ) -> (Param<Tensor<D>>, Option<LoraAdapter>) {
        let base = param.set_require_grad(false);
        if D != 2 {
            return (base, None);
        }
        let Some((a, sa, b, sb, scale)) = self.pending.remove(&base.id) else { return (base, None) };
        let device = base.base().device();
        let adapter = LoraAdapter {
            a: Param::from_tensor(tensor2(a, sa, &device)),
            b: Param::from_tensor(tensor2(b, sb, &device)),
            scale,
        };
        (base, Some(adapter))
    }
}

/// Attaches adapters whose factors are both random, seeded on the host (identical on every
/// backend): A ~ N(0, 1/r), B ~ N(0, `b_std`). For tests and fixtures that need an adapter that
/// changes the output (a fresh adapter's B is zero).
///
/// # Errors
/// Bad settings, or targets that match no layer.
pub fn random_adapters(vlm: Vlm, s: &LoraSettings, seed: u64, b_std: f64) -> Result<Vlm, ModelError> {
    s.validate().map_err(ModelError::Invalid)?;
    let target = Target::parse(&s.target_modules).map_err(ModelError::Invalid)?;
    let mut rng = crate::rng::Rng::new(seed);
    let mut pending = HashMap::new();
    for l in linears(&vlm).into_iter().filter(|l| (s.train_vision || !l.vision) && target.matches(&l.hf)) {
        let [d_in, d_out] = l.linear.weight.dims();
        let r = s.rank;
        let a = super::layers::normal_vec(d_in * r, 1.0 / r as f64, &mut rng);
        let b = super::layers::normal_vec(r * d_out, b_std, &mut rng);
        pending.insert(l.linear.weight.id, (a, [d_in, r], b, [r, d_out], s.alpha / r as f64));
    }
    if pending.is_empty() {
        return Err(ModelError::Invalid(format!("lora.target_modules {:?} match no layer", s.target_modules)));
    }
    Ok(vlm.apply_reparameterization(Attach { pending }).with_lora_dropout(s.dropout))
}

/// PEFT's `adapter_config.json`, the fields this loader reads.
#[derive(Debug, Deserialize)]
struct PeftConfig {
    #[serde(default)]
    peft_type: Option<String>,
    r: usize,
    lora_alpha: f64,
    #[serde(default)]
    use_rslora: bool,
    #[serde(default)]
    rank_pattern: BTreeMap<String, usize>,
    #[serde(default)]
    alpha_pattern: BTreeMap<String, f64>,
    #[serde(default)]
    lora_dropout: f64,
    #[serde(default)]
    use_dora: bool,
}

/// The key of a module's factor in PEFT's safetensors, in the transformers-4 layout.
fn peft_key(hf4_name: &str, factor: &str) -> String {
    format!("base_model.model.{hf4_name}.lora_{factor}.weight")
}

fn pattern_value<T: Copy>(patterns: &BTreeMap<String, T>, hf4_name: &str, default: T) -> T {
    let hf5_name = hf5(hf4_name);
    patterns
        .iter()
        .find(|(k, _)| hf4_name == *k || hf4_name.ends_with(&format!(".{k}")) || hf5_name.ends_with(&format!(".{k}")))
        .map_or(default, |(_, v)| *v)
}

/// Loads a PEFT LoRA adapter folder onto `vlm`: every `lora_A`/`lora_B` pair in the file is
/// attached to its layer (keys in the transformers-4 or -5 layout). With `train`, the factors are
/// trainable (a run continuing from the adapter); the base stays frozen either way.
///
/// # Errors
/// A missing file, a tensor that matches no layer, shapes that do not fit, DoRA.
pub fn load_peft(vlm: Vlm, dir: &Path, train: bool) -> Result<Vlm, ModelError> {
    let cfg_path = dir.join("adapter_config.json");
    let text = std::fs::read_to_string(&cfg_path)
        .map_err(|e| ModelError::Io { reason: e.to_string(), path: cfg_path.clone() })?;
    let cfg: PeftConfig = serde_json::from_str(&text)
        .map_err(|e| ModelError::Io { reason: format!("not a PEFT adapter config ({e})"), path: cfg_path.clone() })?;
    if cfg.peft_type.as_deref().is_some_and(|t| t != "LORA") || cfg.use_dora {
        return Err(ModelError::Io {
            reason: "only LoRA adapters are supported (not DoRA or other PEFT types)".into(),
            path: cfg_path,
        });
    }
    let weights = dir.join("adapter_model.safetensors");
    let ck = Checkpoint::open(&weights)?;
    let mut keys: std::collections::BTreeSet<String> = ck.names().into_iter().collect();
    let mut pending = HashMap::new();
    for l in linears(&vlm) {
        let [d_in, d_out] = l.linear.weight.dims();
        let found = [l.hf.clone(), hf5(&l.hf)].into_iter().find(|n| keys.contains(&peft_key(n, "A")));
        let Some(name) = found else { continue };
        let (ka, kb) = (peft_key(&name, "A"), peft_key(&name, "B"));
        let shape = |k: &str| ck.shape(k).map(<[usize]>::to_vec).unwrap_or_default();
        let (sa, sb) = (shape(&ka), shape(&kb));
        let r = sa.first().copied().unwrap_or(0);
        if sa != [r, d_in] || sb != [d_out, r] || r == 0 {
            return Err(ModelError::Invalid(format!(
                "adapter tensors of {name} have shapes {sa:?} / {sb:?}; the layer is {d_out} x {d_in}: {}",
                weights.display()
            )));
        }
        // PEFT stores A as [r, in] and B as [out, r]; burn's factors are A [in, r] and B [r, out].
        let a = transpose_host(&ck.get(&ka, &sa)?, r, d_in);
        let b = transpose_host(&ck.get(&kb, &sb)?, d_out, r);
        let rank = pattern_value(&cfg.rank_pattern, &l.hf, cfg.r);
        let alpha = pattern_value(&cfg.alpha_pattern, &l.hf, cfg.lora_alpha);
        let scale = if cfg.use_rslora { alpha / (rank as f64).sqrt() } else { alpha / rank as f64 };
        pending.insert(l.linear.weight.id, (a, [d_in, r], b, [r, d_out], scale));
        keys.remove(&ka);
        keys.remove(&kb);
    }
    if let Some(left) = keys.iter().find(|k| k.contains(".lora_")) {
        return Err(ModelError::Invalid(format!(
            "adapter tensor {left} matches no layer of this model: {}",
            weights.display()
        )));
    }
    if pending.is_empty() {
        return Err(ModelError::Invalid(format!("no LoRA tensors in {}", weights.display())));
    }
    let vlm = vlm.apply_reparameterization(Attach { pending }).with_lora_dropout(cfg.lora_dropout);
    Ok(if train { vlm } else { vlm.valid() })
}

/// The regular expression (PEFT full match) of one adapted module in either transformers layout:
/// exactly the layers that were adapted, never a same-named layer elsewhere (Qwen2.5-VL's vision
/// MLP has `gate_proj` too).
fn target_pattern(hf4_name: &str) -> String {
    let parts: Vec<&str> = hf4_name.split('.').collect();
    match parts.as_slice() {
        ["model", "layers", _, rest @ ..] => format!(r".*\.layers\.\d+\.{}", rest.join(r"\.")),
        ["visual", "blocks", _, rest @ ..] => format!(r".*visual\.blocks\.\d+\.{}", rest.join(r"\.")),
        _ => format!(".*{}", hf4_name.replace('.', r"\.")),
    }
}

/// Writes the model's adapters in PEFT's format (transformers-5 keys, `adapter_config.json`): rank
/// and alpha read from the adapters themselves (`rank_pattern` / `alpha_pattern` for layers that
/// differ from the first).
///
/// # Errors
/// I/O errors, or a model without adapters.
pub fn save_peft(vlm: &Vlm, dir: &Path, base_model: &str) -> Result<(), ModelError> {
    let mut tensors = Vec::new();
    let mut targets = std::collections::BTreeSet::new();
    let (mut first, mut rank_pattern, mut alpha_pattern) = (None, BTreeMap::new(), BTreeMap::new());
    for l in linears(vlm) {
        let Some(ad) = l.linear.weight.adapter() else { continue };
        let (a, b) = (ad.a.val(), ad.b.val());
        let ([d_in, r], [_, d_out]) = (a.dims(), b.dims());
        let name = hf5(&l.hf);
        let alpha = ad.scale * r as f64;
        let (r0, alpha0) = *first.get_or_insert((r, alpha));
        if r != r0 {
            rank_pattern.insert(name.clone(), r);
        }
        if (alpha - alpha0).abs() > 1e-9 * alpha0.abs() {
            alpha_pattern.insert(name.clone(), alpha);
        }
        tensors.push(NamedTensor {
            name: format!("base_model.model.{name}.lora_A.weight"),
            shape: vec![r, d_in],
            data: transpose_host(&to_vec(a), d_in, r),
        });
        tensors.push(NamedTensor {
            name: format!("base_model.model.{name}.lora_B.weight"),
            shape: vec![d_out, r],
            data: transpose_host(&to_vec(b), r, d_out),
        });
        targets.insert(target_pattern(&l.hf));
    }
    let Some((rank, alpha)) = first else {
        return Err(ModelError::Invalid("the model has no LoRA adapters to save".into()));
    };
    let io = |e: std::io::Error| ModelError::Io { reason: e.to_string(), path: dir.to_path_buf() };
    std::fs::create_dir_all(dir).map_err(io)?;
    let config = serde_json::json!({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": alpha,
        "lora_dropout": vlm.text.adapters.dropout,
        "target_modules": targets.into_iter().collect::<Vec<_>>().join("|"), "bias": "none",
        "fan_in_fan_out": false, "use_rslora": false, "use_dora": false, "inference_mode": true,
        "base_model_name_or_path": base_model, "modules_to_save": null, "init_lora_weights": true,
        "rank_pattern": rank_pattern, "alpha_pattern": alpha_pattern,
    });
    std::fs::write(dir.join("adapter_config.json"), serde_json::to_string_pretty(&config).unwrap_or_default())
        .map_err(io)?;
    let mut meta = BTreeMap::new();
    meta.insert("format".into(), "pt".into());
    weights::write(&dir.join("adapter_model.safetensors"), &tensors, Dtype::F32, meta)?;
    Ok(())
}

/// Number of trainable adapter values and of frozen base values.
pub fn counts(vlm: &Vlm) -> (usize, usize) {
    let (mut adapters, mut base) = (0, 0);
    for l in linears(vlm) {
        if let Some(ad) = l.linear.weight.adapter() {
            adapters += ad.a.val().dims().iter().product::<usize>() + ad.b.val().dims().iter().product::<usize>();
        }
        base += l.linear.weight.dims().iter().product::<usize>();
    }
    (adapters, base)
}
