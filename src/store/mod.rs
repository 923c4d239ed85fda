//! The project store: one SQLite file (`*.medvlm`) per project, WAL-journaled, foreign keys on,
//! every write in a transaction. Image paths are kept relative to the file's folder so a project
//! folder can be moved. No UI imports.

mod difficulty;
mod history;
mod items;
pub mod owner;
mod pairwise;
mod ratings;
mod reviews;
mod runs;
pub mod schema;
mod scores;
mod versions;
pub mod watch;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension as _};

pub use difficulty::{EstimateKey, GroupOutcome, PassCount, RunEstimate};
pub use history::{EditGroupInfo, UndoOutcome};
pub use items::InsertOutcome;
pub use owner::Heartbeat;
pub use reviews::ReviewRow;
pub use runs::{CheckpointRow, RolloutRow, RunKind, RunRow, RunStatus, StepInfo, StoredRollout};
pub use scores::{EvalResultRow, ScoreRow};
pub use versions::{DiffEntry, VersionDiff, VersionInfo};

/// File extension of a project.
pub const EXTENSION: &str = "medvlm";

/// Errors from the project store. File paths come last in messages.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file does not exist.
    #[error("project not found: {0}")]
    NotFound(PathBuf),
    /// The file cannot be read as a database (truncated, corrupted, or its folder is read-only).
    #[error("cannot open project ({reason}): {path}")]
    Damaged {
        /// SQLite's words, with a hint.
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// The file exists but is not a MedVLM project.
    #[error("not a MedVLM project (wrong application id): {0}")]
    NotAProject(PathBuf),
    /// The file is already a project (on create).
    #[error("a project already exists at {0}")]
    AlreadyExists(PathBuf),
    /// Schema migration failed.
    #[error("cannot open project {path}: {source}")]
    Migrate {
        /// The project file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: schema::MigrateError,
    },
    /// No item with that id or uid.
    #[error("no item {0}")]
    NoSuchItem(String),
    /// A stored JSON column could not be decoded.
    #[error("corrupt {column} in item {item}: {reason}")]
    Corrupt {
        /// Column name.
        column: &'static str,
        /// Item id.
        item: i64,
        /// Decoder message.
        reason: String,
    },
    /// An edit was refused.
    #[error(transparent)]
    Edit(#[from] crate::domain::edit::EditError),
    /// An undo/redo could not be applied because the item changed since.
    #[error("cannot {action}: item {item} field `{field}` was changed since")]
    Conflict {
        /// "undo" or "redo".
        action: &'static str,
        /// Item uid.
        item: String,
        /// Field name.
        field: String,
    },
    /// Another live process works on the run.
    #[error(
        "run {run} is being trained by process {pid} on {host} (last heartbeat {seconds_ago:.0} s ago); stop that process first, or wait until it ends"
    )]
    RunBusy {
        /// Run id.
        run: i64,
        /// Owner process.
        pid: u32,
        /// Owner host.
        host: String,
        /// Seconds since its last heartbeat.
        seconds_ago: f64,
    },
    /// A request the store refuses (empty or duplicate version name, damaged snapshot, ...).
    #[error("{0}")]
    Invalid(String),
    /// A file-system operation failed.
    #[error("{source}: {path}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// SQLite's message for a failure to open `path`, with the likely cause when it is a known one.
fn sqlite_words(e: &rusqlite::Error, path: &Path) -> String {
    let words = e.to_string();
    let code = e.sqlite_error_code();
    let hint = match code {
        Some(rusqlite::ErrorCode::NotADatabase) => {
            " — the file is damaged or not a database; keep it, a backup may restore it"
        }
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => " — the file is damaged; keep it, a backup may restore it",
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen) => {
            let dir_ro = path
                .parent()
                .and_then(|d| std::fs::metadata(if d.as_os_str().is_empty() { Path::new(".") } else { d }).ok())
                .is_some_and(|m| m.permissions().readonly());
            if dir_ro || path.metadata().is_ok_and(|m| m.permissions().readonly()) {
                " — the file or its folder is read-only (a project needs to write its journal beside it)"
            } else {
                " — check the file's and its folder's permissions"
            }
        }
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            " — another program holds the file locked"
        }
        _ => "",
    };
    format!("SQLite: {words}{hint}")
}

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An open project file.
pub struct Project {
    conn: Connection,
    path: PathBuf,
    dir: PathBuf,
}

impl std::fmt::Debug for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Project").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Project {
    /// Creates a new, empty project file.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] if the file exists; SQLite errors.
    pub fn create(path: &Path) -> Result<Self> {
        if path.exists() {
            return Err(StoreError::AlreadyExists(path.to_path_buf()));
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io { path: parent.to_path_buf(), source })?;
        }
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)?;
        conn.pragma_update(None, "application_id", schema::APPLICATION_ID)?;
        let mut project = Self::init(conn, path)?;
        project.set_meta("created_at", &crate::util::now_rfc3339())?;
        project.set_meta("created_by", crate::VERSION)?;
        Ok(project)
    }

    /// Opens an existing project, migrating it to the current schema.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::NotAProject`], migration and SQLite errors.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(StoreError::NotFound(path.to_path_buf()));
        }
        let damaged =
            |e: rusqlite::Error| StoreError::Damaged { reason: sqlite_words(&e, path), path: path.to_path_buf() };
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(damaged)?;
        // An unreadable file is damaged (or locked away), not "another kind of file": say what SQLite said.
        let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(damaged)?;
        if app_id != schema::APPLICATION_ID {
            return Err(StoreError::NotAProject(path.to_path_buf()));
        }
        Self::init(conn, path).map_err(|e| match e {
            StoreError::Sqlite(e) => damaged(e),
            other => other,
        })
    }

    /// Opens `path`, creating the project first if the file does not exist. The flag is true when created.
    ///
    /// # Errors
    /// As [`Project::open`] and [`Project::create`].
    pub fn open_or_create(path: &Path) -> Result<(Self, bool)> {
        if path.exists() { Ok((Self::open(path)?, false)) } else { Ok((Self::create(path)?, true)) }
    }

    fn init(mut conn: Connection, path: &Path) -> Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // WAL: readers (the UI's loaders) never block the writer (an import or a training run).
        // synchronous=FULL: a committed transaction survives a crash of the process or the machine.
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        tracing::debug!(journal_mode = %mode, "opened project");
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        schema::migrate(&mut conn).map_err(|source| StoreError::Migrate { path: path.to_path_buf(), source })?;
        let path = crate::util::absolute(path);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(Self { conn, path, dir })
    }

    /// The project file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder holding the project file; stored relative image paths start here.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The project's display name (the file stem).
    pub fn name(&self) -> String {
        self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// The schema version of the open file.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn schema_version(&self) -> Result<i32> {
        Ok(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Reads a `meta` value.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    /// Writes a `meta` value.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    /// The absolute path of a stored image path.
    pub fn resolve_image(&self, stored: &str) -> PathBuf {
        let p = Path::new(stored);
        if p.is_absolute() { p.to_path_buf() } else { crate::util::normalize(&self.dir.join(p)) }
    }

    /// The stored form of an image path: relative to [`Project::dir`].
    pub fn store_image_path(&self, path: &Path) -> String {
        crate::util::relative_to(path, &self.dir)
    }

    /// Runs SQLite's `integrity_check` and `foreign_key_check`; returns the problems found (empty = healthy).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn check_integrity(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
            let row = row?;
            if row != "ok" {
                out.push(row);
            }
        }
        let mut stmt = self.conn.prepare("PRAGMA foreign_key_check")?;
        let fk = stmt.query_map([], |r| Ok(format!("foreign key violation in {}", r.get::<_, String>(0)?)))?;
        for row in fk {
            out.push(row?);
        }
        Ok(out)
    }

    /// Moves everything in the write-ahead log into the main file, so the `.medvlm` file alone is complete.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}
