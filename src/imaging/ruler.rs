//! The image view's millimetre ruler: a round length (1, 2 or 5 × 10ⁿ mm) whose bar is close to a
//! wanted on-screen width, from the item's pixel spacing and the zoom.

/// Pixel spacing from an item's metadata: `pixel_spacing` as `[row, column]` mm (DICOM's
/// PixelSpacing order) or one number for square pixels; `None` when absent or not positive.
pub fn pixel_spacing(meta: &std::collections::BTreeMap<String, serde_json::Value>) -> Option<[f32; 2]> {
    let v = meta.get("pixel_spacing")?;
    let pair = match v {
        serde_json::Value::Number(n) => {
            let x = n.as_f64()? as f32;
            [x, x]
        }
        serde_json::Value::Array(a) if a.len() == 2 => [a[0].as_f64()? as f32, a[1].as_f64()? as f32],
        _ => return None,
    };
    (pair.iter().all(|x| x.is_finite() && *x > 0.0)).then_some(pair)
}

/// The ruler for `mm_per_screen_px` (column spacing over the zoom): its length in mm and in
/// screen pixels, the longest round length not wider than `max_px`.
pub fn scale_bar(mm_per_screen_px: f32, max_px: f32) -> Option<(f32, f32)> {
    if !(mm_per_screen_px.is_finite() && mm_per_screen_px > 0.0 && max_px > 0.0) {
        return None;
    }
    let max_mm = mm_per_screen_px * max_px;
    let mut decade = 10f32.powi(max_mm.log10().floor() as i32);
    for _ in 0..2 {
        for m in [5.0, 2.0, 1.0] {
            let mm = m * decade;
            if mm <= max_mm {
                return Some((mm, mm / mm_per_screen_px));
            }
        }
        decade /= 10.0;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_is_a_round_length_that_fits() {
        // 0.7 mm pixels shown at 200 %: 0.35 mm per screen pixel; 150 px hold 52.5 mm -> 50 mm.
        let (mm, px) = scale_bar(0.35, 150.0).unwrap();
        assert_eq!(mm, 50.0);
        assert!((px - 142.857).abs() < 0.01);
        assert_eq!(scale_bar(0.1, 150.0).unwrap().0, 10.0);
        assert_eq!(scale_bar(0.01, 150.0).unwrap().0, 1.0);
        assert_eq!(scale_bar(0.001, 150.0).unwrap().0, 0.1);
        assert!(scale_bar(0.0, 150.0).is_none() && scale_bar(f32::NAN, 150.0).is_none());
    }

    #[test]
    fn spacing_is_read_from_the_items_metadata() {
        let mut m = std::collections::BTreeMap::new();
        assert_eq!(pixel_spacing(&m), None);
        m.insert("pixel_spacing".to_string(), serde_json::json!([0.5, 0.7]));
        assert_eq!(pixel_spacing(&m), Some([0.5, 0.7]));
        m.insert("pixel_spacing".to_string(), serde_json::json!(0.25));
        assert_eq!(pixel_spacing(&m), Some([0.25, 0.25]));
        m.insert("pixel_spacing".to_string(), serde_json::json!([0.5, -1]));
        assert_eq!(pixel_spacing(&m), None);
    }
}
