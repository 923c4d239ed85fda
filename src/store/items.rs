//! Items, images and import batches in the project file: transactional inserts and the reads the UI and CLI need.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension as _, Row, params};

use super::{Project, Result, StoreError};
use crate::domain::{Answer, DatasetStats, ImageRef, ItemRow, Modality, Provenance, Split, VqaItem};

/// What one [`Project::insert_items`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertOutcome {
    /// New items written.
    pub inserted: usize,
    /// Items skipped because their uid was already in the project.
    pub duplicates: usize,
}

const ITEM_COLUMNS: &str =
    "id, uid, question, options_json, answer_json, modality, body_part, source, split, tags_json, meta_json";

impl Project {
    /// Records the start of an import and returns its batch id.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn begin_import(&mut self, prov: &Provenance) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO import_batches(format, source_path, tool_version, started_at) VALUES (?1, ?2, ?3, ?4)",
            params![prov.format, prov.source_path, prov.tool_version, prov.imported_at],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Marks an import batch finished with its counts and JSON report.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn finish_import(
        &mut self,
        batch: i64,
        imported: usize,
        duplicates: usize,
        failed: usize,
        report_json: &str,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE import_batches SET finished_at = ?2, imported = ?3, duplicates = ?4, failed = ?5, report_json = ?6 WHERE id = ?1",
            params![batch, crate::util::now_rfc3339(), imported as i64, duplicates as i64, failed as i64, report_json],
        )?;
        Ok(())
    }

    /// The provenance of every import into this project, oldest first (finished or not).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn provenance(&self) -> Result<Vec<Provenance>> {
        let mut stmt = self
            .conn
            .prepare("SELECT format, source_path, started_at, tool_version FROM import_batches ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok(Provenance {
                format: r.get(0)?,
                source_path: r.get(1)?,
                imported_at: r.get(2)?,
                tool_version: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Inserts items in one transaction; items whose uid already exists are skipped and counted.
    /// Image paths in `items` may be absolute; they are stored relative to the project folder.
    ///
    /// # Errors
    /// SQLite errors (the whole batch is rolled back).
    pub fn insert_items(&mut self, batch: Option<i64>, items: &[VqaItem]) -> Result<InsertOutcome> {
        let now = crate::util::now_rfc3339();
        let dir = self.dir.clone();
        let tx = self.conn.transaction()?;
        let mut out = InsertOutcome::default();
        {
            let mut ins_item = tx.prepare_cached(
                "INSERT INTO items(uid, question, options_json, answer_json, modality, body_part, source, split, tags_json, meta_json, batch_id, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12) ON CONFLICT(uid) DO NOTHING",
            )?;
            let mut ins_image = tx.prepare_cached(
                "INSERT INTO images(path, sha256, bytes, width, height, unreadable, redacted_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(path) DO UPDATE SET sha256 = excluded.sha256, bytes = excluded.bytes,
                   width = excluded.width, height = excluded.height, unreadable = excluded.unreadable,
                   redacted_json = excluded.redacted_json RETURNING id",
            )?;
            let mut link = tx.prepare_cached("INSERT INTO item_images(item_id, ord, image_id) VALUES (?1, ?2, ?3)")?;
            for item in items {
                let changed = ins_item.execute(params![
                    item.uid,
                    item.question,
                    json(&item.options),
                    json(&item.answer),
                    item.modality.as_str(),
                    item.body_part,
                    item.source,
                    item.split.as_str(),
                    json(&item.tags),
                    json(&item.meta),
                    batch,
                    now,
                ])?;
                if changed == 0 {
                    out.duplicates += 1;
                    continue;
                }
                let item_id = tx.last_insert_rowid();
                for (ord, img) in item.images.iter().enumerate() {
                    let stored = crate::util::relative_to(std::path::Path::new(&img.path), &dir);
                    let image_id = insert_image(&mut ins_image, &stored, img)?;
                    link.execute(params![item_id, ord as i64, image_id])?;
                }
                out.inserted += 1;
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// Number of items.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn item_count(&self) -> Result<usize> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM items", [], |r| r.get::<_, i64>(0))? as usize)
    }

    /// Compact rows for every item, in id order (what the item table shows).
    ///
    /// # Errors
    /// SQLite or decoding errors.
    pub fn item_rows(&self) -> Result<Vec<ItemRow>> {
        let mut counts: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
        let mut stmt = self.conn.prepare(
            "SELECT ii.item_id, COUNT(*), SUM(im.sha256 IS NULL), SUM(im.unreadable IS NOT NULL)
             FROM item_images ii JOIN images im ON im.id = ii.image_id GROUP BY ii.item_id",
        )?;
        let mut unreadable: BTreeMap<i64, usize> = BTreeMap::new();
        for r in stmt.query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
        })? {
            let (id, n, missing, bad) = r?;
            counts.insert(id, (n as usize, missing as usize));
            unreadable.insert(id, bad as usize);
        }
        let reviews = self.review_statuses()?;
        let mut stmt = self.conn.prepare(&format!("SELECT {ITEM_COLUMNS} FROM items ORDER BY id"))?;
        let mut rows = Vec::new();
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            // A damaged row is left out (and listed by `damaged_items`); the rest still reads.
            let Ok(item) = decode_item(r, Vec::new()) else { continue };
            let id: i64 = r.get(0)?;
            let mut row = ItemRow::from_item(id, &item);
            let (n, missing) = counts.get(&id).copied().unwrap_or((0, 0));
            row.n_images = n;
            row.missing_images = missing;
            row.unreadable_images = unreadable.get(&id).copied().unwrap_or(0);
            row.review = reviews.get(&id).copied().unwrap_or_default();
            rows.push(row);
        }
        Ok(rows)
    }

    /// Every item with its images `(row id, item)`, in id order — one decode per item (what
    /// exports, versions, diffs and the leakage check read).
    ///
    /// # Errors
    /// SQLite or decoding errors.
    pub fn items(&self) -> Result<Vec<(i64, VqaItem)>> {
        let mut stmt = self.conn.prepare(&format!("SELECT {ITEM_COLUMNS} FROM items ORDER BY id"))?;
        let mut q = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = q.next()? {
            let id: i64 = r.get(0)?;
            // A damaged row is left out (and listed by `damaged_items`); the rest still reads.
            if let Ok(item) = decode_item(r, self.item_images(id)?) {
                out.push((id, item));
            }
        }
        Ok(out)
    }

    /// Items whose stored row cannot be decoded: `(row id, uid if readable, what is wrong)`. Reads
    /// leave them out, so the rest of a damaged project can still be used and exported.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn damaged_items(&self) -> Result<Vec<(i64, String, String)>> {
        let mut stmt = self.conn.prepare(&format!("SELECT {ITEM_COLUMNS} FROM items ORDER BY id"))?;
        let mut q = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = q.next()? {
            if let Err(e) = decode_item(r, Vec::new()) {
                let id: i64 = r.get(0)?;
                let uid = r.get::<_, String>(1).unwrap_or_else(|_| "?".into());
                out.push((id, uid, e.to_string()));
            }
        }
        Ok(out)
    }

    /// The full item with its images (paths as stored; see [`Project::resolve_image`]).
    ///
    /// # Errors
    /// [`StoreError::NoSuchItem`], SQLite or decoding errors.
    pub fn item(&self, id: i64) -> Result<VqaItem> {
        let images = self.item_images(id)?;
        self.conn
            .query_row(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = ?1"), [id], |r| Ok(decode_item(r, images)))
            .optional()?
            .ok_or_else(|| StoreError::NoSuchItem(id.to_string()))?
    }

    /// The row id of the item with this uid.
    ///
    /// # Errors
    /// [`StoreError::NoSuchItem`] or SQLite errors.
    pub fn item_id(&self, uid: &str) -> Result<i64> {
        self.conn
            .query_row("SELECT id FROM items WHERE uid = ?1", [uid], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::NoSuchItem(uid.to_string()))
    }

    fn item_images(&self, id: i64) -> Result<Vec<ImageRef>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT im.path, im.sha256, im.bytes, im.width, im.height, im.unreadable, im.redacted_json FROM item_images ii
             JOIN images im ON im.id = ii.image_id WHERE ii.item_id = ?1 ORDER BY ii.ord",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok(ImageRef {
                path: r.get(0)?,
                sha256: r.get(1)?,
                bytes: r.get::<_, Option<i64>>(2)?.map(|b| b as u64),
                width: r.get(3)?,
                height: r.get(4)?,
                unreadable: r.get(5)?,
                redacted: r
                    .get::<_, Option<String>>(6)?
                    .and_then(|j| serde_json::from_str(&j).ok())
                    .unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Counts by split, modality and source, and missing images.
    ///
    /// # Errors
    /// SQLite or decoding errors.
    pub fn stats(&self) -> Result<DatasetStats> {
        Ok(DatasetStats::from_rows(&self.item_rows()?))
    }
}

/// Writes an item's editable columns (used by the edit log, inside its transaction).
pub(super) fn write_item(conn: &rusqlite::Connection, id: i64, item: &VqaItem) -> Result<()> {
    conn.execute(
        "UPDATE items SET question = ?2, options_json = ?3, answer_json = ?4, modality = ?5, body_part = ?6,
               split = ?7, tags_json = ?8, updated_at = ?9 WHERE id = ?1",
        params![
            id,
            item.question,
            json(&item.options),
            json(&item.answer),
            item.modality.as_str(),
            item.body_part,
            item.split.as_str(),
            json(&item.tags),
            crate::util::now_rfc3339()
        ],
    )?;
    // The image list (an edit can replace a rendering by its redacted copy); paths as stored.
    conn.execute("DELETE FROM item_images WHERE item_id = ?1", params![id])?;
    let mut ins_image = conn.prepare_cached(
        "INSERT INTO images(path, sha256, bytes, width, height, unreadable, redacted_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(path) DO UPDATE SET sha256 = excluded.sha256, redacted_json = excluded.redacted_json RETURNING id",
    )?;
    let mut link = conn.prepare_cached("INSERT INTO item_images(item_id, ord, image_id) VALUES (?1, ?2, ?3)")?;
    for (ord, img) in item.images.iter().enumerate() {
        let image_id = insert_image(&mut ins_image, &img.path, img)?;
        link.execute(params![id, ord as i64, image_id])?;
    }
    Ok(())
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_string())
}

fn decode_item(r: &Row<'_>, images: Vec<ImageRef>) -> Result<VqaItem> {
    let id: i64 = r.get(0)?;
    // Every failure names the item and the column: one damaged row must not be a mystery.
    fn col<T: rusqlite::types::FromSql>(r: &Row<'_>, i: usize, column: &'static str, id: i64) -> Result<T> {
        r.get(i).map_err(|e| StoreError::Corrupt { column, item: id, reason: e.to_string() })
    }
    fn json<T: serde::de::DeserializeOwned>(r: &Row<'_>, i: usize, column: &'static str, id: i64) -> Result<T> {
        let text: String = col(r, i, column, id)?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt { column, item: id, reason: e.to_string() })
    }
    let modality: String = col(r, 5, "modality", id)?;
    let split: String = col(r, 8, "split", id)?;
    Ok(VqaItem {
        uid: col(r, 1, "uid", id)?,
        question: col(r, 2, "question", id)?,
        options: json(r, 3, "options_json", id)?,
        answer: json::<Answer>(r, 4, "answer_json", id)?,
        modality: Modality::parse(&modality).unwrap_or(Modality::Other),
        body_part: col(r, 6, "body_part", id)?,
        source: col(r, 7, "source", id)?,
        split: Split::parse(&split).unwrap_or_default(),
        tags: json(r, 9, "tags_json", id)?,
        meta: json(r, 10, "meta_json", id)?,
        images,
    })
}

/// Runs an `INSERT INTO images(path, sha256, bytes, width, height, unreadable, redacted_json) …
/// RETURNING id` statement for `img` stored at `path`; returns the image's id.
fn insert_image(stmt: &mut rusqlite::CachedStatement<'_>, path: &str, img: &ImageRef) -> rusqlite::Result<i64> {
    let redacted = (!img.redacted.is_empty()).then(|| json(&img.redacted));
    stmt.query_row(
        params![path, img.sha256, img.bytes.map(|b| b as i64), img.width, img.height, img.unreadable, redacted],
        |r| r.get(0),
    )
}
