//! Qwen2-VL / Qwen2.5-VL configuration from a checkpoint's `config.json` — both the flat Hub layout
//! (released checkpoints: text fields at the root, `rope_scaling.mrope_section`) and the nested
//! transformers-5 layout (`text_config{rope_parameters}`) — plus `preprocessor_config.json`.
//! Errors name the file and the field.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Which model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Arch {
    /// Qwen2-VL: LayerNorm + QuickGELU vision blocks, full attention per image.
    Qwen2Vl,
    /// Qwen2.5-VL: RMSNorm + SwiGLU (with biases) vision blocks, window attention.
    Qwen25Vl,
}

/// The Qwen2 text decoder.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TextConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// SwiGLU width.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (GQA).
    pub num_key_value_heads: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// M-RoPE split of the half head dimension into (temporal, height, width) chunks.
    pub mrope_section: Vec<usize>,
    /// `lm_head` shares the embedding matrix.
    pub tie_word_embeddings: bool,
    /// Longest sequence (prompt + completion) the model is made for.
    pub max_position_embeddings: usize,
}

impl TextConfig {
    /// Per-head width.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

/// The vision tower.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VisionConfig {
    /// Blocks.
    pub depth: usize,
    /// ViT width (`embed_dim` in Qwen2-VL, `hidden_size` in Qwen2.5-VL).
    pub width: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// MLP hidden width (`embed_dim * mlp_ratio` or `intermediate_size`).
    pub mlp_hidden: usize,
    /// Output width of the patch merger (= text hidden size).
    pub out_hidden: usize,
    /// Patch side in pixels (14).
    pub patch_size: usize,
    /// Frames per temporal patch (2).
    pub temporal_patch_size: usize,
    /// Merge factor (2: a 2x2 block of patches becomes one token).
    pub spatial_merge_size: usize,
    /// Input channels (3).
    pub in_channels: usize,
    /// Window side in pixels for window attention (Qwen2.5-VL; 112).
    pub window_size: usize,
    /// Blocks with full attention (Qwen2.5-VL); the others use windows.
    pub fullatt_block_indexes: Vec<usize>,
    /// 2-D rotary base (10000).
    pub rope_theta: f64,
}

impl VisionConfig {
    /// Length of one row of `pixel_values` (3 * 2 * 14 * 14 = 1176).
    pub fn patch_len(&self) -> usize {
        self.in_channels * self.temporal_patch_size * self.patch_size * self.patch_size
    }

    /// Resize factor: `patch_size * spatial_merge_size` (28).
    pub fn factor(&self) -> usize {
        self.patch_size * self.spatial_merge_size
    }
}

/// A whole vision-language model's configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VlmConfig {
    /// Family.
    pub arch: Arch,
    /// Decoder.
    pub text: TextConfig,
    /// Vision tower.
    pub vision: VisionConfig,
    /// `<|image_pad|>`.
    pub image_token_id: u32,
    /// `<|video_pad|>`.
    pub video_token_id: u32,
    /// `<|vision_start|>`.
    pub vision_start_token_id: u32,
    /// `<|vision_end|>`.
    pub vision_end_token_id: u32,
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or is not JSON.
    #[error("cannot read ({reason}): {path}")]
    Read {
        /// Why.
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// A field is missing or has the wrong type.
    #[error("field `{field}`: {reason} (in {path})")]
    Field {
        /// Dotted field name.
        field: String,
        /// What is wrong.
        reason: String,
        /// The file.
        path: PathBuf,
    },
}

struct Reader<'a> {
    path: &'a Path,
}

impl Reader<'_> {
    fn err(&self, field: &str, reason: &str) -> ConfigError {
        ConfigError::Field { field: field.to_string(), reason: reason.to_string(), path: self.path.to_path_buf() }
    }

    /// A field looked up in several objects, first hit wins; `names` are alternative spellings.
    fn find<'v>(&self, objs: &[(&str, &'v Value)], names: &[&str]) -> Option<(String, &'v Value)> {
        for (prefix, o) in objs {
            for n in names {
                if let Some(v) = o.get(*n).filter(|v| !v.is_null()) {
                    let field = if prefix.is_empty() { (*n).to_string() } else { format!("{prefix}.{n}") };
                    return Some((field, v));
                }
            }
        }
        None
    }

    fn usize(&self, objs: &[(&str, &Value)], names: &[&str]) -> Result<usize, ConfigError> {
        match self.find(objs, names) {
            Some((f, v)) => {
                v.as_u64().map(|x| x as usize).ok_or_else(|| self.err(&f, "expected a non-negative integer"))
            }
            None => Err(self.err(names[0], "missing")),
        }
    }

    fn usize_or(&self, objs: &[(&str, &Value)], names: &[&str], default: usize) -> Result<usize, ConfigError> {
        match self.find(objs, names) {
            Some(_) => self.usize(objs, names),
            None => Ok(default),
        }
    }

    fn f64_or(&self, objs: &[(&str, &Value)], names: &[&str], default: f64) -> Result<f64, ConfigError> {
        match self.find(objs, names) {
            Some((f, v)) => v.as_f64().ok_or_else(|| self.err(&f, "expected a number")),
            None => Ok(default),
        }
    }

    fn usizes(&self, objs: &[(&str, &Value)], names: &[&str]) -> Result<Option<Vec<usize>>, ConfigError> {
        match self.find(objs, names) {
            Some((f, v)) => v
                .as_array()
                .and_then(|a| a.iter().map(|x| x.as_u64().map(|x| x as usize)).collect::<Option<Vec<_>>>())
                .map(Some)
                .ok_or_else(|| self.err(&f, "expected a list of integers")),
            None => Ok(None),
        }
    }
}

fn read_json(path: &Path) -> Result<Value, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Read { reason: e.to_string(), path: path.to_path_buf() })?;
    serde_json::from_str(&text)
        .map_err(|e| ConfigError::Read { reason: format!("invalid JSON: {e}"), path: path.to_path_buf() })
}

impl VlmConfig {
    /// Reads `config.json` (either layout).
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and the field.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        Self::from_value(&read_json(path)?, path)
    }

    /// Parses a `config.json` value; `path` is only used in messages.
    ///
    /// # Errors
    /// [`ConfigError`] naming the field.
    pub fn from_value(root: &Value, path: &Path) -> Result<Self, ConfigError> {
        let r = Reader { path };
        let model_type = root.get("model_type").and_then(Value::as_str).unwrap_or("");
        let arch = match model_type {
            "qwen2_vl" => Arch::Qwen2Vl,
            "qwen2_5_vl" => Arch::Qwen25Vl,
            other => return Err(r.err("model_type", &format!("{other:?} is not qwen2_vl or qwen2_5_vl"))),
        };
        let null = Value::Null;
        let text_obj = root.get("text_config").unwrap_or(&null);
        let rope_params = text_obj.get("rope_parameters").unwrap_or(&null);
        let rope_scaling = root.get("rope_scaling").or_else(|| text_obj.get("rope_scaling")).unwrap_or(&null);
        // Nested layout first, then the flat Hub layout.
        let t: &[(&str, &Value)] = &[("text_config", text_obj), ("", root)];
        let rope: &[(&str, &Value)] = &[
            ("text_config.rope_parameters", rope_params),
            ("rope_scaling", rope_scaling),
            ("text_config", text_obj),
            ("", root),
        ];
        let heads = r.usize(t, &["num_attention_heads"])?;
        let text = TextConfig {
            vocab_size: r.usize(t, &["vocab_size"])?,
            hidden_size: r.usize(t, &["hidden_size"])?,
            intermediate_size: r.usize(t, &["intermediate_size"])?,
            num_hidden_layers: r.usize(t, &["num_hidden_layers"])?,
            num_attention_heads: heads,
            num_key_value_heads: r.usize_or(t, &["num_key_value_heads"], heads)?,
            rms_norm_eps: r.f64_or(t, &["rms_norm_eps"], 1e-6)?,
            rope_theta: r.f64_or(rope, &["rope_theta"], 1_000_000.0)?,
            mrope_section: r
                .usizes(rope, &["mrope_section"])?
                .ok_or_else(|| r.err("rope_scaling.mrope_section", "missing"))?,
            tie_word_embeddings: root
                .get("tie_word_embeddings")
                .or_else(|| text_obj.get("tie_word_embeddings"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            max_position_embeddings: r.usize_or(t, &["max_position_embeddings"], 32_768)?,
        };
        if !text.hidden_size.is_multiple_of(heads) || heads % text.num_key_value_heads.max(1) != 0 {
            return Err(r.err("num_attention_heads", "hidden_size must divide into heads, heads into key/value heads"));
        }
        if text.mrope_section.iter().sum::<usize>() * 2 != text.head_dim() {
            return Err(r.err("mrope_section", &format!("must sum to head_dim/2 = {}", text.head_dim() / 2)));
        }
        let vobj = root.get("vision_config").ok_or_else(|| r.err("vision_config", "missing"))?;
        let vrope = vobj.get("rope_parameters").unwrap_or(&null);
        let v: &[(&str, &Value)] = &[("vision_config", vobj)];
        let vision = match arch {
            Arch::Qwen2Vl => {
                let width = r.usize(v, &["embed_dim"])?;
                VisionConfig {
                    depth: r.usize(v, &["depth"])?,
                    width,
                    num_heads: r.usize(v, &["num_heads"])?,
                    mlp_hidden: width * r.usize_or(v, &["mlp_ratio"], 4)?,
                    out_hidden: r.usize_or(v, &["hidden_size"], text.hidden_size)?,
                    patch_size: r.usize_or(v, &["patch_size", "spatial_patch_size"], 14)?,
                    temporal_patch_size: r.usize_or(v, &["temporal_patch_size"], 2)?,
                    spatial_merge_size: r.usize_or(v, &["spatial_merge_size"], 2)?,
                    in_channels: r.usize_or(v, &["in_channels", "in_chans"], 3)?,
                    window_size: 0,
                    fullatt_block_indexes: Vec::new(),
                    rope_theta: r.f64_or(&[("vision_config.rope_parameters", vrope)], &["rope_theta"], 10_000.0)?,
                }
            }
            Arch::Qwen25Vl => VisionConfig {
                depth: r.usize(v, &["depth"])?,
                width: r.usize(v, &["hidden_size"])?,
                num_heads: r.usize(v, &["num_heads"])?,
                mlp_hidden: r.usize(v, &["intermediate_size"])?,
                out_hidden: r.usize_or(v, &["out_hidden_size"], text.hidden_size)?,
                patch_size: r.usize_or(v, &["patch_size", "spatial_patch_size"], 14)?,
                temporal_patch_size: r.usize_or(v, &["temporal_patch_size"], 2)?,
                spatial_merge_size: r.usize_or(v, &["spatial_merge_size"], 2)?,
                in_channels: r.usize_or(v, &["in_channels", "in_chans"], 3)?,
                window_size: r.usize_or(v, &["window_size"], 112)?,
                fullatt_block_indexes: r.usizes(v, &["fullatt_block_indexes"])?.unwrap_or_default(),
                rope_theta: r.f64_or(&[("vision_config.rope_parameters", vrope)], &["rope_theta"], 10_000.0)?,
            },
        };
        if vision.out_hidden != text.hidden_size {
            return Err(r.err("vision_config.out_hidden_size", "must equal the text hidden size"));
        }
        if vision.width % vision.num_heads != 0 || (vision.width / vision.num_heads) % 4 != 0 {
            return Err(r.err("vision_config.num_heads", "vision head dim must be a multiple of 4"));
        }
        let id = |name: &str, default: u32| -> Result<u32, ConfigError> {
            match root.get(name).or_else(|| text_obj.get(name)) {
                Some(v) => v.as_u64().map(|x| x as u32).ok_or_else(|| r.err(name, "expected an integer")),
                None => Ok(default),
            }
        };
        Ok(Self {
            arch,
            text,
            vision,
            image_token_id: id("image_token_id", 151_655)?,
            video_token_id: id("video_token_id", 151_656)?,
            vision_start_token_id: id("vision_start_token_id", 151_652)?,
            vision_end_token_id: id("vision_end_token_id", 151_653)?,
        })
    }
}

/// `preprocessor_config.json` values that change the image tensor.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PreprocessConfig {
    /// Smallest image area after resizing.
    pub min_pixels: usize,
    /// Largest image area after resizing.
    pub max_pixels: usize,
    /// Per-channel mean (0-1 scale).
    pub mean: [f32; 3],
    /// Per-channel standard deviation (0-1 scale).
    pub std: [f32; 3],
}

/// OpenAI CLIP normalisation constants used by every Qwen-VL processor.
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// See [`CLIP_MEAN`].
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

impl Default for PreprocessConfig {
    /// The `Qwen2VLImageProcessor` class defaults (the Hub file usually raises `max_pixels` to 12,845,056).
    fn default() -> Self {
        Self { min_pixels: 56 * 56, max_pixels: 28 * 28 * 1280, mean: CLIP_MEAN, std: CLIP_STD }
    }
}

impl PreprocessConfig {
    /// Reads `preprocessor_config.json`; absent fields keep the class defaults.
    ///
    /// # Errors
    /// [`ConfigError`] for unreadable files or wrongly typed fields.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let root = read_json(path)?;
        let r = Reader { path };
        let null = Value::Null;
        let size = root.get("size").unwrap_or(&null);
        let objs: &[(&str, &Value)] = &[("", &root), ("size", size)];
        let d = Self::default();
        let three = |name: &str, default: [f32; 3]| -> Result<[f32; 3], ConfigError> {
            match root.get(name) {
                None => Ok(default),
                Some(v) => {
                    let a: Option<Vec<f32>> =
                        v.as_array().and_then(|a| a.iter().map(|x| x.as_f64().map(|f| f as f32)).collect());
                    match a.as_deref() {
                        Some([a, b, c]) => Ok([*a, *b, *c]),
                        _ => Err(r.err(name, "expected 3 numbers")),
                    }
                }
            }
        };
        Ok(Self {
            min_pixels: r.usize_or(objs, &["min_pixels", "shortest_edge"], d.min_pixels)?,
            max_pixels: r.usize_or(objs, &["max_pixels", "longest_edge"], d.max_pixels)?,
            mean: three("image_mean", d.mean)?,
            std: three("image_std", d.std)?,
        })
    }
}
