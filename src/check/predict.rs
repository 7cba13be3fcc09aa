//! The seam between `check`'s compression-target rules (`predicted-loss`,
//! `surviving-modes`) and the theory that answers them. `check` asks a
//! [`Predictions`] implementation; [`Theory`] answers with the theory
//! module's own predictions (`theory::predict`: truncation energy, the
//! framework's loss curve, quantization noise, k_q by BBP and Weyl), from
//! each matrix's eigenvalues and, for quantization, the ranges of its
//! weights. Nothing is estimated here that `specscope predict` would not
//! report for the same matrix and target.
//!
//! What each rule needs is checked before evaluation ([`missing_inputs`]):
//! a rule whose inputs the run cannot have (a JSON report without
//! eigenvalues, or without weights for a quantizer) is a config error with
//! the rule's line, never a pass.

use super::config::{Bound, Measure, Rule, Target, Test};
use crate::fit::noise::Dims;
use crate::fit::spectral_fit;
use crate::report::doc::{number, row_dims, row_sigma_init};
use crate::theory::quant::{Granularity, QuantSpec, RangeStats, Scheme, k_bbp, k_weyl};
use crate::theory::{self, Keep, Request};
use serde_json::Value;

/// One matrix as the predictions see it.
#[derive(Debug, Clone, Copy)]
pub struct MatrixInput<'a> {
    /// The report row (every field by name: `M`, `N`, `noise_sigma`, …).
    pub row: &'a Value,
    /// Its eigenvalues μ_k, descending: from the analysis `check` ran, or
    /// from `--eigs DIR` for a JSON report; `None` when neither has them.
    pub evals: Option<&'a [f64]>,
    /// The range statistics of its weights under the rule's quantizer
    /// (bits aside), when the weights were read.
    pub ranges: Option<&'a RangeStats>,
}

/// Answers to compression-target rules.
pub trait Predictions: Sync {
    /// The predicted `measure` of one matrix at `target`.
    fn predicted_loss(
        &self,
        m: MatrixInput<'_>,
        target: Target,
        measure: Measure,
    ) -> Result<f64, String>;
    /// Modes that survive quantization `q` by `bound`.
    fn surviving_modes(
        &self,
        m: MatrixInput<'_>,
        q: QuantSpec,
        bound: Bound,
    ) -> Result<f64, String>;
}

/// The theory module's predictions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Theory;

/// The predictions this build offers to `check`.
pub fn builtin() -> &'static dyn Predictions {
    &Theory
}

/// Modes kept by a rank fraction f: ⌈f·modes⌉ (a hair below the product
/// first, so 0.3·10 = 3.0000000000000004 keeps 3, not 4).
pub fn rank_of_fraction(modes: usize, f: f64) -> usize {
    ((f * modes as f64 - 1e-9).ceil().max(0.0) as usize).min(modes)
}

/// The eigenvalues and sides of a matrix, checked for what the theory
/// needs: a full spectrum and the row's N and M.
fn spectrum<'a>(m: &MatrixInput<'a>) -> Result<(&'a [f64], Dims), String> {
    let mu = m
        .evals
        .ok_or("no eigenvalues for this matrix (not in the analysis or the --eigs directory)")?;
    if let Some(s) = m.row.get("spectrum").and_then(Value::as_str)
        && s != "full"
    {
        return Err(format!(
            "the prediction needs the full spectrum; this matrix has a `{s}` spectrum (method {})",
            m.row.get("method").and_then(Value::as_str).unwrap_or("?")
        ));
    }
    let d = row_dims(m.row).ok_or("the report row has no N and M")?;
    Ok((mu, d))
}

/// The sym/channel quantizer `analyze` reports k_q for.
fn is_analyze_quantizer(q: &QuantSpec) -> bool {
    q.scheme == Scheme::Sym && q.granularity == Granularity::Channel
}

/// The report's own `k_q4` / `k_q8` column for this quantizer and bound,
/// when it has one: `analyze` computed it with the same function.
fn report_column(q: &QuantSpec, bound: Bound) -> Option<String> {
    (is_analyze_quantizer(q) && bound == Bound::Bbp && matches!(q.bits, 4 | 8))
        .then(|| format!("k_q{}", q.bits))
}

impl Predictions for Theory {
    fn predicted_loss(
        &self,
        m: MatrixInput<'_>,
        target: Target,
        measure: Measure,
    ) -> Result<f64, String> {
        let (mu, d) = spectrum(&m)?;
        let req = match target {
            Target::RankFraction(f) => Request {
                keep: Some(Keep::Rank(rank_of_fraction(mu.len(), f))),
                quant: None,
            },
            Target::Sparsity(s) => Request {
                keep: Some(Keep::Sparsity(s)),
                quant: None,
            },
            Target::Bits(q) => Request {
                keep: None,
                quant: Some(q),
            },
        };
        let ranges = match target {
            Target::Bits(q) => Some(m.ranges.ok_or_else(|| {
                format!(
                    "no weight ranges for {}: the weights were not read",
                    q.describe()
                )
            })?),
            _ => None,
        };
        let fit = spectral_fit(mu, d, row_sigma_init(m.row), None);
        let p = theory::predict(mu, d, &fit, &req, ranges);
        match measure {
            Measure::WeightError => Ok(p.err_rel),
            Measure::Loss => match (&p.model, p.dl_frac) {
                (_, Some(f)) => Ok(f),
                (Err(e), None) => Err(format!("no loss model: {e}")),
                (Ok(_), None) => Err("the loss model has no learned mode (ΔL(0) = 0)".into()),
            },
        }
    }

    fn surviving_modes(
        &self,
        m: MatrixInput<'_>,
        q: QuantSpec,
        bound: Bound,
    ) -> Result<f64, String> {
        let computed = spectrum(&m).and_then(|(mu, d)| {
            let st = m.ranges.ok_or_else(|| {
                format!(
                    "no weight ranges for {}: the weights were not read",
                    q.describe()
                )
            })?;
            let s2 = st.noise_variance(&q);
            Ok(match bound {
                Bound::Bbp => k_bbp(mu, s2, d),
                Bound::Weyl => k_weyl(mu, s2, d),
            } as f64)
        });
        match (computed, report_column(&q, bound)) {
            (Ok(k), _) => Ok(k),
            (Err(e), Some(col)) => {
                number(m.row, &col).ok_or_else(|| format!("{e}, and the report row has no `{col}`"))
            }
            (Err(e), None) => Err(e),
        }
    }
}

/// The quantizer a rule needs ranges for, if any.
pub fn quantizer(rule: &Rule) -> Option<QuantSpec> {
    match rule.test {
        Test::PredictedLoss {
            target: Target::Bits(q),
            ..
        } => Some(q),
        Test::SurvivingModes { quant, .. } => Some(quant),
        _ => None,
    }
}

/// Range statistics depend on the scheme, the granularity and (for
/// groups) the group size, not on the bits.
fn same_layout(a: &QuantSpec, b: &QuantSpec) -> bool {
    a.scheme == b.scheme
        && a.granularity == b.granularity
        && (a.granularity != Granularity::Group || a.group == b.group)
}

/// Each matrix's weight ranges, per quantizer layout, in report order.
#[derive(Debug, Clone, Default)]
pub struct Ranges {
    sets: Vec<(QuantSpec, Vec<Option<RangeStats>>)>,
}

impl Ranges {
    /// Adds the ranges of every matrix (report order) for `q`'s layout.
    pub fn insert(&mut self, q: QuantSpec, per_matrix: Vec<Option<RangeStats>>) {
        self.sets.retain(|(s, _)| !same_layout(s, &q));
        self.sets.push((q, per_matrix));
    }

    fn set(&self, q: &QuantSpec) -> Option<&[Option<RangeStats>]> {
        self.sets
            .iter()
            .find(|(s, _)| same_layout(s, q))
            .map(|(_, v)| v.as_slice())
    }

    /// Whether `q`'s layout has been gathered at all.
    pub fn has(&self, q: &QuantSpec) -> bool {
        self.set(q).is_some()
    }

    /// Matrix `i`'s ranges under `q`'s layout.
    pub fn get(&self, q: &QuantSpec, i: usize) -> Option<&RangeStats> {
        self.set(q).and_then(|v| v.get(i)).and_then(Option::as_ref)
    }
}

/// The distinct quantizer layouts a config's rules need ranges for.
pub fn layouts(rules: &[Rule]) -> Vec<QuantSpec> {
    let mut out: Vec<QuantSpec> = Vec::new();
    for q in rules.iter().filter_map(quantizer) {
        if !out.iter().any(|o| same_layout(o, &q)) {
            out.push(q);
        }
    }
    out
}

/// Why a compression-target rule cannot be evaluated on these inputs
/// (`None`: it can). `have_evals`: some matrix has eigenvalues;
/// `report_fields`: the report's per-matrix numeric fields.
pub fn missing_inputs(
    rule: &Rule,
    have_evals: bool,
    ranges: &Ranges,
    has_field: &dyn Fn(&str) -> bool,
) -> Option<String> {
    let column = match rule.test {
        Test::SurvivingModes { quant, bound, .. } => report_column(&quant, bound),
        _ => None,
    };
    let fallback = column.as_deref().filter(|c| has_field(c));
    if fallback.is_some() {
        return None;
    }
    if !have_evals {
        return Some(format!(
            "kind `{}` needs each matrix's eigenvalues, and a JSON report holds none: give the checkpoint itself, or `--eigs DIR` with the eigenvalues saved by `analyze --save-eigs DIR`",
            rule.kind.as_str()
        ));
    }
    let q = quantizer(rule)?;
    if ranges.has(&q) {
        return None;
    }
    Some(format!(
        "{} quantization needs the weights' ranges, and a JSON report holds no weights: give the checkpoint itself{}",
        q.describe(),
        if is_analyze_quantizer(&q) {
            " (the report's k_q4 and k_q8 columns answer `surviving-modes` at 4 or 8 bits with the BBP bound)"
        } else {
            ""
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_fractions_round_up_without_round_off() {
        assert_eq!(rank_of_fraction(10, 0.3), 3);
        assert_eq!(rank_of_fraction(64, 0.5), 32);
        assert_eq!(rank_of_fraction(65, 0.5), 33);
        assert_eq!(rank_of_fraction(7, 1.0), 7);
        assert_eq!(rank_of_fraction(7, 0.01), 1);
    }

    #[test]
    fn layouts_ignore_bits_but_not_groups() {
        let q = |bits, g, group| QuantSpec::new(bits, Scheme::Sym, g, group).unwrap();
        assert!(same_layout(
            &q(4, Granularity::Channel, 128),
            &q(8, Granularity::Channel, 7)
        ));
        assert!(!same_layout(
            &q(4, Granularity::Group, 128),
            &q(4, Granularity::Group, 64)
        ));
        let mut r = Ranges::default();
        r.insert(
            q(4, Granularity::Tensor, 1),
            vec![None, Some(RangeStats::default())],
        );
        assert!(r.has(&q(2, Granularity::Tensor, 9)));
        assert!(r.get(&q(2, Granularity::Tensor, 9), 1).is_some());
        assert!(r.get(&q(2, Granularity::Tensor, 9), 0).is_none());
        assert!(!r.has(&q(2, Granularity::Channel, 9)));
    }
}
