//! Difficulty in the project file: pass-count estimates keyed by (model, prompt, sampling, k) so
//! estimates from different models never mix, and the closed loop from GRPO runs (per-step group
//! outcomes per item, summed into a running estimate; zero-std groups flagged).

use std::collections::HashMap;

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Project, Result};

/// What an estimate was made with. Two estimates are comparable only if their keys are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EstimateKey {
    /// Model identity: folder plus weights fingerprint (size and modification time), or `run:<id>`.
    pub model_key: String,
    /// Prompt template name (or the custom template text).
    pub prompt_key: String,
    /// Sampling settings and reward, as canonical JSON.
    pub sampling_json: String,
    /// Samples per item.
    pub k: usize,
}

impl EstimateKey {
    /// A short label for menus: the model folder name, k and the template.
    pub fn label(&self) -> String {
        let model = self.model_key.split('#').next().unwrap_or(&self.model_key);
        let model = model.rsplit(['/', '\\']).next().unwrap_or(model);
        format!("{model} · k={} · {}", self.k, self.prompt_key)
    }
}

/// One item's pass count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassCount {
    /// Correct samples.
    pub n_correct: usize,
    /// Samples drawn.
    pub n_samples: usize,
}

/// One GRPO group's outcome for the closed loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupOutcome {
    /// Item row id.
    pub item_id: i64,
    /// Completions in the group.
    pub n_samples: usize,
    /// Completions graded correct.
    pub n_correct: usize,
    /// Every completion got the same reward (no learning signal).
    pub zero_std: bool,
}

/// A run's running estimate for one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RunEstimate {
    /// Summed counts over the run's steps.
    pub counts: PassCount,
    /// Steps in which the item's group had zero reward spread.
    pub zero_std_groups: usize,
    /// Groups in all.
    pub groups: usize,
}

impl Project {
    /// Stores (or replaces) the pass-rate estimate of one item under `key`, in one transaction.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn put_estimate(&mut self, item_id: i64, key: &EstimateKey, counts: PassCount) -> Result<()> {
        self.put_estimates(key, &[(item_id, counts)])
    }

    /// Stores several estimates under one key atomically (all or none).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn put_estimates(&mut self, key: &EstimateKey, rows: &[(i64, PassCount)]) -> Result<()> {
        self.put_estimates_with_samples(key, rows, None, &[])
    }

    /// Stores estimates and the samples they were counted from (as rollouts of a `passrate` run,
    /// step 0) in one transaction.
    ///
    /// # Errors
    /// SQLite errors (nothing is written then).
    pub fn put_estimates_with_samples(
        &mut self,
        key: &EstimateKey,
        rows: &[(i64, PassCount)],
        run: Option<i64>,
        samples: &[super::RolloutRow],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        if let Some(run) = run {
            super::runs::insert_rollouts(&tx, run, 0, samples)?;
        }
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO difficulty_estimates(item_id, model_key, prompt_key, sampling_json, k, n_samples, n_correct, origin, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'passrate', ?8)
                 ON CONFLICT(item_id, model_key, prompt_key, sampling_json, origin)
                 DO UPDATE SET k = excluded.k, n_samples = excluded.n_samples, n_correct = excluded.n_correct, updated_at = excluded.updated_at",
            )?;
            let now = crate::util::now_rfc3339();
            for (id, c) in rows {
                st.execute(params![
                    id,
                    key.model_key,
                    key.prompt_key,
                    key.sampling_json,
                    key.k as i64,
                    c.n_samples as i64,
                    c.n_correct as i64,
                    now
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The pass-rate estimates made under `key`, by item row id.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn estimates(&self, key: &EstimateKey) -> Result<HashMap<i64, PassCount>> {
        let mut st = self.conn.prepare_cached(
            "SELECT item_id, n_correct, n_samples FROM difficulty_estimates
             WHERE model_key = ?1 AND prompt_key = ?2 AND sampling_json = ?3 AND k = ?4 AND origin = 'passrate'",
        )?;
        let rows = st.query_map(params![key.model_key, key.prompt_key, key.sampling_json, key.k as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                PassCount { n_correct: r.get::<_, i64>(1)? as usize, n_samples: r.get::<_, i64>(2)? as usize },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every estimate key in the project with its item count, most items first.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn estimate_keys(&self) -> Result<Vec<(EstimateKey, usize)>> {
        let mut st = self.conn.prepare(
            "SELECT model_key, prompt_key, sampling_json, k, COUNT(*) FROM difficulty_estimates
             WHERE origin = 'passrate' GROUP BY model_key, prompt_key, sampling_json, k ORDER BY COUNT(*) DESC, MAX(updated_at) DESC",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                EstimateKey {
                    model_key: r.get(0)?,
                    prompt_key: r.get(1)?,
                    sampling_json: r.get(2)?,
                    k: r.get::<_, i64>(3)? as usize,
                },
                r.get::<_, i64>(4)? as usize,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records the group outcomes of one GRPO step (closed loop). Replaces the step's rows, so a
    /// recomputed step after a resume is not counted twice.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn record_group_outcomes(&mut self, run: i64, step: i64, groups: &[GroupOutcome]) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM run_item_outcomes WHERE run_id = ?1 AND step = ?2", params![run, step])?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO run_item_outcomes(run_id, step, item_id, n_samples, n_correct, zero_std) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(run_id, step, item_id) DO UPDATE SET n_samples = n_samples + excluded.n_samples,
                 n_correct = n_correct + excluded.n_correct, zero_std = MAX(zero_std, excluded.zero_std)",
            )?;
            for g in groups {
                st.execute(params![
                    run,
                    step,
                    g.item_id,
                    g.n_samples as i64,
                    g.n_correct as i64,
                    i64::from(g.zero_std)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A run's running estimate per item (summed over its recorded steps).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn run_estimates(&self, run: i64) -> Result<HashMap<i64, RunEstimate>> {
        let mut st = self.conn.prepare_cached(
            "SELECT item_id, SUM(n_correct), SUM(n_samples), SUM(zero_std), COUNT(*) FROM run_item_outcomes
             WHERE run_id = ?1 GROUP BY item_id",
        )?;
        let rows = st.query_map(params![run], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                RunEstimate {
                    counts: PassCount {
                        n_correct: r.get::<_, i64>(1)? as usize,
                        n_samples: r.get::<_, i64>(2)? as usize,
                    },
                    zero_std_groups: r.get::<_, i64>(3)? as usize,
                    groups: r.get::<_, i64>(4)? as usize,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest pass-count samples of an item (from `passrate` runs), with the run's name.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn item_pass_samples(&self, item_id: i64, limit: usize) -> Result<Vec<(String, super::RolloutRow)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT r.name, o.group_index, o.sample_index, o.completion, o.rewards_json, o.reward, o.n_tokens
             FROM rollouts o JOIN runs r ON r.id = o.run_id
             WHERE o.item_id = ?1 AND r.kind = 'passrate' ORDER BY o.run_id DESC, o.sample_index LIMIT ?2",
        )?;
        let rows = st.query_map(params![item_id, limit as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                super::RolloutRow {
                    item_id,
                    group_index: r.get::<_, i64>(1)? as usize,
                    sample_index: r.get::<_, i64>(2)? as usize,
                    completion: r.get(3)?,
                    rewards: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                    reward: r.get::<_, f64>(5)? as f32,
                    advantage: 0.0,
                    n_tokens: r.get::<_, i64>(6)? as usize,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
