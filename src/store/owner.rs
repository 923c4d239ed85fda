//! Who is working on a run: the owner process (pid and host) and a heartbeat, so that a run is
//! trained by one process at a time, and a run whose owner was killed reads as interrupted and can
//! be resumed. A live owner beats at least every [`BEAT_SECONDS`]; one silent for [`STALE_SECONDS`]
//! (or whose process is gone, on this host) is gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::{OptionalExtension as _, TransactionBehavior, params};

use super::{Project, Result, RunStatus, StoreError};

/// Seconds between heartbeats of a live owner.
pub const BEAT_SECONDS: u64 = 10;
/// Seconds of silence after which an owner is taken to be gone.
pub const STALE_SECONDS: f64 = 60.0;

/// This process as a run owner: `(pid, host name)`.
pub fn this_process() -> (u32, String) {
    (std::process::id(), host_name())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

fn process_exists(pid: u32) -> Option<bool> {
    cfg!(target_os = "linux").then(|| std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// True when the owner still works on the run: it beat recently and, on this host, its process exists.
pub fn alive(owner: Option<&(u32, String)>, heartbeat: Option<f64>) -> bool {
    let Some((pid, host)) = owner else { return false };
    let recent = heartbeat.is_some_and(|t| crate::util::unix_seconds() - t < STALE_SECONDS);
    if *host == host_name() {
        if *pid == std::process::id() {
            return true;
        }
        return recent && process_exists(*pid).unwrap_or(true);
    }
    recent
}

impl Project {
    /// Makes this process the owner of `run` (to resume it), refusing when another live process
    /// owns it. Atomic: two processes claiming at once cannot both succeed.
    ///
    /// # Errors
    /// [`StoreError::RunBusy`] with the owner; SQLite errors.
    pub fn claim_run(&mut self, run: i64) -> Result<()> {
        let (pid, host) = this_process();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        type Owned = (RunStatus, Option<i64>, Option<String>, Option<f64>);
        let row: Option<Owned> = tx
            .query_row("SELECT status, owner_pid, owner_host, heartbeat_at FROM runs WHERE id = ?1", [run], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let Some((status, opid, ohost, beat)) = row else {
            return Err(StoreError::Invalid(format!("no run {run} in this project")));
        };
        let owner = match (opid, ohost) {
            (Some(p), Some(h)) => Some((p as u32, h)),
            _ => None,
        };
        if matches!(status, RunStatus::Running | RunStatus::Paused)
            && owner.as_ref().is_some_and(|o| o.0 != pid || o.1 != host)
            && alive(owner.as_ref(), beat)
        {
            let (opid, ohost) = owner.unwrap_or_default();
            let ago = beat.map_or(0.0, |b| crate::util::unix_seconds() - b);
            return Err(StoreError::RunBusy { run, pid: opid, host: ohost, seconds_ago: ago.max(0.0) });
        }
        tx.execute(
            "UPDATE runs SET status = 'running', ended_at = NULL, owner_pid = ?2, owner_host = ?3, heartbeat_at = ?4 WHERE id = ?1",
            params![run, pid, host, crate::util::unix_seconds()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records that this process still works on `run`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn beat(&self, run: i64) -> Result<()> {
        self.conn
            .execute("UPDATE runs SET heartbeat_at = ?2 WHERE id = ?1", params![run, crate::util::unix_seconds()])?;
        Ok(())
    }
}

/// Beats for a run on its own thread (a step or the kernel preparation can take longer than the
/// stale limit) until dropped.
pub struct Heartbeat {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    /// Starts beating for `run` in the project at `path` (its own connection).
    pub fn start(path: &std::path::Path, run: i64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name(format!("run-{run}-heartbeat"))
            .spawn(move || {
                let Ok(project) = Project::open(&path) else { return };
                let tick = Duration::from_millis(200);
                let mut waited = Duration::ZERO;
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    waited += tick;
                    if waited >= Duration::from_secs(BEAT_SECONDS) {
                        waited = Duration::ZERO;
                        if let Err(e) = project.beat(run) {
                            tracing::warn!("run {run}: heartbeat not recorded: {e}");
                        }
                    }
                }
            })
            .ok();
        Self { stop, thread }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
