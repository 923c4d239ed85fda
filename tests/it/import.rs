//! Importers on real examples (VQA-RAD, SLAKE) and on the seeds' formats, including broken records.

use medvlm::domain::{Answer, Modality, Split};
use medvlm::io::import::{ImportFormat, ImportOptions, Location, detect, import_paths};
use medvlm::jobs::NoProgress;
use medvlm::store::Project;

use super::common::{fixture, tempdir};

fn import(paths: &[&str], opts: ImportOptions) -> (tempfile::TempDir, Project, medvlm::io::import::ImportSummary) {
    let dir = tempdir();
    let mut p = Project::create(&dir.path().join("t.medvlm")).unwrap();
    let paths: Vec<_> = paths.iter().map(|p| fixture(p)).collect();
    let s = import_paths(&mut p, &paths, &opts, &NoProgress).unwrap();
    (dir, p, s)
}

#[test]
fn formats_are_detected() {
    assert_eq!(detect(&fixture("vqa_rad/trainset.json")).unwrap(), ImportFormat::VqaRad);
    assert_eq!(detect(&fixture("slake/test.json")).unwrap(), ImportFormat::Slake);
    assert_eq!(detect(&fixture("medvlm_r1/MRI_CT_XRAY_sample.json")).unwrap(), ImportFormat::MedvlmR1);
    assert_eq!(detect(&fixture("medvlthinker/train_with_errors.jsonl")).unwrap(), ImportFormat::Medvlthinker);
    assert_eq!(detect(&fixture("folder")).unwrap(), ImportFormat::Folder);
    assert_eq!(detect(&fixture("folder/manifest.csv")).unwrap(), ImportFormat::Folder);
    assert!(detect(&fixture("README.md")).is_err());
}

#[test]
fn vqa_rad_closed_become_yes_no_and_open_stay_open() {
    let (_d, p, s) = import(&["vqa_rad/trainset.json", "vqa_rad/testset.json"], ImportOptions::default());
    assert_eq!(s.imported(), 63, "{}", s.one_line());
    assert_eq!(s.failed(), 0);
    assert_eq!(s.missing_images(), 0);
    let rows = p.item_rows().unwrap();
    assert_eq!(rows.iter().filter(|r| r.split == Split::Test).count(), 7);
    // qid 2392: integer answer 4 to an OPEN count question.
    let it = p.item(p.item_id("vqa-rad/train/2392").unwrap()).unwrap();
    assert_eq!(it.answer, Answer::Open("4".into()));
    assert!(it.options.is_empty());
    assert_eq!(it.body_part.as_deref(), Some("Abdomen"));
    // qid 3371: "CLOSED " (trailing space) with answer "Maybe": not yes/no, so open-ended.
    let it = p.item(p.item_id("vqa-rad/train/3371").unwrap()).unwrap();
    assert_eq!(it.answer, Answer::Open("Maybe".into()));
    assert_eq!(it.meta["answer_type"], "CLOSED");
    // Every CLOSED yes/no record is a two-option item with the right letter.
    for r in rows.iter().filter(|r| r.n_options == 2) {
        let it = p.item(r.id).unwrap();
        assert_eq!(it.options, vec!["Yes", "No"]);
        let raw = it
            .meta
            .get("answer_raw")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| it.answer_text().to_string());
        assert_eq!(raw.trim().to_lowercase(), it.answer_text().to_lowercase());
    }
    // Images are hashed and stored relative to the project folder.
    let it = p.item(rows[0].id).unwrap();
    assert!(!std::path::Path::new(&it.images[0].path).is_absolute());
    assert_eq!(it.images[0].sha256.as_ref().map(String::len), Some(64));
    assert!(p.resolve_image(&it.images[0].path).is_file());
    // Re-importing adds nothing.
    let mut p = p;
    let again =
        import_paths(&mut p, &[fixture("vqa_rad/trainset.json")], &ImportOptions::default(), &NoProgress).unwrap();
    assert_eq!((again.imported(), again.duplicates()), (0, 56));
}

#[test]
fn vqa_rad_modality_is_inferred_from_modality_questions() {
    let (_d, p, _) = import(&["vqa_rad/trainset.json"], ImportOptions::default());
    let rows = p.item_rows().unwrap();
    let known = rows.iter().filter(|r| r.modality != Modality::Other).count();
    assert!(known > 0, "no modality inferred");
}

#[test]
fn slake_records_import_with_missing_images_flagged_and_chinese_kept() {
    let (_d, p, s) = import(&["slake/test.json"], ImportOptions::default());
    assert_eq!(s.imported(), 25);
    assert_eq!(s.missing_images(), 25);
    let stats = p.stats().unwrap();
    assert_eq!(stats.missing_images, 25);
    assert_eq!(stats.by_split["test"], 25);
    let rows = p.item_rows().unwrap();
    let zh = rows.iter().find(|r| r.tags.contains(&"lang:zh".to_string()) && r.n_options == 2).unwrap();
    let it = p.item(zh.id).unwrap();
    assert!(it.question.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{}", it.question);
    assert!(["包含", "是的", "有", "可以", "正常", "是"].contains(&it.options[0].as_str()), "{:?}", it.options);
    // Unicode survives a round trip through the store byte for byte.
    let src: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("slake/test.json")).unwrap()).unwrap();
    let qid = it.meta["qid"].as_str().unwrap();
    let original = src.as_array().unwrap().iter().find(|r| scalar(&r["qid"]) == qid).unwrap();
    assert_eq!(original["question"].as_str().unwrap().trim(), it.question);
}

#[test]
fn medvlm_r1_subset_strings_give_modalities_and_bad_records_are_reported() {
    let (_d, p, s) = import(&["medvlm_r1/MRI_CT_XRAY_sample.json"], ImportOptions::default());
    assert_eq!(s.imported(), 4, "{:#?}", s.files[0].errors);
    let errs = &s.files[0].errors;
    let at =
        |i: usize| errs.iter().find(|e| e.location == Location::Index(i)).map(|e| e.reason.clone()).unwrap_or_default();
    assert!(at(3).contains("not one of the options"), "{}", at(3));
    // A PNG signature over garbage: imported, flagged unreadable with a warning (jobs skip it).
    let warn = s.files[0].warnings.iter().find(|w| w.location == Location::Index(4)).map(|w| w.reason.clone());
    assert!(warn.as_deref().is_some_and(|w| w.contains("unreadable")), "{warn:?}");
    assert!(at(5).contains("not a JSON object"), "{}", at(5));
    assert!(at(6).contains("question"), "{}", at(6));
    let stats = p.stats().unwrap();
    assert_eq!(stats.by_modality["MRI"], 1);
    assert_eq!(stats.by_modality["CT"], 1);
    assert_eq!(stats.by_modality["X-ray"], 2);
    assert_eq!(stats.missing_images, 1);
    assert_eq!(stats.unreadable_images, 1);
    let first = p.item(p.item_rows().unwrap()[0].id).unwrap();
    assert_eq!(first.answer_letter(), Some('D'));
    assert_eq!(first.source, "OmniMedVQA");
    assert_eq!(first.meta["subset"], "MR (Mag-netic Resonance Imaging)");
    assert_eq!(
        first.problem_text(),
        "What is apparent in this image?\nA) Hemorrhage\nB) Acute infarct\nC) Abscess formation\nD) Chronic infarct"
    );
}

#[test]
fn medvlthinker_jsonl_reports_each_bad_line_by_number() {
    // Line 2's image sits in a sibling fixture folder: allowed here on purpose.
    let opts = ImportOptions { allow_outside: true, ..ImportOptions::default() };
    let (_d, p, s) = import(&["medvlthinker/train_with_errors.jsonl"], opts);
    assert_eq!(s.imported(), 3);
    let lines: Vec<(usize, String)> = s.files[0]
        .errors
        .iter()
        .map(|e| match e.location {
            Location::Line(n) => (n, e.reason.clone()),
            _ => panic!("{e}"),
        })
        .collect();
    let nums: Vec<usize> = lines.iter().map(|l| l.0).collect();
    assert_eq!(nums, vec![3, 5, 7, 8], "{lines:#?}");
    assert!(lines[0].1.contains("invalid JSON"));
    assert!(lines[1].1.contains("not one of the options"));
    assert!(lines[2].1.contains("does not match option A"));
    assert!(lines[3].1.contains("not contiguous"));
    let it = p.item(p.item_id("openlifescienceai/medmcqa/15425").unwrap()).unwrap();
    assert_eq!(it.options, vec!["Cap Stage.", "Bus Stage.", "Advanced Bell Stage.", "Early Bell Stage."]);
    assert_eq!(it.answer_letter(), Some('A'));
    assert!(it.images.is_empty(), "text-only row");
    let zh = p.item(p.item_id("zh_demo/1").unwrap()).unwrap();
    assert_eq!(zh.question, "胸部X光片显示什么？");
    assert_eq!(zh.options, vec!["气胸", "正常"]);
}

#[test]
fn folder_manifest_csv() {
    let (_d, p, s) = import(&["folder"], ImportOptions { tags: vec!["batch1".into()], ..ImportOptions::default() });
    assert_eq!(s.imported(), 4, "{:#?}", s.files[0].errors);
    assert_eq!(s.failed(), 1);
    assert!(matches!(s.files[0].errors[0].location, Location::Line(5)), "{:?}", s.files[0].errors);
    let two = p.item(p.item_id("folder/2").unwrap()).unwrap();
    assert_eq!(two.options, vec!["upper left", "lower right"]);
    assert_eq!(two.answer_letter(), Some('B'));
    assert_eq!(two.modality, Modality::Ct);
    assert_eq!(two.meta["note"], "comma, inside");
    assert_eq!(two.tags, vec!["batch1", "demo"]);
    let five = p.item(p.item_id("folder/5").unwrap()).unwrap();
    assert_eq!(five.answer, Answer::Open("Brain".into()));
    assert_eq!(five.split, Split::Val);
    assert_eq!(p.stats().unwrap().missing_images, 1);
}

#[test]
fn split_and_source_overrides() {
    let opts = ImportOptions { split: Some(Split::Train), source: Some("rad".into()), ..ImportOptions::default() };
    let (_d, p, _) = import(&["vqa_rad/testset.json"], opts);
    let stats = p.stats().unwrap();
    assert_eq!(stats.by_split["train"], 7);
    assert_eq!(stats.by_source["rad"], 7);
}

#[test]
fn a_missing_file_is_reported_and_others_still_import() {
    let dir = tempdir();
    let mut p = Project::create(&dir.path().join("t.medvlm")).unwrap();
    let paths = vec![dir.path().join("nope.json"), fixture("folder")];
    let s = import_paths(&mut p, &paths, &ImportOptions::default(), &NoProgress).unwrap();
    assert!(s.files[0].fatal.as_ref().unwrap().contains("nope.json"));
    assert_eq!(s.imported(), 4);
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
