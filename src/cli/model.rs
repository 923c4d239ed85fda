//! `medvlm generate` and `medvlm model logits`: for users checking a checkpoint by hand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use super::{Backend, Cli};
use crate::model::chat::ChatTokenizer;
use crate::model::device::{BackendChoice, choose};
use crate::model::generate::{Sampling, generate};
use crate::model::layers::to_vec;
use crate::model::preprocess::{PixelValues, preprocess_rgb};
use crate::model::weights::{Dtype, NamedTensor, write};
use crate::model::{Batch, Vlm};

/// `medvlm generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Checkpoint folder (config.json, safetensors, tokenizer.json), or `sample` for the built-in medvlm-tiny.
    #[arg(long, default_value = "sample")]
    pub model: String,
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
pub fn model_dir(name: &str) -> anyhow::Result<PathBuf> {
    if name == "sample" || name == "medvlm-tiny" {
        return crate::sample::bundled_tiny_model().context("the bundled medvlm-tiny model was not found");
    }
    Ok(PathBuf::from(name))
}

fn image(path: &Path, model: &Vlm) -> anyhow::Result<PixelValues> {
    let (rgb, h, w) = crate::io::images::read_rgb(path)?;
    Ok(preprocess_rgb(&rgb, h, w, &model.config.vision, &model.preprocess)?)
}

pub(super) fn generate_cmd(cli: &Cli, a: &GenerateArgs) -> anyhow::Result<i32> {
    let dir = model_dir(&a.model)?;
    let chosen = choose(backend(cli))?;
    let model = Vlm::load(&dir, &chosen.device).with_context(|| format!("loading {}", dir.display()))?;
    let tok = ChatTokenizer::load(&dir)?;
    let images = a.image.iter().map(|p| image(p, &model)).collect::<anyhow::Result<Vec<_>>>()?;
    let merge = model.config.vision.spatial_merge_size;
    let counts: Vec<usize> = images.iter().map(|p| p.n_tokens(merge)).collect();
    let ids = tok.prompt(&a.prompt, &counts, a.system.as_deref())?;
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
        ModelCommand::Logits { model, ids, image: img, out } => {
            let chosen = choose(backend(cli))?;
            let m = Vlm::load(model, &chosen.device).with_context(|| format!("loading {}", model.display()))?;
            let image_id = m.config.image_token_id;
            let n_image_tokens = ids.iter().filter(|&&t| t == image_id).count();
            let (ids, images) = match img {
                Some(p) => {
                    if n_image_tokens != 1 {
                        bail!("--image needs exactly one image token id ({image_id}) in --ids, found {n_image_tokens}");
                    }
                    let pv = image(p, &m)?;
                    let n = pv.n_tokens(m.config.vision.spatial_merge_size);
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
