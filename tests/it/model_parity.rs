//! Parity with Hugging Face transformers 5.23 (fp32, CPU backend): tiny random Qwen2-VL and
//! Qwen2.5-VL checkpoints and reference tensors made by `tests/fixtures/model/make_fixtures.py`.
//! Preprocessing, positions (exact), vision features, spliced embeddings and logits (relative error
//! <= 1e-4) and greedy ids (identical, from both the burn and the host decoder) for one image, a left-padded batch of two differently sized
//! images, and text only; both config.json layouts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use medvlm::model::generate::{Engine, Generator, Sampling, generate};
use medvlm::model::layers::to_vec;
use medvlm::model::positions::rope_index;
use medvlm::model::preprocess::{PixelValues, preprocess_rgb, resize_bicubic_aa};
use medvlm::model::shapes::ShapePolicy;
use medvlm::model::{Batch, PreprocessConfig, Vlm};

use super::common::{fixture, tempdir};

/// A fixture file's tensors as f64 (floats) and i64 (ints), with shapes.
struct Fixture(HashMap<String, (Vec<usize>, Vec<f64>)>);

impl Fixture {
    fn load(path: &Path) -> Self {
        let bytes = std::fs::read(path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut map = HashMap::new();
        for (name, view) in st.tensors() {
            let d = view.data();
            let vals: Vec<f64> = match view.dtype() {
                safetensors::Dtype::F32 => {
                    d.chunks_exact(4).map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap()))).collect()
                }
                safetensors::Dtype::I64 => {
                    d.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64).collect()
                }
                safetensors::Dtype::U8 => d.iter().map(|&b| f64::from(b)).collect(),
                other => panic!("{name}: {other:?}"),
            };
            map.insert(name, (view.shape().to_vec(), vals));
        }
        Self(map)
    }
    fn get(&self, k: &str) -> &(Vec<usize>, Vec<f64>) {
        self.0.get(k).unwrap_or_else(|| panic!("fixture lacks {k}"))
    }
    fn ints(&self, k: &str) -> Vec<i64> {
        self.get(k).1.iter().map(|&x| x as i64).collect()
    }
    fn has(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }
}

/// numpy_reference's metric: max |a - b| / max(1, max |b|) over the selected entries.
fn rel_err(a: &[f32], b: &[f64], keep: impl Fn(usize) -> bool) -> f64 {
    assert_eq!(a.len(), b.len());
    let (mut num, mut den) = (0f64, 1f64);
    for i in (0..a.len()).filter(|&i| keep(i)) {
        num = num.max((f64::from(a[i]) - b[i]).abs());
        den = den.max(b[i].abs());
    }
    num / den
}

/// The fixture script's deterministic RGB gradient.
fn gradient_image(h: usize, w: usize, variant: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(h * w * 3);
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            let r = (x * 255) / (w as i64 - 1).max(1);
            let g = (y * 255) / (h as i64 - 1).max(1);
            let b = ((x + y + 37 * variant) * 255) / (w as i64 + h as i64 - 2 + 37 * variant) % 256;
            out.extend([r as u8, g as u8, b as u8]);
        }
    }
    out
}

fn device() -> Device {
    Device::flex()
}

#[test]
fn preprocessing_matches_the_image_processor() {
    let f = Fixture::load(&fixture("model/preprocess_fixture.safetensors"));
    let ck = Vlm::load(&fixture("model/qwen2_vl_tiny"), &device()).unwrap();
    let pc = PreprocessConfig::default();
    for case in ["noresize", "resize", "small"] {
        let (shape, img) = f.get(&format!("{case}.image_u8_hwc"));
        let (h, w) = (shape[0], shape[1]);
        let rgb: Vec<u8> = img.iter().map(|&x| x as u8).collect();
        let pv = preprocess_rgb(&rgb, h, w, &ck.config.vision, &pc).unwrap();
        let grid = f.ints(&format!("{case}.image_grid_thw"));
        assert_eq!(pv.grid_thw.iter().map(|&x| x as i64).collect::<Vec<_>>(), grid, "{case} grid");
        // Resize alone: uint8 planes identical to torchvision's (PyTorch's fixed-point uint8 path).
        let (rs, resized) = f.get(&format!("{case}.resized_u8_chw"));
        let ours = resize_bicubic_aa(&rgb, h, w, rs[1], rs[2]);
        let n_diff = ours.iter().zip(resized).filter(|(a, b)| f64::from(**a) != **b).count();
        assert_eq!(n_diff, 0, "{case}: {n_diff} of {} resized values differ", ours.len());
        let err = rel_err(&pv.data, &f.get(&format!("{case}.pixel_values")).1, |_| true);
        assert!(err <= 1e-6, "{case}: pixel_values rel err {err:.2e}");
    }
}

fn images_for(kind: &str) -> (Vec<u8>, [usize; 2], Vec<u8>, [usize; 2]) {
    // (image A, size A, image B, size B) as in make_fixtures.py.
    if kind == "qwen2_vl" {
        (gradient_image(56, 84, 0), [56, 84], gradient_image(56, 56, 3), [56, 56])
    } else {
        (gradient_image(168, 224, 0), [168, 224], gradient_image(56, 84, 3), [56, 84])
    }
}

fn case_batch(f: &Fixture, case: &str, images: Vec<PixelValues>) -> Batch {
    let (shape, ids) = f.get(&format!("{case}.input_ids"));
    let mask = f.ints(&format!("{case}.attention_mask"));
    Batch {
        ids: ids.iter().map(|&x| x as u32).collect(),
        mask: mask.iter().map(|&m| m as u8).collect(),
        batch: shape[0],
        seq: shape[1],
        image_of: (0..images.len()).collect(),
        images,
    }
}

fn check_model(dir: &Path, kind: &str, f: &Fixture) {
    let dev = device();
    let model = Vlm::load(dir, &dev).unwrap();
    let pc = model.preprocess.clone();
    let (a, sa, b, sb) = images_for(kind);
    let pa = preprocess_rgb(&a, sa[0], sa[1], &model.config.vision, &pc).unwrap();
    let pb = preprocess_rgb(&b, sb[0], sb[1], &model.config.vision, &pc).unwrap();
    for (case, images) in [("single", vec![pa.clone()]), ("batch2", vec![pb, pa]), ("text", vec![])] {
        let batch = case_batch(f, case, images);
        if f.has(&format!("{case}.pixel_values")) {
            let pv: Vec<f32> = batch.images.iter().flat_map(|p| p.data.clone()).collect();
            let err = rel_err(&pv, &f.get(&format!("{case}.pixel_values")).1, |_| true);
            assert!(err < 1e-6, "{kind}/{case}: pixel_values {err:.2e}");
            let grids: Vec<[usize; 3]> = batch.images.iter().map(|p| p.grid_thw).collect();
            let pos =
                rope_index(&batch.ids, &batch.mask, batch.batch, batch.seq, &grids, model.config.image_token_id, 2)
                    .unwrap();
            assert_eq!(pos.ids, f.ints(&format!("{case}.position_ids")), "{kind}/{case}: positions");
            assert_eq!(pos.deltas, f.ints(&format!("{case}.rope_deltas")), "{kind}/{case}: rope deltas");
            let want = &f.get(&format!("{case}.vis.merger")).1;
            let merger = to_vec(model.visual.forward(&batch.images, ShapePolicy::Exact, &dev));
            let err = rel_err(&merger, want, |_| true);
            assert!(err < 1e-4, "{kind}/{case}: vision features rel err {err:.2e}");
            // The GPU's bucketed layout (patches padded, segments padded and masked) on the CPU.
            let padded = to_vec(model.visual.forward(&batch.images, ShapePolicy::Bucketed, &dev));
            assert!(padded.len() >= want.len(), "{kind}/{case}: bucketed features cover the real rows");
            let err = rel_err(&padded[..want.len()], want, |_| true);
            assert!(err < 1e-4, "{kind}/{case}: bucketed vision features rel err {err:.2e}");
        }
        let valid = |i: usize, width: usize| batch.mask[i / width] != 0;
        let (emb, _) = model.embed(&batch, &dev).unwrap();
        let h = model.config.text.hidden_size;
        let err = rel_err(&to_vec(emb), &f.get(&format!("{case}.inputs_embeds")).1, |i| valid(i, h));
        assert!(err < 1e-4, "{kind}/{case}: inputs_embeds rel err {err:.2e}");
        let v = model.config.text.vocab_size;
        let logits = to_vec(model.logits(&batch, &dev).unwrap());
        let err = rel_err(&logits, &f.get(&format!("{case}.logits")).1, |i| valid(i, v));
        assert!(err <= 1e-4, "{kind}/{case}: logits rel err {err:.2e}");
        // Greedy decoding with the KV cache: 8 new tokens, identical ids (no stop: min_new_tokens=8).
        // Both decoders: burn tensors (the wgpu path) and the host decoder (the CPU path).
        let s = Sampling { greedy: true, max_new_tokens: 8, ..Sampling::default() };
        let want = f.ints(&format!("{case}.greedy_ids"));
        let total = batch.seq + 8;
        let mut logprobs = Vec::new();
        for engine in [Engine::Burn, Engine::Host] {
            let out = Generator::with_engine(engine, &model, &dev).generate(&batch, &[], &s, 0).unwrap();
            for r in 0..batch.batch {
                let got: Vec<i64> = out.tokens[r].iter().map(|&t| i64::from(t)).collect();
                let want = &want[r * total + batch.seq..(r + 1) * total];
                assert_eq!(got, want, "{kind}/{case} row {r}: greedy ids ({engine:?})");
            }
            logprobs.push(out.logprobs.concat());
        }
        let diff = logprobs[0].iter().zip(&logprobs[1]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-4, "{kind}/{case}: host vs burn decoder log-probs differ by {diff:.2e}");
        // The GPU path's fixed shapes on the CPU: prompt padded to its bucket, an extra padding row,
        // padded patches, the whole-capacity cache with its bias: the same greedy ids.
        let shaped = Generator::with_engine(Engine::Burn, &model, &dev)
            .with_policy(ShapePolicy::Bucketed)
            .with_rows(batch.batch + 1)
            .generate(&batch, &[], &s, 0)
            .unwrap();
        assert_eq!(shaped.tokens.len(), batch.batch, "padding rows are not returned");
        for r in 0..batch.batch {
            let got: Vec<i64> = shaped.tokens[r].iter().map(|&t| i64::from(t)).collect();
            assert_eq!(got, want[r * total + batch.seq..(r + 1) * total], "{kind}/{case} row {r}: bucketed ids");
        }
        let diff = shaped.logprobs.concat().iter().zip(&logprobs[1]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-4, "{kind}/{case}: bucketed vs host log-probs differ by {diff:.2e}");
    }
}

#[test]
fn qwen2_vl_matches_transformers() {
    let f = Fixture::load(&fixture("model/qwen2_vl_tiny_fixture.safetensors"));
    check_model(&fixture("model/qwen2_vl_tiny"), "qwen2_vl", &f);
}

#[test]
fn qwen2_5_vl_matches_transformers() {
    let f = Fixture::load(&fixture("model/qwen2_5_vl_tiny_fixture.safetensors"));
    check_model(&fixture("model/qwen2_5_vl_tiny"), "qwen2_5_vl", &f);
}

/// The flat Hub layout of `config.json` (as released checkpoints ship it) gives the same model.
#[test]
fn hub_flat_config_layout_loads_the_same_model() {
    let dir = tempdir();
    let src: PathBuf = fixture("model/qwen2_vl_tiny");
    std::fs::copy(src.join("model.safetensors"), dir.path().join("model.safetensors")).unwrap();
    std::fs::copy(src.join("config_hub_flat.json"), dir.path().join("config.json")).unwrap();
    let flat = Vlm::load(dir.path(), &device()).unwrap();
    let nested = Vlm::load(&src, &device()).unwrap();
    assert_eq!(flat.config, nested.config);
    let f = Fixture::load(&fixture("model/qwen2_vl_tiny_fixture.safetensors"));
    check_model(dir.path(), "qwen2_vl", &f);
}

/// The same model on burn's wgpu backend (any adapter; Mesa's lavapipe in CI) gives the same logits.
/// Skipped, with a message, where no adapter exists.
#[test]
fn wgpu_backend_matches_when_an_adapter_exists() {
    let found = medvlm::model::device::adapters();
    if found.is_empty() {
        eprintln!("no wgpu adapter: skipping the wgpu parity test");
        return;
    }
    let _gpu = super::common::gpu_lock();
    let dev = medvlm::model::device::wgpu_device().unwrap();
    let model = Vlm::load(&fixture("model/qwen2_vl_tiny"), &dev).unwrap();
    let f = Fixture::load(&fixture("model/qwen2_vl_tiny_fixture.safetensors"));
    let batch = case_batch(&f, "text", vec![]);
    let logits = to_vec(model.logits(&batch, &dev).unwrap());
    let err = rel_err(&logits, &f.get("text.logits").1, |_| true);
    eprintln!("wgpu ({}) text logits rel err {err:.2e}", found[0].0);
    assert!(err <= 1e-4, "wgpu logits rel err {err:.2e}");
}

/// The log-probabilities the trainer recomputes for sampled completions equal those the KV-cache
/// generator reported while sampling them (same model, temperature 0.7, left-padded prompts with images).
#[test]
fn training_logps_match_generation_logps() {
    use medvlm::train::grpo::logps::{TrainBatch, token_logps};
    let dev = device();
    let model = Vlm::load(&fixture("model/qwen2_vl_tiny"), &dev).unwrap();
    let f = Fixture::load(&fixture("model/qwen2_vl_tiny_fixture.safetensors"));
    let (a, sa, b, sb) = images_for("qwen2_vl");
    let pa = preprocess_rgb(&a, sa[0], sa[1], &model.config.vision, &model.preprocess).unwrap();
    let pb = preprocess_rgb(&b, sb[0], sb[1], &model.config.vision, &model.preprocess).unwrap();
    let batch = case_batch(&f, "batch2", vec![pb.clone(), pa.clone()]);
    let s = Sampling { greedy: false, temperature: 0.7, max_new_tokens: 12, seed: 3, ..Sampling::default() };
    let out = generate(&model, &batch, &[1004], &s, 0, &dev).unwrap();
    let prompts: Vec<Vec<u32>> = (0..2)
        .map(|r| {
            let row = &batch.ids[r * batch.seq..(r + 1) * batch.seq];
            let m = &batch.mask[r * batch.seq..(r + 1) * batch.seq];
            row.iter().zip(m).filter(|(_, m)| **m != 0).map(|(t, _)| *t).collect()
        })
        .collect();
    let ps: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let cs: Vec<&[u32]> = out.tokens.iter().map(Vec::as_slice).collect();
    let tb = TrainBatch::new(&ps, &cs, vec![pb.clone(), pa.clone()], 0);
    let (lp, _) = token_logps(&model, &tb, 0.7, false, &dev).unwrap();
    let lp = to_vec(lp);
    // The GPU's layout: prompts padded to a bucket, completions to a completion bucket of 32.
    let shaped = TrainBatch::shaped(&ps, &cs, vec![pb, pa], vec![0, 1], 0, ShapePolicy::Bucketed, 32);
    assert!(shaped.batch.seq.is_multiple_of(16) && shaped.comp_len >= tb.comp_len);
    let lp_shaped = to_vec(token_logps(&model, &shaped, 0.7, false, &dev).unwrap().0);
    for r in 0..2 {
        for (j, want) in out.logprobs[r].iter().enumerate() {
            let got = lp[r * tb.comp_len + j];
            assert!((got - want).abs() < 1e-4, "row {r} token {j}: trainer {got} vs generator {want}");
            let got = lp_shaped[r * shaped.comp_len + j];
            assert!((got - want).abs() < 1e-4, "row {r} token {j}: bucketed trainer {got} vs generator {want}");
        }
    }
}
