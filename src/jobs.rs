//! Background jobs: long work (import, export, loading a project, training) runs on named threads;
//! progress flows back through a bounded channel and an injected waker asks the UI to repaint, so
//! this module never imports egui. One job per name at a time (rerun's `BackgroundTasks` rule).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Called by workers after sending something, to wake the UI (e.g. `ctx.request_repaint_after(10ms)`).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// A waker that does nothing (CLI, tests).
pub fn no_waker() -> Waker {
    Arc::new(|| {})
}

/// Receives progress from long operations; implemented by job contexts, CLI progress bars and tests.
pub trait ProgressSink: Sync {
    /// Reports the current stage and how far it is. `total = None` means unknown.
    fn update(&self, stage: &str, done: u64, total: Option<u64>);
    /// True when the user asked to stop; long loops check it between units of work.
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// A sink that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn update(&self, _stage: &str, _done: u64, _total: Option<u64>) {}
}

/// The latest progress of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// What the job is doing now.
    pub stage: String,
    /// Units done.
    pub done: u64,
    /// Units in all, if known.
    pub total: Option<u64>,
}

impl Progress {
    /// Fraction done in `[0, 1]`, if the total is known.
    pub fn fraction(&self) -> Option<f32> {
        self.total.filter(|&t| t > 0).map(|t| (self.done as f32 / t as f32).clamp(0.0, 1.0))
    }
}

/// Estimated time left from the rate so far.
pub fn eta(elapsed: Duration, done: u64, total: u64) -> Option<Duration> {
    (done > 0 && total >= done).then(|| elapsed.mul_f64((total - done) as f64 / done as f64))
}

/// Job id, unique within one [`Jobs`].
pub type JobId = u64;

enum Msg {
    Progress(JobId, Progress),
    Done(JobId),
}

/// Handed to a job's closure: report progress, check for cancellation.
pub struct JobCtx {
    id: JobId,
    tx: SyncSender<Msg>,
    cancel: Arc<AtomicBool>,
    waker: Waker,
    last_sent_ms: AtomicU64,
    started: Instant,
}

impl ProgressSink for JobCtx {
    fn update(&self, stage: &str, done: u64, total: Option<u64>) {
        // At most ~30 updates per second reach the UI; the last one of a stage always does.
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.last_sent_ms.load(Ordering::Relaxed);
        let finished = total.is_some_and(|t| done >= t);
        if !finished && done > 0 && now.saturating_sub(last) < 33 {
            return;
        }
        self.last_sent_ms.store(now, Ordering::Relaxed);
        let msg = Msg::Progress(self.id, Progress { stage: stage.to_string(), done, total });
        // Bounded: if the UI is behind, drop this update rather than wait (a newer one will follow).
        match self.tx.try_send(msg) {
            Ok(()) | Err(TrySendError::Full(_)) => (self.waker)(),
            Err(TrySendError::Disconnected(_)) => self.cancel.store(true, Ordering::Relaxed),
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// Why a job could not start.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A job with this name is still running.
    #[error("`{0}` is already running")]
    AlreadyRunning(String),
    /// The OS refused to create a thread.
    #[error("cannot start thread for `{name}`: {source}")]
    Spawn {
        /// Job name.
        name: String,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A running job as the status bar shows it.
#[derive(Debug, Clone)]
pub struct JobStatus {
    /// Job name (also the thread name).
    pub name: String,
    /// Latest progress, if any was reported.
    pub progress: Option<Progress>,
    /// When it started.
    pub started: Instant,
}

struct Running<T> {
    id: JobId,
    /// The write queue it belongs to ([`Jobs::spawn_queued`]).
    queue: Option<String>,
    status: JobStatus,
    cancel: Arc<AtomicBool>,
    result: Arc<Mutex<Option<Result<T, String>>>>,
}

/// A finished job.
#[derive(Debug)]
pub struct Finished<T> {
    /// Job name.
    pub name: String,
    /// The closure's value, or the panic message if it panicked.
    pub result: Result<T, String>,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Work waiting for its queue: `(queue, name, work)`.
type Pending<T> = (String, String, Box<dyn FnOnce(&JobCtx) -> T + Send>);

/// The set of background jobs owned by the app. `T` is the app's job-result type.
pub struct Jobs<T> {
    waker: Waker,
    tx: SyncSender<Msg>,
    rx: Receiver<Msg>,
    running: Vec<Running<T>>,
    pending: std::collections::VecDeque<Pending<T>>,
    next_id: JobId,
}

impl<T: Send + 'static> Jobs<T> {
    /// An empty job set whose workers call `waker` after each message.
    pub fn new(waker: Waker) -> Self {
        let (tx, rx) = sync_channel(256);
        Self { waker, tx, rx, running: Vec::new(), pending: std::collections::VecDeque::new(), next_id: 1 }
    }

    /// Starts `work` now, or when the jobs of `queue` before it have finished: writes that must all
    /// land, in the order they were asked for (a verdict and the next one, an edit and its undo).
    ///
    /// # Errors
    /// [`JobError::Spawn`] when it starts at once and the OS refuses the thread.
    pub fn spawn_queued(
        &mut self,
        queue: &str,
        name: &str,
        work: impl FnOnce(&JobCtx) -> T + Send + 'static,
    ) -> Result<(), JobError> {
        let busy = self.running.iter().any(|r| r.queue.as_deref() == Some(queue))
            || self.pending.iter().any(|(q, _, _)| q == queue);
        if busy {
            self.pending.push_back((queue.to_string(), name.to_string(), Box::new(work)));
            return Ok(());
        }
        self.start(Some(queue), name, work).map(|_| ())
    }

    /// Starts `work` on a thread named `name`. Refuses a second job with the same name.
    ///
    /// # Errors
    /// [`JobError::AlreadyRunning`] or [`JobError::Spawn`].
    pub fn spawn(&mut self, name: &str, work: impl FnOnce(&JobCtx) -> T + Send + 'static) -> Result<JobId, JobError> {
        if self.is_running(name) {
            return Err(JobError::AlreadyRunning(name.to_string()));
        }
        self.start(None, name, work)
    }

    fn start(
        &mut self,
        queue: Option<&str>,
        name: &str,
        work: impl FnOnce(&JobCtx) -> T + Send + 'static,
    ) -> Result<JobId, JobError> {
        let id = self.next_id;
        self.next_id += 1;
        let cancel = Arc::new(AtomicBool::new(false));
        let result: Arc<Mutex<Option<Result<T, String>>>> = Arc::new(Mutex::new(None));
        let ctx = JobCtx {
            id,
            tx: self.tx.clone(),
            cancel: cancel.clone(),
            waker: self.waker.clone(),
            last_sent_ms: AtomicU64::new(0),
            started: Instant::now(),
        };
        let slot = result.clone();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let out = std::panic::catch_unwind(AssertUnwindSafe(|| work(&ctx))).map_err(|p| panic_message(&*p));
                if let Ok(mut s) = slot.lock() {
                    *s = Some(out);
                }
                // Blocking send: the completion notice must not be dropped. Fails only if the app is gone.
                let _ = ctx.tx.send(Msg::Done(id));
                (ctx.waker)();
            })
            .map_err(|source| JobError::Spawn { name: name.to_string(), source })?;
        self.running.push(Running {
            id,
            queue: queue.map(str::to_string),
            status: JobStatus { name: name.to_string(), progress: None, started: Instant::now() },
            cancel,
            result,
        });
        Ok(id)
    }

    /// Drains messages: updates progress and returns the jobs that finished since the last call. Never blocks.
    pub fn poll(&mut self) -> Vec<Finished<T>> {
        let mut done_ids = Vec::new();
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Progress(id, p) => {
                    if let Some(r) = self.running.iter_mut().find(|r| r.id == id) {
                        r.status.progress = Some(p);
                    }
                }
                Msg::Done(id) => done_ids.push(id),
            }
        }
        let mut finished = Vec::new();
        for id in done_ids {
            if let Some(pos) = self.running.iter().position(|r| r.id == id) {
                let r = self.running.remove(pos);
                let result = r
                    .result
                    .lock()
                    .ok()
                    .and_then(|mut s| s.take())
                    .unwrap_or_else(|| Err("job ended without a result".into()));
                finished.push(Finished { name: r.status.name, result, elapsed: r.status.started.elapsed() });
                if let Some(q) = r.queue {
                    self.start_next(&q, &mut finished);
                }
            }
        }
        finished
    }

    /// Starts the next waiting job of `queue`; a thread the OS refuses is reported as finished
    /// with the error (and the one after it is tried).
    fn start_next(&mut self, queue: &str, finished: &mut Vec<Finished<T>>) {
        while let Some(pos) = self.pending.iter().position(|(q, _, _)| q == queue) {
            let Some((q, name, work)) = self.pending.remove(pos) else { return };
            match self.start(Some(&q), &name, work) {
                Ok(_) => return,
                Err(e) => finished.push(Finished { name, result: Err(e.to_string()), elapsed: Duration::ZERO }),
            }
        }
    }

    /// True while a job with this name runs.
    pub fn is_running(&self, name: &str) -> bool {
        self.running.iter().any(|r| r.status.name == name)
    }

    /// Asks the named job to stop at its next check.
    pub fn cancel(&self, name: &str) {
        for r in self.running.iter().filter(|r| r.status.name == name) {
            r.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// Running jobs, oldest first.
    pub fn statuses(&self) -> Vec<JobStatus> {
        self.running.iter().map(|r| r.status.clone()).collect()
    }

    /// Number of running jobs.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// True when nothing runs.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

/// The text of a caught panic (`&str` or `String` payloads).
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    format!("the job panicked: {}", panic_text(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait<T: Send + 'static>(jobs: &mut Jobs<T>) -> Vec<Finished<T>> {
        let t0 = Instant::now();
        loop {
            let f = jobs.poll();
            if !f.is_empty() || t0.elapsed() > Duration::from_secs(10) {
                return f;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn queued_writes_all_run_in_order_one_at_a_time() {
        let mut jobs: Jobs<usize> = Jobs::new(Arc::new(|| {}));
        let order = Arc::new(Mutex::new(Vec::new()));
        for k in 0..4 {
            let o = order.clone();
            jobs.spawn_queued("writes", "verdict", move |_| {
                std::thread::sleep(Duration::from_millis(20));
                if let Ok(mut v) = o.lock() {
                    v.push(k);
                }
                k
            })
            .unwrap();
            assert!(jobs.len() <= 1, "one write at a time");
        }
        let mut done = Vec::new();
        let t0 = Instant::now();
        while done.len() < 4 && t0.elapsed() < Duration::from_secs(10) {
            done.extend(jobs.poll().into_iter().map(|f| f.result.unwrap()));
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(done, [0, 1, 2, 3]);
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3]);
    }

    #[test]
    fn runs_on_a_named_thread_reports_progress_and_wakes() {
        let woken = Arc::new(AtomicU64::new(0));
        let w = woken.clone();
        let mut jobs: Jobs<String> = Jobs::new(Arc::new(move || {
            w.fetch_add(1, Ordering::Relaxed);
        }));
        jobs.spawn("import", |ctx| {
            ctx.update("step", 1, Some(2));
            std::thread::current().name().unwrap_or("").to_string()
        })
        .unwrap();
        assert!(jobs.spawn("import", |_| String::new()).is_err(), "same name refused while running");
        let f = wait(&mut jobs);
        assert_eq!(f[0].result.as_deref(), Ok("import"));
        assert!(woken.load(Ordering::Relaxed) >= 1);
        assert!(jobs.is_empty());
    }

    #[test]
    fn a_panic_becomes_an_error_and_cancel_is_seen() {
        let mut jobs: Jobs<u32> = Jobs::new(no_waker());
        jobs.spawn("boom", |_| panic!("bad input")).unwrap();
        let f = wait(&mut jobs);
        assert!(f[0].result.as_ref().unwrap_err().contains("bad input"));
        jobs.spawn("loop", |ctx| {
            let mut n = 0;
            while !ctx.is_cancelled() && n < 1_000_000 {
                std::thread::sleep(Duration::from_millis(1));
                n += 1;
            }
            n
        })
        .unwrap();
        jobs.cancel("loop");
        let f = wait(&mut jobs);
        assert!(*f[0].result.as_ref().unwrap() < 1_000_000);
    }

    #[test]
    fn eta_from_rate() {
        assert_eq!(eta(Duration::from_secs(10), 1, 3), Some(Duration::from_secs(20)));
        assert_eq!(eta(Duration::from_secs(10), 0, 3), None);
    }
}
