//! What every figure shares around its data: tick positions and labels
//! chosen so that no two labels collide, the series styles (colour × dash
//! × marker, 21 distinct), and the legend, drawn in its own band below the
//! plotting area so that it never covers data (the figure grows to hold
//! it). Pure layout arithmetic on estimated text widths; drawing of the
//! data itself stays with each figure.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use std::ops::Range;

/// Font size of tick labels (px).
pub(crate) const TICK_FONT: u32 = 12;
/// Font size of legend labels (px).
pub(crate) const LEGEND_FONT: u32 = 13;
/// Estimated advance of one character, as a fraction of the font size: an
/// upper bound for DejaVu Sans digits and lower-case letters (0.64 em).
pub(crate) const CHAR_WIDTH: f64 = 0.66;
/// Smallest gap between two tick labels along the axis (px).
pub(crate) const TICK_GAP: f64 = 8.0;
/// At most this many labelled ticks on one axis.
const MAX_TICKS: usize = 9;

/// Estimated width in pixels of `s` at `font` px.
pub(crate) fn text_width(s: &str, font: u32) -> f64 {
    s.chars().count() as f64 * font as f64 * CHAR_WIDTH
}

/// Plotting-area size in pixels of a chart built by
/// [`super::chart_builder`] on a `SIZE` area: the figure less its margins,
/// caption and label areas (the caption's height is over-estimated, so the
/// true y axis is a little longer and ticks only sparser than allowed).
pub(crate) fn plot_pixels() -> (f64, f64) {
    let (w, h) = super::SIZE;
    (
        w as f64 - 2.0 * super::MARGIN as f64 - super::Y_LABEL_AREA as f64,
        h as f64 - 2.0 * super::MARGIN as f64 - super::X_LABEL_AREA as f64 - 32.0,
    )
}

/// Ticks of one axis and their labels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ticks {
    pub values: Vec<f64>,
    pub labels: Vec<String>,
}

impl Ticks {
    /// The label of tick `v` (the formatter plotters calls); any other
    /// value gets the general format.
    pub fn label(&self, v: f64) -> String {
        self.values
            .iter()
            .position(|t| *t == v)
            .map_or_else(|| super::tick(v), |i| self.labels[i].clone())
    }
}

/// Labels for `values`, distinct: the general format, or more decimals
/// when it would print two ticks alike.
fn labels(values: &[f64]) -> Vec<String> {
    let general: Vec<String> = values.iter().map(|v| super::tick(*v)).collect();
    if general.windows(2).all(|w| w[0] != w[1]) {
        return general;
    }
    for d in 4..=12 {
        let l: Vec<String> = values
            .iter()
            .map(|v| {
                let s = format!("{v:.d$}");
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            })
            .collect();
        if l.windows(2).all(|w| w[0] != w[1]) {
            return l;
        }
    }
    general
}

/// Whether `t`'s labels fit along an axis of `pixels`: neighbouring
/// labels (centred on their ticks) leave [`TICK_GAP`] between them, with
/// the widths along the axis (`horizontal`) or the line height.
fn fits(t: &Ticks, pos: &dyn Fn(f64) -> f64, pixels: f64, horizontal: bool) -> bool {
    let extent = |l: &str| {
        if horizontal {
            text_width(l, TICK_FONT)
        } else {
            TICK_FONT as f64
        }
    };
    t.values.windows(2).zip(t.labels.windows(2)).all(|(v, l)| {
        let gap = (pos(v[1]) - pos(v[0])).abs() * pixels;
        gap >= (extent(&l[0]) + extent(&l[1])) / 2.0 + TICK_GAP
    })
}

/// Linear ticks at multiples of a 1-2-5 step within [lo, hi]: the densest
/// whose labels fit `pixels` (at least two ticks when the range allows).
fn linear(lo: f64, hi: f64, pixels: f64, horizontal: bool) -> Ticks {
    let span = hi - lo;
    let pos = |v: f64| (v - lo) / span;
    let e0 = (span.log10().floor() as i32) - 2;
    let mut last = None;
    for e in e0..e0 + 5 {
        for m in [1.0, 2.0, 5.0] {
            let step = m * 10f64.powi(e);
            let first = (lo / step).ceil() as i64;
            let n = ((hi / step).floor() as i64 - first + 1).max(0) as usize;
            if n > MAX_TICKS || n == 0 {
                continue;
            }
            let values: Vec<f64> = (0..n as i64)
                .map(|i| {
                    let v = (first + i) as f64 * step;
                    // Round to the step's decimals so labels print clean.
                    let d = (-(step.log10().floor())).max(0.0) as i32;
                    let s = 10f64.powi(d);
                    (v * s).round() / s
                })
                .collect();
            let t = Ticks {
                labels: labels(&values),
                values,
            };
            if fits(&t, &pos, pixels, horizontal) {
                return t;
            }
            last = Some(t);
        }
    }
    let mut t = last.unwrap_or(Ticks {
        values: vec![lo],
        labels: labels(&[lo]),
    });
    // Nothing fits (a very long label on a short axis): the ends only.
    while t.values.len() > 1 && !fits(&t, &pos, pixels, horizontal) {
        let keep = [t.values[0], *t.values.last().expect("non-empty")];
        t = Ticks {
            labels: labels(&keep),
            values: keep.to_vec(),
        };
        if !fits(&t, &pos, pixels, horizontal) {
            t.values.truncate(1);
            t.labels.truncate(1);
        }
    }
    t
}

/// Ticks for an axis over [lo, hi] (`log`: lo > 0) `pixels` long. A log
/// axis gets the densest of 1-2-…-9, 1-2-5, 1 per decade and every 2nd,
/// 3rd, … decade whose labels fit, with at least two ticks; a log axis
/// spanning too little for two such ticks gets linear 1-2-5 ticks.
pub(crate) fn ticks(lo: f64, hi: f64, log: bool, pixels: f64, horizontal: bool) -> Ticks {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return Ticks {
            values: Vec::new(),
            labels: Vec::new(),
        };
    }
    if !log || lo <= 0.0 {
        return linear(lo, hi, pixels, horizontal);
    }
    let (l0, l1) = (lo.log10(), hi.log10());
    let pos = |v: f64| (v.log10() - l0) / (l1 - l0);
    let mantissas: [&[f64]; 3] = [&[1., 2., 3., 4., 5., 6., 7., 8., 9.], &[1., 2., 5.], &[1.]];
    let (d0, d1) = (l0.floor() as i32, l1.ceil() as i32);
    let mut candidates: Vec<Vec<f64>> = mantissas
        .iter()
        .map(|ms| {
            (d0..=d1)
                .flat_map(|e| ms.iter().map(move |m| m * 10f64.powi(e)))
                .collect()
        })
        .collect();
    for stride in [2, 3, 4, 5, 10, 20] {
        candidates.push(
            (d0..=d1)
                .filter(|e| e.rem_euclid(stride) == 0)
                .map(|e| 10f64.powi(e))
                .collect(),
        );
    }
    for c in candidates {
        // Within the range, tolerant of round-off at the ends.
        let values: Vec<f64> = c
            .into_iter()
            .filter(|v| *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9))
            .collect();
        if values.len() < 2 || values.len() > MAX_TICKS {
            continue;
        }
        let t = Ticks {
            labels: labels(&values),
            values,
        };
        if fits(&t, &pos, pixels, horizontal) {
            return t;
        }
    }
    // Under about half a decade: linear ticks read better than one or two
    // log ones.
    let t = linear(lo, hi, pixels, horizontal);
    // Linear positions differ from log ones: keep only ticks that fit on
    // the log axis.
    thin(t, &pos, pixels, horizontal)
}

/// Drops every other tick until the labels fit at their positions.
fn thin(mut t: Ticks, pos: &dyn Fn(f64) -> f64, pixels: f64, horizontal: bool) -> Ticks {
    while t.values.len() > 2 && !fits(&t, pos, pixels, horizontal) {
        let keep: Vec<f64> = t.values.iter().copied().step_by(2).collect();
        t = Ticks {
            labels: labels(&keep),
            values: keep,
        };
    }
    t
}

/// One axis of a chart: linear or logarithmic over [lo, hi], with exactly
/// the labelled ticks [`ticks`] chose (plotters' own choice collides on
/// short log spans).
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<f64>,
}

impl Axis {
    pub fn new(lo: f64, hi: f64, log: bool, ticks: &Ticks) -> Axis {
        Axis {
            lo,
            hi,
            log,
            ticks: ticks.values.clone(),
        }
    }

    fn scale(&self, v: f64) -> f64 {
        if self.log { v.ln() } else { v }
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let (a, b) = (self.scale(self.lo), self.scale(self.hi));
        let t = (self.scale(*v) - a) / (b - a);
        // Far-off values (a reference line's end) saturate; NaN maps to 0.
        let px = limit.0 as f64 + t * (limit.1 - limit.0) as f64;
        px.round().clamp(-1e6, 1e6) as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// How a series is drawn: its colour, its line's dash pattern and its
/// point marker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SeriesStyle {
    pub colour: RGBColor,
    /// (dash, gap) in pixels; `None`: solid.
    pub dash: Option<(u32, u32)>,
    pub marker: MarkerShape,
}

/// A point marker's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MarkerShape {
    Circle,
    Square,
    Triangle,
}

/// Dash patterns cycled after the colours: solid, dashed, dotted.
const DASHES: [Option<(u32, u32)>; 3] = [None, Some((9, 4)), Some((2, 3))];
const MARKERS: [MarkerShape; 3] = [
    MarkerShape::Circle,
    MarkerShape::Square,
    MarkerShape::Triangle,
];

/// Distinct line styles before they repeat: every colour with every dash.
/// A figure with more lines marks each line's points too
/// ([`MARKED_STYLES`] distinct).
pub const DISTINCT_STYLES: usize = super::PALETTE.len() * DASHES.len();
/// Distinct styles of marked lines: colour × dash × marker.
pub const MARKED_STYLES: usize = DISTINCT_STYLES * MARKERS.len();

/// The style of the `i`-th series: colours first, then the next dash
/// pattern with the colours again; the marker changes with the dash and
/// again every [`DISTINCT_STYLES`], so that the first [`MARKED_STYLES`]
/// differ in (colour, dash, marker).
pub(crate) fn series_style(i: usize) -> SeriesStyle {
    let p = super::PALETTE.len();
    let round = i / p;
    SeriesStyle {
        colour: super::PALETTE[i % p],
        dash: DASHES[round % DASHES.len()],
        marker: MARKERS[(round + i / DISTINCT_STYLES) % MARKERS.len()],
    }
}

/// What a legend entry shows beside its label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Swatch {
    /// A line segment of this style and width.
    Line(SeriesStyle, u32),
    /// A line segment with its marker in the middle (lines whose points
    /// are marked).
    MarkedLine(SeriesStyle, u32),
    /// A reference line: thin, dashed.
    Reference(RGBColor),
    /// A marker, filled or open.
    Marker(SeriesStyle, bool),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LegendEntry {
    pub label: String,
    pub swatch: Swatch,
}

/// Legend layout: row height, swatch width, padding (px).
const ROW: u32 = 19;
const SWATCH: u32 = 26;
const PAD: u32 = 8;

/// Columns the legend uses for `entries` on a figure `width` wide: as many
/// as fit the longest label, at most 3.
fn legend_columns(entries: &[LegendEntry], width: u32) -> usize {
    let longest = entries
        .iter()
        .map(|e| text_width(&e.label, LEGEND_FONT))
        .fold(0.0, f64::max);
    let cell = longest + (SWATCH + 2 * PAD) as f64;
    let usable = (width - 2 * super::MARGIN) as f64;
    ((usable / cell).floor() as usize).clamp(1, 3)
}

/// The height of the legend band below the chart (0 without entries).
pub(crate) fn legend_height(entries: &[LegendEntry], width: u32) -> u32 {
    if entries.is_empty() {
        return 0;
    }
    let rows = entries.len().div_ceil(legend_columns(entries, width));
    rows as u32 * ROW + 2 * PAD + super::MARGIN
}

/// Draws the legend in `area` (the band below the chart): a framed box,
/// entries in columns, filled row by row.
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
) -> Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    if entries.is_empty() {
        return Ok(());
    }
    let (w, _) = area.dim_in_pixel();
    let cols = legend_columns(entries, w);
    let rows = entries.len().div_ceil(cols);
    let m = super::MARGIN as i32;
    let (x0, y0) = (m, 0);
    let (x1, y1) = (w as i32 - m, (rows as u32 * ROW + 2 * PAD) as i32);
    area.draw(&Rectangle::new(
        [(x0, y0), (x1, y1)],
        RGBColor(200, 200, 200).stroke_width(1),
    ))
    .map_err(e)?;
    let col_w = (x1 - x0) / cols as i32;
    for (i, en) in entries.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        let x = x0 + PAD as i32 + c as i32 * col_w;
        let y = y0 + PAD as i32 + r as i32 * ROW as i32 + ROW as i32 / 2;
        draw_swatch(area, en.swatch, x, y).map_err(e)?;
        area.draw(&Text::new(
            en.label.clone(),
            (x + SWATCH as i32 + 6, y - LEGEND_FONT as i32 / 2 - 1),
            ("sans-serif", LEGEND_FONT).into_font().color(&BLACK),
        ))
        .map_err(e)?;
    }
    Ok(())
}

fn draw_swatch<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: Swatch,
    x: i32,
    y: i32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let seg = vec![(x, y), (x + SWATCH as i32, y)];
    match s {
        Swatch::Line(st, width) => match st.dash {
            None => area.draw(&PathElement::new(seg, st.colour.stroke_width(width))),
            Some((d, g)) => area.draw(&DashedPathElement::new(
                seg,
                d,
                g,
                st.colour.stroke_width(width),
            )),
        },
        Swatch::MarkedLine(st, width) => {
            draw_swatch(area, Swatch::Line(st, width), x, y)?;
            let c = (x + SWATCH as i32 / 2, y);
            draw_marker(area, st.marker, c, 4, st.colour.filled())
        }
        Swatch::Reference(c) => area.draw(&DashedPathElement::new(seg, 6, 4, c.stroke_width(1))),
        Swatch::Marker(st, filled) => {
            let style = if filled {
                st.colour.filled()
            } else {
                st.colour.stroke_width(2)
            };
            draw_marker(area, st.marker, (x + SWATCH as i32 / 2, y), 4, style)
        }
    }
}

/// Draws one marker at a pixel position.
pub(crate) fn draw_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    shape: MarkerShape,
    (x, y): (i32, i32),
    r: i32,
    style: ShapeStyle,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    match shape {
        MarkerShape::Circle => area.draw(&Circle::new((x, y), r, style)),
        MarkerShape::Square => area.draw(&Rectangle::new([(x - r, y - r), (x + r, y + r)], style)),
        MarkerShape::Triangle => area.draw(&Polygon::new(
            vec![(x, y - r - 1), (x - r - 1, y + r), (x + r + 1, y + r)],
            style,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_collision(t: &Ticks, lo: f64, hi: f64, log: bool, px: f64) {
        let pos = |v: f64| {
            if log {
                (v.log10() - lo.log10()) / (hi.log10() - lo.log10())
            } else {
                (v - lo) / (hi - lo)
            }
        };
        assert!(fits(t, &pos, px, true), "{:?}", t.labels);
    }

    #[test]
    fn log_ticks_under_a_decade_do_not_collide() {
        // The spans that printed `0.060.070.080.090.1` and `90100`.
        for (lo, hi) in [(0.055, 0.105), (85.0, 104.0), (0.3, 0.5), (1.0, 1.04)] {
            let t = ticks(lo, hi, true, 552.0, true);
            assert!(t.values.len() >= 2, "{lo}..{hi}: {:?}", t.labels);
            no_collision(&t, lo, hi, true, 552.0);
            let mut l = t.labels.clone();
            l.dedup();
            assert_eq!(l.len(), t.labels.len(), "distinct labels");
        }
    }

    #[test]
    fn log_ticks_over_many_decades_thin_to_fit() {
        let t = ticks(1e-12, 1e3, true, 300.0, true);
        assert!(t.values.len() >= 2 && t.values.len() <= MAX_TICKS);
        no_collision(&t, 1e-12, 1e3, true, 300.0);
        let t = ticks(0.8, 5000.0, true, 552.0, true);
        assert!(t.labels.contains(&"1".to_string()) && t.labels.contains(&"1000".to_string()));
    }

    #[test]
    fn linear_ticks_are_nice_and_fit() {
        let t = ticks(0.0601, 0.0605, false, 552.0, true);
        assert!(t.values.len() >= 2, "{:?}", t.labels);
        no_collision(&t, 0.0601, 0.0605, false, 552.0);
        let t = ticks(-3.0, 47.0, false, 326.0, false);
        assert_eq!(t.labels.first().map(String::as_str), Some("0"));
    }

    #[test]
    fn twenty_one_line_styles_and_sixty_three_marked() {
        let key = |s: SeriesStyle| (s.colour, s.dash);
        for i in 0..DISTINCT_STYLES {
            for j in 0..i {
                assert_ne!(key(series_style(i)), key(series_style(j)), "{i} and {j}");
            }
        }
        const { assert!(DISTINCT_STYLES >= 20 && MARKED_STYLES >= 60) };
        for i in 0..MARKED_STYLES {
            for j in 0..i {
                assert_ne!(series_style(i), series_style(j), "{i} and {j}");
            }
        }
    }
}
