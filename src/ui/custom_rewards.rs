//! The Training form's editor of declarative rewards (`[[custom_rewards]]`): add, change and
//! remove regex, answer-in-options, length-penalty and keyword rewards, each row saying what is
//! wrong with it until it is right (the form's check refuses Start meanwhile).

use eframe::egui;

use crate::domain::custom_reward::{CustomKind, CustomReward, Target};

fn kind_name(k: CustomKind) -> &'static str {
    match k {
        CustomKind::Regex => "regex",
        CustomKind::AnswerInOptions => "answer in options",
        CustomKind::LengthPenalty => "length penalty",
        CustomKind::Keyword => "keyword",
    }
}

fn target_name(t: Target) -> &'static str {
    match t {
        Target::Completion => "whole completion",
        Target::Think => "<think>",
        Target::Answer => "<answer>",
    }
}

/// A new reward named apart from `taken`: a keyword check on the reasoning, weight 0.1.
fn fresh(taken: &[CustomReward]) -> CustomReward {
    let name = (1..).map(|n| format!("custom_{n}")).find(|n| taken.iter().all(|c| &c.name != n)).unwrap_or_default();
    CustomReward {
        name,
        kind: CustomKind::Keyword,
        weight: 0.1,
        on: Target::Think,
        pattern: None,
        words: Vec::new(),
        absent: false,
        max_chars: None,
    }
}

/// The editor, collapsed under "Custom rewards (n)".
pub fn editor(ui: &mut egui::Ui, rewards: &mut Vec<CustomReward>, error: egui::Color32) {
    let header = format!("Custom rewards ({})", rewards.len());
    egui::CollapsingHeader::new(header).id_salt("custom-rewards").show(ui, |ui| {
        ui.weak("Added to the built-in rewards as weight × value and logged as rewards/<name>/mean; none counts as correct.");
        let mut remove = None;
        for (i, r) in rewards.iter_mut().enumerate() {
            ui.push_id(i, |ui| {
                row(ui, r, &mut remove, i);
                if let Some((field, why)) = r.problem() {
                    ui.colored_label(error, format!("⚠ {field}: {why}"));
                }
            });
            ui.separator();
        }
        if let Some(i) = remove {
            rewards.remove(i);
        }
        if ui.button("+ Add reward").on_hover_text("A keyword check on the reasoning; change it below").clicked() {
            let r = fresh(rewards);
            rewards.push(r);
        }
    });
}

fn row(ui: &mut egui::Ui, r: &mut CustomReward, remove: &mut Option<usize>, i: usize) {
    ui.horizontal_wrapped(|ui| {
        ui.add(egui::TextEdit::singleline(&mut r.name).id_salt("name").desired_width(110.0).hint_text("name"))
            .on_hover_text("Its name in the metrics: lower-case letters, digits and _");
        egui::ComboBox::from_id_salt("kind").selected_text(kind_name(r.kind)).show_ui(ui, |ui| {
            for k in [CustomKind::Regex, CustomKind::AnswerInOptions, CustomKind::LengthPenalty, CustomKind::Keyword] {
                ui.selectable_value(&mut r.kind, k, kind_name(k));
            }
        });
        if r.kind != CustomKind::AnswerInOptions {
            ui.label("on");
            egui::ComboBox::from_id_salt("on").selected_text(target_name(r.on)).show_ui(ui, |ui| {
                for t in [Target::Completion, Target::Think, Target::Answer] {
                    ui.selectable_value(&mut r.on, t, target_name(t));
                }
            });
        }
        ui.label("weight");
        ui.add(egui::DragValue::new(&mut r.weight).speed(0.01).range(-10.0..=10.0).clamp_existing_to_range(false));
        if ui.small_button("✖").on_hover_text("Remove this reward").clicked() {
            *remove = Some(i);
        }
    });
    match r.kind {
        CustomKind::Regex => {
            let mut p = r.pattern.clone().unwrap_or_default();
            let edit = egui::TextEdit::singleline(&mut p)
                .id_salt("pattern")
                .hint_text("pattern, e.g. (?i)\\bfracture\\b")
                .desired_width(240.0);
            if ui.add(edit).changed() {
                r.pattern = (!p.is_empty()).then_some(p);
            }
        }
        CustomKind::Keyword => {
            // Commas separate the words; each is trimmed when scored, so typing keeps its text.
            let mut w = r.words.join(",");
            let edit = egui::TextEdit::singleline(&mut w)
                .id_salt("words")
                .hint_text("words, comma-separated")
                .desired_width(240.0);
            if ui.add(edit).changed() {
                r.words = if w.is_empty() { Vec::new() } else { w.split(',').map(str::to_string).collect() };
            }
            ui.checkbox(&mut r.absent, "reward their absence");
        }
        CustomKind::LengthPenalty => {
            ui.horizontal(|ui| {
                let mut n = r.max_chars.unwrap_or(0);
                ui.label("characters allowed");
                if ui
                    .add(egui::DragValue::new(&mut n).speed(10.0).range(0..=100_000).clamp_existing_to_range(false))
                    .changed()
                {
                    r.max_chars = (n > 0).then_some(n);
                }
            });
        }
        CustomKind::AnswerInOptions => {
            ui.weak("1 when the <answer> names one of the item's options");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_reward_gets_a_free_name_and_says_what_it_still_needs() {
        let mut taken = vec![fresh(&[])];
        assert_eq!(taken[0].name, "custom_1");
        taken.push(fresh(&taken));
        assert_eq!(taken[1].name, "custom_2");
        assert_eq!(taken[0].problem().map(|p| p.0), Some("words"));
        taken[0].words = vec!["left".into(), " right".into()];
        assert_eq!(taken[0].problem(), None);
    }
}
