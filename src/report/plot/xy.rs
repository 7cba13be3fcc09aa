//! Generic x–y figures, and the named ones built on them: predicted
//! pruning and quantization curves with measured points, and snapshot
//! series (D(t), k_*(t), α(t), the ρ fit). The callers (the fitter's
//! predictions, `predict --verify`, `compare`) hand over plain numbers.

use super::{PALETTE, draw_message, lin_range, log_range, tick};
use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
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
        let (Some(xr), Some(yr)) = (self.range(self.log_x, xs), self.range(self.log_y, ys)) else {
            let why = self.note.as_deref().unwrap_or("no points to plot");
            return draw_message(root, &self.title, why);
        };
        root.fill(&WHITE).map_err(e)?;
        let caption = if self.hidden() > 0 {
            format!(
                "{} ({} points off a log axis not shown)",
                self.title,
                self.hidden()
            )
        } else {
            self.title.clone()
        };
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(&caption, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64);
        // One drawing routine for the four axis combinations.
        match (self.log_x, self.log_y) {
            (false, false) => self.draw_on(
                builder
                    .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
                    .map_err(e)?,
                xr,
                yr,
            ),
            (true, false) => self.draw_on(
                builder
                    .build_cartesian_2d((xr.0..xr.1).log_scale(), yr.0..yr.1)
                    .map_err(e)?,
                xr,
                yr,
            ),
            (false, true) => self.draw_on(
                builder
                    .build_cartesian_2d(xr.0..xr.1, (yr.0..yr.1).log_scale())
                    .map_err(e)?,
                xr,
                yr,
            ),
            (true, true) => self.draw_on(
                builder
                    .build_cartesian_2d((xr.0..xr.1).log_scale(), (yr.0..yr.1).log_scale())
                    .map_err(e)?,
                xr,
                yr,
            ),
        }
    }

    fn draw_on<'a, DB, X, Y>(
        &self,
        mut chart: ChartContext<'a, DB, Cartesian2d<X, Y>>,
        xr: (f64, f64),
        yr: (f64, f64),
    ) -> Result<(), String>
    where
        DB: DrawingBackend + 'a,
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(e)?;
        let mut colour = 0;
        let mut next = || {
            let c = PALETTE[colour % PALETTE.len()];
            colour += 1;
            c
        };
        for s in &self.lines {
            let c = next();
            let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(|p| self.shown(p)).collect();
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                .map_err(e)?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
        }
        for s in &self.points {
            let c = next();
            chart
                .draw_series(
                    s.points
                        .iter()
                        .filter(|p| self.shown(p))
                        .map(|&p| Circle::new(p, 5, c.stroke_width(2))),
                )
                .map_err(e)?
                .label(s.label.clone())
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, c.stroke_width(2)));
        }
        for m in &self.vlines {
            let c = next();
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(m.at, yr.0), (m.at, yr.1)],
                    6,
                    4,
                    c.stroke_width(1),
                ))
                .map_err(e)?
                .label(m.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
        }
        for m in &self.hlines {
            let c = next();
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(xr.0, m.at), (xr.1, m.at)],
                    6,
                    4,
                    c.stroke_width(1),
                ))
                .map_err(e)?
                .label(m.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .border_style(RGBColor(200, 200, 200))
            .background_style(WHITE.mix(0.85))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(e)?;
        Ok(())
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
