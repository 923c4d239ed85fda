//! Size checks before memory is committed: a sequence the model was not made for, or a KV cache
//! larger than the memory there is, is refused with the numbers, never left to abort the process
//! (a 4 TB allocation) or to be killed by the kernel. Sampling settings are checked by name too.

use burn::prelude::*;

use super::config::TextConfig;
use super::sampling::Sampling;

/// Bytes of a decoder KV cache (f32) for `rows` sequences of `capacity` positions.
pub fn kv_cache_bytes(cfg: &TextConfig, rows: usize, capacity: usize) -> u64 {
    2 * cfg.num_hidden_layers as u64
        * rows as u64
        * cfg.num_key_value_heads as u64
        * capacity as u64
        * cfg.head_dim() as u64
        * 4
}

/// Memory the system can still give this process (Linux `MemAvailable`), in bytes.
pub fn available_host_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Starts a new peak-RSS window (Linux: writing 5 to `/proc/self/clear_refs` resets `VmHWM`).
pub fn reset_host_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident memory since the last [`reset_host_peak`] (Linux `VmHWM`), bytes.
pub fn host_peak_rss() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Why a generation request cannot run.
pub fn check_sampling(s: &Sampling) -> Result<(), String> {
    if s.max_new_tokens == 0 {
        return Err("max_new_tokens must be at least 1".into());
    }
    if !(s.greedy || s.temperature > 0.0 && s.temperature.is_finite()) {
        return Err(format!("temperature must be a positive number (got {})", s.temperature));
    }
    if !(s.top_p > 0.0 && s.top_p <= 1.0) {
        return Err(format!("top_p must be in (0, 1] (got {})", s.top_p));
    }
    Ok(())
}

/// Refuses a generation of `rows` prompts of `prompt_len` (padded) tokens plus `max_new` new ones
/// that exceeds the model's positions, or whose KV cache would not fit in memory on the CPU.
pub fn check_generation(
    cfg: &TextConfig,
    rows: usize,
    prompt_len: usize,
    max_new: usize,
    device: &Device,
) -> Result<(), String> {
    let total = prompt_len.saturating_add(max_new);
    if total > cfg.max_position_embeddings {
        return Err(format!(
            "prompt ({prompt_len} tokens) + max_new_tokens ({max_new}) = {total} is more than the model's \
             max_position_embeddings ({}); lower max_new_tokens / max_completion_length",
            cfg.max_position_embeddings
        ));
    }
    let bytes = kv_cache_bytes(cfg, rows, total);
    if device.clone().without_autodiff() == Device::flex()
        && let Some(avail) = available_host_memory()
        && bytes > avail
    {
        return Err(format!(
            "the KV cache of {rows} sequences x {total} positions needs {} but {} of memory is available; \
             lower the batch, num_generations x prompts_per_step or max_new_tokens",
            crate::util::human_bytes(bytes),
            crate::util::human_bytes(avail)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_lengths_and_settings_are_refused_with_numbers() {
        let cfg = crate::train::tiny::tiny_config(683).text;
        let e = check_generation(&cfg, 1, 100, 1 << 40, &Device::flex()).unwrap_err();
        assert!(e.contains("max_position_embeddings (32768)"), "{e}");
        assert!(check_generation(&cfg, 8, 100, 64, &Device::flex()).is_ok());
        let huge = TextConfig { max_position_embeddings: usize::MAX, ..cfg };
        let e = check_generation(&huge, 1 << 20, 1 << 20, 1 << 20, &Device::flex()).unwrap_err();
        assert!(e.contains("KV cache") && e.contains("available"), "{e}");
        let e = check_sampling(&Sampling { top_p: 5.0, ..Sampling::default() }).unwrap_err();
        assert!(e.contains("top_p"), "{e}");
    }
}
