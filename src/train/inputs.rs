//! One way into a model for every job (GRPO, evaluation, pass counts, checkpoint comparison, the CLI
//! and the GUI): where the weights are ([`ModelSource`]: the bundled model, a folder, and optionally
//! a PEFT adapter), [`Loaded::open`] on the chosen device, and an item turned into model input
//! ([`prompt_item`]) through the model's [`Processor`].

use std::path::{Path, PathBuf};

use burn::prelude::*;

use crate::domain::VqaItem;
use crate::domain::prompt::PromptTemplate;
use crate::model::device::{BackendChoice, Chosen, DeviceError, choose};
use crate::model::precision::{BaseQuant, Precision};
use crate::model::preprocess::PixelValues;
use crate::model::processor::Processor;
use crate::model::{ModelError, Vlm};
use crate::store::{Project, StoreError};

/// Where a model's base weights are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// The built-in `medvlm-tiny` (names `sample` and `medvlm-tiny`).
    Bundled,
    /// A Hugging Face checkpoint folder.
    Dir(PathBuf),
}

/// A model to open: base weights and optionally a PEFT LoRA adapter folder on top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSource {
    /// The base.
    pub base: Base,
    /// `adapter_model.safetensors` + `adapter_config.json`, when given.
    pub adapter: Option<PathBuf>,
}

impl ModelSource {
    /// A model name as users type it: `sample` / `medvlm-tiny` for the built-in model, else a folder.
    pub fn parse(name: &str) -> Self {
        let base = if name == "sample" || name == "medvlm-tiny" { Base::Bundled } else { Base::Dir(name.into()) };
        Self { base, adapter: None }
    }

    /// The same with an adapter on top.
    pub fn with_adapter(mut self, adapter: Option<PathBuf>) -> Self {
        self.adapter = adapter;
        self
    }

    /// The base folder.
    ///
    /// # Errors
    /// [`InputError::NoBundledModel`] when the built-in model is not installed.
    pub fn dir(&self) -> Result<PathBuf, InputError> {
        match &self.base {
            Base::Bundled => crate::sample::bundled_tiny_model().ok_or(InputError::NoBundledModel),
            Base::Dir(d) => Ok(d.clone()),
        }
    }

    /// A run's checkpoint folder: a PEFT adapter on `base` when it holds `adapter_config.json` (a
    /// LoRA run), else full weights.
    pub fn checkpoint(base: &str, dir: &Path) -> Self {
        if dir.join("adapter_config.json").is_file() {
            Self::parse(base).with_adapter(Some(dir.to_path_buf()))
        } else {
            Self { base: Base::Dir(dir.to_path_buf()), adapter: None }
        }
    }

    /// The name shown to people (`medvlm-tiny`, a folder, `folder + adapter`).
    pub fn describe(&self) -> String {
        let base = match &self.base {
            Base::Bundled => "medvlm-tiny".to_string(),
            Base::Dir(d) => d.display().to_string(),
        };
        match &self.adapter {
            Some(a) => format!("{base} + adapter {}", a.display()),
            None => base,
        }
    }

    /// True for the built-in toy model.
    pub fn is_bundled(&self) -> bool {
        self.base == Base::Bundled
    }
}

/// Why a model or an item could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The built-in model is not where it should be.
    #[error("the bundled medvlm-tiny model was not found (it ships in sample-data/medvlm-tiny)")]
    NoBundledModel,
    /// No device.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// Model, tokenizer, preprocessing, adapter.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Project access.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An image could not be read.
    #[error(transparent)]
    Image(#[from] crate::io::images::BadImage),
    /// An item's prompt is too long.
    #[error(
        "item {uid}: the prompt has {len} tokens ({image} image tokens), more than max_prompt_length = {max}; prompts are never truncated (that could cut image tokens) — raise max_prompt_length or lower max_pixels"
    )]
    PromptTooLong {
        /// Item uid.
        uid: String,
        /// Prompt tokens.
        len: usize,
        /// Image tokens among them.
        image: usize,
        /// The limit.
        max: usize,
    },
    /// Settings that cannot work together, named.
    #[error("{0}")]
    Config(String),
}

/// How to open a model.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Compute backend.
    pub backend: BackendChoice,
    /// Put the weights on the autodiff device (training).
    pub train: bool,
    /// Train fresh LoRA adapters on a frozen base (when training from a base without an adapter).
    pub lora: Option<crate::model::lora::LoraSettings>,
    /// Weight matrices' dtype (`--dtype`); the device may lower it (bf16 -> f16 on wgpu).
    pub precision: Precision,
    /// Quantize the decoder's base weights (QLoRA; inference with an adapter, or `lora.quantize_base`).
    pub quantize: Option<BaseQuant>,
}

impl OpenOptions {
    /// The device the weights go to: the autodiff twin for training, else the inference device
    /// (gradient checkpointing is decoder-layer recomputation in the step, not a device setting).
    pub fn device(&self, chosen: &Chosen) -> Device {
        if self.train { chosen.device.clone().autodiff() } else { chosen.device.clone() }
    }

    /// Inference on `backend`.
    pub fn infer(backend: BackendChoice) -> Self {
        Self { backend, ..Self::default() }
    }
}

/// A model ready to run: weights on a device and the processor for its inputs.
pub struct Loaded {
    /// The model.
    pub vlm: Vlm,
    /// Tokenizer and image preprocessing.
    pub processor: Processor,
    /// The device (inference device; `vlm` sits on its autodiff twin when opened for training).
    pub chosen: Chosen,
    /// The base folder.
    pub dir: PathBuf,
}

impl Loaded {
    /// Opens `source` on the chosen backend.
    ///
    /// # Errors
    /// [`InputError`] naming the device, the file or the tensor.
    pub fn open(source: &ModelSource, opts: &OpenOptions) -> Result<Self, InputError> {
        let chosen = choose(opts.backend)?;
        Self::open_on(source, chosen, opts)
    }

    /// Opens `source` on an already chosen device.
    ///
    /// # Errors
    /// As [`Loaded::open`].
    pub fn open_on(source: &ModelSource, chosen: Chosen, opts: &OpenOptions) -> Result<Self, InputError> {
        let dir = source.dir()?;
        let vlm = open_weights(source, &chosen, opts)?;
        let processor = Processor::load(&dir, &vlm)?;
        Ok(Self { vlm, processor, chosen, dir })
    }

    /// The inference device.
    pub fn device(&self) -> &Device {
        &self.chosen.device
    }
}

/// The weights of `source` alone (no tokenizer: raw token ids, merging, checks): the base, then the
/// adapter, or fresh LoRA adapters when training with [`OpenOptions::lora`].
///
/// # Errors
/// [`InputError`] naming the file or tensor.
pub fn open_weights(source: &ModelSource, chosen: &Chosen, opts: &OpenOptions) -> Result<Vlm, InputError> {
    let dir = source.dir()?;
    let (precision, note) = opts.precision.on(&chosen.device);
    if let Some(n) = note {
        log::warn!("{n}");
    }
    let fresh_lora = source.adapter.is_none() && opts.lora.is_some();
    let lora_run = source.adapter.is_some() || fresh_lora;
    let quantize = opts.quantize.or_else(|| opts.lora.as_ref().and_then(|l| l.quantize_base));
    if opts.train && !lora_run && (precision != Precision::F32 || quantize.is_some()) {
        return Err(InputError::Config(format!(
            "dtype {} / quantize_base: full fine-tuning keeps f32 weights (AdamW updates them); train a LoRA adapter ([lora]) on a half-precision or quantized base",
            precision.name()
        )));
    }
    if quantize.is_some() && !lora_run {
        return Err(InputError::Config(
            "quantize_base (QLoRA) needs LoRA: an --adapter, or a [lora] table when training".into(),
        ));
    }
    let vlm = Vlm::load_as(&dir, &opts.device(chosen), precision)?;
    let vlm = match quantize {
        Some(q) => crate::model::lora::quantize_base(vlm, q),
        None => vlm,
    };
    Ok(match (&source.adapter, &opts.lora) {
        (Some(a), _) => {
            let mut vlm = crate::model::lora::load_peft(vlm, a, opts.train)?;
            // An adapter folder's image sizes (a run's max_pixels) are the ones it was trained with.
            let pp = a.join("preprocessor_config.json");
            if pp.is_file() {
                vlm.preprocess = crate::model::config::PreprocessConfig::from_file(&pp).map_err(ModelError::from)?;
            }
            vlm
        }
        (None, Some(s)) if opts.train => crate::model::lora::apply(vlm, s)?,
        (None, _) => vlm,
    })
}

/// A training or evaluation example ready for prompting.
#[derive(Clone)]
pub struct PromptItem {
    /// Store row id.
    pub id: i64,
    /// The item.
    pub item: VqaItem,
    /// Prompt token ids (image placeholders expanded).
    pub prompt: Vec<u32>,
    /// Its image.
    pub image: Option<PixelValues>,
}

/// An item rendered as a prompt: its first image read and preprocessed, the template applied and
/// tokenised. Prompts longer than `max_len` are an error, never truncated.
///
/// # Errors
/// [`InputError::PromptTooLong`], image and tokenizer errors.
pub fn prompt_item(
    project: &Project,
    id: i64,
    item: VqaItem,
    processor: &Processor,
    template: &PromptTemplate,
    max_len: usize,
) -> Result<PromptItem, InputError> {
    let image = match item.images.first() {
        Some(r) => Some(read_image(processor, &project.resolve_image(&r.path))?),
        None => None,
    };
    let images: Vec<PixelValues> = image.iter().cloned().collect();
    let prompt = processor.prompt(&template.render(&item), &images, None)?;
    if prompt.len() > max_len {
        return Err(InputError::PromptTooLong {
            uid: item.uid,
            len: prompt.len(),
            image: images.iter().map(|p| processor.images.tokens(p)).sum(),
            max: max_len,
        });
    }
    Ok(PromptItem { id, item, prompt, image })
}

/// An image file as the model's patches.
///
/// # Errors
/// [`InputError::Image`] naming the file, preprocessing errors.
pub fn read_image(processor: &Processor, path: &Path) -> Result<PixelValues, InputError> {
    let (rgb, h, w) = crate::io::images::read_rgb(path)?;
    Ok(processor.image(&rgb, h, w)?)
}

/// An item with its first image's file (`None`: text only), read and preprocessed only when its
/// batch is evaluated.
pub type Evaluable = (VqaItem, Option<PathBuf>);

/// The items `keep` accepts with their first image's file, leaving out items whose image is
/// missing or flagged unreadable, named with the reason (jobs skip them). No image is decoded here:
/// a real image preprocesses to up to ~24 MB of pixel values, so each is read when its batch
/// comes.
///
/// # Errors
/// Store errors.
pub fn load_usable_items(
    project: &Project,
    keep: impl Fn(&VqaItem) -> bool,
) -> Result<(Vec<Evaluable>, crate::train::Skipped), InputError> {
    let (mut out, mut skipped) = (Vec::new(), Vec::new());
    for (_, item) in project.items()?.into_iter().filter(|(_, i)| keep(i)) {
        if item.is_draft() {
            skipped.push((item.uid.clone(), "no question yet (tagged needs-question)".to_string()));
            continue;
        }
        let path = match item.images.first() {
            Some(r) if r.is_missing() => {
                skipped.push((item.uid.clone(), "image file missing".to_string()));
                continue;
            }
            Some(r) if r.unreadable.is_some() => {
                skipped
                    .push((item.uid.clone(), format!("image unreadable: {}", r.unreadable.as_deref().unwrap_or(""))));
                continue;
            }
            Some(r) => Some(project.resolve_image(&r.path)),
            None => None,
        };
        out.push((item, path));
    }
    Ok((out, skipped))
}

/// [`load_usable_items`] without the list of items left out.
///
/// # Errors
/// As [`load_usable_items`].
pub fn load_items_where(project: &Project, keep: impl Fn(&VqaItem) -> bool) -> Result<Vec<Evaluable>, InputError> {
    Ok(load_usable_items(project, keep)?.0)
}
