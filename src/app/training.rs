//! The Training workspace's state: the config form, the live run (its thread, control flags and
//! event channel), and every run's metric series for the curves. Runs go on a supervised named
//! thread: a panic there ends the run as failed with its message, and a thread that vanishes without
//! a last word (its channel disconnected) is noticed too, so a new run can always start. Events come
//! back over a bounded channel with `try_send` (the trainer never waits for the UI; a dropped step is
//! reloaded from the project, where every step is stored).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError, TrySendError, sync_channel};
use std::time::Instant;

use crate::jobs::Waker;
use crate::metrics::{RunSeries, XAxis};
use crate::model::device::BackendChoice;
use crate::store::{RolloutRow, RunStatus};
use crate::train::grpo::config::GrpoConfig;
use crate::train::grpo::runner::{RunControl, RunError, RunEvent, RunSpec, run};
use crate::train::grpo::warmup::Prepared;

/// The training loop a run executes ([`crate::train::grpo::runner::run`]; tests inject others).
pub type Trainer = fn(&RunSpec, &Arc<RunControl>, &dyn Fn(RunEvent)) -> Result<i64, RunError>;

/// A run being trained right now.
pub struct ActiveRun {
    /// Run id, once the run started.
    pub run: Option<i64>,
    /// Pause / stop flags.
    pub control: Arc<RunControl>,
    /// Events from the trainer.
    pub rx: Receiver<RunEvent>,
    /// Steps in all.
    pub steps: usize,
    /// First step of this session (after a resume).
    pub first_step: usize,
    /// Last step received.
    pub last_step: usize,
    /// When this session started.
    pub started: Instant,
    /// Device description.
    pub device: String,
    /// GPU kernel preparation in progress: (shapes done, shapes in all).
    pub preparing: Option<(usize, usize)>,
    /// GPU kernel preparation, once done.
    pub prepared: Option<Prepared>,
    /// The run's memory plan and the memory it may use.
    pub plan: Option<(crate::train::memory::MemoryPlan, Option<u64>)>,
}

/// What the curves show.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CurveSettings {
    /// EMA weight in [0, 0.99].
    pub smoothing: f32,
    /// x axis.
    pub x_axis: XAxis,
    /// Plot log10(y).
    pub log_y: bool,
    /// Series hidden by a click on their legend entry (legend names, `#3 reward`).
    pub hidden: BTreeSet<String>,
}

impl Default for CurveSettings {
    fn default() -> Self {
        Self { smoothing: 0.6, x_axis: XAxis::Step, log_y: false, hidden: BTreeSet::new() }
    }
}

/// The charts to draw: [`CHARTS`], with a "Custom rewards" chart after the reward chart when a
/// run logged rewards of its own (`rewards/<name>/mean` of a config's `[[custom_rewards]]`).
pub fn charts(t: &TrainingState) -> Vec<(&'static str, Vec<String>)> {
    let mut out: Vec<(&'static str, Vec<String>)> =
        CHARTS.iter().map(|(title, m)| (*title, m.iter().map(|x| (*x).to_string()).collect())).collect();
    let builtin = &CHARTS[0].1;
    let custom: BTreeSet<String> = t
        .visible
        .iter()
        .filter_map(|id| t.runs.get(id))
        .flat_map(|r| r.metrics.keys())
        .filter(|k| k.starts_with("rewards/") && k.ends_with("/mean") && !builtin.contains(&k.as_str()))
        .cloned()
        .collect();
    if !custom.is_empty() {
        out.insert(1, ("Custom rewards", custom.into_iter().collect()));
    }
    out
}

/// Training workspace state.
#[derive(Default)]
pub struct TrainingState {
    /// The form.
    pub form: GrpoConfig,
    /// The run whose checkpoints the checkpoint table shows and evaluates (`None`: the newest).
    pub checkpoint_run: Option<i64>,
    /// Validation message of the form, if invalid.
    pub form_error: Option<String>,
    /// The live run.
    pub active: Option<ActiveRun>,
    /// Metric series per run id.
    pub runs: BTreeMap<i64, RunSeries>,
    /// Runs drawn.
    pub visible: BTreeSet<i64>,
    /// Baseline run (dashed).
    pub baseline: Option<i64>,
    /// Curve display settings.
    pub curves: CurveSettings,
    /// Latest rollouts `(run, step, item uid, rollout)`, newest first.
    pub rollouts: Vec<(i64, usize, String, RolloutRow)>,
    /// Steps the UI missed (channel full): reload the run from the project.
    pub needs_reload: bool,
    /// Backend for the next run.
    pub backend: BackendChoice,
    /// GPU autotune level chosen (saved; takes effect at the next start).
    pub autotune: crate::model::gpu::AutotuneLevel,
    /// GPU autotune level of this process.
    pub autotune_in_force: crate::model::gpu::AutotuneLevel,
    /// The form's memory plan.
    pub plan: super::plan::FormPlan,
}

/// Rollouts kept for the list.
const MAX_ROLLOUTS: usize = 200;

impl TrainingState {
    /// Fills the form from a TOML run config.
    ///
    /// # Errors
    /// The file, field and line that are wrong.
    pub fn load_config(&mut self, path: &std::path::Path) -> Result<String, String> {
        self.form = GrpoConfig::from_file(path)?;
        Ok(format!("Training form filled from {}", path.display()))
    }

    /// Fills the form with run `id`'s settings.
    ///
    /// # Errors
    /// A run unknown, or its stored config unreadable by this version.
    pub fn use_run(&mut self, id: i64) -> Result<String, String> {
        let run = self.runs.get(&id).ok_or_else(|| format!("no run {id}"))?;
        self.form = serde_json::from_str(&run.config_json).map_err(|e| format!("run {id}'s settings: {e}"))?;
        Ok(format!("Training form filled with the settings of run #{id} {}", run.name))
    }

    /// Starts (or resumes) a run on a named thread.
    ///
    /// # Errors
    /// A message when the form is invalid or the thread cannot start.
    pub fn start(
        &mut self,
        project: PathBuf,
        resume: Option<i64>,
        backend: BackendChoice,
        waker: Waker,
    ) -> Result<(), String> {
        self.start_with(project, resume, backend, waker, run)
    }

    /// [`TrainingState::start`] with the training loop given (tests pass one that fails or panics).
    ///
    /// # Errors
    /// As [`TrainingState::start`].
    pub fn start_with(
        &mut self,
        project: PathBuf,
        resume: Option<i64>,
        backend: BackendChoice,
        waker: Waker,
        trainer: Trainer,
    ) -> Result<(), String> {
        if self.active.is_some() {
            return Err("a run is already in progress".into());
        }
        self.form.validate().map_err(|e| e.to_string())?;
        let (tx, rx) = sync_channel::<RunEvent>(512);
        let control = Arc::new(RunControl::default());
        let spec = RunSpec {
            project,
            config: self.form.clone(),
            resume,
            backend,
            name: format!("{} {}", self.form.preset, crate::util::now_rfc3339()),
        };
        let thread_control = control.clone();
        std::thread::Builder::new()
            .name("grpo-run".into())
            .spawn(move || {
                let sink = |e: RunEvent| {
                    let terminal = matches!(e, RunEvent::Ended { .. } | RunEvent::Started { .. });
                    match tx.try_send(e) {
                        Ok(()) => {}
                        Err(TrySendError::Full(e)) if terminal => {
                            let _ = tx.send(e);
                        }
                        Err(_) => {}
                    }
                    waker();
                };
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| trainer(&spec, &thread_control, &sink)));
                match outcome {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!("run ended with an error: {e}"),
                    Err(p) => {
                        let msg = crate::jobs::panic_text(p.as_ref());
                        tracing::error!("the training thread panicked: {msg}");
                        sink(RunEvent::Ended { status: RunStatus::Failed, message: Some(format!("panicked: {msg}")) });
                    }
                }
            })
            .map_err(|e| format!("cannot start the training thread: {e}"))?;
        self.active = Some(ActiveRun {
            run: resume,
            control,
            rx,
            steps: self.form.steps,
            first_step: 0,
            last_step: 0,
            started: Instant::now(),
            device: String::new(),
            preparing: None,
            prepared: None,
            plan: None,
        });
        Ok(())
    }

    /// Applies trainer events; returns messages for toasts `(is_error, text)`.
    pub fn poll(&mut self) -> Vec<(bool, String)> {
        let mut notes = Vec::new();
        let Some(active) = &mut self.active else { return notes };
        let mut ended = false;
        loop {
            let e = match active.rx.try_recv() {
                Ok(e) => e,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    // The thread is gone without its last word: the run did not end cleanly.
                    if let Some(r) = active.run.and_then(|r| self.runs.get_mut(&r)) {
                        r.status = RunStatus::Failed;
                    }
                    notes.push((true, "Run failed: the training thread stopped unexpectedly".into()));
                    ended = true;
                    break;
                }
            };
            match e {
                RunEvent::Preparing { done, total } => active.preparing = Some((done, total)),
                RunEvent::Planned { plan, limit } => active.plan = Some((plan, limit)),
                RunEvent::Prepared(p) => {
                    active.preparing = None;
                    active.prepared = Some(p);
                    active.started = Instant::now();
                }
                RunEvent::Started { run, first_step, steps, device } => {
                    active.run = Some(run);
                    active.first_step = first_step;
                    active.last_step = first_step;
                    active.steps = steps;
                    active.device = device.clone();
                    active.started = Instant::now();
                    let series = self.runs.entry(run).or_default();
                    series.status = RunStatus::Running;
                    if series.name.is_empty() {
                        series.name = format!("run {run}");
                    }
                    series.steps.retain(|s| (s.step as usize) <= first_step);
                    for v in series.metrics.values_mut() {
                        v.retain(|(s, _)| (*s as usize) <= first_step);
                    }
                    self.visible.insert(run);
                    notes.push((false, format!("Run {run} started on {device}")));
                }
                RunEvent::Step { run, step, metrics, info, rollouts } => {
                    if step > active.last_step + 1 {
                        self.needs_reload = true;
                    }
                    active.last_step = step;
                    self.runs.entry(run).or_default().push(info, &metrics);
                    for (uid, r) in rollouts.into_iter().rev() {
                        self.rollouts.insert(0, (run, step, uid, r));
                    }
                    self.rollouts.truncate(MAX_ROLLOUTS);
                }
                RunEvent::Checkpoint { step, .. } => tracing::info!(step, "checkpoint written"),
                RunEvent::Warning(text) => notes.push((true, text)),
                RunEvent::Ended { status, message } => {
                    if let Some(r) = active.run.and_then(|r| self.runs.get_mut(&r)) {
                        r.status = status;
                        r.message.clone_from(&message);
                    }
                    let failed = status == RunStatus::Failed;
                    notes.push((
                        failed,
                        format!("Run {status}{}", message.map(|m| format!(": {m}")).unwrap_or_default()),
                    ));
                    ended = true;
                }
            }
        }
        if ended {
            self.active = None;
        }
        notes
    }

    /// Seconds left, from the rate of this session's steps.
    pub fn eta_seconds(&self) -> Option<f64> {
        let a = self.active.as_ref()?;
        let done = a.last_step.saturating_sub(a.first_step);
        (done > 0).then(|| a.started.elapsed().as_secs_f64() / done as f64 * a.steps.saturating_sub(a.last_step) as f64)
    }
}

/// Resident memory of this process in bytes (Linux), for the status line.
pub fn resident_memory() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
/// Charts: title and the metrics drawn in it (names from [`crate::train::grpo::metrics::names`]).
pub const CHARTS: &[(&str, &[&str])] = {
    use crate::train::grpo::metrics::names::*;
    &[
        (
            "Reward",
            &[
                REWARD,
                "rewards/accuracy/mean",
                "rewards/format/mean",
                "rewards/medvlthinker_accuracy/mean",
                "rewards/open_match/mean",
            ],
        ),
        ("Reward std / zero-std groups", &[REWARD_STD, FRAC_ZERO_STD]),
        ("KL", &[KL]),
        ("Completion length (tokens)", &[MEAN_LENGTH]),
        ("Clipped completions (fraction)", &[CLIPPED_RATIO]),
        ("Entropy", &[ENTROPY]),
        ("Grad norm", &[GRAD_NORM]),
        ("Learning rate", &[LEARNING_RATE]),
        ("Step time (s)", &[STEP_TIME, TIME_GENERATE, TIME_BACKWARD]),
        ("Dynamic sampling (groups dropped, rounds)", &[DYNAMIC_DROPPED, DYNAMIC_ROUNDS]),
    ]
};

/// The series currently drawn, for CSV export: `(run name, metric, points)`.
pub fn shown_series(t: &TrainingState) -> Vec<(String, String, Vec<[f64; 2]>)> {
    let mut out = Vec::new();
    for id in &t.visible {
        let Some(run) = t.runs.get(id) else { continue };
        for (_, metrics) in charts(t) {
            for m in metrics {
                let pts = run.points(&m, t.curves.x_axis);
                if !pts.is_empty() {
                    out.push((run.name.clone(), m, pts));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_loads_a_config_file_or_a_runs_settings_and_names_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.toml");
        std::fs::write(
            &path,
            "preset = \"tiny-demo\"\n[[custom_rewards]]\nname = \"sides\"\nkind = \"keyword\"\nwords = [\"left\"]\n",
        )
        .unwrap();
        let mut t = TrainingState::default();
        assert!(t.load_config(&path).is_ok());
        assert_eq!(t.form.custom_rewards[0].name, "sides");
        std::fs::write(&path, "steps = 3\nnum_generations = 1\n").unwrap();
        let e = t.load_config(&path).unwrap_err();
        assert!(e.contains("num_generations") && e.contains("line 2") && e.contains("run.toml"), "{e}");
        assert_eq!(t.form.custom_rewards.len(), 1, "a bad file leaves the form as it was");
        let cfg = GrpoConfig { steps: 77, ..GrpoConfig::default() };
        let config_json = serde_json::to_string(&cfg).unwrap();
        t.runs.insert(5, RunSeries { name: "old".into(), config_json, ..Default::default() });
        assert!(t.use_run(5).unwrap().contains("#5 old"));
        assert_eq!(t.form, cfg);
        assert!(t.use_run(6).is_err());
    }
}
