//! The window frame: menu bar, status bar with background-job progress, the tiled workspaces,
//! dialogs, toasts and the drag-and-drop overlay.

use eframe::egui;

use super::{dialogs, theme, tiles};
use crate::app::state::AppState;
use crate::app::{Command, Dialog, Workspace};
use crate::jobs::JobStatus;

/// What the window frame draws from and writes to (rerun's `ViewerContext`): the app lends its
/// parts; every action goes out as a [`Command`].
pub struct Shell<'a> {
    /// What the panes display.
    pub state: &'a mut AppState,
    /// Commands for the next frame.
    pub queue: &'a mut Vec<Command>,
    /// Texture of the inspected image.
    pub texture: &'a mut Option<(i64, egui::TextureHandle)>,
    /// The tile layout.
    pub tree: &'a mut egui_tiles::Tree<Workspace>,
    /// Recently opened projects.
    pub recent: &'a [std::path::PathBuf],
    /// Background jobs now running.
    pub jobs: Vec<JobStatus>,
    /// Notifications.
    pub toasts: &'a mut super::toasts::Toasts,
    /// The open modal.
    pub dialog: &'a mut Dialog,
}

/// A menu entry for a command, with its shortcut shown; clicking queues it.
pub fn command_button(ui: &mut egui::Ui, queue: &mut Vec<Command>, c: Command) {
    let mut button = egui::Button::new(c.label());
    if let Some(s) = c.shortcuts().first() {
        button = button.shortcut_text(ui.ctx().format_shortcut(s));
    }
    if ui.add(button).on_hover_text(c.description()).clicked() {
        queue.push(c);
        ui.close();
    }
}

/// Draws the whole window.
pub fn show(app: Shell<'_>, ui: &mut egui::Ui) {
    let mut app = app;
    egui::Panel::top("menu_bar").show(ui, |ui| menu_bar(&mut app, ui));
    egui::Panel::bottom("status_bar").show(ui, |ui| status_bar(&mut app, ui));
    let fill = ui.visuals().panel_fill;
    egui::CentralPanel::default().frame(egui::Frame::NONE.fill(fill)).show(ui, |ui| {
        let mut behavior = tiles::Panes { state: app.state, queue: app.queue, texture: app.texture };
        app.tree.ui(&mut behavior, ui);
    });
    super::windows::show(ui.ctx(), app.state, app.queue);
    dialogs::show(app.dialog, app.state, app.queue, ui.ctx());
    app.toasts.show(ui.ctx());
    drop_overlay(ui.ctx());
    if !app.queue.is_empty() {
        ui.ctx().request_repaint();
    }
}

fn menu_bar(app: &mut Shell<'_>, ui: &mut egui::Ui) {
    let q = &mut *app.queue;
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            command_button(ui, q, Command::NewProject);
            command_button(ui, q, Command::OpenProject);
            command_button(ui, q, Command::OpenProjectByPath);
            ui.menu_button("Open recent", |ui| {
                if app.recent.is_empty() {
                    ui.weak("No recent projects");
                }
                for p in app.recent {
                    if ui.button(p.display().to_string()).clicked() {
                        q.push(Command::OpenProjectPath(p.clone()));
                        ui.close();
                    }
                }
            });
            command_button(ui, q, Command::OpenSampleProject);
            ui.separator();
            command_button(ui, q, Command::ImportFiles);
            command_button(ui, q, Command::ImportFolder);
            command_button(ui, q, Command::ImportByPath);
            command_button(ui, q, Command::ExportData);
            command_button(ui, q, Command::ReloadProject);
            ui.separator();
            command_button(ui, q, Command::Quit);
        });
        ui.menu_button("View", |ui| {
            for w in Workspace::ALL {
                command_button(ui, q, Command::ShowWorkspace(w));
            }
            ui.separator();
            command_button(ui, q, Command::ToggleTheme);
            command_button(ui, q, Command::ResetLayout);
            ui.separator();
            command_button(ui, q, Command::CommandPalette);
        });
        ui.menu_button("Items", |ui| {
            command_button(ui, q, Command::FocusSearch);
            command_button(ui, q, Command::ClearFilters);
            command_button(ui, q, Command::NextItem);
            command_button(ui, q, Command::PrevItem);
            ui.separator();
            command_button(ui, q, Command::EditSelected);
            command_button(ui, q, Command::Undo);
            command_button(ui, q, Command::Redo);
            ui.separator();
            command_button(ui, q, Command::BulkTagPrompt);
            command_button(ui, q, Command::Bulk(crate::app::editing::BulkAction::Exclude));
            for s in crate::domain::Split::ALL {
                command_button(ui, q, Command::Bulk(crate::app::editing::BulkAction::MoveSplit(s)));
            }
            ui.menu_button("Set band of filtered items", |ui| {
                use crate::curation::Difficulty;
                for d in [Difficulty::TooHard, Difficulty::Medium, Difficulty::Easy, Difficulty::Solved] {
                    command_button(ui, q, Command::Bulk(crate::app::editing::BulkAction::SetBand(Some(d))));
                }
                command_button(ui, q, Command::Bulk(crate::app::editing::BulkAction::SetBand(None)));
            });
            command_button(ui, q, Command::Bulk(crate::app::editing::BulkAction::BlackOutText));
            ui.separator();
            for s in [
                crate::domain::ReviewStatus::Accepted,
                crate::domain::ReviewStatus::NeedsChanges,
                crate::domain::ReviewStatus::Rejected,
            ] {
                command_button(ui, q, Command::ReviewSelected(s));
            }
            ui.separator();
            command_button(ui, q, Command::EstimatePassCounts);
            command_button(ui, q, Command::ToggleBandFilter);
            command_button(ui, q, Command::CreateVersionPrompt);
            command_button(ui, q, Command::CheckLeakage);
        });
        ui.menu_button("Help", |ui| {
            command_button(ui, q, Command::ShortcutSheet);
            command_button(ui, q, Command::CommandPalette);
            command_button(ui, q, Command::About);
        });
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui.small_button("⌘ Commands").on_hover_text("Command palette (Ctrl+K)").clicked() {
                q.push(Command::CommandPalette);
            }
        });
    });
}

fn status_bar(app: &mut Shell<'_>, ui: &mut egui::Ui) {
    let tokens = theme::of(ui);
    ui.horizontal(|ui| {
        match (&app.state.project, &app.state.opening) {
            (_, Some(path)) => {
                ui.spinner();
                ui.label(format!("Opening {}…", path.display()));
            }
            (Some(p), None) => {
                ui.label(egui::RichText::new(&p.name).strong()).on_hover_text(p.path.display().to_string());
                ui.label(format!("{} items", p.rows.len()));
                if p.stats.missing_images > 0 {
                    ui.colored_label(tokens.warn, format!("⚠ {} missing images", p.stats.missing_images));
                }
            }
            (None, None) => {
                ui.label("No project open");
            }
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            ui.weak(format!("medvlm {}", crate::VERSION));
            for job in app.jobs.iter().rev() {
                if job.name == "file dialog" {
                    continue;
                }
                if ui.small_button("✖").on_hover_text(format!("Cancel {}", job.name)).clicked() {
                    app.queue.push(Command::CancelJob(job.name.clone()));
                }
                let (text, fraction) = match &job.progress {
                    Some(p) => {
                        let eta = p
                            .total
                            .and_then(|t| crate::jobs::eta(job.started.elapsed(), p.done, t))
                            .map(|d| format!(", {}s left", d.as_secs()))
                            .unwrap_or_default();
                        let count = p.total.map(|t| format!(" {}/{}", p.done, t)).unwrap_or_default();
                        (format!("{}{count}{eta}", p.stage), p.fraction())
                    }
                    None => (job.name.clone(), None),
                };
                match fraction {
                    Some(f) => {
                        ui.add(egui::ProgressBar::new(f).desired_width(140.0).show_percentage());
                    }
                    None => {
                        ui.spinner();
                    }
                }
                ui.label(text);
            }
        });
    });
}

fn drop_overlay(ctx: &egui::Context) {
    let hovering = ctx.input(|i| !i.raw.hovered_files.is_empty());
    if !hovering {
        return;
    }
    let content = ctx.content_rect();
    let painter = ctx.layer_painter(egui::LayerId::new(egui::Order::Foreground, egui::Id::unique("drop_overlay")));
    painter.rect_filled(content, 0.0, theme::OVERLAY);
    painter.text(
        content.center(),
        egui::Align2::CENTER_CENTER,
        "Drop a .medvlm project to open it, or data files to import them",
        egui::FontId::proportional(20.0),
        theme::OVERLAY_TEXT,
    );
}
