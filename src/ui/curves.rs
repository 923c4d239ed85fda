//! Live training curves (egui_plot), as W&B and TensorBoard users read them: one chart per GRPO
//! diagnostic (series of different scales on charts of their own), x axes and cursors linked, a
//! debiased EMA over the faint raw series, log-y by plotting log10. One colour per run and one line
//! style per series, with a legend above each chart in the lines' real colours and styles. The
//! wheel scrolls the page; Ctrl+wheel zooms, a right-drag box zooms, a double-click resets. Hovering
//! reads every shown series at the nearest step; a click pins that step, and the readout can be
//! copied. Updates never reset zoom: the plots keep their state.

use eframe::egui;
use egui_plot::{Line, LineStyle, Plot, PlotPoints};

use super::theme;
use std::collections::BTreeSet;

use crate::app::Command;
use crate::app::training::{TrainingState, charts};
use crate::metrics::ema_debiased;

/// The line style of the `i`-th series of a chart.
fn style(i: usize) -> LineStyle {
    match i % 3 {
        0 => LineStyle::Solid,
        1 => LineStyle::dashed_loose(),
        _ => LineStyle::dotted_dense(),
    }
}

/// A tick label by magnitude: `45`, `0.25`, `2.0e-4`, `1.5e6`.
pub fn tick_label(value: f64, step: f64) -> String {
    let a = value.abs();
    if a < step * 1e-6 {
        return "0".into();
    }
    if !(1e-3..1e5).contains(&a) || step < 1e-3 {
        return format!("{value:.1e}");
    }
    let decimals = (-step.log10().floor()).clamp(0.0, 3.0) as usize;
    format!("{value:.decimals$}")
}

/// A value in the hover readout: three decimals in the usual range, else scientific.
pub fn value_label(y: f64) -> String {
    if y == 0.0 {
        "0".into()
    } else if (1e-3..1e5).contains(&y.abs()) {
        format!("{y:.3}")
    } else {
        format!("{y:.2e}")
    }
}

/// One drawn series: legend name, colour, style, smoothed points.
struct Series {
    name: String,
    color: egui::Color32,
    style: LineStyle,
    points: Vec<[f64; 2]>,
}

fn series_of(t: &TrainingState, metrics: &[String], palette: &[egui::Color32]) -> Vec<(Series, Vec<[f64; 2]>)> {
    let weight = f64::from(t.curves.smoothing);
    let mut out = Vec::new();
    for (ri, id) in t.visible.iter().enumerate() {
        let Some(run) = t.runs.get(id) else { continue };
        let baseline = t.baseline == Some(*id);
        for (mi, m) in metrics.iter().enumerate() {
            let mut pts = run.points(m, t.curves.x_axis);
            if pts.is_empty() {
                continue;
            }
            if t.curves.log_y {
                pts.retain(|q| q[1] > 0.0);
                for q in &mut pts {
                    q[1] = q[1].log10();
                }
            }
            let ys: Vec<f64> = pts.iter().map(|q| q[1]).collect();
            let smooth = pts.iter().zip(ema_debiased(&ys, weight)).map(|(q, s)| [q[0], s]).collect();
            let short = m.trim_start_matches("rewards/").trim_end_matches("/mean");
            let mut name = if t.visible.len() > 1 { format!("#{id} {short}") } else { short.to_string() };
            if baseline {
                name.push_str(" (baseline)");
            }
            let color = palette[ri % palette.len()];
            out.push((Series { name, color, style: style(mi), points: smooth }, pts));
        }
    }
    out
}

/// The legend above a chart: each series' line sample in its real colour and style; a click on an
/// entry hides or shows that series (a hidden one is dimmed).
fn legend(ui: &mut egui::Ui, series: &[(Series, Vec<[f64; 2]>)], hidden: &BTreeSet<String>, queue: &mut Vec<Command>) {
    ui.horizontal_wrapped(|ui| {
        for (s, _) in series {
            let off = hidden.contains(&s.name);
            let color = if off { s.color.gamma_multiply(0.25) } else { s.color };
            let (rect, swatch) = ui.allocate_exact_size(egui::vec2(26.0, 12.0), egui::Sense::click());
            let y = rect.center().y;
            let stroke = egui::Stroke::new(2.0, color);
            let (a, b) = (rect.left(), rect.right());
            match s.style {
                LineStyle::Solid => {
                    ui.painter().line_segment([egui::pos2(a, y), egui::pos2(b, y)], stroke);
                }
                LineStyle::Dashed { .. } => {
                    for x in [a, a + 10.0, a + 20.0] {
                        ui.painter().line_segment([egui::pos2(x, y), egui::pos2((x + 6.0).min(b), y)], stroke);
                    }
                }
                LineStyle::Dotted { .. } => {
                    for i in 0..6 {
                        ui.painter().circle_filled(egui::pos2(a + 2.0 + 4.4 * i as f32, y), 1.2, color);
                    }
                }
            }
            let text = egui::RichText::new(&s.name).small();
            let label = ui.add(
                egui::Label::new(if off { text.weak().strikethrough() } else { text }).sense(egui::Sense::click()),
            );
            if swatch.clicked() || label.on_hover_text(if off { "Click to show" } else { "Click to hide" }).clicked() {
                queue.push(Command::ToggleCurve(s.name.clone()));
            }
        }
    });
}

/// Every series' value at the point nearest to `x`.
fn readout(series: &[(Series, Vec<[f64; 2]>)], x: f64, log_y: bool, x_label: &str) -> String {
    let mut parts = Vec::new();
    let mut at = x;
    for (s, _) in series {
        let Some(p) = s.points.iter().min_by(|a, b| (a[0] - x).abs().total_cmp(&(b[0] - x).abs())) else {
            continue;
        };
        at = p[0];
        let y = if log_y { 10f64.powf(p[1]) } else { p[1] };
        parts.push(format!("{} {}", s.name, value_label(y)));
    }
    format!("{x_label} {at:.0}: {}", parts.join(" · "))
}

/// Draws every chart that has data.
pub fn show(ui: &mut egui::Ui, t: &TrainingState, queue: &mut Vec<Command>) {
    let group = egui::Id::unique("training_curves");
    let tokens = theme::of(ui);
    let palette = theme::series_colors(ui.visuals().dark_mode);
    let log_y = t.curves.log_y;
    let smoothing = t.curves.smoothing > 0.0;
    let mut any = false;
    let height = ((ui.available_height() - 20.0) / 3.2).clamp(120.0, 220.0);
    ui.weak("Wheel scrolls · Ctrl+wheel zooms · right-drag a box to zoom · double-click resets · click pins a step");
    egui::ScrollArea::vertical().id_salt("curves_scroll").show(ui, |ui| {
        for (title, metrics) in charts(t) {
            let mut series = series_of(t, &metrics, &palette);
            if series.is_empty() {
                continue;
            }
            any = true;
            ui.label(egui::RichText::new(title).strong());
            legend(ui, &series, &t.curves.hidden, queue);
            series.retain(|(s, _)| !t.curves.hidden.contains(&s.name));
            let x_label = t.curves.x_axis.label();
            let plot = Plot::new(("curve", title))
                .height(height)
                .link_axis(group, [true, false])
                .link_cursor(group, [true, false])
                .allow_scroll(false)
                .allow_boxed_zoom(true)
                .x_axis_label(x_label)
                .label_formatter(|_| None)
                .x_axis_formatter(|m, _| tick_label(m.value, m.step_size))
                .y_axis_formatter(move |m, _| {
                    if log_y {
                        tick_label(10f64.powf(m.value), 10f64.powf(m.value) / 10.0)
                    } else {
                        tick_label(m.value, m.step_size)
                    }
                });
            let resp = plot.show(ui, |p| {
                for (s, raw) in &series {
                    if smoothing {
                        p.line(
                            Line::new(s.name.clone(), PlotPoints::from(raw.clone()))
                                .color(s.color.gamma_multiply(0.25))
                                .width(1.0),
                        );
                    }
                    p.line(
                        Line::new(s.name.clone(), PlotPoints::from(s.points.clone()))
                            .color(s.color)
                            .style(s.style)
                            .width(1.8),
                    );
                }
            });
            let pin_id = egui::Id::unique(("curve_pin", title));
            let hover_x = resp.response.hover_pos().map(|p| resp.transform.value_from_position(p).x);
            if resp.response.clicked()
                && let Some(x) = hover_x
            {
                ui.data_mut(|d| d.insert_temp(pin_id, x));
            }
            let pinned: Option<f64> = ui.data(|d| d.get_temp(pin_id));
            if let Some(x) = hover_x.or(pinned) {
                let text = readout(&series, x, log_y, x_label);
                ui.horizontal_wrapped(|ui| {
                    if pinned.is_some() && hover_x.is_none() {
                        ui.weak("📌");
                    }
                    ui.label(egui::RichText::new(&text).small());
                    if pinned.is_some() {
                        if ui.small_button("Copy").clicked() {
                            ui.ctx().copy_text(text.clone());
                        }
                        if ui.small_button("Unpin").clicked() {
                            ui.data_mut(|d| d.remove::<f64>(pin_id));
                        }
                    }
                });
            }
            ui.add_space(4.0);
        }
    });
    if !any {
        ui.colored_label(tokens.weak, "No metrics yet: start a run, or tick a finished run in the run list.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaid_runs_get_their_own_colour_and_series_their_own_style() {
        let mut t = TrainingState::default();
        for id in [3, 8] {
            let mut run = crate::metrics::RunSeries { name: format!("run {id}"), ..Default::default() };
            run.metrics.insert("reward".into(), vec![(1, 1.0), (2, 1.5)]);
            run.metrics.insert("rewards/format/mean".into(), vec![(1, 0.5), (2, 1.0)]);
            t.runs.insert(id, run);
            t.visible.insert(id);
        }
        let palette = theme::series_colors(true);
        let s = series_of(&t, &["reward".into(), "rewards/format/mean".into()], &palette);
        let names: Vec<&str> = s.iter().map(|(x, _)| x.name.as_str()).collect();
        assert_eq!(names, ["#3 reward", "#3 format", "#8 reward", "#8 format"]);
        assert_eq!(s[0].0.color, s[1].0.color, "one colour per run");
        assert_ne!(s[0].0.color, s[2].0.color, "two runs, two colours");
        assert_ne!(s[0].0.style, s[1].0.style, "one line style per series");
        assert_eq!(s[0].0.style, s[2].0.style);
    }

    #[test]
    fn ticks_are_formatted_by_magnitude() {
        assert_eq!(tick_label(45.0, 5.0), "45");
        assert_eq!(tick_label(0.25, 0.05), "0.25");
        assert_eq!(tick_label(2.0e-4, 5.0e-5), "2.0e-4");
        assert_eq!(tick_label(1e-5, 1e-6), "1.0e-5");
        assert_eq!(tick_label(0.0, 0.1), "0");
        assert_eq!(tick_label(1.5e6, 1e5), "1.5e6");
        assert_eq!(
            (value_label(0.69), value_label(2e-5), value_label(0.0)),
            ("0.690".into(), "2.00e-5".into(), "0".into())
        );
    }
}
