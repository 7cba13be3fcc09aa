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
use crate::simulate::{ModelKind, Net, Run, SnapshotInfo};
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
        &[TensorOut::from_f64(
            EFFECTIVE,
            DType::F64,
            &[k, d],
            &row_major(&eff),
        )],
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

/// Holds the run's truth beside the comparison of its effective snapshots
/// (`cmp`, made from `analysed`, in the same order).
pub fn validate(
    run: &Run,
    cmp: CompareReport,
    analysed: &[Analysed],
) -> Result<ValidateReport, CompareError> {
    let truth = &run.truth;
    let (a_true, b_true) = (truth.a, truth.b);
    let model = truth.model;
    let is = |k: ModelKind| model == k;
    let mut notes = Vec::new();
    let d: DynamicsRow = cmp
        .dynamics
        .iter()
        .find(|d| d.name == EFFECTIVE)
        .cloned()
        .ok_or_else(|| CompareError::Input("the comparison has no effective map".into()))?;
    let an = truth.analytic.as_ref();
    let meas = &truth.measured;
    let rho_true = meas.rho_half_learning.as_ref().map(|s| s.value);
    let rho_an = an.map(|a| a.rho);
    let phi_true = meas.frontier_exponent.as_ref().map(|s| s.value);
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
    let on_modes = "measured on the true modes";
    let route = d.route.clone();
    let rho_sp_f = d.phi.zip(d.b_spectra).map(|(p, b)| p * b);
    let rho_sp_m = d.psi.zip(d.b_spectra).map(|(p, b)| b / p);
    let last_true = truth.snapshots.last().map(|s| s.k_star);
    let last_est = cmp
        .series
        .iter()
        .rev()
        .find(|r| r.name == EFFECTIVE)
        .and_then(|r| r.k_star);
    let estimates = vec![
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
        est(
            "frontier exponent φ = ρ/b",
            phi_true,
            on_modes,
            an.map(|a| a.k_star_exponent),
            d.phi,
            d.phi_err,
            &format!("slope of ln k_* on ln t ({})", d.frontier_source),
        ),
        est(
            "mode exponent ψ = b/ρ",
            rho_true.map(|r| b_true / r),
            on_modes,
            rho_an.map(|r| b_true / r),
            d.psi,
            d.psi_err,
            "slope of ln t_½ on ln k, matched modes",
        ),
        est(
            &format!("ρ by frontier motion, φ·b ({route} b)"),
            rho_true,
            on_modes,
            rho_an,
            d.rho_frontier,
            d.rho_frontier_err,
            &route,
        ),
        est(
            &format!("ρ by half-learning times, b/ψ ({route} b)"),
            rho_true,
            on_modes,
            rho_an,
            d.rho_modes,
            d.rho_modes_err,
            &route,
        ),
        est(
            "ρ by frontier motion, φ·β (spectra only)",
            rho_true,
            on_modes,
            rho_an,
            rho_sp_f,
            None,
            "p = 1",
        ),
        est(
            "ρ by half-learning times, β/ψ (spectra only)",
            rho_true,
            on_modes,
            rho_an,
            rho_sp_m,
            None,
            "p = 1",
        ),
        est(
            "ρ by frontier motion, φ·b with the true b",
            rho_true,
            on_modes,
            rho_an,
            d.phi.map(|p| p * b_true),
            d.phi_err.map(|e| e * b_true),
            "b known (diagnostic: φ alone)",
        ),
        est(
            "ρ by half-learning times, b/ψ with the true b",
            rho_true,
            on_modes,
            rho_an,
            d.psi.map(|p| b_true / p),
            d.psi.zip(d.psi_err).map(|(p, e)| b_true * e / (p * p)),
            "b known (diagnostic: ψ alone)",
        ),
        est(
            "k_* at the last snapshot",
            last_true.map(|k| k as f64),
            on_modes,
            None,
            last_est,
            None,
            &d.frontier_source,
        ),
        est(
            "loss exponent α_t (fit of the test loss)",
            meas.loss_time_exponent.as_ref().map(|s| s.value),
            "measured on the test loss, true window",
            an.map(|a| a.loss_time_exponent),
            cmp.loss_fit.alpha_t,
            cmp.loss_fit.alpha_t_err,
            "estimated window 5 < k_* < M/20",
        ),
        est(
            "loss exponent predicted by the spectra, ρ(a−1)/b",
            alpha_true,
            alpha_true_src,
            an.map(|a| a.loss_time_exponent),
            d.alpha_t_predicted,
            d.alpha_t_predicted_err,
            "spectra only (p = 1)",
        ),
        est(
            "Densing slope d ln D/d ln C",
            phi_true,
            on_modes,
            an.map(|a| a.k_star_exponent),
            cmp.densing.slope,
            cmp.densing.slope_err,
            "fixed size: ρ/b",
        ),
    ];

    // Compression: predicted beside measured for every snapshot.
    let a_use = d.a;
    if a_use.is_none() {
        notes.push(format!(
            "no a from the {route} route: compression is not predicted"
        ));
    }
    let mut compression = Vec::new();
    for (i, (s, st)) in run.snapshots.iter().zip(&truth.snapshots).enumerate() {
        let Some(j) = cmp.snapshots.iter().position(|c| c.step == Some(s.step)) else {
            continue;
        };
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
        let dims = {
            let (k, dd) = (net.layers.last().unwrap().nrows(), net.layers[0].ncols());
            Dims::of(k, dd)
        };
        let lm = match (a_use, k_est) {
            (Some(a), Some(k)) => Some(LossModel {
                a,
                k_star: (k.round() as usize).min(m),
            }),
            _ => None,
        };
        let c = lm.and_then(|lm| {
            let tail = lm.lost(lm.k_star, m);
            (tail > 0.0).then(|| st.test_loss / tail)
        });
        for r in run.compression_of(i) {
            let (predicted, kept) = match (lm, c, r.kind.as_str()) {
                (Some(lm), Some(c), "rank") => {
                    (Some(c * lm.prune(r.param as usize)), Some(r.param as usize))
                }
                (Some(lm), Some(c), kind @ ("quant_tensor" | "quant_channel")) => match &mu {
                    Some(mu) => {
                        let g = if kind == "quant_tensor" {
                            Granularity::Tensor
                        } else {
                            Granularity::Channel
                        };
                        let s2 = effective_noise(&net, r.param as u32, g);
                        let kept = quant::k_bbp(mu, s2, dims);
                        (Some(c * quant::loss(&lm, mu, kept, s2, dims)), Some(kept))
                    }
                    None => (None, None),
                },
                _ => (None, None),
            };
            compression.push(CompressionCheckRow {
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
            });
        }
    }

    // Targets.
    let linear = is(ModelKind::Linear);
    let deep = is(ModelKind::DeepLinear);
    let mut targets = Vec::new();
    targets.push(target(
        "b (spectra, p = 1) within ±0.1",
        "linear",
        "abs(b̂ − b) ≤ 0.1",
        d.b_spectra.map(|v| (v - b_true).abs()),
        1,
        |v| v <= 0.1,
        linear,
        format!("b̂ = {:?}", d.b_spectra),
    ));
    targets.push(target(
        "a (spectra, p = 1) within ±0.15",
        "linear",
        "abs(â − a) ≤ 0.15",
        d.a_spectra.map(|v| (v - a_true).abs()),
        1,
        |v| v <= 0.15,
        linear,
        format!("â = {:?}", d.a_spectra),
    ));
    let rho_dev = [rho_sp_f, rho_sp_m]
        .into_iter()
        .flatten()
        .map(|r| (r - 1.0).abs())
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    targets.push(target(
        "ρ (spectra, frontier and modes) within ±0.1 of 1",
        "linear",
        "max abs(ρ̂ − 1) ≤ 0.1",
        rho_dev,
        [rho_sp_f, rho_sp_m].iter().flatten().count(),
        |v| v <= 0.1,
        linear,
        format!("frontier {rho_sp_f:?}, modes {rho_sp_m:?}"),
    ));
    targets.push(target(
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
            "predicted {:?}, measured {alpha_true:?} ({alpha_true_src})",
            d.alpha_t_predicted
        ),
    ));
    let rho_dev_deep = [d.rho_frontier, d.rho_modes]
        .into_iter()
        .flatten()
        .zip(std::iter::repeat(rho_true))
        .filter_map(|(r, t)| t.map(|t| (r / t - 1.0).abs()))
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    targets.push(target(
        &format!("ρ ({route} b, frontier and modes) within 20% of ρ on the true modes"),
        "deep-linear",
        "max abs(ρ̂/ρ − 1) ≤ 0.2",
        rho_dev_deep,
        [d.rho_frontier, d.rho_modes].iter().flatten().count(),
        |v| v <= 0.2,
        deep,
        format!(
            "frontier {:?}, modes {:?}, true {rho_true:?}, analytic {rho_an:?}",
            d.rho_frontier, d.rho_modes
        ),
    ));
    let big = |r: &&CompressionCheckRow| r.k_star_true >= TARGET_MIN_K_STAR;
    let (prune_worst, prune_n) = worst_factor(compression.iter().filter(big).filter(|r| {
        let k = r.k_star_true as f64;
        r.kind == "rank" && r.param as f64 >= k / 30.0 && r.param as f64 <= k / 2.0 && r.param >= 1
    }));
    targets.push(target(
        "pruning: predicted ΔL within ×1.5 of measured, r ∈ [k_*/30, k_*/2]",
        "all",
        "worst factor ≤ 1.5",
        prune_worst,
        prune_n,
        |v| v <= 1.5,
        true,
        format!("snapshots with true k_* ≥ {TARGET_MIN_K_STAR}"),
    ));
    let plateau: Vec<&CompressionCheckRow> = compression
        .iter()
        .filter(big)
        .filter(|r| r.kind == "rank" && r.param as f64 >= 1.5 * r.k_star_true as f64)
        .collect();
    let plateau_max = plateau
        .iter()
        .map(|r| r.measured / r.loss)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let plateau_pred = plateau
        .iter()
        .filter_map(|r| r.predicted.map(|p| p / r.loss))
        .fold(0.0f64, f64::max);
    targets.push(target(
        "plateau: measured ΔL < 5% of L for r ≥ 1.5·k_*",
        "all",
        "max ΔL/L < 0.05",
        plateau_max,
        plateau.len(),
        |v| v < 0.05,
        true,
        format!("predicted max ΔL/L there: {plateau_pred:.3e}"),
    ));
    let (q_worst, q_n) =
        worst_factor(compression.iter().filter(big).filter(|r| {
            r.kind.starts_with("quant") && (3..=6).contains(&r.param) && r.measured > 0.0
        }));
    targets.push(target(
        "quantization: predicted ΔL within ×2 of measured, B = 3…6",
        "all",
        "worst factor ≤ 2",
        q_worst,
        q_n,
        |v| v <= 2.0,
        true,
        "tensor and channel steps; rows with measured ΔL > 0".into(),
    ));
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
    Ok(ValidateReport {
        schema_version: SCHEMA_VERSION,
        tool: Tool::this(),
        command: "validate",
        run: run.dir.display().to_string(),
        model: model.as_str().into(),
        a: a_true,
        b: b_true,
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
