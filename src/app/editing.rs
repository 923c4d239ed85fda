//! Curated-dataset editing from the GUI: single-item edits from the editor, bulk actions over the
//! filter result (tag, exclude, move split, set band), review verdicts, undo / redo and dataset versions. Each runs as a job
//! on its own connection and is one transaction in the project's edit log, so a crash applies a
//! bulk action entirely or not at all, and every action survives a restart.

use super::WorkbenchApp;
use super::loading::JobOutput;
use crate::domain::edit::FieldEdit;
use crate::jobs::ProgressSink as _;
use crate::store::Project;

pub use crate::curation::bulk::BulkAction;

impl WorkbenchApp {
    fn spawn_edit(
        &mut self,
        name: &'static str,
        work: impl FnOnce(&mut Project) -> Result<String, String> + Send + 'static,
    ) {
        if self.state.project.is_none() {
            self.toasts.error("No project open");
            return;
        }
        self.write_on_project(name, move |path, ctx| {
            ctx.update(name, 0, None);
            JobOutput::Edited(Project::open(&path).map_err(|e| e.to_string()).and_then(|mut p| work(&mut p)))
        });
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
            Ok(match crate::curation::bulk::apply(p, &ids, &action).map_err(|e| e.to_string())? {
                Some(label) => format!("Done: {label} (Ctrl+Z undoes it)"),
                None => "Nothing to change".into(),
            })
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

    /// Records a review verdict on the selected item.
    pub(super) fn review_selected(&mut self, status: crate::domain::ReviewStatus) {
        let Some(id) = self.state.selected else {
            self.toasts.warning("Select an item to review");
            return;
        };
        let reviewer = std::env::var("USER").unwrap_or_else(|_| "reviewer".into());
        self.spawn_edit("review", move |p| {
            p.add_review(id, &reviewer, status, "").map_err(|e| e.to_string())?;
            Ok(format!("Review saved: {status}"))
        });
    }

    /// Blacks out the region drawn on the inspected item's image (shift + drag), as one undoable edit.
    pub(super) fn black_out_region(&mut self) {
        let (Some(ins), Some(rect)) = (&self.state.inspected, self.state.viewer.region) else {
            self.toasts.warning("Draw a region on the image first (shift + drag)");
            return;
        };
        let id = ins.id;
        self.state.viewer.region = None;
        self.spawn_edit("black out", move |p| {
            crate::curation::redact::black_out_item(p, id, rect)?;
            Ok("Region blacked out in a copy of the image (Ctrl+Z undoes it)".into())
        });
    }

    /// Blacks out the text found in the inspected item's image, as one undoable edit.
    pub(super) fn black_out_found_text(&mut self) {
        let Some(ins) = &self.state.inspected else { return };
        if crate::curation::redact::text_left(&ins.item).is_empty() {
            self.toasts.warning("No text found in this image is left to black out");
            return;
        }
        let id = ins.id;
        self.spawn_edit("black out", move |p| {
            let edits = crate::curation::redact::found_text_edits(p, &[id])?;
            p.apply_edits("black out the text found", &edits).map_err(|e| e.to_string())?;
            Ok("Text found blacked out in a copy of the image (Ctrl+Z undoes it)".into())
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
