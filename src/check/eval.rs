//! Evaluation of validated rules against a report (and a baseline): each
//! rule becomes one check per selected matrix (or one for the model), in
//! report order, each passing, failing or skipped with a message that
//! names the value and the limit. Field names are looked up in the report
//! itself, so rules work on any numeric column, including ones added after
//! this was written; a name the report lacks is a config error with the
//! rule's line.

use super::config::{Config, ConfigError, Kind, Missing, Rule, Scope, Test};
use super::predict::{MatrixInput, Predictions, Ranges, missing_inputs, quantizer};
use crate::report::doc::{FieldKind, ReportDoc, field_kind, number};
use crate::report::fmt::significant as num;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

/// What a rule is evaluated on.
pub struct Inputs<'a> {
    pub report: &'a ReportDoc,
    pub baseline: Option<&'a ReportDoc>,
    /// Eigenvalues per report layer (same order): from the analysis run in
    /// this process, or saved ones (`--eigs`); empty when there are none.
    pub evals: &'a [Option<Vec<f64>>],
    /// The weights' quantization ranges per report layer, for each
    /// quantizer layout the rules need (empty for a JSON report).
    pub ranges: &'a Ranges,
    pub predictions: &'a dyn Predictions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

/// One rule on one matrix (or on the model).
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The matrix name, `model`, or `(selection)` for a rule that selected
    /// nothing.
    pub subject: String,
    pub status: Status,
    pub value: Option<f64>,
    pub baseline: Option<f64>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleOutcome {
    pub name: String,
    pub kind: &'static str,
    pub scope: Scope,
    pub metric: Option<String>,
    /// The rule's line in the config file.
    pub line: usize,
    /// The condition, in words (`2 ≤ alpha ≤ 6`).
    pub condition: String,
    pub status: Status,
    pub violations: usize,
    pub skipped: usize,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    pub rules: usize,
    pub rules_failed: usize,
    pub checks: usize,
    pub violations: usize,
    pub skipped: usize,
}

/// The `check` report (`--format json`).
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub schema_version: u32,
    pub tool: crate::report::Tool,
    pub command: &'static str,
    /// The checkpoint or report checked.
    pub input: String,
    pub config: String,
    pub baseline: Option<String>,
    pub passed: bool,
    pub counts: Counts,
    pub rules: Vec<RuleOutcome>,
    /// Why `--method auto` took a partial method for a matrix, or fell
    /// back from it (a checkpoint analysed for rules that read only the top
    /// of the spectrum); absent when it did neither.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub method_notes: Vec<crate::analysis::MethodNote>,
}

fn numeric_fields<'a>(objects: impl IntoIterator<Item = &'a Value> + Clone) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for o in objects.clone() {
        if let Some(m) = o.as_object() {
            for k in m.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    keys.retain(|k| field_kind(objects.clone(), k) == FieldKind::Numeric);
    keys
}

/// Levenshtein distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// ` (did you mean `x`?)` for the closest name within 2 edits.
fn hint(name: &str, candidates: &[String]) -> String {
    candidates
        .iter()
        .map(|c| (edit_distance(&name.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map_or(String::new(), |(_, c)| format!(" (did you mean `{c}`?)"))
}

/// Checks every rule against what the inputs hold: metric names exist and
/// are numeric (in the baseline too, for drift), drift has a baseline, and
/// compression targets have the eigenvalues (and weight ranges) they need.
pub fn resolve(config: &Config, inputs: &Inputs<'_>) -> Result<(), ConfigError> {
    let have_evals = inputs.evals.iter().any(Option::is_some);
    let has_field = |f: &str| field_kind(inputs.report.layers().iter(), f) == FieldKind::Numeric;
    for rule in &config.rules {
        let here = format!("rule `{}`", rule.name);
        if matches!(rule.kind, Kind::PredictedLoss | Kind::SurvivingModes)
            && let Some(why) = missing_inputs(rule, have_evals, inputs.ranges, &has_field)
        {
            return Err(config.error(&rule.span, format!("{here}: {why}")));
        }
        if rule.kind == Kind::Drift && inputs.baseline.is_none() {
            return Err(config.error(
                &rule.span,
                format!(
                    "{here}: kind `drift` needs a baseline report: pass --baseline REPORT.json"
                ),
            ));
        }
        let Some((metric, at)) = &rule.metric else {
            continue;
        };
        let mut docs = vec![("the report", inputs.report)];
        if rule.kind == Kind::Drift
            && let Some(b) = inputs.baseline
        {
            docs.push(("the baseline report", b));
        }
        for (which, doc) in docs {
            let summary = Value::Object(doc.summary().clone());
            let (objects, what): (Vec<&Value>, &str) = match rule.scope {
                Scope::Matrix => (doc.layers().iter().collect(), "per-matrix"),
                Scope::Model => (vec![&summary], "model (summary)"),
            };
            match field_kind(objects.iter().copied(), metric) {
                FieldKind::Numeric | FieldKind::AllNull => {}
                FieldKind::Absent if objects.is_empty() => {
                    return Err(config.error(
                        at,
                        format!("{here}: {which} has no matrices, so no field `{metric}`"),
                    ));
                }
                FieldKind::Absent => {
                    let fields = numeric_fields(objects.iter().copied());
                    return Err(config.error(
                        at,
                        format!(
                            "{here}: {which} has no {what} field `{metric}`{}; its numeric fields are: {}",
                            hint(metric, &fields),
                            fields.join(", ")
                        ),
                    ));
                }
                FieldKind::Other => {
                    return Err(config.error(
                        at,
                        format!("{here}: {what} field `{metric}` of {which} is not numeric"),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn condition(rule: &Rule) -> String {
    let metric = rule.metric.as_ref().map_or("", |m| m.0.as_str());
    match &rule.test {
        Test::Range { min, max } => match (min, max) {
            (Some(lo), Some(hi)) => format!("{} ≤ {metric} ≤ {}", num(*lo), num(*hi)),
            (Some(lo), None) => format!("{metric} ≥ {}", num(*lo)),
            (None, Some(hi)) => format!("{metric} ≤ {}", num(*hi)),
            (None, None) => unreachable!("validated"),
        },
        Test::Drift { abs, rel } => {
            format!("|Δ{metric}| ≤ {} + {}·|baseline|", num(*abs), num(*rel))
        }
        Test::PredictedLoss {
            target,
            measure,
            max,
        } => {
            format!("{} at {target} ≤ {}", measure.describe(), num(*max))
        }
        Test::SurvivingModes { quant, bound, min } => format!(
            "modes surviving {} ({}) ≥ {}",
            quant.describe(),
            bound.as_str(),
            num(*min)
        ),
    }
}

fn range_check(metric: &str, v: f64, min: Option<f64>, max: Option<f64>) -> (Status, String) {
    if let Some(lo) = min
        && v < lo
    {
        return (
            Status::Fail,
            format!("{metric} = {} < min {}", num(v), num(lo)),
        );
    }
    if let Some(hi) = max
        && v > hi
    {
        return (
            Status::Fail,
            format!("{metric} = {} > max {}", num(v), num(hi)),
        );
    }
    let within = match (min, max) {
        (Some(lo), Some(hi)) => format!("within [{}, {}]", num(lo), num(hi)),
        (Some(lo), None) => format!("≥ {}", num(lo)),
        (None, Some(hi)) => format!("≤ {}", num(hi)),
        (None, None) => String::new(),
    };
    (Status::Pass, format!("{metric} = {} {within}", num(v)))
}

fn drift_check(metric: &str, v: f64, base: f64, abs: f64, rel: f64) -> (Status, String) {
    let tol = abs + rel * base.abs();
    let delta = (v - base).abs();
    let status = if delta > tol {
        Status::Fail
    } else {
        Status::Pass
    };
    let cmp = if status == Status::Fail { ">" } else { "≤" };
    (
        status,
        format!(
            "{metric} = {} vs baseline {}: |Δ| = {} {cmp} tolerance {}",
            num(v),
            num(base),
            num(delta),
            num(tol)
        ),
    )
}

/// Why a row has no value, for the message.
fn why_missing(row: &Value, metric: &str) -> String {
    match row.get("error").and_then(Value::as_str) {
        Some(e) if !e.is_empty() => format!("{metric} has no value ({e})"),
        _ => format!("{metric} has no value (null: a failed fit or a non-finite number)"),
    }
}

fn missing_status(m: Missing) -> Status {
    match m {
        Missing::Fail => Status::Fail,
        Missing::Skip => Status::Skip,
    }
}

/// Runs every rule. Call [`resolve`] first: names it would reject are
/// treated as absent values here.
pub fn evaluate(config: &Config, inputs: &Inputs<'_>) -> CheckReport {
    let rules: Vec<RuleOutcome> = config
        .rules
        .iter()
        .map(|r| evaluate_rule(r, inputs))
        .collect();
    let counts = Counts {
        rules: rules.len(),
        rules_failed: rules.iter().filter(|r| r.status == Status::Fail).count(),
        checks: rules.iter().map(|r| r.checks.len()).sum(),
        violations: rules.iter().map(|r| r.violations).sum(),
        skipped: rules.iter().map(|r| r.skipped).sum(),
    };
    CheckReport {
        schema_version: crate::report::SCHEMA_VERSION,
        tool: crate::report::Tool::this(),
        command: "check",
        input: inputs.report.source.clone(),
        config: config.path.clone(),
        baseline: inputs.baseline.map(|b| b.source.clone()),
        passed: counts.violations == 0,
        counts,
        rules,
        method_notes: Vec::new(),
    }
}

fn selected(rule: &Rule, name: &str) -> bool {
    rule.select.as_ref().is_none_or(|r| r.is_match(name))
        && !rule.exclude.as_ref().is_some_and(|r| r.is_match(name))
}

fn evaluate_rule(rule: &Rule, inputs: &Inputs<'_>) -> RuleOutcome {
    let metric = rule.metric.as_ref().map(|m| m.0.clone());
    let mname = metric.clone().unwrap_or_default();
    let mut checks = Vec::new();
    match rule.scope {
        Scope::Model => {
            let summary = Value::Object(inputs.report.summary().clone());
            let v = number(&summary, &mname);
            let base = inputs
                .baseline
                .map(|b| Value::Object(b.summary().clone()))
                .and_then(|s| number(&s, &mname));
            checks.push(one(
                rule, &mname, &summary, v, base, true, None, None, inputs,
            ));
        }
        Scope::Matrix => {
            let base_rows: HashMap<String, &Value> = inputs
                .baseline
                .map(|b| {
                    let mut m = HashMap::new();
                    for (i, l) in b.layers().iter().enumerate() {
                        m.entry(ReportDoc::layer_name(l, i)).or_insert(l);
                    }
                    m
                })
                .unwrap_or_default();
            let mut seen = std::collections::HashSet::new();
            for (i, row) in inputs.report.layers().iter().enumerate() {
                let name = ReportDoc::layer_name(row, i);
                if !selected(rule, &name) {
                    continue;
                }
                seen.insert(name.clone());
                let base_row = base_rows.get(&name).copied();
                let v = number(row, &mname);
                let base = base_row.and_then(|b| number(b, &mname));
                let evals = inputs.evals.get(i).and_then(|e| e.as_deref());
                let ranges = quantizer(rule).and_then(|q| inputs.ranges.get(&q, i));
                let mut c = one(
                    rule,
                    &mname,
                    row,
                    v,
                    base,
                    base_row.is_some(),
                    evals,
                    ranges,
                    inputs,
                );
                c.subject = name;
                checks.push(c);
            }
            if rule.kind == Kind::Drift
                && let Some(b) = inputs.baseline
            {
                for (i, row) in b.layers().iter().enumerate() {
                    let name = ReportDoc::layer_name(row, i);
                    if selected(rule, &name) && seen.insert(name.clone()) {
                        checks.push(Check {
                            subject: name,
                            status: missing_status(rule.missing),
                            value: None,
                            baseline: number(row, &mname),
                            message: "in the baseline report but not in this one".into(),
                        });
                    }
                }
            }
            if checks.is_empty() {
                checks.push(Check {
                    subject: "(selection)".into(),
                    status: Status::Fail,
                    value: None,
                    baseline: None,
                    message: "the rule selects no matrix (check `select` / `exclude`)".into(),
                });
            }
        }
    }
    let violations = checks.iter().filter(|c| c.status == Status::Fail).count();
    let skipped = checks.iter().filter(|c| c.status == Status::Skip).count();
    RuleOutcome {
        name: rule.name.clone(),
        kind: rule.kind.as_str(),
        scope: rule.scope,
        metric,
        line: rule.line,
        condition: condition(rule),
        status: if violations > 0 {
            Status::Fail
        } else {
            Status::Pass
        },
        violations,
        skipped,
        checks,
    }
}

/// One rule on one subject (`row` is the matrix row or the summary).
#[allow(clippy::too_many_arguments)]
fn one(
    rule: &Rule,
    metric: &str,
    row: &Value,
    v: Option<f64>,
    base: Option<f64>,
    has_base_row: bool,
    evals: Option<&[f64]>,
    ranges: Option<&crate::theory::quant::RangeStats>,
    inputs: &Inputs<'_>,
) -> Check {
    let mut c = Check {
        subject: "model".into(),
        status: Status::Pass,
        value: v,
        baseline: base,
        message: String::new(),
    };
    let (status, message) = match &rule.test {
        Test::Range { min, max } => match v {
            Some(v) => range_check(metric, v, *min, *max),
            None => (missing_status(rule.missing), why_missing(row, metric)),
        },
        Test::Drift { abs, rel } => match (v, base) {
            (Some(v), Some(b)) => drift_check(metric, v, b, *abs, *rel),
            (None, _) => (missing_status(rule.missing), why_missing(row, metric)),
            (Some(_), None) if !has_base_row => (
                missing_status(rule.missing),
                "not in the baseline report".to_string(),
            ),
            (Some(_), None) => (
                missing_status(rule.missing),
                format!("{metric} has no value in the baseline report"),
            ),
        },
        Test::PredictedLoss {
            target,
            measure,
            max,
        } => {
            let m = MatrixInput { row, evals, ranges };
            match inputs.predictions.predicted_loss(m, *target, *measure) {
                Ok(p) => {
                    c.value = Some(p);
                    range_check(measure.describe(), p, None, Some(*max))
                }
                Err(e) => (missing_status(rule.missing), format!("cannot predict: {e}")),
            }
        }
        Test::SurvivingModes { quant, bound, min } => {
            let m = MatrixInput { row, evals, ranges };
            match inputs.predictions.surviving_modes(m, *quant, *bound) {
                Ok(k) => {
                    c.value = Some(k);
                    range_check(
                        &format!("surviving modes at {} bits", quant.bits),
                        k,
                        Some(*min),
                        None,
                    )
                }
                Err(e) => (missing_status(rule.missing), format!("cannot predict: {e}")),
            }
        }
    };
    c.status = status;
    c.message = message;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_and_exact_enough() {
        assert_eq!(num(2.0), "2");
        assert_eq!(num(1.843219876), "1.84322");
        assert_eq!(num(0.01), "0.01");
        assert_eq!(num(123456.7), "123457");
        assert_eq!(num(1.5e-7), "1.50000e-7");
        assert_eq!(num(-3.25), "-3.25");
    }

    #[test]
    fn hints_pick_the_closest_field() {
        let f = vec![
            "alpha".to_string(),
            "alpha_weighted".into(),
            "log_norm".into(),
        ];
        assert_eq!(hint("alfa", &f), " (did you mean `alpha`?)");
        assert_eq!(hint("Log_Norm", &f), " (did you mean `log_norm`?)");
        assert_eq!(hint("density", &f), "");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn drift_tolerance_is_abs_plus_rel() {
        // |Δ| = 0.3; tolerance 0.1 + 0.1·2 = 0.3: passes at equality.
        assert_eq!(drift_check("x", 2.3, 2.0, 0.1, 0.1).0, Status::Pass);
        assert_eq!(drift_check("x", 2.31, 2.0, 0.1, 0.1).0, Status::Fail);
        assert_eq!(drift_check("x", 1.69, 2.0, 0.1, 0.1).0, Status::Fail);
    }
}
