//! Small helpers with no better home: UTC timestamps, relative paths, byte sizes.

use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch as `f64` (0 if the clock is before 1970).
pub fn unix_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// The current time as RFC 3339 UTC with second precision, e.g. `2026-11-22T04:45:06Z`.
pub fn now_rfc3339() -> String {
    rfc3339_from_unix(unix_seconds() as i64)
}

/// Formats Unix seconds as RFC 3339 UTC (proleptic Gregorian calendar).
pub fn rfc3339_from_unix(secs: i64) -> String {
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The proleptic Gregorian `(year, month, day)` of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (`days_from_civil`, the inverse).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Lexically normalises a path: removes `.` and resolves `..` against a preceding normal component.
/// A `..` that climbs above a relative path is kept (`../../a` stays), and one above the root is
/// dropped (`/..` is `/`).
pub fn normalize(path: &Path) -> PathBuf {
    let mut parts: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => parts.push(c),
            },
            other => parts.push(other),
        }
    }
    let out: PathBuf = parts.iter().map(|c| c.as_os_str()).collect();
    if out.as_os_str().is_empty() && !path.as_os_str().is_empty() { PathBuf::from(".") } else { out }
}

/// `path` made absolute against the current directory and normalised (no file-system access).
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        normalize(path)
    } else {
        let cwd = std::env::current_dir().unwrap_or_default();
        normalize(&cwd.join(path))
    }
}

/// `path` relative to `base` (both made absolute first), using `..` where needed; `/`-separated.
/// Returns the absolute path when no relative form exists (e.g. different Windows drives).
pub fn relative_to(path: &Path, base: &Path) -> String {
    let path = absolute(path);
    let base = absolute(base);
    let p: Vec<Component<'_>> = path.components().collect();
    let b: Vec<Component<'_>> = base.components().collect();
    if p.first() != b.first() {
        return path.to_string_lossy().replace('\\', "/");
    }
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_string(), b.len() - common).collect();
    parts.extend(p[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    if parts.is_empty() { ".".to_string() } else { parts.join("/") }
}

/// Per-user data folder of the workbench: `$XDG_DATA_HOME/medvlm`, `~/.local/share/medvlm`,
/// `%APPDATA%\medvlm` on Windows, or `./.medvlm` as a last resort.
pub fn data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("medvlm");
    }
    if cfg!(windows)
        && let Some(a) = std::env::var_os("APPDATA")
    {
        return PathBuf::from(a).join("medvlm");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        let home = PathBuf::from(h);
        return if cfg!(target_os = "macos") {
            home.join("Library/Application Support/medvlm")
        } else {
            home.join(".local/share/medvlm")
        };
    }
    PathBuf::from(".medvlm")
}

/// Per-user cache folder of the workbench (safe to delete): `$MEDVLM_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/medvlm`, `~/.cache/medvlm`, `~/Library/Caches/medvlm` on macOS,
/// `%LOCALAPPDATA%\medvlm\cache` on Windows, or `./.medvlm-cache` as a last resort.
pub fn cache_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|x| !x.is_empty()).map(PathBuf::from);
    if let Some(d) = env("MEDVLM_CACHE_DIR") {
        return d;
    }
    if let Some(x) = env("XDG_CACHE_HOME") {
        return x.join("medvlm");
    }
    if cfg!(windows)
        && let Some(a) = env("LOCALAPPDATA")
    {
        return a.join("medvlm").join("cache");
    }
    match env("HOME") {
        Some(home) if cfg!(target_os = "macos") => home.join("Library/Caches/medvlm"),
        Some(home) => home.join(".cache/medvlm"),
        None => PathBuf::from(".medvlm-cache"),
    }
}

/// Human-readable byte count (`1.5 MB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to `path` through a `.partial` file renamed into place, so a reader never sees
/// half a file and a failed write leaves no file behind.
///
/// # Errors
/// I/O errors (the partial file is removed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("partial");
    let res = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339_from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_from_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_from_unix(1_795_321_506), "2026-11-22T04:25:06Z");
    }

    #[test]
    fn relative_paths() {
        assert_eq!(relative_to(Path::new("/a/b/img/x.png"), Path::new("/a/b")), "img/x.png");
        assert_eq!(relative_to(Path::new("/a/data/x.png"), Path::new("/a/b")), "../data/x.png");
        assert_eq!(relative_to(Path::new("/a/b/./c/../x.png"), Path::new("/a/b/")), "x.png");
    }

    #[test]
    fn bytes() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }
}
