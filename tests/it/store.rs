//! The project store: schema, relative paths, the edit log with undo/redo, and crash safety
//! (a child process killed mid-write leaves a readable project that holds everything acknowledged).

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use medvlm::domain::{FieldEdit, ItemField, Split};
use medvlm::io::import::{ImportOptions, import_paths};
use medvlm::jobs::NoProgress;
use medvlm::store::{Project, StoreError, schema};

use super::common::{bin, fixture, tempdir};

#[test]
fn create_open_and_refuse_foreign_files() {
    let dir = tempdir();
    let path = dir.path().join("p.medvlm");
    let p = Project::create(&path).unwrap();
    assert_eq!(p.schema_version().unwrap(), schema::SCHEMA_VERSION);
    assert!(p.meta("created_at").unwrap().is_some());
    drop(p);
    assert!(matches!(Project::create(&path), Err(StoreError::AlreadyExists(_))));
    Project::open(&path).unwrap();
    let other = dir.path().join("other.db");
    std::fs::write(&other, b"not sqlite at all, just text").unwrap();
    assert!(Project::open(&other).is_err());
    assert!(matches!(Project::open(&dir.path().join("missing.medvlm")), Err(StoreError::NotFound(_))));
}

#[test]
fn a_project_folder_can_be_moved() {
    let dir = tempdir();
    let a = dir.path().join("a");
    std::fs::create_dir_all(a.join("imgs")).unwrap();
    for f in ["manifest.csv", "imgs/a.png", "imgs/b.png"] {
        std::fs::copy(fixture(&format!("folder/{f}")), a.join(f)).unwrap();
    }
    let mut p = Project::create(&a.join("proj.medvlm")).unwrap();
    import_paths(&mut p, std::slice::from_ref(&a), &ImportOptions::default(), &NoProgress).unwrap();
    drop(p);
    let b = dir.path().join("moved");
    std::fs::rename(&a, &b).unwrap();
    let p = Project::open(&b.join("proj.medvlm")).unwrap();
    let it = p.item(p.item_id("folder/1").unwrap()).unwrap();
    assert_eq!(it.images[0].path, "imgs/a.png");
    assert!(p.resolve_image(&it.images[0].path).is_file());
}

#[test]
fn edits_undo_and_redo_through_the_log() {
    let dir = tempdir();
    let mut p = Project::create(&dir.path().join("p.medvlm")).unwrap();
    import_paths(&mut p, &[fixture("folder")], &ImportOptions::default(), &NoProgress).unwrap();
    let id = p.item_id("folder/1").unwrap();
    let item = p.item(id).unwrap();
    p.apply_edits("move to test", &[(id, FieldEdit::set(&item, ItemField::Split, "test".into()))]).unwrap();
    let item2 = p.item(id).unwrap();
    p.apply_edits("retag", &[(id, FieldEdit::set(&item2, ItemField::Tags, serde_json::json!(["x"])))]).unwrap();
    assert_eq!(p.item(id).unwrap().split, Split::Test);
    // An invalid edit is refused and changes nothing.
    let bad = FieldEdit::set(&item2, ItemField::Answer, serde_json::json!({"kind":"choice","value":7}));
    assert!(p.apply_edits("bad", &[(id, bad)]).is_err());
    let undone = p.undo().unwrap().unwrap();
    assert_eq!(undone.label, "retag");
    assert_eq!(p.item(id).unwrap().tags, vec!["demo", "easy"]);
    p.undo().unwrap();
    assert_eq!(p.item(id).unwrap(), item);
    assert!(p.undo().unwrap().is_none());
    p.redo().unwrap();
    assert_eq!(p.item(id).unwrap().split, Split::Test);
    // Survives reopening (the log is in the file).
    drop(p);
    let mut p = Project::open(&dir.path().join("p.medvlm")).unwrap();
    assert_eq!(p.redo().unwrap().unwrap().label, "retag");
    assert_eq!(p.item(id).unwrap().tags, vec!["x"]);
    // A new edit after an undo abandons the redo branch.
    p.undo().unwrap();
    let it = p.item(id).unwrap();
    p.apply_edits("body part", &[(id, FieldEdit::set(&it, ItemField::BodyPart, "Head".into()))]).unwrap();
    assert!(p.redo().unwrap().is_none());
    let kinds: Vec<String> = p.history(50).unwrap().into_iter().map(|g| g.kind).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "undo").count(), 3);
}

/// Kills `medvlm dev stress` after some acknowledged commits and checks they all survived.
#[test]
fn killing_a_writer_loses_nothing_acknowledged() {
    let dir = tempdir();
    let path = dir.path().join("crash.medvlm");
    let mut child = bin()
        .args(["dev", "stress", "--project"])
        .arg(&path)
        .args(["--chunks", "100000", "--chunk", "40"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut acked_items, mut acked_tags) = (0usize, Vec::<(String, String)>::new());
    let t0 = Instant::now();
    while acked_tags.len() < 25 && t0.elapsed() < Duration::from_secs(60) {
        let Some(Ok(line)) = lines.next() else { break };
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["ack", "items", n] => acked_items = n.parse().unwrap(),
            ["ack", "edit", _g, uid, tag] => acked_tags.push(((*uid).to_string(), (*tag).to_string())),
            _ => {}
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructors, no clean shutdown
    child.wait().unwrap();
    assert!(acked_tags.len() >= 25, "child acknowledged too little");
    let p = Project::open(&path).unwrap();
    assert!(p.check_integrity().unwrap().is_empty());
    let n = p.item_count().unwrap();
    assert!(n >= acked_items, "{n} items in the file, {acked_items} acknowledged");
    assert_eq!(n % 40, 0, "a chunk was half-written: {n}");
    for (uid, tag) in &acked_tags {
        let it = p.item(p.item_id(uid).unwrap()).unwrap();
        assert_eq!(it.tags, vec![tag.clone()], "{uid}");
    }
}

/// Kills a real `medvlm import` of a large JSONL mid-way: the project stays readable and holds whole chunks.
#[test]
fn killing_an_import_leaves_whole_chunks() {
    let dir = tempdir();
    let data = dir.path().join("big.jsonl");
    let mut text = String::new();
    for i in 0..60_000 {
        text.push_str(&format!(
            "{{\"question\":\"Q{i} 问题\",\"options\":\"{{\\\"A\\\":\\\"yes\\\",\\\"B\\\":\\\"no\\\"}}\",\"answer_label\":\"A\",\"answer\":\"yes\",\"dataset_name\":\"big\",\"dataset_index\":{i}}}\n"
        ));
    }
    std::fs::write(&data, text).unwrap();
    let path = dir.path().join("imp.medvlm");
    let mut child = bin()
        .arg("import")
        .arg("--project")
        .arg(&path)
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some chunks are in, then kill.
    let t0 = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(30));
        let n = Project::open(&path).ok().and_then(|p| p.item_count().ok()).unwrap_or(0);
        if n >= 1024 || t0.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let p = Project::open(&path).unwrap();
    assert!(p.check_integrity().unwrap().is_empty());
    let n = p.item_count().unwrap();
    assert!(n >= 1024, "{n}");
    assert!(n.is_multiple_of(medvlm::io::import::CHUNK) || n == 60_000, "partial chunk: {n}");
    // Re-running the import completes it without duplicates.
    let out = bin().arg("import").arg("--project").arg(&path).arg(&data).output().unwrap();
    assert!(out.status.success());
    assert_eq!(Project::open(&path).unwrap().item_count().unwrap(), 60_000);
}

/// Kills `medvlm dev bulk-stress` while it applies bulk actions over every item: each action is all
/// or nothing, so after the kill every item carries the tag of one and the same round, at least the
/// last acknowledged one.
#[test]
fn killing_a_bulk_action_applies_all_or_nothing() {
    let dir = tempdir();
    let path = super::common::sample_copy(dir.path());
    let mut child = bin().args(["dev", "bulk-stress", "--project"]).arg(&path).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = None;
    let t0 = Instant::now();
    while acked.is_none_or(|r: usize| r < 3) && t0.elapsed() < Duration::from_secs(120) {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(r) = line.strip_prefix("ack bulk ") {
            acked = Some(r.parse().unwrap());
        }
    }
    // Let the next bulk action get under way, then kill mid-transaction.
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap();
    child.wait().unwrap();
    let acked = acked.expect("no bulk action acknowledged");
    let p = Project::open(&path).unwrap();
    let tags: std::collections::BTreeSet<Vec<String>> = p.item_rows().unwrap().into_iter().map(|r| r.tags).collect();
    assert_eq!(tags.len(), 1, "items from different rounds: {tags:?}");
    let round: usize = tags.iter().next().unwrap()[0].trim_start_matches("bulk-").parse().unwrap();
    assert!(round >= acked, "round {round} < acknowledged {acked}");
}
