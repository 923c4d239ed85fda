//! The built-in `medvlm-tiny`: a Qwen2-VL-architecture model small enough to train on a laptop CPU,
//! a byte-level BPE tokenizer trained on the sample corpus (with the Qwen special tokens), and the
//! supervised warm start (`medvlm pretrain-tiny`) on templated reasoning traces for the sample train
//! split, with deliberate label noise so the model starts uncertain and GRPO has signal.

use std::path::Path;

use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, TokenizerBuilder};

use crate::domain::prompt::PromptTemplate;
use crate::domain::{Split, VqaItem};
use crate::model::chat::render_user_turn;
use crate::model::config::{Arch, PreprocessConfig, TextConfig, VisionConfig, VlmConfig};
use crate::model::vlm::ModelError;
use crate::rng::Rng;

/// Qwen's special tokens, in Qwen's order; the tiny tokenizer gives them ids 0..8.
pub const SPECIAL_TOKENS: [&str; 8] = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
];

/// Target vocabulary size of the tiny tokenizer.
pub const TINY_VOCAB: usize = 1024;

/// The tiny configuration: Qwen2-VL layout, 4 decoder layers of width 128, a 4-block ViT of width 96.
pub fn tiny_config(vocab_size: usize) -> VlmConfig {
    VlmConfig {
        arch: Arch::Qwen2Vl,
        text: TextConfig {
            vocab_size,
            hidden_size: 128,
            intermediate_size: 384,
            num_hidden_layers: 4,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            rms_norm_eps: 1e-6,
            max_position_embeddings: 32_768,
            rope_theta: 1_000_000.0,
            mrope_section: vec![4, 6, 6],
            tie_word_embeddings: true,
        },
        vision: VisionConfig {
            depth: 4,
            width: 96,
            num_heads: 4,
            mlp_hidden: 384,
            out_hidden: 128,
            patch_size: 14,
            temporal_patch_size: 2,
            spatial_merge_size: 2,
            in_channels: 3,
            window_size: 0,
            fullatt_block_indexes: vec![],
            rope_theta: 10_000.0,
        },
        image_token_id: 6,
        video_token_id: 7,
        vision_start_token_id: 3,
        vision_end_token_id: 4,
    }
}

/// Preprocessing for the tiny model: the class defaults (112x112 sample images stay 112x112).
pub fn tiny_preprocess() -> PreprocessConfig {
    PreprocessConfig::default()
}

/// Prompt templates the warm start sees (RL and evaluation use the first two).
pub fn warm_start_templates() -> Vec<PromptTemplate> {
    vec![PromptTemplate::MedvlmR1Train, PromptTemplate::MedvlmR1Eval, PromptTemplate::Custom("{problem}".into())]
}

/// Trains a byte-level BPE tokenizer on `corpus` and writes `tokenizer.json` into `dir`.
///
/// # Errors
/// [`ModelError::Tokenizer`] on training or write failure.
pub fn train_tokenizer(corpus: &[String], vocab_size: usize, dir: &Path) -> Result<(), ModelError> {
    train_tokenizer_with(corpus, vocab_size, dir, &SPECIAL_TOKENS)
}

/// [`train_tokenizer`] with the given special tokens first (none: the caller adds its own).
///
/// # Errors
/// [`ModelError::Tokenizer`] on training or write failure.
pub fn train_tokenizer_with(
    corpus: &[String],
    vocab_size: usize,
    dir: &Path,
    special: &[&str],
) -> Result<(), ModelError> {
    let tok_err = |e: tokenizers::Error| ModelError::Tokenizer(e.to_string());
    let specials: Vec<AddedToken> = special.iter().map(|s| AddedToken::from((*s).to_string(), true)).collect();
    let mut trainer = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(vocab_size)
        .min_frequency(2)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let byte_level = ByteLevel::new(false, true, true);
    let mut tok = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(Some(NFC))
        .with_pre_tokenizer(Some(byte_level))
        .with_post_processor(Some(byte_level))
        .with_decoder(Some(byte_level))
        .build()
        .map_err(tok_err)?;
    tok.train(&mut trainer, corpus.iter()).map_err(tok_err)?;
    std::fs::create_dir_all(dir).map_err(|e| ModelError::Io { reason: e.to_string(), path: dir.to_path_buf() })?;
    tok.save(dir.join("tokenizer.json"), true).map_err(tok_err)?;
    Ok(())
}

/// Text the tokenizer is trained on: chat-rendered prompts of every template for the train and
/// validation items, and clean and noisy traces for them.
pub fn tokenizer_corpus(items: &[VqaItem], seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed ^ 0x70C0);
    let mut out = Vec::new();
    for item in items.iter().filter(|i| i.split != Split::Test) {
        for t in warm_start_templates() {
            out.push(render_user_turn(&t.render(item), 1, None));
        }
        for (rule, random) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)] {
            if let Some((trace, _)) = super::traces::trace(item, super::traces::TraceNoise { rule, random }, &mut rng) {
                out.push(format!("{trace}<|im_end|>"));
            }
        }
    }
    out
}
