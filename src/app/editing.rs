//! Curated-dataset editing from the GUI: single-item edits from the editor, bulk actions over the
//! filter result (tag, exclude, move split), undo / redo and dataset versions. Each runs as a job
//! on its own connection and is one transaction in the project's edit log, so a crash applies a
//! bulk action entirely or not at all, and every action survives a restart.

use std::path::PathBuf;

use serde_json::Value;

use super::WorkbenchApp;
use super::loading::JobOutput;
use crate::domain::Split;
use crate::domain::edit::{FieldEdit, ItemField};
use crate::io::export::EXCLUDED_TAG;
use crate::jobs::ProgressSink as _;
use crate::store::Project;

/// A bulk action over every item of the current filter result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkAction {
    /// Add a tag.
    Tag(String),
    /// Remove a tag.
    Untag(String),
    /// Tag as excluded from exports and training.
    Exclude,
    /// Move to a split.
    MoveSplit(Split),
}

impl BulkAction {
    /// Edit-log label.
    pub fn label(&self, n: usize) -> String {
        match self {
            Self::Tag(t) => format!("tag {n} items {t:?}"),
            Self::Untag(t) => format!("untag {n} items {t:?}"),
            Self::Exclude => format!("exclude {n} items"),
            Self::MoveSplit(s) => format!("move {n} items to {s}"),
        }
    }
}

fn bulk_edits(project: &Project, ids: &[i64], action: &BulkAction) -> Result<Vec<(i64, FieldEdit)>, String> {
    let mut edits = Vec::with_capacity(ids.len());
    for &id in ids {
        let item = project.item(id).map_err(|e| e.to_string())?;
        let (field, new) = match action {
            BulkAction::Tag(t) | BulkAction::Untag(t) if t.trim().is_empty() => return Err("empty tag".into()),
            BulkAction::Tag(t) => {
                let mut tags = item.tags.clone();
                tags.push(t.trim().to_string());
                (ItemField::Tags, Value::from(tags))
            }
            BulkAction::Untag(t) => {
                (ItemField::Tags, Value::from(item.tags.iter().filter(|x| *x != t.trim()).cloned().collect::<Vec<_>>()))
            }
            BulkAction::Exclude => {
                let mut tags = item.tags.clone();
                tags.push(EXCLUDED_TAG.into());
                (ItemField::Tags, Value::from(tags))
            }
            BulkAction::MoveSplit(s) => (ItemField::Split, Value::from(s.as_str())),
        };
        if field.get(&item) != new {
            edits.push((id, FieldEdit::set(&item, field, new)));
        }
    }
    Ok(edits)
}

impl WorkbenchApp {
    fn project_path(&mut self) -> Option<PathBuf> {
        let p = self.state.project.as_ref().map(|p| p.path.clone());
        if p.is_none() {
            self.toasts.error("No project open");
        }
        p
    }

    fn spawn_edit(
        &mut self,
        name: &'static str,
        work: impl FnOnce(&mut Project) -> Result<String, String> + Send + 'static,
    ) {
        let Some(path) = self.project_path() else { return };
        let r = self.jobs.spawn(name, move |ctx| {
            ctx.update(name, 0, None);
            let result = Project::open(&path).map_err(|e| e.to_string()).and_then(|mut p| work(&mut p));
            JobOutput::Edited(result)
        });
        if let Err(e) = r {
            self.toasts.error(e.to_string());
        }
    }

    /// Applies edits of one item (from the editor) as one undoable action.
    pub(super) fn apply_item_edits(&mut self, label: String, edits: Vec<(i64, FieldEdit)>) {
        self.spawn_edit("edit", move |p| {
            p.apply_edits(&label, &edits).map_err(|e| e.to_string())?;
            Ok(format!("Saved: {label}"))
        });
    }

    /// Applies a bulk action to every visible item, atomically.
    pub(super) fn bulk(&mut self, action: BulkAction) {
        let Some(view) = &self.state.project else { return };
        let ids: Vec<i64> = self.state.visible.iter().map(|&i| view.rows[i].id).collect();
        if ids.is_empty() {
            self.toasts.warning("No items match the filters");
            return;
        }
        self.spawn_edit("bulk edit", move |p| {
            let edits = bulk_edits(p, &ids, &action)?;
            if edits.is_empty() {
                return Ok("Nothing to change".into());
            }
            let label = action.label(edits.len());
            p.apply_edits(&label, &edits).map_err(|e| e.to_string())?;
            Ok(format!("Done: {label} (Ctrl+Z undoes it)"))
        });
    }

    /// Undo (`redo = false`) or redo the last action.
    pub(super) fn undo_redo(&mut self, redo: bool) {
        self.spawn_edit(if redo { "redo" } else { "undo" }, move |p| {
            let r = if redo { p.redo() } else { p.undo() }.map_err(|e| e.to_string())?;
            Ok(match r {
                Some(o) => format!("{}: {}", if redo { "Redone" } else { "Undone" }, o.label),
                None => format!("Nothing to {}", if redo { "redo" } else { "undo" }),
            })
        });
    }

    /// Snapshots the items as a named version.
    pub(super) fn create_version(&mut self, name: String) {
        self.spawn_edit("version", move |p| {
            let v = p.create_version(&name, "").map_err(|e| e.to_string())?;
            Ok(format!("Version {:?} saved with {} items", v.name, v.item_count))
        });
    }
}
