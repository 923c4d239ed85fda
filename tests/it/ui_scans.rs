//! The viewer and the export dialog on clinical scans (egui_kittest): a DICOM series scrolled by
//! wheel and keys, a 4-D NIfTI's volume slider, the Patient data facet and the export refusal.

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use medvlm::app::WorkbenchApp;

use super::common::{bin, fixture, tempdir};
use super::ui::{has, has_part, open_project, wait_for};

/// A DICOM series named by a manifest: the viewer opens the item's slice in the file's window
/// (HU), the wheel and the arrow keys over the image move through the series in position order
/// (not the panel), key 2 sets the lung window, and the attribute browser hides patient values.
#[test]
fn a_dicom_series_scrolls_by_wheel_and_arrows_in_the_viewer() {
    let d = tempdir();
    let data = d.path().join("series");
    std::fs::create_dir_all(&data).unwrap();
    for f in ["series_a.dcm", "series_b.dcm", "series_c.dcm"] {
        std::fs::copy(fixture(&format!("dicom/series/{f}")), data.join(f)).unwrap();
    }
    std::fs::write(data.join("manifest.csv"), "image,question,options,answer\nseries_b.dcm,Is it normal?,Yes|No,A\n")
        .unwrap();
    let project = d.path().join("s.medvlm");
    assert!(bin().args(["import", "--project"]).arg(&project).arg(&data).status().unwrap().success());
    let mut h = open_project(project, 900.0);
    wait_for(&mut h, |h| {
        h.state().state.inspected.as_ref().and_then(|i| i.image.as_ref().ok()).is_some_and(|i| i.scan.is_some())
    });
    h.run_steps(3);
    let scan = h.state().state.inspected.as_ref().unwrap().image.as_ref().unwrap().scan.clone().unwrap().unwrap();
    let start = scan.start;
    assert_eq!(scan.stacks[0].slices.len(), 3);
    assert_eq!(h.state().state.viewer.window, Some(scan.window), "the file's window, in HU");
    assert_eq!(h.state().state.viewer.preset.as_deref(), Some("file's window"));
    let label = |h: &Harness<'static, WorkbenchApp>| {
        has_part(h, &format!("slice {}/3", h.state().state.viewer.slice.unwrap_or(start) + 1))
    };
    assert!(label(&h));
    // The image is the largest picture on the right: hover its middle.
    let at = egui::pos2(1360.0 * 0.86, 300.0);
    h.event(egui::Event::PointerMoved(at));
    h.run_steps(2);
    assert!(h.state().state.viewer.hovered, "the pointer is over the image");
    h.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Line,
        delta: egui::vec2(0.0, -1.0),
        modifiers: egui::Modifiers::NONE,
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Unknown,
    });
    h.run_steps(2);
    assert_eq!(h.state().state.viewer.slice, Some((start + 1).min(2)), "wheel down: the next slice");
    h.key_press(egui::Key::ArrowUp);
    h.key_press(egui::Key::ArrowUp);
    h.run_steps(2);
    assert_eq!(h.state().state.viewer.slice, Some(start.saturating_sub(1)));
    assert!(label(&h));
    h.key_press(egui::Key::Num2);
    h.run_steps(2);
    assert_eq!(h.state().state.viewer.preset.as_deref(), Some("Lung"));
    let tags = h.query_by_label_contains("DICOM attributes").unwrap();
    tags.click_accesskit();
    h.run_steps(2);
    assert!(has(&h, "PatientName") && has_part(&h, "hidden"), "the browser lists the attribute, value hidden");
    assert!(!has_part(&h, "DOE") && !has_part(&h, "MRN-0042"));
}

/// A 4-D NIfTI item shows a volume slider; moving it loads that volume off the UI thread and the
/// viewer shows it, at the same slice.
#[test]
fn a_4d_volume_slider_loads_the_volume() {
    let d = tempdir();
    let data = d.path().join("fmri");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(fixture("nifti/series_4d_int16.nii.gz"), data.join("bold.nii.gz")).unwrap();
    std::fs::write(data.join("manifest.csv"), "image,question,options,answer\nbold.nii.gz,Is it normal?,Yes|No,A\n")
        .unwrap();
    let project = d.path().join("f.medvlm");
    assert!(bin().args(["import", "--project"]).arg(&project).arg(&data).status().unwrap().success());
    let mut h = open_project(project, 900.0);
    let scan = |h: &Harness<'static, WorkbenchApp>| {
        h.state()
            .state
            .inspected
            .as_ref()
            .and_then(|i| i.image.as_ref().ok())
            .and_then(|i| i.scan.clone())
            .and_then(Result::ok)
    };
    wait_for(&mut h, |h| scan(h).is_some());
    h.run_steps(3);
    assert_eq!(scan(&h).map(|s| (s.volume, s.volumes)), Some((0, 3)));
    assert!(has_part(&h, "volume 1/3"));
    let slider = h.get_by_label("volume");
    slider.focus();
    h.run_steps(1);
    h.key_press(egui::Key::ArrowRight);
    h.run_steps(1);
    assert_eq!(h.state().state.viewer.volume, Some(1), "the slider asks for volume 2");
    wait_for(&mut h, |h| scan(h).is_some_and(|s| s.volume == 1));
    h.run_steps(2);
    assert!(has_part(&h, "volume 2/3") && !has_part(&h, "loading"));
    let s = scan(&h).unwrap();
    let slice = &s.stacks[0].slices[s.start];
    assert!(slice.values.iter().all(|&v| v >= 1000.0), "volume 2 holds a + 1000");
}

/// The Patient data facet counts the DICOM items with header attributes and the one that may show
/// burned-in text; the export dialog names the refusal, keeps Export disabled until the user
/// confirms for this export, then writes the file without any patient value.
#[test]
fn the_phi_facet_and_the_export_confirmation() {
    use medvlm::app::Command;
    let d = tempdir();
    let data = d.path().join("scans");
    std::fs::create_dir_all(&data).unwrap();
    for f in ["ct_explicit_le.dcm", "ot_rgb.dcm"] {
        std::fs::copy(fixture(&format!("dicom/{f}")), data.join(f)).unwrap();
    }
    std::fs::write(
        data.join("manifest.csv"),
        "image,question,options,answer\nct_explicit_le.dcm,Is there a fracture?,Yes|No,B\not_rgb.dcm,Is this a screenshot?,Yes|No,A\n",
    )
    .unwrap();
    let project = d.path().join("p.medvlm");
    assert!(bin().args(["import", "--project"]).arg(&project).arg(&data).status().unwrap().success());
    let mut h = open_project(project, 900.0);
    h.run_steps(2);
    assert!(has(&h, "Patient data:"));
    assert!(has_part(&h, "attributes in the header") && has(&h, "burned-in text 1"));
    let badges = h.query_all_by_label("PHI").count();
    assert!(badges >= 2, "each scan item's row carries a PHI badge: {badges}");
    h.state_mut().queue.push(Command::ExportData);
    h.run_steps(3);
    assert!(has_part(&h, "1 items may show patient text burned into their pixels"));
    let export = h.get_by_label("Export");
    assert!(export.accesskit_node().is_disabled(), "refused until confirmed");
    h.get_by_label("I have reviewed them: export them anyway (this export only)").click();
    h.run_steps(2);
    h.get_by_label("Export").click();
    let out = d.path().join("p-export.jsonl");
    wait_for(&mut h, |_| out.exists());
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 2);
    for phi in ["DOE", "MRN-0042", "19700101", "ACC-123", "Synthetic General"] {
        assert!(!text.contains(phi), "{phi} exported");
    }
    // A region drawn on the screenshot's image offers the black-out, an undoable edit.
    let shot =
        h.state().state.project.as_ref().unwrap().rows.iter().find(|r| r.question.contains("screenshot")).unwrap().id;
    h.state_mut().queue.push(Command::SelectItem(shot));
    wait_for(&mut h, |h| h.state().state.inspected.as_ref().is_some_and(|i| i.id == shot));
    h.state_mut().state.viewer.region = Some([0.0, 0.0, 2.0, 1.0]);
    h.run_steps(2);
    h.get_by_label("Black out region").click();
    wait_for(&mut h, |h| {
        h.state()
            .state
            .project
            .as_ref()
            .is_some_and(|p| p.rows.iter().any(|r| r.id == shot && r.tags.contains(&"redacted".to_string())))
    });
}

/// A PNG whose caption strip import found: the Inspector names the lines found and blacks them
/// out with one button, an undoable edit.
#[test]
fn text_found_in_a_png_is_blacked_out_from_the_inspector() {
    let d = tempdir();
    let data = d.path().join("png");
    std::fs::create_dir_all(&data).unwrap();
    // A smooth square on black, and a caption of eight E-shaped glyphs below it.
    let mut img = image::GrayImage::from_fn(240, 180, |x, y| {
        image::Luma([if (40..200).contains(&x) && (20..140).contains(&y) { 90 + (x / 4) as u8 } else { 0 }])
    });
    for g in 0..8u32 {
        let x0 = 30 + g * 14;
        for y in 155..167 {
            for x in x0..x0 + 9 {
                let bar = x < x0 + 2 || (y < 157) || (160..162).contains(&y) || y >= 165;
                if bar {
                    img.put_pixel(x, y, image::Luma([200]));
                }
            }
        }
    }
    img.save(data.join("shot.png")).unwrap();
    std::fs::write(data.join("manifest.csv"), "image,question,answer\nshot.png,Is this a chest film?,no\n").unwrap();
    let project = d.path().join("t.medvlm");
    assert!(bin().args(["import", "--project"]).arg(&project).arg(&data).status().unwrap().success());
    let mut h = open_project(project, 900.0);
    wait_for(&mut h, |h| h.state().state.inspected.is_some());
    h.run_steps(3);
    assert!(has_part(&h, "1 line of burned-in text found"), "the Inspector names the line found");
    h.get_by_label("Black out text found").click();
    wait_for(&mut h, |h| {
        h.state()
            .state
            .project
            .as_ref()
            .is_some_and(|p| p.rows.iter().any(|r| r.tags.contains(&"redacted".to_string())))
    });
    wait_for(&mut h, |h| {
        h.state().state.inspected.as_ref().is_some_and(|i| i.item.tags.contains(&"redacted".to_string()))
    });
    h.run_steps(3);
    assert!(!has_part(&h, "burned-in text found"), "nothing is left to black out");
}
