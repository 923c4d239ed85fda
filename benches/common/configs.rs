//! Model configurations shared by the benchmarks, as `bench_torch.py` builds them.

use medvlm::model::config::{Arch, TextConfig, VisionConfig, VlmConfig};

/// `qwen2-small`: a text-only Qwen2 (4 layers, hidden 256, GQA 4/2, vocab 4096, ~5M parameters).
pub fn qwen2_small() -> VlmConfig {
    VlmConfig {
        arch: Arch::Qwen2Vl,
        text: TextConfig {
            vocab_size: 4096,
            hidden_size: 256,
            intermediate_size: 688,
            num_hidden_layers: 4,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            rms_norm_eps: 1e-6,
            max_position_embeddings: 32_768,
            rope_theta: 1e6,
            mrope_section: vec![8, 12, 12],
            tie_word_embeddings: false,
        },
        // No vision blocks: a text-only Qwen2 (the merger is unused).
        vision: VisionConfig {
            depth: 0,
            width: 16,
            num_heads: 1,
            mlp_hidden: 16,
            out_hidden: 256,
            patch_size: 14,
            temporal_patch_size: 2,
            spatial_merge_size: 2,
            in_channels: 3,
            window_size: 0,
            fullatt_block_indexes: vec![],
            rope_theta: 1e4,
        },
        image_token_id: 4095,
        video_token_id: 4094,
        vision_start_token_id: 4093,
        vision_end_token_id: 4092,
    }
}
