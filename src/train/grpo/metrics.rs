//! A GRPO step's metrics, typed, with TRL's names written in one place ([`names`]): the store, the
//! `trainer_state.json` export, the CLI's metric line and the GUI's curves all read them from here.

use std::collections::BTreeMap;

/// The metric names (TRL's where TRL has one; `gpu/*` and `timing/*` are ours).
pub mod names {
    /// Mean total reward.
    pub const REWARD: &str = "reward";
    /// Mean per-group reward standard deviation.
    pub const REWARD_STD: &str = "reward_std";
    /// Fraction of groups whose rewards are all equal.
    pub const FRAC_ZERO_STD: &str = "frac_reward_zero_std";
    /// Mean completion length.
    pub const MEAN_LENGTH: &str = "completions/mean_length";
    /// Shortest completion.
    pub const MIN_LENGTH: &str = "completions/min_length";
    /// Longest completion.
    pub const MAX_LENGTH: &str = "completions/max_length";
    /// Mean length of the completions that ended with a stop token.
    pub const MEAN_TERMINATED_LENGTH: &str = "completions/mean_terminated_length";
    /// Fraction of completions cut at the length limit.
    pub const CLIPPED_RATIO: &str = "completions/clipped_ratio";
    /// Loss.
    pub const LOSS: &str = "loss";
    /// Gradient norm before clipping.
    pub const GRAD_NORM: &str = "grad_norm";
    /// Learning rate of the step.
    pub const LEARNING_RATE: &str = "learning_rate";
    /// Mean token entropy.
    pub const ENTROPY: &str = "entropy";
    /// Tokens clipped below.
    pub const CLIP_LOW: &str = "clip_ratio/low_mean";
    /// Tokens clipped above.
    pub const CLIP_HIGH: &str = "clip_ratio/high_mean";
    /// KL to the reference (only when beta != 0).
    pub const KL: &str = "kl";
    /// Wall time of the step.
    pub const STEP_TIME: &str = "step_time";
    /// Generated tokens per second of the step.
    pub const TOKENS_PER_SECOND: &str = "tokens_per_second";
    /// Completion tokens seen so far.
    pub const NUM_TOKENS: &str = "num_tokens";
    /// Epochs over the training items.
    pub const EPOCH: &str = "epoch";
    /// Seconds generating.
    pub const TIME_GENERATE: &str = "timing/generate";
    /// Seconds for reference / old-policy log-probabilities.
    pub const TIME_REFERENCE: &str = "timing/reference_and_old_logps";
    /// Seconds for log-probabilities, loss and backward.
    pub const TIME_BACKWARD: &str = "timing/logps_loss_backward";
    /// Seconds in the optimizer.
    pub const TIME_OPTIMIZER: &str = "timing/optimizer";
    /// Seconds preparing GPU kernels before the first step (recorded with step 1).
    pub const TIME_KERNEL_PREP: &str = "timing/kernel_preparation";
    /// Kernels compiled during the step (0 once every shape was prepared).
    pub const KERNELS_COMPILED: &str = "gpu/kernels_compiled";
    /// Autotune runs during the step.
    pub const AUTOTUNE_RUNS: &str = "gpu/autotune_runs";
    /// GPU memory held by tensors at the end of the step, bytes.
    pub const GPU_MEMORY: &str = "gpu/memory_in_use_bytes";
    /// Peak GPU memory reserved during the step, bytes.
    pub const GPU_MEMORY_PEAK: &str = "gpu/memory_peak_bytes";
    /// Peak resident memory of the process during the step (Linux), bytes.
    pub const HOST_MEMORY_PEAK: &str = "memory/host_peak_bytes";
    /// Dynamic sampling: groups dropped for equal rewards in the step.
    pub const DYNAMIC_DROPPED: &str = "dynamic_sampling/dropped_groups";
    /// Dynamic sampling: rollout rounds of the step.
    pub const DYNAMIC_ROUNDS: &str = "dynamic_sampling/rounds";
    /// Dynamic sampling: dropped groups put back to fill the batch.
    pub const DYNAMIC_TOPPED_UP: &str = "dynamic_sampling/topped_up";

    /// `rewards/<name>/mean`.
    pub fn reward_mean(name: &str) -> String {
        format!("rewards/{name}/mean")
    }

    /// `rewards/<name>/std`.
    pub fn reward_std(name: &str) -> String {
        format!("rewards/{name}/std")
    }
}

/// Completion length statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LengthStats {
    /// Mean.
    pub mean: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
    /// Mean over completions that stopped.
    pub mean_terminated: f64,
    /// Fraction cut at the limit.
    pub clipped_ratio: f64,
}

/// Seconds per phase of a step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timing {
    /// Rollouts.
    pub generate: f64,
    /// Reference and old-policy log-probabilities.
    pub reference_and_old_logps: f64,
    /// Log-probabilities, loss and backward.
    pub logps_loss_backward: f64,
    /// Optimizer.
    pub optimizer: f64,
    /// GPU kernel preparation before the first step (0 on other steps and on the CPU).
    pub kernel_preparation: f64,
}

/// What a step did on the GPU.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GpuStepStats {
    /// Kernels compiled during the step.
    pub kernels_compiled: u64,
    /// Autotune runs during the step.
    pub autotune_runs: u64,
    /// Bytes held by tensors at the end of the step.
    pub memory_in_use: u64,
    /// Peak bytes reserved during the step.
    pub memory_peak: u64,
}

/// Everything a step reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepMetrics {
    /// Mean total reward.
    pub reward: f64,
    /// Mean per-group reward std.
    pub reward_std: f64,
    /// Fraction of groups with zero reward std.
    pub frac_reward_zero_std: f64,
    /// Per reward function: (mean, std).
    pub rewards: BTreeMap<String, (f64, f64)>,
    /// Completion lengths.
    pub completions: LengthStats,
    /// Loss.
    pub loss: f64,
    /// Pre-clip gradient norm.
    pub grad_norm: f64,
    /// Learning rate.
    pub learning_rate: f64,
    /// Mean token entropy.
    pub entropy: f64,
    /// Clipped below.
    pub clip_low: f64,
    /// Clipped above.
    pub clip_high: f64,
    /// KL to the reference, when it is computed.
    pub kl: Option<f64>,
    /// Phase times.
    pub timing: Timing,
    /// Step wall time (set by the loop).
    pub step_time: f64,
    /// Completion tokens generated in the step.
    pub tokens: usize,
    /// Completion tokens seen so far (set by the loop).
    pub num_tokens: f64,
    /// Epochs (set by the loop).
    pub epoch: f64,
    /// GPU counters, on a GPU device.
    pub gpu: Option<GpuStepStats>,
    /// Peak resident memory of the process during the step (set by the loop, Linux).
    pub host_peak: Option<u64>,
    /// Dynamic sampling's counts, when it is on.
    pub dynamic: Option<DynamicStats>,
}

/// What dynamic sampling did in a step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DynamicStats {
    /// Groups dropped for equal rewards.
    pub dropped: usize,
    /// Rollout rounds.
    pub rounds: usize,
    /// Dropped groups put back to fill the batch.
    pub topped_up: usize,
}

impl StepMetrics {
    /// The metrics under TRL's names, as the store and exports keep them.
    pub fn to_trl(&self) -> BTreeMap<String, f64> {
        use names::*;
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: f64| {
            m.insert(k.to_string(), v);
        };
        put(REWARD, self.reward);
        put(REWARD_STD, self.reward_std);
        put(FRAC_ZERO_STD, self.frac_reward_zero_std);
        let c = &self.completions;
        put(MEAN_LENGTH, c.mean);
        put(MIN_LENGTH, c.min);
        put(MAX_LENGTH, c.max);
        put(MEAN_TERMINATED_LENGTH, c.mean_terminated);
        put(CLIPPED_RATIO, c.clipped_ratio);
        put(LOSS, self.loss);
        put(GRAD_NORM, self.grad_norm);
        put(LEARNING_RATE, self.learning_rate);
        put(ENTROPY, self.entropy);
        put(CLIP_LOW, self.clip_low);
        put(CLIP_HIGH, self.clip_high);
        if let Some(kl) = self.kl {
            put(KL, kl);
        }
        put(TIME_GENERATE, self.timing.generate);
        put(TIME_REFERENCE, self.timing.reference_and_old_logps);
        put(TIME_BACKWARD, self.timing.logps_loss_backward);
        put(TIME_OPTIMIZER, self.timing.optimizer);
        if self.timing.kernel_preparation > 0.0 {
            put(TIME_KERNEL_PREP, self.timing.kernel_preparation);
        }
        if self.step_time > 0.0 {
            put(STEP_TIME, self.step_time);
            put(TOKENS_PER_SECOND, self.tokens as f64 / self.step_time.max(1e-9));
            put(NUM_TOKENS, self.num_tokens);
            put(EPOCH, self.epoch);
        }
        if let Some(g) = self.gpu {
            put(KERNELS_COMPILED, g.kernels_compiled as f64);
            put(AUTOTUNE_RUNS, g.autotune_runs as f64);
            put(GPU_MEMORY, g.memory_in_use as f64);
            put(GPU_MEMORY_PEAK, g.memory_peak as f64);
        }
        if let Some(p) = self.host_peak {
            put(HOST_MEMORY_PEAK, p as f64);
        }
        if let Some(d) = self.dynamic {
            put(DYNAMIC_DROPPED, d.dropped as f64);
            put(DYNAMIC_ROUNDS, d.rounds as f64);
            put(DYNAMIC_TOPPED_UP, d.topped_up as f64);
        }
        for (k, (mean, std)) in &self.rewards {
            m.insert(reward_mean(k), *mean);
            m.insert(reward_std(k), *std);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trl_names_are_complete_and_kl_only_when_computed() {
        let mut s = StepMetrics { reward: 0.5, step_time: 2.0, tokens: 100, ..StepMetrics::default() };
        s.rewards.insert("accuracy".into(), (0.25, 0.5));
        let m = s.to_trl();
        assert_eq!(m["reward"], 0.5);
        assert_eq!(m["tokens_per_second"], 50.0);
        assert_eq!(m["rewards/accuracy/mean"], 0.25);
        assert!(!m.contains_key("kl") && !m.contains_key("gpu/kernels_compiled"));
        s.kl = Some(0.1);
        s.gpu = Some(GpuStepStats::default());
        let m = s.to_trl();
        assert!(m.contains_key("kl") && m.contains_key("gpu/autotune_runs"));
    }
}
