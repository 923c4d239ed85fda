//! Host (CPU) kernels for the decoder's fast generation path: a bounds-checked gemm wrapper (the
//! crate's only `unsafe`), RMSNorm, rotary embedding, SwiGLU and masked causal attention over a
//! KV cache, on plain row-major `f32` slices.

use rayon::prelude::*;

/// Products at least this large (m·n·k) use both cores, like burn's CPU backend.
const PARALLEL_MNK: usize = 192 * 192 * 192;

/// A read-only matrix operand: `data[r * row_stride + c * col_stride]` is element `(r, c)`.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    /// Backing storage.
    pub data: &'a [f32],
    /// Distance between rows.
    pub row_stride: usize,
    /// Distance between columns.
    pub col_stride: usize,
}

impl<'a> Mat<'a> {
    /// A row-major `[rows, cols]` matrix.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Self { data, row_stride: cols, col_stride: 1 }
    }

    /// The transpose of a row-major `[rows, cols]` matrix (a `[cols, rows]` view, no copy).
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self { data, row_stride: 1, col_stride: cols }
    }

    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.row_stride + (cols - 1) * self.col_stride < self.data.len()
    }
}

/// `out[m, n] (+)= a[m, k] · b[k, n]` with `out` and `a` row-major; `accumulate` adds to `out`
/// (a fused residual); `parallel` lets large products use every core. Shapes that do not fit their slices are a bug: `out` is then filled with NaN
/// (which the callers' NaN guards report) instead of touching memory out of bounds.
pub fn matmul(
    out: &mut [f32],
    a: &[f32],
    b: Mat<'_>,
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
    parallel: bool,
) {
    let shapes_fit = out.len() >= m * n && a.len() >= m * k && b.fits(k, n);
    if !shapes_fit {
        debug_assert!(false, "host matmul: shapes do not fit ({m}x{k} · {k}x{n})");
        out.fill(f32::NAN);
        return;
    }
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out[..m * n].fill(0.0);
        }
        return;
    }
    let parallelism =
        if parallel && m * n * k >= PARALLEL_MNK { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    // SAFETY: every element gemm reads or writes lies inside the slices checked above: `out` and `a`
    // are row-major with at least m·n and m·k elements, and `b`'s largest index
    // (k-1)·row_stride + (n-1)·col_stride is in bounds (`Mat::fits`). `out` is a unique borrow, so
    // it aliases neither input. Strides are at most the slice lengths, so the isize casts cannot wrap.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            1,
            k as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Row-wise RMSNorm `x / sqrt(mean(x²) + eps) * w` of `[rows, w.len()]` into `out`.
pub fn rms_norm(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    let d = w.len();
    for (o, row) in out.chunks_exact_mut(d).zip(x.chunks_exact(d)) {
        let ss: f32 = row.iter().map(|v| v * v).sum();
        let inv = 1.0 / (ss / d as f32 + eps).sqrt();
        for ((o, v), w) in o.iter_mut().zip(row).zip(w) {
            *o = v * inv * w;
        }
    }
}

/// In-place rotary embedding `x·cos + rotate_half(x)·sin` of `heads` consecutive head vectors.
pub fn rotary(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    let hd = cos.len();
    let half = hd / 2;
    for v in x.chunks_exact_mut(hd) {
        for i in 0..half {
            let (x1, x2) = (v[i], v[i + half]);
            v[i] = x1 * cos[i] - x2 * sin[i];
            v[i + half] = x2 * cos[i + half] + x1 * sin[i + half];
        }
    }
}

/// SwiGLU of a `[rows, 2·inter]` gate|up product into `[rows, inter]`: `silu(gate) · up`.
pub fn swiglu(out: &mut [f32], gate_up: &[f32], inter: usize) {
    for (o, gu) in out.chunks_exact_mut(inter).zip(gate_up.chunks_exact(2 * inter)) {
        let (g, u) = gu.split_at(inter);
        for ((o, g), u) in o.iter_mut().zip(g).zip(u) {
            *o = g / (1.0 + (-g).exp()) * u;
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for ((acc, x), y) in acc.iter_mut().zip(x).zip(y) {
            *acc += x * y;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `out += w * v`.
fn axpy(out: &mut [f32], w: f32, v: &[f32]) {
    for (o, v) in out.iter_mut().zip(v) {
        *o += w * v;
    }
}

/// Shapes of one attention call.
#[derive(Clone, Copy)]
pub struct AttnShape {
    /// Rows in the batch.
    pub batch: usize,
    /// New positions per row.
    pub len: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (GQA: query head j reads kv head j / (heads / kv_heads)).
    pub kv_heads: usize,
    /// Head width.
    pub head_dim: usize,
    /// Cache positions filled before these new ones.
    pub past: usize,
    /// Cache positions allocated per row and head.
    pub capacity: usize,
    /// Rows may run on several cores.
    pub parallel: bool,
}

/// Causal attention of new queries over a KV cache `[batch, kv_heads, capacity, head_dim]` (the new
/// keys already written at `past..past + len`). `q` rows are `[batch·len, row_width]` with the
/// heads at the front; `key_valid[r][k]` masks padding. Writes `[batch·len, heads·head_dim]`.
pub fn attention(
    out: &mut [f32],
    q: &[f32],
    row_width: usize,
    k_cache: &[f32],
    v_cache: &[f32],
    key_valid: &[Vec<bool>],
    s: AttnShape,
) {
    let hd = s.head_dim;
    let group = s.heads / s.kv_heads.max(1);
    let scale = (hd as f32).powf(-0.5);
    let width = s.heads * hd;
    let row = |r: usize, out_r: &mut [f32]| {
        let mut scores = vec![0f32; s.past + s.len];
        let valid = key_valid.get(r).map_or(&[][..], Vec::as_slice);
        for t in 0..s.len {
            let abs = s.past + t;
            let qrow = &q[(r * s.len + t) * row_width..][..width];
            let orow = &mut out_r[t * width..][..width];
            for j in 0..s.heads {
                let base = (r * s.kv_heads + j / group) * s.capacity * hd;
                let qv = &qrow[j * hd..][..hd];
                let mut max = f32::NEG_INFINITY;
                for (kpos, sc) in scores[..=abs].iter_mut().enumerate() {
                    *sc = if valid.get(kpos).copied().unwrap_or(false) {
                        dot(qv, &k_cache[base + kpos * hd..][..hd]) * scale
                    } else {
                        f32::NEG_INFINITY
                    };
                    max = max.max(*sc);
                }
                let ov = &mut orow[j * hd..][..hd];
                ov.fill(0.0);
                if max == f32::NEG_INFINITY {
                    continue; // a padding query with no visible key: its output is never read
                }
                let mut z = 0.0;
                for sc in &mut scores[..=abs] {
                    // Masked keys get weight 0 without calling exp on -inf.
                    *sc = if *sc == f32::NEG_INFINITY { 0.0 } else { (*sc - max).exp() };
                    z += *sc;
                }
                for (kpos, p) in scores[..=abs].iter().enumerate() {
                    if *p != 0.0 {
                        axpy(ov, p / z, &v_cache[base + kpos * hd..][..hd]);
                    }
                }
            }
        }
    };
    let chunk = s.len * width;
    let work = s.batch * s.len * (s.past + s.len) * width;
    if s.parallel && work >= PARALLEL_MNK {
        out[..s.batch * chunk].par_chunks_mut(chunk).enumerate().for_each(|(r, o)| row(r, o));
    } else {
        for (r, o) in out[..s.batch * chunk].chunks_mut(chunk).enumerate() {
            row(r, o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matches_a_naive_product_with_strides_and_accumulation() {
        let (m, k, n) = (3, 4, 5);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.5 - 2.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32).sin()).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let naive: Vec<f32> = (0..m * n).map(|i| (0..k).map(|t| a[(i / n) * k + t] * b[t * n + i % n]).sum()).collect();
        let mut out = vec![0f32; m * n];
        matmul(&mut out, &a, Mat::rows(&b, n), (m, k, n), false, true);
        let mut out_t = vec![1f32; m * n];
        matmul(&mut out_t, &a, Mat::transposed(&bt, k), (m, k, n), true, true);
        for i in 0..m * n {
            assert!((out[i] - naive[i]).abs() < 1e-5);
            assert!((out_t[i] - naive[i] - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn matmul_refuses_shapes_that_do_not_fit() {
        let mut out = vec![0f32; 4];
        if cfg!(debug_assertions) {
            let r = std::panic::catch_unwind(|| {
                let mut o = vec![0f32; 4];
                matmul(&mut o, &[1.0; 3], Mat::rows(&[1.0; 4], 2), (2, 2, 2), false, false);
            });
            assert!(r.is_err());
        } else {
            matmul(&mut out, &[1.0; 3], Mat::rows(&[1.0; 4], 2), (2, 2, 2), false, false);
            assert!(out.iter().all(|v| v.is_nan()));
        }
    }

    #[test]
    fn attention_ignores_masked_keys_and_the_future() {
        // One row, one head, head_dim 2, three positions; key 0 is padding.
        let s =
            AttnShape { batch: 1, len: 3, heads: 1, kv_heads: 1, head_dim: 2, past: 0, capacity: 3, parallel: false };
        let q = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let k = [9.0, 9.0, 1.0, 0.0, 0.0, 1.0];
        let v = [100.0, 100.0, 1.0, 2.0, 3.0, 4.0];
        let mut out = vec![0f32; 6];
        attention(&mut out, &q, 2, &k, &v, &[vec![false, true, true]], s);
        assert_eq!(&out[..2], &[0.0, 0.0]); // padding query: nothing visible
        assert_eq!(&out[2..4], &[1.0, 2.0]); // sees only key 1
        let (a, b) = ((1.0f32 / 2f32.sqrt()).exp(), 1.0f32);
        let w = a / (a + b);
        assert!((out[4] - (w * 1.0 + (1.0 - w) * 3.0)).abs() < 1e-5);
    }
}
