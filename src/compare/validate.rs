//! `validate`: a simulated run's truth beside what `compare` estimates
//! from its snapshots, and the theory's compression predictions beside the
//! losses the simulator measured by really pruning and quantizing.
//!
//! The estimates are made on the model's **effective linear map** (W,
//! W₂W₁, or ½·W₂W₁ for the MLP; docs/simulate.md), written once per
//! snapshot as an F64 safetensors file: the simulator's laws (ρ, the
//! frontier, the spectral slopes) are stated for that map, not for each
//! layer. Predictions (docs/compare-and-validate.md):
//! - the loss constant C(t) from tail dominance, L(t) = C·Σ_{k_*<k≤M} k^(−a),
//!   with the snapshot's own test loss, estimated k_* and the run's a;
//! - pruning to rank r: C·Σ_{r<k≤k_*} k^(−a) (`theory::prune`);
//! - quantization: C·`theory::quant::loss` with the BBP survivors of the
//!   effective map under the effective noise, first order in the layers'
//!   noise: σ² of W itself, or σ₁²‖W₂‖²_F/K + σ₂²‖W₁‖²_F/D for W₂W₁ (the
//!   entry variance of W₂E₁ + E₂W₁), a quarter of that for ½·W₂W₁.
//!
//! Owns the comparison and the target verdicts; reads the run through
//! `simulate::Run`, never trains.

use super::{Analysed, CompareError};
use crate::fit::noise::Dims;
use crate::load::{DType, TensorOut, write_safetensors};
use crate::report::series::{
    CompareReport, CompressionCheckRow, DynamicsRow, EstimateRow, TargetRow, ValidateReport,
};
use crate::report::{SCHEMA_VERSION, Tool};
use crate::simulate::{Analytic, CompressionRow, ModelKind, Net, Run, SnapshotInfo, Truth};
use crate::theory::prune::LossModel;
use crate::theory::quant::{self, Granularity, QuantSpec, Scheme, range_stats};
use faer::Mat;
use std::path::Path;

/// The name of the one matrix in an effective snapshot.
pub const EFFECTIVE: &str = "effective";

/// Compression targets look at snapshots whose true frontier holds at
/// least this many modes: below it k_* is a handful of modes and the
/// simulator's own notes show ΔL dominated by first-order noise.
pub const TARGET_MIN_K_STAR: usize = 5;

fn row_major(m: &Mat<f64>) -> Vec<f64> {
    let (r, c) = m.shape();
    (0..r * c).map(|i| m[(i / c, i % c)]).collect()
}

fn write_one(run: &Run, s: &SnapshotInfo, path: &Path) -> Result<(), CompareError> {
    let eff = run.weights(s)?.effective();
    let (k, d) = eff.shape();
    let meta = [
        ("format", "specscope-validate/1".to_string()),
        ("model", run.truth.model.as_str().to_string()),
        ("step", s.step.to_string()),
        ("tokens", s.tokens.to_string()),
        ("lr_sum", format!("{}", s.lr_sum)),
    ];
    write_safetensors(
        path,
        &[
            TensorOut::from_f64(EFFECTIVE, DType::F64, &[k, d], &row_major(&eff)).map_err(|e| {
                CompareError::Format {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                }
            })?,
        ],
        &meta,
    )
    .map_err(|e| CompareError::Format {
        path: path.to_path_buf(),
        reason: format!("cannot write: {e}"),
    })
}

/// Writes the effective map of the init (`dir/init.safetensors`) and of
/// every snapshot (`dir/snapshots/step-N.safetensors`, with the run's time
/// metadata).
pub fn write_effective(run: &Run, dir: &Path) -> Result<(), CompareError> {
    let sdir = dir.join("snapshots");
    std::fs::create_dir_all(&sdir).map_err(|e| CompareError::io(&sdir, e))?;
    write_one(run, &run.init, &dir.join("init.safetensors"))?;
    for s in &run.snapshots {
        write_one(
            run,
            s,
            &sdir.join(format!("step-{:08}.safetensors", s.step)),
        )?;
    }
    Ok(())
}

fn frob2(m: &Mat<f64>) -> f64 {
    m.col_iter()
        .map(|c| c.iter().map(|x| x * x).sum::<f64>())
        .sum()
}

/// First-order quantization noise variance per entry of the effective
/// map when every layer is quantized symmetrically to `bits` with one
/// step per tensor or per output row.
pub fn effective_noise(net: &Net, bits: u32, granularity: Granularity) -> f64 {
    let spec = QuantSpec {
        bits,
        scheme: Scheme::Sym,
        granularity,
        group: quant::DEFAULT_GROUP,
    };
    let var = |m: &Mat<f64>| {
        range_stats(&row_major(m), m.ncols(), Scheme::Sym, granularity, 1).noise_variance(&spec)
    };
    match net.kind {
        ModelKind::Linear => var(&net.layers[0]),
        ModelKind::DeepLinear | ModelKind::Mlp => {
            let (w1, w2) = (&net.layers[0], &net.layers[1]);
            let (k, d) = (w2.nrows() as f64, w1.ncols() as f64);
            let s2 = var(w1) * frob2(w2) / k + var(w2) * frob2(w1) / d;
            if net.kind == ModelKind::Mlp {
                0.25 * s2
            } else {
                s2
            }
        }
    }
}

fn est(
    quantity: &str,
    truth: Option<f64>,
    truth_source: &str,
    analytic: Option<f64>,
    estimate: Option<f64>,
    estimate_err: Option<f64>,
    method: &str,
) -> EstimateRow {
    let diff = match (estimate, truth) {
        (Some(e), Some(t)) => Some(e - t),
        _ => None,
    };
    EstimateRow {
        quantity: quantity.into(),
        truth,
        truth_source: truth_source.into(),
        analytic,
        estimate,
        estimate_err,
        method: method.into(),
        diff,
        rel_diff: match (diff, truth) {
            (Some(d), Some(t)) if t != 0.0 => Some(d / t),
            _ => None,
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn target(
    name: &str,
    stated_for: &str,
    tolerance: &str,
    value: Option<f64>,
    count: usize,
    pass: impl Fn(f64) -> bool,
    applies: bool,
    detail: String,
) -> TargetRow {
    TargetRow {
        target: name.into(),
        stated_for: stated_for.into(),
        tolerance: tolerance.into(),
        value,
        count,
        met: if applies { value.map(pass) } else { None },
        detail,
    }
}

/// Worst factor max(p/m, m/p) over pairs with both positive; pairs with a
/// missing or non-positive prediction count as a miss (infinite factor).
fn worst_factor<'a>(rows: impl Iterator<Item = &'a CompressionCheckRow>) -> (Option<f64>, usize) {
    let mut worst: Option<f64> = None;
    let mut n = 0;
    for r in rows {
        n += 1;
        let f = match r.predicted {
            Some(p) if p > 0.0 => (p / r.measured).max(r.measured / p),
            _ => f64::INFINITY,
        };
        worst = Some(worst.map_or(f, |w: f64| w.max(f)));
    }
    (worst, n)
}

/// The truths and the effective map's estimates that the phases of
/// `validate` compare.
struct Facts<'a> {
    truth: &'a Truth,
    a_true: f64,
    b_true: f64,
    an: Option<&'a Analytic>,
    /// The effective map's dynamics row.
    d: DynamicsRow,
    rho_true: Option<f64>,
    rho_an: Option<f64>,
    phi_true: Option<f64>,
    alpha_true: Option<f64>,
    alpha_true_src: &'static str,
    /// ρ by frontier motion and by half-learning times with b = β (p = 1).
    rho_sp_f: Option<f64>,
    rho_sp_m: Option<f64>,
}

impl<'a> Facts<'a> {
    /// Reads the truth of `run` and the effective map's row of `cmp`.
    fn new(run: &'a Run, cmp: &CompareReport) -> Result<Self, CompareError> {
        let truth = &run.truth;
        let d: DynamicsRow = cmp
            .dynamics
            .iter()
            .find(|d| d.name == EFFECTIVE)
            .cloned()
            .ok_or_else(|| CompareError::Input("the comparison has no effective map".into()))?;
        let an = truth.analytic.as_ref();
        let meas = &truth.measured;
        let alpha_true = meas
            .loss_time_exponent
            .as_ref()
            .map(|s| s.value)
            .or(cmp.loss_fit.alpha_t);
        let alpha_true_src = if meas.loss_time_exponent.is_some() {
            "measured on the test loss, true window"
        } else {
            "compare's fit of the test loss (no true window)"
        };
        Ok(Facts {
            truth,
            a_true: truth.a,
            b_true: truth.b,
            an,
            rho_true: meas.rho_half_learning.as_ref().map(|s| s.value),
            rho_an: an.map(|a| a.rho),
            phi_true: meas.frontier_exponent.as_ref().map(|s| s.value),
            alpha_true,
            alpha_true_src,
            rho_sp_f: d.phi.zip(d.b_spectra).map(|(p, b)| p * b),
            rho_sp_m: d.psi.zip(d.b_spectra).map(|(p, b)| b / p),
            d,
        })
    }
}

/// The truth source of the rates measured in the simulator.
const ON_MODES: &str = "measured on the true modes";

/// The exponents a, b and s₁ by the spectra and by the losses.
fn slope_estimates(f: &Facts) -> Vec<EstimateRow> {
    let (d, a_true, b_true) = (&f.d, f.a_true, f.b_true);
    vec![
        est(
            "a (spectra, p = 1: s₁ + β)",
            Some(a_true),
            "config",
            None,
            d.a_spectra,
            None,
            "saturation fit, median over the frontier window",
        ),
        est(
            "a (losses)",
            Some(a_true),
            "config",
            None,
            d.a_losses,
            None,
            if d.a_losses_from == "tail fit" {
                "tail fit: L(t) = C·Σ_{k>k_*(t)} k^(−a)"
            } else {
                "1 + α_t/φ"
            },
        ),
        est(
            "b (spectra, p = 1: β)",
            Some(b_true),
            "config",
            None,
            d.b_spectra,
            None,
            "saturation fit, median over the frontier window",
        ),
        est(
            "b (losses: a − s₁)",
            Some(b_true),
            "config",
            None,
            d.b_losses,
            None,
            "losses route",
        ),
        est(
            "learned slope s₁ = a − b",
            Some(a_true - b_true),
            "config",
            None,
            d.s1,
            d.s1_err,
            "saturation fit",
        ),
    ]
}

/// φ, ψ and ρ both ways: by the headline route's b, by β, and by the
/// true b.
fn rate_estimates(f: &Facts) -> Vec<EstimateRow> {
    let (d, b_true, rho_true, rho_an) = (&f.d, f.b_true, f.rho_true, f.rho_an);
    let route = &d.route;
    vec![
        est(
            "frontier exponent φ = ρ/b",
            f.phi_true,
            ON_MODES,
            f.an.map(|a| a.k_star_exponent),
            d.phi,
            d.phi_err,
            &format!("slope of ln k_* on ln t ({})", d.frontier_source),
        ),
        est(
            "mode exponent ψ = b/ρ",
            rho_true.map(|r| b_true / r),
            ON_MODES,
            rho_an.map(|r| b_true / r),
            d.psi,
            d.psi_err,
            "slope of ln t_½ on ln k, matched modes",
        ),
        est(
            &format!("ρ by frontier motion, φ·b ({route} b)"),
            rho_true,
            ON_MODES,
            rho_an,
            d.rho_frontier,
            d.rho_frontier_err,
            route,
        ),
        est(
            &format!("ρ by half-learning times, b/ψ ({route} b)"),
            rho_true,
            ON_MODES,
            rho_an,
            d.rho_modes,
            d.rho_modes_err,
            route,
        ),
        est(
            "ρ by frontier motion, φ·β (spectra only)",
            rho_true,
            ON_MODES,
            rho_an,
            f.rho_sp_f,
            None,
            "p = 1",
        ),
        est(
            "ρ by half-learning times, β/ψ (spectra only)",
            rho_true,
            ON_MODES,
            rho_an,
            f.rho_sp_m,
            None,
            "p = 1",
        ),
        est(
            "ρ by frontier motion, φ·b with the true b",
            rho_true,
            ON_MODES,
            rho_an,
            d.phi.map(|p| p * b_true),
            d.phi_err.map(|e| e * b_true),
            "b known (diagnostic: φ alone)",
        ),
        est(
            "ρ by half-learning times, b/ψ with the true b",
            rho_true,
            ON_MODES,
            rho_an,
            d.psi.map(|p| b_true / p),
            d.psi.zip(d.psi_err).map(|(p, e)| b_true * e / (p * p)),
            "b known (diagnostic: ψ alone)",
        ),
    ]
}

/// The last k_*, the loss exponent (fitted and predicted) and the Densing
/// slope.
fn frontier_and_loss_estimates(f: &Facts, cmp: &CompareReport) -> Vec<EstimateRow> {
    let (d, an) = (&f.d, f.an);
    let last_true = f.truth.snapshots.last().map(|s| s.k_star);
    let last_est = cmp
        .series
        .iter()
        .rev()
        .find(|r| r.name == EFFECTIVE)
        .and_then(|r| r.k_star);
    vec![
        est(
            "k_* at the last snapshot",
            last_true.map(|k| k as f64),
            ON_MODES,
            None,
            last_est,
            None,
            &d.frontier_source,
        ),
        est(
            "loss exponent α_t (fit of the test loss)",
            f.truth
                .measured
                .loss_time_exponent
                .as_ref()
                .map(|s| s.value),
            "measured on the test loss, true window",
            an.map(|a| a.loss_time_exponent),
            cmp.loss_fit.alpha_t,
            cmp.loss_fit.alpha_t_err,
            "estimated window 5 < k_* < M/20",
        ),
        est(
            "loss exponent predicted by the spectra, ρ(a−1)/b",
            f.alpha_true,
            f.alpha_true_src,
            an.map(|a| a.loss_time_exponent),
            d.alpha_t_predicted,
            d.alpha_t_predicted_err,
            "spectra only (p = 1)",
        ),
        est(
            "Densing slope d ln D/d ln C",
            f.phi_true,
            ON_MODES,
            an.map(|a| a.k_star_exponent),
            cmp.densing.slope,
            cmp.densing.slope_err,
            "fixed size: ρ/b",
        ),
    ]
}

/// The loss model of one snapshot: the run's a with the estimated k_*,
/// and C(t) from tail dominance with the snapshot's test loss.
fn loss_model(
    a: Option<f64>,
    k_est: Option<f64>,
    m: usize,
    loss: f64,
) -> (Option<LossModel>, Option<f64>) {
    let lm = match (a, k_est) {
        (Some(a), Some(k)) => Some(LossModel {
            a,
            k_star: (k.round() as usize).min(m),
        }),
        _ => None,
    };
    let c = lm.and_then(|lm| {
        let tail = lm.lost(lm.k_star, m);
        (tail > 0.0).then(|| loss / tail)
    });
    (lm, c)
}

/// The predicted ΔL of one measured compression (rank or quantization)
/// and the modes it keeps; `None` without a loss model or spectrum.
fn predict(
    r: &CompressionRow,
    lm: Option<LossModel>,
    c: Option<f64>,
    mu: Option<&[f64]>,
    net: &Net,
) -> (Option<f64>, Option<usize>) {
    match (lm, c, r.kind.as_str()) {
        (Some(lm), Some(c), "rank") => {
            (Some(c * lm.prune(r.param as usize)), Some(r.param as usize))
        }
        (Some(lm), Some(c), kind @ ("quant_tensor" | "quant_channel")) => match mu {
            Some(mu) => {
                let dims = Dims::of(net.layers.last().unwrap().nrows(), net.layers[0].ncols());
                let g = if kind == "quant_tensor" {
                    Granularity::Tensor
                } else {
                    Granularity::Channel
                };
                let s2 = effective_noise(net, r.param as u32, g);
                let kept = quant::k_bbp(mu, s2, dims);
                (Some(c * quant::loss(&lm, mu, kept, s2, dims)), Some(kept))
            }
            None => (None, None),
        },
        _ => (None, None),
    }
}

/// Predicted beside measured ΔL for every compression the simulator
/// measured at run snapshot `i` (position `j` in the comparison).
fn snapshot_compression(
    run: &Run,
    i: usize,
    j: usize,
    a: Option<f64>,
    cmp: &CompareReport,
    analysed: &[Analysed],
) -> Result<Vec<CompressionCheckRow>, CompareError> {
    let (s, st) = (&run.snapshots[i], &run.truth.snapshots[i]);
    let row = cmp
        .series
        .iter()
        .find(|r| r.snapshot == j && r.name == EFFECTIVE);
    let k_est = row.and_then(|r| r.k_star);
    let m = row.map_or(0, |r| r.m);
    let mu = analysed[j]
        .analysis
        .matrices
        .first()
        .and_then(|m| m.evals().map(<[f64]>::to_vec));
    let net = run.weights(s)?;
    let (lm, c) = loss_model(a, k_est, m, st.test_loss);
    Ok(run
        .compression_of(i)
        .map(|r| {
            let (predicted, kept) = predict(r, lm, c, mu.as_deref(), &net);
            CompressionCheckRow {
                snapshot: j,
                step: s.step,
                k_star_true: st.k_star,
                k_star_est: k_est,
                loss: st.test_loss,
                c,
                kind: r.kind.clone(),
                param: r.param,
                predicted,
                measured: r.delta_loss,
                ratio: predicted
                    .filter(|p| *p > 0.0 && r.delta_loss > 0.0)
                    .map(|p| p / r.delta_loss),
                kept,
            }
        })
        .collect())
}

/// Predicted beside measured compression for every snapshot the
/// comparison holds (none without an a; a note says so).
fn compression(
    run: &Run,
    d: &DynamicsRow,
    cmp: &CompareReport,
    analysed: &[Analysed],
    notes: &mut Vec<String>,
) -> Result<Vec<CompressionCheckRow>, CompareError> {
    if d.a.is_none() {
        notes.push(format!(
            "no a from the {} route: compression is not predicted",
            d.route
        ));
    }
    let mut rows = Vec::new();
    for (i, (s, _)) in run.snapshots.iter().zip(&run.truth.snapshots).enumerate() {
        let Some(j) = cmp.snapshots.iter().position(|c| c.step == Some(s.step)) else {
            continue;
        };
        rows.extend(snapshot_compression(run, i, j, d.a, cmp, analysed)?);
    }
    Ok(rows)
}

/// The largest of the values, if any.
fn max_of(values: impl Iterator<Item = f64>) -> Option<f64> {
    values.fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
}

/// The linear model's targets on b, a, ρ and α_t by the spectra.
fn linear_targets(f: &Facts, linear: bool) -> Vec<TargetRow> {
    let (d, a_true, b_true) = (&f.d, f.a_true, f.b_true);
    let (rho_sp_f, rho_sp_m, alpha_true) = (f.rho_sp_f, f.rho_sp_m, f.alpha_true);
    let rho_dev = max_of(
        [rho_sp_f, rho_sp_m]
            .into_iter()
            .flatten()
            .map(|r| (r - 1.0).abs()),
    );
    vec![
        target(
            "b (spectra, p = 1) within ±0.1",
            "linear",
            "abs(b̂ − b) ≤ 0.1",
            d.b_spectra.map(|v| (v - b_true).abs()),
            1,
            |v| v <= 0.1,
            linear,
            format!("b̂ = {:?}", d.b_spectra),
        ),
        target(
            "a (spectra, p = 1) within ±0.15",
            "linear",
            "abs(â − a) ≤ 0.15",
            d.a_spectra.map(|v| (v - a_true).abs()),
            1,
            |v| v <= 0.15,
            linear,
            format!("â = {:?}", d.a_spectra),
        ),
        target(
            "ρ (spectra, frontier and modes) within ±0.1 of 1",
            "linear",
            "max abs(ρ̂ − 1) ≤ 0.1",
            rho_dev,
            [rho_sp_f, rho_sp_m].iter().flatten().count(),
            |v| v <= 0.1,
            linear,
            format!("frontier {rho_sp_f:?}, modes {rho_sp_m:?}"),
        ),
        target(
            "predicted loss exponent within 15% of the measured",
            "linear",
            "abs(α̂_t/α_t − 1) ≤ 0.15",
            d.alpha_t_predicted
                .zip(alpha_true)
                .map(|(p, m)| (p / m - 1.0).abs()),
            1,
            |v| v <= 0.15,
            linear,
            format!(
                "predicted {:?}, measured {alpha_true:?} ({})",
                d.alpha_t_predicted, f.alpha_true_src
            ),
        ),
    ]
}

/// The deep-linear model's target on ρ by the headline route.
fn deep_target(f: &Facts, deep: bool) -> TargetRow {
    let (d, rho_true) = (&f.d, f.rho_true);
    let rho_dev_deep = max_of(
        [d.rho_frontier, d.rho_modes]
            .into_iter()
            .flatten()
            .zip(std::iter::repeat(rho_true))
            .filter_map(|(r, t)| t.map(|t| (r / t - 1.0).abs())),
    );
    target(
        &format!(
            "ρ ({} b, frontier and modes) within 20% of ρ on the true modes",
            d.route
        ),
        "deep-linear",
        "max abs(ρ̂/ρ − 1) ≤ 0.2",
        rho_dev_deep,
        [d.rho_frontier, d.rho_modes].iter().flatten().count(),
        |v| v <= 0.2,
        deep,
        format!(
            "frontier {:?}, modes {:?}, true {rho_true:?}, analytic {:?}",
            d.rho_frontier, d.rho_modes, f.rho_an
        ),
    )
}

/// The pruning, plateau and quantization targets over the snapshots with
/// a true frontier of at least `TARGET_MIN_K_STAR` modes.
fn compression_targets(compression: &[CompressionCheckRow]) -> Vec<TargetRow> {
    let big = |r: &&CompressionCheckRow| r.k_star_true >= TARGET_MIN_K_STAR;
    let (prune_worst, prune_n) = worst_factor(compression.iter().filter(big).filter(|r| {
        let k = r.k_star_true as f64;
        r.kind == "rank" && r.param as f64 >= k / 30.0 && r.param as f64 <= k / 2.0 && r.param >= 1
    }));
    let plateau: Vec<&CompressionCheckRow> = compression
        .iter()
        .filter(big)
        .filter(|r| r.kind == "rank" && r.param as f64 >= 1.5 * r.k_star_true as f64)
        .collect();
    let plateau_max = max_of(plateau.iter().map(|r| r.measured / r.loss));
    let plateau_pred = plateau
        .iter()
        .filter_map(|r| r.predicted.map(|p| p / r.loss))
        .fold(0.0f64, f64::max);
    let (q_worst, q_n) =
        worst_factor(compression.iter().filter(big).filter(|r| {
            r.kind.starts_with("quant") && (3..=6).contains(&r.param) && r.measured > 0.0
        }));
    vec![
        target(
            "pruning: predicted ΔL within ×1.5 of measured, r ∈ [k_*/30, k_*/2]",
            "all",
            "worst factor ≤ 1.5",
            prune_worst,
            prune_n,
            |v| v <= 1.5,
            true,
            format!("snapshots with true k_* ≥ {TARGET_MIN_K_STAR}"),
        ),
        target(
            "plateau: measured ΔL < 5% of L for r ≥ 1.5·k_*",
            "all",
            "max ΔL/L < 0.05",
            plateau_max,
            plateau.len(),
            |v| v < 0.05,
            true,
            format!("predicted max ΔL/L there: {plateau_pred:.3e}"),
        ),
        target(
            "quantization: predicted ΔL within ×2 of measured, B = 3…6",
            "all",
            "worst factor ≤ 2",
            q_worst,
            q_n,
            |v| v <= 2.0,
            true,
            "tensor and channel steps; rows with measured ΔL > 0".into(),
        ),
    ]
}

/// The complementarity targets (measured and predicted) of the effective
/// map at each k_c the comparison checked.
fn complementarity_targets(cmp: &CompareReport) -> Vec<TargetRow> {
    let mut targets = Vec::new();
    for c in cmp
        .complementarity_summary
        .iter()
        .filter(|c| c.name == EFFECTIVE)
    {
        targets.push(target(
            &format!(
                "complementarity (measured): L + ΔL_c constant, k_c = {}",
                c.k_c
            ),
            "all",
            "max/min − 1 ≤ 0.2",
            c.spread_measured,
            c.snapshots,
            |v| v <= 0.2,
            true,
            "snapshots with k_* > k_c (estimated k_*)".into(),
        ));
        targets.push(target(
            &format!(
                "complementarity (predicted): L + ΔL_c constant, k_c = {}",
                c.k_c
            ),
            "all",
            "max/min − 1 ≤ 0.2",
            c.spread_predicted,
            c.snapshots,
            |v| v <= 0.2,
            true,
            "C(t) from tail dominance at each snapshot".into(),
        ));
    }
    targets
}

/// Holds the run's truth beside the comparison of its effective snapshots
/// (`cmp`, made from `analysed`, in the same order).
pub fn validate(
    run: &Run,
    cmp: CompareReport,
    analysed: &[Analysed],
) -> Result<ValidateReport, CompareError> {
    let model = run.truth.model;
    let mut notes = Vec::new();
    let f = Facts::new(run, &cmp)?;
    let mut estimates = slope_estimates(&f);
    estimates.extend(rate_estimates(&f));
    estimates.extend(frontier_and_loss_estimates(&f, &cmp));
    let compression = compression(run, &f.d, &cmp, analysed, &mut notes)?;
    let mut targets = linear_targets(&f, model == ModelKind::Linear);
    targets.push(deep_target(&f, model == ModelKind::DeepLinear));
    targets.extend(compression_targets(&compression));
    targets.extend(complementarity_targets(&cmp));
    Ok(ValidateReport {
        schema_version: SCHEMA_VERSION,
        tool: Tool::this(),
        command: "validate",
        run: run.dir.display().to_string(),
        model: model.as_str().into(),
        a: f.a_true,
        b: f.b_true,
        analysed: match model {
            ModelKind::Linear => "the weight W".into(),
            ModelKind::DeepLinear => "the product W₂W₁".into(),
            ModelKind::Mlp => "the effective linear map ½·W₂W₁".into(),
        },
        estimates,
        targets,
        compression,
        compare: cmp,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The propagated noise of W₂W₁ against the measured entry variance of
    /// W₂E₁ + E₂W₁ for random E of the predicted variances (10% relative:
    /// 200×150 entries give a sample-variance error below 1%, the rest is
    /// the i.i.d. assumption, exact here).
    #[test]
    fn effective_noise_of_a_product() {
        let mut rng = crate::synth::rng(5);
        let w1 = crate::synth::gaussian(120, 150, 0.3, &mut rng);
        let w2 = crate::synth::gaussian(200, 120, 0.2, &mut rng);
        let net = Net {
            kind: ModelKind::DeepLinear,
            names: vec!["a".into(), "b".into()],
            layers: vec![w1.clone(), w2.clone()],
        };
        let s2 = effective_noise(&net, 4, Granularity::Tensor);
        let spec = |m: &Mat<f64>| {
            range_stats(
                &row_major(m),
                m.ncols(),
                Scheme::Sym,
                Granularity::Tensor,
                1,
            )
            .noise_variance(&QuantSpec {
                bits: 4,
                scheme: Scheme::Sym,
                granularity: Granularity::Tensor,
                group: 128,
            })
        };
        let e1 = crate::synth::gaussian(120, 150, spec(&w1).sqrt(), &mut rng);
        let e2 = crate::synth::gaussian(200, 120, spec(&w2).sqrt(), &mut rng);
        let noise = &w2 * &e1 + &e2 * &w1;
        let var = frob2(&noise) / (200.0 * 150.0);
        assert!((var / s2 - 1.0).abs() < 0.1, "{var} vs {s2}");
    }
}
