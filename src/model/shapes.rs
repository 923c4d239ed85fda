//! Bounded tensor shapes for GPU backends. On wgpu every new shape costs a kernel compile and an
//! autotune run (seconds each), so sequence lengths and packed image-patch counts are rounded up to a
//! few buckets, with masks that make the padded result equal the unpadded one. The CPU backend
//! compiles nothing, so there shapes stay exact and no work is wasted.
//!
//! The ladder: four buckets per octave (granule = a quarter of the largest power of two below n,
//! at least 16). Padding wastes at most 25 % (about 12 % on average), a run sees a handful of
//! buckets, and every bucket is a multiple of 16, so kernels keep the same vector width and the
//! 2x2 patch merger its alignment. 16..4096 holds 28 buckets: 16, 32, 48, 64, 80, 96, 112, 128,
//! 160, 192, 224, 256, 320, 384, 448, 512, 640, …, 4096.

use burn::prelude::*;

/// Smallest granule (and bucket): a multiple of the 2x2 patch merge unit and of every vector width.
pub const GRANULE: usize = 16;

/// How shapes are chosen for a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShapePolicy {
    /// Exact shapes (CPU: nothing to compile, nothing to waste).
    #[default]
    Exact,
    /// Rounded up to [`bucket`] (wgpu).
    Bucketed,
}

impl ShapePolicy {
    /// Bucketed on GPU devices, exact on burn's CPU backend.
    pub fn for_device(device: &Device) -> Self {
        if device.clone().without_autodiff() == Device::flex() { Self::Exact } else { Self::Bucketed }
    }

    /// A sequence length or row count under this policy.
    pub fn len(self, n: usize) -> usize {
        match self {
            Self::Exact => n,
            Self::Bucketed => bucket(n),
        }
    }

    /// A completion length: at most `max` (itself a bucket boundary), else one of four steps of `max / 4`.
    pub fn completion_len(self, n: usize, max: usize) -> usize {
        match self {
            Self::Exact => n.max(1),
            Self::Bucketed => completion_bucket(n, max),
        }
    }

    /// True when shapes are rounded.
    pub fn is_bucketed(self) -> bool {
        self == Self::Bucketed
    }
}

/// `n` rounded up to the ladder (see the module docs). `bucket(0) = GRANULE`.
pub fn bucket(n: usize) -> usize {
    if n <= 4 * GRANULE {
        return n.max(1).div_ceil(GRANULE) * GRANULE;
    }
    let top = usize::BITS - 1 - (n - 1).leading_zeros(); // 2^top < n <= 2^(top+1)
    let granule = (1usize << top) / 4;
    n.div_ceil(granule) * granule
}

/// The completion buckets of a run: multiples of `max / 4` (rounded up to [`GRANULE`]), capped at
/// `max`: at most four shapes whatever the sampled lengths.
pub fn completion_bucket(n: usize, max: usize) -> usize {
    let max = max.max(1);
    let step = (max.div_ceil(4)).div_ceil(GRANULE) * GRANULE;
    (n.max(1).div_ceil(step) * step).min(max)
}

/// Every completion bucket a run with this maximum can produce, ascending.
pub fn completion_buckets(max: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (1..=max.max(1)).map(|n| completion_bucket(n, max)).collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladder_has_four_buckets_per_octave_and_wastes_at_most_a_quarter() {
        let firsts: Vec<usize> = (1..=640).map(bucket).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        assert_eq!(firsts, [16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640]);
        for n in 1..20_000 {
            let b = bucket(n);
            assert!(b >= n && b.is_multiple_of(GRANULE), "{n} -> {b}");
            if n > 64 {
                assert!(b as f64 <= n as f64 * 1.25 + 1e-9, "{n} -> {b} wastes more than 25 %");
            }
            assert_eq!(bucket(b), b, "buckets are fixed points");
        }
        let distinct = (16..=4096).map(bucket).collect::<std::collections::BTreeSet<_>>().len();
        assert_eq!(distinct, 28);
    }

    #[test]
    fn completion_buckets_are_at_most_four_and_capped() {
        assert_eq!(completion_buckets(96), [32, 64, 96]);
        assert_eq!(completion_buckets(512), [128, 256, 384, 512]);
        assert_eq!(completion_buckets(10), [10]);
        assert_eq!(completion_bucket(0, 96), 32);
        assert_eq!(completion_bucket(97, 96), 96);
        for max in 1..600 {
            assert!(completion_buckets(max).len() <= 4, "max {max}");
        }
    }

    #[test]
    fn exact_policy_keeps_lengths() {
        assert_eq!(ShapePolicy::Exact.len(37), 37);
        assert_eq!(ShapePolicy::Bucketed.len(37), 48);
        assert_eq!(ShapePolicy::Exact.completion_len(0, 96), 1);
        assert_eq!(ShapePolicy::for_device(&Device::flex()), ShapePolicy::Exact);
    }
}
