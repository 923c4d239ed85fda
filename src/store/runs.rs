//! Training runs in the project file: the run record (config, model, seed, code version), one row
//! per step with its metrics and rollouts (written in one transaction), checkpoints, and the
//! truncation a resume needs so the metrics have no gap or duplicate step.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension as _, params};
use serde::Serialize;

use super::{Project, Result};

/// What a run does. Stored as its name (`grpo`, `sft`, `eval`, `passrate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// GRPO training.
    Grpo,
    /// Supervised fine-tuning.
    Sft,
    /// An evaluation (a checkpoint's score; `parent_run_id` is the training run).
    Eval,
    /// Pass-count estimation.
    Passrate,
}

/// Where a run stands. `Interrupted` is never stored: it is a `running` run whose owner process is
/// gone (killed, crashed, machine off), which can be resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Being worked on by a live process.
    #[default]
    Running,
    /// Held by its owner.
    Paused,
    /// Stopped by the user (a checkpoint was written).
    Stopped,
    /// Done.
    Finished,
    /// Ended with an error (the message says why).
    Failed,
    /// `running` in the file, but its owner process is gone.
    Interrupted,
}

macro_rules! text_enum {
    ($t:ty, $($v:ident => $s:literal),+ $(,)?) => {
        impl $t {
            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
            /// Parses a stored name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)+ _ => None }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl rusqlite::ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }
        impl rusqlite::types::FromSql for $t {
            fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                let s = v.as_str()?;
                Self::parse(s).ok_or_else(|| rusqlite::types::FromSqlError::Other(format!("unknown {} {s:?}", stringify!($t)).into()))
            }
        }
    };
}

text_enum!(RunKind, Grpo => "grpo", Sft => "sft", Eval => "eval", Passrate => "passrate");
text_enum!(
    RunStatus,
    Running => "running",
    Paused => "paused",
    Stopped => "stopped",
    Finished => "finished",
    Failed => "failed",
    Interrupted => "interrupted",
);

impl RunStatus {
    /// True once the run is over (stopped, finished or failed).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Stopped | Self::Finished | Self::Failed)
    }

    /// True when a GRPO run in this state can be resumed.
    pub fn is_resumable(self) -> bool {
        matches!(self, Self::Stopped | Self::Failed | Self::Interrupted)
    }
}

/// A run as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// What it does.
    pub kind: RunKind,
    /// Where it stands (`Interrupted` when its owner is gone).
    pub status: RunStatus,
    /// Full config (JSON).
    pub config_json: String,
    /// Seed.
    pub seed: i64,
    /// Code version that created it.
    pub code_version: String,
    /// Start time.
    pub started_at: String,
    /// End time.
    pub ended_at: Option<String>,
    /// Last message (e.g. why it failed).
    pub message: Option<String>,
    /// Last step recorded.
    pub last_step: Option<i64>,
    /// The run this one belongs to (an evaluation's training run).
    pub parent_run_id: Option<i64>,
    /// The process working on it, while running: `(pid, host)`.
    pub owner: Option<(u32, String)>,
}

/// A stored rollout with its row id, for review.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRollout {
    /// Row id.
    pub id: i64,
    /// Step.
    pub step: i64,
    /// Item row id.
    pub item_id: i64,
    /// Group and sample index within the step.
    pub sample: (usize, usize),
    /// Completion text.
    pub completion: String,
    /// Each reward function's value.
    pub rewards: BTreeMap<String, f32>,
    /// Weighted total.
    pub reward: f32,
}

impl Project {
    /// A run's rollouts for review: newest step first, at most `limit`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn rollouts_for_review(&self, run: i64, limit: usize) -> Result<Vec<StoredRollout>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, step, item_id, completion, rewards_json, reward, group_index, sample_index FROM rollouts WHERE run_id = ?1
             ORDER BY step DESC, group_index, sample_index LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![run, limit as i64], |r| {
            Ok(StoredRollout {
                id: r.get(0)?,
                step: r.get(1)?,
                item_id: r.get(2)?,
                sample: (r.get::<_, i64>(6)? as usize, r.get::<_, i64>(7)? as usize),
                completion: r.get(3)?,
                rewards: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                reward: r.get::<_, f64>(5)? as f32,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// One rollout to store.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutRow {
    /// Item row id.
    pub item_id: i64,
    /// Group (prompt) index within the step.
    pub group_index: usize,
    /// Sample index within the group.
    pub sample_index: usize,
    /// Completion text.
    pub completion: String,
    /// Each reward function's value.
    pub rewards: BTreeMap<String, f32>,
    /// Weighted total.
    pub reward: f32,
    /// Advantage.
    pub advantage: f32,
    /// Completion tokens.
    pub n_tokens: usize,
}

/// A checkpoint record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointRow {
    /// Step.
    pub step: i64,
    /// Folder, relative to the project folder where possible.
    pub path: String,
    /// Resume state (data cursor, RNG, ...), JSON.
    pub state_json: String,
}

/// Per-step x-axis values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepInfo {
    /// Step.
    pub step: i64,
    /// Unix seconds when the step was recorded.
    pub wall_time: f64,
    /// Completions seen so far.
    pub samples_seen: i64,
    /// Completion tokens seen so far.
    pub tokens_seen: i64,
}

/// Inserts rollouts of `run` at `step` inside the caller's transaction (GRPO steps, pass-count samples).
pub(super) fn insert_rollouts(tx: &rusqlite::Transaction<'_>, run: i64, step: i64, rows: &[RolloutRow]) -> Result<()> {
    let now = crate::util::now_rfc3339();
    let mut r = tx.prepare_cached(
        "INSERT INTO rollouts(run_id, step, item_id, group_index, sample_index, completion, rewards_json, reward, advantage, n_tokens, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for x in rows {
        r.execute(params![
            run,
            step,
            x.item_id,
            x.group_index as i64,
            x.sample_index as i64,
            x.completion,
            serde_json::to_string(&x.rewards).unwrap_or_default(),
            f64::from(x.reward),
            f64::from(x.advantage),
            x.n_tokens as i64,
            now
        ])?;
    }
    Ok(())
}

impl Project {
    /// Creates a run owned by this process and returns its id.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn create_run(&mut self, name: &str, kind: RunKind, config_json: &str, seed: u64) -> Result<i64> {
        self.create_child_run(name, kind, config_json, seed, None)
    }

    /// Creates a run belonging to `parent` (an evaluation of a training run's checkpoint).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn create_child_run(
        &mut self,
        name: &str,
        kind: RunKind,
        config_json: &str,
        seed: u64,
        parent: Option<i64>,
    ) -> Result<i64> {
        let (pid, host) = super::owner::this_process();
        self.conn.execute(
            "INSERT INTO runs(name, kind, status, config_json, seed, code_version, started_at, parent_run_id, owner_pid, owner_host, heartbeat_at)
             VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                name,
                kind,
                config_json,
                seed as i64,
                crate::VERSION,
                crate::util::now_rfc3339(),
                parent,
                pid,
                host,
                crate::util::unix_seconds()
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Sets a run's status (and end time for terminal states) with an optional message; a terminal
    /// status releases the run's owner.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_run_status(&mut self, run: i64, status: RunStatus, message: Option<&str>) -> Result<()> {
        let ended = status.is_terminal().then(crate::util::now_rfc3339);
        self.conn.execute(
            "UPDATE runs SET status = ?2, message = ?3, ended_at = ?4,
                 owner_pid = CASE WHEN ?5 THEN NULL ELSE owner_pid END,
                 owner_host = CASE WHEN ?5 THEN NULL ELSE owner_host END
             WHERE id = ?1",
            params![run, status, message, ended, status.is_terminal()],
        )?;
        Ok(())
    }

    /// Records a step: x-axis values, metrics and rollouts, atomically.
    ///
    /// # Errors
    /// SQLite errors (nothing is written then).
    pub fn record_step(
        &mut self,
        run: i64,
        info: StepInfo,
        metrics: &BTreeMap<String, f64>,
        rollouts: &[RolloutRow],
    ) -> Result<()> {
        let step = info.step;
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO run_steps(run_id, step, wall_time, samples_seen, tokens_seen) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![run, step, info.wall_time, info.samples_seen, info.tokens_seen],
        )?;
        {
            let mut m = tx.prepare_cached("INSERT INTO metrics(run_id, step, name, value) VALUES (?1, ?2, ?3, ?4)")?;
            for (k, v) in metrics {
                if v.is_finite() {
                    m.execute(params![run, step, k, v])?;
                }
            }
        }
        insert_rollouts(&tx, run, step, rollouts)?;
        tx.commit()?;
        Ok(())
    }

    /// Records a checkpoint (replacing one at the same step).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn add_checkpoint(&mut self, run: i64, step: i64, path: &str, state_json: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO checkpoints(run_id, step, path, state_json, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(run_id, step) DO UPDATE SET path = excluded.path, state_json = excluded.state_json",
            params![run, step, path, state_json, crate::util::now_rfc3339()],
        )?;
        Ok(())
    }

    /// Every checkpoint of a run, by step.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn checkpoints(&self, run: i64) -> Result<Vec<CheckpointRow>> {
        let mut st =
            self.conn.prepare("SELECT step, path, state_json FROM checkpoints WHERE run_id = ?1 ORDER BY step")?;
        let rows =
            st.query_map([run], |r| Ok(CheckpointRow { step: r.get(0)?, path: r.get(1)?, state_json: r.get(2)? }))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest checkpoint of a run.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn latest_checkpoint(&self, run: i64) -> Result<Option<CheckpointRow>> {
        Ok(self
            .conn
            .query_row(
                "SELECT step, path, state_json FROM checkpoints WHERE run_id = ?1 ORDER BY step DESC LIMIT 1",
                [run],
                |r| Ok(CheckpointRow { step: r.get(0)?, path: r.get(1)?, state_json: r.get(2)? }),
            )
            .optional()?)
    }

    /// Removes everything recorded after `step` (a resume recomputes those steps).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn truncate_run_after(&mut self, run: i64, step: i64) -> Result<()> {
        let tx = self.conn.transaction()?;
        for table in ["run_steps", "metrics", "rollouts", "checkpoints", "run_item_outcomes"] {
            tx.execute(&format!("DELETE FROM {table} WHERE run_id = ?1 AND step > ?2"), params![run, step])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// All runs, newest first; a `running` run whose owner is gone reads as `Interrupted`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn runs(&self) -> Result<Vec<RunRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT r.id, r.name, r.kind, r.status, r.config_json, r.seed, r.code_version, r.started_at, r.ended_at, r.message,
                    (SELECT MAX(step) FROM run_steps s WHERE s.run_id = r.id), r.parent_run_id, r.owner_pid, r.owner_host,
                    r.heartbeat_at
             FROM runs r ORDER BY r.id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            let owner = match (r.get::<_, Option<i64>>(12)?, r.get::<_, Option<String>>(13)?) {
                (Some(pid), Some(host)) => Some((pid as u32, host)),
                _ => None,
            };
            let heartbeat: Option<f64> = r.get(14)?;
            let mut status: RunStatus = r.get(3)?;
            if matches!(status, RunStatus::Running | RunStatus::Paused)
                && !super::owner::alive(owner.as_ref(), heartbeat)
            {
                status = RunStatus::Interrupted;
            }
            Ok(RunRow {
                id: r.get(0)?,
                name: r.get(1)?,
                kind: r.get(2)?,
                status,
                config_json: r.get(4)?,
                seed: r.get(5)?,
                code_version: r.get(6)?,
                started_at: r.get(7)?,
                ended_at: r.get(8)?,
                message: r.get(9)?,
                last_step: r.get(10)?,
                parent_run_id: r.get(11)?,
                owner,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Step x-values of a run, in step order.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn run_steps(&self, run: i64) -> Result<Vec<StepInfo>> {
        let mut stmt = self.conn.prepare(
            "SELECT step, wall_time, samples_seen, tokens_seen FROM run_steps WHERE run_id = ?1 ORDER BY step",
        )?;
        let rows = stmt.query_map([run], |r| {
            Ok(StepInfo { step: r.get(0)?, wall_time: r.get(1)?, samples_seen: r.get(2)?, tokens_seen: r.get(3)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every metric of a run: name -> (step, value) in step order.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn run_metrics(&self, run: i64) -> Result<BTreeMap<String, Vec<(i64, f64)>>> {
        let mut stmt =
            self.conn.prepare("SELECT name, step, value FROM metrics WHERE run_id = ?1 ORDER BY name, step")?;
        let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
        for r in stmt.query_map([run], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, f64>(2)?)))? {
            let (n, s, v) = r?;
            out.entry(n).or_default().push((s, v));
        }
        Ok(out)
    }

    /// The latest rollouts of a run (newest step first).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn recent_rollouts(&self, run: i64, limit: usize) -> Result<Vec<(i64, RolloutRow)>> {
        let mut stmt = self.conn.prepare(
            "SELECT step, item_id, group_index, sample_index, completion, rewards_json, reward, advantage, n_tokens
             FROM rollouts WHERE run_id = ?1 ORDER BY step DESC, group_index, sample_index LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![run, limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                RolloutRow {
                    item_id: r.get(1)?,
                    group_index: r.get::<_, i64>(2)? as usize,
                    sample_index: r.get::<_, i64>(3)? as usize,
                    completion: r.get(4)?,
                    rewards: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
                    reward: r.get::<_, f64>(6)? as f32,
                    advantage: r.get::<_, f64>(7)? as f32,
                    n_tokens: r.get::<_, i64>(8)? as usize,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
