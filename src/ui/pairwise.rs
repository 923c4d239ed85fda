//! The blind A/B panel of the Review workspace: two traces of the item side by side as A (left)
//! and B (right), with neither step nor reward shown, the choice by key or button, progress and
//! the running tally (the later checkpoint's win rate and a sign test).

use eframe::egui;

use super::theme;
use crate::app::Command;
use crate::app::pairwise::{ab_keys, unit_of};
use crate::app::review::ReviewAction;
use crate::app::state::AppState;

/// Draws the session.
pub fn show(ui: &mut egui::Ui, state: &AppState, queue: &mut Vec<Command>) {
    let (Some(ab), Some(q)) = (&state.review.ab, &state.review.queue) else { return };
    let tokens = theme::of(ui);
    ui.horizontal_wrapped(|ui| {
        ui.strong(format!("Blind A/B · pair {} of {}", (ab.pos + 1).min(ab.pairs.len()), ab.pairs.len()));
        ui.weak(format!("· {} judged this session", ab.done));
        if ui.small_button("End (Esc)").clicked() {
            queue.push(Command::Review(ReviewAction::AbStop));
        }
    });
    ui.add(egui::ProgressBar::new(ab.pos as f32 / ab.pairs.len().max(1) as f32).desired_height(4.0));
    ui.weak(ab.tally.describe());
    let Some(pair) = ab.current() else {
        ui.add_space(8.0);
        ui.colored_label(
            tokens.ok,
            "Every pair is judged. The tally above counts every reviewer's judgments of this run.",
        );
        return;
    };
    let (left, right) = if pair.a_left { (pair.a.0, pair.b.0) } else { (pair.b.0, pair.a.0) };
    ui.columns(2, |cols| {
        for (col, (name, id)) in cols.iter_mut().zip([("A", left), ("B", right)]) {
            col.with_layout(egui::Layout::top_down(egui::Align::Min), |ui| {
                ui.heading(name);
                match unit_of(&q.all, id) {
                    Some(u) => {
                        let v = crate::review::trace::view(&u.rollout.completion);
                        ui.label(v.think.as_deref().unwrap_or(u.rollout.completion.trim()));
                        match v.answers.first() {
                            Some(a) => ui.strong(format!("Answer: {a}")),
                            None => ui.colored_label(tokens.warn, "no answer"),
                        };
                    }
                    None => {
                        ui.colored_label(tokens.warn, "this trace is no longer in the project");
                    }
                }
            });
        }
    });
    ui.add_space(6.0);
    ui.horizontal_wrapped(|ui| {
        for (label, left) in [("A is better (A)", Some(true)), ("Tie (T)", None), ("B is better (B)", Some(false))] {
            if ui.button(label).clicked() {
                queue.push(Command::Review(ReviewAction::AbChoose(left)));
            }
        }
    });
    let keys: Vec<&str> = ab_keys().into_iter().map(|(_, _, what)| what).collect();
    ui.weak(format!(
        "Which reasoning is better for this image and question? Steps and rewards are hidden; the sides are \
         random. Keys: A, B, T, Esc ({}).",
        keys.len()
    ));
}
