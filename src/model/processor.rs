//! Turning an image and a text into model input, as transformers' `Qwen2VLProcessor` does: the image
//! preprocessed into patches (smart resize, normalisation, grid), the chat template applied and each
//! image's placeholder expanded to its token count. Pure: no project, no device.

use std::path::Path;

use super::chat::ChatTokenizer;
use super::config::{PreprocessConfig, VisionConfig};
use super::preprocess::{PixelValues, preprocess_rgb};
use super::vlm::{ModelError, Vlm};

/// A model's image preprocessing (`Qwen2VLImageProcessor`): all raw token ids need besides the model.
#[derive(Debug, Clone)]
pub struct ImageProcessor {
    /// The vision tower's patch geometry.
    pub vision: VisionConfig,
    /// Resize and normalisation settings.
    pub preprocess: PreprocessConfig,
}

impl ImageProcessor {
    /// The image preprocessing of a loaded model.
    pub fn of(model: &Vlm) -> Self {
        Self { vision: model.config.vision.clone(), preprocess: model.preprocess.clone() }
    }

    /// The image preprocessing of a checkpoint folder, from its `config.json` and
    /// `preprocessor_config.json` alone (no weights read).
    ///
    /// # Errors
    /// Unreadable or invalid configuration files, named.
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        let config = super::VlmConfig::from_file(&dir.join("config.json"))?;
        let pp = dir.join("preprocessor_config.json");
        let preprocess = if pp.is_file() { PreprocessConfig::from_file(&pp)? } else { PreprocessConfig::default() };
        Ok(Self { vision: config.vision, preprocess })
    }

    /// Interleaved 8-bit RGB `[h, w, 3]` as the vision tower's patches.
    ///
    /// # Errors
    /// Preprocessing errors (an image too small or too large).
    pub fn image(&self, rgb: &[u8], h: usize, w: usize) -> Result<PixelValues, ModelError> {
        Ok(preprocess_rgb(rgb, h, w, &self.vision, &self.preprocess)?)
    }

    /// An image file as patches.
    ///
    /// # Errors
    /// The unreadable file named ([`crate::io::images::BadImage`]'s words); preprocessing errors.
    pub fn image_file(&self, path: &Path) -> Result<PixelValues, ModelError> {
        let (rgb, h, w) = crate::io::images::read_rgb(path).map_err(|e| ModelError::Invalid(e.to_string()))?;
        self.image(&rgb, h, w)
    }

    /// Image tokens of preprocessed patches (after the spatial merge).
    pub fn tokens(&self, image: &PixelValues) -> usize {
        image.n_tokens(self.vision.spatial_merge_size)
    }
}

/// A model's tokenizer with its image preprocessing.
pub struct Processor {
    /// Tokenizer and chat template.
    pub tok: ChatTokenizer,
    /// Image preprocessing.
    pub images: ImageProcessor,
}

impl Processor {
    /// The processor of a loaded model whose `tokenizer.json` is in `dir`.
    ///
    /// # Errors
    /// Tokenizer errors naming the file.
    pub fn load(dir: &Path, model: &Vlm) -> Result<Self, ModelError> {
        Ok(Self::new(ChatTokenizer::load(dir)?, model))
    }

    /// A processor from a tokenizer and the model's image settings.
    pub fn new(tok: ChatTokenizer, model: &Vlm) -> Self {
        Self { tok, images: ImageProcessor::of(model) }
    }

    /// Interleaved 8-bit RGB `[h, w, 3]` as the vision tower's patches.
    ///
    /// # Errors
    /// Preprocessing errors (an image too small or too large).
    pub fn image(&self, rgb: &[u8], h: usize, w: usize) -> Result<PixelValues, ModelError> {
        self.images.image(rgb, h, w)
    }

    /// A user turn with its images (placeholders expanded to each image's token count), rendered
    /// with the chat template and tokenised.
    ///
    /// # Errors
    /// Tokenizer errors.
    pub fn prompt(&self, text: &str, images: &[PixelValues], system: Option<&str>) -> Result<Vec<u32>, ModelError> {
        let counts: Vec<usize> = images.iter().map(|p| self.images.tokens(p)).collect();
        self.tok.prompt(text, &counts, system)
    }
}
