//! Rubric ratings of traces, written at once (one transaction per rating, so a crash loses none),
//! read back oldest first with their span comments; the project's rubric (meta
//! `review_rubric`, the default when unset) and versioned review guidelines.

use rusqlite::{OptionalExtension as _, params};

use super::{Project, Result, StoreError};
use crate::review::{DisplayState, Rating, Rubric, Span, SpanTag};

impl Project {
    /// The project's rubric (the default until one is set).
    ///
    /// # Errors
    /// SQLite errors, or a stored rubric that does not parse.
    pub fn rubric(&self) -> Result<Rubric> {
        match self.meta("review_rubric")? {
            None => Ok(Rubric::default()),
            Some(j) => serde_json::from_str(&j).map_err(|e| StoreError::Invalid(format!("stored review_rubric: {e}"))),
        }
    }

    /// Sets the project's rubric.
    ///
    /// # Errors
    /// An invalid rubric (named), SQLite errors.
    pub fn set_rubric(&mut self, rubric: &Rubric) -> Result<()> {
        rubric.validate().map_err(StoreError::Invalid)?;
        let j = serde_json::to_string(rubric).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.set_meta("review_rubric", &j)
    }

    /// Stores a new version of the review guidelines (markdown); returns its version.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn add_guidelines(&mut self, markdown: &str) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO guidelines(version, markdown, created_at) VALUES ((SELECT COALESCE(MAX(version), 0) + 1 FROM guidelines), ?1, ?2)",
            params![markdown, crate::util::now_rfc3339()],
        )?;
        Ok(self.conn.query_row("SELECT MAX(version) FROM guidelines", [], |r| r.get(0))?)
    }

    /// The newest guidelines, `(version, markdown)`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn guidelines(&self) -> Result<Option<(i64, String)>> {
        Ok(self
            .conn
            .query_row("SELECT version, markdown FROM guidelines ORDER BY version DESC LIMIT 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    /// Records a rating and its spans in one transaction; returns its id. The values are checked
    /// against the project's rubric and the spans against the trace.
    ///
    /// # Errors
    /// [`StoreError::NoSuchItem`], [`StoreError::Invalid`] naming the field, SQLite errors.
    pub fn add_rating(&mut self, r: &Rating) -> Result<i64> {
        if r.reviewer.trim().is_empty() {
            return Err(StoreError::Invalid("rating: the reviewer has no name".into()));
        }
        if r.values.is_empty() && r.comment.trim().is_empty() && r.spans.is_empty() {
            return Err(StoreError::Invalid("rating: nothing rated (no values, comment or spans)".into()));
        }
        self.rubric()?.check(&r.values).map_err(StoreError::Invalid)?;
        r.check_spans().map_err(StoreError::Invalid)?;
        if !(r.seconds.is_finite() && r.seconds >= 0.0) {
            return Err(StoreError::Invalid(format!("rating: seconds = {} must be finite and >= 0", r.seconds)));
        }
        let item_id = self.item_id(&r.item)?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO reviews(item_id, rollout_id, reviewer, rubric_json, verdict, comment, guideline_version,
                                 display_state_json, seconds_on_task, created_at, checkpoint, trace)
             VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                item_id,
                r.rollout_id,
                r.reviewer,
                to_json(&r.values),
                r.comment,
                r.guideline_version.map(|v| v.to_string()),
                to_json(&r.seen),
                r.seconds,
                crate::util::now_rfc3339(),
                r.checkpoint,
                r.trace
            ],
        )?;
        let id = tx.last_insert_rowid();
        for s in &r.spans {
            tx.execute(
                "INSERT INTO review_spans(review_id, start, end, tag, comment, roi_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id,
                    s.start as i64,
                    s.end as i64,
                    s.tag.as_str(),
                    s.comment,
                    s.roi.map(|r| serde_json::json!(r).to_string())
                ],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Every rating (reviews without a verdict), oldest first, with spans.
    ///
    /// # Errors
    /// SQLite errors; a stored row that does not parse is an error naming it.
    pub fn ratings(&self) -> Result<Vec<Rating>> {
        let mut st = self.conn.prepare(
            "SELECT r.id, i.uid, r.rollout_id, r.checkpoint, r.trace, r.reviewer, r.rubric_json, r.comment,
                    r.guideline_version, r.display_state_json, COALESCE(r.seconds_on_task, 0), r.created_at
             FROM reviews r JOIN items i ON i.id = r.item_id WHERE r.verdict IS NULL ORDER BY r.id",
        )?;
        type Row =
            (i64, String, Option<i64>, String, String, String, String, String, Option<String>, String, f64, String);
        let rows: Vec<Row> = st
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let bad = |id: i64, what: &str, e: String| StoreError::Invalid(format!("rating {id}: stored {what}: {e}"));
        let mut out = Vec::with_capacity(rows.len());
        for (id, item, rollout_id, checkpoint, trace, reviewer, values, comment, gv, seen, seconds, created_at) in rows
        {
            let values = serde_json::from_str(&values).map_err(|e| bad(id, "values", e.to_string()))?;
            let seen: DisplayState =
                serde_json::from_str(&seen).map_err(|e| bad(id, "display state", e.to_string()))?;
            let guideline_version = gv.and_then(|v| v.parse().ok());
            let spans = self.spans(id)?;
            out.push(Rating {
                id,
                item,
                rollout_id,
                checkpoint,
                trace,
                reviewer,
                values,
                comment,
                spans,
                guideline_version,
                seen,
                seconds,
                created_at,
            });
        }
        Ok(out)
    }

    fn spans(&self, review_id: i64) -> Result<Vec<Span>> {
        let mut st = self.conn.prepare_cached(
            "SELECT start, end, tag, comment, roi_json FROM review_spans WHERE review_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([review_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (start, end, tag, comment, roi) = row?;
            let tag = SpanTag::parse(&tag)
                .ok_or_else(|| StoreError::Invalid(format!("rating {review_id}: unknown span tag {tag:?}")))?;
            let roi = roi.and_then(|j| serde_json::from_str(&j).ok());
            out.push(Span { start: start.max(0) as usize, end: end.max(0) as usize, tag, comment, roi });
        }
        Ok(out)
    }
}

/// JSON text of a value that always serializes (maps of numbers, display states).
fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".into())
}
