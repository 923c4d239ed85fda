//! Architecture rules that Cargo cannot enforce inside one crate.

use super::common::root;

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The pure core: these never import egui/eframe (the UI is `app/` and `ui/`).
const CORE: &[&str] = &[
    "domain", "io", "review", "store", "sample", "imaging", "model", "train", "metrics", "curation", "cli", "jobs.rs",
    "util.rs",
];

#[test]
fn core_modules_never_import_egui() {
    let src = root().join("src");
    let mut files = Vec::new();
    for c in CORE {
        let p = src.join(c);
        if p.is_dir() {
            rust_files(&p, &mut files);
        } else {
            files.push(p);
        }
    }
    assert!(files.len() > 10, "core files found: {}", files.len());
    let mut offenders = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("egui") || code.contains("eframe") {
                offenders.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "core modules import UI crates:\n{}", offenders.join("\n"));
}

#[test]
fn every_module_starts_with_a_doc_line_and_stays_short() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("tests/it"), &mut files);
    let mut problems = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        if !text.starts_with("//!") {
            problems.push(format!("{}: does not start with a `//!` line", f.display()));
        }
        let n = text.lines().count();
        if n > 600 {
            problems.push(format!("{}: {n} lines (split before 600)", f.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_unwrap_or_expect_outside_tests() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut offenders = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // Only the code before the file's test module counts.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            let l = line.split("//").next().unwrap_or("");
            if l.contains(".unwrap()") || l.contains(".expect(") {
                offenders.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "unwrap/expect in library code:\n{}", offenders.join("\n"));
}
