//! Metric series for display and export: TensorBoard's debiased EMA, x-axis choices, and CSV of
//! exactly what is shown (raw and smoothed). Pure; no UI imports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::StepInfo;

/// Debiased exponential moving average (TensorBoard >= 1.x): `last = w*last + (1-w)*y`, divided by
/// `1 - w^n` so the first points are not pulled towards zero. NaN/inf inputs are skipped (the output
/// repeats the previous smoothed value). `weight` is clamped to `[0, 0.999]`.
pub fn ema_debiased(values: &[f64], weight: f64) -> Vec<f64> {
    let w = weight.clamp(0.0, 0.999);
    let (mut last, mut n) = (0.0, 0i32);
    let mut out = Vec::with_capacity(values.len());
    let mut prev = f64::NAN;
    for &y in values {
        if y.is_finite() {
            last = last * w + (1.0 - w) * y;
            n += 1;
            let debias = if w == 0.0 { 1.0 } else { 1.0 - w.powi(n) };
            prev = last / debias;
        }
        out.push(prev);
    }
    out
}

/// What the x axis shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum XAxis {
    /// Optimizer step.
    #[default]
    Step,
    /// Completions generated.
    Samples,
    /// Seconds since the run's first step.
    WallTime,
}

impl XAxis {
    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Step => "step",
            Self::Samples => "samples seen",
            Self::WallTime => "wall time (s)",
        }
    }
}

/// A run's metrics in memory.
#[derive(Debug, Clone, Default)]
pub struct RunSeries {
    /// Display name.
    pub name: String,
    /// Status.
    pub status: crate::store::RunStatus,
    /// Per-step x values.
    pub steps: Vec<StepInfo>,
    /// name -> (step, value).
    pub metrics: BTreeMap<String, Vec<(i64, f64)>>,
    /// Why the run ended, when it failed or stopped with a message.
    pub message: Option<String>,
    /// The run's full config (JSON), to start another run from.
    pub config_json: String,
}

impl RunSeries {
    /// Appends one step (in order; a repeated or older step replaces nothing and is ignored).
    pub fn push(&mut self, info: StepInfo, metrics: &BTreeMap<String, f64>) {
        if self.steps.last().is_some_and(|s| s.step >= info.step) {
            return;
        }
        self.steps.push(info);
        for (k, v) in metrics {
            self.metrics.entry(k.clone()).or_default().push((info.step, *v));
        }
    }

    /// `(x, y)` points of a metric on the chosen axis.
    pub fn points(&self, metric: &str, axis: XAxis) -> Vec<[f64; 2]> {
        let Some(series) = self.metrics.get(metric) else { return vec![] };
        let t0 = self.steps.first().map_or(0.0, |s| s.wall_time);
        let x_of = |step: i64| -> Option<f64> {
            match axis {
                XAxis::Step => Some(step as f64),
                _ => {
                    let s = self.steps.iter().find(|s| s.step == step)?;
                    Some(if axis == XAxis::Samples { s.samples_seen as f64 } else { s.wall_time - t0 })
                }
            }
        };
        series.iter().filter_map(|&(step, y)| x_of(step).map(|x| [x, y])).collect()
    }
}

/// CSV of shown series: `run,metric,x,raw,smoothed` (x on the chosen axis).
pub fn to_csv(series: &[(String, String, Vec<[f64; 2]>)], weight: f64, axis: XAxis) -> String {
    let mut s = format!("run,metric,{},raw,smoothed\n", axis.label().replace(' ', "_"));
    for (run, metric, pts) in series {
        let ys: Vec<f64> = pts.iter().map(|p| p[1]).collect();
        for (p, sm) in pts.iter().zip(ema_debiased(&ys, weight)) {
            s.push_str(&format!("{run},{metric},{},{},{}\n", p[0], p[1], sm));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_is_unbiased_at_the_start() {
        // A constant series stays constant from the very first point (plain EMA would start at 0.4*c).
        let s = ema_debiased(&[5.0, 5.0, 5.0], 0.6);
        assert!(s.iter().all(|v| (v - 5.0).abs() < 1e-12), "{s:?}");
        // Weight 0 is the raw series; NaN is skipped.
        assert_eq!(ema_debiased(&[1.0, 2.0], 0.0), vec![1.0, 2.0]);
        let s = ema_debiased(&[1.0, f64::NAN, 3.0], 0.5);
        assert_eq!(s[0], 1.0);
        assert_eq!(s[1], 1.0);
        // second finite point: last = 0.5*0.5 + 0.5*3 = 1.75, debias 1-0.25 = 0.75 -> 2.333..
        assert!((s[2] - 1.75 / 0.75).abs() < 1e-12);
    }

    #[test]
    fn csv_has_raw_and_smoothed() {
        let csv = to_csv(&[("r1".into(), "reward".into(), vec![[1.0, 2.0], [2.0, 4.0]])], 0.0, XAxis::Step);
        assert_eq!(csv, "run,metric,step,raw,smoothed\nr1,reward,1,2,2\nr1,reward,2,4,4\n");
    }
}
