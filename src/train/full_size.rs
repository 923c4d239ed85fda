//! Full-size checkpoints without the Hugging Face Hub: Qwen2-VL-2B-Instruct's published
//! configuration (optionally cut to fewer layers), and a `tokenizer.json` whose special tokens carry
//! Qwen2-VL's ids (151643-151656), so `generate`, `train` and the benchmarks run on a random
//! checkpoint of the real widths offline. The text vocabulary is a byte-level BPE trained on the
//! synthetic sample corpus: real-sized, not Qwen's merges.

use std::path::Path;

use crate::model::config::{Arch, TextConfig, VisionConfig, VlmConfig};
use crate::model::vlm::ModelError;

/// Qwen2-VL's special tokens and their ids.
pub const QWEN_SPECIAL_TOKENS: [(&str, u32); 14] = [
    ("<|endoftext|>", 151_643),
    ("<|im_start|>", 151_644),
    ("<|im_end|>", 151_645),
    ("<|object_ref_start|>", 151_646),
    ("<|object_ref_end|>", 151_647),
    ("<|box_start|>", 151_648),
    ("<|box_end|>", 151_649),
    ("<|quad_start|>", 151_650),
    ("<|quad_end|>", 151_651),
    ("<|vision_start|>", 151_652),
    ("<|vision_end|>", 151_653),
    ("<|vision_pad|>", 151_654),
    ("<|image_pad|>", 151_655),
    ("<|video_pad|>", 151_656),
];

/// Qwen2-VL-2B-Instruct's architecture (`config.json` of the release), with `layers` decoder layers
/// and `vision_depth` ViT blocks (28 and 32 in the release).
pub fn qwen2_vl_2b(layers: usize, vision_depth: usize) -> VlmConfig {
    VlmConfig {
        arch: Arch::Qwen2Vl,
        text: TextConfig {
            vocab_size: 151_936,
            hidden_size: 1536,
            intermediate_size: 8960,
            num_hidden_layers: layers,
            num_attention_heads: 12,
            num_key_value_heads: 2,
            rms_norm_eps: 1e-6,
            max_position_embeddings: 32_768,
            rope_theta: 1_000_000.0,
            mrope_section: vec![16, 24, 24],
            tie_word_embeddings: true,
        },
        vision: VisionConfig {
            depth: vision_depth,
            width: 1280,
            num_heads: 16,
            mlp_hidden: 5120,
            out_hidden: 1536,
            patch_size: 14,
            temporal_patch_size: 2,
            spatial_merge_size: 2,
            in_channels: 3,
            window_size: 0,
            fullatt_block_indexes: vec![],
            rope_theta: 10_000.0,
        },
        image_token_id: 151_655,
        video_token_id: 151_656,
        vision_start_token_id: 151_652,
        vision_end_token_id: 151_653,
    }
}

/// Writes `dir/tokenizer.json`: a byte-level BPE of `vocab` tokens (ids from 0) trained on the
/// synthetic medical corpus, plus Qwen2-VL's special tokens at their real ids.
///
/// # Errors
/// Training or I/O errors naming the file.
pub fn write_qwen_tokenizer(dir: &Path, vocab: usize) -> Result<(), ModelError> {
    let items: Vec<_> = (0..600).map(|i| crate::sample::pretraining_item(7, i).0).collect();
    let corpus = super::tiny::tokenizer_corpus(&items, 7);
    super::tiny::train_tokenizer_with(&corpus, vocab, dir, &[])?;
    let path = dir.join("tokenizer.json");
    let io = |e: String| ModelError::Io { reason: e, path: path.clone() };
    let text = std::fs::read_to_string(&path).map_err(|e| io(e.to_string()))?;
    let mut json: serde_json::Value = serde_json::from_str(&text).map_err(|e| io(e.to_string()))?;
    let added: Vec<serde_json::Value> = QWEN_SPECIAL_TOKENS
        .iter()
        .map(|(t, id)| {
            serde_json::json!({"id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                               "normalized": false, "special": true})
        })
        .collect();
    json["added_tokens"] = serde_json::Value::Array(added);
    // Added tokens take the ids after the model's vocabulary: fill it to 151643 with reserved
    // entries no merge produces (Qwen's own vocabulary has 151643 regular tokens).
    if let Some(v) = json["model"]["vocab"].as_object_mut() {
        for id in v.len()..QWEN_SPECIAL_TOKENS[0].1 as usize {
            v.insert(format!("<|reserved_{id}|>"), serde_json::json!(id));
        }
    }
    std::fs::write(&path, serde_json::to_string(&json).map_err(|e| io(e.to_string()))?).map_err(|e| io(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_tokens_carry_qwen_ids_and_the_chat_format_works() {
        let dir = tempfile::tempdir().unwrap();
        write_qwen_tokenizer(dir.path(), 2000).unwrap();
        let tok = crate::model::chat::ChatTokenizer::load(dir.path()).unwrap();
        assert_eq!((tok.endoftext, tok.im_end, tok.image_pad), (151_643, 151_645, 151_655));
        let ids = tok.prompt("Which sequence is this? A) T1 B) T2", &[4], None).unwrap();
        assert_eq!(ids.iter().filter(|&&t| t == 151_655).count(), 4);
        assert!(ids.contains(&151_652) && ids.contains(&151_653) && ids.contains(&151_644));
        let text = tok.decode(&ids, false).unwrap();
        assert!(text.contains("Which sequence is this?"), "{text}");
        // The vocabulary is compact below the special ids.
        assert!(ids.iter().all(|&t| !(2000..151_643).contains(&t)));
    }
}
