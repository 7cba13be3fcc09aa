//! Heat maps of values in [0, 1]: one row per matrix, one column per
//! snapshot, each cell coloured by viridis (plotters' `ViridisRGB`,
//! perceptually uniform and colour-blind safe), with a colour bar and a
//! light-grey key for cells without a value. The figure grows with its
//! rows (16 px each up to a 1200 px grid, thinner beyond, never under 2
//! px) and labels only every n-th row or column when their labels would
//! overlap. Also builds the singular-vector overlap maps of a comparison
//! (`compare --overlap K`) from its `overlap` rows; the numbers are
//! `compare::overlap`'s, untouched.

use super::axes::{CHAR_WIDTH, TICK_FONT, TICK_GAP, text_width};
use super::{MARGIN, SIZE, draw_message, tick};
use crate::report::series::{CompareReport, OverlapRow};
use crate::report::table::elide_middle;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::{BTreeMap, BTreeSet};

/// Row height (px) while the grid is at most [`GRID_MAX`] high.
const ROW: f64 = 16.0;
/// Grid height (px) beyond which rows get thinner.
const GRID_MAX: f64 = 1200.0;
/// Thinnest row (px); past `GRID_MAX / ROW_MIN` rows the figure grows.
const ROW_MIN: f64 = 2.0;
/// Smallest grid height (px), for a figure with one or two rows.
const GRID_MIN: f64 = 96.0;
/// Widest row label (px): longer matrix names are elided in the middle.
/// 260 px holds 40 characters: `encoder.layer.11.attention.self.query`
/// and `model.layers.31.self_attn.q_proj` whole.
const LABEL_MAX: f64 = 260.0;
/// plotters draws a font of nominal size s at s/1.24 px per em (SVG and
/// bitmap alike, `ab_glyph`): a row label's true size.
const EM_PER_SIZE: f64 = 1.0 / 1.24;
/// Title band and x-axis band heights (px).
const TITLE: i32 = 32;
const X_AXIS: i32 = 44;
/// The colour bar's width and the steps of its gradient.
const BAR: i32 = 16;
const BAR_STEPS: usize = 64;
/// Title and axis-description font sizes (px).
const TITLE_FONT: u32 = 17;
const DESC_FONT: u32 = 14;

fn e(err: impl std::fmt::Display) -> String {
    err.to_string()
}

/// A grid of values in [0, 1]: `values[row][column]`, `None` for a cell
/// without a value (drawn [`HeatMap::MISSING`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HeatMap {
    pub title: String,
    /// The x axis's description (the columns' t).
    pub x_label: String,
    /// The colour bar's label.
    pub value_label: String,
    /// One label per row (matrix names; elided when drawn).
    pub rows: Vec<String>,
    /// One t per column.
    pub columns: Vec<f64>,
    pub values: Vec<Vec<Option<f64>>>,
}

/// Pixel layout of a heat map: the grid's box and its row and column
/// sizes, the colour bar's left edge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
    /// The grid: x0, y0, x1, y1.
    pub grid: (f64, f64, f64, f64),
    pub row_h: f64,
    pub col_w: f64,
    /// Characters of a row label at most.
    pub label_chars: usize,
    /// Every this many rows and columns carry a label.
    pub row_step: usize,
    pub col_step: usize,
    pub bar_x: i32,
}

impl HeatMap {
    /// The colour of a cell without a value (light grey: neither end of
    /// viridis, dark purple to yellow, is near it).
    pub const MISSING: RGBColor = RGBColor(221, 221, 221);

    /// The viridis colour of `v` in [0, 1] (clamped).
    pub fn colour(v: f64) -> RGBColor {
        ViridisRGB::get_color(v.clamp(0.0, 1.0))
    }

    /// Whether there is a grid to draw (at least one row and column).
    pub fn has_data(&self) -> bool {
        !self.rows.is_empty() && !self.columns.is_empty()
    }

    fn cell(&self, r: usize, c: usize) -> Option<f64> {
        self.values
            .get(r)
            .and_then(|row| row.get(c).copied().flatten())
            .filter(|v| v.is_finite())
    }

    /// Whether any cell has no value (the colour bar then keys grey).
    pub fn any_missing(&self) -> bool {
        (0..self.rows.len()).any(|r| (0..self.columns.len()).any(|c| self.cell(r, c).is_none()))
    }

    /// The column labels: t in the general tick format.
    fn column_labels(&self) -> Vec<String> {
        self.columns.iter().map(|t| tick(*t)).collect()
    }

    /// Where everything goes: the grid grows with the rows, labels thin
    /// out to one per `step` rows or columns so that none overlap.
    pub fn layout(&self) -> Layout {
        let n = self.rows.len().max(1) as f64;
        let grid_h = if n * ROW <= GRID_MAX {
            (n * ROW).max(GRID_MIN)
        } else {
            GRID_MAX.max(n * ROW_MIN)
        };
        let row_h = grid_h / n;
        let char_px = TICK_FONT as f64 * EM_PER_SIZE * CHAR_WIDTH;
        let label_chars = (LABEL_MAX / char_px).floor() as usize;
        let longest = self
            .rows
            .iter()
            .map(|r| r.chars().count().min(label_chars))
            .max()
            .unwrap_or(0);
        let label_w = (longest as f64 * char_px).ceil() + 8.0;
        let bar_w = BAR as f64
            + 6.0
            + text_width("0.5", TICK_FONT)
                .max(text_width(&self.value_label, TICK_FONT) - BAR as f64)
            + 4.0;
        let x0 = MARGIN as f64 + label_w;
        let x1 = SIZE.0 as f64 - MARGIN as f64 - bar_w - 12.0;
        let y0 = (MARGIN as i32 + TITLE) as f64;
        let col_w = (x1 - x0) / self.columns.len().max(1) as f64;
        let widest = self
            .column_labels()
            .iter()
            .map(|l| text_width(l, TICK_FONT))
            .fold(0.0, f64::max);
        let step = |pitch: f64, need: f64| ((need / pitch).ceil() as usize).max(1);
        Layout {
            width: SIZE.0,
            height: (y0 + grid_h) as u32 + X_AXIS as u32 + MARGIN,
            grid: (x0, y0, x1, y0 + grid_h),
            row_h,
            col_w,
            label_chars,
            row_step: step(row_h, TICK_FONT as f64 + 2.0),
            col_step: step(col_w, widest + TICK_GAP),
            bar_x: (x1 + 12.0).round() as i32,
        }
    }

    /// Pixel size: [`SIZE`] for a message, else as [`Self::layout`] says.
    pub fn size(&self) -> (u32, u32) {
        if self.has_data() {
            let l = self.layout();
            (l.width, l.height)
        } else {
            SIZE
        }
    }

    /// Cell (r, c)'s box in pixels; neighbouring cells share edges.
    pub fn cell_box(l: &Layout, r: usize, c: usize) -> ((i32, i32), (i32, i32)) {
        let (x0, y0, ..) = l.grid;
        let x = |c: usize| (x0 + c as f64 * l.col_w).round() as i32;
        let y = |r: usize| (y0 + r as f64 * l.row_h).round() as i32;
        ((x(c), y(r)), (x(c + 1), y(r + 1)))
    }

    pub(super) fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), String> {
        if !self.has_data() {
            return draw_message(root, &self.title, "no values to plot");
        }
        let l = self.layout();
        let font = |px: u32| ("sans-serif", px).into_font().color(&BLACK);
        let title_chars =
            ((l.width - 2 * MARGIN) as f64 / (TITLE_FONT as f64 * CHAR_WIDTH)) as usize;
        root.draw(&Text::new(
            elide_middle(&self.title, title_chars),
            (l.width as i32 / 2, MARGIN as i32),
            font(TITLE_FONT).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(e)?;
        for r in 0..self.rows.len() {
            for c in 0..self.columns.len() {
                let fill = self.cell(r, c).map_or(Self::MISSING, Self::colour);
                let (a, b) = Self::cell_box(&l, r, c);
                root.draw(&Rectangle::new([a, b], fill.filled()))
                    .map_err(e)?;
            }
        }
        self.draw_labels(root, &l)?;
        self.draw_bar(root, &l)
    }

    /// Row labels (right-aligned, left of the grid), column labels
    /// (centred under their columns) and the x axis's description.
    fn draw_labels<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        l: &Layout,
    ) -> Result<(), String> {
        let (x0, y0, x1, y1) = l.grid;
        let style = ("sans-serif", TICK_FONT).into_font().color(&BLACK);
        for (r, name) in self.rows.iter().enumerate().step_by(l.row_step) {
            let y = (y0 + (r as f64 + 0.5) * l.row_h).round() as i32;
            root.draw(&Text::new(
                elide_middle(name, l.label_chars),
                (x0.round() as i32 - 5, y),
                style.pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(e)?;
        }
        for (c, label) in self
            .column_labels()
            .into_iter()
            .enumerate()
            .step_by(l.col_step)
        {
            let x = (x0 + (c as f64 + 0.5) * l.col_w).round() as i32;
            root.draw(&Text::new(
                label,
                (x, y1.round() as i32 + 5),
                style.pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(e)?;
        }
        root.draw(&Text::new(
            self.x_label.clone(),
            (((x0 + x1) / 2.0).round() as i32, y1.round() as i32 + 24),
            ("sans-serif", DESC_FONT)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(e)?;
        Ok(())
    }

    /// The colour bar right of the grid: 1 at the top, 0 at the bottom,
    /// ticks 0, 0.5, 1, its label above, and a grey swatch keyed "no
    /// value" below it when a cell has none. The gradient samples the
    /// middle of each step, so its colours are never exactly a cell's at
    /// 0 or 1.
    fn draw_bar<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        l: &Layout,
    ) -> Result<(), String> {
        let (_, y0, _, y1) = l.grid;
        let style = ("sans-serif", TICK_FONT).into_font().color(&BLACK);
        let x = l.bar_x;
        let top = y0.round() as i32 + TICK_FONT as i32 + 6;
        // At most 240 px tall, at least 60: a long grid keeps a short bar.
        let bottom = (y1.round() as i32 - 22).min(top + 240).max(top + 60);
        let h = (bottom - top) as f64;
        root.draw(&Text::new(
            self.value_label.clone(),
            (x, y0.round() as i32),
            style.pos(Pos::new(HPos::Left, VPos::Top)),
        ))
        .map_err(e)?;
        for i in 0..BAR_STEPS {
            let v = 1.0 - (i as f64 + 0.5) / BAR_STEPS as f64;
            let a = top + (i as f64 * h / BAR_STEPS as f64).round() as i32;
            let b = top + ((i + 1) as f64 * h / BAR_STEPS as f64).round() as i32;
            root.draw(&Rectangle::new(
                [(x, a), (x + BAR, b)],
                Self::colour(v).filled(),
            ))
            .map_err(e)?;
        }
        let frame = RGBColor(90, 90, 90).stroke_width(1);
        root.draw(&Rectangle::new([(x, top), (x + BAR, bottom)], frame))
            .map_err(e)?;
        for v in [0.0, 0.5, 1.0] {
            let y = bottom - (v * h).round() as i32;
            root.draw(&PathElement::new(
                vec![(x + BAR, y), (x + BAR + 4, y)],
                frame,
            ))
            .map_err(e)?;
            root.draw(&Text::new(
                tick(v),
                (x + BAR + 6, y),
                style.pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(e)?;
        }
        if self.any_missing() {
            let y = bottom + 10;
            root.draw(&Rectangle::new(
                [(x, y), (x + BAR, y + 12)],
                Self::MISSING.filled(),
            ))
            .map_err(e)?;
            root.draw(&Text::new(
                "no value",
                (x + BAR + 6, y + 6),
                style.pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(e)?;
        }
        Ok(())
    }
}

/// The file stems of the overlap maps, in order, with the rows' `against`
/// and side: `overlap-previous-left`, …, `overlap-init-right`.
pub const OVERLAP_MAPS: [(&str, &str, Side); 4] = [
    ("overlap-previous-left", "previous", Side::Left),
    ("overlap-previous-right", "previous", Side::Right),
    ("overlap-init-left", "init", Side::Left),
    ("overlap-init-right", "init", Side::Right),
];

/// Which singular vectors a map shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }

    /// The colour bar's label: the overlap's formula.
    fn value_label(self) -> &'static str {
        match self {
            Side::Left => "‖U₁ᵀU₂‖²/K",
            Side::Right => "‖V₁ᵀV₂‖²/K",
        }
    }

    fn value(self, r: &OverlapRow) -> f64 {
        match self {
            Side::Left => r.left_subspace,
            Side::Right => r.right_subspace,
        }
    }
}

/// The largest k of a comparison's overlap rows (K, unless every matrix
/// capped it lower); 0 without rows.
pub fn overlap_k(r: &CompareReport) -> usize {
    r.overlap.iter().map(|o| o.k).max().unwrap_or(0)
}

/// The subspace-overlap map of `r` against `against` (`previous` or
/// `init`) on one side ([`overlap_grid`]'s rows and cells, every snapshot
/// a column); `None` when no row is against `against`.
pub fn overlap_map(r: &CompareReport, against: &str, side: Side) -> Option<HeatMap> {
    let order = r.dynamics.iter().map(|d| d.name.as_str());
    let snapshots: Vec<usize> = r.snapshots.iter().map(|s| s.snapshot).collect();
    let (rows, values) = overlap_grid(&r.overlap, order, &snapshots, against, side)?;
    let what = match against {
        "previous" => "previous snapshot",
        other => other,
    };
    Some(HeatMap {
        title: format!(
            "top-{} {} subspace overlap vs {what}",
            overlap_k(r),
            side.name()
        ),
        x_label: format!("snapshot t ({})", r.time),
        value_label: side.value_label().to_string(),
        rows,
        columns: r.snapshots.iter().map(|s| s.t).collect(),
        values,
    })
}

/// Row names and `cells[row][column]`.
type Grid = (Vec<String>, Vec<Vec<Option<f64>>>);

/// The row names and cells of an overlap map: the matrices with overlap
/// rows against `against`, in `order` (the report's), then any other in
/// row order; one cell per snapshot index, without a value where no row
/// is (the first snapshot has no previous one; a matrix failed there).
/// `None` when no row is against `against`.
fn overlap_grid<'a>(
    overlap: &'a [OverlapRow],
    order: impl Iterator<Item = &'a str>,
    snapshots: &[usize],
    against: &str,
    side: Side,
) -> Option<Grid> {
    let by: BTreeMap<(&str, usize), f64> = overlap
        .iter()
        .filter(|o| o.against == against)
        .map(|o| ((o.name.as_str(), o.snapshot), side.value(o)))
        .collect();
    if by.is_empty() {
        return None;
    }
    let present: BTreeSet<&str> = by.keys().map(|(n, _)| *n).collect();
    let mut names: Vec<&str> = order.filter(|n| present.contains(n)).collect();
    let mut seen: BTreeSet<&str> = names.iter().copied().collect();
    for n in overlap.iter().map(|o| o.name.as_str()) {
        if present.contains(n) && seen.insert(n) {
            names.push(n);
        }
    }
    let values = names
        .iter()
        .map(|n| {
            snapshots
                .iter()
                .map(|s| by.get(&(*n, *s)).copied())
                .collect()
        })
        .collect();
    Some((names.into_iter().map(str::to_string).collect(), values))
}

#[cfg(test)]
mod tests {
    use super::super::Figure;
    use super::*;

    fn map(rows: usize, cols: usize, name: impl Fn(usize) -> String) -> HeatMap {
        HeatMap {
            title: "overlap".into(),
            x_label: "t (step)".into(),
            value_label: "overlap".into(),
            rows: (0..rows).map(name).collect(),
            columns: (0..cols).map(|c| (10 * (c + 1)) as f64).collect(),
            values: (0..rows)
                .map(|r| {
                    (0..cols)
                        .map(|c| (c > 0).then(|| ((r + c) % 3) as f64 / 2.0))
                        .collect()
                })
                .collect(),
        }
    }

    fn hex(c: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
    }

    fn fills(svg: &str, c: RGBColor) -> usize {
        svg.matches(&format!(r#"fill="{}""#, hex(c))).count()
    }

    #[test]
    fn one_cell_per_value_in_the_maps_colour() {
        // 5 rows × 4 columns: column 0 missing, the rest (r + c) % 3 / 2.
        let m = map(5, 4, |r| format!("layer.{r}"));
        let s = Figure::Heat(m.clone()).to_svg().unwrap();
        let count = |v: f64| {
            (0..5)
                .flat_map(|r| (1..4).map(move |c| (r, c)))
                .filter(|(r, c)| ((r + c) % 3) as f64 / 2.0 == v)
                .count()
        };
        // The ends of viridis: the gradient samples step middles, so these
        // colours are the cells' only.
        assert_eq!(hex(HeatMap::colour(0.0)), "#440154");
        assert_eq!(hex(HeatMap::colour(1.0)), "#FEE825");
        assert_eq!(fills(&s, HeatMap::colour(0.0)), count(0.0));
        assert_eq!(fills(&s, HeatMap::colour(1.0)), count(1.0));
        // Grey: column 0 of each row, plus the key's swatch.
        assert_eq!(fills(&s, HeatMap::MISSING), 5 + 1);
        assert!(s.contains("no value"));
        // Every cell is one filled rectangle: 20 cells, the 64 gradient
        // steps, the key swatch (and the white background).
        assert_eq!(s.matches("<rect").count(), 1 + 20 + BAR_STEPS + 1 + 1);
        for l in ["0", "0.5", "1", "overlap", "t (step)", "layer.4", "40"] {
            assert!(s.contains(&format!("\n{l}\n</text>")), "label {l}");
        }
        // Without a missing cell, no key.
        let mut full = m.clone();
        for row in &mut full.values {
            row[0] = Some(0.25);
        }
        let s = Figure::Heat(full).to_svg().unwrap();
        assert_eq!(fills(&s, HeatMap::MISSING), 0);
        assert!(!s.contains("no value"));
    }

    #[test]
    fn same_input_same_bytes() {
        let m = map(7, 5, |r| format!("blocks.{r}.attn.q"));
        let a = Figure::Heat(m.clone()).to_svg().unwrap();
        assert_eq!(a, Figure::Heat(m).to_svg().unwrap());
    }

    #[test]
    fn long_names_are_elided_in_the_middle() {
        let long = "model.encoder.layer.11.attention.self.query.weight.extra.long.name";
        let m = map(2, 3, |_| long.to_string());
        let l = m.layout();
        let s = Figure::Heat(m).to_svg().unwrap();
        let want = elide_middle(long, l.label_chars);
        assert!(want.len() < long.len() && want.ends_with(".long.name"));
        assert!(s.contains(&want), "{want}");
        assert!(!s.contains(long));
        // BERT's and Llama's names are kept whole.
        assert!(l.label_chars >= "encoder.layer.11.attention.self.query".len());
        // The label area stays within LABEL_MAX.
        assert!(l.grid.0 <= MARGIN as f64 + LABEL_MAX + 8.0, "{:?}", l.grid);
    }

    #[test]
    fn many_rows_thin_out_their_labels() {
        for (n, cols) in [(3, 2), (40, 12), (75, 30), (250, 60), (1000, 200)] {
            let m = map(n, cols, |r| format!("model.layers.{r}.mlp.down_proj"));
            let l = m.layout();
            let grid_h = l.grid.3 - l.grid.1;
            assert!(grid_h <= GRID_MAX.max(n as f64 * ROW_MIN) + 1e-9, "{n}");
            let most = ROW.max(GRID_MIN / n as f64);
            assert!(
                l.row_h >= ROW_MIN - 1e-9 && l.row_h <= most,
                "{n}: {}",
                l.row_h
            );
            // Labelled rows are a font size (+2 px) apart; labelled
            // columns their widest label plus the tick gap.
            assert!(l.row_step as f64 * l.row_h >= TICK_FONT as f64 + 2.0, "{n}");
            let widest = text_width(&tick(m.columns[cols - 1]), TICK_FONT);
            assert!(l.col_step as f64 * l.col_w >= widest + TICK_GAP, "{n}");
            let s = Figure::Heat(m).to_svg().unwrap();
            let labels = s.matches("mlp.down_proj\n</text>").count();
            assert_eq!(labels, n.div_ceil(l.row_step), "{n} rows");
            assert_eq!(s.matches("<rect").count(), 1 + n * cols + BAR_STEPS + 1 + 1);
        }
        // The figure grows with its rows.
        let h = |n| map(n, 4, |r| format!("m{r}")).size().1;
        assert!(h(2) < h(40) && h(40) < h(75) && h(75) == h(250) && h(250) < h(1000));
    }

    #[test]
    fn no_rows_draws_a_message() {
        let m = map(0, 3, |r| r.to_string());
        let f = Figure::Heat(m);
        assert_eq!(f.size(), SIZE);
        assert!(f.to_svg().unwrap().contains("no values to plot"));
    }

    fn overlap_row(name: &str, against: &'static str, snapshot: usize, v: f64) -> OverlapRow {
        OverlapRow {
            name: name.into(),
            against,
            from_snapshot: None,
            from_t: None,
            snapshot,
            t: snapshot as f64,
            k: 4,
            left_subspace: v,
            right_subspace: 1.0 - v,
            left_best_mean: v,
            right_best_mean: v,
            left_best: Vec::new(),
            right_best: Vec::new(),
        }
    }

    #[test]
    fn overlap_grid_in_report_order_with_gaps() {
        // Rows in snapshot, then name order (as `compare` writes them);
        // `b` failed at snapshot 2; `z` is not in the report's order.
        let mut rows = Vec::new();
        for s in 1..4 {
            for n in ["a", "b", "z"] {
                if !(n == "b" && s == 2) {
                    rows.push(overlap_row(n, "previous", s, s as f64 / 10.0));
                }
            }
            rows.push(overlap_row("a", "init", s, 0.05));
        }
        let order = ["b", "c", "a"];
        let (names, cells) = overlap_grid(
            &rows,
            order.into_iter(),
            &[0, 1, 2, 3],
            "previous",
            Side::Left,
        )
        .unwrap();
        assert_eq!(names, ["b", "a", "z"]);
        assert_eq!(cells[0], [None, Some(0.1), None, Some(0.3)]);
        assert_eq!(cells[1], [None, Some(0.1), Some(0.2), Some(0.3)]);
        let (_, right) = overlap_grid(
            &rows,
            order.into_iter(),
            &[0, 1, 2, 3],
            "previous",
            Side::Right,
        )
        .unwrap();
        assert_eq!(right[2][3], Some(1.0 - 0.3));
        let (names, _) =
            overlap_grid(&rows, order.into_iter(), &[0, 1, 2, 3], "init", Side::Left).unwrap();
        assert_eq!(names, ["a"]);
        assert!(overlap_grid(&rows, order.into_iter(), &[0], "other", Side::Left).is_none());
    }
}
