//! Half precision and QLoRA: `--dtype bf16|f16` against transformers loaded in the same dtype (made
//! by `tests/fixtures/precision/make_half_fixture.py`), a q8/q4 base under a PEFT adapter against
//! transformers+PEFT on the same quantized weights, LoRA GRPO on a bf16 + q4 base, full
//! fine-tuning in half precision refused, and bf16 on the wgpu device.

use burn::prelude::*;
use medvlm::model::Vlm;
use medvlm::model::precision::{BaseQuant, Precision};
use medvlm::train::inputs::{ModelSource, OpenOptions, open_weights};

use super::common::{bin, fixture, gpu_lock, max_diff, read_f32 as read, sample_copy, tempdir};

/// `medvlm model logits` on the tiny checkpoint for a fixture case, with extra flags.
fn our_logits(case: &str, extra: &[&str]) -> Vec<f32> {
    let expected = fixture("precision/expected.safetensors");
    let ids: Vec<String> = read(&expected, &format!("{case}.ids")).iter().map(|x| (*x as i64).to_string()).collect();
    let dir = tempdir();
    let out = dir.path().join("logits.safetensors");
    let mut cmd = bin();
    cmd.args(["--backend", "cpu", "model", "logits", "--model"])
        .arg(fixture("model/qwen2_vl_tiny"))
        .args(["--ids", &ids.join(","), "--out"])
        .arg(&out)
        .args(extra);
    if case == "image" {
        cmd.arg("--image").arg(fixture("lora/image.png"));
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    read(&out, "logits")
}

#[test]
fn half_precision_is_as_close_to_f32_as_transformers_in_the_same_dtype() {
    let expected = fixture("precision/expected.safetensors");
    for dtype in ["bf16", "f16"] {
        for case in ["text", "image"] {
            let f32_ref = read(&expected, &format!("f32.{case}.logits"));
            let theirs = read(&expected, &format!("{dtype}.{case}.logits"));
            let ours = our_logits(case, &["--dtype", dtype]);
            let (same, ours_err, their_err) =
                (max_diff(&ours, &theirs), max_diff(&ours, &f32_ref), max_diff(&theirs, &f32_ref));
            eprintln!(
                "{dtype} {case}: |medvlm - transformers| {same:.3e}; from f32: medvlm {ours_err:.3e}, transformers {their_err:.3e}"
            );
            assert!(ours_err > 0.0, "{dtype} must actually compute in half precision");
            assert!(ours_err <= 1.5 * their_err + 1e-3, "{dtype} {case}: {ours_err} vs transformers' {their_err}");
            assert!(same <= 2.0 * their_err + 1e-3, "{dtype} {case}: {same}");
        }
    }
}

#[test]
fn a_quantized_base_under_a_peft_adapter_matches_peft_on_the_same_weights() {
    let expected = fixture("precision/expected.safetensors");
    let adapter = fixture("lora/peft_tf5");
    for (q, tol) in [("q8", 1e-3), ("q4", 1e-4)] {
        for case in ["text", "image"] {
            let ours = our_logits(case, &["--adapter", adapter.to_str().unwrap(), "--quantize-base", q]);
            let d = max_diff(&ours, &read(&expected, &format!("{q}.{case}.logits")));
            eprintln!("{q} {case}: max |medvlm - transformers+PEFT on the dequantized base| = {d:.3e}");
            assert!(d < tol, "{q} {case}: {d}");
        }
    }
    // The decoder's linears are stored packed; the adapters are f32 and trainable.
    let chosen = medvlm::model::device::choose(medvlm::model::device::BackendChoice::Cpu).unwrap();
    let source = ModelSource::parse(fixture("model/qwen2_vl_tiny").to_str().unwrap()).with_adapter(Some(adapter));
    let opts = OpenOptions {
        train: true,
        quantize: Some(BaseQuant::Q4),
        precision: Precision::Bf16,
        ..OpenOptions::default()
    };
    let vlm: Vlm = open_weights(&source, &chosen, &opts).unwrap();
    let w = &vlm.text.layers[0].self_attn.q_proj.weight;
    assert!(matches!(w.base().dtype(), burn::tensor::DType::QFloat(_)), "{:?}", w.base().dtype());
    assert_eq!(vlm.text.embed_tokens.val().dtype(), burn::tensor::DType::BF16);
    assert_eq!(vlm.text.norm.weight.val().dtype(), burn::tensor::DType::F32);
    let a = &w.adapter().unwrap().a;
    assert!(a.val().dtype() == burn::tensor::DType::F32 && a.val().is_require_grad());
}

#[test]
fn lora_grpo_runs_on_a_bf16_q4_base_and_full_fine_tuning_in_half_precision_is_refused() {
    let dir = tempdir();
    let project = sample_copy(dir.path());
    let cfg = dir.path().join("q.toml");
    let base = "preset = \"tiny-demo\"\nsteps = 2\nprompts_per_step = 1\nnum_generations = 2\nmax_completion_length = 16\nsave_steps = 2\nbeta = 0.04\ndtype = \"bf16\"\n";
    std::fs::write(&cfg, format!("{base}[lora]\nrank = 4\nalpha = 8\nquantize_base = \"q4\"\n")).unwrap();
    let run = |extra: &[&str]| {
        bin().args(["--backend", "cpu", "train", "--project"]).arg(&project).args(extra).output().unwrap()
    };
    let o = run(&["--config", cfg.to_str().unwrap(), "--dry-run"]);
    let plan = String::from_utf8_lossy(&o.stdout);
    assert!(plan.contains("weights (bf16, decoder q4)"), "{plan}");
    let o = run(&["--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p = medvlm::store::Project::open(&project).unwrap();
    let id = p.runs().unwrap()[0].id;
    let loss = p.run_metrics(id).unwrap().get("loss").cloned().unwrap_or_default();
    assert_eq!(loss.len(), 2);
    assert!(loss.iter().all(|(_, v)| v.is_finite()), "{loss:?}");
    let ck = p.latest_checkpoint(id).unwrap().unwrap();
    assert!(p.resolve_image(&ck.path).join("adapter_model.safetensors").is_file());
    drop(p);
    // Full fine-tuning keeps f32 weights: a clear refusal, no panic.
    std::fs::write(&cfg, base).unwrap();
    let o = run(&["--config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("full fine-tuning keeps f32 weights"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bf16_runs_on_the_wgpu_device_or_falls_back_to_f16() {
    let _gpu = gpu_lock();
    let dev = match medvlm::model::device::wgpu_device() {
        Ok(d) => d,
        Err(e) => return eprintln!("skipping: {e}"),
    };
    let (p, note) = Precision::Bf16.on(&dev);
    eprintln!("wgpu computes bf16 as {} ({note:?})", p.name());
    let dir = medvlm::sample::bundled_tiny_model().unwrap();
    let full = Vlm::load(&dir, &Device::flex()).unwrap();
    let half = Vlm::load_as(&dir, &dev, p).unwrap();
    assert_ne!(half.text.layers[0].gate_proj.weight.val().dtype(), burn::tensor::DType::F32, "{p:?}");
    let batch = medvlm::model::Batch::left_padded(&[vec![20, 21, 22, 23, 24, 25]], 0, vec![]);
    let a = medvlm::model::layers::to_vec(full.logits(&batch, &Device::flex()).unwrap());
    let b = medvlm::model::layers::to_vec(half.logits(&batch, &dev).unwrap());
    let d = max_diff(&a, &b);
    eprintln!("max |wgpu {} - cpu f32| logit difference: {d:.3e}", p.name());
    assert!(d > 0.0 && d < 0.1, "{d}");
}
