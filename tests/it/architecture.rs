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

/// Code lines of a file (comments dropped) that contain `needle`, as `file:line: text`.
fn lines_naming(f: &std::path::Path, needles: &[&str]) -> Vec<String> {
    let text = std::fs::read_to_string(f).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    code.lines()
        .enumerate()
        .filter(|(_, l)| {
            let c = l.split("//").next().unwrap_or("");
            needles.iter().any(|n| c.contains(n))
        })
        .map(|(n, l)| format!("{}:{}: {}", f.display(), n + 1, l.trim()))
        .collect()
}

/// rerun's layering: the panes (`ui/`) get the state and a command queue, never the app; the
/// app's state and command modules (what the panes read) never reach back into `ui/`. Only the
/// app's top (`app/mod.rs`, which lends its parts to `ui::shell`, and `app/handlers.rs`, which
/// applies the theme) names `ui`.
#[test]
fn the_ui_is_a_room_below_the_app() {
    let src = root().join("src");
    let mut ui_files = Vec::new();
    rust_files(&src.join("ui"), &mut ui_files);
    let mut offenders: Vec<String> =
        ui_files.iter().flat_map(|f| lines_naming(f, &["WorkbenchApp", ".confirm_import(", ".jobs.cancel("])).collect();
    let mut app_files = Vec::new();
    rust_files(&src.join("app"), &mut app_files);
    for f in &app_files {
        let name = f.file_name().unwrap().to_string_lossy();
        if name != "mod.rs" && name != "handlers.rs" {
            offenders.extend(lines_naming(f, &["crate::ui", "ui::"]).into_iter().filter(|l| !l.contains("egui::")));
        }
    }
    assert!(ui_files.len() > 8 && app_files.len() > 8);
    assert!(offenders.is_empty(), "layering broken:\n{}", offenders.join("\n"));
}
