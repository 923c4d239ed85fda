//! `medvlm train` (a GRPO run with a progress bar and one metric line per log step) and
//! `medvlm runs list|export` (trainer_state.json-style `log_history`, or CSV).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};

use super::{BarSink, Cli, require_project};
use crate::jobs::ProgressSink as _;
use crate::store::Project;
use crate::train::grpo::config::GrpoConfig;
use crate::train::grpo::runner::{RunControl, RunEvent, RunSpec, run};

/// `medvlm train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Start from a preset (medvlm-r1, medvlthinker, tiny-demo).
    #[arg(long, conflicts_with = "config")]
    pub preset: Option<String>,
    /// A TOML config (may itself name a `preset` to start from).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override the number of steps.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Resume run ID from its last checkpoint (its stored config is used).
    #[arg(long, value_name = "RUN")]
    pub resume: Option<i64>,
    /// Run name.
    #[arg(long)]
    pub name: Option<String>,
    /// Log a metric line every N steps.
    #[arg(long, default_value_t = 1)]
    pub log_steps: usize,
    /// Start from this PEFT LoRA adapter folder (its adapters are trained further).
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    /// Weight dtype (f32, bf16, f16), overriding the config's `dtype`; half precision trains LoRA.
    #[arg(long, value_parser = crate::model::precision::Precision::parse)]
    pub dtype: Option<crate::model::precision::Precision>,
    /// Print the pre-flight check (prompt and image token lengths, items left out and why, the
    /// estimated step time) and the memory plan (weights, adapters, optimizer, activations, KV
    /// cache), then exit: status 0 when the run can start, 3 when it does not fit the memory, 4
    /// when the pre-flight check refuses it (the fixes are printed).
    #[arg(long)]
    pub dry_run: bool,
}

/// `medvlm runs`.
#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RunsCommand,
}

/// Run subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RunsCommand {
    /// List the runs of a project.
    List,
    /// Export a run's metrics.
    Export {
        /// Run id or `latest`.
        #[arg(long, default_value = "latest")]
        run: String,
        /// `trainer-state` (JSON with `log_history`) or `csv`.
        #[arg(long, default_value = "trainer-state")]
        format: String,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

fn fmt_metric(m: &std::collections::BTreeMap<String, f64>, k: &str) -> String {
    m.get(k).map_or("-".into(), |v| format!("{v:.3}"))
}

/// One metric line per logged step; GPU steps that compiled kernels say how many.
fn step_line(step: usize, m: &std::collections::BTreeMap<String, f64>) -> String {
    use crate::train::grpo::metrics::names::*;
    let gpu = match (m.get(KERNELS_COMPILED), m.get(AUTOTUNE_RUNS)) {
        (Some(&k), Some(&a)) if k + a > 0.0 => format!(" (+{k:.0} kernels, {a:.0} autotune)"),
        _ => String::new(),
    };
    let dynamic = match (m.get(DYNAMIC_DROPPED), m.get(DYNAMIC_ROUNDS)) {
        (Some(d), Some(r)) => format!(" dropped {d:.0} all-equal groups in {r:.0} rounds"),
        _ => String::new(),
    };
    format!(
        "step {step:>4} reward {} (acc {} fmt {}) std {} zero_std {} len {} kl {} loss {} grad {} {:.2}s{gpu}{dynamic}",
        fmt_metric(m, REWARD),
        fmt_metric(m, &reward_mean("accuracy")),
        fmt_metric(m, &reward_mean("format")),
        fmt_metric(m, REWARD_STD),
        fmt_metric(m, FRAC_ZERO_STD),
        fmt_metric(m, MEAN_LENGTH),
        fmt_metric(m, KL),
        fmt_metric(m, LOSS),
        fmt_metric(m, GRAD_NORM),
        m.get(STEP_TIME).copied().unwrap_or(0.0),
    )
}

pub(super) fn train(cli: &Cli, a: &TrainArgs) -> anyhow::Result<i32> {
    let project = require_project(cli)?.clone();
    let mut config = match (&a.preset, &a.config) {
        (_, Some(path)) => GrpoConfig::from_file(path).map_err(anyhow::Error::msg)?,
        (Some(p), None) => GrpoConfig::preset(p)
            .with_context(|| format!("unknown preset {p:?} ({})", GrpoConfig::PRESETS.join(", ")))?,
        (None, None) if a.resume.is_some() => GrpoConfig::default(),
        (None, None) => bail!("give --preset NAME or --config FILE (or --resume RUN)"),
    };
    if let Some(s) = a.steps {
        config.steps = s;
    }
    if let Some(d) = a.dtype {
        config.dtype = d;
    }
    if let Some(d) = &a.adapter {
        config.adapter = Some(d.display().to_string());
    }
    config.validate().map_err(|e| anyhow::anyhow!("config {e}"))?;
    if a.dry_run {
        return dry_run(cli, &project, &config);
    }
    let spec = RunSpec {
        project,
        name: a.name.clone().unwrap_or_else(|| format!("{}-{}", config.preset, crate::util::now_rfc3339())),
        config: config.clone(),
        resume: a.resume,
        backend: super::model::backend(cli),
    };
    let control = Arc::new(RunControl::default());
    let bar = BarSink::new();
    let log_every = a.log_steps.max(1);
    let sink = |e: RunEvent| match e {
        RunEvent::Started { run, first_step, steps, device } => {
            eprintln!("run {run}: steps {}..{steps} on {device}", first_step + 1);
        }
        RunEvent::Preparing { done, total } => {
            if bar.is_hidden() {
                eprintln!("Preparing GPU kernels {done}/{total}");
            }
            bar.update("Preparing GPU kernels", done as u64, Some(total as u64));
        }
        RunEvent::Planned { plan, limit } => bar.println(&format!(
            "memory plan ({} available):\n{}",
            limit.map_or("GPU size not reported; set memory_limit_gb".into(), crate::train::memory::gb),
            plan.table()
        )),
        RunEvent::Prepared(p) => bar.println(&format!(
            "GPU kernels prepared in {:.1}s ({} shapes: {} kernels compiled, {} autotune runs)",
            p.seconds, p.shapes, p.counts.compiled, p.counts.autotuned
        )),
        RunEvent::Step { step, metrics, .. } => {
            if step % log_every == 0 {
                bar.println(&step_line(step, &metrics));
            }
            bar.update("GRPO", step as u64, Some(config.steps as u64));
        }
        RunEvent::Checkpoint { step, path } => bar.println(&format!("checkpoint at step {step}: {}", path.display())),
        RunEvent::Warning(text) => eprintln!("warning: {text}"),
        RunEvent::Ended { status, message } => {
            bar.finish();
            eprintln!("run {status}{}", message.map(|m| format!(": {m}")).unwrap_or_default());
        }
    };
    let id = run(&spec, &control, &sink)?;
    outln!(
        "run {id} done; export with: medvlm runs export --project {} --run {id} --format trainer-state --out trainer_state.json",
        spec.project.display()
    );
    Ok(0)
}

pub(super) fn runs(cli: &Cli, a: &RunsArgs) -> anyhow::Result<i32> {
    let path = require_project(cli)?;
    let project = Project::open(path).with_context(|| format!("opening {}", path.display()))?;
    match &a.command {
        RunsCommand::List => {
            outln!("{:>4}  {:<10} {:<9} {:>6}  {:<21} name", "id", "kind", "status", "steps", "started");
            for r in project.runs()? {
                outln!(
                    "{:>4}  {:<10} {:<9} {:>6}  {:<21} {}",
                    r.id,
                    r.kind,
                    r.status,
                    r.last_step.unwrap_or(0),
                    r.started_at,
                    r.name
                );
            }
            Ok(0)
        }
        RunsCommand::Export { run, format, out } => {
            let runs = project.runs()?;
            let row = if run == "latest" { runs.first() } else { runs.iter().find(|r| r.id.to_string() == *run) }
                .with_context(|| format!("no run {run} in {}", path.display()))?;
            let metrics = project.run_metrics(row.id)?;
            let steps = project.run_steps(row.id)?;
            let names: BTreeSet<&String> = metrics.keys().collect();
            let value = |name: &str, step: i64| {
                metrics.get(name).and_then(|v| v.iter().find(|(s, _)| *s == step)).map(|(_, v)| *v)
            };
            match format.as_str() {
                "trainer-state" => {
                    let history: Vec<serde_json::Value> = steps
                        .iter()
                        .map(|s| {
                            let mut o = serde_json::Map::new();
                            for n in &names {
                                if let Some(v) = value(n, s.step) {
                                    o.insert((*n).clone(), serde_json::json!(v));
                                }
                            }
                            o.insert("step".into(), serde_json::json!(s.step));
                            serde_json::Value::Object(o)
                        })
                        .collect();
                    let doc = serde_json::json!({
                        "global_step": steps.last().map_or(0, |s| s.step),
                        "max_steps": serde_json::from_str::<serde_json::Value>(&row.config_json).ok().and_then(|c| c.get("steps").cloned()),
                        "log_history": history,
                        "medvlm_run": {"id": row.id, "name": row.name, "status": row.status, "seed": row.seed, "code_version": row.code_version},
                    });
                    std::fs::write(out, serde_json::to_string_pretty(&doc)?)
                        .with_context(|| format!("writing {}", out.display()))?;
                }
                "csv" => {
                    let mut w = csv::Writer::from_path(out).with_context(|| format!("writing {}", out.display()))?;
                    let mut header =
                        vec!["step".to_string(), "wall_time".into(), "samples_seen".into(), "tokens_seen".into()];
                    header.extend(names.iter().map(|n| (*n).clone()));
                    w.write_record(&header)?;
                    for s in &steps {
                        let mut rec = vec![
                            s.step.to_string(),
                            format!("{:.3}", s.wall_time),
                            s.samples_seen.to_string(),
                            s.tokens_seen.to_string(),
                        ];
                        rec.extend(names.iter().map(|n| value(n, s.step).map_or(String::new(), |v| v.to_string())));
                        w.write_record(&rec)?;
                    }
                    w.flush()?;
                }
                other => bail!("unknown --format {other:?} (trainer-state or csv)"),
            }
            eprintln!("wrote {} steps of run {} to {}", steps.len(), row.id, out.display());
            Ok(0)
        }
    }
}

fn dry_run(cli: &Cli, project: &std::path::Path, config: &GrpoConfig) -> anyhow::Result<i32> {
    use crate::train::grpo::planning;
    let p = Project::open(project).with_context(|| format!("opening {}", project.display()))?;
    let gpu = match super::model::backend(cli) {
        crate::model::device::BackendChoice::Cpu => false,
        choice => crate::model::device::choose(choice).is_ok_and(|c| c.gpu),
    };
    let (checked, plan) = planning::dry_run(&p, config, gpu)?;
    outln!("pre-flight check of {} on {} ({} split):", config.preset, config.model, config.split);
    outln!("{}", checked.table());
    if let Some(why) = checked.blocker() {
        outln!("REFUSED: {why}");
        for f in checked.fixes() {
            outln!("  fix: {}", f.label());
        }
        return Ok(4);
    }
    let limit = planning::limit(config, gpu);
    outln!("memory plan for {} on {}:", config.preset, config.model);
    outln!("{}", plan.table());
    match limit {
        Some(l) => {
            let need = planning::needed(&plan, gpu);
            let verdict = if need <= l { "fits" } else { "does NOT fit" };
            outln!("  {:<34} {} ({verdict})", "available", crate::train::memory::gb(l));
            Ok(if need <= l { 0 } else { 3 })
        }
        None => {
            outln!("  available: the GPU does not report its size through wgpu; set memory_limit_gb to check");
            Ok(0)
        }
    }
}
