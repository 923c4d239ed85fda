//! The VOI stage beyond the linear window, on files made with pydicom
//! (`tests/fixtures/dicom/make_fixtures.py`, `voi_files`): a VOI LUT Sequence applied as its
//! non-linear table, and windows under SIGMOID and LINEAR_EXACT, each rendered as pydicom's
//! `apply_voi_lut` renders it; through the CLI, a folder import and the viewer's scan.

use medvlm::imaging::VoiFunction;
use medvlm::io::dicom::{Window, read};

use super::common::{bin, fixture};

fn voi(name: &str) -> std::path::PathBuf {
    fixture(&format!("dicom/voi/{name}"))
}

/// The grey levels of `rgb` against pydicom's rendering `<name>.png`: the largest difference.
fn against_pydicom(name: &str, rgb: &[u8]) -> u8 {
    let want = image::open(voi(&format!("{name}.png"))).unwrap().to_luma8().into_raw();
    assert_eq!(rgb.len(), want.len() * 3, "{name}");
    rgb.iter().step_by(3).zip(&want).map(|(a, b)| a.abs_diff(*b)).max().unwrap()
}

#[test]
fn each_voi_function_renders_as_pydicom_applies_it() {
    for (name, function) in [
        ("mg_voi_lut", VoiFunction::Table),
        ("ct_sigmoid", VoiFunction::Sigmoid),
        ("ct_linear_exact", VoiFunction::LinearExact),
    ] {
        let img = read(&voi(&format!("{name}.dcm"))).unwrap();
        assert_eq!(img.window.map(|w| w.function), Some(function), "{name}");
        let rgb = img.render(0, None).unwrap();
        assert_eq!(against_pydicom(name, &rgb), 0, "{name}");
        // Not what the linear window of the same centre and width gives (LINEAR_EXACT differs
        // from it by half a value at each end: at most one grey level).
        let linear = img.render(0, Some(Window { function: VoiFunction::Linear, ..img.window.unwrap() })).unwrap();
        let apart = if function == VoiFunction::LinearExact { 1 } else { 10 };
        assert!(against_pydicom(name, &linear) >= apart, "{name}: the function made no difference");
    }
    // The table: entries of 12-bit values declared 16-bit, first mapped at 100 (inputs below take
    // entry 0, black; the square root lifts the dark end: input 1100 is 0.5 of the ramp, not 0.25).
    let img = read(&voi("mg_voi_lut.dcm")).unwrap();
    let lut = img.voi_lut.as_deref().unwrap();
    assert_eq!((lut.first, lut.table.len()), (100, 4000));
    assert!((lut.apply(1100.0) - 0.5).abs() < 0.01 && lut.apply(50.0) == 0.0 && lut.apply(9999.0) == 1.0);
}

/// A file with both a window and a table shows its window (the standard leaves the choice to the
/// application; the viewer offers the table), and the table is one choice away.
#[test]
fn a_window_beside_a_table_is_the_default_and_the_table_a_choice() {
    let img = read(&voi("mg_voi_lut_and_window.dcm")).unwrap();
    assert_eq!(img.window, Some(Window::linear(2000.0, 4000.0)));
    assert!(img.voi_lut.is_some());
    assert_eq!(against_pydicom("mg_voi_lut_and_window", &img.render(0, None).unwrap()), 0);
    let table = Window { function: VoiFunction::Table, ..img.window.unwrap() };
    assert_eq!(against_pydicom("mg_voi_lut", &img.render(0, Some(table)).unwrap()), 0);
}

#[test]
fn the_cli_names_the_function_and_renders_with_the_one_asked_for() {
    let o = bin().args(["dicom", "info"]).arg(voi("mg_voi_lut.dcm")).arg(voi("ct_sigmoid.dcm")).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("(VOI LUT table)") && out.contains("window 40/400 (sigmoid)"), "{out}");
    let d = super::common::tempdir();
    let png = d.path().join("t.png");
    let render = |file: &str, extra: &[&str]| {
        bin().args(["dicom", "render"]).arg(voi(file)).arg("--out").arg(&png).args(extra).output().unwrap()
    };
    let o = render("mg_voi_lut_and_window.dcm", &["--function", "table"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rgb = image::open(&png).unwrap().to_rgb8().into_raw();
    assert_eq!(against_pydicom("mg_voi_lut", &rgb), 0);
    let o = render("ct_sigmoid.dcm", &["--function", "table"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("ct_sigmoid.dcm") && err.contains("no VOI LUT"), "{err}");
    let o = render("ct_sigmoid.dcm", &["--function", "gamma"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--function gamma"), "{err}");
}

/// A folder import renders the table for the model and says so with the item; the viewer's scan
/// opens in the table, its slices carrying it.
#[test]
fn an_import_and_the_viewer_use_the_table() {
    let d = super::common::tempdir();
    let data = d.path().join("scans");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(voi("mg_voi_lut.dcm"), data.join("mg.dcm")).unwrap();
    let project = d.path().join("p.medvlm");
    // Named relative to the working directory: the scan is kept by its absolute path, so the
    // viewer finds it from wherever the app starts.
    let o = bin().current_dir(d.path()).args(["import", "--project", "p.medvlm", "scans"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p = medvlm::store::Project::open(&project).unwrap();
    let items: Vec<_> = p.items().unwrap().into_iter().map(|(_, i)| i).collect();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].meta["dicom"]["voi_function"], "TABLE");
    let (rgb, _, _) = medvlm::io::images::read_rgb(&p.resolve_image(&items[0].images[0].path)).unwrap();
    assert_eq!(against_pydicom("mg_voi_lut", &rgb), 0);
    let source = std::path::PathBuf::from(items[0].meta[medvlm::io::import::SCAN_SOURCE].as_str().unwrap());
    assert!(source.is_absolute() && source.ends_with("scans/mg.dcm"), "{}", source.display());
    let scan = medvlm::imaging::scan::load(&source).unwrap();
    assert_eq!(scan.window.function, VoiFunction::Table);
    let slice = &scan.stacks[0].slices[scan.start];
    let lut = slice.lut.as_deref();
    assert!(lut.is_some());
    let shown: Vec<u8> = slice.values.iter().map(|&v| (scan.window.apply_lut(v, lut) * 255.0).round() as u8).collect();
    let want = image::open(voi("mg_voi_lut.png")).unwrap().to_luma8().into_raw();
    assert_eq!(shown, want);
}
