//! Model benchmarks against PyTorch on the same machine, in the same run: a dense 4096² matmul,
//! then forward, forward+backward+AdamW step and greedy KV-cache generation (batch 8) for the
//! `qwen2-small` and `vlm-tiny` configurations of `bench_torch.py`, on the CPU backend (against
//! PyTorch on the CPU) and on wgpu (against PyTorch CUDA eager, when `python` has CUDA). Prints a
//! table with the ratio (PyTorch time / ours: >1 = we are faster).
//!
//! `cargo bench --bench model -- [--quick] [--backend cpu|wgpu|all] [--torch PATH/bench_torch.py] [--python PY]`
//! Defaults: `benches/python/bench_torch.py` (or `$MEDVLM_TORCH_BENCH`) with `python3` (or `$MEDVLM_PYTHON`);
//! CUDA rows from `benches/python/torch_cuda_bench.py`. `all` (the default) runs wgpu only on a hardware
//! adapter; `--backend wgpu` runs it on any adapter, software ones included.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use medvlm::model::config::{PreprocessConfig, VlmConfig};
use medvlm::model::generate::{Sampling, generate};
use medvlm::model::preprocess::{PixelValues, preprocess_rgb};
use medvlm::model::{Batch, Vlm};
use medvlm::sample::rng::Rng;
use medvlm::train::sft::{Example, completion_nll};

#[path = "common/configs.rs"]
mod configs;
use configs::qwen2_small;

struct Args {
    quick: bool,
    backends: Vec<String>,
    torch: Option<PathBuf>,
    python: String,
}

fn args() -> Args {
    let mut a = Args {
        quick: false,
        backends: vec!["cpu".into(), "gpu".into()],
        torch: std::env::var_os("MEDVLM_TORCH_BENCH").map(PathBuf::from).or_else(|| {
            let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python/bench_torch.py");
            p.is_file().then_some(p)
        }),
        python: std::env::var("MEDVLM_PYTHON").unwrap_or_else(|_| "python3".into()),
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        match v[i].as_str() {
            "--quick" => a.quick = true,
            "--backend" if i + 1 < v.len() => {
                i += 1;
                a.backends = if v[i] == "all" { vec!["cpu".into(), "gpu".into()] } else { vec![v[i].clone()] };
            }
            "--torch" if i + 1 < v.len() => {
                i += 1;
                a.torch = Some(PathBuf::from(&v[i]));
            }
            "--python" if i + 1 < v.len() => {
                i += 1;
                a.python = v[i].clone();
            }
            _ => {}
        }
        i += 1;
    }
    a
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<F: FnMut()>(warmup: usize, repeats: usize, mut f: F) -> f64 {
    for _ in 0..warmup {
        f();
    }
    median(
        (0..repeats)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// Random ids in `[3, hi)` plus, for the VLM, `[bos, t, <vs>, <pad> x n, <ve>, ...]` as bench_torch.py builds it.
fn make_rows(cfg: &VlmConfig, batch: usize, seq: usize, image: Option<&PixelValues>, rng: &mut Rng) -> Vec<Vec<u32>> {
    let hi = if image.is_some() { 990.min(cfg.text.vocab_size) } else { cfg.text.vocab_size };
    (0..batch)
        .map(|_| {
            let mut ids: Vec<u32> = (0..seq).map(|_| 3 + rng.below(hi - 3) as u32).collect();
            if let Some(p) = image {
                let n = p.n_tokens(cfg.vision.spatial_merge_size);
                ids[2] = cfg.vision_start_token_id;
                for t in &mut ids[3..3 + n] {
                    *t = cfg.image_token_id;
                }
                ids[3 + n] = cfg.vision_end_token_id;
            }
            ids
        })
        .collect()
}

struct Row {
    model: &'static str,
    bench: &'static str,
    backend: String,
    ours_s: f64,
    torch_s: Option<f64>,
    extra: String,
}

fn torch(a: &Args, task: &str, model: &str, repeats: usize) -> Option<serde_json::Value> {
    let script = a.torch.as_ref()?;
    let mut c = Command::new(&a.python);
    c.arg(script).arg(task).arg("--model").arg(model).arg("--repeats").arg(repeats.to_string());
    let out = c.output().ok()?;
    if !out.status.success() {
        eprintln!("torch {task} {model} failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
        return None;
    }
    serde_json::from_slice(String::from_utf8_lossy(&out.stdout).lines().last()?.as_bytes()).ok()
}

/// PyTorch CUDA eager timings (`torch_cuda_bench.py small|tiny`), when `python` has CUDA.
fn torch_cuda(a: &Args, which: &str, tiny_dir: &str) -> Option<serde_json::Value> {
    let script = a.torch.as_ref()?.with_file_name("torch_cuda_bench.py");
    let dir = script.parent()?.to_path_buf();
    let out = Command::new(&a.python)
        .arg(&script)
        .arg(which)
        .env("BENCH_TORCH_DIR", dir)
        .env("VLM_TINY_DIR", tiny_dir)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("PyTorch CUDA {which}: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("failed"));
        return None;
    }
    serde_json::from_slice(String::from_utf8_lossy(&out.stdout).lines().last()?.as_bytes()).ok()
}

#[allow(clippy::too_many_arguments)]
fn bench_model(
    a: &Args,
    name: &'static str,
    model: &Vlm,
    train_model: Vlm,
    image: Option<PixelValues>,
    dev: &Device,
    train_dev: &Device,
    backend: &str,
    rows: &mut Vec<Row>,
) {
    let cfg = &model.config;
    let reps = if a.quick { 3 } else { 5 };
    let mut rng = Rng::new(0);
    let images = |n: usize| image.iter().cloned().cycle().take(n).collect::<Vec<_>>();
    // Forward (no grad), batch 8 x 128.
    let seqs = make_rows(cfg, 8, 128, image.as_ref(), &mut rng);
    let batch = Batch::left_padded(&seqs, 0, if image.is_some() { images(8) } else { vec![] });
    let fwd = time(2, reps, || {
        let l = model.logits(&batch, dev).map(|l| l.into_data());
        assert!(l.is_ok());
    });
    rows.push(Row {
        model: name,
        bench: "forward b8 x 128",
        backend: backend.into(),
        ours_s: fwd,
        torch_s: None,
        extra: format!("{:.0} tok/s", 1024.0 / fwd),
    });
    // Train step: forward + backward + AdamW on the next-token loss of the text tokens.
    let n_prefix = image.as_ref().map_or(1, |p| 4 + p.n_tokens(cfg.vision.spatial_merge_size));
    let examples: Vec<Example> = seqs
        .iter()
        .map(|s| Example { prompt: s[..n_prefix].to_vec(), completion: s[n_prefix..].to_vec(), image: image.clone() })
        .collect();
    let refs: Vec<&Example> = examples.iter().collect();
    let mut m = train_model;
    let mut optim = AdamWConfig::new().with_weight_decay(0.0).with_epsilon(1e-8).init();
    let (mut tf, mut tb, mut to) = (Vec::new(), Vec::new(), Vec::new());
    let step = time(2, reps, || {
        let t0 = Instant::now();
        let loss = completion_nll(&m, &refs, 0, train_dev).unwrap_or_else(|e| panic!("{e}"));
        let _ = loss.clone().into_scalar::<f32>();
        let t1 = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        let t2 = Instant::now();
        m = optim.step(1e-4, m.clone(), grads);
        let _ = m.text.norm.weight.val().into_data();
        tf.push(t1.duration_since(t0).as_secs_f64());
        tb.push(t2.duration_since(t1).as_secs_f64());
        to.push(t2.elapsed().as_secs_f64());
    });
    rows.push(Row {
        model: name,
        bench: "train step b8 x 128",
        backend: backend.into(),
        ours_s: step,
        torch_s: None,
        extra: format!("fwd {:.3} + bwd {:.3} + opt {:.3} s", median(tf), median(tb), median(to)),
    });
    // Greedy generation: prompt 32, +64 tokens, batch 8, KV cache, full length.
    let prompts = make_rows(cfg, 8, 32, image.as_ref(), &mut rng);
    let gb = Batch::left_padded(&prompts, 0, if image.is_some() { images(8) } else { vec![] });
    let s64 = Sampling { greedy: true, max_new_tokens: 64, ..Sampling::default() };
    let s1 = Sampling { greedy: true, max_new_tokens: 1, ..Sampling::default() };
    let gen_s = time(1, reps.min(3), || {
        let out = generate(model, &gb, &[], &s64, 0, dev).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.tokens[0].len(), 64);
    });
    let pre = time(1, reps.min(3), || {
        let _ = generate(model, &gb, &[], &s1, 0, dev);
    });
    rows.push(Row {
        model: name,
        bench: "greedy generate b8, 32+64",
        backend: backend.into(),
        ours_s: gen_s,
        torch_s: None,
        extra: format!("{:.0} new tok/s; decode {:.0} tok/s", 512.0 / gen_s, 8.0 * 63.0 / (gen_s - pre).max(1e-9)),
    });
}

fn main() {
    let a = args();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model/qwen2_vl_tiny");
    let mut rows = Vec::new();
    for backend in &a.backends {
        use medvlm::model::device::{BackendChoice, choose};
        let (dev, desc) = match backend.as_str() {
            // `all`: wgpu only on a hardware adapter; `--backend wgpu`: any adapter.
            "gpu" | "wgpu" => {
                if backend == "gpu" && medvlm::model::device::gpu_adapters().is_empty() {
                    eprintln!("no GPU adapter: skipping the wgpu backend");
                    continue;
                }
                match choose(BackendChoice::Wgpu) {
                    Ok(c) => (c.device, c.description),
                    Err(e) => {
                        eprintln!("{e}: skipping the wgpu backend");
                        continue;
                    }
                }
            }
            _ => (Device::flex(), "cpu (flex)".to_string()),
        };
        // Dense fp32 matmul, 4096² (bench_torch.py matmul's default size).
        let n = 4096;
        let x: Tensor<2> = Tensor::random([n, n], burn::tensor::Distribution::Default, &dev);
        let mm = time(1, if a.quick { 2 } else { 5 }, || {
            let _ = x.clone().matmul(x.clone()).into_data();
        });
        let gflops = 2.0 * (n as f64).powi(3) / mm / 1e9;
        rows.push(Row {
            model: "-",
            bench: "matmul 4096² fp32",
            backend: desc.clone(),
            ours_s: mm,
            torch_s: None,
            extra: format!("{gflops:.0} GFLOP/s"),
        });
        let small = Vlm::random(qwen2_small(), PreprocessConfig::default(), 0, &dev).unwrap_or_else(|e| panic!("{e}"));
        let small_train = Vlm::random(qwen2_small(), PreprocessConfig::default(), 0, &dev.clone().autodiff())
            .unwrap_or_else(|e| panic!("{e}"));
        bench_model(&a, "qwen2-small", &small, small_train, None, &dev, &dev.clone().autodiff(), &desc, &mut rows);
        let tiny = Vlm::load(&fixtures, &dev).unwrap_or_else(|e| panic!("{e}"));
        let tiny_train = Vlm::load(&fixtures, &dev.clone().autodiff()).unwrap_or_else(|e| panic!("{e}"));
        let mut rng = Rng::new(1);
        let rgb: Vec<u8> = (0..112 * 112 * 3).map(|_| rng.below(256) as u8).collect();
        let img =
            preprocess_rgb(&rgb, 112, 112, &tiny.config.vision, &tiny.preprocess).unwrap_or_else(|e| panic!("{e}"));
        bench_model(&a, "vlm-tiny", &tiny, tiny_train, Some(img), &dev, &dev.clone().autodiff(), &desc, &mut rows);
    }
    // PyTorch reference, same machine, same shapes: CPU rows against PyTorch on the CPU, wgpu rows
    // against PyTorch CUDA eager.
    let reps = if a.quick { 3 } else { 5 };
    let fixture_dir = fixtures.to_string_lossy().into_owned();
    let cuda = |which: &str| torch_cuda(&a, which, &fixture_dir);
    let (cuda_small, cuda_tiny) =
        if rows.iter().any(|r| r.backend.starts_with("wgpu")) { (cuda("small"), cuda("tiny")) } else { (None, None) };
    for r in &mut rows {
        if r.backend.starts_with("wgpu") {
            let j = if r.model == "vlm-tiny" { &cuda_tiny } else { &cuda_small };
            let key = match r.bench {
                b if b.starts_with("forward") => "forward_s",
                b if b.starts_with("train") => "train_s",
                b if b.starts_with("greedy") => "generate_s",
                _ => continue,
            };
            r.torch_s = j.as_ref().and_then(|v| v.get(key)).and_then(serde_json::Value::as_f64);
            continue;
        }
        let model = if r.model == "vlm-tiny" { fixture_dir.as_str() } else { "qwen2-small" };
        let task = match r.bench {
            b if b.starts_with("matmul") => "matmul",
            b if b.starts_with("forward") => "forward",
            b if b.starts_with("train") => "train",
            _ => "generate",
        };
        r.torch_s = torch(&a, task, model, reps).and_then(|v| v.get("median_s").and_then(serde_json::Value::as_f64));
    }
    println!("\ncpu rows: PyTorch on the CPU; wgpu rows: PyTorch CUDA eager on the same machine.");
    println!("| model | bench | backend | ours (s) | PyTorch (s) | ratio (torch/ours) | notes |");
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        let (t, ratio) = match r.torch_s {
            Some(t) => (format!("{t:.4}"), format!("{:.2}x", t / r.ours_s)),
            None => ("-".into(), "-".into()),
        };
        println!("| {} | {} | {} | {:.4} | {} | {} | {} |", r.model, r.bench, r.backend, r.ours_s, t, ratio, r.extra);
    }
}
