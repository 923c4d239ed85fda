//! Live training curves (egui_plot): one chart per GRPO diagnostic, x axes and cursors linked,
//! debiased EMA drawn over the raw series (faint), log-y by plotting log10, several runs overlaid
//! with a dashed baseline, hover read-out. Updates never reset zoom: the plots keep their state.

use eframe::egui;
use egui_plot::{Legend, Line, LineStyle, Plot, PlotPoints};

use super::theme;
use crate::app::training::{CHARTS, TrainingState};
use crate::metrics::ema_debiased;

/// Draws every chart that has data.
pub fn show(ui: &mut egui::Ui, t: &TrainingState) {
    let group = egui::Id::unique("training_curves");
    let tokens = theme::of(ui);
    let palette = theme::series_colors(ui.visuals().dark_mode);
    let weight = f64::from(t.curves.smoothing);
    let log_y = t.curves.log_y;
    let mut any = false;
    let height = ((ui.available_height() - 20.0) / 3.2).clamp(120.0, 220.0);
    egui::ScrollArea::vertical().id_salt("curves_scroll").show(ui, |ui| {
        for (title, metrics) in CHARTS {
            let has_data = t
                .visible
                .iter()
                .filter_map(|id| t.runs.get(id))
                .any(|r| metrics.iter().any(|m| r.metrics.get(*m).is_some_and(|v| !v.is_empty())));
            if !has_data {
                continue;
            }
            any = true;
            ui.label(egui::RichText::new(*title).strong());
            let x_label = t.curves.x_axis.label();
            let plot = Plot::new(("curve", *title))
                .height(height)
                .link_axis(group, [true, false])
                .link_cursor(group, [true, false])
                .legend(Legend::default())
                .x_axis_label(x_label)
                .label_formatter(move |h| {
                    let (name, p) = match h {
                        egui_plot::HoverPosition::NearDataPoint { plot_name, position, .. } => (*plot_name, *position),
                        egui_plot::HoverPosition::Elsewhere { position } => ("", *position),
                    };
                    let y = if log_y { 10f64.powf(p.y) } else { p.y };
                    Some(format!("{name}\n{x_label} {:.1}: {y:.4}", p.x))
                })
                .y_axis_formatter(
                    move |m, _| if log_y { format!("1e{:.0}", m.value) } else { format!("{:.3}", m.value) },
                );
            plot.show(ui, |p| {
                for (ri, id) in t.visible.iter().enumerate() {
                    let Some(run) = t.runs.get(id) else { continue };
                    let baseline = t.baseline == Some(*id);
                    for (mi, m) in metrics.iter().enumerate() {
                        let mut pts = run.points(m, t.curves.x_axis);
                        if pts.is_empty() {
                            continue;
                        }
                        if log_y {
                            pts.retain(|q| q[1] > 0.0);
                            for q in &mut pts {
                                q[1] = q[1].log10();
                            }
                        }
                        let color = palette[(ri * CHARTS.len() + mi) % palette.len()];
                        let name = if t.visible.len() > 1 { format!("{} · {m}", run.name) } else { (*m).to_string() };
                        let ys: Vec<f64> = pts.iter().map(|q| q[1]).collect();
                        let smooth: Vec<[f64; 2]> =
                            pts.iter().zip(ema_debiased(&ys, weight)).map(|(q, s)| [q[0], s]).collect();
                        if weight > 0.0 {
                            // Same name as the smoothed line: one legend entry toggles both.
                            p.line(
                                Line::new(name.clone(), PlotPoints::from(pts))
                                    .color(color.gamma_multiply(0.25))
                                    .width(1.0),
                            );
                        }
                        let mut line = Line::new(name, PlotPoints::from(smooth)).color(color).width(1.8);
                        if baseline {
                            line = line.style(LineStyle::dashed_loose());
                        }
                        p.line(line);
                    }
                }
            });
            ui.add_space(4.0);
        }
    });
    if !any {
        ui.colored_label(tokens.weak, "No metrics yet: start a run, or tick a finished run in the run list.");
    }
}
