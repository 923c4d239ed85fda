//! Parquet import: Hugging Face `datasets` files in MedVLThinker's unified schema and verl's
//! layout made with `datasets`/pyarrow (`tests/fixtures/parquet/make_fixtures.py`), broken files
//! named, and our own verl export importing back to the same items.

use medvlm::domain::{Answer, VqaItem};
use medvlm::io::import::{ImportFormat, ImportOptions, Location, detect, import_paths};
use medvlm::jobs::NoProgress;
use medvlm::store::Project;

use super::common::{bin, fixture, sample_copy, tempdir};

fn import(path: &std::path::Path) -> (tempfile::TempDir, Project, medvlm::io::import::ImportSummary) {
    let dir = tempdir();
    let mut p = Project::create(&dir.path().join("t.medvlm")).unwrap();
    let s = import_paths(&mut p, &[path.to_path_buf()], &ImportOptions::default(), &NoProgress).unwrap();
    (dir, p, s)
}

fn items(p: &Project) -> Vec<VqaItem> {
    p.items().unwrap().into_iter().map(|(_, i)| i).collect()
}

#[test]
fn medvlthinker_hf_parquet_imports_with_embedded_images() {
    let path = fixture("parquet/medvlthinker_unified.parquet");
    assert_eq!(detect(&path).unwrap(), ImportFormat::Parquet);
    let (dir, p, s) = import(&path);
    let f = &s.files[0];
    assert_eq!(f.imported, 3, "{:?}", f);
    // The row whose bytes are not an image is refused and named; the others import.
    assert_eq!(f.errors.len(), 1, "{:?}", f.errors);
    assert_eq!(f.errors[0].location, Location::Index(3));
    assert!(f.errors[0].reason.contains("not a PNG or JPEG"), "{}", f.errors[0]);
    let items = items(&p);
    let organ = items.iter().find(|i| i.uid == "pmc_vqa/0").unwrap();
    assert_eq!(organ.options, ["Liver", "Spleen", "Kidney", "Heart"]);
    assert_eq!(organ.answer, Answer::Choice(1));
    assert_eq!(organ.meta["hash"], "ab12");
    let two = items.iter().find(|i| i.uid == "pmc_vqa/1").unwrap();
    assert_eq!(two.images.len(), 2);
    assert_eq!(two.meta["reasoning"], "The cortex is broken.");
    // The same bytes are one file in the project, named by their hash.
    assert_eq!(two.images[1].sha256, organ.images[0].sha256);
    let stored = p.resolve_image(&organ.images[0].path);
    assert!(stored.starts_with(dir.path().join("embedded-images")), "{}", stored.display());
    assert_eq!(medvlm::io::images::read_rgb(&stored).unwrap().1, 10);
    assert_eq!(two.images[0].width, Some(16), "the JPEG decodes");
    let text = items.iter().find(|i| i.uid == "openlifescienceai/medmcqa/15425").unwrap();
    assert!(text.images.is_empty(), "text-only rows have no image");
    assert_eq!(text.answer, Answer::Choice(0));
}

#[test]
fn verl_parquet_medvlthinker_and_generic() {
    let (_d, p, s) = import(&fixture("parquet/verl_medvlthinker.parquet"));
    assert_eq!(s.imported(), 1, "{:?}", s.files[0]);
    let it = &items(&p)[0];
    assert_eq!((it.uid.as_str(), it.question.as_str()), ("pmc_vqa/7", "Which organ is enlarged?"));
    assert_eq!(it.options, ["Liver", "Spleen"]);
    assert_eq!(it.answer, Answer::Choice(1));
    assert_eq!(it.images.len(), 1);
    // A verl file with only a prompt and a ground truth: the prompt's text, an open answer.
    let (_d, p, s) = import(&fixture("parquet/verl_generic.parquet"));
    assert_eq!(s.imported(), 1, "{:?}", s.files[0]);
    let it = &items(&p)[0];
    assert_eq!(it.question, "What is the largest structure shown?");
    assert_eq!(it.answer, Answer::Open("the liver".into()));
    assert_eq!((it.uid.as_str(), it.split.as_str()), ("geo3k/4", "test"));
}

#[test]
fn broken_parquet_files_are_named_with_the_reason() {
    for (f, why) in [
        ("truncated.parquet", "not a readable Parquet file"),
        ("wrong_schema.parquet", "neither MedVLThinker's unified schema"),
    ] {
        let (_d, _p, s) = import(&fixture(&format!("parquet/{f}")));
        let fatal = s.files[0].fatal.clone().unwrap_or_default();
        assert!(fatal.contains(why) && fatal.contains(f), "{f}: {fatal}");
    }
}

/// Export → import: the verl Parquet the workbench writes reads back to the same items (uid,
/// question, options, answer, modality, split, source, tags, image bytes).
#[test]
fn our_verl_export_round_trips() {
    let d = tempdir();
    let project = sample_copy(d.path());
    let out = d.path().join("train.parquet");
    let o = bin()
        .args(["curate", "export", "--format", "verl-parquet", "--project"])
        .arg(&project)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = Project::open(&project).unwrap();
    let mut want: Vec<VqaItem> =
        items(&before).into_iter().filter(|i| !i.tags.iter().any(|t| t == "excluded")).collect();
    let back = d.path().join("back.medvlm");
    let i = bin().args(["import", "--project"]).arg(&back).arg(&out).output().unwrap();
    assert!(i.status.success(), "{}", String::from_utf8_lossy(&i.stderr));
    let mut got = items(&Project::open(&back).unwrap());
    assert_eq!(got.len(), want.len());
    want.sort_by(|a, b| a.uid.cmp(&b.uid));
    got.sort_by(|a, b| a.uid.cmp(&b.uid));
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(
            (&w.uid, &w.question, &w.options, &w.answer, w.modality, w.split, &w.source, &w.body_part),
            (&g.uid, &g.question, &g.options, &g.answer, g.modality, g.split, &g.source, &g.body_part)
        );
        assert_eq!(w.tags, g.tags, "{}", w.uid);
        let sha = |i: &VqaItem| i.images.iter().map(|r| r.sha256.clone()).collect::<Vec<_>>();
        assert_eq!(sha(w), sha(g), "{}: the same image bytes", w.uid);
    }
}
