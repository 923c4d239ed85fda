//! Noticing writes by other processes (the CLI, a second window): SQLite's `PRAGMA data_version`
//! on a connection of our own changes whenever another connection commits to the file.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::Result;

/// A read-only connection that reports commits made elsewhere.
pub struct ChangeWatch {
    conn: Connection,
    path: PathBuf,
    last: i64,
}

impl ChangeWatch {
    /// Watches the project file at `path`.
    ///
    /// # Errors
    /// SQLite errors (an unreadable file).
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let last = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        Ok(Self { conn, path: path.to_path_buf(), last })
    }

    /// The file watched.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True once after another connection committed (an unreadable version counts as no change).
    pub fn changed(&mut self) -> bool {
        match self.conn.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0)) {
            Ok(v) if v != self.last => {
                self.last = v;
                true
            }
            _ => false,
        }
    }
}
