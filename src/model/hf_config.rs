//! Writing `config.json` / `preprocessor_config.json` in the transformers-5 layout, so checkpoints the
//! workbench saves (the tiny model, RL checkpoints) load in transformers, verl and TRL unchanged.

use serde_json::{Value, json};

use super::config::{Arch, PreprocessConfig, VlmConfig};
use super::weights::Dtype;

/// The nested transformers-5 `config.json` for a model.
pub fn to_hf_json(c: &VlmConfig, dtype: Dtype) -> Value {
    let t = &c.text;
    let text = json!({
        "vocab_size": t.vocab_size, "hidden_size": t.hidden_size, "intermediate_size": t.intermediate_size,
        "num_hidden_layers": t.num_hidden_layers, "num_attention_heads": t.num_attention_heads,
        "num_key_value_heads": t.num_key_value_heads, "rms_norm_eps": t.rms_norm_eps, "hidden_act": "silu",
        "max_position_embeddings": t.max_position_embeddings, "use_sliding_window": false, "attention_dropout": 0.0,
        "rope_parameters": {"rope_type": "default", "rope_theta": t.rope_theta, "mrope_section": t.mrope_section},
        "model_type": match c.arch { Arch::Qwen2Vl => "qwen2_vl_text", Arch::Qwen25Vl => "qwen2_5_vl_text" },
    });
    let v = &c.vision;
    let vision = match c.arch {
        Arch::Qwen2Vl => json!({
            "model_type": "qwen2_vl", "depth": v.depth, "embed_dim": v.width, "hidden_size": v.out_hidden,
            "num_heads": v.num_heads, "mlp_ratio": v.mlp_hidden / v.width.max(1), "hidden_act": "quick_gelu",
            "patch_size": v.patch_size, "spatial_merge_size": v.spatial_merge_size,
            "temporal_patch_size": v.temporal_patch_size, "in_channels": v.in_channels,
        }),
        Arch::Qwen25Vl => json!({
            "model_type": "qwen2_5_vl_vision", "depth": v.depth, "hidden_size": v.width, "out_hidden_size": v.out_hidden,
            "intermediate_size": v.mlp_hidden, "num_heads": v.num_heads, "hidden_act": "silu",
            "patch_size": v.patch_size, "spatial_merge_size": v.spatial_merge_size,
            "temporal_patch_size": v.temporal_patch_size, "in_channels": v.in_channels, "window_size": v.window_size,
            "fullatt_block_indexes": v.fullatt_block_indexes, "tokens_per_second": 2,
        }),
    };
    let (arch_name, model_type) = match c.arch {
        Arch::Qwen2Vl => ("Qwen2VLForConditionalGeneration", "qwen2_vl"),
        Arch::Qwen25Vl => ("Qwen2_5_VLForConditionalGeneration", "qwen2_5_vl"),
    };
    json!({
        "architectures": [arch_name], "model_type": model_type,
        "dtype": match dtype { Dtype::F32 => "float32", Dtype::F16 => "float16", Dtype::Bf16 => "bfloat16" },
        "tie_word_embeddings": t.tie_word_embeddings,
        "image_token_id": c.image_token_id, "video_token_id": c.video_token_id,
        "vision_start_token_id": c.vision_start_token_id, "vision_end_token_id": c.vision_end_token_id,
        "text_config": text, "vision_config": vision,
    })
}

/// `preprocessor_config.json` for the image processor.
pub fn preprocessor_json(p: &PreprocessConfig, c: &VlmConfig) -> Value {
    json!({
        "image_processor_type": "Qwen2VLImageProcessor",
        "min_pixels": p.min_pixels, "max_pixels": p.max_pixels,
        "patch_size": c.vision.patch_size, "temporal_patch_size": c.vision.temporal_patch_size,
        "merge_size": c.vision.spatial_merge_size,
        "image_mean": p.mean, "image_std": p.std, "do_resize": true, "do_rescale": true, "do_normalize": true,
    })
}
