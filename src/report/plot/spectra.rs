//! Per-matrix spectrum figures: the empirical spectral density on log-log
//! axes with the peer-compatible power-law fit and its xmin, and the rank
//! plot μ_k against k with the fitter's overlays when they exist.

use super::axes::{Axis, LegendEntry, Swatch, series_style};
use super::{PALETTE, axis_ticks, chart_builder, draw_mesh, draw_message, log_range, tick};
use crate::fit::powerlaw::{self, EVALS_THRESH, PowerLawFit};
use plotters::coord::Shift;
use plotters::prelude::*;

fn e(err: impl std::fmt::Display) -> String {
    err.to_string()
}

/// The ESD of one matrix: a histogram density over log-spaced bins of the
/// eigenvalues the fit sees (> 1e-5), the fitted density
/// p(x) = f·(α−1)/xmin·(x/xmin)^(−α) over [xmin, xmax] (f = the tail's
/// share of the fitted eigenvalues, so it sits on the histogram), and a
/// dashed line at xmin.
#[derive(Debug, Clone)]
pub struct EsdPlot<'a> {
    pub name: &'a str,
    pub evals: &'a [f64],
    /// The power-law fit; `EsdPlot::new` computes it as the report does.
    pub fit: Option<PowerLawFit>,
}

impl<'a> EsdPlot<'a> {
    pub fn new(name: &'a str, evals: &'a [f64]) -> EsdPlot<'a> {
        EsdPlot {
            name,
            evals,
            fit: powerlaw::fit(evals).ok(),
        }
    }

    /// (bin centre, density) for every non-empty log-spaced bin.
    pub fn histogram(&self) -> Vec<(f64, f64)> {
        let x: Vec<f64> = self
            .evals
            .iter()
            .copied()
            .filter(|v| *v > EVALS_THRESH && v.is_finite())
            .collect();
        let n = x.len();
        let Some((lo, hi)) = log_range(x.iter().copied(), 1.0) else {
            return Vec::new();
        };
        // Bins: about 2√n, between 10 and 60; widened by a hair so the
        // largest value falls inside the last bin.
        let bins = ((2.0 * (n as f64).sqrt()) as usize).clamp(10, 60);
        let (l0, l1) = (lo.ln(), hi.ln() + 1e-12 * (1.0 + hi.ln().abs()));
        let width = (l1 - l0) / bins as f64;
        let mut counts = vec![0usize; bins];
        for v in &x {
            let i = (((v.ln() - l0) / width) as usize).min(bins - 1);
            counts[i] += 1;
        }
        counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, &c)| {
                let (a, b) = (
                    (l0 + i as f64 * width).exp(),
                    (l0 + (i + 1) as f64 * width).exp(),
                );
                ((a * b).sqrt(), c as f64 / (n as f64 * (b - a)))
            })
            .collect()
    }

    /// Points of the fitted density over [xmin, xmax], log-spaced.
    pub fn fit_line(&self) -> Vec<(f64, f64)> {
        let Some(f) = self.fit else { return Vec::new() };
        if !(f.alpha.is_finite() && f.alpha > 1.0 && f.xmax > f.xmin && f.xmin > 0.0) {
            return Vec::new();
        }
        let share = f.n_tail as f64 / f.n_fit as f64;
        let (l0, l1) = (f.xmin.ln(), f.xmax.ln());
        (0..=48)
            .map(|i| {
                let x = (l0 + (l1 - l0) * i as f64 / 48.0).exp();
                (
                    x,
                    share * (f.alpha - 1.0) / f.xmin * (x / f.xmin).powf(-f.alpha),
                )
            })
            .collect()
    }

    /// The legend: the histogram, and with a fit its line and xmin.
    pub(super) fn legend(&self) -> Vec<LegendEntry> {
        if self.histogram().is_empty() {
            return Vec::new();
        }
        let mut out = vec![LegendEntry {
            label: format!("ESD ({} eigenvalues)", self.fit.map_or(0, |f| f.n_fit)),
            swatch: Swatch::Marker(series_style(0), true),
        }];
        if let Some(f) = self.fit {
            if !self.fit_line().is_empty() {
                out.push(LegendEntry {
                    label: format!("power law α = {:.3}, D = {:.3}", f.alpha, f.d),
                    swatch: Swatch::Line(series_style(1), 2),
                });
            }
            out.push(LegendEntry {
                label: format!("xmin = {} ({} in tail)", tick(f.xmin), f.n_tail),
                swatch: Swatch::Reference(PALETTE[2]),
            });
        }
        out
    }

    pub(super) fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), String> {
        let hist = self.histogram();
        let title = format!("ESD: {}", self.name);
        if hist.is_empty() {
            return draw_message(root, &title, "no eigenvalue above 1e-5: nothing to plot");
        }
        let line = self.fit_line();
        let (x0, x1) = log_range(hist.iter().map(|p| p.0), 1.6).expect("non-empty");
        let (y0, y1) =
            log_range(hist.iter().chain(&line).map(|p| p.1), 2.0).expect("densities are positive");
        let (xt, yt) = axis_ticks((x0, x1), (y0, y1), true, true);
        let mut chart = chart_builder(root, &title)
            .build_cartesian_2d(Axis::new(x0, x1, true, &xt), Axis::new(y0, y1, true, &yt))
            .map_err(e)?;
        draw_mesh(&mut chart, (&xt, &yt), "eigenvalue μ = σ²", "density")?;
        let blue = PALETTE[0];
        chart
            .draw_series(
                hist.iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, blue.filled())),
            )
            .map_err(e)?;
        if let Some(f) = self.fit {
            if !line.is_empty() {
                chart
                    .draw_series(LineSeries::new(line, PALETTE[1].stroke_width(2)))
                    .map_err(e)?;
            }
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(f.xmin, y0), (f.xmin, y1)],
                    6,
                    4,
                    PALETTE[2].stroke_width(1),
                ))
                .map_err(e)?;
        }
        Ok(())
    }
}

/// What the fitter adds to a rank plot. Every field is optional: the plot
/// draws what it is given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RankOverlay {
    /// The frontier k_* (a rank), drawn as a vertical line.
    pub k_star: Option<f64>,
    /// The noise floor in μ units, drawn as a horizontal line: from a
    /// report row, the fitter's noise edge (the Marchenko–Pastur edge plus
    /// the Tracy–Widom 95% margin) at its σ.
    pub noise_floor: Option<f64>,
    /// Modes above the noise floor (the fitter's `k_noise`), for the legend.
    pub k_noise: Option<f64>,
    /// The rank-decay exponent b (μ_k ∝ k^(−b)) and its window of ranks
    /// [k_lo, k_hi]; the line's amplitude is the least-squares one for
    /// that slope over the window.
    pub b: Option<f64>,
    pub b_window: Option<(f64, f64)>,
}

impl RankOverlay {
    /// Reads the overlay from an `analyze` row by the fitter's field
    /// names: `k_star`; the noise floor as the fitter draws its line, the
    /// noise edge σ²(√N+√M)² + 0.9793·σ²(√N+√M)(1/√N+1/√M)^(1/3) from
    /// `noise_sigma`, `N` and `M` (`fit::noise::noise_edge`), with
    /// `k_noise` modes above it; `b` over its window `b_kmin`…`b_kmax`.
    /// Fields the row lacks (or holds as null) leave their overlay out.
    pub fn from_row(row: &serde_json::Value) -> RankOverlay {
        let num = |k: &str| row.get(k).and_then(serde_json::Value::as_f64);
        let noise_floor = num("noise_sigma")
            .zip(crate::report::doc::row_dims(row))
            .map(|(s, d)| crate::fit::noise::noise_edge(s * s, d));
        RankOverlay {
            k_star: num("k_star"),
            noise_floor,
            k_noise: num("k_noise").filter(|_| noise_floor.is_some()),
            b: num("b"),
            b_window: num("b_kmin").zip(num("b_kmax")),
        }
    }
}

/// μ_k against k on log-log axes.
#[derive(Debug, Clone)]
pub struct RankPlot<'a> {
    pub name: &'a str,
    /// Eigenvalues; sorted descending for the plot.
    pub evals: &'a [f64],
    pub overlay: RankOverlay,
}

/// At most this many ranks are drawn (log-spaced, always including the
/// first and the last); the line looks the same and the SVG stays small.
const MAX_RANK_POINTS: usize = 400;

impl<'a> RankPlot<'a> {
    pub fn new(name: &'a str, evals: &'a [f64], overlay: RankOverlay) -> RankPlot<'a> {
        RankPlot {
            name,
            evals,
            overlay,
        }
    }

    fn sorted(&self) -> Vec<f64> {
        let mut mu: Vec<f64> = self
            .evals
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        mu.sort_by(|a, b| b.total_cmp(a));
        mu
    }

    /// (k, μ_k) for positive μ_k, thinned to log-spaced ranks.
    pub fn points(&self) -> Vec<(f64, f64)> {
        let mu = self.sorted();
        let n = mu.iter().take_while(|v| **v > 0.0).count();
        if n == 0 {
            return Vec::new();
        }
        let mut ks: Vec<usize> = if n <= MAX_RANK_POINTS {
            (1..=n).collect()
        } else {
            (0..MAX_RANK_POINTS)
                .map(|i| {
                    ((n as f64).ln() * i as f64 / (MAX_RANK_POINTS - 1) as f64)
                        .exp()
                        .round() as usize
                })
                .collect()
        };
        ks.dedup();
        ks.iter().map(|&k| (k as f64, mu[k - 1])).collect()
    }

    /// The b line, μ = C·k^(−b), over its window (the whole range when no
    /// window is given); ln C is the mean of ln μ_k + b·ln k over the
    /// window's ranks.
    pub fn b_line(&self) -> Vec<(f64, f64)> {
        let Some(b) = self.overlay.b.filter(|b| b.is_finite()) else {
            return Vec::new();
        };
        let mu = self.sorted();
        let n = mu.iter().take_while(|v| **v > 0.0).count();
        let (lo, hi) = self.overlay.b_window.unwrap_or((1.0, n as f64));
        let (lo, hi) = (lo.max(1.0).round() as usize, (hi.round() as usize).min(n));
        if n == 0 || lo >= hi {
            return Vec::new();
        }
        let ln_c = (lo..=hi)
            .map(|k| mu[k - 1].ln() + b * (k as f64).ln())
            .sum::<f64>()
            / (hi - lo + 1) as f64;
        [lo as f64, hi as f64]
            .into_iter()
            .map(|k| (k, (ln_c - b * k.ln()).exp()))
            .collect()
    }

    /// The legend: the spectrum, then whichever overlays are drawn.
    pub(super) fn legend(&self) -> Vec<LegendEntry> {
        if self.points().is_empty() {
            return Vec::new();
        }
        let o = &self.overlay;
        let mut out = vec![LegendEntry {
            label: format!(
                "μ_k ({} positive)",
                self.sorted().iter().filter(|v| **v > 0.0).count()
            ),
            swatch: Swatch::Line(series_style(0), 2),
        }];
        if !self.b_line().is_empty() {
            out.push(LegendEntry {
                label: format!("b = {:.3}", o.b.unwrap_or(f64::NAN)),
                swatch: Swatch::Line(series_style(1), 2),
            });
        }
        if let Some(k) = o.k_star.filter(|k| *k > 0.0) {
            out.push(LegendEntry {
                label: format!("k* = {}", tick(k)),
                swatch: Swatch::Reference(PALETTE[2]),
            });
        }
        if let Some(f) = o.noise_floor.filter(|f| *f > 0.0) {
            out.push(LegendEntry {
                label: match o.k_noise {
                    Some(k) => format!(
                        "noise floor {} ({} mode{} above)",
                        tick(f),
                        tick(k),
                        if k == 1.0 { "" } else { "s" }
                    ),
                    None => format!("noise floor {}", tick(f)),
                },
                swatch: Swatch::Reference(PALETTE[3]),
            });
        }
        out
    }

    pub(super) fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), String> {
        let pts = self.points();
        let title = format!("rank plot: {}", self.name);
        if pts.is_empty() {
            return draw_message(root, &title, "no positive eigenvalue: nothing to plot");
        }
        let bl = self.b_line();
        let o = &self.overlay;
        let (x0, x1) = (0.8, pts.last().expect("non-empty").0 * 1.25);
        let (y0, y1) = log_range(pts.iter().chain(&bl).map(|p| p.1).chain(o.noise_floor), 1.6)
            .expect("non-empty");
        let (xt, yt) = axis_ticks((x0, x1), (y0, y1), true, true);
        let mut chart = chart_builder(root, &title)
            .build_cartesian_2d(Axis::new(x0, x1, true, &xt), Axis::new(y0, y1, true, &yt))
            .map_err(e)?;
        draw_mesh(&mut chart, (&xt, &yt), "rank k", "μ_k = σ_k²")?;
        chart
            .draw_series(LineSeries::new(
                pts.iter().copied(),
                PALETTE[0].stroke_width(2),
            ))
            .map_err(e)?;
        if !bl.is_empty() {
            chart
                .draw_series(LineSeries::new(bl, PALETTE[1].stroke_width(2)))
                .map_err(e)?;
        }
        let mut refs = Vec::new();
        if let Some(k) = o.k_star.filter(|k| *k > 0.0) {
            refs.push(([(k, y0), (k, y1)], PALETTE[2]));
        }
        if let Some(f) = o.noise_floor.filter(|f| *f > 0.0) {
            refs.push(([(x0, f), (x1, f)], PALETTE[3]));
        }
        for (ends, c) in refs {
            chart
                .draw_series(DashedLineSeries::new(ends, 6, 4, c.stroke_width(1)))
                .map_err(e)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_integrates_to_one() {
        // Every eigenvalue lands in a bin, so Σ density·width = 1 up to
        // round-off (1e-12: a few hundred additions).
        let ev: Vec<f64> = (1..=300).map(|k| (k as f64).powf(-1.3)).collect();
        let p = EsdPlot::new("m", &ev);
        let h = p.histogram();
        let n = ev.len() as f64;
        // Recover the counts: density·n·width; widths from the centres'
        // constant log step.
        let step = (h[1].0 / h[0].0).ln();
        let first = h[0].0;
        let total: f64 = h
            .iter()
            .map(|&(c, d)| {
                let i = ((c / first).ln() / step).round();
                let a = (first.ln() + (i - 0.5) * step).exp();
                let b = (first.ln() + (i + 0.5) * step).exp();
                d * n * (b - a)
            })
            .sum();
        assert!((total - n).abs() < 1e-9 * n, "{total}");
    }

    #[test]
    fn b_line_recovers_an_exact_power_law() {
        // μ_k = 5·k^(−1.7) exactly: the least-squares amplitude is 5 to
        // round-off (1e-12 relative).
        let ev: Vec<f64> = (1..=200).map(|k| 5.0 * (k as f64).powf(-1.7)).collect();
        let p = RankPlot::new(
            "m",
            &ev,
            RankOverlay {
                b: Some(1.7),
                b_window: Some((3.0, 150.0)),
                ..Default::default()
            },
        );
        let l = p.b_line();
        assert_eq!(l[0].0, 3.0);
        assert!((l[0].1 - 5.0 * 3f64.powf(-1.7)).abs() < 1e-12 * l[0].1);
        assert!((l[1].1 - 5.0 * 150f64.powf(-1.7)).abs() < 1e-12 * l[1].1);
    }

    #[test]
    fn rank_points_are_thinned_but_keep_the_ends() {
        let ev: Vec<f64> = (1..=5000).map(|k| 1.0 / k as f64).collect();
        let p = RankPlot::new("m", &ev, RankOverlay::default()).points();
        // 400 log-spaced positions; the low ranks repeat and are merged.
        assert!(p.len() <= MAX_RANK_POINTS && p.len() > 200, "{}", p.len());
        assert!(p.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(p[0], (1.0, 1.0));
        assert_eq!(p.last().unwrap().0, 5000.0);
    }

    #[test]
    fn overlay_from_row_by_the_fitters_names() {
        let row = serde_json::json!({
            "N": 400, "M": 100, "k_star": 12, "noise_sigma": 0.5, "k_noise": 9,
            "b": 1.2, "b_kmin": 2, "b_kmax": 40
        });
        let o = RankOverlay::from_row(&row);
        assert_eq!(o.k_star, Some(12.0));
        assert_eq!(o.b, Some(1.2));
        assert_eq!(o.b_window, Some((2.0, 40.0)));
        assert_eq!(o.k_noise, Some(9.0));
        // By hand: σ² = 0.25, √N+√M = 30, (1/√N+1/√M)^(1/3) = 0.15^(1/3):
        // 0.25·900 + 0.9793·0.25·30·0.15^(1/3) (round-off only: 1e-12).
        let edge = 225.0 + 0.9793 * 7.5 * 0.15f64.cbrt();
        assert!((o.noise_floor.unwrap() - edge).abs() < 1e-12 * edge);
        assert_eq!(
            RankOverlay::from_row(&serde_json::json!({"alpha": 2})),
            RankOverlay::default()
        );
        // Nulls (a failed fit) draw nothing; σ without the sides neither.
        let o = RankOverlay::from_row(&serde_json::json!({
            "k_star": null, "b": null, "b_kmin": null, "b_kmax": null, "noise_sigma": 0.1
        }));
        assert_eq!(o, RankOverlay::default());
    }
}
