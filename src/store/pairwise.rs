//! Blind pairwise judgments of two checkpoints' traces, one transaction each (a crash loses none).

use rusqlite::params;

use super::{Project, Result, StoreError};
use crate::review::pairwise::{Choice, Judgment, Pair};

impl Project {
    /// Records a judgment; returns its id.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] naming the field, SQLite errors.
    pub fn add_judgment(&mut self, j: &Judgment) -> Result<i64> {
        if j.reviewer.trim().is_empty() {
            return Err(StoreError::Invalid("judgment: the reviewer has no name".into()));
        }
        if !(j.seconds.is_finite() && j.seconds >= 0.0) {
            return Err(StoreError::Invalid(format!("judgment: seconds = {} must be finite and >= 0", j.seconds)));
        }
        let p = &j.pair;
        if p.a.1 >= p.b.1 {
            return Err(StoreError::Invalid(format!("judgment: step A ({}) must precede step B ({})", p.a.1, p.b.1)));
        }
        self.conn.execute(
            "INSERT INTO pairwise(run_id, item_id, rollout_a, step_a, rollout_b, step_b, a_left, choice, reviewer,
                                  seconds, guideline_version, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                j.run,
                p.item,
                p.a.0,
                p.a.1,
                p.b.0,
                p.b.1,
                p.a_left,
                j.choice.as_str(),
                j.reviewer,
                j.seconds,
                j.guideline_version,
                crate::util::now_rfc3339()
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The judgments of `run` (every run: `None`), oldest first.
    ///
    /// # Errors
    /// SQLite errors; a stored choice that does not parse names its row.
    pub fn judgments(&self, run: Option<i64>) -> Result<Vec<Judgment>> {
        let mut st = self.conn.prepare(
            "SELECT id, run_id, item_id, rollout_a, step_a, rollout_b, step_b, a_left, choice, reviewer, seconds,
                    guideline_version
             FROM pairwise WHERE ?1 IS NULL OR run_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map(params![run], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                Pair { item: r.get(2)?, a: (r.get(3)?, r.get(4)?), b: (r.get(5)?, r.get(6)?), a_left: r.get(7)? },
                r.get::<_, String>(8)?,
                r.get::<_, String>(9)?,
                r.get::<_, f64>(10)?,
                r.get::<_, Option<i64>>(11)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, run, pair, choice, reviewer, seconds, guideline_version) = row?;
            let choice = Choice::parse(&choice)
                .ok_or_else(|| StoreError::Invalid(format!("judgment {id}: stored choice {choice:?}")))?;
            out.push(Judgment { id, run, pair, choice, reviewer, seconds, guideline_version });
        }
        Ok(out)
    }
}
