//! The decoder's key/value cache and attention biases, shaped for fixed-shape kernels: the cache is
//! allocated once for the whole generation (bucketed prompt + new tokens), every decode step writes
//! one slot and attends over all slots with a bias that hides the empty ones, and the biases are
//! built on the device from a `[batch, keys]` validity row (never a `[batch, q, k]` host upload).

use burn::prelude::*;

use super::config::TextConfig;
use super::layers::tensor2;

/// Additive bias for a masked key: large enough to vanish after softmax, small enough to add twice.
pub const MASKED: f32 = -1e30;

/// Per-layer key/value cache `[batch, kv_heads, capacity, head_dim]`, filled up to `len`.
pub struct KvCache {
    k: Vec<Tensor<4>>,
    v: Vec<Tensor<4>>,
    /// Stands in for a layer's tensor while it is being written, so the write happens in place.
    spare: Tensor<4>,
    /// Positions filled.
    pub len: usize,
    /// Positions allocated.
    pub capacity: usize,
}

impl KvCache {
    /// An empty cache for `batch` rows and up to `capacity` positions.
    pub fn new(cfg: &TextConfig, batch: usize, capacity: usize, device: &Device) -> Self {
        let shape = [batch, cfg.num_key_value_heads, capacity, cfg.head_dim()];
        let z = || Tensor::zeros(shape, device);
        Self {
            k: (0..cfg.num_hidden_layers).map(|_| z()).collect(),
            v: (0..cfg.num_hidden_layers).map(|_| z()).collect(),
            spare: Tensor::zeros([1, 1, 1, 1], device),
            len: 0,
            capacity,
        }
    }

    /// Writes layer `layer`'s new keys and values `[batch, kv_heads, l, head_dim]` at `len..len + l`
    /// and returns what attention covers: the new ones alone when the cache was empty (the prefill),
    /// else every allocated slot (the caller's bias hides the empty ones), so each decode step has
    /// the same shapes.
    pub fn write(&mut self, layer: usize, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let [b, h, l, d] = k.dims();
        let (start, end) = (self.len, (self.len + l).min(self.capacity));
        let slot = |t: &mut Tensor<4>, new: Tensor<4>, spare: &Tensor<4>| {
            // Taking the tensor out leaves one reference, so burn can write it in place.
            let old = std::mem::replace(t, spare.clone());
            *t = old.slice_assign([0..b, 0..h, start..end, 0..d], new.narrow(2, 0, end - start));
            t.clone()
        };
        let ck = slot(&mut self.k[layer], k.clone(), &self.spare);
        let cv = slot(&mut self.v[layer], v.clone(), &self.spare);
        if start == 0 { (k, v) } else { (ck, cv) }
    }
}

/// Key validity `[batch, keys]` as an additive bias (0 = visible, [`MASKED`] = padding).
pub fn key_bias(key_valid: &[Vec<bool>], device: &Device) -> Tensor<2> {
    let batch = key_valid.len();
    let keys = key_valid.first().map_or(0, Vec::len);
    let data: Vec<f32> = key_valid.iter().flat_map(|r| r.iter().map(|&ok| if ok { 0.0 } else { MASKED })).collect();
    tensor2(data, [batch, keys], device)
}

/// The causal attention bias `[batch, 1, q_len, keys]` of `q_len` queries that are the last `q_len`
/// of `keys` positions: a query sees valid keys at or before its own position.
pub fn causal_bias(key_bias: Tensor<2>, q_len: usize) -> Tensor<4> {
    let device = key_bias.device();
    let [batch, keys] = key_bias.dims();
    let future = Tensor::<2, Bool>::tril_mask([q_len, keys], (keys - q_len) as i64, &device);
    let causal = Tensor::<2>::zeros([q_len, keys], &device).mask_fill(future, MASKED);
    causal.reshape([1, 1, q_len, keys]) + key_bias.reshape([batch, 1, 1, keys])
}

/// The bias of one decode step `[batch, 1, 1, capacity]`: the prompt's validity (`prompt_bias`,
/// `[batch, capacity]`, generated slots visible) with every slot after `position` hidden.
pub fn decode_bias(prompt_bias: &Tensor<2>, slots: &Tensor<1>, position: usize) -> Tensor<4> {
    let [batch, cap] = prompt_bias.dims();
    let future = slots.clone().greater_elem(position as f32);
    let step = slots.zeros_like().mask_fill(future, MASKED);
    prompt_bias.clone().reshape([batch, 1, 1, cap]) + step.reshape([1, 1, 1, cap])
}

/// Slot indices `0..capacity` as floats, for [`decode_bias`].
pub fn slot_positions(capacity: usize, device: &Device) -> Tensor<1> {
    Tensor::<1, Int>::arange(0..capacity as i64, device).float()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layers::to_vec;

    #[test]
    fn causal_bias_hides_padding_and_the_future() {
        let dev = Device::flex();
        let kb = key_bias(&[vec![false, true, true], vec![true, true, true]], &dev);
        let m = to_vec(causal_bias(kb, 2));
        // Row 0, query 0 (position 1): sees key 1 only; query 1 (position 2): keys 1, 2.
        let visible: Vec<bool> = m.iter().map(|&x| x > -1.0).collect();
        assert_eq!(visible, [false, true, false, false, true, true, true, true, false, true, true, true]);
    }

    #[test]
    fn decode_bias_opens_one_more_slot_per_step() {
        let dev = Device::flex();
        let pb = key_bias(&[vec![false, true, true, true]], &dev);
        let slots = slot_positions(4, &dev);
        let at = |p| to_vec(decode_bias(&pb, &slots, p)).iter().map(|&x| x > -1.0).collect::<Vec<_>>();
        assert_eq!(at(2), [false, true, true, false]);
        assert_eq!(at(3), [false, true, true, true]);
    }
}
