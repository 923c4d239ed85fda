//! Checkpoint comparison: greedy evaluation of a run's base model and each of its checkpoints on a
//! split (MedVLM-R1's strict parser, per modality, in-domain vs out-of-domain). Each is an `eval`
//! run whose parent is the training run, with its configuration, its per-item outputs
//! (`eval_results`) and its summary (`checkpoint_scores`), so the Training workspace can show the
//! table after a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::eval::{Tally, evaluate};
use super::grpo::config::GrpoConfig;
use super::grpo::runner::RunError;
use super::inputs::{Loaded, ModelSource, OpenOptions, load_items_where};
use crate::domain::Split;
use crate::domain::prompt::PromptTemplate;
use crate::jobs::ProgressSink;
use crate::model::device::{BackendChoice, choose};
use crate::model::generate::Sampling;
use crate::store::{EvalResultRow, Project, RunKind, RunStatus};

/// One evaluated model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckpointScore {
    /// GRPO run id.
    pub run: i64,
    /// `base` or `step N`.
    pub label: String,
    /// Step (0 = the base model).
    pub step: i64,
    /// Split evaluated.
    pub split: String,
    /// Strict accuracy overall, in percent.
    pub all: f64,
    /// Strict accuracy per modality, in percent.
    pub by_modality: BTreeMap<String, f64>,
    /// Accuracy on the modalities the run trained on.
    pub in_domain: f64,
    /// Accuracy on the other modalities.
    pub out_of_domain: f64,
    /// Format-valid rate, in percent.
    pub format: f64,
    /// Items.
    pub n: usize,
}

fn merge(ts: &[&Tally]) -> Tally {
    let mut t = Tally::default();
    for x in ts {
        t.n += x.n;
        t.correct += x.correct;
        t.formatted += x.formatted;
    }
    t
}

/// Evaluates the base model and every checkpoint of `run` on `split` (greedy, the MedVLM-R1
/// evaluation prompt), storing each score. Checkpoints already scored on the split are skipped.
///
/// # Errors
/// Store, model and image errors.
pub fn compare_checkpoints(
    project_path: &Path,
    run: i64,
    split: Split,
    sink: &dyn ProgressSink,
) -> Result<Vec<CheckpointScore>, RunError> {
    let mut project = Project::open(project_path)?;
    let row =
        project.runs()?.into_iter().find(|r| r.id == run).ok_or_else(|| RunError::Config(format!("no run {run}")))?;
    let cfg: GrpoConfig =
        serde_json::from_str(&row.config_json).map_err(|e| RunError::Config(format!("run {run} config: {e}")))?;
    let base = ModelSource::parse(&cfg.model).with_adapter(cfg.adapter.as_ref().map(PathBuf::from));
    let mut targets: Vec<(i64, String, ModelSource)> = vec![(0, "base".into(), base)];
    for c in project.checkpoints(run)? {
        let dir = project.resolve_image(&c.path);
        targets.push((c.step, format!("step {}", c.step), ModelSource::checkpoint(&cfg.model, &dir)));
    }
    let done: BTreeSet<(i64, String)> =
        scores(&project)?.into_iter().filter(|s| s.run == run).map(|s| (s.step, s.split)).collect();
    let chosen = choose(BackendChoice::Auto)?;
    let dev = chosen.device.clone();
    let template = PromptTemplate::MedvlmR1Eval;
    let sampling = Sampling { greedy: true, max_new_tokens: 160, ..Sampling::default() };
    let trained: BTreeSet<String> = if cfg.modalities.is_empty() {
        project
            .item_rows()?
            .iter()
            .filter(|r| r.split == Split::Train)
            .map(|r| r.modality.as_str().to_string())
            .collect()
    } else {
        cfg.modalities.iter().cloned().collect()
    };
    let total = targets.len() as u64;
    let ids: std::collections::HashMap<String, i64> = project.item_rows()?.into_iter().map(|r| (r.uid, r.id)).collect();
    let mut items = Vec::new();
    let mut out = Vec::new();
    for (k, (step, label, source)) in targets.into_iter().enumerate() {
        sink.update(&format!("evaluating {label}"), k as u64, Some(total));
        if sink.is_cancelled() {
            break;
        }
        if done.contains(&(step, split.as_str().to_string())) {
            continue;
        }
        let Loaded { vlm: model, processor, .. } = Loaded::open_on(&source, chosen.clone(), &OpenOptions::default())?;
        if items.is_empty() {
            items = load_items_where(&project, |i| i.split == split)
                .map_err(|e| RunError::Config(e.to_string()))?
                .into_iter()
                .filter(|(i, path)| i.answer_letter().is_some() && (path.is_some() || i.images.is_empty()))
                .collect();
        }
        // A cancel stops after the batch under way; a checkpoint evaluated in part is not scored.
        let rep = evaluate(&model, &processor, &items, &template, &sampling, 32, &dev, |n| {
            sink.update(&format!("evaluating {label}: {n} of {} items", items.len()), k as u64, Some(total));
            !sink.is_cancelled()
        })?;
        if sink.is_cancelled() {
            break;
        }
        let ind: Vec<&Tally> = rep.by_modality.iter().filter(|(m, _)| trained.contains(*m)).map(|(_, t)| t).collect();
        let ood: Vec<&Tally> = rep.by_modality.iter().filter(|(m, _)| !trained.contains(*m)).map(|(_, t)| t).collect();
        let score = CheckpointScore {
            run,
            label: label.clone(),
            step,
            split: split.as_str().into(),
            all: rep.total.accuracy(),
            by_modality: rep.by_modality.iter().map(|(m, t)| (m.clone(), t.accuracy())).collect(),
            in_domain: merge(&ind).accuracy(),
            out_of_domain: merge(&ood).accuracy(),
            format: rep.total.format_rate(),
            n: rep.total.n,
        };
        let json = serde_json::to_string(&score).unwrap_or_default();
        let eval_cfg = serde_json::json!({
            "model": source.describe(), "split": split.as_str(), "template": template.name(),
            "sampling": sampling, "parent_run": run, "step": step,
        });
        let id = project.create_child_run(
            &format!("eval run {run} {label}"),
            RunKind::Eval,
            &eval_cfg.to_string(),
            0,
            Some(run),
        )?;
        let uid_to_id: std::collections::HashMap<&str, i64> =
            items.iter().filter_map(|(i, _)| Some((i.uid.as_str(), *ids.get(&i.uid)?))).collect();
        let results: Vec<EvalResultRow> = rep
            .records
            .iter()
            .filter_map(|r| {
                Some(EvalResultRow {
                    item_id: *uid_to_id.get(r.uid.as_str())?,
                    sample_index: 0,
                    output: r.output.clone(),
                    parsed_json: serde_json::json!({
                        "strict": {"answer": r.extracted.map(|c| c.to_string()), "correct": r.correct, "format_ok": r.format_ok},
                        "first_pass": {"answer": r.first_pass.0, "correct": r.first_pass.1},
                        "regrade": {"answer": r.regrade.0, "correct": r.regrade.1},
                    })
                    .to_string(),
                })
            })
            .collect();
        project.add_checkpoint_score(run, id, (step, &label, split.as_str()), &json, &results)?;
        project.set_run_status(id, RunStatus::Finished, None)?;
        out.push(score);
    }
    sink.update("evaluated", total, Some(total));
    Ok(out)
}

/// Every stored checkpoint score in the project.
///
/// # Errors
/// SQLite errors.
pub fn scores(project: &Project) -> Result<Vec<CheckpointScore>, crate::store::StoreError> {
    Ok(project
        .checkpoint_scores()?
        .into_iter()
        .filter_map(|r| serde_json::from_str::<CheckpointScore>(&r.scores_json).ok())
        .collect())
}
