//! Per-matrix compression figures, drawn from the theory's predicted
//! curves (`theory::curves`): the pruning curve over kept rank r and the
//! quantization curve over B = 2…8, each with the weight errors
//! `predict --verify` measured when it ran. Both show two predictions on
//! one fraction axis: the weight error ‖W − W'‖²/‖W‖² (exact for
//! truncation, N·M·σ_q²/Σμ for quantization) and the framework's loss
//! increase ΔL/ΔL(0) when the matrix has a loss model (reading B).
//! Built on [`pruning_curve`] and [`quantization_curve`].

use super::{Figure, Series, XyPlot, pruning_curve, quantization_curve};
use crate::fit::estimate::Unavailable;
use crate::fit::spectral_fit;
use crate::report::doc::{row_dims, row_sigma_init};
use crate::theory::CurvePoint;
use crate::theory::curves::{self, PruningCurve};
use crate::theory::quant::{QuantSpec, RangeStats};
use serde_json::Value;

/// The y axis of both figures.
const Y_LABEL: &str = "predicted increase (fraction)";
/// The legend entry of a missing ΔL curve (`theory_reason` in the report
/// says why).
const NO_MODEL: &str = "ΔL/ΔL(0): no loss model (see theory_reason)";

/// The legend entry of a missing ΔL curve whose reason is known: short
/// enough for a legend, the full reason is the report's `theory_reason`.
fn no_model(why: &Unavailable) -> String {
    match why {
        Unavailable::OutOfDomain { a } => {
            format!("ΔL/ΔL(0): no loss model (a = {a:.3} ≤ 1, out of domain)")
        }
        Unavailable::Unresolved { a, err } => {
            format!("ΔL/ΔL(0): no loss model (a = {a:.3} ± {err:.3}, unresolved)")
        }
        _ => "ΔL/ΔL(0): no loss model (a unavailable)".into(),
    }
}

/// The quantizer without its bit width (`sym per channel`), for a curve
/// over every B.
pub fn quantizer_label(q: &QuantSpec) -> String {
    let d = q.describe();
    d.split_once(' ')
        .map_or(d.clone(), |(_, rest)| rest.to_string())
}

/// The pruning figure: the exact weight error Σ_{k>r} μ_k/Σμ and, with a
/// loss model, ΔL(r)/ΔL(0) against kept rank r; k_* as a vertical line;
/// `measured` (r, weight error) points from `predict --verify`. Zeros (the
/// plateau r ≥ k_*, a full-rank truncation) cannot sit on the log axis and
/// are left out of the lines; the k_* line marks where the plateau starts.
pub fn pruning_figure(name: &str, c: &PruningCurve, measured: Option<&[(f64, f64)]>) -> XyPlot {
    let energy: Vec<(f64, f64)> = c
        .points
        .iter()
        .map(|p| (p.r as f64, p.energy))
        .filter(|p| p.1 > 0.0)
        .collect();
    let mut f = pruning_curve(name, &energy, measured, c.k_star.map(|k| k as f64));
    f.y_label = Y_LABEL.into();
    f.lines[0].label = "weight error Σ_{k>r} μ_k / Σ μ_k (exact)".into();
    if let Some(m) = f.points.first_mut() {
        m.label = "measured weight error (--verify)".into();
    }
    f.lines.push(match &c.model {
        Ok(m) => Series::new(
            format!("ΔL/ΔL(0), loss model a = {:.3}", m.a),
            c.points
                .iter()
                .filter_map(|p| Some((p.r as f64, p.dl_frac?)))
                .filter(|p| p.1 > 0.0),
        ),
        Err(e) => Series::new(no_model(e), []),
    });
    if energy.is_empty() {
        f.note = Some("nothing to cut: every mode beyond rank 1 is zero".into());
    }
    f
}

/// The quantization figure: the predicted weight error N·M·σ_q²/Σμ and,
/// with a loss model, ΔL/ΔL(0) against bits B, for the quantizer described
/// by `label`; `measured` (B, weight error) points from `predict --verify`.
pub fn quantization_figure(
    name: &str,
    label: &str,
    curve: &[CurvePoint],
    measured: Option<&[(u32, f64)]>,
) -> XyPlot {
    let err: Vec<(u32, f64)> = curve.iter().map(|p| (p.bits, p.err_rel)).collect();
    let mut f = quantization_curve(&format!("{name} ({label})"), &err, measured);
    f.y_label = Y_LABEL.into();
    f.lines[0].label = "weight error N·M·σ_q² / Σ μ_k".into();
    if let Some(m) = f.points.first_mut() {
        m.label = "measured weight error (--verify)".into();
    }
    let dl: Vec<(f64, f64)> = curve
        .iter()
        .filter_map(|p| Some((p.bits as f64, p.dl_frac?)))
        .filter(|p| p.1 > 0.0)
        .collect();
    let has_model = curve.iter().any(|p| p.dl_frac.is_some());
    f.lines.push(if has_model {
        Series::new("ΔL/ΔL(0) (loss model)", dl)
    } else {
        Series::new(NO_MODEL, [])
    });
    f
}

/// A quantization figure that says why it has no curve.
pub fn quantization_unavailable(name: &str, why: &str) -> XyPlot {
    let mut f = quantization_curve(name, &[], None);
    f.lines.clear();
    f.note = Some(why.to_string());
    f
}

/// What a report's quantization figure says when the weights were not read.
pub const NO_RANGES: &str =
    "needs the weights' ranges: give the checkpoint (a JSON report holds no weights)";

/// The compression figures of one report row from its eigenvalues: the
/// pruning figure and the quantization figure for `analyze`'s quantizer
/// (symmetric, per output channel, as its k_q4/k_q8 columns), from the
/// weights' `ranges` (scaled like the eigenvalues; `None`: a message
/// instead). The fit is redone from the eigenvalues exactly as `analyze`
/// did it (the init snapshot's σ when the row used one).
pub fn compression_figures(
    name: &str,
    row: &Value,
    evals: &[f64],
    ranges: Option<&RangeStats>,
) -> [Figure<'static>; 2] {
    let q = crate::theory::analyze_quantizer(4);
    let qname = format!("{name} ({})", quantizer_label(&q));
    let full = row
        .get("spectrum")
        .and_then(Value::as_str)
        .is_none_or(|s| s == "full");
    let Some(d) = row_dims(row).filter(|_| full) else {
        let why = if full {
            "the report row has no N and M"
        } else {
            "the theory's curves need the full spectrum"
        };
        let mut p = pruning_curve(name, &[], None, None);
        p.note = Some(why.into());
        return [
            Figure::Xy(p),
            Figure::Xy(quantization_unavailable(&qname, why)),
        ];
    };
    let mut mu: Vec<f64> = evals.to_vec();
    mu.sort_by(|a, b| b.total_cmp(a));
    let fit = spectral_fit(&mu, d, row_sigma_init(row), None);
    let pruning = pruning_figure(name, &curves::pruning_curve(&mu, d, &fit), None);
    let quant = match ranges {
        Some(st) => quantization_figure(
            name,
            &quantizer_label(&q),
            &curves::quantization_curve(&mu, d, &fit, &q, st, None),
            None,
        ),
        None => quantization_unavailable(&qname, NO_RANGES),
    };
    [Figure::Xy(pruning), Figure::Xy(quant)]
}
