//! GRPO runs end to end on the bundled tiny model: a short run records every step with TRL metric
//! names; killing `medvlm train` mid-run and resuming continues from the last checkpoint with no
//! gap or duplicate step; exports are valid trainer_state / CSV; comparing checkpoints cancels
//! within an evaluation.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use medvlm::store::Project;

use super::common::{bin, sample_copy, tempdir, train_with};

const CONFIG: &str = "preset = \"tiny-demo\"\nsteps = 6\nprompts_per_step = 2\nnum_generations = 2\nmax_completion_length = 24\nsave_steps = 2\n";

#[test]
fn killed_run_resumes_without_gaps_or_duplicates() {
    let dir = tempdir();
    let project = sample_copy(dir.path());
    let cfg = dir.path().join("run.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let mut child = bin()
        .args(["--backend", "cpu", "train", "--project"])
        .arg(&project)
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let t0 = Instant::now();
    // Wait until step 3 is logged (a checkpoint exists at step 2), then kill without warning.
    while let Some(Ok(line)) = lines.next() {
        if line.starts_with("step    3") || t0.elapsed() > Duration::from_secs(240) {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let p = Project::open(&project).unwrap();
    let run = p.runs().unwrap()[0].clone();
    assert!(run.last_step.unwrap_or(0) >= 3, "{run:?}");
    drop(p);
    let out = bin()
        .args(["--backend", "cpu", "train", "--project"])
        .arg(&project)
        .args(["--resume", &run.id.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let p = Project::open(&project).unwrap();
    let steps: Vec<i64> = p.run_steps(run.id).unwrap().iter().map(|s| s.step).collect();
    assert_eq!(steps, vec![1, 2, 3, 4, 5, 6], "steps after resume");
    let metrics = p.run_metrics(run.id).unwrap();
    for name in [
        "reward",
        "reward_std",
        "rewards/accuracy/mean",
        "rewards/format/mean",
        "loss",
        "completions/mean_length",
        "completions/clipped_ratio",
        "frac_reward_zero_std",
        "entropy",
        "grad_norm",
        "learning_rate",
        "step_time",
    ] {
        let s: Vec<i64> =
            metrics.get(name).unwrap_or_else(|| panic!("metric {name} missing")).iter().map(|x| x.0).collect();
        assert_eq!(s, steps, "{name}");
    }
    assert_eq!(p.runs().unwrap()[0].status, medvlm::store::RunStatus::Finished);
    assert!(p.latest_checkpoint(run.id).unwrap().unwrap().step == 6);
    // Exports.
    let ts = dir.path().join("trainer_state.json");
    let out = bin()
        .args(["runs", "export", "--project"])
        .arg(&project)
        .args(["--run", "latest", "--format", "trainer-state", "--out"])
        .arg(&ts)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&ts).unwrap()).unwrap();
    let hist = v["log_history"].as_array().unwrap();
    assert_eq!(hist.len(), 6);
    assert_eq!(hist[0]["step"], 1);
    assert!(hist[5]["reward"].is_number() && hist[5]["rewards/format/mean"].is_number());
    let csv_path = dir.path().join("m.csv");
    let out = bin()
        .args(["runs", "export", "--project"])
        .arg(&project)
        .args(["--format", "csv", "--out"])
        .arg(&csv_path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&csv_path).unwrap();
    assert_eq!(text.lines().count(), 7);
    assert!(text.lines().next().unwrap().starts_with("step,wall_time,samples_seen,tokens_seen"));
}

#[test]
fn bad_configs_are_rejected_with_the_field_named() {
    let dir = tempdir();
    let project = sample_copy(dir.path());
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "preset = \"tiny-demo\"\nnum_generations = 1\n").unwrap();
    let out = bin().args(["train", "--project"]).arg(&project).arg("--config").arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("num_generations") && err.contains("bad.toml"), "{err}");
}

/// The training thread is supervised like every job: a panic in it ends the run as failed with
/// the panic's message, and a new run can start at once.
#[test]
fn a_panicking_training_thread_marks_the_run_failed_and_another_can_start() {
    use std::sync::Arc;

    use medvlm::app::training::TrainingState;
    use medvlm::model::device::BackendChoice;
    use medvlm::train::grpo::runner::{RunControl, RunError, RunEvent, RunSpec};

    fn boom(_: &RunSpec, _: &Arc<RunControl>, sink: &dyn Fn(RunEvent)) -> Result<i64, RunError> {
        sink(RunEvent::Started { run: 7, first_step: 0, steps: 3, device: "test".into() });
        panic!("injected trainer failure");
    }
    fn fine(_: &RunSpec, _: &Arc<RunControl>, sink: &dyn Fn(RunEvent)) -> Result<i64, RunError> {
        sink(RunEvent::Started { run: 8, first_step: 0, steps: 3, device: "test".into() });
        sink(RunEvent::Ended { status: medvlm::store::RunStatus::Finished, message: None });
        Ok(8)
    }
    let poll_until_idle = |t: &mut TrainingState| {
        let t0 = Instant::now();
        let mut notes = Vec::new();
        while t.active.is_some() {
            assert!(t0.elapsed() < Duration::from_secs(20), "the run never ended");
            notes.extend(t.poll());
            std::thread::sleep(Duration::from_millis(10));
        }
        notes
    };
    let dir = tempdir();
    let project = dir.path().join("p.medvlm");
    let mut t = TrainingState::default();
    t.start_with(project.clone(), None, BackendChoice::Cpu, medvlm::jobs::no_waker(), boom).unwrap();
    let notes = poll_until_idle(&mut t);
    assert!(
        notes.iter().any(|(err, m)| *err && m.contains("failed") && m.contains("injected trainer failure")),
        "{notes:?}"
    );
    assert_eq!(t.runs[&7].status, medvlm::store::RunStatus::Failed);
    t.start_with(project, None, BackendChoice::Cpu, medvlm::jobs::no_waker(), fine).unwrap();
    let notes = poll_until_idle(&mut t);
    assert!(notes.iter().any(|(err, m)| !*err && m.contains("finished")), "{notes:?}");
}

/// Dynamic sampling drops all-equal groups and rolls out more prompts (logging how many), and a
/// config's custom rewards are logged under `rewards/<name>/mean`, in one short run.
#[test]
fn dynamic_sampling_and_custom_rewards_are_logged_per_step() {
    let dir = tempdir();
    let project = sample_copy(dir.path());
    let out = train_with(
        &project,
        &dir.path().join("ds.toml"),
        "preset = \"tiny-demo\"\nsteps = 2\nprompts_per_step = 2\nnum_generations = 4\nmax_completion_length = 48\nsave_steps = 0\n\
         dynamic_sampling = true\nmax_sampling_rounds = 3\n\n[[custom_rewards]]\nname = \"says_mri\"\nkind = \"keyword\"\n\
         on = \"think\"\nwords = [\"mri\"]\nweight = 0.1\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let p = Project::open(&project).unwrap();
    let run = p.runs().unwrap()[0].id;
    let m = p.run_metrics(run).unwrap();
    let rounds = &m["dynamic_sampling/rounds"];
    assert_eq!(rounds.len(), 2, "one value per step");
    for (step, r) in rounds {
        assert!((1.0..=3.0).contains(r), "step {step}: {r} rounds");
        let dropped = m["dynamic_sampling/dropped_groups"].iter().find(|(s, _)| s == step).unwrap().1;
        let topped = m["dynamic_sampling/topped_up"].iter().find(|(s, _)| s == step).unwrap().1;
        let zero_std = m["frac_reward_zero_std"].iter().find(|(s, _)| s == step).unwrap().1;
        assert!(topped <= dropped, "only dropped groups fill the batch");
        assert!(
            (zero_std * 2.0 - topped).abs() < 1e-9,
            "the final batch's all-equal groups are the top-up: {zero_std} vs {topped}"
        );
        assert!(*r > 1.0 || dropped == 0.0 || topped > 0.0, "a drop in round 1 means another round or a top-up");
    }
    assert_eq!(m["rewards/says_mri/mean"].len(), 2);
}

/// Comparing a run's checkpoints stops at a cancel within a checkpoint's evaluation (after the
/// batch under way), not only between checkpoints, and scores nothing evaluated in part.
#[test]
fn a_checkpoint_comparison_cancels_within_an_evaluation() {
    use std::sync::atomic::{AtomicBool, Ordering};
    struct CancelAfterFirstBatch(AtomicBool, std::sync::Mutex<Vec<String>>);
    impl medvlm::jobs::ProgressSink for CancelAfterFirstBatch {
        fn update(&self, stage: &str, _: u64, _: Option<u64>) {
            if stage.contains(" items") {
                self.0.store(true, Ordering::SeqCst);
            }
            self.1.lock().unwrap().push(stage.to_string());
        }
        fn is_cancelled(&self) -> bool {
            self.0.load(Ordering::SeqCst)
        }
    }
    let dir = tempdir();
    let project = sample_copy(dir.path());
    let toml = "preset = \"tiny-demo\"\nsteps = 1\nprompts_per_step = 1\nnum_generations = 2\nmax_completion_length = 8\nsave_steps = 1\n";
    let out = train_with(&project, &dir.path().join("short.toml"), toml);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run = Project::open(&project).unwrap().runs().unwrap()[0].id;
    let sink = CancelAfterFirstBatch(AtomicBool::new(false), Default::default());
    let scores =
        medvlm::train::compare::compare_checkpoints(&project, run, medvlm::domain::Split::Test, &sink).unwrap();
    assert!(scores.is_empty(), "the base, evaluated in part, is not scored: {scores:?}");
    let stages = sink.1.lock().unwrap().clone();
    assert!(stages.iter().any(|s| s.starts_with("evaluating base: ") && s.ends_with(" items")), "{stages:?}");
    assert!(!stages.iter().any(|s| s.contains("step 1")), "stopped before the checkpoint: {stages:?}");
    let runs = Project::open(&project).unwrap().runs().unwrap();
    assert_eq!(runs.len(), 1, "no evaluation run recorded");
}
