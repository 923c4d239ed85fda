//! One GRPO step against TRL's `GRPOTrainer` on the same model and batch
//! (`../shared/reference/bench_grpo_trl.py`): the `qwen2-small` text model, 8 completions per step
//! (2 prompts x G=4) of 64 tokens after 32-token prompts, T=1, top-k/top-p off, β=0, `dapo` loss,
//! lr 1e-5, fp32 on the CPU. Prints the median step time of both, the ratio (TRL / ours: >1 = we are
//! faster) and the time breakdown (generation, log-probs, loss+backward, optimizer).
//! `--backend wgpu` times ours on the GPU (after the run's kernel preparation) against TRL on CUDA.
//!
//! `cargo bench --bench grpo -- [--steps N (10)] [--backend cpu|wgpu] [--trl PATH/bench_grpo_trl.py] [--python PY]`
//! Defaults: `benches/python/bench_grpo_trl.py` (or `$MEDVLM_TRL_BENCH`), `python3` (or `$MEDVLM_PYTHON`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use burn::prelude::*;
use medvlm::domain::VqaItem;
use medvlm::model::Vlm;
use medvlm::model::chat::ChatTokenizer;
use medvlm::model::config::PreprocessConfig;
use medvlm::sample::rng::Rng;
use medvlm::train::grpo::config::GrpoConfig;
use medvlm::train::grpo::loss::LossType;
use medvlm::train::grpo::runner::PromptItem;
use medvlm::train::grpo::step::{StepCtx, grpo_step};
use medvlm::train::optim::AdamW;
use tokenizers::Tokenizer;

#[path = "common/configs.rs"]
#[allow(dead_code)]
mod configs;

/// A word-level tokenizer over the model's 4096 ids, as the TRL script builds it, with the three Qwen
/// special tokens the chat wrapper needs at the top of the vocabulary.
fn tokenizer(vocab: usize) -> Tokenizer {
    let mut v = serde_json::Map::new();
    for (i, t) in ["<pad>", "<bos>", "<eos>", "<unk>"].iter().enumerate() {
        v.insert((*t).into(), i.into());
    }
    for i in 0..vocab - 7 {
        v.insert(format!("w{i}"), (i + 4).into());
    }
    for (k, t) in ["<|endoftext|>", "<|im_end|>", "<|image_pad|>"].iter().enumerate() {
        v.insert((*t).into(), (vocab - 3 + k).into());
    }
    let added: Vec<_> = ["<|endoftext|>", "<|im_end|>", "<|image_pad|>"]
        .iter()
        .enumerate()
        .map(|(k, t)| serde_json::json!({"id": vocab - 3 + k, "content": t, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}))
        .collect();
    let json = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added, "normalizer": null,
        "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": null,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordLevel", "vocab": v, "unk_token": "<unk>"}
    });
    match Tokenizer::from_bytes(json.to_string().as_bytes()) {
        Ok(t) => t,
        Err(e) => panic!("bench tokenizer: {e}"),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn trl(steps: usize, script: &Path, python: &str, cuda: bool) -> Option<serde_json::Value> {
    let out = Command::new(python)
        .arg(script)
        .args(["--steps", &steps.to_string(), "--warmup-steps", "1", "--out", "/tmp/medvlm_grpo_bench"])
        .args(if cuda { &["--cuda"][..] } else { &[][..] })
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("TRL bench failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
        return None;
    }
    serde_json::from_slice(String::from_utf8_lossy(&out.stdout).lines().last()?.as_bytes()).ok()
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| argv.iter().position(|a| a == name).and_then(|i| argv.get(i + 1)).cloned();
    let steps: usize = flag("--steps").and_then(|s| s.parse().ok()).unwrap_or(10);
    let script = flag("--trl")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("MEDVLM_TRL_BENCH").map(PathBuf::from))
        .or_else(|| {
            let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python/bench_grpo_trl.py");
            p.is_file().then_some(p)
        });
    let python = flag("--python").or_else(|| std::env::var("MEDVLM_PYTHON").ok()).unwrap_or_else(|| "python3".into());

    let gpu = flag("--backend").as_deref() == Some("wgpu");
    let (dev, desc) = if gpu {
        match medvlm::model::device::choose(medvlm::model::device::BackendChoice::Wgpu) {
            Ok(c) => (c.device, c.description),
            Err(e) => panic!("{e}"),
        }
    } else {
        (Device::flex(), "CPU (flex)".to_string())
    };
    let train_dev = dev.clone().autodiff();
    let config = configs::qwen2_small();
    let vocab = config.text.vocab_size;
    let mut policy = Vlm::random(config, PreprocessConfig::default(), 0, &train_dev).unwrap_or_else(|e| panic!("{e}"));
    let tok = match ChatTokenizer::from_tokenizer(tokenizer(vocab)) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let cfg = GrpoConfig {
        num_generations: 4,
        prompts_per_step: 2,
        max_completion_length: 64,
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        beta: 0.0,
        loss_type: LossType::Dapo,
        learning_rate: 1e-5,
        num_iterations: 1,
        gradient_accumulation_steps: 1,
        ..GrpoConfig::default()
    };
    let mut optim = AdamW::new(cfg.adam);
    let mut rng = Rng::new(0);
    let item = |i: usize| VqaItem {
        source: "bench".into(),
        ..VqaItem::choice(&format!("bench-{i}"), "bench", &["w0", "w1"], 0)
    };
    let (mut times, mut parts): (Vec<f64>, BTreeMap<String, Vec<f64>>) = (Vec::new(), BTreeMap::new());
    let mut tokens = Vec::new();
    for s in 0..=steps {
        let prompts: Vec<PromptItem> = (0..2)
            .map(|k| PromptItem {
                id: k,
                item: item(k as usize),
                prompt: (0..32).map(|_| 4 + rng.below(vocab - 7) as u32).collect(),
                image: None,
            })
            .collect();
        let refs: Vec<&PromptItem> = prompts.iter().collect();
        let ctx = StepCtx::new(&cfg, &tok, &dev, &train_dev).at(s);
        let t = Instant::now();
        let out = match grpo_step(policy, None, &refs, &mut optim, &ctx) {
            Ok(o) => o,
            Err(e) => panic!("grpo step: {e}"),
        };
        let dt = t.elapsed().as_secs_f64();
        policy = out.model;
        if s == 0 {
            continue; // warm-up (kernel compilation on the GPU), as the TRL script does
        }
        times.push(dt);
        tokens.push(out.metrics.tokens);
        for (k, v) in &out.metrics.to_trl() {
            if let Some(name) = k.strip_prefix("timing/") {
                parts.entry(name.to_string()).or_default().push(*v);
            }
        }
    }
    let (ours_min, ours_max) =
        (times.iter().copied().fold(f64::INFINITY, f64::min), times.iter().copied().fold(0.0, f64::max));
    let ours = median(times);
    println!("GRPO step, qwen2-small, 2 prompts x G=4, prompt 32, completion 64, beta 0, dapo, fp32, {desc}");
    println!(
        "ours: median step {ours:.3} s (min {ours_min:.3}, max {ours_max:.3}; {:.0} completion tokens/step on average)",
        tokens.iter().sum::<usize>() as f64 / tokens.len() as f64
    );
    for (k, v) in &parts {
        println!("  {k:<28} {:.3} s", median(v.clone()));
    }
    let Some(script) = script else {
        println!("TRL: bench_grpo_trl.py not found (set MEDVLM_TRL_BENCH); no ratio");
        return;
    };
    match trl(steps, &script, &python, gpu) {
        Some(r) => {
            let t = r["median_step_s"].as_f64().unwrap_or(f64::NAN);
            let (lo, hi) = (r["min_step_s"].as_f64().unwrap_or(f64::NAN), r["max_step_s"].as_f64().unwrap_or(f64::NAN));
            let on = if gpu { "CUDA" } else { "CPU" };
            println!(
                "TRL {} on {on}: median step {t:.3} s (min {lo:.3}, max {hi:.3})",
                r["trl"].as_str().unwrap_or("?")
            );
            if let Some(b) = r["breakdown_median_s"].as_object() {
                for (k, v) in b {
                    println!("  {k:<36} {:.3} s", v.as_f64().unwrap_or(f64::NAN));
                }
            }
            println!(
                "ratio TRL / ours = {:.2}x on medians, {:.2}x on minima (>1: ours faster)",
                t / ours,
                lo / ours_min
            );
        }
        None => println!("TRL: no result (is trl installed for {python}?)"),
    }
}
