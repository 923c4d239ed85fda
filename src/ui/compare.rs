//! The Review workspace's checkpoint comparison: one item's traces at two steps of the run side
//! by side (left: the trace under review's step; right: a scrubber over every step that has
//! rollouts of the item), with a word diff of the reasoning and each side's answer and reward.
//! Pinning keeps the item while moving through the queue.

use eframe::egui;

use super::theme;
use crate::app::review::{CompareState, ReviewQueue, ReviewUnit};
use crate::app::state::AppState;
use crate::review::diff::{Change, changed_fraction, word_diff};

/// The reasoning of a trace (its `<think>` text, else the whole completion).
fn reasoning(u: &ReviewUnit) -> String {
    let v = crate::review::trace::view(&u.rollout.completion);
    v.think.unwrap_or_else(|| u.rollout.completion.clone())
}

fn side(ui: &mut egui::Ui, title: &str, u: Option<&ReviewUnit>, key: Option<char>) {
    let tokens = theme::of(ui);
    ui.strong(title);
    let Some(u) = u else {
        ui.weak("no rollout of this item at this step");
        return;
    };
    let v = crate::review::trace::view(&u.rollout.completion);
    ui.horizontal_wrapped(|ui| {
        match (v.answers.first(), key) {
            (Some(a), Some(k)) if crate::review::trace::names_key(a, k) => {
                ui.colored_label(tokens.ok, format!("✔ {a}"))
            }
            (Some(a), Some(_)) => ui.colored_label(tokens.error, format!("✖ {a}")),
            (Some(a), None) => ui.label(format!("answer {a}")),
            (None, _) => ui.colored_label(tokens.warn, "no answer"),
        };
        ui.weak(format!("reward {:.2} · sample {}", u.rollout.reward, u.rollout.sample.1 + 1));
    });
    ui.label(reasoning(u));
}

/// Draws the comparison for the trace under review `unit`.
pub fn show(ui: &mut egui::Ui, state: &mut AppState, unit: &ReviewUnit) {
    let Some(q) = state.review.queue.as_ref() else { return };
    let c = &mut state.review.compare;
    let item = c.pinned.unwrap_or(unit.item_id);
    let steps = q.steps_of(item);
    let header = format!("Across checkpoints: {} steps with rollouts of this item", steps.len());
    egui::CollapsingHeader::new(header).id_salt("compare_checkpoints").show(ui, |ui| {
        if steps.is_empty() {
            ui.weak("The run has no rollouts of this item.");
            return;
        }
        let key = state.inspected.as_ref().filter(|i| i.id == item).and_then(|i| i.item.answer.letter());
        body(ui, q, c, item, unit, &steps, key);
    });
}

fn body(
    ui: &mut egui::Ui,
    q: &ReviewQueue,
    c: &mut CompareState,
    item: i64,
    unit: &ReviewUnit,
    steps: &[i64],
    key: Option<char>,
) {
    let first = steps.first().copied().unwrap_or(0);
    let last = steps.last().copied().unwrap_or(0);
    let default_a = if item == unit.item_id { unit.rollout.step } else { first };
    let a = c.step_a.filter(|s| steps.contains(s)).unwrap_or(default_a);
    // By default the other end of the run from the left step.
    let mut b = c.step_b.filter(|s| steps.contains(s)).unwrap_or(if last == a { first } else { last });
    ui.horizontal_wrapped(|ui| {
        let mut pinned = c.pinned.is_some();
        if ui
            .checkbox(&mut pinned, "📌 pin this item")
            .on_hover_text("Keep this item here while moving through the queue")
            .changed()
        {
            c.pinned = pinned.then_some(item);
        }
        ui.weak(format!("left: step {a}"));
        if ui.small_button("use the trace under review").clicked() {
            c.step_a = None;
            c.pinned = None;
        }
    });
    // The scrubber moves over the steps that have rollouts (index slider, step shown).
    let mut idx = steps.iter().position(|s| *s == b).unwrap_or(steps.len() - 1);
    ui.horizontal(|ui| {
        ui.label("right: step");
        let max = steps.len().saturating_sub(1);
        if ui
            .add(
                egui::Slider::new(&mut idx, 0..=max)
                    .custom_formatter(|i, _| steps.get(i as usize).map_or_else(String::new, ToString::to_string)),
            )
            .on_hover_text("Scrub through the run's checkpoints for this item")
            .changed()
        {
            c.step_b = steps.get(idx).copied();
        }
        if ui.small_button("◀").clicked() && idx > 0 {
            c.step_b = steps.get(idx - 1).copied();
        }
        if ui.small_button("▶").clicked() && idx < max {
            c.step_b = steps.get(idx + 1).copied();
        }
        if ui.small_button("next sample").clicked() {
            c.sample += 1;
        }
    });
    b = c.step_b.filter(|s| steps.contains(s)).unwrap_or(b);
    let left_traces = q.traces_at(item, a);
    let left = if item == unit.item_id && a == unit.rollout.step {
        Some(unit)
    } else {
        left_traces.get(c.sample % left_traces.len().max(1)).copied()
    };
    let right_traces = q.traces_at(item, b);
    let right = right_traces.get(c.sample % right_traces.len().max(1)).copied();
    ui.columns(2, |cols| {
        let top_down = egui::Layout::top_down(egui::Align::Min);
        let name = |s: i64| if s == 0 { "Base model".to_string() } else { format!("Step {s}") };
        cols[0].with_layout(top_down, |ui| side(ui, &name(a), left, key));
        cols[1].with_layout(top_down, |ui| side(ui, &name(b), right, key));
    });
    if let (Some(l), Some(r)) = (left, right) {
        let d = word_diff(&reasoning(l), &reasoning(r));
        let tokens = theme::of(ui);
        ui.separator();
        ui.weak(format!("Word diff, step {a} to step {b}: {:.0}% of words changed", changed_fraction(&d) * 100.0));
        let mut job = egui::text::LayoutJob::default();
        let font = egui::TextStyle::Body.resolve(ui.style());
        for (change, words) in &d {
            let mut fmt = egui::TextFormat::simple(font.clone(), ui.visuals().text_color());
            match change {
                Change::Same => {}
                Change::Removed => {
                    fmt.color = tokens.error;
                    fmt.strikethrough = egui::Stroke::new(1.0, tokens.error);
                }
                Change::Added => {
                    fmt.color = tokens.ok;
                    fmt.underline = egui::Stroke::new(1.0, tokens.ok);
                }
            }
            job.append(words, 0.0, fmt);
            job.append(" ", 0.0, egui::TextFormat::simple(font.clone(), ui.visuals().text_color()));
        }
        job.wrap.max_width = ui.available_width();
        ui.label(job);
    }
}
