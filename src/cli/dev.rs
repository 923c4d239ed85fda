//! Developer subcommands. Full-size checkpoints offline (`dev tokenizer`, `dev random-model`,
//! `dev random-adapter`) for tests and benchmarks at real widths; `dev stress` writes items and
//! edits in acknowledged transactions, printing `ack items N` / `ack edit G` after each commit, so
//! a test can kill it at any moment and check that everything acknowledged is still in the project.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

use burn::prelude::*;

use crate::domain::{Answer, FieldEdit, ImageRef, ItemField, Modality, Split, VqaItem};
use crate::model::lora::LoraSettings;
use crate::model::{PreprocessConfig, Vlm};
use crate::store::Project;

/// `medvlm dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DevCommand,
}

/// Developer subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DevCommand {
    /// Write a `tokenizer.json` with Qwen2-VL's special tokens at their ids (151643-151656) and a
    /// byte-level BPE trained on the synthetic corpus below them.
    Tokenizer {
        /// Output folder.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Regular (BPE) tokens.
        #[arg(long, default_value_t = 8000)]
        vocab: usize,
    },
    /// Write a random checkpoint with Qwen2-VL-2B-Instruct's widths (config.json, model.safetensors,
    /// preprocessor_config.json, tokenizer.json), optionally cut to fewer layers.
    RandomModel {
        /// Output folder.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Decoder layers (28 in the release).
        #[arg(long, default_value_t = 28)]
        layers: usize,
        /// Vision blocks (32 in the release).
        #[arg(long, default_value_t = 32)]
        vision_depth: usize,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Stored precision: bf16 (as released), f16 or f32.
        #[arg(long, default_value = "bf16")]
        dtype: String,
    },
    /// Write a random PEFT LoRA adapter for a checkpoint (both factors random, so it changes the
    /// output; a fresh adapter's B is zero).
    RandomAdapter {
        /// Base checkpoint folder (or `sample`).
        #[arg(long)]
        model: String,
        /// Output folder.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Rank.
        #[arg(long, default_value_t = 4)]
        rank: usize,
        /// Alpha.
        #[arg(long, default_value_t = 8.0)]
        alpha: f64,
        /// Standard deviation of B.
        #[arg(long, default_value_t = 0.05)]
        b_std: f64,
        /// Adapt the vision tower too.
        #[arg(long)]
        vision: bool,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Insert `--chunks` chunks of `--chunk` items, editing one item after each chunk.
    Stress {
        /// Project file (created if missing).
        #[arg(long)]
        project: PathBuf,
        /// Number of chunks.
        #[arg(long, default_value_t = 1000)]
        chunks: usize,
        /// Items per chunk (one transaction each).
        #[arg(long, default_value_t = 50)]
        chunk: usize,
    },
    /// Lines of burned-in text found in images (PNG/JPEG), one JSON object per file.
    FindText {
        /// Images.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Applies `--rounds` bulk actions, each tagging every item `bulk-R` in one transaction.
    BulkStress {
        /// Project file.
        #[arg(long)]
        project: PathBuf,
        /// Number of bulk actions.
        #[arg(long, default_value_t = 1000)]
        rounds: usize,
    },
}

pub(super) fn run(args: &DevArgs) -> anyhow::Result<i32> {
    match &args.command {
        DevCommand::FindText { files } => {
            for f in files {
                let (rgb, h, w) = crate::io::images::read_rgb(f)?;
                let t = std::time::Instant::now();
                let lines = crate::imaging::text::find(&crate::imaging::text::luma(&rgb), w, h);
                let ms = t.elapsed().as_secs_f64() * 1e3;
                outln!("{}", serde_json::json!({"file": f, "w": w, "h": h, "ms": ms, "lines": lines}));
            }
            Ok(0)
        }
        DevCommand::Tokenizer { out, vocab } => {
            crate::train::full_size::write_qwen_tokenizer(out, *vocab)?;
            outln!("wrote {} (special tokens at 151643-151656)", out.join("tokenizer.json").display());
            Ok(0)
        }
        DevCommand::RandomModel { out, layers, vision_depth, seed, dtype } => {
            let dtype = super::model::parse_dtype(dtype)?;
            let cfg = crate::train::full_size::qwen2_vl_2b(*layers, *vision_depth);
            let vlm = Vlm::random(cfg, PreprocessConfig::default(), *seed, &Device::flex())?;
            let mut meta = BTreeMap::new();
            meta.insert("medvlm".into(), format!("random Qwen2-VL-2B widths, {layers} layers, seed {seed}"));
            vlm.save(out, dtype, meta)?;
            crate::train::full_size::write_qwen_tokenizer(out, 8000)?;
            outln!("wrote {} ({} parameters, {dtype:?})", out.display(), vlm.num_params());
            Ok(0)
        }
        DevCommand::RandomAdapter { model, out, rank, alpha, b_std, vision, seed } => {
            let source = crate::train::inputs::ModelSource::parse(model);
            let vlm = Vlm::load(&source.dir()?, &Device::flex())?;
            let s = LoraSettings { rank: *rank, alpha: *alpha, train_vision: *vision, ..LoraSettings::default() };
            let s = if *vision {
                let mut t = s.target_modules.clone();
                t.extend(["qkv", "proj", "fc1", "fc2"].map(String::from));
                LoraSettings { target_modules: t, ..s }
            } else {
                s
            };
            let vlm = crate::model::lora::random_adapters(vlm, &s, *seed, *b_std)?;
            crate::model::lora::save_peft(&vlm, out, model)?;
            let (adapters, _) = crate::model::lora::counts(&vlm);
            outln!("wrote {} ({adapters} adapter values)", out.display());
            Ok(0)
        }
        DevCommand::Stress { project, chunks, chunk } => {
            let (mut p, _) = Project::open_or_create(project)?;
            let mut out = std::io::stdout().lock();
            let mut n = p.item_count()?;
            for c in 0..*chunks {
                let items: Vec<VqaItem> = (0..*chunk).map(|i| synthetic(n + i)).collect();
                p.insert_items(None, &items)?;
                n += items.len();
                writeln!(out, "ack items {n}")?;
                let id = p.item_id(&items[0].uid)?;
                let item = p.item(id)?;
                let tag = format!("stress-{c}");
                let g = p.apply_edits(
                    "stress tag",
                    &[(id, FieldEdit::set(&item, ItemField::Tags, serde_json::json!([tag])))],
                )?;
                writeln!(out, "ack edit {g} {} {tag}", item.uid)?;
                out.flush()?;
            }
            Ok(0)
        }
        DevCommand::BulkStress { project, rounds } => {
            let mut p = Project::open(project)?;
            let mut out = std::io::stdout().lock();
            let ids: Vec<i64> = p.item_rows()?.iter().map(|r| r.id).collect();
            for r in 0..*rounds {
                let edits: Vec<_> = ids
                    .iter()
                    .map(|&id| {
                        Ok((
                            id,
                            FieldEdit::set(&p.item(id)?, ItemField::Tags, serde_json::json!([format!("bulk-{r}")])),
                        ))
                    })
                    .collect::<anyhow::Result<_>>()?;
                p.apply_edits(&format!("bulk {r}"), &edits)?;
                writeln!(out, "ack bulk {r}")?;
                out.flush()?;
            }
            Ok(0)
        }
    }
}

fn synthetic(i: usize) -> VqaItem {
    VqaItem {
        uid: format!("stress/{i}"),
        images: vec![ImageRef::missing(format!("/nonexistent/{i}.png"))],
        question: format!("Stress question {i} — 压力测试?"),
        options: vec!["Yes".into(), "No".into()],
        answer: Answer::Choice(i % 2),
        modality: Modality::Mri,
        body_part: None,
        source: "stress".into(),
        split: Split::Train,
        tags: vec![],
        meta: BTreeMap::new(),
    }
}
