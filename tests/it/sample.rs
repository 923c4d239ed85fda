//! The bundled sample project: MedVLM-R1's protocol in miniature, deterministic, small, committed.

use medvlm::domain::Modality;
use medvlm::jobs::NoProgress;
use medvlm::store::Project;

use super::common::{root, tempdir};

#[test]
fn committed_sample_project_follows_the_protocol() {
    // A copy: opening a project may migrate it, and a test must not change the repository.
    let dir = tempdir();
    let p = Project::open(&super::common::sample_copy(dir.path())).unwrap();
    let stats = p.stats().unwrap();
    assert_eq!(stats.items, 740);
    assert_eq!(stats.missing_images, 0);
    let rows = p.item_rows().unwrap();
    // Train: MRI only. Test: MRI, CT and X-ray (out of domain).
    assert!(rows.iter().filter(|r| r.split.as_str() == "train").all(|r| r.modality == Modality::Mri));
    for m in [Modality::Mri, Modality::Ct, Modality::XRay] {
        assert_eq!(rows.iter().filter(|r| r.split.as_str() == "test" && r.modality == m).count(), 100);
    }
    assert!(rows.iter().all(|r| (2..=4).contains(&r.n_options)));
    let mut total = 0;
    for r in rows.iter().step_by(37) {
        let it = p.item(r.id).unwrap();
        let img = &it.images[0];
        assert_eq!((img.width.unwrap() % 28, img.height.unwrap() % 28), (0, 0));
        assert!(it.meta.contains_key("findings"));
    }
    for e in std::fs::read_dir(root().join("sample-data/images")).unwrap() {
        total += e.unwrap().metadata().unwrap().len();
    }
    assert!(total <= 10_000_000, "sample images take {total} bytes");
}

#[test]
fn generator_is_deterministic_and_matches_the_committed_images() {
    let a = tempdir();
    let s = medvlm::sample::generate(a.path(), medvlm::sample::DEFAULT_SEED, false, &NoProgress).unwrap();
    assert_eq!(s.imported(), 740);
    assert_eq!(s.failed(), 0);
    for name in ["train-mri-0000.png", "val-mri-0039.png", "test-ct-0050.png", "test-xray-0099.png"] {
        let fresh = std::fs::read(a.path().join("images").join(name)).unwrap();
        let committed = std::fs::read(root().join("sample-data/images").join(name)).unwrap();
        assert!(fresh == committed, "{name} differs from the committed copy");
    }
    let m1 = std::fs::read_to_string(a.path().join("manifest.jsonl")).unwrap();
    let m2 = std::fs::read_to_string(root().join("sample-data/manifest.jsonl")).unwrap();
    assert_eq!(m1, m2);
    assert!(medvlm::sample::generate(a.path(), 1, false, &NoProgress).is_err(), "refuses to overwrite without force");
}
