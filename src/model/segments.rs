//! Non-causal attention within segments of packed rows (one image, one frame or one window each),
//! as the vision towers need it. Segments of equal length run as one batched product. Under the
//! bucketed shape policy each segment is padded to its bucket and the padding is hidden from the
//! keys, so a new image size reuses the kernels of its bucket; rows outside every segment (the
//! packed tail's padding) come out as copies of row 0's output and are dropped later.

use std::collections::BTreeMap;

use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::kv::MASKED;
use super::layers::{index1, tensor2};
use super::shapes::ShapePolicy;

/// Attention within each `(start, len)` segment of `q`, `k`, `v` (`[heads, rows, head_dim]`).
pub fn segmented_attention(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    segs: &[(usize, usize)],
    policy: ShapePolicy,
    device: &Device,
) -> Tensor<3> {
    let [heads, n, hd] = q.dims();
    let scale = (hd as f64).powf(-0.5);
    // One segment from row 0 that (padded) spans every row: no gather, only a key bias for the tail.
    if let [(0, len)] = segs
        && policy.len(*len) == n
    {
        let scores = q.matmul(k.swap_dims(1, 2)).mul_scalar(scale);
        let scores = if *len < n {
            let bias: Vec<f32> = (0..n).map(|r| if r < *len { 0.0 } else { MASKED }).collect();
            scores + tensor2(bias, [1, n], device).reshape([1, 1, n])
        } else {
            scores
        };
        return softmax(scores, 2).matmul(v);
    }
    let mut groups: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
    for &(s, l) in segs {
        groups.entry(policy.len(l)).or_default().push((s, l));
    }
    let (mut outs, mut slot_of_row) = (Vec::new(), vec![0i64; n]);
    let mut slot = 0i64;
    for (width, members) in groups {
        let g = members.len();
        let mut rows = Vec::with_capacity(g * width);
        let mut bias = Vec::with_capacity(g * width);
        for &(s, l) in &members {
            for j in 0..width {
                let real = j < l;
                rows.push(if real { (s + j) as i64 } else { s as i64 });
                bias.push(if real { 0.0 } else { MASKED });
                if real {
                    slot_of_row[s + j] = slot;
                }
                slot += 1;
            }
        }
        let idx = index1(rows, device);
        let pick = |t: &Tensor<3>| t.clone().select(1, idx.clone()).reshape([heads, g, width, hd]);
        let (qg, kg, vg) = (pick(&q), pick(&k), pick(&v));
        let mut scores = qg.matmul(kg.swap_dims(2, 3)).mul_scalar(scale);
        if bias.iter().any(|&b| b != 0.0) {
            scores = scores + tensor2(bias, [g, width], device).reshape([1, g, 1, width]);
        }
        outs.push(softmax(scores, 3).matmul(vg).reshape([heads, g * width, hd]));
    }
    Tensor::cat(outs, 1).select(1, index1(slot_of_row, device))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layers::to_vec;
    use crate::rng::Rng;

    fn rand(shape: [usize; 3], rng: &mut Rng, dev: &Device) -> Tensor<3> {
        let n = shape.iter().product();
        tensor2((0..n).map(|_| rng.normal()).collect(), [n, 1], dev).reshape(shape)
    }

    /// Padding segments to buckets changes nothing on the real rows.
    #[test]
    fn bucketed_segments_equal_exact_ones() {
        let dev = Device::flex();
        let mut rng = Rng::new(4);
        let (heads, hd) = (2, 4);
        let real = 8 + 20 + 20 + 4;
        let rows = 64; // the packed tail padded too
        let (q, k, v) = (
            rand([heads, rows, hd], &mut rng, &dev),
            rand([heads, rows, hd], &mut rng, &dev),
            rand([heads, rows, hd], &mut rng, &dev),
        );
        let segs = [(0, 8), (8, 20), (28, 20), (48, 4)];
        let exact = to_vec(segmented_attention(
            q.clone().narrow(1, 0, real),
            k.clone().narrow(1, 0, real),
            v.clone().narrow(1, 0, real),
            &segs,
            ShapePolicy::Exact,
            &dev,
        ));
        let padded = to_vec(segmented_attention(q, k, v, &segs, ShapePolicy::Bucketed, &dev).narrow(1, 0, real));
        // [heads, real, hd] in both.
        let diff = exact.iter().zip(&padded).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-5, "max diff {diff}");
        // One segment padded to the whole block.
        let mut rng = Rng::new(5);
        let (q, k, v) =
            (rand([1, 16, 4], &mut rng, &dev), rand([1, 16, 4], &mut rng, &dev), rand([1, 16, 4], &mut rng, &dev));
        let exact = to_vec(segmented_attention(
            q.clone().narrow(1, 0, 12),
            k.clone().narrow(1, 0, 12),
            v.clone().narrow(1, 0, 12),
            &[(0, 12)],
            ShapePolicy::Exact,
            &dev,
        ));
        let padded = to_vec(segmented_attention(q, k, v, &[(0, 12)], ShapePolicy::Bucketed, &dev).narrow(1, 0, 12));
        let diff = exact.iter().zip(&padded).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-5, "single segment: max diff {diff}");
    }
}
