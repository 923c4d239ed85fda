//! The whole vision-language model: loading a Hugging Face checkpoint folder, the splice of image
//! features into the token embeddings (`masked_scatter` order), M-RoPE positions, full-sequence
//! logits, and saving back to an HF-compatible folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::Module;
use burn::prelude::*;

use super::config::{ConfigError, PreprocessConfig, VlmConfig};
use super::kv::{causal_bias, key_bias};
use super::layers::{index1, tensor2};
use super::names::{Builder, WeightNames};
use super::positions::{PositionError, RopePositions, rope_index};
use super::preprocess::PixelValues;
use super::shapes::ShapePolicy;
use super::text::{TextModel, mrope_cos_sin};
use super::vision::VisionTower;
use super::weights::{self, Checkpoint, Dtype, NamedTensor, WeightsError};

/// Anything that can go wrong with a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Bad `config.json` / `preprocessor_config.json`.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Bad or missing weights.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// Prompt and images disagree.
    #[error(transparent)]
    Positions(#[from] PositionError),
    /// Image preprocessing failed.
    #[error(transparent)]
    Preprocess(#[from] super::preprocess::PreprocessError),
    /// Tokenizer failure.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A bad request (prompt too long, token out of range, ...).
    #[error("{0}")]
    Invalid(String),
    /// I/O.
    #[error("cannot read ({reason}): {path}")]
    Io {
        /// Why.
        reason: String,
        /// The file.
        path: PathBuf,
    },
}

/// A left-padded batch of token ids with the images its placeholder runs refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `[batch * seq]` token ids.
    pub ids: Vec<u32>,
    /// `[batch * seq]`, 1 = real token, 0 = padding.
    pub mask: Vec<u8>,
    /// Rows.
    pub batch: usize,
    /// Columns.
    pub seq: usize,
    /// Preprocessed images, each once (the vision tower runs once per entry).
    pub images: Vec<PixelValues>,
    /// For each placeholder run in order of appearance over (batch, seq), its entry in `images`
    /// (GRPO's G copies of a prompt share one image).
    pub image_of: Vec<usize>,
}

impl Batch {
    /// Left-pads sequences (`pad_id` in the padding) into one batch; placeholder run k is `images[k]`.
    pub fn left_padded(seqs: &[Vec<u32>], pad_id: u32, images: Vec<PixelValues>) -> Self {
        let seq = seqs.iter().map(Vec::len).max().unwrap_or(0);
        Self::left_padded_to(seqs, pad_id, images, seq)
    }

    /// As [`Batch::left_padded`] with at least `len` columns (a shape bucket).
    pub fn left_padded_to(seqs: &[Vec<u32>], pad_id: u32, images: Vec<PixelValues>, len: usize) -> Self {
        let seq = seqs.iter().map(Vec::len).max().unwrap_or(0).max(len);
        let mut ids = Vec::with_capacity(seqs.len() * seq);
        let mut mask = Vec::with_capacity(seqs.len() * seq);
        for s in seqs {
            ids.extend(std::iter::repeat_n(pad_id, seq - s.len()));
            ids.extend_from_slice(s);
            mask.extend(std::iter::repeat_n(0u8, seq - s.len()));
            mask.extend(std::iter::repeat_n(1u8, s.len()));
        }
        let image_of = (0..images.len()).collect();
        Self { ids, mask, batch: seqs.len(), seq, images, image_of }
    }

    /// The same batch with shared images: placeholder run k uses `images[image_of[k]]`.
    pub fn with_shared_images(mut self, images: Vec<PixelValues>, image_of: Vec<usize>) -> Self {
        self.images = images;
        self.image_of = image_of;
        self
    }

    /// Appends `rows` rows of padding only (a fixed row count for GPU kernels; their outputs are ignored).
    pub fn with_padding_rows(mut self, rows: usize, pad_id: u32) -> Self {
        self.ids.extend(std::iter::repeat_n(pad_id, rows * self.seq));
        self.mask.extend(std::iter::repeat_n(0u8, rows * self.seq));
        self.batch += rows;
        self
    }

    /// Key validity per row, as the attention mask builder wants it.
    pub fn key_valid(&self) -> Vec<Vec<bool>> {
        (0..self.batch).map(|b| self.mask[b * self.seq..(b + 1) * self.seq].iter().map(|&m| m != 0).collect()).collect()
    }
}

/// Qwen2-VL or Qwen2.5-VL.
#[derive(Module, Debug)]
pub struct Vlm {
    /// Vision tower.
    pub visual: VisionTower,
    /// Decoder.
    pub text: TextModel,
    /// Configuration.
    #[module(skip)]
    pub config: VlmConfig,
    /// Image preprocessing settings.
    #[module(skip)]
    pub preprocess: PreprocessConfig,
    /// Every tensor's Hugging Face name, recorded when the model was built.
    #[module(skip)]
    pub names: Arc<WeightNames>,
}

impl Vlm {
    /// Loads a checkpoint folder (`config.json`, safetensors, optional `preprocessor_config.json`).
    ///
    /// # Errors
    /// [`ModelError`] naming the file, field or tensor.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, ModelError> {
        Self::load_as(dir, device, super::precision::Precision::F32)
    }

    /// [`Vlm::load`] with the weight matrices stored and multiplied in `precision` (see
    /// [`super::precision`]); norms and biases stay f32.
    ///
    /// # Errors
    /// As [`Vlm::load`].
    pub fn load_as(dir: &Path, device: &Device, precision: super::precision::Precision) -> Result<Self, ModelError> {
        let config = VlmConfig::from_file(&dir.join("config.json"))?;
        let pp = dir.join("preprocessor_config.json");
        let preprocess = if pp.is_file() { PreprocessConfig::from_file(&pp)? } else { PreprocessConfig::default() };
        let mut ck = Checkpoint::open(dir)?;
        ck.store = precision;
        let mut b = Builder::load(&ck, device);
        let visual = VisionTower::build(&mut b, &config.vision, config.arch)?;
        let text = TextModel::build(&mut b, &config.text)?;
        Ok(Self { visual, text, config, preprocess, names: Arc::new(b.finish()) })
    }

    /// A randomly initialised model (host-seeded, identical on every backend).
    ///
    /// # Errors
    /// None in practice: drawing values needs no checkpoint (the builder's errors are a checkpoint's).
    pub fn random(
        config: VlmConfig,
        preprocess: PreprocessConfig,
        seed: u64,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let mut rng = crate::rng::Rng::new(seed);
        let mut b = Builder::random(&mut rng, device);
        let visual = VisionTower::build(&mut b, &config.vision, config.arch)?;
        let text = TextModel::build(&mut b, &config.text)?;
        Ok(Self { visual, text, config, preprocess, names: Arc::new(b.finish()) })
    }

    /// The same model with LoRA dropout `p` on the adapters' inputs while training.
    #[must_use]
    pub fn with_lora_dropout(mut self, p: f64) -> Self {
        self.text.adapters.dropout = p;
        self.visual.adapters.dropout = p;
        self
    }

    /// The same model computing with its frozen base weights only (`off`) or with its adapters:
    /// the GRPO reference policy is the policy with adapters off, sharing every weight.
    #[must_use]
    pub fn with_adapters_off(mut self, off: bool) -> Self {
        self.text.adapters.off = off;
        self.visual.adapters.off = off;
        self
    }

    /// True when LoRA adapters are attached.
    pub fn has_adapters(&self) -> bool {
        super::lora::linears(self).iter().any(|l| l.linear.weight.adapter().is_some())
    }

    /// Every parameter under its Hugging Face name.
    pub fn export(&self) -> Vec<NamedTensor> {
        self.names.export(self)
    }

    /// Writes `preprocessor_config.json` (the image sizes this model is run with) into `dir`, as
    /// a full checkpoint and a PEFT adapter's folder both carry it (TRL saves the processor there).
    ///
    /// # Errors
    /// I/O errors.
    pub fn save_preprocessor(&self, dir: &Path) -> Result<(), ModelError> {
        let pp = super::hf_config::preprocessor_json(&self.preprocess, &self.config);
        std::fs::write(dir.join("preprocessor_config.json"), serde_json::to_string_pretty(&pp).unwrap_or_default())
            .map_err(|e| ModelError::Io { reason: e.to_string(), path: dir.to_path_buf() })
    }

    /// Writes `config.json` (transformers-5 nested layout), `preprocessor_config.json` and
    /// `model.safetensors` into `dir`, loadable by transformers and by [`Vlm::load`].
    ///
    /// # Errors
    /// I/O errors.
    pub fn save(&self, dir: &Path, dtype: Dtype, metadata: BTreeMap<String, String>) -> Result<(), ModelError> {
        let io = |e: std::io::Error| ModelError::Io { reason: e.to_string(), path: dir.to_path_buf() };
        std::fs::create_dir_all(dir).map_err(io)?;
        let cfg = super::hf_config::to_hf_json(&self.config, dtype);
        std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&cfg).unwrap_or_default()).map_err(io)?;
        self.save_preprocessor(dir)?;
        let mut meta = metadata;
        meta.insert("format".into(), "pt".into());
        weights::write(&dir.join("model.safetensors"), &self.export(), dtype, meta)?;
        Ok(())
    }

    /// Positions and input embeddings `[batch, seq, hidden]` with image features spliced in.
    ///
    /// # Errors
    /// [`ModelError::Positions`] when placeholders and images disagree.
    pub fn embed(&self, batch: &Batch, device: &Device) -> Result<(Tensor<3>, RopePositions), ModelError> {
        self.embed_shaped(batch, ShapePolicy::for_device(device), device)
    }

    /// [`Vlm::embed`] with the vision tower's patches padded as `policy` says.
    ///
    /// # Errors
    /// As [`Vlm::embed`].
    pub fn embed_shaped(
        &self,
        batch: &Batch,
        policy: ShapePolicy,
        device: &Device,
    ) -> Result<(Tensor<3>, RopePositions), ModelError> {
        let c = &self.config;
        let mut grids = Vec::with_capacity(batch.image_of.len());
        for &i in &batch.image_of {
            let p = batch.images.get(i).ok_or_else(|| {
                ModelError::Invalid(format!("placeholder run refers to image {i} of {}", batch.images.len()))
            })?;
            grids.push(p.grid_thw);
        }
        let pos = rope_index(
            &batch.ids,
            &batch.mask,
            batch.batch,
            batch.seq,
            &grids,
            c.image_token_id,
            c.vision.spatial_merge_size,
        )?;
        let vocab = c.text.vocab_size as u32;
        if let Some(bad) = batch.ids.iter().find(|&&t| t >= vocab) {
            return Err(ModelError::Invalid(format!("token id {bad} is outside the vocabulary ({vocab})")));
        }
        let n = batch.batch * batch.seq;
        let ids = index1(batch.ids.iter().map(|&t| i64::from(t)).collect(), device);
        let mut emb = self.text.embed(ids);
        if !batch.images.is_empty() {
            let feats = self.visual.forward(&batch.images, policy, device);
            // masked_scatter: image rows replace the placeholder positions in row-major order; each
            // run reads its image's feature rows (shared images are computed once).
            let merge = c.vision.spatial_merge_size;
            let mut first_row = Vec::with_capacity(batch.images.len());
            let mut acc = 0usize;
            for p in &batch.images {
                first_row.push(acc);
                acc += p.n_tokens(merge);
            }
            let mut gather = Vec::with_capacity(n);
            let (mut run, mut within, mut in_run) = (0usize, 0usize, false);
            for &t in &batch.ids {
                if t == c.image_token_id {
                    if !in_run {
                        in_run = true;
                        within = 0;
                    }
                    let img = batch.image_of.get(run).copied().unwrap_or(0);
                    gather.push((n + first_row.get(img).copied().unwrap_or(0) + within) as i64);
                    within += 1;
                } else {
                    if in_run {
                        run += 1;
                        in_run = false;
                    }
                    gather.push(gather.len() as i64);
                }
            }
            emb = Tensor::cat(vec![emb, feats], 0).select(0, index1(gather, device));
        }
        Ok((emb.reshape([batch.batch, batch.seq, c.text.hidden_size]), pos))
    }

    /// Full-sequence logits `[batch, seq, vocab]` (no cache).
    ///
    /// # Errors
    /// As [`Vlm::embed`].
    pub fn logits(&self, batch: &Batch, device: &Device) -> Result<Tensor<3>, ModelError> {
        let hidden = self.hidden(batch, device)?;
        Ok(self.text.logits(hidden))
    }

    /// Final hidden states `[batch, seq, hidden]` (no cache).
    ///
    /// # Errors
    /// As [`Vlm::embed`].
    pub fn hidden(&self, batch: &Batch, device: &Device) -> Result<Tensor<3>, ModelError> {
        self.hidden_shaped(batch, ShapePolicy::for_device(device), device)
    }

    /// [`Vlm::hidden`] with the vision tower's patches padded as `policy` says.
    ///
    /// # Errors
    /// As [`Vlm::embed`].
    pub fn hidden_shaped(&self, batch: &Batch, policy: ShapePolicy, device: &Device) -> Result<Tensor<3>, ModelError> {
        let (emb, pos) = self.embed_shaped(batch, policy, device)?;
        let [cos, sin, mask] = self.rope_and_mask(batch, &pos, device);
        Ok(self.text.forward(emb, cos, sin, mask, None))
    }

    /// M-RoPE cos and sin `[batch, 1, seq, head_dim]` and the causal + padding bias of a batch
    /// without a cache.
    pub fn rope_and_mask(&self, batch: &Batch, pos: &RopePositions, device: &Device) -> [Tensor<4>; 3] {
        let (cos, sin) = mrope_cos_sin(&self.config.text, &pos.ids, batch.batch, batch.seq);
        let hd = self.config.text.head_dim();
        let shape = [batch.batch, 1, batch.seq, hd];
        let cos = tensor2(cos, [batch.batch * batch.seq, hd], device).reshape(shape);
        let sin = tensor2(sin, [batch.batch * batch.seq, hd], device).reshape(shape);
        [cos, sin, causal_bias(key_bias(&batch.key_valid(), device), batch.seq)]
    }
}
