//! `medvlm eval`: a model on a split of a project — accuracy by MedVLM-R1's strict parser and by
//! MedVLThinker's first-pass and regrade parsers, per modality and per source, the in-domain vs
//! out-of-domain view, and result files in both seeds' formats.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use super::{BarSink, Cli, require_project};
use crate::domain::prompt::PromptTemplate;
use crate::domain::{Split, VqaItem};
use crate::jobs::ProgressSink as _;
use crate::model::generate::Sampling;
use crate::store::Project;
use crate::train::eval::{EvalReport, Tally, evaluate};
use crate::train::inputs::{Loaded, ModelSource, load_usable_items};

/// `medvlm eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Model folder (a checkpoint too), or `sample` for the built-in medvlm-tiny.
    #[arg(long, default_value = "sample")]
    pub model: String,
    /// A PEFT LoRA adapter folder on the model.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    /// Weight dtype and QLoRA base.
    #[command(flatten)]
    pub compute: super::model::ComputeArgs,
    /// Split to evaluate.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Prompt template (medvlm-r1-eval, medvlm-r1-train, medvlthinker, ...).
    #[arg(long, default_value = "medvlm-r1-eval")]
    pub template: String,
    /// Evaluate at most this many items.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Maximum new tokens per answer.
    #[arg(long, default_value_t = 512)]
    pub max_new_tokens: usize,
    /// Items per generation batch.
    #[arg(long, default_value_t = 32, value_parser = batch_size)]
    pub batch: usize,
    /// Sampled runs to average (0 = one greedy run, as both seeds report).
    #[arg(long, default_value_t = 0)]
    pub samples: usize,
    /// Temperature of sampled runs.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Write result files here: summary.json, medvlm_r1_<modality>.json (MedVLM-R1's format),
    /// eval_results.jsonl and acc-eval_results.json (MedVLThinker's format).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn line(label: &str, t: &Tally) -> String {
    format!(
        "{label:<22} strict {:6.2}%  first-pass {:6.2}%  regrade {:6.2}%  format {:5.1}%  (n={})",
        t.accuracy(),
        t.pct(t.first_pass),
        t.pct(t.regrade),
        t.format_rate(),
        t.n
    )
}

fn batch_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=4096).contains(&n) => Ok(n),
        _ => Err(format!("{s:?}: the batch is a number of items from 1 to 4096")),
    }
}

pub(super) fn run(cli: &Cli, a: &EvalArgs) -> anyhow::Result<i32> {
    let path = require_project(cli)?;
    let project = Project::open(path).with_context(|| format!("opening {}", path.display()))?;
    let split = Split::parse(&a.split).with_context(|| format!("unknown split {:?}", a.split))?;
    let template = PromptTemplate::parse(&a.template).with_context(|| format!("unknown template {:?}", a.template))?;
    let source = ModelSource::parse(&a.model).with_adapter(a.adapter.clone());
    let chosen = crate::model::device::choose(super::model::backend(cli))?;
    let Loaded { vlm: model, processor, chosen, .. } =
        Loaded::open_on(&source, chosen, &a.compute.open(super::model::backend(cli)))
            .with_context(|| format!("loading {}", source.describe()))?;
    let all = project.items()?;
    let trained_on: BTreeSet<String> =
        all.iter().filter(|(_, i)| i.split == Split::Train).map(|(_, i)| i.modality.as_str().to_string()).collect();
    // Only the evaluated items' images are read and preprocessed, each when its batch comes; an
    // item whose image is missing on disk is skipped, as before.
    let usable = |i: &crate::domain::VqaItem| i.split == split && !i.images.first().is_some_and(|r| r.is_missing());
    let wanted: BTreeSet<&str> = all
        .iter()
        .filter(|(_, i)| usable(i))
        .map(|(_, i)| i.uid.as_str())
        .take(a.limit.unwrap_or(usize::MAX))
        .collect();
    let (items, skipped) = load_usable_items(&project, |i| wanted.contains(i.uid.as_str()))?;
    for (uid, why) in skipped.iter().take(20) {
        eprintln!("skipped {uid}: {why}");
    }
    if skipped.len() > 20 {
        eprintln!("... and {} more skipped", skipped.len() - 20);
    }
    if items.is_empty() {
        anyhow::bail!(
            "no items to evaluate in split {:?}{}",
            a.split,
            if skipped.is_empty() { String::new() } else { format!(" ({} skipped, see above)", skipped.len()) }
        );
    }
    let runs = a.samples.max(1);
    let bar = BarSink::new();
    let total = (items.len() * runs) as u64;
    let t0 = std::time::Instant::now();
    let mut reports = Vec::with_capacity(runs);
    for r in 0..runs {
        let sampling = if a.samples == 0 {
            Sampling { greedy: true, max_new_tokens: a.max_new_tokens, ..Sampling::default() }
        } else {
            Sampling {
                greedy: false,
                temperature: a.temperature,
                max_new_tokens: a.max_new_tokens,
                seed: 42 + r as u64,
                ..Sampling::default()
            }
        };
        let done = (r * items.len()) as u64;
        reports.push(evaluate(&model, &processor, &items, &template, &sampling, a.batch, &chosen.device, |k| {
            bar.update("Evaluating", done + k as u64, Some(total));
            true
        })?);
    }
    bar.finish();
    let rep = &reports[0];
    outln!(
        "{} items of split {} ({} run{}) in {:.1}s on {}",
        rep.total.n,
        a.split,
        runs,
        if runs > 1 { "s" } else { "" },
        t0.elapsed().as_secs_f64(),
        chosen.description
    );
    let avg = |f: &dyn Fn(&EvalReport) -> f64| reports.iter().map(f).sum::<f64>() / runs as f64;
    outln!("{}", line("all", &rep.total));
    if runs > 1 {
        outln!(
            "mean over {runs} runs: strict {:.2}%  regrade {:.2}%",
            avg(&|r| r.total.accuracy()),
            avg(&|r| r.total.pct(r.total.regrade))
        );
    }
    for (k, t) in &rep.by_modality {
        outln!("{}", line(&format!("modality {k}"), t));
    }
    for (k, t) in &rep.by_source {
        outln!("{}", line(&format!("source {k}"), t));
    }
    if !trained_on.is_empty() {
        let (mut ind, mut ood) = (Tally::default(), Tally::default());
        for (m, t) in &rep.by_modality {
            let dst = if trained_on.contains(m) { &mut ind } else { &mut ood };
            dst.n += t.n;
            dst.correct += t.correct;
            dst.formatted += t.formatted;
            dst.first_pass += t.first_pass;
            dst.regrade += t.regrade;
        }
        let names = trained_on.iter().cloned().collect::<Vec<_>>().join(", ");
        outln!("{}", line(&format!("in-domain ({names})"), &ind));
        outln!("{}", line("out-of-domain", &ood));
    }
    for (uid, why) in &reports[0].skipped {
        eprintln!("skipped {uid}: {why}");
    }
    if let Some(out) = &a.out {
        // Records follow the items evaluated (an image that no longer decoded is in `skipped`).
        let evaluated: Vec<&VqaItem> =
            items.iter().map(|(i, _)| i).filter(|i| !reports[0].skipped.iter().any(|(u, _)| *u == i.uid)).collect();
        write_outputs(out, &evaluated, &reports, &template)?;
        eprintln!("wrote results to {}", out.display());
    }
    Ok(0)
}

fn write_outputs(
    out: &std::path::Path,
    items: &[&VqaItem],
    reports: &[EvalReport],
    template: &PromptTemplate,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let rep = &reports[0];
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&json!({
            "total": rep.total, "by_modality": rep.by_modality, "by_source": rep.by_source, "runs": reports.len(),
            "strict_accuracy_per_run": reports.iter().map(|r| r.total.accuracy()).collect::<Vec<_>>(),
        }))?,
    )?;
    // MedVLM-R1 (`test_qwen2vl_med.py`): one file per modality slice.
    let mut by_mod: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for (item, r) in items.iter().zip(&rep.records) {
        by_mod.entry(item.modality.as_str().to_string()).or_default().push(json!({
            "question": {"image": item.images.iter().map(|i| i.path.clone()).collect::<Vec<_>>(), "problem": item.problem_text(),
                         "solution": r.key.map(|k| k.to_string()), "question": item.question, "options": item.options,
                         "answer": item.answer_text(), "dataset": item.source, "subset": item.modality.as_str()},
            "ground_truth": r.key.map(|k| k.to_string()), "model_output": r.output, "extracted_answer": r.extracted.map(|c| c.to_string()),
        }));
    }
    for (m, results) in by_mod {
        let acc = rep.by_modality.get(&m).map_or(0.0, |t| t.accuracy() / 100.0);
        let name = format!("medvlm_r1_{}.json", m.to_lowercase().replace('-', ""));
        std::fs::write(out.join(name), serde_json::to_string_pretty(&json!({ "accuracy": acc, "results": results }))?)?;
    }
    // MedVLThinker (`run_offline_inference.py` + regrade): eval_results.jsonl and acc-eval_results.json.
    let mut lines = String::new();
    let (mut correct_by_ds, mut n_by_ds): (BTreeMap<String, f64>, BTreeMap<String, usize>) =
        (BTreeMap::new(), BTreeMap::new());
    for (i, item) in items.iter().enumerate() {
        let parsed: Vec<serde_json::Value> = reports.iter().map(|r| {
            let rec = &r.records[i];
            json!({"output_text": rec.output, "pred_letter": rec.extracted.map(|c| c.to_string()), "is_correct": rec.regrade.1})
        }).collect();
        let n_correct = reports.iter().filter(|r| r.records[i].regrade.1).count();
        lines.push_str(&serde_json::to_string(&json!({
            "dp_index": i, "prompts": template.render(item), "dataset_name": item.source,
            "dataset_index": item.meta.get("dataset_index").cloned().unwrap_or(json!(item.uid)),
            "answer_label": item.answer_letter().map(|c| c.to_string()), "answer": item.answer_text(),
            "parsed_outputs": parsed, "num_rollouts": reports.len(), "num_correct": n_correct,
        }))?);
        lines.push('\n');
        *correct_by_ds.entry(item.source.clone()).or_default() += n_correct as f64 / reports.len() as f64;
        *n_by_ds.entry(item.source.clone()).or_default() += 1;
    }
    std::fs::write(out.join("eval_results.jsonl"), lines)?;
    let acc: BTreeMap<&String, f64> = n_by_ds.iter().map(|(k, n)| (k, correct_by_ds[k] / *n as f64)).collect();
    std::fs::write(
        out.join("acc-eval_results.json"),
        serde_json::to_string_pretty(&json!({
            "accuracy_total": acc, "results_num_samples_by_dataset_name": n_by_ds,
            "total_num_rollouts": items.len() * reports.len(), "num_samples": items.len(),
            "total_num_correct": reports.iter().map(|r| r.total.regrade).sum::<usize>(),
        }))?,
    )?;
    Ok(())
}
