//! Hostile and unlucky use, runs side (issue: "faults and bad input"): one test per defect, named
//! after it. Runs have one owner at a time and show `interrupted` when it is gone; sizes are checked
//! before memory is taken; pass counts survive a kill; pipes close quietly; diverged checkpoints
//! and collapsed runs are caught; configs merge with their preset.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use medvlm::store::{Project, RunStatus};

use super::common::{bin, sample_copy, tempdir, train_with};

const SLOW_RUN: &str = "preset = \"tiny-demo\"\nsteps = 40\nprompts_per_step = 2\nnum_generations = 2\nmax_completion_length = 24\nsave_steps = 1\n";

#[test]
fn a_run_cannot_be_resumed_twice_at_once_and_a_killed_one_reads_interrupted() {
    let d = tempdir();
    let project = sample_copy(d.path());
    let cfg = d.path().join("run.toml");
    std::fs::write(&cfg, SLOW_RUN).unwrap();
    let mut first = bin()
        .args(["--backend", "cpu", "train", "--project"])
        .arg(&project)
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    let t0 = Instant::now();
    while let Some(Ok(line)) = lines.next() {
        if line.starts_with("step    2") || t0.elapsed() > Duration::from_secs(240) {
            break;
        }
    }
    let run = Project::open(&project).unwrap().runs().unwrap()[0].clone();
    assert_eq!(run.status, RunStatus::Running);
    // A second process resuming the live run is refused before it touches anything.
    let steps_before = Project::open(&project).unwrap().run_steps(run.id).unwrap().len();
    let out = bin()
        .args(["--backend", "cpu", "train", "--project"])
        .arg(&project)
        .args(["--resume", &run.id.to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("being trained by process") && !stderr.contains("UNIQUE"), "{stderr}");
    assert!(Project::open(&project).unwrap().run_steps(run.id).unwrap().len() >= steps_before, "nothing truncated");
    // Killed without warning: the run reads `interrupted`, and one resume takes it over.
    first.kill().unwrap();
    first.wait().unwrap();
    let row = Project::open(&project).unwrap().runs().unwrap()[0].clone();
    assert_eq!(row.status, RunStatus::Interrupted, "{row:?}");
    let out = bin().args(["runs", "list", "--project"]).arg(&project).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("interrupted"));
    let mut resumed = bin()
        .args(["--backend", "cpu", "train", "--project"])
        .arg(&project)
        .args(["--resume", &run.id.to_string(), "--steps", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = resumed.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut resumed.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    assert_eq!(Project::open(&project).unwrap().runs().unwrap()[0].status, RunStatus::Finished);
}

#[test]
fn absurd_sizes_are_refused_with_a_clear_error() {
    let run = |args: &[&str]| {
        let out = bin().args(["--backend", "cpu"]).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (code, err) = run(&["generate", "--model", "sample", "--prompt", "hi", "--max-new-tokens", "1000000000000"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("max_position_embeddings") && !err.contains("panicked"), "{err}");
    let (code, err) = run(&["generate", "--model", "sample", "--prompt", "hi", "--temperature", "1", "--top-p", "5"]);
    assert!(code == Some(2) && err.contains("top_p"), "{err}");
    let d = tempdir();
    let project = sample_copy(d.path());
    let p = project.to_string_lossy().to_string();
    let (code, err) = run(&["eval", "--project", &p, "--model", "sample", "--batch", "0"]);
    assert!(code == Some(2) && err.contains("batch"), "{err}");
    let cfg = d.path().join("huge.toml");
    std::fs::write(
        &cfg,
        "preset = \"tiny-demo\"\nnum_generations = 64\nprompts_per_step = 4096\nmax_completion_length = 30000\n",
    )
    .unwrap();
    let (code, err) = run(&["train", "--project", &p, "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("KV cache") && err.contains("available") && !err.contains("memory allocation"), "{err}");
}

fn passrate(project: &std::path::Path, extra: &[&str]) {
    let out = bin()
        .args(["--backend", "cpu", "curate", "passrate", "--model", "sample", "--k", "4", "--split", "train"])
        .args(["--max-new-tokens", "24", "--project"])
        .arg(project)
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn counts(project: &std::path::Path) -> Vec<(i64, usize)> {
    let p = Project::open(project).unwrap();
    let key = p.estimate_keys().unwrap()[0].0.clone();
    let mut v: Vec<(i64, usize)> = p.estimates(&key).unwrap().into_iter().map(|(id, c)| (id, c.n_correct)).collect();
    v.sort_unstable();
    v
}

/// Every stored sample `(item, sample index) -> completion` of the project's pass-count runs.
fn samples(project: &std::path::Path) -> std::collections::BTreeMap<(i64, i64), String> {
    let conn = rusqlite::Connection::open(project).unwrap();
    let mut st = conn
        .prepare("SELECT item_id, sample_index, completion FROM rollouts JOIN runs ON runs.id = rollouts.run_id WHERE runs.kind = 'passrate'")
        .unwrap();
    st.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?))).unwrap().map(Result::unwrap).collect()
}

#[test]
fn pass_counts_are_reproducible_after_a_kill() {
    let d = tempdir();
    let a = sample_copy(&d.path().join("a"));
    let b = sample_copy(&d.path().join("b"));
    passrate(&a, &["--limit", "12"]);
    // Interrupted after 5 items (mid-batch), then resumed to the same 12.
    passrate(&b, &["--limit", "5"]);
    passrate(&b, &["--limit", "7"]);
    let (ca, cb) = (counts(&a), counts(&b));
    assert_eq!(ca.len(), 12);
    assert_eq!(ca, cb, "pass counts after a resume differ from an uninterrupted job");
    let (sa, sb) = (samples(&a), samples(&b));
    assert_eq!(sa.len(), 48);
    assert!(sa == sb, "the samples themselves differ after a resume");
}

#[test]
fn broken_pipes_end_quietly() {
    let d = tempdir();
    let project = sample_copy(d.path());
    for args in [&["info"][..], &["runs", "list"], &["curate", "filter"], &["curate", "leakage"]] {
        let mut child = bin()
            .args(args)
            .arg("--project")
            .arg(&project)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before the first line
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(status.code().is_some_and(|c| c == 0), "{args:?}: {status:?} {err}");
    }
}

#[test]
fn diverged_checkpoints_and_collapsed_runs_are_caught() {
    let d = tempdir();
    // A checkpoint with NaN weights: `model check` and every load name the tensor.
    let bad = d.path().join("nan-model");
    let src = medvlm::sample::bundled_tiny_model().unwrap();
    std::fs::create_dir_all(&bad).unwrap();
    for f in ["config.json", "preprocessor_config.json", "tokenizer.json"] {
        std::fs::copy(src.join(f), bad.join(f)).unwrap();
    }
    let model = medvlm::model::Vlm::load(&src, &burn::prelude::Device::flex()).unwrap();
    let mut tensors = model.export();
    tensors.iter_mut().find(|t| t.name == "model.norm.weight").unwrap().data[3] = f32::NAN;
    medvlm::model::weights::write(
        &bad.join("model.safetensors"),
        &tensors,
        medvlm::model::weights::Dtype::F32,
        Default::default(),
    )
    .unwrap();
    for args in [&["model", "check", "--model"][..], &["generate", "--prompt", "hi", "--model"]] {
        let out = bin().args(["--backend", "cpu"]).args(args).arg(&bad).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("model.norm.weight") && err.contains("NaN"), "{err}");
    }
    // lr = 1e3: after a rewarded first step the policy collapses (reward and gradient zero): the
    // run is stopped as failed with the reason, not reported `finished`.
    let project = sample_copy(&d.path().join("p"));
    let out = train_with(
        &project,
        &d.path().join("hot.toml"),
        "preset = \"tiny-demo\"\nsteps = 8\nprompts_per_step = 1\nnum_generations = 4\nlearning_rate = 1000.0\nwarmup_steps = 0\ncollapse_steps = 2\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("collapsed") && err.contains("learning rate"), "{err}");
    let row = Project::open(&project).unwrap().runs().unwrap()[0].clone();
    assert_eq!(row.status, RunStatus::Failed);
    assert!(row.message.unwrap_or_default().contains("collapsed"));
}

#[test]
fn config_tables_merge_with_the_preset_and_evaluating_nothing_is_an_error() {
    use medvlm::train::grpo::config::GrpoConfig;
    let c = GrpoConfig::from_toml("preset = \"medvlthinker\"\nadam = { max_grad_norm = 0.5 }\n").unwrap();
    let preset = GrpoConfig::preset("medvlthinker").unwrap();
    assert_eq!(c.adam.max_grad_norm, 0.5);
    assert_eq!(c.adam.weight_decay, preset.adam.weight_decay, "the preset's other AdamW fields are kept");
    let e = GrpoConfig::from_toml("adam = { beta3 = 1.0 }\n").unwrap_err();
    assert!(e.to_string().contains("beta3"), "{e}");
    let d = tempdir();
    let project = sample_copy(d.path());
    let out = bin()
        .args(["--backend", "cpu", "eval", "--model", "sample", "--split", "val", "--limit", "0", "--project"])
        .arg(&project)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no items to evaluate"), "{err}");
}
