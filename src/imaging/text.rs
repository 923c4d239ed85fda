//! Burned-in text found in an image's pixels (best effort): thin strokes that stand out sharply
//! from their surroundings, grown into blobs, chained into lines of at least four glyphs of one
//! height on one baseline over a flat background (or longer lines on any), then grown over the
//! rest of the caption. Scanner annotations, a teaching file's caption strip (VQA-RAD's MedPix
//! uploader line) and screenshot labels are lines like that; anatomy seldom is. Returns the lines'
//! boxes, which a curator can black out. No UI imports.

/// A line of text: its box in pixels (`[x0, y0, x1, y1]`, x1 and y1 exclusive) and glyph count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TextLine {
    /// The box, padded by one pixel.
    pub rect: [u32; 4],
    /// Glyph-like blobs chained in it.
    pub glyphs: usize,
}

/// Line heights looked for, in pixels (after a one-pixel dilation).
const MIN_H: usize = 7;
const MAX_H: usize = 44;
/// How far a stroke pixel stands above (or below) both its neighbours, in grey levels.
const CONTRAST: i32 = 40;
/// Separate runs of inked columns (glyphs) a line needs.
const MIN_GLYPHS: usize = 4;
/// Glyphs of a line long enough to be text on any background.
const LONG_LINE: usize = 12;
/// How far a line's strokes stand out of its background (their mean less its median), in grey
/// levels.
const INK_CONTRAST: f64 = 70.0;
/// The same for a long line (its length is evidence enough).
const INK_CONTRAST_LONG: f64 = 45.0;
/// Spread of the background behind a line (median absolute deviation), in grey levels.
const BACKGROUND_SPREAD: f64 = 12.0;

/// A connected blob of candidate pixels.
#[derive(Debug, Clone, Copy)]
struct Blob {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
    area: usize,
}

impl Blob {
    fn h(&self) -> usize {
        self.y1 - self.y0
    }
}

/// 8-connected blobs of `mask`.
fn blobs(mask: &[bool], w: usize, h: usize) -> Vec<Blob> {
    let mut seen = vec![false; mask.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut b = Blob { x0: usize::MAX, y0: usize::MAX, x1: 0, y1: 0, area: 0 };
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            b = Blob { x0: b.x0.min(x), y0: b.y0.min(y), x1: b.x1.max(x + 1), y1: b.y1.max(y + 1), area: b.area + 1 };
            for dy in [-1isize, 0, 1] {
                for dx in [-1isize, 0, 1] {
                    let (nx, ny) = (x as isize + dx, y as isize + dy);
                    if nx < 0 || ny < 0 || nx >= w as isize || ny >= h as isize {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        out.push(b);
    }
    out
}

/// A blob of a text line's height (glyphs or whole words: small text runs together).
fn glyph_like(b: &Blob) -> bool {
    (MIN_H..=MAX_H).contains(&b.h()) && b.area >= 6
}

/// Chains blobs into lines: the next overlaps the line's last vertically by half the smaller
/// height, is of a similar height, and starts within a height of its end.
fn lines(mut glyphs: Vec<Blob>) -> Vec<Vec<Blob>> {
    glyphs.sort_by_key(|b| (b.x0, b.y0));
    let mut lines: Vec<Vec<Blob>> = Vec::new();
    for g in glyphs {
        let fits = |line: &Vec<Blob>| {
            let Some(last) = line.last() else { return false };
            let overlap = g.y1.min(last.y1).saturating_sub(g.y0.max(last.y0));
            let (lo, hi) = (g.h().min(last.h()), g.h().max(last.h()));
            overlap * 2 >= lo && hi * 10 <= lo * 18 && g.x0 + 1 >= last.x1 && g.x0 <= last.x1 + hi * 6 / 5
        };
        match lines.iter_mut().rev().find(|l| fits(l)) {
            Some(line) => line.push(g),
            None => lines.push(vec![g]),
        }
    }
    lines
}

/// The line's box reads as text (returns its glyph count): at least [`MIN_GLYPHS`] separate runs of inked columns (glyphs),
/// wider than a few glyphs, ink neither sparse nor solid, and the gaps between runs not longer
/// than the runs' spread suggests (a row of separate blobs far apart is not a word).
fn is_text(mask: &[bool], w: usize, r: [usize; 4]) -> Option<usize> {
    let [x0, y0, x1, y1] = r;
    let (bw, bh) = (x1 - x0, y1 - y0);
    if bw * 2 < bh * 5 {
        return None;
    }
    let inked: Vec<bool> = (x0..x1).map(|x| (y0..y1).any(|y| mask[y * w + x])).collect();
    let runs = inked.windows(2).filter(|p| !p[0] && p[1]).count() + usize::from(inked.first() == Some(&true));
    let ink = (y0..y1).map(|y| mask[y * w + x0..y * w + x1].iter().filter(|&&m| m).count()).sum::<usize>();
    let density = ink as f32 / (bw * bh) as f32;
    let covered = inked.iter().filter(|&&c| c).count() as f32 / bw as f32;
    let ok =
        runs >= MIN_GLYPHS && (0.08..=0.75).contains(&density) && covered >= 0.4 && on_a_baseline(mask, w, r, &inked);
    ok.then_some(runs)
}

/// Most glyphs end on one baseline (descenders are few): the lowest inked row of each run of
/// inked columns is within a sixth of the line's height of their median, for 70 % of the runs.
/// A skin edge or a table line crossing the box slants, and texture scatters.
fn on_a_baseline(mask: &[bool], w: usize, r: [usize; 4], inked: &[bool]) -> bool {
    let [x0, y0, _, y1] = r;
    let mut bottoms = Vec::new();
    let mut start = None;
    for (i, &c) in inked.iter().chain(std::iter::once(&false)).enumerate() {
        match (c, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                let lowest = (y0..y1).rev().find(|&y| (s..i).any(|x| mask[y * w + x0 + x]));
                bottoms.extend(lowest);
                start = None;
            }
            _ => {}
        }
    }
    if bottoms.is_empty() {
        return false;
    }
    let mut sorted = bottoms.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    let tolerance = ((y1 - y0) / 6).max(1);
    let on = bottoms.iter().filter(|&&b| b.abs_diff(median) <= tolerance).count();
    on * 10 >= bottoms.len() * 7
}

/// Stroke pixels: brighter (`bright`) or darker than both neighbours at 1, 2 or 3 pixels, across
/// or along, by [`CONTRAST`]: the thin lines glyphs are made of. The edge of a bright region is
/// bright on one side only, so it is not a stroke.
fn strokes(luma: &[u8], w: usize, h: usize, bright: bool) -> Vec<bool> {
    let c = CONTRAST as u8;
    let mut mask = vec![false; w * h];
    for y in 3..h - 3 {
        let row = &luma[y * w..(y + 1) * w];
        let out = &mut mask[y * w..(y + 1) * w];
        for x in 3..w - 3 {
            let p = row[x];
            // Bright: both neighbours at most p - c; dark: both at least p + c.
            let (ok, t) = if bright { (p >= c, p.wrapping_sub(c)) } else { (p <= 255 - c, p.wrapping_add(c)) };
            if !ok {
                continue;
            }
            let beyond = |a: u8, b: u8| if bright { a <= t && b <= t } else { a >= t && b >= t };
            out[x] =
                (1..=3).any(|d| beyond(row[x - d], row[x + d]) || beyond(luma[(y - d) * w + x], luma[(y + d) * w + x]));
        }
    }
    mask
}

/// How the strokes stand out of the box: the mean of the stroke pixels less the background (the
/// median of the pixels off the grown strokes), negated for dark text; the background's spread
/// (median absolute deviation, so the odd unmarked stroke pixel does not count); and the
/// background. Text is written in a strong contrast, on a band or a corner that is flat; anatomy
/// behind a chain of blobs is textured and of a milder contrast.
fn contrast(luma: &[u8], mask: &[bool], grown: &[bool], w: usize, r: [usize; 4], bright: bool) -> (f64, f64, f64) {
    let (mut hist, mut n, mut ink_n, mut ink) = ([0usize; 256], 0usize, 0f64, 0f64);
    for y in r[1]..r[3] {
        for x in r[0]..r[2] {
            let v = luma[y * w + x];
            if mask[y * w + x] {
                ink_n += 1.0;
                ink += f64::from(v);
            } else if !grown[y * w + x] {
                hist[usize::from(v)] += 1;
                n += 1;
            }
        }
    }
    if n == 0 || ink_n < 1.0 {
        return (0.0, 0.0, 0.0);
    }
    let median_of = |h: &[usize]| {
        let mut seen = 0;
        h.iter().position(|&c| {
            seen += c;
            seen * 2 >= n
        })
    };
    let bg = median_of(&hist).unwrap_or(0);
    let mut dev = [0usize; 256];
    for (v, &c) in hist.iter().enumerate() {
        dev[v.abs_diff(bg)] += c;
    }
    let spread = median_of(&dev).unwrap_or(0) as f64;
    let bg = bg as f64;
    ((ink / ink_n - bg) * if bright { 1.0 } else { -1.0 }, spread, bg)
}

/// The image a line was found in, with its strokes.
struct Strokes<'a> {
    luma: &'a [u8],
    mask: &'a [bool],
    grown: &'a [bool],
    w: usize,
    h: usize,
}

impl Strokes<'_> {
    /// Column `x` over rows `y0..y1` could belong to the line: nearly every pixel (a faint edge
    /// of a glyph aside) is a (grown) stroke or close to the line's background `bg`.
    fn fits(&self, x: usize, y0: usize, y1: usize, bg: f64) -> bool {
        let ok = (y0..y1)
            .filter(|&y| self.grown[y * self.w + x] || (f64::from(self.luma[y * self.w + x]) - bg).abs() <= 35.0)
            .count();
        ok * 100 >= (y1 - y0) * 85
    }

    fn inked(&self, x: usize, y0: usize, y1: usize) -> bool {
        (y0..y1).any(|y| self.mask[y * self.w + x])
    }

    /// Grows a line's box over strokes beside it on the same rows (the rest of a caption whose
    /// glyphs did not all chain) and over a line of strokes directly below or above (a caption's
    /// second line), through columns that fit its background only, so it does not spread over
    /// anatomy.
    fn grow(&self, r: [usize; 4], bg: f64) -> [usize; 4] {
        let [mut x0, mut y0, mut x1, mut y1] = r;
        let gap = (y1 - y0) * 2;
        let (mut x, mut last) = (x1, x1);
        while x < self.w && x - last <= gap && self.fits(x, y0, y1, bg) {
            if self.inked(x, y0, y1) {
                last = x + 1;
            }
            x += 1;
        }
        x1 = last;
        let (mut x, mut first) = (x0, x0);
        while x > 0 && first - x <= gap && self.fits(x - 1, y0, y1, bg) {
            x -= 1;
            if self.inked(x, y0, y1) {
                first = x;
            }
        }
        x0 = first;
        // A band of one line height below, then above, nine tenths of whose columns fit and a
        // quarter of which are inked, joins (at most twice each way).
        let lh = y1 - y0;
        let band = |a: usize, b: usize| {
            let fit = (x0..x1).filter(|&x| self.fits(x, a, b, bg)).count();
            fit * 10 >= (x1 - x0) * 9 && (x0..x1).filter(|&x| self.inked(x, a, b)).count() * 4 >= x1 - x0
        };
        for _ in 0..2 {
            if y1 + lh <= self.h && band(y1, y1 + lh) {
                y1 += lh;
            }
            if y0 >= lh && band(y0 - lh, y0) {
                y0 -= lh;
            }
        }
        [x0, y0, x1, y1]
    }
}

/// The box split into bands of rows holding strokes, at rows with next to none (padded by the
/// one pixel of the dilation); a single band is the box itself.
fn rows_of(mask: &[bool], w: usize, r: [usize; 4]) -> Vec<[usize; 4]> {
    let [x0, y0, x1, y1] = r;
    let ink: Vec<usize> = (y0..y1).map(|y| mask[y * w + x0..y * w + x1].iter().filter(|&&m| m).count()).collect();
    // A row with a few descenders or commas reaching into it is still a gap between lines.
    let floor = ink.iter().max().copied().unwrap_or(0) / 8;
    let mut bands = Vec::new();
    let mut start = None;
    for y in y0..=y1 {
        let inked = y < y1 && ink[y - y0] > floor;
        match (inked, start) {
            (true, None) => start = Some(y),
            (false, Some(s)) => {
                if y - s >= 3 {
                    // The band's own width: a short second line is not measured against the first.
                    let inked = |x: &usize| (s..y).any(|yy| mask[yy * w + x]);
                    let (a, b) = ((x0..x1).find(inked).unwrap_or(x0), (x0..x1).rfind(inked).map_or(x1, |x| x + 1));
                    bands.push([a, s.saturating_sub(1).max(y0), b, (y + 1).min(y1)]);
                }
                start = None;
            }
            _ => {}
        }
    }
    if bands.len() <= 1 { vec![r] } else { bands }
}

/// Boxes that overlap merged into one, until none do.
fn merge(mut boxes: Vec<[usize; 4]>) -> Vec<[usize; 4]> {
    let mut merged = true;
    while merged {
        merged = false;
        'outer: for i in 0..boxes.len() {
            for j in i + 1..boxes.len() {
                let (a, b) = (boxes[i], boxes[j]);
                if a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3] {
                    boxes[i] = [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])];
                    boxes.swap_remove(j);
                    merged = true;
                    break 'outer;
                }
            }
        }
    }
    boxes
}

/// Lines of burned-in text in a `w × h` grey image (row-major luma), top to bottom.
pub fn find(luma: &[u8], w: usize, h: usize) -> Vec<TextLine> {
    if w < 16 || h < 16 || luma.len() < w * h {
        return Vec::new();
    }
    let mut found: Vec<([usize; 4], usize)> = Vec::new();
    for bright in [true, false] {
        let mask = strokes(luma, w, h, bright);
        // Strokes broken by the threshold join again (3 × 3 dilation).
        let mut grown = mask.clone();
        for y in 0..h {
            for x in 0..w {
                if mask[y * w + x] {
                    for yy in y.saturating_sub(1)..(y + 2).min(h) {
                        grown[yy * w + x.saturating_sub(1)..yy * w + (x + 2).min(w)].fill(true);
                    }
                }
            }
        }
        let glyphs: Vec<Blob> = blobs(&grown, w, h).into_iter().filter(glyph_like).collect();
        let chained = lines(glyphs).into_iter().map(|line| {
            let r = [
                line.iter().map(|b| b.x0).min().unwrap_or(0),
                line.iter().map(|b| b.y0).min().unwrap_or(0),
                line.iter().map(|b| b.x1).max().unwrap_or(0),
                line.iter().map(|b| b.y1).max().unwrap_or(0),
            ];
            (r, line.len())
        });
        // Lines of small text set close together join in one chain: split it where a row is blank.
        for (r, glyphs) in chained.flat_map(|(r, n)| rows_of(&mask, w, r).into_iter().map(move |r| (r, n))) {
            // A long line needs no flat background (a caption strip over the image's edge).
            let Some(runs) = is_text(&mask, w, r) else { continue };
            let (stand, spread, bg) = contrast(luma, &mask, &grown, w, r, bright);
            let long = runs >= LONG_LINE;
            if stand < if long { INK_CONTRAST_LONG } else { INK_CONTRAST } || (!long && spread > BACKGROUND_SPREAD) {
                continue;
            }
            let r = Strokes { luma, mask: &mask, grown: &grown, w, h }.grow(r, bg);
            found.push((r, glyphs));
        }
    }
    let boxes = merge(found.iter().map(|f| f.0).collect());
    let pad = 1;
    let mut out: Vec<TextLine> = boxes
        .into_iter()
        .map(|r| {
            let inside =
                |f: &&([usize; 4], usize)| f.0[0] >= r[0] && f.0[1] >= r[1] && f.0[2] <= r[2] && f.0[3] <= r[3];
            TextLine {
                rect: [r[0].saturating_sub(pad), r[1].saturating_sub(pad), (r[2] + pad).min(w), (r[3] + pad).min(h)]
                    .map(|v| v as u32),
                glyphs: found.iter().filter(inside).map(|f| f.1).sum(),
            }
        })
        .collect();
    out.sort_by_key(|l| (l.rect[1], l.rect[0]));
    out
}

/// The boxes of the lines found in interleaved 8-bit RGB of `w × h` (through [`luma`]): what
/// import keeps for PNG/JPEG images and DICOM renderings alike.
pub fn boxes_in_rgb(rgb: &[u8], w: usize, h: usize) -> Vec<[u32; 4]> {
    find(&luma(rgb), w, h).into_iter().map(|l| l.rect).collect()
}

/// Luma of interleaved 8-bit RGB (BT.601 weights, as PIL's `convert("L")`).
pub fn luma(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .map(|p| ((u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114 + 500) / 1000) as u8)
        .collect()
}

/// Test images: a caption drawn in a 3 × 5 digit font, scaled.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const DIGITS: [[u8; 5]; 10] = [
        [0b111, 0b101, 0b101, 0b101, 0b111],
        [0b010, 0b110, 0b010, 0b010, 0b111],
        [0b111, 0b001, 0b111, 0b100, 0b111],
        [0b111, 0b001, 0b111, 0b001, 0b111],
        [0b101, 0b101, 0b111, 0b001, 0b001],
        [0b111, 0b100, 0b111, 0b001, 0b111],
        [0b111, 0b100, 0b111, 0b101, 0b111],
        [0b111, 0b001, 0b010, 0b010, 0b010],
        [0b111, 0b101, 0b111, 0b101, 0b111],
        [0b111, 0b101, 0b111, 0b001, 0b111],
    ];

    /// Writes `text` (digits; anything else is a space) at `(x, y)` with `scale`-pixel strokes
    /// in grey `ink`; returns the box written over.
    pub(crate) fn caption(
        luma: &mut [u8],
        w: usize,
        (x, y): (usize, usize),
        text: &str,
        scale: usize,
        ink: u8,
    ) -> [usize; 4] {
        let mut cx = x;
        for ch in text.chars() {
            if let Some(d) = ch.to_digit(10) {
                for (row, bits) in DIGITS[d as usize].iter().enumerate() {
                    for col in 0..3 {
                        if bits >> (2 - col) & 1 == 1 {
                            for dy in 0..scale {
                                let at = (y + row * scale + dy) * w + cx + col * scale;
                                luma[at..at + scale].fill(ink);
                            }
                        }
                    }
                }
            }
            cx += 4 * scale;
        }
        [x, y, cx, y + 5 * scale]
    }

    /// A smooth body-like disc with a mild texture on black: anatomy, no text.
    pub(crate) fn phantom(w: usize, h: usize) -> Vec<u8> {
        let mut rng = crate::rng::Rng::new(7);
        (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32 / w as f32 - 0.5, (i / w) as f32 / h as f32 - 0.45);
                let r = (x * x + y * y).sqrt();
                if r < 0.38 { (120.0 + 60.0 * (1.0 - r / 0.38) + 12.0 * rng.f32()) as u8 } else { 4 }
            })
            .collect()
    }

    #[test]
    fn a_caption_strip_is_found_and_anatomy_is_not() {
        let (w, h) = (320, 300);
        let mut img = phantom(w, h);
        assert!(find(&img, w, h).is_empty(), "a textured disc is not text");
        let strip = caption(&mut img, w, (20, 280), "20031107 4711 0815", 2, 150);
        let found = find(&img, w, h);
        assert_eq!(found.len(), 1, "{found:?}");
        let r = found[0].rect.map(|v| v as usize);
        assert!(r[0] <= strip[0] && r[1] <= strip[1] && r[2] >= strip[2] - 2 && r[3] >= strip[3], "{r:?} ⊇ {strip:?}");
        assert!(r[1] >= 270, "the box stays on the strip: {r:?}");
    }

    #[test]
    fn dark_text_on_a_light_label_and_boxes_merge() {
        let (w, h) = (200, 120);
        let mut img = vec![230u8; w * h];
        caption(&mut img, w, (10, 10), "12345", 3, 20);
        let found = find(&img, w, h);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(merge(vec![[0, 0, 4, 4], [10, 10, 12, 12], [3, 3, 11, 11]]), vec![[0, 0, 12, 12]]);
        assert!(find(&[0; 10], 5, 2).is_empty(), "too small an image");
    }
}
