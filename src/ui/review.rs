//! The Review workspace: the image beside the model's reasoning, its answer as a correct/wrong
//! badge next to the key, format violations in words, every reward component, and the rubric,
//! rated from the keyboard (J/K move, ↑/↓ question, digits rate, Enter submits and advances).

use eframe::egui;

use super::theme;
use crate::app::Command;
use crate::app::review::{ReviewAction, review_keys};
use crate::app::state::AppState;
use crate::domain::{Answer, letter};
use crate::review::trace::view;

/// Draws the workspace.
pub fn show(
    ui: &mut egui::Ui,
    state: &mut AppState,
    texture: &mut Option<(i64, egui::TextureHandle)>,
    queue: &mut Vec<Command>,
) {
    state.review.visible = true;
    let tokens = theme::of(ui);
    let Some(q) = &state.review.queue else {
        ui.heading("Review");
        ui.weak("Rate the model's reasoning next to the image with the project's rubric, from the keyboard.");
        ui.add_space(6.0);
        if state.review.loading {
            ui.spinner();
        } else if state.project.is_some() {
            // Shown for the first time with a project: load its queue.
            state.review.loading = true;
            queue.push(Command::Review(ReviewAction::Load));
        }
        return;
    };
    if q.units.is_empty() {
        ui.heading("Review");
        ui.weak(format!("Nothing to review: {}. Train a run in the Training workspace, then reload.", q.label));
        queue_rule(ui, state, queue);
        return;
    }
    let n = q.units.len();
    let label = q.label.clone();
    let r = &state.review;
    ui.horizontal_wrapped(|ui| {
        ui.strong(format!("Trace {} of {n}", r.pos + 1));
        ui.weak(format!("· {label} · {} rated this session", r.submitted.len()));
        if r.submitted.contains(&r.pos) {
            ui.colored_label(tokens.ok, "✔ rated");
        }
    });
    ui.add(egui::ProgressBar::new(r.submitted.len() as f32 / n as f32).desired_height(4.0));
    queue_rule(ui, state, queue);
    if ui.available_width() > 760.0 {
        ui.columns(2, |cols| {
            image_and_question(&mut cols[0], state, texture);
            egui::ScrollArea::vertical().id_salt("review_trace").show(&mut cols[1], |ui| right_side(ui, state, queue));
        });
    } else {
        egui::ScrollArea::vertical().id_salt("review_all").show(ui, |ui| {
            image_and_question(ui, state, texture);
            right_side(ui, state, queue);
        });
    }
}

/// The blind A/B pair while a session runs, else the trace and the rubric.
fn right_side(ui: &mut egui::Ui, state: &mut AppState, queue: &mut Vec<Command>) {
    if state.review.ab.is_some() {
        super::pairwise::show(ui, state, queue);
    } else {
        trace_and_rubric(ui, state, queue);
    }
}

/// The queue's rule (wrong answers only, a seeded random sample) and a reload.
fn queue_rule(ui: &mut egui::Ui, state: &mut AppState, queue: &mut Vec<Command>) {
    let rule = &mut state.review.rule;
    ui.horizontal_wrapped(|ui| {
        ui.checkbox(&mut rule.evaluations, "checkpoint evaluations")
            .on_hover_text("The greedy test-split outputs of the run's evaluated checkpoints (Training: Evaluate checkpoints) instead of its training rollouts");
        ui.checkbox(&mut rule.only_wrong, "wrong answers only");
        let label = ui.label("random sample");
        ui.add(egui::DragValue::new(&mut rule.sample).range(0..=100_000)).labelled_by(label.id);
        let seed = ui.label("seed");
        ui.add(egui::DragValue::new(&mut rule.seed)).labelled_by(seed.id);
        if ui.button("Load queue").on_hover_text("0 = every trace; the same seed gives the same sample").clicked() {
            queue.push(Command::Review(ReviewAction::Load));
        }
        if state.review.ab.is_none() {
            let a = ReviewAction::AbStart;
            if ui.button("Blind A/B…").on_hover_text(a.description()).clicked() {
                queue.push(Command::Review(a));
            }
        }
    });
}

fn image_and_question(ui: &mut egui::Ui, state: &mut AppState, texture: &mut Option<(i64, egui::TextureHandle)>) {
    let want = state.review.shown_item();
    match &state.inspected {
        Some(ins) if Some(ins.id) == want => {
            let height = (ui.available_height() * 0.6).max(220.0);
            let overlays: Vec<[f32; 4]> = state.review.spans.iter().filter_map(|s| s.roi).collect();
            super::viewer::show(ui, ins, &mut state.viewer, texture, height, &overlays);
            ui.label(egui::RichText::new(&ins.item.question).size(16.0).strong());
            if let Answer::Choice(key) = &ins.item.answer {
                let ok = theme::of(ui).ok;
                for (i, opt) in ins.item.options.iter().enumerate() {
                    let text = format!("{}) {opt}", letter(i));
                    if i == *key {
                        ui.colored_label(ok, format!("{text}   ✔ key"));
                    } else {
                        ui.label(text);
                    }
                }
            }
        }
        _ => {
            ui.spinner();
        }
    }
}

fn trace_and_rubric(ui: &mut egui::Ui, state: &mut AppState, queue: &mut Vec<Command>) {
    let tokens = theme::of(ui);
    let Some(unit) = state.review.current().cloned() else { return };
    let key = state.inspected.as_ref().filter(|i| i.id == unit.item_id).and_then(|i| i.item.answer.letter());
    let v = view(&unit.rollout.completion);
    ui.horizontal_wrapped(|ui| {
        ui.weak(&unit.checkpoint);
        match (v.answers.first(), key) {
            (Some(a), Some(k)) => {
                let ok = crate::review::trace::names_key(a, k);
                let (text, color) = if ok {
                    (format!("✔ answer {a} — correct"), tokens.ok)
                } else {
                    (format!("✖ answer {a} — key {k}"), tokens.warn)
                };
                ui.colored_label(color, egui::RichText::new(text).strong());
            }
            (Some(a), None) => {
                ui.strong(format!("answer: {a}"));
            }
            (None, _) => {
                ui.colored_label(tokens.warn, "no answer extracted");
            }
        }
    });
    for violation in &v.violations {
        ui.colored_label(tokens.warn, format!("⚠ {}", violation.describe()));
    }
    ui.horizontal_wrapped(|ui| {
        for (name, value) in &unit.rollout.rewards {
            ui.weak(format!("{name} {value:.2}"));
        }
        ui.strong(format!("reward {:.2}", unit.rollout.reward));
    });
    item_samples(ui, state, &unit, queue);
    pass_samples(ui, state, &unit);
    super::compare::show(ui, state, &unit);
    ui.add_space(4.0);
    spans(ui, &mut state.review, &unit, v.think.as_deref(), queue);
    ui.add_space(8.0);
    rubric(ui, state, queue);
}

/// An answer histogram in one row, the key's answer marked.
fn histogram(ui: &mut egui::Ui, hist: &[(String, usize)], key: Option<char>) {
    let ok = theme::of(ui).ok;
    ui.horizontal_wrapped(|ui| {
        for (answer, n) in hist {
            if key.is_some_and(|k| crate::review::trace::names_key(answer, k)) {
                ui.colored_label(ok, format!("{answer} × {n} (key)"));
            } else {
                ui.label(format!("{answer} × {n}"));
            }
        }
    });
}

/// Every trace of this item in the queue: their answers as a histogram (the key marked), and each
/// one's reward, clickable.
fn item_samples(ui: &mut egui::Ui, state: &AppState, unit: &crate::app::review::ReviewUnit, queue: &mut Vec<Command>) {
    let Some(q) = &state.review.queue else { return };
    let same: Vec<(usize, &crate::app::review::ReviewUnit)> =
        q.units.iter().enumerate().filter(|(_, u)| u.item_id == unit.item_id).collect();
    if same.len() < 2 {
        return;
    }
    let key = state.inspected.as_ref().filter(|i| i.id == unit.item_id).and_then(|i| i.item.answer.letter());
    let hist = crate::review::trace::answer_histogram(same.iter().map(|(_, u)| u.rollout.completion.as_str()));
    let mut jump = None;
    egui::CollapsingHeader::new(format!("This item: {} traces in the queue", same.len())).id_salt("item_samples").show(
        ui,
        |ui| {
            histogram(ui, &hist, key);
            ui.horizontal_wrapped(|ui| {
                for (pos, u) in &same {
                    let current = *pos == state.review.pos;
                    let label = format!("s{} #{} {:.2}", u.rollout.step, u.rollout.sample.1 + 1, u.rollout.reward);
                    if ui.selectable_label(current, label).clicked() {
                        jump = Some(*pos as i64 - state.review.pos as i64);
                    }
                }
            });
        },
    );
    if let Some(d) = jump.filter(|d| *d != 0) {
        queue.push(Command::Review(ReviewAction::Move(d)));
    }
}

/// The item's newest pass-count samples (MedVLThinker's difficulty estimate): their answers as a
/// histogram with the key marked, and each sample's reward and reasoning.
fn pass_samples(ui: &mut egui::Ui, state: &AppState, unit: &crate::app::review::ReviewUnit) {
    let Some(ins) = state.inspected.as_ref().filter(|i| i.id == unit.item_id) else { return };
    if ins.samples.is_empty() {
        return;
    }
    let key = ins.item.answer.letter();
    let solved =
        ins.samples.iter().filter(|(_, s)| crate::review::trace::answered_right(&s.completion, &ins.item)).count();
    let title = format!("Pass-count samples: {solved} of {} right ({})", ins.samples.len(), ins.samples[0].0);
    egui::CollapsingHeader::new(title).id_salt("pass_samples").show(ui, |ui| {
        let hist = crate::review::trace::answer_histogram(ins.samples.iter().map(|(_, s)| s.completion.as_str()));
        histogram(ui, &hist, key);
        for (i, (_, s)) in ins.samples.iter().enumerate() {
            let v = view(&s.completion);
            ui.weak(format!(
                "#{} reward {:.2} · {}",
                i + 1,
                s.reward,
                v.think.as_deref().unwrap_or(s.completion.as_str()).chars().take(160).collect::<String>()
            ));
        }
    });
}

/// The reasoning as selectable text, with tag buttons that anchor a comment to the selection (as
/// characters of the whole trace), and the spans marked so far.
fn spans(
    ui: &mut egui::Ui,
    review: &mut crate::app::review::ReviewState,
    unit: &crate::app::review::ReviewUnit,
    think: Option<&str>,
    queue: &mut Vec<Command>,
) {
    let full = unit.rollout.completion.as_str();
    let shown = think.unwrap_or(full);
    // Where the shown text starts in the trace, in characters.
    let offset = full.find(shown).map_or(0, |b| full[..b].chars().count());
    let mut text = shown;
    let out = egui::TextEdit::multiline(&mut text)
        .font(egui::TextStyle::Body)
        .desired_width(f32::INFINITY)
        .desired_rows(2)
        .show(ui);
    if let Some(r) = out.cursor_range {
        let (a, b) = (r.primary.index.0, r.secondary.index.0);
        if a != b {
            review.selection = Some((offset + a.min(b), offset + a.max(b)));
        }
    }
    let selection = review.selection;
    ui.add(
        egui::TextEdit::singleline(&mut review.span_comment)
            .hint_text("comment for the next span (optional); shift-drag on the image ties a region")
            .desired_width(f32::INFINITY),
    );
    ui.horizontal_wrapped(|ui| {
        ui.weak("Mark the selection:");
        for tag in crate::review::SpanTag::ALL {
            let enabled = selection.is_some_and(|(a, b)| a < b);
            if ui.add_enabled(enabled, egui::Button::new(tag.as_str()).small()).clicked()
                && let Some((a, b)) = selection
            {
                queue.push(Command::Review(ReviewAction::Span(a, b, tag)));
            }
        }
    });
    let tokens = theme::of(ui);
    for s in &review.spans {
        let words: String = full.chars().skip(s.start).take(s.end - s.start).collect();
        let comment = if s.comment.is_empty() { String::new() } else { format!(" — {}", s.comment) };
        let region = if s.roi.is_some() { " (+ image region)" } else { "" };
        ui.colored_label(tokens.warn, format!("{}: \"{words}\"{comment}{region}", s.tag.as_str()));
    }
}

fn rubric(ui: &mut egui::Ui, state: &mut AppState, queue: &mut Vec<Command>) {
    let tokens = theme::of(ui);
    let Some(q) = &state.review.queue else { return };
    let focus = state.review.focus;
    egui::Grid::new("rubric").num_columns(2).spacing([12.0, 6.0]).show(ui, |ui| {
        for (i, d) in q.rubric.dimensions.iter().enumerate() {
            let label = egui::RichText::new(&d.label);
            ui.label(if i == focus { label.strong().color(tokens.accent) } else { label });
            ui.horizontal(|ui| {
                let current = state.review.values.get(&d.key).copied();
                for value in d.values() {
                    let text = match d.kind {
                        crate::review::DimensionKind::YesNo => {
                            if value == 1 {
                                "yes (1)".to_string()
                            } else {
                                "no (0)".to_string()
                            }
                        }
                        crate::review::DimensionKind::Scale { .. } => value.to_string(),
                    };
                    if ui.selectable_label(current == Some(value), text).clicked() {
                        queue.push(Command::Review(ReviewAction::Focus(i as i64 - focus as i64)));
                        queue.push(Command::Review(ReviewAction::Rate(value)));
                    }
                }
            });
            ui.end_row();
        }
    });
    ui.add_space(6.0);
    ui.add(
        egui::TextEdit::multiline(&mut state.review.comment)
            .hint_text("Comment (optional)")
            .desired_rows(2)
            .desired_width(f32::INFINITY),
    );
    ui.horizontal(|ui| {
        let label = ui.label("Reviewer");
        if state.review.reviewer.is_empty() {
            state.review.reviewer = crate::app::review::default_reviewer();
        }
        ui.add(egui::TextEdit::singleline(&mut state.review.reviewer).desired_width(140.0)).labelled_by(label.id);
        if ui.button("Submit (Enter)").clicked() {
            queue.push(Command::Review(ReviewAction::Submit));
        }
    });
    guidelines(ui, state, queue);
    let keys: Vec<String> = {
        let mut seen = std::collections::BTreeSet::new();
        review_keys()
            .into_iter()
            .filter(|(_, _, what)| seen.insert(*what))
            .map(|(_, _, what)| what.to_string())
            .collect()
    };
    ui.weak(format!("Keys: J/K or Left/Right move · Up/Down question · digits rate · Enter submit ({})", keys.len()));
}

/// The project's review guidelines (versioned markdown; each rating records the version in
/// force), shown as text and edited into a new version.
fn guidelines(ui: &mut egui::Ui, state: &mut AppState, queue: &mut Vec<Command>) {
    let current = state.review.queue.as_ref().and_then(|q| q.guidelines.clone());
    let title = match &current {
        Some((v, _)) => format!("Guidelines (version {v}, recorded with each rating)"),
        None => "Guidelines (none yet)".to_string(),
    };
    egui::CollapsingHeader::new(title).id_salt("review_guidelines").show(ui, |ui| {
        let draft = &mut state.review.guidelines_draft;
        match draft {
            None => {
                match &current {
                    Some((_, md)) => {
                        ui.label(md.as_str());
                    }
                    None => {
                        ui.weak("Write what reviewers should check, so that ratings stay comparable.");
                    }
                }
                if ui.small_button("Edit…").clicked() {
                    *draft = Some(current.as_ref().map(|(_, md)| md.clone()).unwrap_or_default());
                    // Typing goes to the editor, not to the review keys.
                    ui.memory_mut(|m| m.request_focus(egui::Id::unique("guidelines_editor")));
                }
            }
            Some(text) => {
                ui.add(
                    egui::TextEdit::multiline(text)
                        .id(egui::Id::unique("guidelines_editor"))
                        .desired_rows(6)
                        .desired_width(f32::INFINITY),
                );
                let mut cancel = false;
                ui.horizontal(|ui| {
                    let next = current.as_ref().map_or(1, |(v, _)| v + 1);
                    if ui.button(format!("Save as version {next}")).clicked() && !text.trim().is_empty() {
                        queue.push(Command::SaveGuidelines(text.clone()));
                    }
                    cancel = ui.small_button("Cancel").clicked();
                });
                if cancel {
                    *draft = None;
                }
            }
        }
    });
}
