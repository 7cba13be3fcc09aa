//! The figures of a snapshot series (`compare --plots`, the HTML report's
//! "Snapshots over time"): D(t), k_*(t) and α(t) of every matrix (and D of
//! the model), each matrix's ρ fit, and with `--overlap K` the heat maps
//! of the top-K singular subspace overlap.

use super::{Figure, OVERLAP_MAPS, Series, XyPlot, overlap_map};
use crate::report::series::{CompareReport, SeriesRow};

/// The snapshot figures of a comparison, each with its file stem: D(t),
/// k_*(t) and α(t) of every matrix (and D of the model), and each matrix's
/// ρ fit (k_* against t with the fitted slope φ); when the report has
/// overlap rows, the heat maps of [`OVERLAP_MAPS`] that have data
/// (`overlap-previous-left`, …, `overlap-init-right`).
pub fn snapshot_figures(r: &CompareReport) -> Vec<(String, Figure<'static>)> {
    let time = format!("t ({})", r.time);
    let names: Vec<&str> = r
        .dynamics
        .iter()
        .filter(|d| d.m.is_some())
        .map(|d| d.name.as_str())
        .collect();
    let per_matrix = |f: fn(&SeriesRow) -> Option<f64>| -> Vec<Series> {
        names
            .iter()
            .map(|n| {
                Series::new(
                    *n,
                    r.series
                        .iter()
                        .filter(|s| s.name == *n)
                        .filter_map(|s| f(s).map(|v| (s.t, v))),
                )
            })
            .collect()
    };
    // k_* and D = k_*/M come from each matrix's one series source, which
    // can differ from the fitter's per-snapshot k_* (`k_star_fitter`, and
    // the report's own table): the legend names the source.
    let sourced = |mut v: Vec<Series>| -> Vec<Series> {
        for s in &mut v {
            if let Some(d) = r.dynamics.iter().find(|d| d.name == s.label) {
                s.label = format!("{} (k* source: {})", s.label, d.frontier_source);
            }
        }
        v
    };
    let mut density = sourced(per_matrix(|s| s.density));
    density.push(Series::new(
        "model",
        r.model_series
            .iter()
            .filter_map(|m| m.density.map(|d| (m.t, d))),
    ));
    let mut figs = vec![
        (
            "density",
            super::snapshot_series(
                "density D = k*/M (series source)",
                &time,
                density,
                true,
                true,
            ),
        ),
        (
            "k_star",
            super::snapshot_series(
                "k* (series source)",
                &time,
                sourced(per_matrix(|s| s.k_star)),
                true,
                true,
            ),
        ),
        (
            "alpha",
            super::snapshot_series("alpha", &time, per_matrix(|s| s.alpha), true, false),
        ),
    ];
    let stems = crate::report::file_stems(names.iter().enumerate().map(|(i, n)| (*n, i)));
    let mut rho = Vec::new();
    for (d, stem) in r.dynamics.iter().filter(|d| d.m.is_some()).zip(&stems) {
        let (Some(phi), Some(b)) = (d.phi, d.b.or(d.b_spectra)) else {
            continue;
        };
        let pts: Vec<(f64, f64)> = r
            .series
            .iter()
            .filter(|s| s.name == d.name)
            .filter_map(|s| s.k_star.map(|k| (s.t, k)))
            .collect();
        let (t, k): (Vec<f64>, Vec<f64>) = pts.into_iter().unzip();
        // Intercept of the fit through the window points (the slope is φ).
        let m = d.m.unwrap_or(0) as f64;
        let win: Vec<(f64, f64)> = t
            .iter()
            .zip(&k)
            .filter(|(t, k)| {
                **t > 0.0
                    && **k > crate::fit::series::FRONTIER_K_MIN
                    && **k < m * crate::fit::series::FRONTIER_MAX_FRACTION
            })
            .map(|(t, k)| (t.ln(), k.ln()))
            .collect();
        let c = win.iter().map(|(x, y)| y - phi * x).sum::<f64>() / win.len().max(1) as f64;
        let mut p = super::rho_fit(&time, &t, &k, phi, c, b);
        p.title = format!("{}: {}", d.name, p.title);
        rho.push((format!("rho-fit.{stem}"), p));
    }
    let heat = OVERLAP_MAPS.iter().filter_map(|(stem, against, side)| {
        overlap_map(r, against, *side).map(|m| (stem.to_string(), Figure::Heat(m)))
    });
    figs.drain(..)
        .map(|(n, p)| (n.to_string(), p))
        .chain(rho)
        .map(|(n, p): (String, XyPlot)| (n, Figure::Xy(p)))
        .chain(heat)
        .collect()
}
