//! The append-only edit log: every item edit is a group of field edits with their old values,
//! applied in one transaction. Undo and redo append their own groups and flip `active`, so the
//! log itself is never rewritten and "who changed what, when" can always be answered.

use rusqlite::{OptionalExtension as _, params};

use super::{Project, Result, StoreError};
use crate::domain::{FieldEdit, ItemField};

/// One user action in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct EditGroupInfo {
    /// Group id.
    pub id: i64,
    /// RFC 3339 time.
    pub created_at: String,
    /// Human label (`Set split of 3 items`).
    pub label: String,
    /// `edit`, `undo` or `redo`.
    pub kind: String,
    /// Number of field edits in the group.
    pub n_edits: usize,
}

/// What an undo or redo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoOutcome {
    /// Label of the group undone or redone.
    pub label: String,
    /// Ids of the items touched.
    pub items: Vec<i64>,
}

impl Project {
    /// Applies field edits to items as one undoable action, atomically. Each edit is validated
    /// against the item's invariants first; nothing is written if any edit fails.
    /// Returns the new group id.
    ///
    /// # Errors
    /// [`StoreError::Edit`] for an invalid value, [`StoreError::NoSuchItem`], SQLite errors.
    pub fn apply_edits(&mut self, label: &str, edits: &[(i64, FieldEdit)]) -> Result<i64> {
        let mut planned = Vec::with_capacity(edits.len());
        let mut current: std::collections::BTreeMap<i64, crate::domain::VqaItem> = Default::default();
        for (id, edit) in edits {
            let item = match current.remove(id) {
                Some(it) => it,
                None => self.item(*id)?,
            };
            // Record the value actually replaced, whatever the caller thought it was.
            let edit = FieldEdit::set(&item, edit.field, edit.new.clone());
            let next = edit.apply(&item)?;
            planned.push((*id, edit));
            current.insert(*id, next);
        }
        let tx = self.conn.transaction()?;
        // A new action abandons whatever could have been redone.
        tx.execute("UPDATE edit_groups SET active = -1 WHERE kind = 'edit' AND active = 0", [])?;
        tx.execute(
            "INSERT INTO edit_groups(created_at, label, kind) VALUES (?1, ?2, 'edit')",
            params![crate::util::now_rfc3339(), label],
        )?;
        let group = tx.last_insert_rowid();
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO edits(group_id, item_id, field, old_json, new_json) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (id, e) in &planned {
                ins.execute(params![group, id, e.field.as_str(), e.old.to_string(), e.new.to_string()])?;
            }
        }
        for (id, item) in &current {
            super::items::write_item(&tx, *id, item)?;
        }
        tx.commit()?;
        Ok(group)
    }

    /// Undoes the most recent applied action. `Ok(None)` when there is nothing to undo.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if an item changed in a way the log cannot reverse; SQLite errors.
    pub fn undo(&mut self) -> Result<Option<UndoOutcome>> {
        let target: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT id, label FROM edit_groups WHERE kind = 'edit' AND active = 1 ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((group, label)) = target else { return Ok(None) };
        self.replay(group, &label, "undo").map(Some)
    }

    /// Redoes the most recently undone action, if no new action happened since. `Ok(None)` otherwise.
    ///
    /// # Errors
    /// As [`Project::undo`].
    pub fn redo(&mut self) -> Result<Option<UndoOutcome>> {
        let target: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT id, label FROM edit_groups WHERE kind = 'edit' AND active = 0 ORDER BY id ASC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((group, label)) = target else { return Ok(None) };
        self.replay(group, &label, "redo").map(Some)
    }

    fn replay(&mut self, group: i64, label: &str, action: &'static str) -> Result<UndoOutcome> {
        let mut stmt = self
            .conn
            .prepare("SELECT item_id, field, old_json, new_json FROM edits WHERE group_id = ?1 ORDER BY id")?;
        let rows: Vec<(i64, String, String, String)> = stmt
            .query_map([group], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        drop(stmt);
        let undo = action == "undo";
        let mut items: std::collections::BTreeMap<i64, crate::domain::VqaItem> = Default::default();
        // Undo walks the group backwards so repeated edits of one field unwind in order.
        let ordered: Vec<_> = if undo { rows.into_iter().rev().collect() } else { rows };
        for (id, field, old, new) in ordered {
            let field_enum = ItemField::parse(&field).ok_or_else(|| StoreError::Corrupt {
                column: "edits.field",
                item: id,
                reason: format!("unknown field {field:?}"),
            })?;
            let parse = |s: &str| {
                serde_json::from_str(s).map_err(|e| StoreError::Corrupt {
                    column: "edits.json",
                    item: id,
                    reason: e.to_string(),
                })
            };
            let (from, to) = if undo { (parse(&new)?, parse(&old)?) } else { (parse(&old)?, parse(&new)?) };
            let item = match items.remove(&id) {
                Some(it) => it,
                None => self.item(id)?,
            };
            if field_enum.get(&item) != from {
                return Err(StoreError::Conflict { action, item: item.uid, field });
            }
            let next = FieldEdit { field: field_enum, old: from, new: to }.apply(&item)?;
            items.insert(id, next);
        }
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO edit_groups(created_at, label, kind, target) VALUES (?1, ?2, ?3, ?4)",
            params![crate::util::now_rfc3339(), label, action, group],
        )?;
        tx.execute("UPDATE edit_groups SET active = ?2 WHERE id = ?1", params![group, i64::from(!undo)])?;
        for (id, item) in &items {
            super::items::write_item(&tx, *id, item)?;
        }
        tx.commit()?;
        Ok(UndoOutcome { label: label.to_string(), items: items.keys().copied().collect() })
    }

    /// The most recent actions, newest first.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn history(&self, limit: usize) -> Result<Vec<EditGroupInfo>> {
        let mut stmt = self.conn.prepare(
            "SELECT g.id, g.created_at, g.label, g.kind, (SELECT COUNT(*) FROM edits e WHERE e.group_id = COALESCE(g.target, g.id))
             FROM edit_groups g ORDER BY g.id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(EditGroupInfo {
                id: r.get(0)?,
                created_at: r.get(1)?,
                label: r.get(2)?,
                kind: r.get(3)?,
                n_edits: r.get::<_, i64>(4)? as usize,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
