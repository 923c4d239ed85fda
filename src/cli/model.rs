//! `medvlm generate` and `medvlm model logits|check|merge`: for users checking a checkpoint (and a
//! PEFT adapter on it) by hand. Every model opens through [`crate::train::inputs`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use super::{Backend, Cli};
use crate::model::Batch;
use crate::model::device::{BackendChoice, choose};
use crate::model::generate::{Sampling, generate};
use crate::model::layers::to_vec;
use crate::model::precision::{BaseQuant, Precision};
use crate::model::processor::ImageProcessor;
use crate::model::weights::{Dtype, NamedTensor, write};
use crate::train::inputs::{Loaded, ModelSource, OpenOptions, open_weights};

/// `--dtype` and `--quantize-base` for the commands that run a model.
#[derive(Debug, Clone, clap::Args)]
pub struct ComputeArgs {
    /// Weight dtype: f32, bf16 or f16 (norms, softmax and accumulation stay f32; a wgpu device
    /// without bf16 computes in f16).
    #[arg(long, default_value = "f32", value_parser = Precision::parse)]
    pub dtype: Precision,
    /// QLoRA: the decoder's base weights quantized to q8 or q4 (with --adapter).
    #[arg(long, value_name = "BITS", value_parser = BaseQuant::parse)]
    pub quantize_base: Option<BaseQuant>,
}

impl ComputeArgs {
    /// Inference options on `backend` with these settings.
    pub fn open(&self, backend: BackendChoice) -> OpenOptions {
        OpenOptions { precision: self.dtype, quantize: self.quantize_base, ..OpenOptions::infer(backend) }
    }
}

/// `medvlm generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Weight dtype and QLoRA base.
    #[command(flatten)]
    pub compute: ComputeArgs,
    /// Checkpoint folder (config.json, safetensors, tokenizer.json), or `sample` for the built-in medvlm-tiny.
    #[arg(long, default_value = "sample")]
    pub model: String,
    /// A PEFT LoRA adapter folder (adapter_model.safetensors + adapter_config.json) on the model.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    /// Image file(s), placed before the prompt text.
    #[arg(long)]
    pub image: Vec<PathBuf>,
    /// The user message.
    #[arg(long)]
    pub prompt: String,
    /// Greedy decoding (the default unless --temperature is given).
    #[arg(long)]
    pub greedy: bool,
    /// Sampling temperature.
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Nucleus sampling threshold.
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// Top-k filter (0 = off).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Maximum new tokens.
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// System message (default: Qwen's "You are a helpful assistant.").
    #[arg(long)]
    pub system: Option<String>,
}

/// `medvlm model`.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ModelCommand,
}

/// Model debugging subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ModelCommand {
    /// Check that every tensor of a checkpoint is finite (run on every load too); exit 2 names the
    /// first NaN / infinite tensor.
    Check {
        /// Checkpoint folder (or `sample`).
        #[arg(long)]
        model: String,
    },
    /// Write the full-sequence logits `[seq, vocab]` (f32 tensor `logits`) for exact token ids.
    Logits {
        /// Checkpoint folder.
        #[arg(long)]
        model: PathBuf,
        /// A PEFT LoRA adapter folder on the model.
        #[arg(long, value_name = "DIR")]
        adapter: Option<PathBuf>,
        /// Weight dtype and QLoRA base.
        #[command(flatten)]
        compute: ComputeArgs,
        /// Comma-separated token ids; with --image, the one image token id stands for the image
        /// and is expanded to its token count.
        #[arg(long, value_delimiter = ',')]
        ids: Vec<u32>,
        /// Image for the image token.
        #[arg(long)]
        image: Option<PathBuf>,
        /// Output safetensors file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Merge a PEFT LoRA adapter into its base and write a full Hugging Face checkpoint
    /// (config.json, model.safetensors, preprocessor_config.json, tokenizer.json).
    Merge {
        /// Base checkpoint folder (or `sample`).
        #[arg(long)]
        model: String,
        /// The adapter folder.
        #[arg(long, value_name = "DIR")]
        adapter: PathBuf,
        /// Output folder.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Stored precision: f32, bf16 or f16.
        #[arg(long, default_value = "bf16")]
        dtype: String,
    },
}

/// The `--backend` flag as a device choice.
pub fn backend(cli: &Cli) -> BackendChoice {
    match cli.backend {
        Backend::Auto => BackendChoice::Auto,
        Backend::Wgpu => BackendChoice::Wgpu,
        Backend::Cpu => BackendChoice::Cpu,
    }
}

/// The folder of `--model`: `sample` / `medvlm-tiny` mean the bundled tiny model.
///
/// # Errors
/// The bundled model is missing.
pub fn model_dir(name: &str) -> anyhow::Result<PathBuf> {
    Ok(ModelSource::parse(name).dir()?)
}

pub(super) fn generate_cmd(cli: &Cli, a: &GenerateArgs) -> anyhow::Result<i32> {
    let source = ModelSource::parse(&a.model).with_adapter(a.adapter.clone());
    let chosen = choose(backend(cli))?;
    let Loaded { vlm: model, processor, chosen, .. } = Loaded::open_on(&source, chosen, &a.compute.open(backend(cli)))
        .with_context(|| format!("loading {}", source.describe()))?;
    let tok = &processor.tok;
    let images = a.image.iter().map(|p| processor.images.image_file(p)).collect::<Result<Vec<_>, _>>()?;
    let ids = processor.prompt(&a.prompt, &images, a.system.as_deref())?;
    let sampling = Sampling {
        greedy: a.greedy || a.temperature.is_none(),
        temperature: a.temperature.unwrap_or(1.0),
        top_k: a.top_k,
        top_p: a.top_p,
        max_new_tokens: a.max_new_tokens,
        seed: a.seed,
    };
    if !sampling.greedy && sampling.temperature.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        bail!("--temperature must be > 0");
    }
    let batch = Batch::left_padded(&[ids], tok.endoftext, images);
    let t0 = std::time::Instant::now();
    let out = generate(&model, &batch, &tok.stop_ids(), &sampling, tok.endoftext, &chosen.device)?;
    let text = tok.decode(&out.tokens[0], true)?;
    outln!("{text}");
    eprintln!(
        "[{} new tokens in {:.2}s on {}; {}]",
        out.tokens[0].len(),
        t0.elapsed().as_secs_f64(),
        chosen.description,
        if out.stopped[0] { "stopped at end of turn" } else { "cut at --max-new-tokens" }
    );
    Ok(0)
}

pub(super) fn run(cli: &Cli, a: &ModelArgs) -> anyhow::Result<i32> {
    match &a.command {
        ModelCommand::Check { model } => {
            let dir = model_dir(model)?;
            crate::model::VlmConfig::from_file(&dir.join("config.json"))?;
            let ck = crate::model::weights::Checkpoint::open(&dir)?;
            let (tensors, values) = ck.check_all().with_context(|| format!("checking {}", dir.display()))?;
            outln!("ok: {tensors} tensors, {values} values, all finite ({})", dir.display());
            Ok(0)
        }
        ModelCommand::Merge { model, adapter, out, dtype } => merge(model, adapter, out, dtype),
        ModelCommand::Logits { model, adapter, compute, ids, image: img, out } => {
            let chosen = choose(backend(cli))?;
            let source = ModelSource::parse(&model.to_string_lossy()).with_adapter(adapter.clone());
            let m = open_weights(&source, &chosen, &compute.open(backend(cli)))
                .with_context(|| format!("loading {}", source.describe()))?;
            let image_id = m.config.image_token_id;
            let n_image_tokens = ids.iter().filter(|&&t| t == image_id).count();
            let (ids, images) = match img {
                Some(p) => {
                    if n_image_tokens != 1 {
                        bail!("--image needs exactly one image token id ({image_id}) in --ids, found {n_image_tokens}");
                    }
                    let images = ImageProcessor::of(&m);
                    let pv = images.image_file(p)?;
                    let n = images.tokens(&pv);
                    let expanded: Vec<u32> =
                        ids.iter().flat_map(|&t| if t == image_id { vec![t; n] } else { vec![t] }).collect();
                    (expanded, vec![pv])
                }
                None => {
                    if n_image_tokens > 0 {
                        bail!("--ids contains the image token id {image_id} but no --image was given");
                    }
                    (ids.clone(), vec![])
                }
            };
            if ids.is_empty() {
                bail!("--ids is empty");
            }
            let seq = ids.len();
            let batch = Batch::left_padded(&[ids], 0, images);
            let logits = to_vec(m.logits(&batch, &chosen.device)?);
            let vocab = m.config.text.vocab_size;
            let t = NamedTensor { name: "logits".into(), shape: vec![seq, vocab], data: logits };
            write(out, &[t], Dtype::F32, BTreeMap::new())?;
            eprintln!("wrote logits [{seq}, {vocab}] to {} ({})", out.display(), chosen.description);
            Ok(0)
        }
    }
}

/// A `--dtype` value.
///
/// # Errors
/// Anything but f32, bf16, f16.
pub fn parse_dtype(dtype: &str) -> anyhow::Result<Dtype> {
    Ok(match dtype {
        "f32" => Dtype::F32,
        "bf16" => Dtype::Bf16,
        "f16" => Dtype::F16,
        other => bail!("--dtype {other:?}: use f32, bf16 or f16"),
    })
}

fn merge(model: &str, adapter: &Path, out: &Path, dtype: &str) -> anyhow::Result<i32> {
    let dtype = parse_dtype(dtype)?;
    if out.join("config.json").exists() {
        bail!("{} already holds a checkpoint; choose an empty folder", out.display());
    }
    let source = ModelSource::parse(model).with_adapter(Some(adapter.to_path_buf()));
    let chosen = choose(BackendChoice::Cpu)?;
    let vlm = open_weights(&source, &chosen, &OpenOptions::default())
        .with_context(|| format!("loading {}", source.describe()))?;
    let (adapted, _) = crate::model::lora::counts(&vlm);
    let mut meta = BTreeMap::new();
    meta.insert("medvlm".into(), format!("merged LoRA adapter ({adapted} adapter values)"));
    // `save` writes each weight's effective value: base + scale * A B.
    vlm.save(out, dtype, meta).with_context(|| format!("writing {}", out.display()))?;
    let dir = source.dir()?;
    for f in ["tokenizer.json", "tokenizer_config.json", "generation_config.json", "chat_template.json"] {
        if dir.join(f).is_file() {
            std::fs::copy(dir.join(f), out.join(f)).with_context(|| format!("copying {f}"))?;
        }
    }
    outln!("merged {} into {} ({dtype:?})", source.describe(), out.display());
    Ok(0)
}
