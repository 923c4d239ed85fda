//! Modal dialogs: the command palette (Ctrl+K), the `?` shortcut sheet, import confirmation with a
//! format choice, open-by-path (for systems without a file dialog) and About.

use eframe::egui;

use crate::app::state::AppState;
use crate::app::{Command, Dialog, PromptPurpose};
use crate::io::import::ImportFormat;

/// Fuzzy match: every query character appears in order in `text` (case-insensitive). Higher is
/// better: consecutive and word-start matches score more. `None` if no match.
pub fn fuzzy_score(query: &str, text: &str) -> Option<i32> {
    let q: Vec<char> = query.to_lowercase().chars().filter(|c| !c.is_whitespace()).collect();
    if q.is_empty() {
        return Some(0);
    }
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut qi, mut score, mut prev) = (0, 0i32, None::<usize>);
    for (ti, c) in t.iter().enumerate() {
        if qi < q.len() && *c == q[qi] {
            score += 1;
            if prev.is_some_and(|p| p + 1 == ti) {
                score += 3;
            }
            if ti == 0 || !t[ti - 1].is_alphanumeric() {
                score += 2;
            }
            prev = Some(ti);
            qi += 1;
        }
    }
    (qi == q.len()).then_some(score - t.len() as i32 / 10)
}

/// Draws whichever dialog is open (`open`: it stays open while this returns true for it).
pub fn show(open: &mut Dialog, state: &AppState, queue: &mut Vec<Command>, ctx: &egui::Context) {
    let mut dialog = std::mem::take(open);
    let keep = match &mut dialog {
        Dialog::None => false,
        Dialog::Palette { query, selected } => palette(ctx, query, selected, queue),
        Dialog::Shortcuts => shortcut_sheet(ctx),
        Dialog::ConfirmImport { paths, format, typed, allow_outside } => {
            let project = state.project.as_ref().map(|p| p.name.clone());
            let (keep, go) = import_dialog(ctx, paths, format, typed, allow_outside, project);
            if go {
                queue.push(Command::ConfirmImport {
                    paths: paths.clone(),
                    format: *format,
                    allow_outside: *allow_outside,
                });
            }
            keep && !go
        }
        Dialog::OpenByPath { text } => open_by_path(ctx, text, queue),
        Dialog::EditItem(draft) => super::editor::show(ctx, draft, queue),
        Dialog::TextPrompt { purpose, text } => text_prompt(ctx, *purpose, text, state.visible.len(), queue),
        Dialog::About => about(ctx),
        Dialog::Export(d) => super::export::show(ctx, d, queue) && !escape(ctx),
    };
    if keep && *open == Dialog::None {
        *open = dialog;
    }
}

fn escape(ctx: &egui::Context) -> bool {
    ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Escape))
}

fn palette(ctx: &egui::Context, query: &mut String, selected: &mut usize, queue: &mut Vec<Command>) -> bool {
    let mut keep = true;
    let mut matches: Vec<(i32, Command)> = Command::listed()
        .into_iter()
        .filter_map(|c| {
            fuzzy_score(query, &c.label())
                .or_else(|| fuzzy_score(query, c.description()).map(|s| s - 20))
                .map(|s| (s, c))
        })
        .collect();
    matches.sort_by_key(|m| std::cmp::Reverse(m.0));
    let (down, up, enter) = ctx.input_mut(|i| {
        (
            i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowDown),
            i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowUp),
            i.consume_key(egui::Modifiers::NONE, egui::Key::Enter),
        )
    });
    if down {
        *selected = (*selected + 1).min(matches.len().saturating_sub(1));
    }
    if up {
        *selected = selected.saturating_sub(1);
    }
    *selected = (*selected).min(matches.len().saturating_sub(1));
    let r = egui::Modal::new(egui::Id::unique("command_palette")).show(ctx, |ui| {
        ui.set_width(460.0);
        let edit = ui.add(egui::TextEdit::singleline(query).hint_text("Type a command…").desired_width(f32::INFINITY));
        edit.request_focus();
        if edit.changed() {
            *selected = 0;
        }
        ui.separator();
        egui::ScrollArea::vertical().max_height(320.0).show(ui, |ui| {
            for (i, (_, c)) in matches.iter().enumerate() {
                let shortcut = c.shortcuts().first().map(|s| ctx.format_shortcut(s)).unwrap_or_default();
                let row = egui::Button::selectable(i == *selected, c.label())
                    .shortcut_text(shortcut)
                    .min_size(egui::vec2(ui.available_width(), 0.0));
                let r = ui.add(row).on_hover_text(c.description());
                if i == *selected && (down || up) {
                    r.scroll_to_me(None);
                }
                if r.clicked() {
                    queue.push(c.clone());
                    keep = false;
                }
            }
            if matches.is_empty() {
                ui.weak("No matching command");
            }
        });
    });
    if enter {
        if let Some((_, c)) = matches.get(*selected) {
            queue.push(c.clone());
        }
        keep = false;
    }
    keep && !r.should_close() && !escape(ctx)
}

fn shortcut_sheet(ctx: &egui::Context) -> bool {
    let r = egui::Modal::new(egui::Id::unique("shortcut_sheet")).show(ctx, |ui| {
        ui.heading("Keyboard shortcuts");
        ui.add_space(4.0);
        egui::Grid::new("shortcuts").num_columns(2).striped(true).show(ui, |ui| {
            for c in Command::listed() {
                let keys: Vec<String> = c.shortcuts().iter().map(|s| ctx.format_shortcut(s)).collect();
                if keys.is_empty() {
                    continue;
                }
                ui.strong(keys.join("  or  "));
                ui.label(c.label()).on_hover_text(c.description());
                ui.end_row();
            }
        });
        ui.add_space(6.0);
        ui.weak("Single-key shortcuts are ignored while typing in a text field. Esc closes this sheet.");
        ui.button("Close").clicked()
    });
    !(r.inner || r.should_close() || escape(ctx))
}

fn import_dialog(
    ctx: &egui::Context,
    paths: &mut Vec<std::path::PathBuf>,
    format: &mut Option<ImportFormat>,
    typed: &mut String,
    allow_outside: &mut bool,
    project: Option<String>,
) -> (bool, bool) {
    let mut go = false;
    let mut cancel = false;
    // Enter adds the typed path, or imports when the field is empty. Consumed here so that no
    // widget (text field, focused button) reacts to it as well.
    if ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Enter)) {
        if !typed.trim().is_empty() {
            paths.push(typed.trim().into());
            typed.clear();
        } else if project.is_some() && !paths.is_empty() {
            go = true;
        }
    }
    let r = egui::Modal::new(egui::Id::unique("confirm_import")).show(ctx, |ui| {
        ui.set_width(520.0);
        ui.heading("Import data");
        match &project {
            Some(name) => ui.label(format!("Into project {name}:")),
            None => ui.label("Open or create a project first."),
        };
        let mut remove = None;
        for (i, p) in paths.iter().enumerate() {
            ui.horizontal(|ui| {
                if ui.small_button("✖").on_hover_text("Remove from the list").clicked() {
                    remove = Some(i);
                }
                ui.monospace(p.display().to_string());
            });
        }
        if let Some(i) = remove {
            paths.remove(i);
        }
        ui.horizontal(|ui| {
            let r =
                ui.add(egui::TextEdit::singleline(typed).hint_text("path of a file or folder").desired_width(380.0));
            r.request_focus(); // typing always lands here; Enter is handled for the whole dialog below
            if ui.button("Add").clicked() && !typed.trim().is_empty() {
                paths.push(typed.trim().into());
                typed.clear();
            }
        });
        ui.horizontal(|ui| {
            ui.label("Format:");
            let shown = format.map_or("detect automatically".to_string(), |f| f.to_string());
            egui::ComboBox::from_id_salt("import_format").selected_text(shown).show_ui(ui, |ui| {
                ui.selectable_value(format, None, "detect automatically");
                for f in ImportFormat::ALL {
                    ui.selectable_value(format, Some(f), f.as_str());
                }
            });
        });
        ui.checkbox(allow_outside, "Read images outside each file's folder")
            .on_hover_text("Off: image paths that leave the manifest's folder are refused, so a manifest from elsewhere cannot make the importer read other files");
        ui.weak("Bad records are skipped and listed; items already in the project are not duplicated.");
        ui.weak("Enter adds the typed path; Enter on an empty field imports.");
        ui.horizontal(|ui| {
            if ui.add_enabled(project.is_some() && !paths.is_empty(), egui::Button::new("Import")).clicked() {
                go = true;
            }
            if ui.button("Cancel").clicked() {
                cancel = true;
            }
        });
    });
    let closing = go || cancel || r.should_close() || escape(ctx);
    (!closing, go)
}

fn open_by_path(ctx: &egui::Context, text: &mut String, queue: &mut Vec<Command>) -> bool {
    let mut keep = true;
    egui::Modal::new(egui::Id::unique("open_by_path")).show(ctx, |ui| {
        ui.set_width(520.0);
        ui.heading("Open project by path");
        let r =
            ui.add(egui::TextEdit::singleline(text).hint_text("/path/to/project.medvlm").desired_width(f32::INFINITY));
        r.request_focus();
        // Enter submits the dialog wherever the focus is (the field re-takes it each frame).
        let enter = ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Enter));
        ui.horizontal(|ui| {
            if ui.button("Open").clicked() || enter {
                queue.push(Command::OpenProjectPath(text.trim().into()));
                keep = false;
            }
            if ui.button("Cancel").clicked() {
                keep = false;
            }
        });
    });
    keep && !escape(ctx)
}

fn text_prompt(
    ctx: &egui::Context,
    purpose: PromptPurpose,
    text: &mut String,
    n: usize,
    queue: &mut Vec<Command>,
) -> bool {
    let mut keep = true;
    let (title, hint, ok) = match purpose {
        PromptPurpose::BulkTag => (format!("Tag {n} filtered items"), "tag, e.g. reviewed", "Tag all"),
        PromptPurpose::VersionName => ("Save dataset version".to_string(), "name, e.g. v1-medium-band", "Save version"),
    };
    egui::Modal::new(egui::Id::unique("text_prompt")).show(ctx, |ui| {
        ui.set_width(420.0);
        ui.heading(title);
        let r = ui.add(egui::TextEdit::singleline(text).hint_text(hint).desired_width(f32::INFINITY));
        r.request_focus();
        // Enter submits the dialog wherever the focus is (the field re-takes it each frame).
        let enter = ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Enter));
        ui.horizontal(|ui| {
            if (ui.button(ok).clicked() || enter) && !text.trim().is_empty() {
                queue.push(match purpose {
                    PromptPurpose::BulkTag => Command::Bulk(crate::app::editing::BulkAction::Tag(text.trim().into())),
                    PromptPurpose::VersionName => Command::CreateVersion(text.trim().into()),
                });
                keep = false;
            }
            if ui.button("Cancel").clicked() {
                keep = false;
            }
        });
    });
    keep && !escape(ctx)
}

fn about(ctx: &egui::Context) -> bool {
    let r = egui::Modal::new(egui::Id::unique("about")).show(ctx, |ui| {
        ui.heading("MedVLM Workbench");
        ui.label(format!("Version {}", crate::VERSION));
        ui.label("Curate medical VQA data by difficulty, train vision-language models to reason with GRPO on");
        ui.label("your own machine, watch training live, and review reasoning next to the image.");
        ui.label(format!(
            "Preferences: eframe storage; projects: *.medvlm SQLite files; data folder: {}",
            crate::util::data_dir().display()
        ));
        ui.button("Close").clicked()
    });
    !(r.inner || r.should_close() || escape(ctx))
}

#[cfg(test)]
mod tests {
    use super::fuzzy_score;

    #[test]
    fn fuzzy_prefers_word_starts_and_runs() {
        assert!(fuzzy_score("imp", "Import data…").is_some());
        assert!(fuzzy_score("xyz", "Import data…").is_none());
        assert!(fuzzy_score("op", "Open project…") > fuzzy_score("op", "Toggle dark/light theme"));
        assert_eq!(fuzzy_score("", "anything"), Some(0));
    }
}
