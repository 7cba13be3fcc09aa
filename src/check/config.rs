//! The `specscope.toml` rules file: TOML parsed with serde (unknown keys
//! and wrong types rejected by `deny_unknown_fields` and toml's spans),
//! then checked rule by rule into validated [`Rule`]s. Every error names
//! the file, line and column of the offending key. Owns the file format
//! only; evaluation lives in `check::eval`.

use crate::theory::quant::{DEFAULT_GROUP, Granularity, QuantSpec, Scheme};
use regex::Regex;
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

/// A config error, positioned in the file (`path:line:column: message`;
/// `path: message` when it is about the file as a whole, line 0).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub path: String,
    /// 1-based; 0 when the file could not be read.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.path, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// 1-based line and column of byte offset `at` in `text`.
pub fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(at, |i| at - i - 1) + 1;
    (line, column)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `min ≤ value ≤ max` on a metric.
    Range,
    /// `|value − baseline| ≤ abs + rel·|baseline|` against `--baseline`.
    Drift,
    /// The predicted loss increase at a compression target is at most `max`.
    PredictedLoss,
    /// At least `min` modes survive `bits`-bit quantization.
    SurvivingModes,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Range => "range",
            Kind::Drift => "drift",
            Kind::PredictedLoss => "predicted-loss",
            Kind::SurvivingModes => "surviving-modes",
        }
    }
}

/// Per-matrix rows or the model summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Matrix,
    Model,
}

/// What a selected matrix without a value (null: failed analysis, failed
/// fit, non-finite value) or without a baseline counterpart counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Missing {
    Fail,
    Skip,
}

/// What a `predicted-loss` rule bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Measure {
    /// The framework's loss increase as a fraction of the largest damage,
    /// ΔL/ΔL(0) (every learned mode cut); needs the loss model (a, k_*).
    Loss,
    /// The predicted weight-space error ‖W − W'‖²_F/‖W‖²_F.
    WeightError,
}

impl Measure {
    /// The quantity in words, for conditions and messages.
    pub fn describe(self) -> &'static str {
        match self {
            Measure::Loss => "predicted loss increase",
            Measure::WeightError => "predicted weight error",
        }
    }
}

/// Which count of surviving modes a `surviving-modes` rule bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bound {
    /// μ_k > σ_q²·√(NM): the BBP threshold (`analyze`'s k_q4, k_q8).
    Bbp,
    /// μ_k > σ_q²(√N+√M)²: the conservative Weyl bound.
    Weyl,
}

impl Bound {
    pub fn as_str(self) -> &'static str {
        match self {
            Bound::Bbp => "BBP",
            Bound::Weyl => "Weyl",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    kind: Spanned<Kind>,
    metric: Option<Spanned<String>>,
    scope: Option<Spanned<Scope>>,
    select: Option<Spanned<String>>,
    exclude: Option<Spanned<String>>,
    min: Option<Spanned<f64>>,
    max: Option<Spanned<f64>>,
    abs: Option<Spanned<f64>>,
    rel: Option<Spanned<f64>>,
    missing: Option<Spanned<Missing>>,
    rank_fraction: Option<Spanned<f64>>,
    sparsity: Option<Spanned<f64>>,
    bits: Option<Spanned<i64>>,
    measure: Option<Spanned<Measure>>,
    bound: Option<Spanned<Bound>>,
    scheme: Option<Spanned<Scheme>>,
    granularity: Option<Spanned<Granularity>>,
    group: Option<Spanned<i64>>,
}

/// A compression target of a `predicted-loss` rule.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Keep the top ⌈f·M⌉ modes.
    RankFraction(f64),
    /// Sparsity s keeps r = (1−s)·M modes.
    Sparsity(f64),
    /// B-bit round-to-nearest quantization with a scheme and granularity.
    Bits(QuantSpec),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::RankFraction(x) => write!(f, "rank fraction {x}"),
            Target::Sparsity(x) => write!(f, "sparsity {x}"),
            Target::Bits(q) => write!(f, "{}", q.describe()),
        }
    }
}

/// What a rule tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Range {
        min: Option<f64>,
        max: Option<f64>,
    },
    Drift {
        abs: f64,
        rel: f64,
    },
    PredictedLoss {
        target: Target,
        measure: Measure,
        max: f64,
    },
    SurvivingModes {
        quant: QuantSpec,
        bound: Bound,
        min: f64,
    },
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub kind: Kind,
    pub scope: Scope,
    /// The field tested (`range`, `drift`), with its position for errors
    /// found once the report is known.
    pub metric: Option<(String, Range<usize>)>,
    pub select: Option<Regex>,
    pub exclude: Option<Regex>,
    pub missing: Missing,
    pub test: Test,
    /// Where the rule starts, 1-based.
    pub line: usize,
    /// Byte span of the rule's table, for errors about the whole rule.
    pub span: Range<usize>,
}

/// A parsed rules file, with its text for positioning later errors.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: String,
    pub text: String,
    pub rules: Vec<Rule>,
}

impl Config {
    /// A positioned error at byte span `span`.
    pub fn error(&self, span: &Range<usize>, message: impl Into<String>) -> ConfigError {
        error_at(&self.path, &self.text, span.start, message)
    }
}

fn error_at(path: &str, text: &str, at: usize, message: impl Into<String>) -> ConfigError {
    let (line, column) = line_col(text, at);
    ConfigError {
        path: path.to_string(),
        line,
        column,
        message: message.into(),
    }
}

/// Reads and validates a rules file.
pub fn read(path: &std::path::Path) -> Result<Config, ConfigError> {
    let p = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ConfigError {
        path: p.clone(),
        line: 0,
        column: 0,
        message: format!("cannot read: {e}"),
    })?;
    parse(&p, &utf8(&p, &bytes)?)
}

/// The file's text, or an error at the line and column of its first byte
/// that is not UTF-8.
pub fn utf8(path: &str, bytes: &[u8]) -> Result<String, ConfigError> {
    std::str::from_utf8(bytes).map(str::to_string).map_err(|e| {
        let at = e.valid_up_to();
        let valid = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
        let message = format!("not UTF-8: invalid byte 0x{:02X}", bytes[at]);
        error_at(path, valid, at, message)
    })
}

/// Parses and validates rules from `text` (`path` is only for messages).
pub fn parse(path: &str, text: &str) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        error_at(path, text, at, e.message().trim_end().to_string())
    })?;
    let mut rules: Vec<Rule> = Vec::new();
    for r in raw.rule {
        let span = r.span();
        let rule = validate(path, text, span.clone(), r.into_inner())?;
        if let Some(prev) = rules.iter().find(|p| p.name == rule.name) {
            return Err(error_at(
                path,
                text,
                span.start,
                format!(
                    "rule name `{}` is used twice (first on line {}); names must be unique",
                    rule.name, prev.line
                ),
            ));
        }
        rules.push(rule);
    }
    if rules.is_empty() {
        return Err(error_at(
            path,
            text,
            0,
            "no rules: add at least one [[rule]] table",
        ));
    }
    Ok(Config {
        path: path.to_string(),
        text: text.to_string(),
        rules,
    })
}

/// Checks one raw rule into a [`Rule`]: its name, which keys its kind and
/// scope accept, its `select`/`exclude` regexes, then the test its kind
/// describes. The first problem found is the error.
fn validate(path: &str, text: &str, span: Range<usize>, r: RawRule) -> Result<Rule, ConfigError> {
    let name = r.name.get_ref().trim().to_string();
    if name.is_empty() {
        return Err(error_at(
            path,
            text,
            r.name.span().start,
            "rule `name` is empty".to_string(),
        ));
    }
    let kind = *r.kind.get_ref();
    let cx = RuleCx {
        path,
        text,
        here: format!("rule `{name}`"),
        span,
    };
    let scope = cx.check_keys(kind, &r)?;
    let select = cx.regex(&r.select, "select")?;
    let exclude = cx.regex(&r.exclude, "exclude")?;
    let metric = r.metric.as_ref().map(|m| (m.get_ref().clone(), m.span()));
    let test = match kind {
        Kind::Range => cx.range_test(&r, metric.is_some())?,
        Kind::Drift => cx.drift_test(&r, metric.is_some())?,
        Kind::PredictedLoss => cx.predicted_loss_test(&r)?,
        Kind::SurvivingModes => cx.surviving_modes_test(&r)?,
    };
    Ok(Rule {
        name,
        kind,
        scope,
        metric,
        select,
        exclude,
        missing: r.missing.as_ref().map_or(Missing::Fail, |m| *m.get_ref()),
        test,
        line: line_col(cx.text, cx.span.start).0,
        span: cx.span,
    })
}

/// The keys a rule of `kind` accepts, beyond `name` and `kind`.
fn allowed_keys(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Range => &[
            "metric", "scope", "select", "exclude", "min", "max", "missing",
        ],
        Kind::Drift => &[
            "metric", "scope", "select", "exclude", "abs", "rel", "missing",
        ],
        Kind::PredictedLoss => &[
            "select",
            "exclude",
            "missing",
            "max",
            "rank_fraction",
            "sparsity",
            "bits",
            "measure",
            "scheme",
            "granularity",
            "group",
        ],
        Kind::SurvivingModes => &[
            "select",
            "exclude",
            "missing",
            "min",
            "bits",
            "bound",
            "scheme",
            "granularity",
            "group",
        ],
    }
}

/// Every optional key of a raw rule with its span where it is present, in
/// the order the key check reports them.
fn present_keys(r: &RawRule) -> [(&'static str, Option<Range<usize>>); 17] {
    [
        ("metric", r.metric.as_ref().map(Spanned::span)),
        ("scope", r.scope.as_ref().map(Spanned::span)),
        ("select", r.select.as_ref().map(Spanned::span)),
        ("exclude", r.exclude.as_ref().map(Spanned::span)),
        ("min", r.min.as_ref().map(Spanned::span)),
        ("max", r.max.as_ref().map(Spanned::span)),
        ("abs", r.abs.as_ref().map(Spanned::span)),
        ("rel", r.rel.as_ref().map(Spanned::span)),
        ("missing", r.missing.as_ref().map(Spanned::span)),
        ("rank_fraction", r.rank_fraction.as_ref().map(Spanned::span)),
        ("sparsity", r.sparsity.as_ref().map(Spanned::span)),
        ("bits", r.bits.as_ref().map(Spanned::span)),
        ("measure", r.measure.as_ref().map(Spanned::span)),
        ("bound", r.bound.as_ref().map(Spanned::span)),
        ("scheme", r.scheme.as_ref().map(Spanned::span)),
        ("granularity", r.granularity.as_ref().map(Spanned::span)),
        ("group", r.group.as_ref().map(Spanned::span)),
    ]
}

/// One rule under validation: where its errors point and how they start.
struct RuleCx<'a> {
    path: &'a str,
    text: &'a str,
    /// "rule `name`", the opening of every message about this rule.
    here: String,
    /// The rule's whole table, for errors about a key that is missing.
    span: Range<usize>,
}

impl RuleCx<'_> {
    /// An error positioned at the start of `at`.
    fn err(&self, at: &Range<usize>, msg: String) -> ConfigError {
        error_at(self.path, self.text, at.start, msg)
    }

    /// An error about the rule as a whole (a key it lacks).
    fn whole(&self, msg: String) -> ConfigError {
        self.err(&self.span, msg)
    }

    /// Rejects keys that `kind` does not take, and matrix-selecting keys
    /// under `scope = "model"`; returns the scope (default `matrix`).
    fn check_keys(&self, kind: Kind, r: &RawRule) -> Result<Scope, ConfigError> {
        let here = &self.here;
        let allowed = allowed_keys(kind);
        for (key, at) in &present_keys(r) {
            if let Some(at) = at
                && !allowed.contains(key)
            {
                return Err(self.err(
                    at,
                    format!(
                        "{here}: key `{key}` does not apply to kind `{}` (it takes: {})",
                        kind.as_str(),
                        allowed.join(", ")
                    ),
                ));
            }
        }
        let scope = r.scope.as_ref().map_or(Scope::Matrix, |s| *s.get_ref());
        if scope == Scope::Model {
            for (key, at) in [
                ("select", r.select.as_ref().map(Spanned::span)),
                ("exclude", r.exclude.as_ref().map(Spanned::span)),
                ("missing", r.missing.as_ref().map(Spanned::span)),
            ] {
                if let Some(at) = at {
                    return Err(self.err(
                        &at,
                        format!(
                            "{here}: key `{key}` selects matrices; it does not apply to scope `model`"
                        ),
                    ));
                }
            }
        }
        Ok(scope)
    }

    /// Compiles the regex under `key`, if given.
    fn regex(&self, v: &Option<Spanned<String>>, key: &str) -> Result<Option<Regex>, ConfigError> {
        v.as_ref()
            .map(|s| {
                Regex::new(s.get_ref()).map_err(|e| {
                    // The regex crate's message is multi-line; its last
                    // line names the problem.
                    let why = e.to_string();
                    let why = why.lines().last().unwrap_or("").trim().to_string();
                    self.err(
                        &s.span(),
                        format!(
                            "{}: `{key}` is not a valid regex `{}`: {why}",
                            self.here,
                            s.get_ref()
                        ),
                    )
                })
            })
            .transpose()
    }

    /// The number under `key`, which must be finite.
    fn finite(&self, v: &Spanned<f64>, key: &str) -> Result<f64, ConfigError> {
        let x = *v.get_ref();
        if x.is_finite() {
            Ok(x)
        } else {
            Err(self.err(&v.span(), format!("{}: `{key}` must be finite", self.here)))
        }
    }

    /// The optional number under `key`, finite where given.
    fn opt(&self, v: &Option<Spanned<f64>>, key: &str) -> Result<Option<f64>, ConfigError> {
        v.as_ref().map(|s| self.finite(s, key)).transpose()
    }

    /// The optional `bits`, between 2 and 16 where given.
    fn bits(&self, v: &Option<Spanned<i64>>) -> Result<Option<u32>, ConfigError> {
        v.as_ref()
            .map(|b| match *b.get_ref() {
                x @ 2..=16 => Ok(x as u32),
                x => Err(self.err(
                    &b.span(),
                    format!("{}: `bits` must be between 2 and 16, not {x}", self.here),
                )),
            })
            .transpose()
    }

    /// The rule's `metric` must be given (`range`, `drift`).
    fn need_metric(&self, kind: Kind, has_metric: bool) -> Result<(), ConfigError> {
        if has_metric {
            Ok(())
        } else {
            Err(self.whole(format!(
                "{}: kind `{}` needs `metric`",
                self.here,
                kind.as_str()
            )))
        }
    }

    /// The quantizer of a `bits` target: `scheme` (default sym),
    /// `granularity` (default channel; `group` implies group), `group`
    /// (default 128), as `specscope predict` takes them.
    fn quantizer(&self, r: &RawRule, bits: u32) -> Result<QuantSpec, ConfigError> {
        let here = &self.here;
        let group = match &r.group {
            Some(g) if *g.get_ref() >= 1 => Some(*g.get_ref() as usize),
            Some(g) => {
                return Err(self.err(
                    &g.span(),
                    format!("{here}: `group` must be at least 1, not {}", g.get_ref()),
                ));
            }
            None => None,
        };
        let granularity = r.granularity.as_ref().map_or(
            if group.is_some() {
                Granularity::Group
            } else {
                Granularity::Channel
            },
            |g| *g.get_ref(),
        );
        if let Some(g) = &r.group
            && granularity != Granularity::Group
        {
            return Err(self.err(
                &g.span(),
                format!("{here}: `group` needs `granularity = \"group\"`"),
            ));
        }
        let scheme = r.scheme.as_ref().map_or(Scheme::Sym, |s| *s.get_ref());
        Ok(
            QuantSpec::new(bits, scheme, granularity, group.unwrap_or(DEFAULT_GROUP))
                .expect("bits and group validated above"),
        )
    }

    /// `range`: a metric and `min`, `max` or both, with `min ≤ max`.
    fn range_test(&self, r: &RawRule, has_metric: bool) -> Result<Test, ConfigError> {
        let here = &self.here;
        self.need_metric(Kind::Range, has_metric)?;
        let (min, max) = (self.opt(&r.min, "min")?, self.opt(&r.max, "max")?);
        match (min, max) {
            (None, None) => {
                return Err(self.whole(format!("{here}: kind `range` needs `min`, `max` or both")));
            }
            (Some(lo), Some(hi)) if lo > hi => {
                return Err(self.err(
                    &r.min.as_ref().unwrap().span(),
                    format!("{here}: `min` ({lo}) is greater than `max` ({hi})"),
                ));
            }
            _ => {}
        }
        Ok(Test::Range { min, max })
    }

    /// `drift`: a metric and `abs`, `rel` or both, neither negative.
    fn drift_test(&self, r: &RawRule, has_metric: bool) -> Result<Test, ConfigError> {
        let here = &self.here;
        self.need_metric(Kind::Drift, has_metric)?;
        let (abs, rel) = (self.opt(&r.abs, "abs")?, self.opt(&r.rel, "rel")?);
        if abs.is_none() && rel.is_none() {
            return Err(self.whole(format!("{here}: kind `drift` needs `abs`, `rel` or both")));
        }
        for (v, key) in [(&r.abs, "abs"), (&r.rel, "rel")] {
            if let Some(s) = v
                && *s.get_ref() < 0.0
            {
                return Err(self.err(&s.span(), format!("{here}: `{key}` must be ≥ 0")));
            }
        }
        Ok(Test::Drift {
            abs: abs.unwrap_or(0.0),
            rel: rel.unwrap_or(0.0),
        })
    }

    /// `predicted-loss`: exactly one compression target (quantizer keys
    /// only with `bits`), a `max` and an optional `measure`.
    fn predicted_loss_test(&self, r: &RawRule) -> Result<Test, ConfigError> {
        let here = &self.here;
        let target = self.compression_target(r)?;
        if !matches!(target, Target::Bits(_)) {
            for (key, at) in [
                ("scheme", r.scheme.as_ref().map(Spanned::span)),
                ("granularity", r.granularity.as_ref().map(Spanned::span)),
                ("group", r.group.as_ref().map(Spanned::span)),
            ] {
                if let Some(at) = at {
                    return Err(self.err(
                        &at,
                        format!(
                            "{here}: key `{key}` describes a quantizer; it applies only with `bits`"
                        ),
                    ));
                }
            }
        }
        let max = self
            .opt(&r.max, "max")?
            .ok_or_else(|| self.whole(format!("{here}: kind `predicted-loss` needs `max`")))?;
        Ok(Test::PredictedLoss {
            target,
            measure: r.measure.as_ref().map_or(Measure::Loss, |m| *m.get_ref()),
            max,
        })
    }

    /// The one target of a `predicted-loss` rule: `rank_fraction` in
    /// (0, 1], `sparsity` in [0, 1) or `bits` with its quantizer.
    fn compression_target(&self, r: &RawRule) -> Result<Target, ConfigError> {
        let here = &self.here;
        let rf = self.opt(&r.rank_fraction, "rank_fraction")?;
        let sp = self.opt(&r.sparsity, "sparsity")?;
        let b = self.bits(&r.bits)?;
        match (rf, sp, b) {
            (Some(f), None, None) => {
                if !(f > 0.0 && f <= 1.0) {
                    return Err(self.err(
                        &r.rank_fraction.as_ref().unwrap().span(),
                        format!("{here}: `rank_fraction` must be in (0, 1], not {f}"),
                    ));
                }
                Ok(Target::RankFraction(f))
            }
            (None, Some(s), None) => {
                if !(0.0..1.0).contains(&s) {
                    return Err(self.err(
                        &r.sparsity.as_ref().unwrap().span(),
                        format!("{here}: `sparsity` must be in [0, 1), not {s}"),
                    ));
                }
                Ok(Target::Sparsity(s))
            }
            (None, None, Some(b)) => Ok(Target::Bits(self.quantizer(r, b)?)),
            _ => Err(self.whole(format!(
                "{here}: kind `predicted-loss` needs exactly one of `rank_fraction`, `sparsity`, `bits`"
            ))),
        }
    }

    /// `surviving-modes`: `bits` with its quantizer, a non-negative `min`
    /// count of modes and an optional `bound`.
    fn surviving_modes_test(&self, r: &RawRule) -> Result<Test, ConfigError> {
        let here = &self.here;
        let b = self
            .bits(&r.bits)?
            .ok_or_else(|| self.whole(format!("{here}: kind `surviving-modes` needs `bits`")))?;
        let min = self
            .opt(&r.min, "min")?
            .ok_or_else(|| self.whole(format!("{here}: kind `surviving-modes` needs `min`")))?;
        if min < 0.0 {
            return Err(self.err(
                &r.min.as_ref().expect("present").span(),
                format!("{here}: `min` must be ≥ 0 (a count of modes), not {min}"),
            ));
        }
        Ok(Test::SurvivingModes {
            quant: self.quantizer(r, b)?,
            bound: r.bound.as_ref().map_or(Bound::Bbp, |b| *b.get_ref()),
            min,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> String {
        parse("c.toml", text).unwrap_err().to_string()
    }

    #[test]
    fn positions_are_one_based() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab\n", 3), (2, 1));
    }

    #[test]
    fn a_full_config_parses() {
        let c = parse(
            "c.toml",
            r#"
[[rule]]
name = "alpha"
kind = "range"
metric = "alpha"
select = "attention"
min = 2
max = 6.5

[[rule]]
name = "mean"
kind = "range"
scope = "model"
metric = "alpha"
max = 5

[[rule]]
name = "drift"
kind = "drift"
metric = "log_norm"
rel = 0.01
missing = "skip"
"#,
        )
        .unwrap();
        assert_eq!(c.rules.len(), 3);
        assert_eq!(c.rules[0].line, 2);
        assert_eq!(
            c.rules[0].test,
            Test::Range {
                min: Some(2.0),
                max: Some(6.5)
            }
        );
        assert_eq!(c.rules[1].scope, Scope::Model);
        assert_eq!(
            c.rules[2].test,
            Test::Drift {
                abs: 0.0,
                rel: 0.01
            }
        );
        assert_eq!(c.rules[2].missing, Missing::Skip);
        assert_eq!(c.rules[2].line, 17);
    }

    #[test]
    fn compression_targets_parse_with_their_defaults() {
        let c = parse(
            "c.toml",
            r#"
[[rule]]
name = "a"
kind = "predicted-loss"
bits = 4
scheme = "asym"
group = 64
measure = "weight-error"
max = 0.1

[[rule]]
name = "b"
kind = "surviving-modes"
bits = 8
bound = "weyl"
min = 3

[[rule]]
name = "c"
kind = "predicted-loss"
rank_fraction = 0.25
max = 0.5
"#,
        )
        .unwrap();
        assert_eq!(
            c.rules[0].test,
            Test::PredictedLoss {
                target: Target::Bits(
                    QuantSpec::new(4, Scheme::Asym, Granularity::Group, 64).unwrap()
                ),
                measure: Measure::WeightError,
                max: 0.1
            }
        );
        // Defaults: symmetric, per channel, BBP, the loss measure.
        assert_eq!(
            c.rules[1].test,
            Test::SurvivingModes {
                quant: QuantSpec::new(8, Scheme::Sym, Granularity::Channel, DEFAULT_GROUP).unwrap(),
                bound: Bound::Weyl,
                min: 3.0
            }
        );
        assert_eq!(
            c.rules[2].test,
            Test::PredictedLoss {
                target: Target::RankFraction(0.25),
                measure: Measure::Loss,
                max: 0.5
            }
        );
        assert_eq!(
            Target::Bits(QuantSpec::new(3, Scheme::Sym, Granularity::Tensor, 1).unwrap())
                .to_string(),
            "3-bit sym per tensor"
        );
    }

    #[test]
    fn non_utf8_is_positioned_at_its_first_bad_byte() {
        let e = utf8("c.toml", b"[[rule]]\nname = \"caf\xE9\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 12));
        assert_eq!(e.to_string(), "c.toml:2:12: not UTF-8: invalid byte 0xE9");
    }

    #[test]
    fn errors_name_the_line() {
        let m = msg(
            "[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"alpha\"\nmax = 1\nmaxx = 2\n",
        );
        assert!(m.starts_with("c.toml:6:1: unknown field `maxx`"), "{m}");
        let m =
            msg("[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"alpha\"\nmax = \"big\"\n");
        assert!(
            m.starts_with("c.toml:5:7: invalid type: string \"big\", expected f64"),
            "{m}"
        );
        let m = msg("[[rule]]\nname = \"a\"\nkind = \"rnage\"\n");
        assert!(m.starts_with("c.toml:3:8: unknown variant `rnage`"), "{m}");
        let m = msg(
            "[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"alpha\"\nselect = \"(\"\nmax = 1\n",
        );
        assert!(
            m.starts_with(
                "c.toml:5:10: rule `a`: `select` is not a valid regex `(`: error: unclosed group"
            ),
            "{m}"
        );
        let m = msg("[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"alpha\"\n");
        assert!(
            m.starts_with("c.toml:1:1: rule `a`: kind `range` needs `min`, `max` or both"),
            "{m}"
        );
        let m = msg("[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"x\"\nmin = 3\nmax = 1\n");
        assert!(
            m.contains("c.toml:5:7: rule `a`: `min` (3) is greater than `max` (1)"),
            "{m}"
        );
        let m = msg("[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"x\"\nmin = 3\nabs = 1\n");
        assert!(
            m.starts_with("c.toml:6:7: rule `a`: key `abs` does not apply to kind `range`"),
            "{m}"
        );
        let m = msg(
            "[[rule]]\nname = \"a\"\nkind = \"range\"\nscope = \"model\"\nmetric = \"x\"\nselect = \"q\"\nmin = 3\n",
        );
        assert!(
            m.starts_with("c.toml:6:10: rule `a`: key `select` selects matrices"),
            "{m}"
        );
        let m = msg("[[rule]]\nname = \"a\"\nkind = \"drift\"\nmetric = \"x\"\n");
        assert!(m.contains("kind `drift` needs `abs`, `rel` or both"), "{m}");
        let m = msg("[[rule]]\nname = \"a\"\nkind = \"drift\"\nmetric = \"x\"\nabs = -1\n");
        assert!(
            m.starts_with("c.toml:5:7: rule `a`: `abs` must be ≥ 0"),
            "{m}"
        );
        let m = msg(
            "[[rule]]\nname = \"a\"\nkind = \"predicted-loss\"\nbits = 4\nsparsity = 0.5\nmax = 1\n",
        );
        assert!(
            m.contains("needs exactly one of `rank_fraction`, `sparsity`, `bits`"),
            "{m}"
        );
        let m = msg("[[rule]]\nname = \"a\"\nkind = \"surviving-modes\"\nbits = 40\nmin = 1\n");
        assert!(
            m.starts_with("c.toml:4:8: rule `a`: `bits` must be between 2 and 16, not 40"),
            "{m}"
        );
        let m = msg(
            "[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"x\"\nmin = 1\n[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"y\"\nmin = 1\n",
        );
        assert!(
            m.starts_with("c.toml:6:1: rule name `a` is used twice (first on line 1)"),
            "{m}"
        );
        let m = msg("");
        assert!(m.contains("no rules"), "{m}");
        let m = msg("[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"x\"\nmin = 1\n[other]\n");
        assert!(
            m.starts_with("c.toml:6:2: unknown field `other`, expected `rule`"),
            "{m}"
        );
        let m = msg(
            "[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"x\"\nmin = 1\nmissing = \"maybe\"\n",
        );
        assert!(m.starts_with("c.toml:6:11: unknown variant `maybe`"), "{m}");
        let m = msg("[[rule]]\nname = \"a\"\nmin = = 1\n");
        assert!(m.starts_with("c.toml:3:"), "{m}");
        let m = msg("[[rule]]\nname = \"a\"\nmetric = \"x\"\nmin = 1\n");
        assert!(m.contains("missing field `kind`"), "{m}");
    }
}
