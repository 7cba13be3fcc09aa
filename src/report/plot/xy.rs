//! Generic x–y figures, and the named ones built on them: predicted
//! pruning and quantization curves with measured points, and snapshot
//! series (D(t), k_*(t), α(t), the ρ fit). The callers (the fitter's
//! predictions, `predict --verify`, `compare`) hand over plain numbers.

use super::axes::{
    Axis, DISTINCT_STYLES, LegendEntry, SeriesStyle, Swatch, Ticks, draw_marker, series_style,
};
use super::{axis_ticks, chart_builder, draw_mesh, draw_message, lin_range, log_range, tick};
use plotters::coord::Shift;
use plotters::prelude::*;

fn e(err: impl std::fmt::Display) -> String {
    err.to_string()
}

/// A named list of (x, y) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn new(label: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Series {
        Series {
            label: label.into(),
            points: points.into_iter().collect(),
        }
    }
}

/// A labelled vertical (`x`) or horizontal (`y`) reference line.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub label: String,
    pub at: f64,
}

/// A figure of lines (predictions, fits), points (measurements) and
/// reference lines. Points that a log axis cannot show (≤ 0, non-finite)
/// are left out, and the figure says how many.
#[derive(Debug, Clone, PartialEq)]
pub struct XyPlot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    /// Drawn as lines.
    pub lines: Vec<Series>,
    /// Drawn as larger open markers, no line.
    pub points: Vec<Series>,
    pub vlines: Vec<Marker>,
    pub hlines: Vec<Marker>,
    /// Shown instead of a chart when there is nothing to plot (why not);
    /// "no points to plot" when unset.
    pub note: Option<String>,
}

impl XyPlot {
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> XyPlot {
        XyPlot {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_x: false,
            log_y: false,
            lines: Vec::new(),
            points: Vec::new(),
            vlines: Vec::new(),
            hlines: Vec::new(),
            note: None,
        }
    }

    fn shown(&self, p: &(f64, f64)) -> bool {
        p.0.is_finite()
            && p.1.is_finite()
            && (!self.log_x || p.0 > 0.0)
            && (!self.log_y || p.1 > 0.0)
    }

    fn all(&self) -> impl Iterator<Item = &(f64, f64)> {
        self.lines
            .iter()
            .chain(&self.points)
            .flat_map(|s| &s.points)
    }

    /// Points left out because an axis cannot show them.
    pub fn hidden(&self) -> usize {
        self.all().filter(|p| !self.shown(p)).count()
    }

    fn range(&self, log: bool, vals: Vec<f64>) -> Option<(f64, f64)> {
        if log {
            log_range(vals.into_iter(), 1.4)
        } else {
            lin_range(vals.into_iter())
        }
    }

    /// Whether any series has a point the axes can show (reference
    /// lines alone are no data).
    pub fn has_data(&self) -> bool {
        self.lines
            .iter()
            .chain(&self.points)
            .any(|s| s.points.iter().any(|p| self.shown(p)))
    }

    /// Whether lines mark their points: when there are more lines than
    /// colour × dash tells apart, the marker tells them apart (up to
    /// [`super::axes::MARKED_STYLES`]).
    fn marked(&self) -> bool {
        self.lines.len() > DISTINCT_STYLES
    }

    /// The legend: lines, then points, then reference lines, styled as
    /// drawn; empty when the figure shows its note instead.
    pub(super) fn legend(&self) -> Vec<LegendEntry> {
        if !self.has_data() {
            return Vec::new();
        }
        let n = self.lines.len();
        let m = n + self.points.len();
        let marked = self.marked();
        let lines = self
            .lines
            .iter()
            .enumerate()
            .map(move |(i, s)| LegendEntry {
                label: s.label.clone(),
                swatch: if marked {
                    Swatch::MarkedLine(series_style(i), 2)
                } else {
                    Swatch::Line(series_style(i), 2)
                },
            });
        let points = self.points.iter().enumerate().map(|(i, s)| LegendEntry {
            label: s.label.clone(),
            swatch: Swatch::Marker(series_style(n + i), false),
        });
        let refs = self
            .vlines
            .iter()
            .chain(&self.hlines)
            .enumerate()
            .map(|(i, r)| LegendEntry {
                label: r.label.clone(),
                swatch: Swatch::Reference(series_style(m + i).colour),
            });
        lines.chain(points).chain(refs).collect()
    }

    pub(super) fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), String> {
        let xs: Vec<f64> = self
            .all()
            .filter(|p| self.shown(p))
            .map(|p| p.0)
            .chain(self.vlines.iter().map(|m| m.at))
            .collect();
        let ys: Vec<f64> = self
            .all()
            .filter(|p| self.shown(p))
            .map(|p| p.1)
            .chain(self.hlines.iter().map(|m| m.at))
            .collect();
        let ranges = (self.range(self.log_x, xs), self.range(self.log_y, ys));
        let (Some(xr), Some(yr), true) = (ranges.0, ranges.1, self.has_data()) else {
            let why = self.note.as_deref().unwrap_or("no points to plot");
            return draw_message(root, &self.title, why);
        };
        let caption = if self.hidden() > 0 {
            format!(
                "{} ({} points off a log axis not shown)",
                self.title,
                self.hidden()
            )
        } else {
            self.title.clone()
        };
        let (xt, yt) = axis_ticks(xr, yr, self.log_x, self.log_y);
        let chart = chart_builder(root, &caption)
            .build_cartesian_2d(
                Axis::new(xr.0, xr.1, self.log_x, &xt),
                Axis::new(yr.0, yr.1, self.log_y, &yt),
            )
            .map_err(e)?;
        self.draw_on(chart, (&xt, &yt), xr, yr)
    }

    fn draw_on<'a, DB: DrawingBackend + 'a>(
        &self,
        mut chart: ChartContext<'a, DB, Cartesian2d<Axis, Axis>>,
        ticks: (&Ticks, &Ticks),
        xr: (f64, f64),
        yr: (f64, f64),
    ) -> Result<(), String> {
        draw_mesh(&mut chart, ticks, &self.x_label, &self.y_label)?;
        let n = self.lines.len();
        for (i, s) in self.lines.iter().enumerate() {
            let st = series_style(i);
            let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(|p| self.shown(p)).collect();
            let style = st.colour.stroke_width(2);
            match st.dash {
                None => chart
                    .draw_series(LineSeries::new(pts.iter().copied(), style))
                    .map(|_| ()),
                Some((d, g)) => chart
                    .draw_series(DashedLineSeries::new(pts.iter().copied(), d, g, style))
                    .map(|_| ()),
            }
            .map_err(e)?;
            // A line of one point draws nothing: mark the point; with many
            // lines, mark every point.
            if pts.len() == 1 || self.marked() {
                for p in &pts {
                    self.mark(&chart, st, *p, true)?;
                }
            }
        }
        for (i, s) in self.points.iter().enumerate() {
            let st = series_style(n + i);
            for p in s.points.iter().filter(|p| self.shown(p)) {
                self.mark(&chart, st, *p, false)?;
            }
        }
        let m = n + self.points.len();
        let refs = self.vlines.iter().map(|v| [(v.at, yr.0), (v.at, yr.1)]);
        let refs = refs.chain(self.hlines.iter().map(|h| [(xr.0, h.at), (xr.1, h.at)]));
        for (i, ends) in refs.enumerate() {
            let c = series_style(m + i).colour;
            chart
                .draw_series(DashedLineSeries::new(ends, 6, 4, c.stroke_width(1)))
                .map_err(e)?;
        }
        Ok(())
    }

    /// Draws one marker of style `st` at data point `p`.
    fn mark<'a, DB: DrawingBackend + 'a>(
        &self,
        chart: &ChartContext<'a, DB, Cartesian2d<Axis, Axis>>,
        st: SeriesStyle,
        p: (f64, f64),
        filled: bool,
    ) -> Result<(), String> {
        let area = chart.plotting_area();
        let (x, y) = area.map_coordinate(&p);
        let (x0, y0) = area.get_base_pixel();
        let style = if filled {
            st.colour.filled()
        } else {
            st.colour.stroke_width(2)
        };
        let strip = area.strip_coord_spec();
        let r = if filled { 3 } else { 5 };
        draw_marker(&strip, st.marker, (x - x0, y - y0), r, style).map_err(e)
    }
}

/// Predicted loss increase ΔL against kept rank r (log-log), with measured
/// points when `predict --verify` or the simulator measured them, and k_*
/// as a vertical line (the plateau starts there).
pub fn pruning_curve(
    name: &str,
    predicted: &[(f64, f64)],
    measured: Option<&[(f64, f64)]>,
    k_star: Option<f64>,
) -> XyPlot {
    let mut p = XyPlot::new(
        format!("pruning: {name}"),
        "kept rank r",
        "loss increase ΔL",
    );
    p.log_x = true;
    p.log_y = true;
    p.lines
        .push(Series::new("predicted", predicted.iter().copied()));
    if let Some(m) = measured {
        p.points.push(Series::new("measured", m.iter().copied()));
    }
    if let Some(k) = k_star {
        p.vlines.push(Marker {
            label: format!("k* = {}", tick(k)),
            at: k,
        });
    }
    p
}

/// Predicted loss increase against bits per weight (log y), with measured
/// points when available.
pub fn quantization_curve(
    name: &str,
    predicted: &[(u32, f64)],
    measured: Option<&[(u32, f64)]>,
) -> XyPlot {
    let mut p = XyPlot::new(
        format!("quantization: {name}"),
        "bits B",
        "loss increase ΔL",
    );
    p.log_y = true;
    p.lines.push(Series::new(
        "predicted",
        predicted.iter().map(|&(b, l)| (b as f64, l)),
    ));
    if let Some(m) = measured {
        p.points.push(Series::new(
            "measured",
            m.iter().map(|&(b, l)| (b as f64, l)),
        ));
    }
    p
}

/// A quantity over training time, one line per matrix (or one for the
/// model): D(t), k_*(t), α(t), μ_max(t).
pub fn snapshot_series(
    quantity: &str,
    time_label: &str,
    series: Vec<Series>,
    log_x: bool,
    log_y: bool,
) -> XyPlot {
    let mut p = XyPlot::new(format!("{quantity} over training"), time_label, quantity);
    p.log_x = log_x;
    p.log_y = log_y;
    p.lines = series;
    p
}

/// The elasticity fit: measured k_*(t) (points) and the fitted
/// k_* = e^c·t^s (line; ρ = s·b) on log-log axes.
pub fn rho_fit(
    time_label: &str,
    t: &[f64],
    k_star: &[f64],
    slope: f64,
    intercept: f64,
    b: f64,
) -> XyPlot {
    let mut p = XyPlot::new("frontier motion and the ρ fit", time_label, "k*");
    p.log_x = true;
    p.log_y = true;
    p.points.push(Series::new(
        "k*(t) measured",
        t.iter().copied().zip(k_star.iter().copied()),
    ));
    let ts: Vec<f64> = t
        .iter()
        .copied()
        .filter(|v| *v > 0.0 && v.is_finite())
        .collect();
    if let (Some(lo), Some(hi)) = (
        ts.iter().copied().reduce(f64::min),
        ts.iter().copied().reduce(f64::max),
    ) {
        let line = (0..=24).map(|i| {
            let x = (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / 24.0).exp();
            (x, (intercept + slope * x.ln()).exp())
        });
        p.lines.push(Series::new(
            format!("fit: slope {:.3}, ρ = slope·b = {:.3}", slope, slope * b),
            line,
        ));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axes_hide_non_positive_points_and_say_so() {
        let p = pruning_curve(
            "m",
            &[(1.0, 0.5), (10.0, 0.0), (100.0, 0.01)],
            Some(&[(-1.0, 1.0)]),
            None,
        );
        assert_eq!(p.hidden(), 2);
    }

    #[test]
    fn rho_fit_line_follows_the_slope() {
        let p = rho_fit(
            "step",
            &[10.0, 100.0, 1000.0],
            &[2.0, 6.0, 20.0],
            0.5,
            0.0,
            2.0,
        );
        let l = &p.lines[0].points;
        assert!((l[0].1 - 10f64.sqrt()).abs() < 1e-12);
        assert!((l[24].1 - 1000f64.sqrt()).abs() < 1e-9);
        assert!(p.lines[0].label.contains("ρ = slope·b = 1.000"));
    }
}
