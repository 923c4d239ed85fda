//! Applying commands, job results, dropped files and keyboard shortcuts to the app state.

use std::path::PathBuf;

use eframe::egui;

use super::command::{Command, Workspace};
use super::loading::{DialogKind, JobOutput, OpenTarget};
use super::{Dialog, WorkbenchApp};
use crate::io::import::ImportOptions;
use crate::jobs::Finished;

impl WorkbenchApp {
    /// An outcome as a toast: information, or an error.
    fn toast(&mut self, r: Result<String, String>) {
        match r {
            Ok(m) => self.toasts.info(m),
            Err(e) => self.toasts.error(e),
        }
    }

    /// Applies one command.
    pub(super) fn apply(&mut self, c: Command, ctx: &egui::Context) {
        match c {
            Command::OpenProject => self.file_dialog(DialogKind::Open),
            Command::OpenProjectByPath => self.dialog = Dialog::OpenByPath { text: String::new() },
            Command::OpenProjectPath(p) => self.open(OpenTarget::Path(p)),
            Command::OpenSampleProject => self.open(OpenTarget::Sample),
            Command::NewProject => self.file_dialog(DialogKind::New),
            Command::ImportFiles => self.file_dialog(DialogKind::ImportFiles),
            Command::ImportFolder => self.file_dialog(DialogKind::ImportFolder),
            Command::ImportByPath => self.dialog = Dialog::import(vec![]),
            Command::ImportPaths(paths) => self.dialog = Dialog::import(paths),
            Command::ExportData => {
                if let Some(p) = &self.state.project {
                    use crate::io::export::{BURNED_IN_TAG, EXCLUDED_TAG};
                    let has = |r: &crate::domain::ItemRow, t: &str| r.tags.iter().any(|x| x == t);
                    let burned_rows = p.rows.iter().filter(|r| has(r, BURNED_IN_TAG));
                    let burned = (burned_rows.clone().filter(|r| !has(r, EXCLUDED_TAG)).count(), burned_rows.count());
                    self.dialog = Dialog::Export(Box::new(super::export::ExportDraft::new(&p.path, burned)));
                } else {
                    self.toasts.error("Open a project before exporting");
                }
            }
            Command::ConfirmExport(d) => self.start_export(*d),
            Command::BlackOutRegion => self.black_out_region(),
            Command::BlackOutFoundText => self.black_out_found_text(),
            Command::ReloadProject
            | Command::CancelJobs
            | Command::CancelJob(_)
            | Command::ConfirmImport { .. }
            | Command::About
            | Command::SaveGuidelines(_) => self.apply_jobs_and_dialogs(c),
            Command::CommandPalette => self.dialog = Dialog::Palette { query: String::new(), selected: 0 },
            Command::ShortcutSheet => self.dialog = Dialog::Shortcuts,
            Command::ShowWorkspace(w) => self.show_workspace(w),
            Command::NextItem | Command::PrevItem => {
                let delta = if c == Command::NextItem { 1 } else { -1 };
                if let Some(id) = self.state.step_selection(delta) {
                    self.select(id);
                    self.state.scroll_to_selected = true;
                }
            }
            Command::SelectItem(id) => self.select(id),
            Command::FocusSearch => {
                self.show_workspace(Workspace::Curation);
                self.state.focus_search = true;
            }
            Command::ClearFilters => {
                self.state.filter = Default::default();
                self.state.curation.band_only = false;
                self.state.curation.pass_count = None;
                self.state.curation.classes.clear();
                self.state.refilter();
            }
            Command::EstimatePassCounts => self.start_passrate(),
            Command::CompareCheckpoints(run) => self.start_compare(run),
            Command::DiffVersion(name) => self.start_diff(name),
            Command::EditSelected => match &self.state.inspected {
                Some(ins) => {
                    self.dialog = Dialog::EditItem(Box::new(super::draft::EditorDraft::new(ins.id, &ins.item)))
                }
                None => self.toasts.warning("Select an item to edit"),
            },
            Command::SaveEdits(label, edits) => self.apply_item_edits(label, edits),
            Command::Undo => self.undo_redo(false),
            Command::Redo => self.undo_redo(true),
            Command::BulkTagPrompt => {
                self.dialog = Dialog::TextPrompt { purpose: super::PromptPurpose::BulkTag, text: String::new() }
            }
            Command::Bulk(action) => self.bulk(action),
            Command::ReviewSelected(status) => self.review_selected(status),
            Command::Review(a) => self.apply_review(a),
            Command::CheckLeakage => self.start_leakage(),
            Command::CreateVersionPrompt => {
                self.dialog = Dialog::TextPrompt { purpose: super::PromptPurpose::VersionName, text: String::new() }
            }
            Command::CreateVersion(name) => self.create_version(name),
            Command::FilterPassCount(n) => {
                self.state.curation.pass_count = n;
                self.state.refilter();
            }
            Command::SortTable(key) => self.state.sort_by(key),
            Command::LoadTrainingConfig
            | Command::UseRunSettings(_)
            | Command::StartTraining
            | Command::ResumeTrainingRun(_)
            | Command::PauseTraining
            | Command::ContinueTraining
            | Command::StopTraining
            | Command::ExportCurves
            | Command::ToggleCurve(_) => self.apply_training(c, ctx),
            Command::ToggleBandFilter => {
                self.state.curation.band_only = !self.state.curation.band_only;
                self.state.refilter();
            }
            Command::ToggleTheme => {
                self.prefs.dark = !self.prefs.dark;
                crate::ui::theme::apply(ctx, self.prefs.dark);
            }
            Command::ResetLayout => self.prefs.tree = super::prefs::default_tree(),
            Command::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
        }
    }

    /// The Training workspace's commands: the form, the run's lifecycle, the curves.
    fn apply_training(&mut self, c: Command, ctx: &egui::Context) {
        match c {
            Command::LoadTrainingConfig => self.file_dialog(DialogKind::TrainingConfig),
            Command::UseRunSettings(run) => {
                let r = self.state.training.use_run(run);
                self.toast(r);
            }
            Command::StartTraining | Command::ResumeTrainingRun(_) => {
                let Some(p) = &self.state.project else { return };
                let resume = if let Command::ResumeTrainingRun(id) = c { Some(id) } else { None };
                let waker_ctx = ctx.clone();
                let waker: crate::jobs::Waker =
                    std::sync::Arc::new(move || waker_ctx.request_repaint_after(std::time::Duration::from_millis(50)));
                if let Err(e) = self.state.training.start(p.path.clone(), resume, self.state.training.backend, waker) {
                    self.toasts.error(e);
                }
                self.show_workspace(Workspace::Training);
            }
            Command::PauseTraining | Command::ContinueTraining | Command::StopTraining => {
                if let Some(a) = &self.state.training.active {
                    use std::sync::atomic::Ordering::Relaxed;
                    match c {
                        Command::PauseTraining => a.control.pause.store(true, Relaxed),
                        Command::ContinueTraining => a.control.pause.store(false, Relaxed),
                        _ => a.control.stop.store(true, Relaxed),
                    }
                }
            }
            Command::ExportCurves => {
                let Some(p) = &self.state.project else { return };
                let shown = super::training::shown_series(&self.state.training);
                let csv = crate::metrics::to_csv(
                    &shown,
                    f64::from(self.state.training.curves.smoothing),
                    self.state.training.curves.x_axis,
                );
                let stamp = crate::util::now_rfc3339().replace(':', "-");
                let path = p.path.with_file_name(format!("{}-curves-{stamp}.csv", p.name));
                match std::fs::write(&path, csv) {
                    Ok(()) => self.toasts.info(format!("Wrote {} series to {}", shown.len(), path.display())),
                    Err(e) => self.toasts.error(format!("Cannot write {}: {e}", path.display())),
                }
            }
            Command::ToggleCurve(name) => {
                let hidden = &mut self.state.training.curves.hidden;
                if !hidden.remove(&name) {
                    hidden.insert(name);
                }
            }
            _ => {}
        }
    }

    /// Commands that start, stop or confirm background work, or open a dialog.
    fn apply_jobs_and_dialogs(&mut self, c: Command) {
        match c {
            Command::ReloadProject => {
                if let Some(p) = &self.state.project {
                    let path = p.path.clone();
                    self.open(OpenTarget::Path(path));
                }
            }
            Command::CancelJobs => {
                for s in self.jobs.statuses() {
                    self.jobs.cancel(&s.name);
                }
            }
            Command::CancelJob(name) => self.jobs.cancel(&name),
            Command::ConfirmImport { paths, format, allow_outside } => {
                self.confirm_import(paths, format, allow_outside)
            }
            Command::About => self.dialog = Dialog::About,
            Command::SaveGuidelines(markdown) => self.spawn_on_project("guidelines", move |path, _| {
                JobOutput::GuidelinesSaved(
                    crate::store::Project::open(&path)
                        .and_then(|mut p| p.add_guidelines(&markdown))
                        .map_err(|e| e.to_string()),
                )
            }),
            _ => {}
        }
    }

    pub(super) fn show_workspace(&mut self, w: Workspace) {
        let found = self.prefs.tree.make_active(|_, tile| matches!(tile, egui_tiles::Tile::Pane(p) if *p == w));
        if !found {
            // The pane was closed or the layout is broken: restore the default.
            self.prefs.tree = super::prefs::default_tree();
            self.prefs.tree.make_active(|_, tile| matches!(tile, egui_tiles::Tile::Pane(p) if *p == w));
        }
    }

    pub(super) fn select(&mut self, id: i64) {
        if self.state.selected != Some(id) {
            self.state.selected = Some(id);
            self.load_item(id);
        }
    }

    /// Applies a finished job's result.
    /// Another volume of the inspected item's 4-D scan arrived (or failed to).
    fn on_scan_volume(&mut self, id: i64, scan: Result<std::sync::Arc<crate::imaging::scan::ScanStack>, String>) {
        let image = self.state.inspected.as_mut().filter(|i| i.id == id).and_then(|i| i.image.as_mut().ok());
        match (scan, image) {
            (Ok(scan), Some(image)) => image.scan = Some(Ok(scan)),
            (Err(e), _) => {
                self.state.viewer.volume = None;
                self.toasts.error(e);
            }
            (Ok(_), None) => {}
        }
    }

    pub(super) fn on_job_finished(&mut self, f: Finished<JobOutput>) {
        let out = match f.result {
            Ok(out) => out,
            Err(panic) => {
                self.toasts.error(format!("{} failed: {panic}", f.name));
                return;
            }
        };
        match out {
            JobOutput::Project(Ok(view)) => self.on_project_opened(view),
            JobOutput::Project(Err(e)) => {
                self.state.opening = None;
                self.toasts.error(format!("Cannot open project: {e}"));
            }
            JobOutput::Item(Ok(inspected)) => {
                let wanted = self.state.selected;
                self.state.inspected = Some(inspected);
                // The selection moved while loading: load the newest one.
                if let Some(id) = wanted.filter(|id| self.state.inspected.as_ref().is_some_and(|i| i.id != *id)) {
                    self.load_item(id);
                }
            }
            JobOutput::Item(Err(e)) => self.toasts.error(e),
            JobOutput::ScanVolume(id, scan) => self.on_scan_volume(id, scan),
            JobOutput::Imported(Ok(summary)) => {
                let line = summary.one_line();
                if summary.nothing_usable() {
                    let why = summary.reasons().first().map(|r| r.0.clone()).unwrap_or_default();
                    self.toasts.error(format!("Nothing imported: {why}"));
                } else if summary.failed() > 0 {
                    self.toasts.warning(format!("Import: {line}. First problem: {}", first_problem(&summary)));
                } else {
                    self.toasts.info(format!("Import: {line}"));
                }
                let ctx = self.ctx.clone();
                self.apply(Command::ReloadProject, &ctx);
            }
            JobOutput::Imported(Err(e)) => self.toasts.error(format!("Import failed: {e}")),
            JobOutput::Exported(Ok(s)) => {
                let mut line = format!("Exported {} rows to {} (card: {})", s.rows, s.path.display(), s.card.display());
                if let Some(w) = s.warnings.first() {
                    line.push_str(&format!(". {w}"));
                }
                self.toasts.info(line);
            }
            JobOutput::Exported(Err(e)) => self.toasts.error(format!("Export refused or failed: {e}")),
            JobOutput::PassCounts(Ok(r)) => {
                let how = if r.cancelled { "stopped after" } else { "estimated" };
                self.toasts.info(format!(
                    "Pass counts {how} {} items ({} samples, {:.0} s); {} already done, {} skipped",
                    r.estimated,
                    r.samples,
                    r.seconds,
                    r.already_done,
                    r.skipped.len()
                ));
                self.state.curation.key = 0;
                let ctx = self.ctx.clone();
                self.apply(Command::ReloadProject, &ctx);
            }
            JobOutput::Edited(Ok(msg)) => {
                self.toasts.info(msg);
                let ctx = self.ctx.clone();
                self.apply(Command::ReloadProject, &ctx);
                if let Some(id) = self.state.selected {
                    self.load_item(id);
                }
            }
            JobOutput::Diff(Ok(d)) => self.state.curation.diff = Some(d),
            JobOutput::Diff(Err(e)) => self.toasts.error(format!("Diff failed: {e}")),
            JobOutput::Leaks(Ok(l)) => {
                if l.is_empty() {
                    self.toasts.info("No leakage: no item shares an image or question + image across splits");
                }
                self.state.curation.leaks = Some(l);
            }
            JobOutput::Leaks(Err(e)) => self.toasts.error(format!("Leakage check failed: {e}")),
            JobOutput::ReviewQueue(q) => self.review_queue_loaded(q),
            JobOutput::Rated(Ok(id)) => self.toasts.info(format!("Rating {id} saved")),
            JobOutput::Rated(Err(e)) => self.toasts.error(format!("Rating not saved: {e}")),
            JobOutput::Judged(Ok(id)) => self.toasts.info(format!("Judgment {id} saved")),
            JobOutput::Judged(Err(e)) => self.toasts.error(format!("Judgment not saved: {e}")),
            JobOutput::GuidelinesSaved(Ok(v)) => {
                self.toasts.info(format!("Guidelines version {v} saved; new ratings record it"));
                self.state.review.guidelines_draft = None;
                self.load_review_queue();
            }
            JobOutput::GuidelinesSaved(Err(e)) => self.toasts.error(format!("Guidelines not saved: {e}")),
            JobOutput::Edited(Err(e)) => self.toasts.error(format!("Edit refused: {e}")),
            JobOutput::PassCounts(Err(e)) => self.toasts.error(format!("Pass-count job failed: {e}")),
            JobOutput::Picked(_, None) => {}
            JobOutput::Picked(kind, Some(paths)) => match kind {
                DialogKind::Open => {
                    if let Some(p) = paths.into_iter().next() {
                        self.open(OpenTarget::Path(p));
                    }
                }
                DialogKind::New => {
                    if let Some(mut p) = paths.into_iter().next() {
                        if p.extension().is_none() {
                            p.set_extension(crate::store::EXTENSION);
                        }
                        self.open(OpenTarget::Create(p));
                    }
                }
                DialogKind::ImportFiles | DialogKind::ImportFolder => self.dialog = Dialog::import(paths),
                DialogKind::TrainingConfig => {
                    if let Some(p) = paths.into_iter().next() {
                        let r = self.state.training.load_config(&p);
                        self.toast(r);
                    }
                }
            },
        }
    }

    /// Confirms the import dialog.
    fn confirm_import(
        &mut self,
        paths: Vec<PathBuf>,
        format: Option<crate::io::import::ImportFormat>,
        allow_outside: bool,
    ) {
        self.dialog = Dialog::None;
        self.start_import(paths, ImportOptions { format, allow_outside, ..ImportOptions::default() });
    }

    /// A project finished opening: show it, keep the selection when it is the same project.
    fn on_project_opened(&mut self, view: super::state::ProjectView) {
        let reopened = self.state.project.as_ref().is_some_and(|p| p.path == view.path);
        if !reopened {
            self.state.review = super::review::ReviewState::default();
        }
        self.prefs.remember(&view.path);
        tracing::info!(project = %view.path.display(), items = view.rows.len(), "project opened");
        if !view.damaged.is_empty() {
            let first: Vec<String> =
                view.damaged.iter().take(3).map(|(id, uid, why)| format!("{uid} (row {id}): {why}")).collect();
            self.toasts.error(format!(
                "{} damaged items cannot be read and are left out of every view: {}",
                view.damaged.len(),
                first.join("; ")
            ));
        }
        if !reopened {
            self.state.filter = Default::default();
            self.state.selected = None;
            self.state.inspected = None;
        }
        if self.state.training.active.is_none() {
            self.state.training.runs = view.runs.clone();
            self.state.training.rollouts = view.rollouts.clone();
            if let Some(last) = view.runs.keys().next_back() {
                self.state.training.visible.insert(*last);
            }
            self.state.training.visible.retain(|id| view.runs.contains_key(id));
        }
        self.state.project = Some(view);
        self.state.opening = None;
        self.state.refilter();
        if self.state.selected.is_none() {
            if let Some(id) = self.state.step_selection(0) {
                self.select(id);
            }
        } else if let Some(id) = self.state.selected {
            self.state.selected = None;
            self.select(id);
        }
    }

    /// Files dropped on the window: a `.medvlm` opens, anything else is offered for import.
    pub(super) fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).filter(|p| !p.as_os_str().is_empty()).collect()
        });
        if dropped.is_empty() {
            return;
        }
        let (projects, data): (Vec<PathBuf>, Vec<PathBuf>) =
            dropped.into_iter().partition(|p| p.extension().is_some_and(|e| e == crate::store::EXTENSION));
        if let Some(p) = projects.into_iter().next() {
            self.open(OpenTarget::Path(p));
        } else {
            self.dialog = Dialog::import(data);
        }
    }

    /// Turns key presses into commands (most specific shortcut first; plain keys not while typing).
    pub(super) fn handle_shortcuts(&mut self, ctx: &egui::Context) {
        if self.dialog != Dialog::None {
            return; // dialogs handle their own keys (Esc, Enter, arrows)
        }
        let typing = ctx.egui_wants_keyboard_input();
        let mut all: Vec<(egui::KeyboardShortcut, Command)> = Command::listed()
            .into_iter()
            .flat_map(|c| c.shortcuts().into_iter().map(move |s| (s, c.clone())))
            .collect();
        all.sort_by_key(|(s, _)| {
            std::cmp::Reverse(u8::from(s.modifiers.command) + u8::from(s.modifiers.shift) + u8::from(s.modifiers.alt))
        });
        // Over a scan's image the arrow keys (and Page Up/Down, Home/End) move through its slices.
        let over_scan = self.state.viewer.hovered
            && self.state.inspected.as_ref().and_then(|i| i.image.as_ref().ok()).is_some_and(|i| i.scan.is_some());
        let slice_keys = [egui::Key::ArrowUp, egui::Key::ArrowDown, egui::Key::PageUp, egui::Key::PageDown];
        for (s, c) in all {
            if typing && Command::is_plain_key(&s) {
                continue;
            }
            if over_scan && s.modifiers.is_none() && slice_keys.contains(&s.logical_key) {
                continue;
            }
            if ctx.input_mut(|i| i.consume_shortcut(&s)) {
                self.queue.push(c);
            }
        }
    }
}

fn first_problem(s: &crate::io::import::ImportSummary) -> String {
    s.files.iter().flat_map(|f| f.errors.first()).next().map(ToString::to_string).unwrap_or_default()
}
