//! Frame time of the Curation workspace on a 100,000-item project (goal: < 16 ms per frame in
//! release): a synthetic project with pass counts for every item is opened in the real app through
//! egui_kittest (CPU: layout + tessellation, no GPU), then frames are timed while scrolling the item
//! table (J/K and page jumps), typing a search, toggling facet filters and clicking histogram bars.
//!
//! `cargo bench --bench curation -- [--items N]`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use medvlm::app::{Command, StartupOptions, WorkbenchApp};
use medvlm::domain::{Answer, Modality, Split, VqaItem};
use medvlm::store::{EstimateKey, PassCount, Project};

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[allow(clippy::too_many_lines)] // a benchmark script, read top to bottom
fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let n: usize = argv
        .iter()
        .position(|a| a == "--items")
        .and_then(|i| argv.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let dir = match tempfile::Builder::new().prefix("medvlm-bench-").tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let path = dir.path().join("big.medvlm");
    let t = Instant::now();
    let mut p = Project::create(&path).unwrap_or_else(|e| panic!("{e}"));
    let mods = [Modality::Mri, Modality::Ct, Modality::XRay, Modality::Ultrasound, Modality::Pathology];
    let words = ["lesion", "fracture", "effusion", "nodule", "mass", "opacity", "edema", "hemorrhage"];
    let items: Vec<VqaItem> = (0..n)
        .map(|i| VqaItem {
            uid: format!("bench/{i:06}"),
            images: vec![],
            question: format!(
                "Is there a {} in the {} region of this image (case {i})?",
                words[i % 8],
                ["left", "right", "upper", "lower"][i % 4]
            ),
            options: vec!["Yes".into(), "No".into()],
            answer: Answer::Choice(i % 2),
            modality: mods[i % 5],
            body_part: Some(["Brain", "Chest", "Abdomen"][i % 3].into()),
            source: ["vqa-rad", "slake", "pmc-vqa", "sample"][i % 4].into(),
            split: [Split::Train, Split::Train, Split::Train, Split::Val, Split::Test][i % 5],
            tags: if i % 7 == 0 { vec!["reviewed".into()] } else { vec![] },
            meta: BTreeMap::new(),
        })
        .collect();
    for chunk in items.chunks(5000) {
        p.insert_items(None, chunk).unwrap_or_else(|e| panic!("{e}"));
    }
    let key = EstimateKey {
        model_key: "bench-model#0".into(),
        prompt_key: "medvlm-r1-train".into(),
        sampling_json: "{}".into(),
        k: 16,
    };
    let ids: Vec<i64> = p.item_rows().unwrap_or_else(|e| panic!("{e}")).iter().map(|r| r.id).collect();
    let counts: Vec<(i64, PassCount)> =
        ids.iter().map(|&id| (id, PassCount { n_correct: ((id * 7919) % 17) as usize, n_samples: 16 })).collect();
    p.put_estimates(&key, &counts).unwrap_or_else(|e| panic!("{e}"));
    drop(p);
    println!("built a {n}-item project with pass counts in {:.1} s", t.elapsed().as_secs_f64());

    let mut h = Harness::builder()
        .with_size(egui::vec2(1360.0, 820.0))
        .build_eframe(move |cc| WorkbenchApp::new(cc, StartupOptions { project: Some(path) }));
    let t = Instant::now();
    while h.query_all_by_label(&format!("{n} items")).next().is_none() {
        assert!(t.elapsed() < Duration::from_secs(120), "project did not open");
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("opened in {:.2} s", t.elapsed().as_secs_f64());
    let frame = |h: &mut Harness<'static, WorkbenchApp>| {
        let t = Instant::now();
        h.step();
        t.elapsed().as_secs_f64() * 1e3
    };
    for _ in 0..10 {
        frame(&mut h);
    }
    let report = |name: &str, mut v: Vec<f64>| {
        let med = percentile(&mut v, 0.5);
        let p95 = percentile(&mut v, 0.95);
        let max = percentile(&mut v, 1.0);
        println!("{name:<34} frames {:>4}  median {med:6.2} ms  p95 {p95:6.2} ms  max {max:6.2} ms", v.len());
    };
    // Idle frames (the table visible, nothing changing).
    let idle: Vec<f64> = (0..60).map(|_| frame(&mut h)).collect();
    report("idle", idle);
    // Scrolling: the selection moves row by row (the table follows), then jumps.
    let mut scroll = Vec::new();
    for i in 0..200 {
        h.state_mut().queue.push(if i % 50 == 49 {
            Command::SelectItem(((i * 4999) % n) as i64 + 1)
        } else {
            Command::NextItem
        });
        scroll.push(frame(&mut h));
    }
    for _ in 0..60 {
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Line,
            delta: egui::vec2(0.0, -8.0),
            phase: egui::TouchPhase::Move,
            modifiers: egui::Modifiers::NONE,
            source: egui::MouseWheelSource::Wheel,
        });
        scroll.push(frame(&mut h));
    }
    report("scrolling (selection + wheel)", scroll);
    // Filtering: typing a search (each keystroke refilters 100k rows), toggling facets, histogram bars.
    let mut filt = Vec::new();
    for text in ["f", "fr", "fra", "frac", "fract", "fractu", "fractur", "fracture", "fracture l", "fracture le"] {
        h.state_mut().state.filter.text = text.into();
        h.state_mut().state.refilter();
        filt.push(frame(&mut h));
    }
    report("  typing a search (refilter outside)", filt.clone());
    let mut search_in_frame = Vec::new();
    for text in ["l", "le", "les", "lesi", "lesio", "lesion"] {
        h.state_mut().state.filter.text = text.into();
        let t = Instant::now();
        h.state_mut().state.refilter();
        let r = t.elapsed().as_secs_f64() * 1e3;
        search_in_frame.push(r + frame(&mut h));
    }
    report("  search incl. refilter", search_in_frame.clone());
    filt.extend(search_in_frame);
    h.state_mut().queue.push(Command::ClearFilters);
    filt.push(frame(&mut h));
    let mut bars = Vec::new();
    for k in 0..17 {
        h.state_mut().queue.push(Command::FilterPassCount(Some(k)));
        bars.push(frame(&mut h));
    }
    report("  histogram bar clicks", bars.clone());
    let mut refilter = Vec::new();
    for k in 0..17 {
        h.state_mut().state.curation.pass_count = Some(k);
        let t = Instant::now();
        h.state_mut().state.refilter();
        refilter.push(t.elapsed().as_secs_f64() * 1e3);
    }
    report("  (refilter alone, 100k rows)", refilter);
    filt.extend(bars);
    h.state_mut().queue.push(Command::ToggleBandFilter);
    filt.push(frame(&mut h));
    report("filtering (search, band, bars)", filt);
    let visible = h.state().state.visible.len();
    println!("(last filter shows {visible} of {n} items)");
}
