//! LoRA and PEFT: adapters made by PEFT (both key layouts, list and regex targets, rank / alpha
//! patterns, rsLoRA) give transformers+PEFT's logits through `medvlm model logits --adapter`;
//! adapters we save load back to the same logits, merge to the same logits, and PEFT loads them
//! (checked by `tests/fixtures/lora/make_peft_fixture.py`, recorded in `ours_check.json`); a fresh
//! adapter changes nothing, adapters off is the base, training moves only the adapters, and a LoRA
//! GRPO run checkpoints PEFT adapters, resumes and is evaluated.

use burn::module::Module as _;
use burn::optim::GradientsParams;
use burn::prelude::*;
use medvlm::model::layers::to_vec;
use medvlm::model::lora::{self, LoraSettings};
use medvlm::model::{Batch, Vlm};
use medvlm::train::optim::{AdamW, AdamWParams};

use super::common::{bin, fixture, max_diff, read_f32 as read, sample_copy, tempdir};

fn model_dir() -> std::path::PathBuf {
    fixture("model/qwen2_vl_tiny")
}

#[test]
fn peft_adapters_in_both_layouts_match_transformers_and_peft() {
    let expected = fixture("lora/expected.safetensors");
    let dir = tempdir();
    for adapter in ["peft_tf5", "peft_tf4_regex"] {
        for (case, tol) in [("text", 1e-4), ("image", 1e-3)] {
            let ids: Vec<String> =
                read(&expected, &format!("{case}.ids")).iter().map(|x| (*x as i64).to_string()).collect();
            let out = dir.path().join(format!("{adapter}-{case}.safetensors"));
            let mut cmd = bin();
            cmd.args(["--backend", "cpu", "model", "logits", "--model"])
                .arg(model_dir())
                .arg("--adapter")
                .arg(fixture(&format!("lora/{adapter}")))
                .args(["--ids", &ids.join(","), "--out"])
                .arg(&out);
            if case == "image" {
                cmd.arg("--image").arg(fixture("lora/image.png"));
            }
            let o = cmd.output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let want = read(&expected, &format!("{adapter}.{case}.logits"));
            let d = max_diff(&read(&out, "logits"), &want);
            assert!(d < tol, "{adapter} {case}: max |medvlm - transformers+PEFT| = {d}");
        }
    }
    // The other direction, as the fixture script found it.
    let check: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("lora/ours_check.json")).unwrap()).unwrap();
    for case in ["text", "image"] {
        assert!(check[case]["max_abs_diff"].as_f64().unwrap() < 1e-4, "{check}");
    }
}

fn logits(vlm: &Vlm, dev: &Device) -> Vec<f32> {
    let batch = Batch::left_padded(&[vec![1003, 5, 6, 7, 8, 9]], 0, vec![]);
    to_vec(vlm.logits(&batch, dev).unwrap())
}

#[test]
fn adapters_attach_switch_off_save_load_and_merge_exactly() {
    let dev = Device::flex();
    let base = Vlm::load(&model_dir(), &dev).unwrap();
    let want = logits(&base, &dev);
    // A fresh adapter (B = 0) leaves the output unchanged.
    let fresh = lora::apply(base.clone(), &LoraSettings::default()).unwrap();
    assert!(max_diff(&logits(&fresh, &dev), &want) < 1e-6);
    let s = LoraSettings { rank: 4, ..LoraSettings::default() };
    let adapted = lora::random_adapters(base, &s, 3, 0.05).unwrap();
    let on = logits(&adapted, &dev);
    assert!(max_diff(&on, &want) > 0.1, "the adapter must change the output");
    // Off: exactly the base, with no second copy of the weights.
    let off = adapted.clone().with_adapters_off(true);
    assert!(max_diff(&logits(&off, &dev), &want) < 1e-6);
    let (n_adapter, n_base) = lora::counts(&adapted);
    assert_eq!(n_adapter, 2 * (2 * 4 * (128 + 128) + 2 * 4 * (128 + 64) + 2 * 4 * (128 + 344) + 4 * (344 + 128)));
    assert!(n_base > 10 * n_adapter);
    // Save (PEFT layout) and load back.
    let dir = tempdir();
    lora::save_peft(&adapted, dir.path(), "tiny").unwrap();
    let back = lora::load_peft(Vlm::load(&model_dir(), &dev).unwrap(), dir.path(), false).unwrap();
    assert!(max_diff(&logits(&back, &dev), &on) < 1e-5);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!((cfg["r"].as_u64(), cfg["peft_type"].as_str()), (Some(4), Some("LORA")));
    // Merged and saved as a full checkpoint: the same function.
    let merged_dir = dir.path().join("merged");
    adapted.save(&merged_dir, medvlm::model::weights::Dtype::F32, Default::default()).unwrap();
    let merged = Vlm::load(&merged_dir, &dev).unwrap();
    assert!(max_diff(&logits(&merged, &dev), &on) < 1e-4);
    // A tensor that fits no layer is an error naming it.
    use medvlm::model::weights::{Checkpoint, Dtype, NamedTensor, write};
    let file = dir.path().join("adapter_model.safetensors");
    let ck = Checkpoint::open(&file).unwrap();
    let mut tensors: Vec<NamedTensor> = ck
        .names()
        .into_iter()
        .map(|n| {
            let shape = ck.shape(&n).unwrap().to_vec();
            NamedTensor { data: ck.get(&n, &shape).unwrap(), name: n, shape }
        })
        .collect();
    drop(ck);
    let stray = "base_model.model.model.language_model.layers.9.self_attn.q_proj.lora_A.weight";
    tensors.push(NamedTensor { name: stray.into(), shape: vec![4, 128], data: vec![0.0; 512] });
    write(&file, &tensors, Dtype::F32, Default::default()).unwrap();
    let bad = lora::load_peft(Vlm::load(&model_dir(), &dev).unwrap(), dir.path(), false);
    let e = bad.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains(stray) && e.contains("matches no layer"), "{e}");
}

#[test]
fn a_training_step_moves_only_the_adapters() {
    let dev = Device::flex().autodiff();
    let base = Vlm::load(&model_dir(), &dev).unwrap();
    let s = LoraSettings { rank: 4, ..LoraSettings::default() };
    let model = lora::random_adapters(base, &s, 3, 0.05).unwrap();
    let before_base = to_vec(model.text.layers[0].self_attn.q_proj.weight.base());
    let before_b = to_vec(model.text.layers[0].self_attn.q_proj.weight.adapter().unwrap().b.val());
    let before_norm = to_vec(model.text.norm.weight.val());
    let batch = Batch::left_padded(&[vec![1003, 5, 6, 7, 8, 9]], 0, vec![]);
    let loss = model.logits(&batch, &dev).unwrap().powf_scalar(2.0).mean();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let (model, norm) = AdamW::new(AdamWParams::default()).step(model, grads, 1e-2);
    assert!(norm > 0.0);
    let w = &model.text.layers[0].self_attn.q_proj.weight;
    assert_eq!(to_vec(w.base()), before_base, "the frozen base moved");
    assert_eq!(to_vec(model.text.norm.weight.val()), before_norm, "a norm moved");
    assert!(max_diff(&to_vec(w.adapter().unwrap().b.val()), &before_b) > 1e-4, "the adapter did not move");
    let _ = model.valid();
}

#[test]
fn lora_settings_are_validated_by_field() {
    use medvlm::train::grpo::config::GrpoConfig;
    for p in ["medvlm-r1-lora", "medvlthinker-lora"] {
        let c = GrpoConfig::preset(p).unwrap();
        assert_eq!(c.lora.as_ref().unwrap().rank, 16);
        assert_eq!(c.learning_rate, 1e-5);
        c.validate().unwrap();
    }
    let c = GrpoConfig::from_toml("preset = \"medvlm-r1\"\n[lora]\nrank = 8\n").unwrap();
    assert_eq!((c.lora.as_ref().unwrap().rank, c.lora.as_ref().unwrap().alpha), (8, 32.0));
    let e = GrpoConfig::from_toml("preset = \"medvlm-r1\"\n[lora]\nrank = 0\n").unwrap_err();
    assert_eq!(e.field, "lora.rank", "{e}");
    let e = GrpoConfig::from_toml("[lora]\nranc = 4\n").unwrap_err();
    assert!(e.reason.contains("ranc"), "{e}");
    let e = GrpoConfig::from_toml("[lora]\ntarget_modules = [\"nope_proj\"]\n");
    // Names are checked against the model when the run opens it; the syntax here.
    assert!(e.is_ok());
    let e = GrpoConfig::from_toml("[lora]\ntarget_modules = [\"(unclosed\"]\n").unwrap_err();
    assert_eq!(e.field, "lora.target_modules", "{e}");
}

#[test]
fn a_lora_grpo_run_checkpoints_a_peft_adapter_that_evaluates_and_resumes_with_its_image_sizes() {
    let dir = tempdir();
    let project = sample_copy(dir.path());
    let cfg = dir.path().join("run.toml");
    std::fs::write(
        &cfg,
        "preset = \"tiny-demo\"\nsteps = 2\nprompts_per_step = 1\nnum_generations = 2\nmax_completion_length = 16\nsave_steps = 1\nbeta = 0.04\nmax_pixels = 6272\n[lora]\nrank = 4\nalpha = 8\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let o = bin().args(["--backend", "cpu", "train", "--project"]).arg(&project).args(extra).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&["--config", cfg.to_str().unwrap()]);
    let p = medvlm::store::Project::open(&project).unwrap();
    let id = p.runs().unwrap()[0].id;
    let ck = p.latest_checkpoint(id).unwrap().unwrap();
    let ck_dir = p.resolve_image(&ck.path);
    assert!(ck_dir.join("adapter_model.safetensors").is_file() && ck_dir.join("adapter_config.json").is_file());
    assert!(!ck_dir.join("model.safetensors").exists(), "a LoRA checkpoint holds the adapter, not the weights");
    // KL against the base with adapters off was computed (beta != 0) without a second model.
    let kl = p.run_metrics(id).unwrap().get("kl").cloned().unwrap_or_default();
    assert_eq!(kl.len(), 2);
    drop(p);
    // The adapter serves `generate` and `eval`.
    let o = bin()
        .args(["--backend", "cpu", "eval", "--project"])
        .arg(&project)
        .args(["--model", "sample", "--adapter"])
        .arg(&ck_dir)
        .args(["--limit", "2", "--max-new-tokens", "8"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A resume opens the checkpoint as base + trainable adapter.
    use medvlm::train::inputs::{Loaded, ModelSource, OpenOptions};
    let source = ModelSource::checkpoint("sample", &ck_dir);
    assert_eq!(source.adapter.as_deref(), Some(ck_dir.as_path()));
    let chosen = medvlm::model::device::choose(medvlm::model::device::BackendChoice::Cpu).unwrap();
    let opts = OpenOptions { train: true, ..OpenOptions::default() };
    let loaded = Loaded::open_on(&source, chosen, &opts).unwrap();
    let w = &loaded.vlm.text.layers[0].self_attn.q_proj.weight;
    assert!(w.adapter().unwrap().b.val().is_require_grad() && !w.base().is_require_grad());
    // The run's image size bound goes with the adapter: evaluating it sees the images it trained on.
    let pp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ck_dir.join("preprocessor_config.json")).unwrap()).unwrap();
    assert_eq!(pp["max_pixels"], 6272);
    assert_eq!(loaded.vlm.preprocess.max_pixels, 6272);
    assert_eq!(loaded.processor.images.preprocess.max_pixels, 6272);
}

#[test]
fn dry_run_prints_the_memory_plan_and_refuses_what_does_not_fit() {
    let dir = tempdir();
    let project = sample_copy(dir.path());
    let cfg = dir.path().join("lora.toml");
    let train = |config: &str, extra: &[&str]| {
        std::fs::write(&cfg, config).unwrap();
        let mut cmd = bin();
        cmd.args(["--backend", "cpu", "train", "--project"]).arg(&project).args(["--config", cfg.to_str().unwrap()]);
        cmd.args(extra).output().unwrap()
    };
    let o = train("preset = \"tiny-demo\"\n[lora]\nrank = 16\nalpha = 32\n", &["--dry-run"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", String::from_utf8_lossy(&o.stderr));
    for row in ["weights", "LoRA adapters", "optimizer state", "KV cache", "with gradient checkpointing", "(fits)"] {
        assert!(out.contains(row), "missing {row:?} in\n{out}");
    }
    let tight = "preset = \"tiny-demo\"\nmemory_limit_gb = 0.01\n";
    let o = train(tight, &["--dry-run"]);
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("does NOT fit"));
    // A real run under the same limit is refused before step 1, with the numbers, and nothing is lost.
    let o = train(tight, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("is available") && err.contains("optimizer state"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn the_builder_records_every_checkpoint_tensor_once_and_export_uses_it() {
    let dev = Device::flex();
    for dir in [model_dir(), fixture("model/qwen2_5_vl_tiny")] {
        let vlm = Vlm::load(&dir, &dev).unwrap();
        let ck = medvlm::model::weights::Checkpoint::open(&dir).unwrap();
        let recorded: Vec<&str> = vlm.names.tensors.iter().map(|t| t.hf.as_str()).collect();
        let unique: std::collections::BTreeSet<&str> = recorded.iter().copied().collect();
        assert_eq!(unique.len(), recorded.len(), "a name recorded twice");
        let in_file: std::collections::BTreeSet<String> = ck.names().into_iter().collect();
        assert_eq!(unique.iter().map(|s| s.to_string()).collect::<std::collections::BTreeSet<_>>(), in_file);
        // LoRA's table is the builder's: every linear layer, named as in the checkpoint.
        for l in lora::linears(&vlm) {
            assert!(in_file.contains(&format!("{}.weight", l.hf)), "{}", l.hf);
        }
        let exported = vlm.export();
        assert_eq!(exported.len(), in_file.len());
        for t in &exported {
            assert_eq!(ck.get(&t.name, &t.shape).unwrap(), t.data, "{}", t.name);
        }
    }
}
