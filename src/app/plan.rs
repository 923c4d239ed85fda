//! The Training form's pre-flight check and memory plan, computed off the UI thread whenever the
//! form or the backend changes (reading the tokenizer, configuration and items, never the weights
//! or an image), so what would refuse a run, and the memory available, sit next to the settings
//! before it starts.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};

use crate::jobs::Waker;
use crate::model::device::{BackendChoice, choose};
use crate::train::grpo::config::GrpoConfig;
use crate::train::memory::MemoryPlan;

/// The pre-flight check, and the memory plan with the memory the run may use.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The pre-flight check of the form's items.
    pub preflight: crate::train::grpo::preflight::Preflight,
    /// The plan.
    pub plan: MemoryPlan,
    /// Bytes available (`None`: the GPU does not report its size).
    pub limit: Option<u64>,
    /// What the plan needs on that device (with the process overhead on the CPU).
    pub needed: u64,
}

/// The form's plan and the request in flight.
#[derive(Default)]
pub struct FormPlan {
    /// The form and backend the shown result is for.
    key: Option<(String, BackendChoice, PathBuf)>,
    /// The last result.
    pub result: Option<Result<Planned, String>>,
    rx: Option<Receiver<Result<Planned, String>>>,
}

impl FormPlan {
    /// Starts a new plan when the form, backend or project changed and none is in flight; takes
    /// a finished one.
    pub fn refresh(&mut self, project: &Path, form: &GrpoConfig, backend: BackendChoice, waker: &Waker) {
        if let Some(rx) = &self.rx {
            match rx.try_recv() {
                Ok(r) => {
                    self.result = Some(r);
                    self.rx = None;
                }
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => self.rx = None,
            }
        }
        let key = (form.to_toml(), backend, project.to_path_buf());
        if self.key.as_ref() == Some(&key) || form.validate().is_err() {
            return;
        }
        self.key = Some(key);
        let (tx, rx) = sync_channel(1);
        let (cfg, project, waker) = (form.clone(), project.to_path_buf(), waker.clone());
        let spawned = std::thread::Builder::new().name("memory-plan".into()).spawn(move || {
            let r = std::panic::catch_unwind(|| compute(&project, &cfg, backend))
                .unwrap_or_else(|p| Err(crate::jobs::panic_text(p.as_ref())));
            let _ = tx.send(r);
            waker();
        });
        if spawned.is_ok() {
            self.rx = Some(rx);
        }
    }

    /// The pre-flight check's reason and fixes when the shown result, made for `form`, refuses the
    /// run (`None` while the check for this form is still running).
    pub fn blocked(&self, form: &GrpoConfig) -> Option<(String, Vec<crate::train::grpo::preflight::Fix>)> {
        if self.key.as_ref().map(|k| &k.0) != Some(&form.to_toml()) || self.rx.is_some() {
            return None;
        }
        let p = &self.result.as_ref()?.as_ref().ok()?.preflight;
        p.blocker().map(|why| (why, p.fixes()))
    }

    /// True while a plan is being made.
    pub fn is_pending(&self) -> bool {
        self.rx.is_some()
    }
}

fn compute(project: &Path, cfg: &GrpoConfig, backend: BackendChoice) -> Result<Planned, String> {
    use crate::train::grpo::planning;
    let gpu = backend != BackendChoice::Cpu && choose(backend).is_ok_and(|c| c.gpu);
    let p = crate::store::Project::open(project).map_err(|e| e.to_string())?;
    let (preflight, plan) = planning::dry_run(&p, cfg, gpu).map_err(|e| e.to_string())?;
    Ok(Planned { preflight, plan, limit: planning::limit(cfg, gpu), needed: planning::needed(&plan, gpu) })
}
