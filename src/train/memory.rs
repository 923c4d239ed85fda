//! The memory plan of a GRPO run before it launches: weights, LoRA adapters, gradients, optimizer
//! state, training activations per token (with and without gradient checkpointing), the logits of
//! the completions, and the KV cache for G x (prompt + completion), in the phases that hold them at
//! once (generation, then the training pass). A run whose plan does not fit the memory there is is
//! refused with these numbers; each step records the peak it measured, to compare.
//!
//! The activation model counts the f32 tensors our decoder layer keeps for the backward pass
//! (norm inputs and outputs, q/k/v and their rotations, attention scores and probabilities, the
//! SwiGLU intermediates); it is checked against measured peaks in `tests/it/lora.rs` and the
//! issue's 2B-widths run.

use std::fmt::Write as _;
use std::path::Path;

use crate::model::ModelError;
use crate::model::config::VlmConfig;
use crate::model::lora::{self, LoraSettings};
use crate::model::weights::Checkpoint;
use crate::train::grpo::config::GrpoConfig;

/// Bytes of an f32.
const F32: u64 = 4;
/// Process overhead the plan adds on the CPU (binary, tokenizer, project, allocator slack).
pub const HOST_OVERHEAD: u64 = 300 << 20;

/// What the plan is made from besides the config: the checkpoint's parameters and the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanInputs {
    /// Base parameters (from the checkpoint's headers).
    pub base_params: u64,
    /// Trainable parameters: LoRA factors, or every base parameter.
    pub trainable: u64,
    /// Longest prompt in tokens (image tokens included).
    pub prompt_len: usize,
    /// Most image patches of one prompt (before the 2x2 merge).
    pub image_patches: usize,
    /// Generation on the CPU: the host decoder copies the text weights (merged) once per rollout.
    pub host_generation: bool,
}

/// The embedding matrix's size in values (the LM head of a tied model).
fn vocab_h(t: &crate::model::TextConfig) -> u64 {
    (t.vocab_size * t.hidden_size) as u64
}

/// The plan, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Base weights (f32 on the device).
    pub weights: u64,
    /// A separate reference model (full fine-tuning with beta != 0; none with LoRA).
    pub reference: u64,
    /// Trainable parameters (LoRA factors; included in `weights` for full fine-tuning).
    pub adapters: u64,
    /// Gradients of the trainable parameters.
    pub gradients: u64,
    /// AdamW's two moments.
    pub optimizer: u64,
    /// Saved activations of one micro-batch's training pass.
    pub activations: u64,
    /// The same with gradient checkpointing.
    pub activations_checkpointed: u64,
    /// Completion logits, log-softmax and their gradients.
    pub logits: u64,
    /// KV cache of the rollouts: G x prompts x (prompt + completion).
    pub kv_cache: u64,
    /// Transient of a prefill layer during generation.
    pub prefill: u64,
    /// The CPU host decoder's copy of the text weights during generation.
    pub host_copy: u64,
    /// Whether the run uses gradient checkpointing.
    pub checkpointing: bool,
    /// Widened copies while half or quantized weights multiply: on the CPU each half product
    /// widens its weight to f32 (the largest, the embedding as LM head); a QLoRA layer
    /// dequantizes its weight at each product.
    pub widened: u64,
    /// QLoRA's training pass: the decoder's dequantized weights, held by autodiff until the
    /// backward pass propagates through them.
    pub dequantized: u64,
    /// The weight matrices' dtype.
    pub dtype: crate::model::precision::Precision,
    /// QLoRA: the decoder linears' quantization.
    pub quant: Option<crate::model::precision::BaseQuant>,
}

impl MemoryPlan {
    /// Always held: weights, reference, adapters, optimizer state.
    pub fn resident(&self) -> u64 {
        self.weights + self.reference + self.adapters + self.optimizer
    }

    /// Peak of the generation phase.
    pub fn generation_peak(&self) -> u64 {
        self.resident() + self.kv_cache + self.prefill + self.host_copy + self.widened
    }

    /// Peak of the training pass.
    pub fn training_peak(&self) -> u64 {
        let act = if self.checkpointing { self.activations_checkpointed } else { self.activations };
        self.resident() + self.gradients + act + self.logits + self.widened + self.dequantized
    }

    /// The larger phase.
    pub fn peak(&self) -> u64 {
        self.generation_peak().max(self.training_peak())
    }

    /// A table for people (the CLI's `--dry-run`, the Training form).
    pub fn table(&self) -> String {
        let mut s = String::new();
        let row = |s: &mut String, k: &str, v: u64| {
            let _ = writeln!(s, "  {k:<34} {}", gb(v));
        };
        let stored = match self.quant {
            Some(q) => format!("weights ({}, decoder {})", self.dtype.name(), q.name()),
            None => format!("weights ({})", self.dtype.name()),
        };
        row(&mut s, &stored, self.weights);
        if self.reference > 0 {
            row(&mut s, "reference model", self.reference);
        }
        if self.adapters > 0 {
            row(&mut s, "LoRA adapters", self.adapters);
        }
        if self.widened > 0 {
            row(&mut s, "widened weight (per product)", self.widened);
        }
        if self.dequantized > 0 {
            row(&mut s, "dequantized decoder (training)", self.dequantized);
        }
        row(&mut s, "gradients", self.gradients);
        row(&mut s, "optimizer state (AdamW)", self.optimizer);
        row(&mut s, "KV cache (generation)", self.kv_cache);
        if self.host_copy > 0 {
            row(&mut s, "CPU decoder's weight copy", self.host_copy);
        }
        row(&mut s, "activations per micro-batch", self.activations);
        row(&mut s, "  with gradient checkpointing", self.activations_checkpointed);
        row(&mut s, "completion logits", self.logits);
        row(&mut s, "peak: generation", self.generation_peak());
        row(&mut s, "peak: training pass", self.training_peak());
        let _ = write!(
            s,
            "  {:<34} {}{}",
            "planned peak",
            gb(self.peak()),
            if self.checkpointing { " (gradient checkpointing on)" } else { "" }
        );
        s
    }
}

/// Bytes as GB with two decimals (MB below 1 GB).
pub fn gb(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.2} GB", bytes as f64 / f64::from(1u32 << 30))
    } else {
        format!("{:.0} MB", bytes as f64 / f64::from(1u32 << 20))
    }
}

/// Parameters of a checkpoint folder and the LoRA factors `lora` would add, from the safetensors
/// headers only (no weights read).
///
/// # Errors
/// Unreadable checkpoint or bad LoRA targets.
pub fn count_params(dir: &Path, lora: Option<&LoraSettings>) -> Result<(u64, u64), ModelError> {
    let ck = Checkpoint::open(dir)?;
    let mut base = 0u64;
    let mut adapters = 0u64;
    let target = lora.map(|s| lora::Target::parse(&s.target_modules).map_err(ModelError::Invalid)).transpose()?;
    for name in ck.names() {
        let shape = ck.shape(&name).map(<[usize]>::to_vec).unwrap_or_default();
        base += shape.iter().map(|&d| d as u64).product::<u64>();
        let (Some(s), Some(t)) = (lora, &target) else { continue };
        let Some(module) = name.strip_suffix(".weight") else { continue };
        let module = lora::hf4(module);
        let vision = module.starts_with("visual.");
        if shape.len() == 2 && !module.ends_with("embed_tokens") && (s.train_vision || !vision) && t.matches(&module) {
            adapters += (s.rank * (shape[0] + shape[1])) as u64;
        }
    }
    Ok((base, if lora.is_some() { adapters } else { base }))
}

/// The plan of `cfg` on a model of `model` with `inputs`.
pub fn plan(model: &VlmConfig, cfg: &GrpoConfig, inputs: PlanInputs) -> MemoryPlan {
    let t = &model.text;
    let (h, i, heads) = (t.hidden_size as u64, t.intermediate_size as u64, t.num_attention_heads as u64);
    let kv = (t.num_key_value_heads * t.head_dim()) as u64;
    let layers = t.num_hidden_layers as u64;
    let lora = cfg.lora.is_some() || cfg.adapter.is_some();
    let completion = cfg.max_completion_length as u64;
    let seq = inputs.prompt_len as u64 + completion;
    let rows_gen = (cfg.prompts_per_step * cfg.num_generations) as u64;
    let rows_train = rows_gen / cfg.gradient_accumulation_steps.max(1) as u64;
    let tokens = rows_train * seq;
    // Per token and layer: x, norm(x), q/k/v, rotated q/k, attention output, o_proj output,
    // residual and norm, gate, up, silu(gate), their product, down; scores, masked scores and
    // probabilities over `seq` keys per head.
    let per_token = 8 * h + 3 * kv + 4 * i + 3 * heads * seq;
    let rank = cfg.lora.as_ref().map_or(0, |l| l.rank as u64);
    let adapter_act = 7 * rank;
    let vision_trained = !lora || cfg.lora.as_ref().is_some_and(|l| l.train_vision);
    let v = &model.vision;
    let images = (cfg.prompts_per_step / cfg.gradient_accumulation_steps.max(1)) as u64;
    let patches = inputs.image_patches as u64;
    let vision_act = if vision_trained {
        images
            * patches
            * v.depth as u64
            * (6 * v.width as u64 + 2 * v.mlp_hidden as u64 + 2 * v.num_heads as u64 * patches)
    } else {
        0
    };
    let vocab = t.vocab_size as u64;
    let text_params = vocab * h * if t.tie_word_embeddings { 1 } else { 2 }
        + layers * (2 * h * h + 2 * h * kv + 3 * h * i + 3 * h + 2 * kv)
        + h;
    // Weight matrices in the run's dtype (norms and biases, a few thousand values, too); QLoRA's
    // decoder linears at their packed size plus one layer's largest weight widened to f32 while
    // it multiplies (a half weight on the CPU is widened per product too).
    let dtype = cfg.dtype.bytes();
    let decoder_linear = layers * (2 * h * h + 2 * h * kv + 3 * h * i);
    let quant = cfg.lora.as_ref().and_then(|l| l.quantize_base);
    let weights = match quant {
        Some(q) => {
            inputs.base_params.saturating_sub(decoder_linear) * dtype
                + (decoder_linear as f64 * q.bytes_per_weight()) as u64
        }
        None => inputs.base_params * dtype,
    };
    let cpu = inputs.host_generation;
    let widened = match (dtype != F32 && cpu, quant.is_some()) {
        (true, _) => vocab_h(t) * F32,
        (false, true) => h * i * F32,
        (false, false) => 0,
    };
    let dequantized = if quant.is_some() { decoder_linear * F32 } else { 0 };
    MemoryPlan {
        widened,
        dequantized,
        dtype: cfg.dtype,
        quant,
        // The copy, plus the transient of its largest tensor (the embedding goes through a
        // `TensorData` on its way to the host vector).
        host_copy: if inputs.host_generation { (text_params + vocab * h) * F32 } else { 0 },
        weights,
        reference: if !lora && cfg.beta != 0.0 { inputs.base_params * F32 } else { 0 },
        adapters: if lora { inputs.trainable * F32 } else { 0 },
        gradients: inputs.trainable * F32,
        optimizer: 2 * inputs.trainable * F32,
        activations: (tokens * layers * (per_token + adapter_act) + vision_act) * F32,
        // Decoder-layer checkpointing keeps every layer's input and recomputes one segment at a
        // time: a layer with its gradient flowing, or the vision tower.
        activations_checkpointed: (tokens * layers * h + (tokens * (per_token + adapter_act + 2 * h)).max(vision_act))
            * F32,
        logits: 3 * rows_train * completion * vocab * F32,
        kv_cache: crate::model::budget::kv_cache_bytes(t, rows_gen as usize, seq as usize),
        prefill: rows_gen * inputs.prompt_len as u64 * (2 * i + heads * inputs.prompt_len as u64 + 4 * h) * F32
            + rows_gen * vocab * F32,
        checkpointing: cfg.gradient_checkpointing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lora_needs_far_less_than_full_fine_tuning_at_2b_widths() {
        let model = crate::train::full_size::qwen2_vl_2b(28, 32);
        let full = GrpoConfig::preset("medvlm-r1").unwrap();
        let lora = GrpoConfig::preset("medvlm-r1-lora").unwrap();
        let inputs = PlanInputs {
            base_params: 2_208_985_600,
            trainable: 2_208_985_600,
            prompt_len: 400,
            image_patches: 1024,
            host_generation: false,
        };
        let pf = plan(&model, &full, inputs);
        let pl = plan(&model, &lora, PlanInputs { trainable: 18_464_768, ..inputs });
        // Full fine-tuning: weights + reference + gradients + 2 moments = 5 copies of 8.8 GB.
        assert!(pf.resident() + pf.gradients > 40 << 30, "{}", pf.table());
        assert!(pl.resident() < 10 << 30, "{}", pl.table());
        assert!(pl.activations_checkpointed < pl.activations);
        assert_eq!(pl.reference, 0);
        assert!(pl.table().contains("planned peak"));
    }
}
