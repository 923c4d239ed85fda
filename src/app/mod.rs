//! The eframe application: owns the state, the background jobs and the preferences; turns input
//! (shortcuts, dropped files) and UI clicks into [`Command`]s and applies them at the start of the
//! next frame; never blocks on I/O.

pub mod command;
pub mod draft;
pub mod editing;
pub mod export;
mod handlers;
mod loading;
pub mod pairwise;
pub mod plan;
pub mod prefs;
pub mod review;
pub mod state;
pub mod training;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;

pub use command::{Command, Workspace};
pub use loading::JobOutput;
use prefs::Prefs;
use state::AppState;

use crate::jobs::Jobs;
use crate::ui;

/// Options from the command line.
#[derive(Debug, Clone, Default)]
pub struct StartupOptions {
    /// Project to open instead of the last one.
    pub project: Option<PathBuf>,
}

/// What a text prompt asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptPurpose {
    /// A tag for every filtered item.
    BulkTag,
    /// A dataset version name.
    VersionName,
}

/// Modal dialogs that can be open.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Dialog {
    /// None.
    #[default]
    None,
    /// The command palette with its query and highlighted row.
    Palette {
        /// Typed text.
        query: String,
        /// Highlighted row.
        selected: usize,
    },
    /// The shortcut cheat sheet.
    Shortcuts,
    /// Confirm an import (paths, chosen format).
    ConfirmImport {
        /// What to import.
        paths: Vec<PathBuf>,
        /// `None` = detect.
        format: Option<crate::io::import::ImportFormat>,
        /// A path being typed (for systems without a file dialog).
        typed: String,
        /// Also read images outside each input's folder (confirmed by the user).
        allow_outside: bool,
    },
    /// The item editor.
    EditItem(Box<draft::EditorDraft>),
    /// Ask for a line of text (a tag, a version name).
    TextPrompt {
        /// What the text is for.
        purpose: PromptPurpose,
        /// Typed text.
        text: String,
    },
    /// Type a project path.
    OpenByPath {
        /// Typed text.
        text: String,
    },
    /// About box.
    About,
    /// The export dialog.
    Export(Box<export::ExportDraft>),
}

impl Dialog {
    /// The import confirmation for `paths` (format detected, images only inside each input's folder).
    pub fn import(paths: Vec<PathBuf>) -> Self {
        Self::ConfirmImport { paths, format: None, typed: String::new(), allow_outside: false }
    }
}

/// The workbench application.
pub struct WorkbenchApp {
    /// What the panes display.
    pub state: AppState,
    /// Persisted preferences.
    pub prefs: Prefs,
    /// Background work.
    pub jobs: Jobs<JobOutput>,
    /// Notifications.
    pub toasts: ui::toasts::Toasts,
    /// The open modal.
    pub dialog: Dialog,
    /// Commands queued this frame, applied at the start of the next.
    pub queue: Vec<Command>,
    /// Texture of the inspected image.
    pub texture: Option<(i64, egui::TextureHandle)>,
    /// Notices other processes' writes to the open project (polled every two seconds).
    watch: Option<(crate::store::watch::ChangeWatch, std::time::Instant)>,
    ctx: egui::Context,
}

impl WorkbenchApp {
    /// Creates the app: restores preferences and starts opening the project in the background.
    pub fn new(cc: &eframe::CreationContext<'_>, startup: StartupOptions) -> Self {
        let prefs: Prefs = cc.storage.and_then(|s| eframe::get_value(s, eframe::APP_KEY)).unwrap_or_default();
        let ctx = cc.egui_ctx.clone();
        let waker_ctx = ctx.clone();
        // Workers wake the UI; a 10 ms delay lets a burst of messages land in one frame.
        let waker = Arc::new(move || waker_ctx.request_repaint_after(Duration::from_millis(10)));
        ui::theme::apply(&ctx, prefs.dark);
        let gpu = crate::model::gpu::configure(&crate::model::gpu::GpuSettings { autotune: prefs.autotune });
        let mut state = AppState::default();
        state.viewer.gpu = ui::gpu_view::install(cc);
        state.training.backend = prefs.backend;
        state.training.autotune = prefs.autotune;
        state.training.autotune_in_force = gpu.settings.autotune;
        let mut app = Self {
            state,
            prefs,
            jobs: Jobs::new(waker),
            toasts: ui::toasts::Toasts::default(),
            dialog: Dialog::None,
            queue: Vec::new(),
            texture: None,
            watch: None,
            ctx,
        };
        let target = match startup.project {
            Some(p) => loading::OpenTarget::Path(p),
            None => match app.prefs.last_project.clone().filter(|p| p.is_file()) {
                Some(p) => loading::OpenTarget::Path(p),
                None => loading::OpenTarget::Sample,
            },
        };
        app.open(target);
        app
    }

    /// Reloads the project (keeping the selection) when another process wrote to it, checked every
    /// two seconds while no job or run of ours is writing (they reload when they finish).
    fn poll_external_changes(&mut self) {
        let Some(p) = &self.state.project else { return };
        if self.watch.as_ref().is_none_or(|(w, _)| w.path() != p.path) {
            self.watch = crate::store::watch::ChangeWatch::open(&p.path).ok().map(|w| (w, Instant::now()));
        }
        let busy = !self.jobs.is_empty() || self.state.training.active.is_some() || self.state.opening.is_some();
        let Some((w, at)) = &mut self.watch else { return };
        let period = Duration::from_secs(2);
        if busy {
            // Our jobs and runs repaint while they work and reload when they finish.
            return;
        }
        if at.elapsed() < period {
            // An idle window draws no frames: wake for the next check.
            self.ctx.request_repaint_after(period.saturating_sub(at.elapsed()));
            return;
        }
        *at = Instant::now();
        if w.changed() {
            tracing::info!("the project changed on disk; reloading");
            self.queue.push(Command::ReloadProject);
        }
        self.ctx.request_repaint_after(period);
    }

    /// Queues a command for the next frame.
    pub fn send(&mut self, c: Command) {
        self.queue.push(c);
        self.ctx.request_repaint();
    }
}

impl eframe::App for WorkbenchApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        for finished in self.jobs.poll() {
            self.on_job_finished(finished);
        }
        for (error, text) in self.state.training.poll() {
            if error { self.toasts.error(text) } else { self.toasts.info(text) }
        }
        if let Some(p) = &self.state.project {
            let t = &mut self.state.training;
            let ctx2 = ctx.clone();
            let waker: crate::jobs::Waker = Arc::new(move || ctx2.request_repaint());
            t.plan.refresh(&p.path, &t.form, t.backend, &waker);
        }
        self.poll_external_changes();
        self.load_scan_volume();
        if std::mem::take(&mut self.state.training.needs_reload) {
            self.queue.push(Command::ReloadProject);
        }
        self.handle_dropped_files(ctx);
        self.handle_review_keys(ctx);
        self.handle_shortcuts(ctx);
        // The Review pane marks itself shown while it draws (its keys are live next frame).
        self.state.review.visible = false;
        let queue = std::mem::take(&mut self.queue);
        for c in queue {
            self.apply(c, ctx);
        }
        if !self.jobs.is_empty() || self.state.training.active.is_some() {
            // Keep the progress bar and ETA moving even between progress messages.
            ctx.request_repaint_after(Duration::from_millis(250));
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let shell = ui::shell::Shell {
            state: &mut self.state,
            queue: &mut self.queue,
            texture: &mut self.texture,
            tree: &mut self.prefs.tree,
            recent: &self.prefs.recent,
            jobs: self.jobs.statuses(),
            toasts: &mut self.toasts,
            dialog: &mut self.dialog,
        };
        ui::shell::show(shell, ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.prefs.backend = self.state.training.backend;
        self.prefs.autotune = self.state.training.autotune;
        eframe::set_value(storage, eframe::APP_KEY, &self.prefs);
    }
}

/// Native window options for the workbench.
pub fn native_options() -> eframe::NativeOptions {
    eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("MedVLM Workbench")
            .with_app_id("medvlm")
            .with_inner_size([1360.0, 820.0])
            .with_min_inner_size([720.0, 420.0])
            .with_drag_and_drop(true)
            .with_icon(eframe::icon_data::from_png_bytes(include_bytes!("../../assets/icon.png")).unwrap_or_default()),
        ..Default::default()
    }
}

/// Runs the GUI until the window closes.
///
/// # Errors
/// When no window or graphics context can be created.
pub fn run(startup: StartupOptions) -> eframe::Result {
    // wgpu draws the image view's window/level with the shader; glow (MEDVLM_RENDERER=glow, or
    // when wgpu cannot start) draws it on the CPU.
    let glow_only = std::env::var("MEDVLM_RENDERER").is_ok_and(|r| r.eq_ignore_ascii_case("glow"));
    if !glow_only {
        let s = startup.clone();
        let options = eframe::NativeOptions { renderer: eframe::Renderer::Wgpu, ..native_options() };
        match eframe::run_native("medvlm", options, Box::new(|cc| Ok(Box::new(WorkbenchApp::new(cc, s))))) {
            Ok(()) => return Ok(()),
            Err(e) => tracing::warn!("the wgpu renderer did not start ({e}); using glow"),
        }
    }
    let options = eframe::NativeOptions { renderer: eframe::Renderer::Glow, ..native_options() };
    eframe::run_native("medvlm", options, Box::new(|cc| Ok(Box::new(WorkbenchApp::new(cc, startup)))))
}
