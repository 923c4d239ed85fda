//! Evaluations of a training run's checkpoints: each is an `eval` run whose parent is the training
//! run, its per-item outputs in `eval_results`, and its summary in `checkpoint_scores`.

use rusqlite::params;

use super::{Project, Result};

/// One item's evaluation output.
#[derive(Debug, Clone)]
pub struct EvalResultRow {
    /// Item row id.
    pub item_id: i64,
    /// Sample index (0 for greedy).
    pub sample_index: usize,
    /// The model's output.
    pub output: String,
    /// Parsers' answers and correctness, JSON.
    pub parsed_json: String,
}

/// A checkpoint's stored score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRow {
    /// The training run.
    pub run: i64,
    /// The evaluation run.
    pub eval_run: i64,
    /// Step (0: the base model).
    pub step: i64,
    /// Split evaluated.
    pub split: String,
    /// The summary, JSON.
    pub scores_json: String,
}

impl Project {
    /// Stores an evaluation of `run` at `step`: its per-item results and summary, in one transaction.
    ///
    /// # Errors
    /// SQLite errors (nothing is written then).
    pub fn add_checkpoint_score(
        &mut self,
        run: i64,
        eval_run: i64,
        (step, label, split): (i64, &str, &str),
        scores_json: &str,
        results: &[EvalResultRow],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR REPLACE INTO eval_results(run_id, item_id, sample_index, output, parsed_json) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for r in results {
                ins.execute(params![eval_run, r.item_id, r.sample_index as i64, r.output, r.parsed_json])?;
            }
        }
        tx.execute(
            "INSERT INTO checkpoint_scores(run_id, eval_run_id, step, label, split, scores_json, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![run, eval_run, step, label, split, scores_json, crate::util::now_rfc3339()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The greedy outputs of `run`'s evaluated checkpoints as traces to review: one per item and
    /// checkpoint, the step of the checkpoint (0: the base model), the id negated (`-rowid` of
    /// `eval_results`, so it never names a rollout) and the strict grade as the `correct` reward.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn eval_outputs(&self, run: i64) -> Result<Vec<super::StoredRollout>> {
        let mut st = self.conn.prepare(
            "SELECT e.rowid, c.step, e.item_id, e.output, e.parsed_json FROM eval_results e
             JOIN checkpoint_scores c ON c.eval_run_id = e.run_id
             WHERE c.run_id = ?1 AND e.sample_index = 0 ORDER BY c.step DESC, e.item_id",
        )?;
        let rows = st.query_map(params![run], |r| {
            let parsed: String = r.get(4)?;
            let correct = serde_json::from_str::<serde_json::Value>(&parsed)
                .ok()
                .and_then(|v| v["strict"]["correct"].as_bool())
                .unwrap_or(false);
            let reward = if correct { 1.0 } else { 0.0 };
            Ok(super::StoredRollout {
                id: -r.get::<_, i64>(0)?,
                step: r.get(1)?,
                item_id: r.get(2)?,
                sample: (0, 0),
                completion: r.get(3)?,
                rewards: std::collections::BTreeMap::from([("correct".to_string(), reward)]),
                reward,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every stored checkpoint score, by run and step.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn checkpoint_scores(&self) -> Result<Vec<ScoreRow>> {
        let mut st = self.conn.prepare(
            "SELECT run_id, eval_run_id, step, split, scores_json FROM checkpoint_scores ORDER BY run_id, step, id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(ScoreRow {
                run: r.get(0)?,
                eval_run: r.get(1)?,
                step: r.get(2)?,
                split: r.get(3)?,
                scores_json: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
