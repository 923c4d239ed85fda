//! Integer bookkeeping of the Qwen-VL forward pass, on the CPU: M-RoPE 3-D position ids
//! (`get_rope_index`) with rope deltas, the vision tower's (row, col) patch positions in 2x2-block-major
//! order, and Qwen2.5-VL's window order (`window_index`, `cu_window_seqlens`).

/// M-RoPE positions for a left-padded batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RopePositions {
    /// `[3][batch][seq]` flattened: axis (temporal, height, width), then batch, then position.
    pub ids: Vec<i64>,
    /// Per sample: `max(position) + 1 - valid tokens`; decoding continues at `index + delta`.
    pub deltas: Vec<i64>,
    /// Batch size.
    pub batch: usize,
    /// Sequence length.
    pub seq: usize,
}

impl RopePositions {
    /// Position of `(axis, b, t)`.
    pub fn at(&self, axis: usize, b: usize, t: usize) -> i64 {
        self.ids[(axis * self.batch + b) * self.seq + t]
    }
}

/// Why positions cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    /// More image runs than images.
    #[error("the prompt has more image placeholder runs than images ({0} images given)")]
    TooFewImages(usize),
    /// An image run's length does not match its grid.
    #[error("image {index}: {found} placeholder tokens but the image needs {expected}")]
    TokenCount {
        /// Image index.
        index: usize,
        /// Tokens in the prompt.
        found: usize,
        /// Tokens the image produces.
        expected: usize,
    },
    /// Images left over.
    #[error("{0} images were given but not referenced by placeholder tokens")]
    UnusedImages(usize),
}

/// `get_rope_index` for images (transformers 5): per sample, over tokens with `mask == 1`, text runs
/// advance all three axes together; an image run of grid `(t, h, w)` gets `(t, row, col)` offsets
/// over the merged grid, then the cursor advances by `max(h, w) / merge`. Padding positions get 0.
///
/// # Errors
/// [`PositionError`] when placeholder runs and image grids disagree.
pub fn rope_index(
    ids: &[u32],
    mask: &[u8],
    batch: usize,
    seq: usize,
    grids: &[[usize; 3]],
    image_token_id: u32,
    merge: usize,
) -> Result<RopePositions, PositionError> {
    let mut out = RopePositions { ids: vec![0; 3 * batch * seq], deltas: vec![0; batch], batch, seq };
    let mut next_image = 0usize;
    for b in 0..batch {
        let row = &ids[b * seq..(b + 1) * seq];
        let valid: Vec<usize> = (0..seq).filter(|&t| mask[b * seq + t] != 0).collect();
        let (mut cur, mut i, mut max_pos) = (0i64, 0usize, -1i64);
        while i < valid.len() {
            let is_img = row[valid[i]] == image_token_id;
            let mut j = i;
            while j < valid.len() && (row[valid[j]] == image_token_id) == is_img {
                j += 1;
            }
            if is_img {
                let [t, h, w] = *grids.get(next_image).ok_or(PositionError::TooFewImages(grids.len()))?;
                let (lh, lw) = (h / merge, w / merge);
                let expected = t * lh * lw;
                if j - i != expected {
                    return Err(PositionError::TokenCount { index: next_image, found: j - i, expected });
                }
                let mut k = i;
                for tt in 0..t {
                    for r in 0..lh {
                        for c in 0..lw {
                            let pos = [tt as i64 + cur, r as i64 + cur, c as i64 + cur];
                            for (axis, p) in pos.iter().enumerate() {
                                out.ids[(axis * batch + b) * seq + valid[k]] = *p;
                                max_pos = max_pos.max(*p);
                            }
                            k += 1;
                        }
                    }
                }
                cur += (h.max(w) / merge) as i64;
                next_image += 1;
            } else {
                for (k, &pos) in valid.iter().enumerate().take(j).skip(i) {
                    let p = cur + (k - i) as i64;
                    for axis in 0..3 {
                        out.ids[(axis * batch + b) * seq + pos] = p;
                    }
                    max_pos = max_pos.max(p);
                }
                cur += (j - i) as i64;
            }
            i = j;
        }
        out.deltas[b] = max_pos + 1 - valid.len() as i64;
    }
    if next_image != grids.len() {
        return Err(PositionError::UnusedImages(grids.len() - next_image));
    }
    Ok(out)
}

/// (row, col) of every patch, in the 2x2-block-major order of `pixel_values`, for each image.
pub fn vision_positions(grids: &[[usize; 3]], merge: usize) -> Vec<[usize; 2]> {
    let mut out = Vec::new();
    for &[t, h, w] in grids {
        for _ in 0..t {
            for bh in 0..h / merge {
                for bw in 0..w / merge {
                    for mh in 0..merge {
                        for mw in 0..merge {
                            out.push([bh * merge + mh, bw * merge + mw]);
                        }
                    }
                }
            }
        }
    }
    out
}

/// Qwen2.5-VL window order: a permutation of the merge units (groups of `merge²` patch rows) that
/// lists them window by window, and the cumulative patch counts at window boundaries
/// (consecutive duplicates removed), as transformers' `get_window_index`.
pub fn window_index(grids: &[[usize; 3]], merge: usize, window_size: usize, patch: usize) -> (Vec<usize>, Vec<usize>) {
    let ws = window_size / merge / patch;
    let (mut idx, mut cu, mut base) = (Vec::new(), vec![0usize], 0usize);
    for &[t, h, w] in grids {
        let (lh, lw) = (h / merge, w / merge);
        // transformers pads each axis by `ws - len % ws` (a whole empty window when already aligned);
        // empty windows add nothing and their duplicate boundaries are dropped, so ceil() suffices.
        let nw = lw.div_ceil(ws);
        for tt in 0..t {
            for wy in 0..lh.div_ceil(ws) {
                for wx in 0..nw {
                    let mut n = 0;
                    for y in wy * ws..((wy + 1) * ws).min(lh) {
                        for x in wx * ws..((wx + 1) * ws).min(lw) {
                            idx.push(base + tt * lh * lw + y * lw + x);
                            n += 1;
                        }
                    }
                    let last = *cu.last().unwrap_or(&0);
                    if n > 0 {
                        cu.push(last + n * merge * merge);
                    }
                }
            }
        }
        base += t * lh * lw;
    }
    (idx, cu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rope_index_matches_the_documented_example() {
        // [bos,11,12,13,14,<vs>,<pad>x6,<ve>,21,22,23,24], image 56x84 -> grid [1,4,6] -> 6 tokens.
        let (vs, pad, ve) = (999u32, 1001u32, 1000u32);
        let mut ids = vec![1003, 11, 12, 13, 14, vs];
        ids.extend([pad; 6]);
        ids.extend([ve, 21, 22, 23, 24]);
        let mask = vec![1u8; ids.len()];
        let p = rope_index(&ids, &mask, 1, ids.len(), &[[1, 4, 6]], pad, 2).unwrap();
        let axis = |a: usize| (0..ids.len()).map(|t| p.at(a, 0, t)).collect::<Vec<_>>();
        assert_eq!(axis(0), vec![0, 1, 2, 3, 4, 5, 6, 6, 6, 6, 6, 6, 9, 10, 11, 12, 13]);
        assert_eq!(axis(1), vec![0, 1, 2, 3, 4, 5, 6, 6, 6, 7, 7, 7, 9, 10, 11, 12, 13]);
        assert_eq!(axis(2), vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 6, 7, 8, 9, 10, 11, 12, 13]);
        assert_eq!(p.deltas, vec![-3]);
    }

    #[test]
    fn mismatched_placeholders_are_errors() {
        let ids = vec![5, 1001, 1001, 6];
        let mask = vec![1u8; 4];
        let e = rope_index(&ids, &mask, 1, 4, &[[1, 4, 6]], 1001, 2).unwrap_err();
        assert_eq!(e, PositionError::TokenCount { index: 0, found: 2, expected: 6 });
        assert!(rope_index(&ids, &mask, 1, 4, &[], 1001, 2).is_err());
    }

    #[test]
    fn window_index_for_a_12x16_patch_grid() {
        // 168x224 image -> 12x16 patches -> 6x8 merge units -> windows of 4x4: 4x4, 4x4, 2x4, 2x4.
        let (idx, cu) = window_index(&[[1, 12, 16]], 2, 112, 14);
        assert_eq!(idx.len(), 48);
        assert_eq!(cu, vec![0, 64, 128, 160, 192]);
        assert_eq!(&idx[..5], &[0, 1, 2, 3, 8]);
    }
}
