//! Blacking out burned-in text: a rectangle of an item's image filled with black, written as a new
//! hash-named PNG in the project's `redacted/` folder and put in place of the image by one undoable
//! edit (the original file is untouched; undo brings it back). The new image records every region
//! blacked out so far, so a de-identified DICOM copy of the source blacks out the same
//! ([`crate::io::dicom_deid::deidentify`]). The text found at import ([`crate::imaging::text`]) is
//! blacked out the same way, for one item or a selection in one action. The item is tagged
//! `redacted`; its
//! `burned-in-text` tag stays until the curator removes it, since one rectangle may not be all.

use std::collections::HashMap;
use std::path::Path;

use crate::domain::{FieldEdit, ImageRef, ItemField, VqaItem};
use crate::io::import::TEXT_FOUND;
use crate::store::Project;

/// The tag of items with a blacked-out region.
pub const REDACTED_TAG: &str = "redacted";

/// `src` with `rects` (`[x0, y0, x1, y1]` in image pixels, clamped) black, as a PNG in `dir`; the
/// returned reference records the regions, in whole pixels, x1 and y1 exclusive.
///
/// # Errors
/// Why the image cannot be read or written, naming the file; every region empty.
pub fn black_out(src: &Path, rects: &[[f32; 4]], dir: &Path) -> Result<ImageRef, String> {
    let (mut rgb, h, w) = crate::io::images::read_rgb(src).map_err(|e| e.to_string())?;
    let clamp = |v: f32, max: usize| (v.max(0.0) as usize).min(max);
    let mut done = Vec::new();
    for rect in rects {
        let (x0, x1) = (clamp(rect[0].min(rect[2]).floor(), w), clamp(rect[0].max(rect[2]).ceil(), w));
        let (y0, y1) = (clamp(rect[1].min(rect[3]).floor(), h), clamp(rect[1].max(rect[3]).ceil(), h));
        if x0 >= x1 || y0 >= y1 {
            continue;
        }
        for y in y0..y1 {
            rgb[(y * w + x0) * 3..(y * w + x1) * 3].fill(0);
        }
        done.push([x0, y0, x1, y1].map(|v| v as u32));
    }
    if done.is_empty() {
        return Err("the region is empty".into());
    }
    let mut r =
        crate::io::images::store_png(rgb, w, h, dir).map_err(|e| format!("cannot write the redacted copy ({e})"))?;
    r.redacted = done;
    Ok(r)
}

/// Redacted copies made in one action, by source image and regions (datasets share images
/// across questions: each is blacked out once).
type Made = HashMap<(String, Vec<[u32; 4]>), ImageRef>;

/// The edits that put a copy of `item`'s first image with `rects` black in its place and tag it
/// `redacted`.
fn redaction(
    project: &Project,
    id: i64,
    item: &VqaItem,
    rects: &[[f32; 4]],
    made: &mut Made,
) -> Result<[(i64, FieldEdit); 2], String> {
    let first = item.images.first().ok_or("the item has no image")?;
    let key = (first.path.clone(), rects.iter().map(|r| r.map(|v| v as u32)).collect());
    let new = match made.get(&key) {
        Some(r) => r.clone(),
        None => {
            let src = project.resolve_image(&first.path);
            let mut new =
                black_out(&src, rects, &project.dir().join("redacted")).map_err(|e| format!("{}: {e}", item.uid))?;
            new.path = project.store_image_path(Path::new(&new.path));
            // The regions so far, and these: a DICOM copy of the source blacks out all of them.
            new.redacted = first.redacted.iter().chain(&new.redacted).copied().collect();
            made.insert(key, new.clone());
            new
        }
    };
    let mut images = item.images.clone();
    images[0] = new;
    let mut tags = item.tags.clone();
    if !tags.iter().any(|t| t == REDACTED_TAG) {
        tags.push(REDACTED_TAG.into());
    }
    Ok([
        (id, FieldEdit::set(item, ItemField::Images, serde_json::to_value(&images).unwrap_or_default())),
        (id, FieldEdit::set(item, ItemField::Tags, serde_json::Value::from(tags))),
    ])
}

/// Blacks out `rect` of item `id`'s first image as one undoable action; returns the edit group.
///
/// # Errors
/// Store errors, an item without an image, image errors.
pub fn black_out_item(project: &mut Project, id: i64, rect: [f32; 4]) -> Result<i64, String> {
    let item = project.item(id).map_err(|e| e.to_string())?;
    let edits = redaction(project, id, &item, &[rect], &mut Made::new())?;
    project.apply_edits("black out a region", &edits).map_err(|e| e.to_string())
}

/// The boxes of text found in the item's first image at import ([`TEXT_FOUND`]) that no region
/// blacked out so far covers.
pub fn text_left(item: &VqaItem) -> Vec<[u32; 4]> {
    // Read in place: the Inspector asks every frame.
    let found: Vec<[u32; 4]> =
        item.meta.get(TEXT_FOUND).and_then(|v| serde::Deserialize::deserialize(v).ok()).unwrap_or_default();
    let done = item.images.first().map(|i| i.redacted.as_slice()).unwrap_or_default();
    let covers = |d: &[u32; 4], f: &[u32; 4]| d[0] <= f[0] && d[1] <= f[1] && d[2] >= f[2] && d[3] >= f[3];
    found.into_iter().filter(|f| !done.iter().any(|d| covers(d, f))).collect()
}

/// The edits blacking out, in each of `ids`, the text found in its first image and not yet
/// blacked out (items without any are left out; an image shared by items is blacked out once).
///
/// # Errors
/// Store errors; an image that cannot be read or written, naming the item.
pub fn found_text_edits(project: &Project, ids: &[i64]) -> Result<Vec<(i64, FieldEdit)>, String> {
    let mut made = Made::new();
    let mut edits = Vec::new();
    for &id in ids {
        let item = project.item(id).map_err(|e| e.to_string())?;
        let left = text_left(&item);
        if !left.is_empty() {
            let rects: Vec<[f32; 4]> = left.iter().map(|r| r.map(|v| v as f32)).collect();
            edits.extend(redaction(project, id, &item, &rects, &mut made)?);
        }
    }
    Ok(edits)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Import finds the caption in one image and not in the other; the bulk action blacks out the
    /// caption of every item showing that image (the image once), undo restores it, and running
    /// it again changes nothing.
    #[test]
    fn text_found_at_import_is_blacked_out_in_one_action() {
        use crate::imaging::text::tests::{caption, phantom};
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let (w, h) = (320usize, 300usize);
        let clean = phantom(w, h);
        let mut shown = clean.clone();
        let strip = caption(&mut shown, w, (20, 280), "20031107 4711 0815", 2, 150);
        for (name, px) in [("strip.png", &shown), ("clean.png", &clean)] {
            image::GrayImage::from_raw(w as u32, h as u32, px.clone()).unwrap().save(data.join(name)).unwrap();
        }
        std::fs::write(
            data.join("manifest.csv"),
            "image,question,answer\nstrip.png,Is this the brain?,yes\nstrip.png,Is there a bleed?,no\nclean.png,Is this the brain?,yes\n",
        )
        .unwrap();
        let mut p = Project::create(&d.path().join("p.medvlm")).unwrap();
        let opts = crate::io::import::ImportOptions::default();
        crate::io::import::import_paths(&mut p, &[data], &opts, &crate::jobs::NoProgress).unwrap();
        let items = p.items().unwrap();
        let flagged: Vec<i64> = items.iter().filter(|(_, i)| !text_left(i).is_empty()).map(|(id, _)| *id).collect();
        assert_eq!(flagged.len(), 2, "both questions on the captioned image");
        for (id, it) in &items {
            assert_eq!(it.tags.iter().any(|t| t == "burned-in-text"), flagged.contains(id), "{}", it.uid);
        }
        let all: Vec<i64> = items.iter().map(|(id, _)| *id).collect();
        let edits = found_text_edits(&p, &all).unwrap();
        assert_eq!(edits.len(), 4, "two edits for each of the two captioned items");
        p.apply_edits("black out the text found", &edits).unwrap();
        let after = p.item(flagged[0]).unwrap();
        assert_eq!(after.images[0].path, p.item(flagged[1]).unwrap().images[0].path, "one copy for the shared image");
        assert!(text_left(&after).is_empty() && after.tags.contains(&REDACTED_TAG.to_string()));
        let (rgb, _, _) = crate::io::images::read_rgb(&p.resolve_image(&after.images[0].path)).unwrap();
        for y in strip[1]..strip[3] {
            for x in strip[0]..strip[2] {
                assert_eq!(rgb[(y * w + x) * 3], 0, "caption pixel {x},{y} is black");
            }
        }
        assert_eq!(rgb[(150 * w + 160) * 3], clean[150 * w + 160], "the image elsewhere is unchanged");
        assert!(found_text_edits(&p, &all).unwrap().is_empty(), "nothing left to black out");
        p.undo().unwrap().unwrap();
        assert_eq!(text_left(&p.item(flagged[0]).unwrap()).len(), 1, "undo brings the caption back");
    }

    #[test]
    fn the_rectangle_is_black_and_the_rest_unchanged() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("a.png");
        image::RgbImage::from_pixel(8, 6, image::Rgb([200, 100, 50])).save(&src).unwrap();
        let r = black_out(&src, &[[6.5, 4.2, 2.0, 1.0]], &d.path().join("out")).unwrap();
        let (rgb, h, w) = crate::io::images::read_rgb(Path::new(&r.path)).unwrap();
        assert_eq!((w, h), (8, 6));
        let px = |x: usize, y: usize| &rgb[(y * w + x) * 3..(y * w + x) * 3 + 3];
        assert_eq!(px(2, 1), [0, 0, 0]);
        assert_eq!(px(6, 4), [0, 0, 0], "partly covered pixels are covered");
        assert_eq!(px(1, 1), [200, 100, 50]);
        assert_eq!(px(7, 5), [200, 100, 50]);
        assert_eq!(r.redacted, vec![[2, 1, 7, 5]], "the region is recorded, in pixels, end exclusive");
        assert!(black_out(&src, &[[3.0, 3.0, 3.0, 5.0]], d.path()).is_err());
    }
}
