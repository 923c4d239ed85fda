//! Blacking out burned-in text: a rectangle of an item's image filled with black, written as a new
//! hash-named PNG in the project's `redacted/` folder and put in place of the image by one undoable
//! edit (the original file is untouched; undo brings it back). The new image records every region
//! blacked out so far, so a de-identified DICOM copy of the source blacks out the same
//! ([`crate::io::dicom_deid::deidentify`]). The item is tagged `redacted`; its
//! `burned-in-text` tag stays until the curator removes it, since one rectangle may not be all.

use std::path::Path;

use crate::domain::{FieldEdit, ImageRef, ItemField};
use crate::store::Project;

/// The tag of items with a blacked-out region.
pub const REDACTED_TAG: &str = "redacted";

/// `src` with `rect` (`[x0, y0, x1, y1]` in image pixels, clamped) black, as a PNG in `dir`.
///
/// # Errors
/// Why the image cannot be read or written, naming the file.
pub fn black_out(src: &Path, rect: [f32; 4], dir: &Path) -> Result<ImageRef, String> {
    let (mut rgb, h, w) = crate::io::images::read_rgb(src).map_err(|e| e.to_string())?;
    let clamp = |v: f32, max: usize| (v.max(0.0) as usize).min(max);
    let (x0, x1) = (clamp(rect[0].min(rect[2]).floor(), w), clamp(rect[0].max(rect[2]).ceil(), w));
    let (y0, y1) = (clamp(rect[1].min(rect[3]).floor(), h), clamp(rect[1].max(rect[3]).ceil(), h));
    if x0 >= x1 || y0 >= y1 {
        return Err("the region is empty".into());
    }
    for y in y0..y1 {
        rgb[(y * w + x0) * 3..(y * w + x1) * 3].fill(0);
    }
    let mut r =
        crate::io::images::store_png(rgb, w, h, dir).map_err(|e| format!("cannot write the redacted copy ({e})"))?;
    r.redacted = vec![[x0, y0, x1, y1].map(|v| v as u32)];
    Ok(r)
}

/// Blacks out `rect` of item `id`'s first image as one undoable action; returns the edit group.
///
/// # Errors
/// Store errors, an item without an image, image errors.
pub fn black_out_item(project: &mut Project, id: i64, rect: [f32; 4]) -> Result<i64, String> {
    let item = project.item(id).map_err(|e| e.to_string())?;
    let first = item.images.first().ok_or("the item has no image")?;
    let src = project.resolve_image(&first.path);
    let mut new = black_out(&src, rect, &project.dir().join("redacted"))?;
    new.path = project.store_image_path(Path::new(&new.path));
    // The regions so far, and this one: a DICOM copy of the source blacks out all of them.
    new.redacted = first.redacted.iter().chain(&new.redacted).copied().collect();
    let mut images = item.images.clone();
    images[0] = new;
    let mut tags = item.tags.clone();
    tags.push(REDACTED_TAG.into());
    let edits = [
        (id, FieldEdit::set(&item, ItemField::Images, serde_json::to_value(&images).unwrap_or_default())),
        (id, FieldEdit::set(&item, ItemField::Tags, serde_json::Value::from(tags))),
    ];
    project.apply_edits("black out a region", &edits).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rectangle_is_black_and_the_rest_unchanged() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("a.png");
        image::RgbImage::from_pixel(8, 6, image::Rgb([200, 100, 50])).save(&src).unwrap();
        let r = black_out(&src, [6.5, 4.2, 2.0, 1.0], &d.path().join("out")).unwrap();
        let (rgb, h, w) = crate::io::images::read_rgb(Path::new(&r.path)).unwrap();
        assert_eq!((w, h), (8, 6));
        let px = |x: usize, y: usize| &rgb[(y * w + x) * 3..(y * w + x) * 3 + 3];
        assert_eq!(px(2, 1), [0, 0, 0]);
        assert_eq!(px(6, 4), [0, 0, 0], "partly covered pixels are covered");
        assert_eq!(px(1, 1), [200, 100, 50]);
        assert_eq!(px(7, 5), [200, 100, 50]);
        assert_eq!(r.redacted, vec![[2, 1, 7, 5]], "the region is recorded, in pixels, end exclusive");
        assert!(black_out(&src, [3.0, 3.0, 3.0, 5.0], d.path()).is_err());
    }
}
