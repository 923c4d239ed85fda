//! Dataset versions: named, immutable snapshots of every item (its JSON and a content hash) taken
//! in one transaction, and the diff between two versions or a version and the live items
//! (added, removed, edited), so "which exact items trained checkpoint 12?" has an answer.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension as _, params};
use serde::Serialize;

use super::{Project, Result, StoreError};
use crate::domain::VqaItem;

/// A version as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    /// Row id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// When it was taken.
    pub created_at: String,
    /// Note.
    pub note: String,
    /// Items in it.
    pub item_count: usize,
}

/// Differences between two item sets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VersionDiff {
    /// Uids only in the newer set.
    pub added: Vec<String>,
    /// Uids only in the older set.
    pub removed: Vec<String>,
    /// Uids in both whose content differs, with the names of the changed fields.
    pub edited: Vec<(String, Vec<String>)>,
}

/// One changed item with both sides, for the side-by-side view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffEntry {
    /// Item uid.
    pub uid: String,
    /// The item in the older set (`None` = added).
    pub old: Option<VqaItem>,
    /// The item in the newer set (`None` = removed).
    pub new: Option<VqaItem>,
    /// Changed fields (edited items).
    pub fields: Vec<String>,
}

fn hash(json: &str) -> String {
    crate::util::sha256_hex(json.as_bytes())
}

fn changed_fields(a: &VqaItem, b: &VqaItem) -> Vec<String> {
    let (Ok(serde_json::Value::Object(x)), Ok(serde_json::Value::Object(y))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return vec!["item".into()];
    };
    x.iter().filter(|(k, v)| y.get(*k) != Some(*v)).map(|(k, _)| k.clone()).collect()
}

impl Project {
    /// Snapshots every item under `name` (atomically). Names are unique.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for an empty or taken name; SQLite errors.
    pub fn create_version(&mut self, name: &str, note: &str) -> Result<VersionInfo> {
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::Invalid("a version needs a name".into()));
        }
        if self.versions()?.iter().any(|v| v.name == name) {
            return Err(StoreError::Invalid(format!(
                "a version named {name:?} already exists (versions are immutable)"
            )));
        }
        let items: Vec<(i64, VqaItem)> = self.items()?;
        let head: Option<i64> =
            self.conn.query_row("SELECT MAX(id) FROM edit_groups", [], |r| r.get(0)).optional()?.flatten();
        let now = crate::util::now_rfc3339();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO dataset_versions(name, created_at, note, edit_head, item_count) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, now, note, head, items.len() as i64],
        )?;
        let vid = tx.last_insert_rowid();
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO version_items(version_id, item_id, content_hash, item_json) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (id, it) in &items {
                let json = serde_json::to_string(it).map_err(|e| StoreError::Invalid(e.to_string()))?;
                st.execute(params![vid, id, hash(&json), json])?;
            }
        }
        tx.commit()?;
        Ok(VersionInfo { id: vid, name: name.into(), created_at: now, note: note.into(), item_count: items.len() })
    }

    /// All versions, oldest first.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn versions(&self) -> Result<Vec<VersionInfo>> {
        let mut st =
            self.conn.prepare("SELECT id, name, created_at, note, item_count FROM dataset_versions ORDER BY id")?;
        let rows = st.query_map([], |r| {
            Ok(VersionInfo {
                id: r.get(0)?,
                name: r.get(1)?,
                created_at: r.get(2)?,
                note: r.get(3)?,
                item_count: r.get::<_, i64>(4)? as usize,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The items of a version as they were when it was taken `(item row id, item)`.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for an unknown name or a damaged snapshot row; SQLite errors.
    pub fn version_items(&self, name: &str) -> Result<Vec<(i64, VqaItem)>> {
        let vid: i64 = self
            .conn
            .query_row("SELECT id FROM dataset_versions WHERE name = ?1", [name], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::Invalid(format!("no dataset version named {name:?}")))?;
        let mut st =
            self.conn.prepare("SELECT item_id, item_json FROM version_items WHERE version_id = ?1 ORDER BY item_id")?;
        let rows = st.query_map([vid], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, json) = row?;
            let item: VqaItem = serde_json::from_str(&json)
                .map_err(|e| StoreError::Invalid(format!("version {name:?}, item {id}: damaged snapshot ({e})")))?;
            out.push((id, item));
        }
        Ok(out)
    }

    /// Diff from version `old` to version `new` (`None` = the live items).
    ///
    /// # Errors
    /// As [`Self::version_items`].
    pub fn diff_versions(&self, old: &str, new: Option<&str>) -> Result<VersionDiff> {
        Ok(self.diff_detail(old, new, 0)?.0)
    }

    /// Like [`Self::diff_versions`], with both sides of the first `limit` changes (added, then
    /// removed, then edited) for a side-by-side view.
    ///
    /// # Errors
    /// As [`Self::version_items`].
    pub fn diff_detail(&self, old: &str, new: Option<&str>, limit: usize) -> Result<(VersionDiff, Vec<DiffEntry>)> {
        let mut a: BTreeMap<String, VqaItem> =
            self.version_items(old)?.into_iter().map(|(_, it)| (it.uid.clone(), it)).collect();
        let mut b: BTreeMap<String, VqaItem> = match new {
            Some(n) => self.version_items(n)?.into_iter().map(|(_, it)| (it.uid.clone(), it)).collect(),
            None => self.items()?.into_iter().map(|(_, it)| (it.uid.clone(), it)).collect(),
        };
        let mut d = VersionDiff::default();
        for (uid, it) in &b {
            match a.get(uid) {
                None => d.added.push(uid.clone()),
                Some(old) if old != it => d.edited.push((uid.clone(), changed_fields(old, it))),
                Some(_) => {}
            }
        }
        d.removed = a.keys().filter(|u| !b.contains_key(*u)).cloned().collect();
        let mut entries = Vec::new();
        let changes = d
            .added
            .iter()
            .map(|u| (u, Vec::new()))
            .chain(d.removed.iter().map(|u| (u, Vec::new())))
            .chain(d.edited.iter().map(|(u, f)| (u, f.clone())));
        for (uid, fields) in changes.take(limit) {
            entries.push(DiffEntry { uid: uid.clone(), old: a.remove(uid), new: b.remove(uid), fields });
        }
        Ok((d, entries))
    }

    /// Records on `run` the dataset version it trains on: the newest version if nothing changed
    /// since it was taken (same edit head and item count), else a new snapshot named `run-<id>`.
    /// Returns the version's name.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn pin_version_for_run(&mut self, run: i64) -> Result<String> {
        let head: Option<i64> =
            self.conn.query_row("SELECT MAX(id) FROM edit_groups", [], |r| r.get(0)).optional()?.flatten();
        let items = self.item_count()?;
        let latest: Option<(i64, String, Option<i64>, i64)> = self
            .conn
            .query_row(
                "SELECT id, name, edit_head, item_count FROM dataset_versions ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let (vid, name) = match latest {
            Some((id, name, h, n)) if h == head && n as usize == items => (id, name),
            _ => {
                let v = self.create_version(&format!("run-{run}"), "taken automatically when the run started")?;
                (v.id, v.name)
            }
        };
        self.conn.execute("UPDATE runs SET version_id = ?2 WHERE id = ?1", params![run, vid])?;
        Ok(name)
    }

    /// The version a run trained on, if recorded.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn run_version(&self, run: i64) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT v.name FROM runs r JOIN dataset_versions v ON v.id = r.version_id WHERE r.id = ?1",
                [run],
                |r| r.get(0),
            )
            .optional()?)
    }
}
