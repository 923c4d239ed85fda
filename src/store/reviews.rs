//! Clinician reviews of items: append-only verdicts (the newest one is the item's review status),
//! with reviewer, comment and timestamp, so the review history is never rewritten.

use std::collections::HashMap;

use rusqlite::{OptionalExtension as _, params};
use serde::Serialize;

use super::{Project, Result, StoreError};
use crate::domain::ReviewStatus;

/// One stored item review.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewRow {
    /// Row id.
    pub id: i64,
    /// Reviewer name.
    pub reviewer: String,
    /// Verdict.
    pub status: ReviewStatus,
    /// Free-text comment.
    pub comment: String,
    /// When it was recorded (RFC 3339).
    pub created_at: String,
}

impl Project {
    /// Records a verdict on an item (one transaction); returns the review's id.
    ///
    /// # Errors
    /// [`StoreError::NoSuchItem`] or [`StoreError::Invalid`] for `Unreviewed`; SQLite errors.
    pub fn add_review(&mut self, item_id: i64, reviewer: &str, status: ReviewStatus, comment: &str) -> Result<i64> {
        if status == ReviewStatus::Unreviewed {
            return Err(StoreError::Invalid("a review needs a verdict (accepted, needs-changes, rejected)".into()));
        }
        let exists: Option<i64> =
            self.conn.query_row("SELECT id FROM items WHERE id = ?1", [item_id], |r| r.get(0)).optional()?;
        if exists.is_none() {
            return Err(StoreError::NoSuchItem(item_id.to_string()));
        }
        self.conn.execute(
            "INSERT INTO reviews(item_id, reviewer, rubric_json, verdict, comment, created_at) VALUES (?1, ?2, '{}', ?3, ?4, ?5)",
            params![item_id, reviewer, status.as_str(), comment, crate::util::now_rfc3339()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The newest verdict of every reviewed item (item reviews, not rollout reviews).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn review_statuses(&self) -> Result<HashMap<i64, ReviewStatus>> {
        let mut st = self.conn.prepare(
            "SELECT item_id, verdict FROM reviews WHERE id IN \
             (SELECT MAX(id) FROM reviews WHERE rollout_id IS NULL AND verdict IS NOT NULL GROUP BY item_id)",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = HashMap::new();
        for r in rows {
            let (id, verdict) = r?;
            if let Some(s) = ReviewStatus::parse(&verdict) {
                out.insert(id, s);
            }
        }
        Ok(out)
    }

    /// An item's reviews, newest first.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn item_reviews(&self, item_id: i64) -> Result<Vec<ReviewRow>> {
        let mut st = self.conn.prepare(
            "SELECT id, reviewer, verdict, comment, created_at FROM reviews WHERE item_id = ?1 AND rollout_id IS NULL AND verdict IS NOT NULL ORDER BY id DESC",
        )?;
        let rows = st.query_map([item_id], |r| {
            let verdict: Option<String> = r.get(2)?;
            Ok(ReviewRow {
                id: r.get(0)?,
                reviewer: r.get(1)?,
                status: verdict.as_deref().and_then(ReviewStatus::parse).unwrap_or_default(),
                comment: r.get(3)?,
                created_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
