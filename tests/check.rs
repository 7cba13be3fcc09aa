//! `specscope check` end to end: every exit code, every config error
//! message with its line, the four output formats (the JUnit file parsed
//! back with an XML parser), drift against a baseline, matrix selection,
//! missing values, and rules on fields this build never defined.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

const PASS: i32 = 0;
const VIOLATION: i32 = 1;
const ERROR: i32 = 2;

/// The bundled tiny model's analyze report, written once per test.
fn tiny_report(dir: &Path) -> PathBuf {
    let out = dir.join("tiny.json");
    let o = specscope(&[
        "analyze",
        fixture("tiny/model.safetensors").to_str().unwrap(),
        "--format",
        "json",
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    out
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn write_json(p: &Path, v: &Value) {
    std::fs::write(p, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

fn config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn check(report: &Path, cfg: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "check",
        report.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "-q",
    ];
    args.extend_from_slice(extra);
    specscope(&args)
}

fn assert_no_panic(o: &Output) {
    assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
}

/// The tiny model's alpha values by name, for building rules that must
/// pass or fail.
fn alphas(report: &Path) -> Vec<(String, f64)> {
    read_json(report)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_string(),
                l["alpha"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn passing_rules_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let rep = tiny_report(dir.path());
    let a = alphas(&rep);
    let lo = a.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
    let hi = a.iter().map(|x| x.1).fold(0.0, f64::max);
    let cfg = config(
        dir.path(),
        "ok.toml",
        &format!(
            "[[rule]]\nname = \"alpha\"\nkind = \"range\"\nmetric = \"alpha\"\nmin = {}\nmax = {}\n\n\
             [[rule]]\nname = \"mean\"\nkind = \"range\"\nscope = \"model\"\nmetric = \"alpha\"\nmin = 1\n",
            lo - 0.01,
            hi + 0.01
        ),
    );
    let o = check(&rep, &cfg, &[]);
    assert_eq!(o.status.code(), Some(PASS), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("PASS  alpha (line 1):"), "{out}");
    assert!(
        out.contains("PASS  mean (line 8): alpha ≥ 1 on the model"),
        "{out}"
    );
    assert!(
        out.contains("2 rules: 2 passed, 0 failed (0 violations in 15 checks, 0 skipped)"),
        "{out}"
    );
}

#[test]
fn a_violation_exits_1_and_names_each_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let rep = tiny_report(dir.path());
    let a = alphas(&rep);
    let low: Vec<&(String, f64)> = a.iter().filter(|x| x.1 < 2.0).collect();
    assert!(
        !low.is_empty() && low.len() < a.len(),
        "fixture has mixed alphas"
    );
    let cfg = config(
        dir.path(),
        "c.toml",
        "# gates\n[[rule]]\nname = \"alpha-range\"\nkind = \"range\"\nmetric = \"alpha\"\nmin = 2.0\nmax = 6.0\n",
    );
    let o = check(&rep, &cfg, &[]);
    assert_eq!(o.status.code(), Some(VIOLATION), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "FAIL  alpha-range (line 2): 2 ≤ alpha ≤ 6 on {} matrices: {} violations",
            a.len(),
            low.len()
        )),
        "{out}"
    );
    for (name, alpha) in &low {
        let line = format!("      {name}: alpha = ");
        let at = out
            .find(&line)
            .unwrap_or_else(|| panic!("{name} not named: {out}"));
        let rest = &out[at + line.len()..];
        let (shown, tail) = rest.split_once(' ').unwrap();
        let shown: f64 = shown.parse().unwrap();
        // Shown with 6 significant digits.
        assert!((shown - alpha).abs() < 1e-5 * alpha, "{shown} vs {alpha}");
        assert!(tail.starts_with("< min 2\n"), "{tail}");
    }
    // The same rules on the checkpoint itself (check runs the analysis):
    // the same verdict and the same lines.
    let o2 = check(&fixture("tiny/model.safetensors"), &cfg, &[]);
    assert_eq!(o2.status.code(), Some(VIOLATION));
    let strip = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&stdout(&o2)), strip(&out));
}

#[test]
fn json_junit_and_github_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let rep = tiny_report(dir.path());
    let n = alphas(&rep).len();
    let low = alphas(&rep).iter().filter(|x| x.1 < 2.0).count();
    let cfg = config(
        dir.path(),
        "c.toml",
        "[[rule]]\nname = \"alpha <range>\"\nkind = \"range\"\nmetric = \"alpha\"\nmin = 2.0\n\n\
         [[rule]]\nname = \"attn-rank\"\nkind = \"range\"\nmetric = \"stable_rank\"\nselect = 'attn\\.'\nexclude = 'qkv'\nmin = 1\n\n\
         [[rule]]\nname = \"nothing\"\nkind = \"range\"\nmetric = \"alpha\"\nselect = '^no-such-matrix$'\nmin = 1\n",
    );
    let junit = dir.path().join("junit.xml");
    let json_out = dir.path().join("check.json");
    let o = check(
        &rep,
        &cfg,
        &[
            "--format",
            "json",
            "-o",
            json_out.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
            "--github",
        ],
    );
    assert_eq!(o.status.code(), Some(VIOLATION), "{}", stderr(&o));

    // JSON: the same counts, per-check values.
    let v = read_json(&json_out);
    assert_eq!(v["command"], "check");
    assert_eq!(v["passed"], false);
    let rules = v["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0]["violations"], low);
    assert_eq!(rules[0]["checks"].as_array().unwrap().len(), n);
    // attn. but not qkv: the two attn.out matrices.
    let subjects: Vec<&str> = rules[1]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["blocks.0.attn.out", "blocks.1.attn.out"]);
    assert_eq!(rules[1]["status"], "pass");
    // A rule that selects nothing fails instead of passing vacuously.
    assert_eq!(rules[2]["status"], "fail");
    assert_eq!(rules[2]["checks"][0]["subject"], "(selection)");
    assert_eq!(v["counts"]["violations"], low + 1);

    // JUnit: well-formed XML, one suite per rule, one case per check,
    // counts that add up, failures carrying the message.
    let text = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("JUnit is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let attr = |n: roxmltree::Node, a: &str| n.attribute(a).unwrap().parse::<usize>().unwrap();
    let suites: Vec<_> = root
        .children()
        .filter(|c| c.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 3);
    assert_eq!(suites[0].attribute("name"), Some("alpha <range>"));
    let mut total = (0, 0);
    for s in &suites {
        let cases: Vec<_> = s
            .children()
            .filter(|c| c.has_tag_name("testcase"))
            .collect();
        let failed = cases
            .iter()
            .filter(|c| c.children().any(|x| x.has_tag_name("failure")))
            .count();
        assert_eq!(attr(*s, "tests"), cases.len());
        assert_eq!(attr(*s, "failures"), failed);
        total.0 += cases.len();
        total.1 += failed;
        for c in &cases {
            assert!(
                c.attribute("classname")
                    .unwrap()
                    .starts_with("specscope.check.")
            );
            assert!(c.attribute("name").is_some());
        }
    }
    assert_eq!((attr(root, "tests"), attr(root, "failures")), total);
    assert_eq!(total, (n + 2 + 1, low + 1));
    let failure = suites[0]
        .descendants()
        .find(|x| x.has_tag_name("failure"))
        .unwrap();
    assert!(failure.attribute("message").unwrap().contains("< min 2"));

    // GitHub: one ::error per violation at the rule's line, then a notice.
    let out = stdout(&o);
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(errors.len(), low + 1, "{out}");
    let cfg_s = cfg.to_str().unwrap();
    assert!(
        errors[0].starts_with(&format!(
            "::error file={cfg_s},line=1,title=specscope check%3A alpha <range>::"
        )),
        "{}",
        errors[0]
    );
    assert!(errors.last().unwrap().contains(",line=15,"), "{out}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("::notice title=specscope check::")
    );
}

#[test]
fn drift_against_a_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let rep = tiny_report(dir.path());
    let mut base = read_json(&rep);
    // Move one matrix's log_norm by 5%, drop another from the baseline.
    let layers = base["layers"].as_array_mut().unwrap();
    let moved = layers[2]["name"].as_str().unwrap().to_string();
    let x = layers[2]["log_norm"].as_f64().unwrap();
    layers[2]["log_norm"] = (x * 1.05).into();
    let dropped = layers.remove(5)["name"].as_str().unwrap().to_string();
    let base_path = dir.path().join("base.json");
    write_json(&base_path, &base);

    let rule = |tol: &str, missing: &str| {
        format!(
            "[[rule]]\nname = \"drift\"\nkind = \"drift\"\nmetric = \"log_norm\"\n{tol}\n{missing}\n"
        )
    };
    let b = base_path.to_str().unwrap();
    // rel 1%: the moved matrix and the dropped one fail.
    let cfg = config(dir.path(), "d.toml", &rule("rel = 0.01", ""));
    let o = check(&rep, &cfg, &["--baseline", b]);
    assert_eq!(o.status.code(), Some(VIOLATION), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("2 violations"), "{out}");
    assert!(
        out.contains(&format!("      {moved}: log_norm = ")),
        "{out}"
    );
    assert!(out.contains("> tolerance"), "{out}");
    assert!(
        out.contains(&format!("      {dropped}: not in the baseline report")),
        "{out}"
    );
    // missing = "skip": only the moved one fails, the dropped one is skipped.
    let cfg = config(
        dir.path(),
        "d2.toml",
        &rule("rel = 0.01", "missing = \"skip\""),
    );
    let o = check(&rep, &cfg, &["--baseline", b]);
    assert_eq!(o.status.code(), Some(VIOLATION));
    assert!(
        stdout(&o).contains("1 violation, 1 skipped"),
        "{}",
        stdout(&o)
    );
    // rel 10%: within tolerance.
    let cfg = config(
        dir.path(),
        "d3.toml",
        &rule("rel = 0.1", "missing = \"skip\""),
    );
    let o = check(&rep, &cfg, &["--baseline", b]);
    assert_eq!(o.status.code(), Some(PASS), "{}", stdout(&o));
    // An absolute tolerance just below the moved amount fails, just above passes.
    let delta = (x * 0.05).abs();
    for (abs, code) in [(delta * 0.99, VIOLATION), (delta * 1.01, PASS)] {
        let cfg = config(
            dir.path(),
            "d4.toml",
            &rule(&format!("abs = {abs}"), "missing = \"skip\""),
        );
        let o = check(&rep, &cfg, &["--baseline", b]);
        assert_eq!(o.status.code(), Some(code), "abs {abs}: {}", stdout(&o));
    }
    // Model-level drift on a summary field.
    let cfg = config(
        dir.path(),
        "d5.toml",
        "[[rule]]\nname = \"m\"\nkind = \"drift\"\nscope = \"model\"\nmetric = \"alpha\"\nabs = 0\n",
    );
    let o = check(&rep, &cfg, &["--baseline", rep.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(PASS), "{}", stdout(&o));
}

#[test]
fn missing_values_fail_or_skip() {
    let dir = tempfile::tempdir().unwrap();
    let rep = tiny_report(dir.path());
    let mut v = read_json(&rep);
    v["layers"][0]["alpha"] = Value::Null;
    v["layers"][0]["error"] = "power-law fit needs at least 2 eigenvalues".into();
    let p = dir.path().join("null.json");
    write_json(&p, &v);
    let cfg = config(
        dir.path(),
        "c.toml",
        "[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"alpha\"\nmin = 0\n",
    );
    let o = check(&p, &cfg, &[]);
    assert_eq!(o.status.code(), Some(VIOLATION));
    assert!(
        stdout(&o).contains(
            "blocks.0.attn.out: alpha has no value (power-law fit needs at least 2 eigenvalues)"
        ),
        "{}",
        stdout(&o)
    );
    let cfg = config(
        dir.path(),
        "c2.toml",
        "[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"alpha\"\nmin = 0\nmissing = \"skip\"\n",
    );
    let o = check(&p, &cfg, &[]);
    assert_eq!(o.status.code(), Some(PASS), "{}", stdout(&o));
    assert!(stdout(&o).contains("      skipped blocks.0.attn.out: alpha has no value"));
}

/// Rules address fields by name, so a newer report's fields (the fitter's
/// density, k_q at 4 bits, …) work without a code change.
#[test]
fn rules_on_fields_added_later() {
    let dir = tempfile::tempdir().unwrap();
    let rep = tiny_report(dir.path());
    let mut v = read_json(&rep);
    for (i, l) in v["layers"].as_array_mut().unwrap().iter_mut().enumerate() {
        l["density"] = (0.05 * i as f64).into();
        l["k_q4"] = (i as u64).into();
    }
    v["summary"]["density"] = 0.3.into();
    let p = dir.path().join("new.json");
    write_json(&p, &v);
    let cfg = config(
        dir.path(),
        "c.toml",
        "[[rule]]\nname = \"dense\"\nkind = \"range\"\nmetric = \"density\"\nmax = 0.5\n\n\
         [[rule]]\nname = \"kq\"\nkind = \"range\"\nmetric = \"k_q4\"\nmin = 1\nselect = 'embed'\n\n\
         [[rule]]\nname = \"model-density\"\nkind = \"range\"\nscope = \"model\"\nmetric = \"density\"\nmax = 0.2\n",
    );
    let o = check(&p, &cfg, &["--format", "json"]);
    assert_eq!(o.status.code(), Some(VIOLATION), "{}", stderr(&o));
    let j = json(&o);
    // density 0.05·i > 0.5 for i ≥ 11: layers 11, 12, 13.
    assert_eq!(j["rules"][0]["violations"], 3);
    assert_eq!(j["rules"][1]["status"], "pass");
    assert_eq!(
        j["rules"][2]["checks"][0]["message"],
        "density = 0.3 > max 0.2"
    );
}

/// Every config error: exit 2, `file:line:column: message`, no panic, and
/// nothing analysed first (a broken config costs nothing).
#[test]
fn config_errors_exit_2_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let rep = tiny_report(dir.path());
    let head = "[[rule]]\nname = \"r\"\n";
    let cases: &[(&str, String, &str)] = &[
        (
            "unknown key",
            format!("{head}kind = \"range\"\nmetric = \"alpha\"\nmin = 1\nmaximum = 3\n"),
            ":6:1: unknown field `maximum`, expected one of",
        ),
        (
            "wrong type",
            format!("{head}kind = \"range\"\nmetric = \"alpha\"\nmin = \"two\"\n"),
            ":5:7: invalid type: string \"two\", expected f64",
        ),
        (
            "wrong type for a name",
            format!("{head}kind = \"range\"\nmetric = 3\nmin = 1\n"),
            ":4:10: invalid type: integer `3`, expected a string",
        ),
        (
            "unknown kind",
            format!("{head}kind = \"between\"\n"),
            ":3:8: unknown variant `between`, expected one of `range`, `drift`, `predicted-loss`, `surviving-modes`",
        ),
        (
            "bad regex",
            format!("{head}kind = \"range\"\nmetric = \"alpha\"\nselect = 'attn[.'\nmin = 1\n"),
            ":5:10: rule `r`: `select` is not a valid regex `attn[.`: error: unclosed character class",
        ),
        (
            "bad exclude regex",
            format!("{head}kind = \"range\"\nmetric = \"alpha\"\nexclude = '(?<x'\nmin = 1\n"),
            ":5:11: rule `r`: `exclude` is not a valid regex",
        ),
        (
            "TOML syntax",
            format!("{head}kind = \"range\"\nmin = = 1\n"),
            ":4:7: ",
        ),
        (
            "a key of another kind",
            format!("{head}kind = \"range\"\nmetric = \"alpha\"\nmin = 1\nrel = 0.1\n"),
            ":6:7: rule `r`: key `rel` does not apply to kind `range`",
        ),
        (
            "no limits",
            format!("{head}kind = \"range\"\nmetric = \"alpha\"\n"),
            ":1:1: rule `r`: kind `range` needs `min`, `max` or both",
        ),
        (
            "no metric",
            format!("{head}kind = \"range\"\nmin = 1\n"),
            ":1:1: rule `r`: kind `range` needs `metric`",
        ),
        (
            "min above max",
            format!("{head}kind = \"range\"\nmetric = \"alpha\"\nmin = 5\nmax = 2\n"),
            ":5:7: rule `r`: `min` (5) is greater than `max` (2)",
        ),
        (
            "unknown per-matrix field",
            format!("{head}kind = \"range\"\nmetric = \"alpah\"\nmin = 1\n"),
            ":4:10: rule `r`: the report has no per-matrix field `alpah` (did you mean `alpha`?); its numeric fields are: layer_id, D, M, N,",
        ),
        (
            "unknown model field",
            format!("{head}kind = \"range\"\nscope = \"model\"\nmetric = \"sparsity\"\nmax = 1\n"),
            ":5:10: rule `r`: the report has no model (summary) field `sparsity`; its numeric fields are: log_norm, alpha,",
        ),
        (
            "non-numeric field",
            format!("{head}kind = \"range\"\nmetric = \"status\"\nmin = 1\n"),
            ":4:10: rule `r`: per-matrix field `status` of the report is not numeric",
        ),
        (
            "drift without a baseline",
            format!("{head}kind = \"drift\"\nmetric = \"alpha\"\nabs = 0.1\n"),
            ":1:1: rule `r`: kind `drift` needs a baseline report: pass --baseline REPORT.json",
        ),
        (
            "predicted loss on a report without eigenvalues",
            format!("{head}kind = \"predicted-loss\"\nrank_fraction = 0.5\nmax = 0.01\n"),
            ":1:1: rule `r`: kind `predicted-loss` needs each matrix's eigenvalues, and a JSON report holds none: give the checkpoint itself, or `--eigs DIR`",
        ),
        (
            "surviving modes at bits the report has no column for",
            format!("{head}kind = \"surviving-modes\"\nbits = 5\nmin = 8\n"),
            ":1:1: rule `r`: kind `surviving-modes` needs each matrix's eigenvalues",
        ),
        (
            "one bit",
            format!("{head}kind = \"surviving-modes\"\nbits = 1\nmin = 8\n"),
            ":4:8: rule `r`: `bits` must be between 2 and 16, not 1",
        ),
        (
            "rank fraction above 1",
            format!("{head}kind = \"predicted-loss\"\nrank_fraction = 1.5\nmax = 0.01\n"),
            ":4:17: rule `r`: `rank_fraction` must be in (0, 1], not 1.5",
        ),
        (
            "rank fraction 0",
            format!("{head}kind = \"predicted-loss\"\nrank_fraction = 0\nmax = 0.01\n"),
            ":4:17: rule `r`: `rank_fraction` must be in (0, 1], not 0",
        ),
        (
            "a quantizer on a rank target",
            format!(
                "{head}kind = \"predicted-loss\"\nrank_fraction = 0.5\nscheme = \"asym\"\nmax = 0.01\n"
            ),
            ":5:10: rule `r`: key `scheme` describes a quantizer; it applies only with `bits`",
        ),
        (
            "a group without group granularity",
            format!(
                "{head}kind = \"surviving-modes\"\nbits = 4\ngranularity = \"channel\"\ngroup = 32\nmin = 1\n"
            ),
            ":6:9: rule `r`: `group` needs `granularity = \"group\"`",
        ),
        (
            "a group of 0",
            format!("{head}kind = \"surviving-modes\"\nbits = 4\ngroup = 0\nmin = 1\n"),
            ":5:9: rule `r`: `group` must be at least 1, not 0",
        ),
        (
            "an unknown scheme",
            format!("{head}kind = \"surviving-modes\"\nbits = 4\nscheme = \"nf4\"\nmin = 1\n"),
            ":5:10: unknown variant `nf4`, expected `sym` or `asym`",
        ),
        (
            "an unknown measure",
            format!(
                "{head}kind = \"predicted-loss\"\nbits = 4\nmeasure = \"perplexity\"\nmax = 1\n"
            ),
            ":5:11: unknown variant `perplexity`, expected `loss` or `weight-error`",
        ),
        (
            "a negative mode count",
            format!("{head}kind = \"surviving-modes\"\nbits = 4\nmin = -1\n"),
            ":5:7: rule `r`: `min` must be ≥ 0 (a count of modes), not -1",
        ),
        (
            "a bound on predicted loss",
            format!("{head}kind = \"predicted-loss\"\nbits = 4\nbound = \"weyl\"\nmax = 1\n"),
            ":5:9: rule `r`: key `bound` does not apply to kind `predicted-loss`",
        ),
        (
            "sparsity out of range",
            format!("{head}kind = \"predicted-loss\"\nsparsity = 1.5\nmax = 0.01\n"),
            ":4:12: rule `r`: `sparsity` must be in [0, 1), not 1.5",
        ),
        (
            "duplicate names",
            format!(
                "{head}kind = \"range\"\nmetric = \"alpha\"\nmin = 1\n{head}kind = \"range\"\nmetric = \"D\"\nmin = 0\n"
            ),
            ":6:1: rule name `r` is used twice (first on line 1); names must be unique",
        ),
        (
            "model scope with a selection",
            format!(
                "{head}kind = \"range\"\nscope = \"model\"\nmetric = \"alpha\"\nselect = 'x'\nmin = 1\n"
            ),
            ":6:10: rule `r`: key `select` selects matrices; it does not apply to scope `model`",
        ),
        (
            "no rules",
            String::new(),
            ":1:1: no rules: add at least one [[rule]] table",
        ),
    ];
    for (i, (what, text, want)) in cases.iter().enumerate() {
        let cfg = config(dir.path(), &format!("c{i}.toml"), text);
        let o = check(&rep, &cfg, &[]);
        assert_eq!(o.status.code(), Some(ERROR), "{what}: {}", stdout(&o));
        assert_no_panic(&o);
        let err = stderr(&o);
        let prefix = format!("specscope: error: {}{want}", cfg.display());
        assert!(
            err.starts_with(&prefix),
            "{what}:\n  got  {err}\n  want {prefix}"
        );
        assert!(stdout(&o).is_empty(), "{what}: nothing on stdout");
    }
}

#[test]
fn other_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let rep = tiny_report(dir.path());
    let good = config(
        dir.path(),
        "ok.toml",
        "[[rule]]\nname = \"r\"\nkind = \"drift\"\nmetric = \"alpha\"\nabs = 1\n",
    );
    let cases: Vec<(&str, Vec<String>, String)> = vec![
        (
            "missing config",
            vec![
                "--config".into(),
                dir.path().join("nope.toml").display().to_string(),
            ],
            "nope.toml: cannot read".into(),
        ),
        (
            "missing checkpoint",
            vec!["--config".into(), good.display().to_string()],
            "no such file or directory".into(),
        ),
    ];
    for (what, args, want) in &cases {
        let target = if *what == "missing checkpoint" {
            dir.path().join("missing.safetensors")
        } else {
            rep.clone()
        };
        let mut a = vec![
            "check".to_string(),
            target.display().to_string(),
            "-q".into(),
        ];
        a.extend(args.iter().cloned());
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = specscope(&a);
        assert_eq!(o.status.code(), Some(ERROR), "{what}");
        assert!(stderr(&o).contains(want.as_str()), "{what}: {}", stderr(&o));
        assert_no_panic(&o);
    }
    // A JSON file that is not an analyze report.
    let not = dir.path().join("other.json");
    std::fs::write(&not, r#"{"command": "inspect", "tensors": []}"#).unwrap();
    let o = check(&not, &good, &[]);
    assert_eq!(o.status.code(), Some(ERROR));
    assert!(
        stderr(&o)
            .contains("other.json: not a specscope analyze report (its command is \"inspect\")"),
        "{}",
        stderr(&o)
    );
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"layers\": [").unwrap();
    let o = check(&broken, &good, &[]);
    assert_eq!(o.status.code(), Some(ERROR));
    assert!(
        stderr(&o).contains("broken.json: not JSON"),
        "{}",
        stderr(&o)
    );
    // A baseline that lacks the drift metric (an older report).
    let mut v = read_json(&rep);
    for l in v["layers"].as_array_mut().unwrap() {
        l.as_object_mut().unwrap().remove("alpha");
    }
    let old = dir.path().join("old.json");
    write_json(&old, &v);
    let o = check(&rep, &good, &["--baseline", old.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(ERROR));
    assert!(
        stderr(&o).contains(":4:10: rule `r`: the baseline report has no per-matrix field `alpha`"),
        "{}",
        stderr(&o)
    );
    // A checkpoint whose only matrix cannot be analysed (NaN weights).
    let nan = dir.path().join("nan.safetensors");
    let mut v = values(12 * 8, 3);
    v[5] = f64::NAN;
    write(
        &nan,
        &[("w.weight", specscope::load::DType::F32, &[12, 8], v)],
    );
    let o = check(&nan, &good, &[]);
    assert_eq!(o.status.code(), Some(ERROR), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("nan.safetensors: no weight matrix could be analysed"),
        "{}",
        stderr(&o)
    );
    // --github and JSON on the same standard output.
    let o = check(&rep, &good, &["--github", "--format", "json"]);
    assert_eq!(o.status.code(), Some(ERROR));
    assert!(
        stderr(&o).contains("write the JSON with -o FILE"),
        "{}",
        stderr(&o)
    );
}

/// The example rules file in docs/check-and-report.md, run on MiniLM with
/// its own report as the baseline, prints exactly the summary the doc
/// shows (after the first line, which names local paths).
#[test]
fn docs_example_config() {
    let Some(model) = checkpoint("minilm/model.safetensors") else {
        return;
    };
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/check-and-report.md"),
    )
    .unwrap();
    let block = |fence: &str, after: &str| -> String {
        let from = doc
            .find(after)
            .unwrap_or_else(|| panic!("`{after}` not in the doc"));
        let rest = &doc[from..];
        let start = rest.find(fence).unwrap() + fence.len();
        let len = rest[start..].find("```").unwrap();
        rest[start..start + len].to_string()
    };
    let toml = block("```toml\n", "### The rules file");
    let expected = block("```text\n", "the summary is:");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "specscope.toml", &toml);
    let base = dir.path().join("minilm.json");
    let o = specscope(&[
        "analyze",
        model.to_str().unwrap(),
        "--format",
        "json",
        "-q",
        "-o",
        base.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let o = check(&model, &cfg, &["--baseline", base.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(VIOLATION), "{}", stderr(&o));
    let got: Vec<String> = stdout(&o).lines().skip(1).map(String::from).collect();
    let want: Vec<String> = expected.lines().map(String::from).collect();
    assert_eq!(
        got, want,
        "docs/check-and-report.md's sample output is stale"
    );
}

/// The tiny model analysed once more, for the compression-target tests:
/// its report rows and, per row, the eigenvalues `--save-eigs` wrote and
/// (single-view matrices only) the decoded weights, row-major, rows ×
/// cols.
struct Tiny {
    report: PathBuf,
    eigs: PathBuf,
    rows: Vec<Value>,
    mu: Vec<Vec<f64>>,
    weights: Vec<Option<(Vec<f64>, usize)>>,
}

fn tiny_with_eigs(dir: &Path) -> Tiny {
    use specscope::load::{Checkpoint, MatrixData};
    use specscope::pipeline::{Preset, Selection, plan};
    let report = dir.join("tiny.json");
    let eigs = dir.join("eigs");
    let model = fixture("tiny/model.safetensors");
    let o = specscope(&[
        "analyze",
        model.to_str().unwrap(),
        "--format",
        "json",
        "-q",
        "-o",
        report.to_str().unwrap(),
        "--save-eigs",
        eigs.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows = read_json(&report)["layers"].as_array().unwrap().clone();
    let names: Vec<String> = rows
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    let stems = specscope::report::file_stems(names.iter().map(String::as_str).zip(0..));
    let mu = stems
        .iter()
        .map(|s| specscope::report::read_npy_f64(&eigs.join(format!("{s}.npy"))).unwrap())
        .collect();
    let ck = Checkpoint::open(&model).unwrap();
    let sel = Selection {
        include: None,
        exclude: None,
        conv: specscope::load::ConvMode::Pooled,
        preset: Preset::Default,
    };
    let jobs = plan(&ck, &sel).jobs;
    assert_eq!(jobs.len(), rows.len());
    let weights = jobs
        .iter()
        .zip(&names)
        .map(|(j, n)| {
            assert_eq!(&j.spec.name, n, "plan and report in the same order");
            if j.spec.views.len() != 1 {
                return None;
            }
            let t = &ck.tensors[j.tensor];
            let data = MatrixData {
                bytes: ck.file_of(t).unwrap().tensor_bytes(&t.header),
                dtype: &t.header.dtype,
                view: j.spec.views[0],
            };
            let mut w = vec![0.0; data.view.rows * data.view.cols];
            assert_eq!(data.read_rows(0, data.view.rows, &mut w), 0);
            Some((w, data.view.cols))
        })
        .collect();
    Tiny {
        report,
        eigs,
        rows,
        mu,
        weights,
    }
}

/// Each check's value by matrix, from `check --format json`.
fn check_values(j: &Value, rule: usize) -> Vec<(String, Option<f64>, String)> {
    j["rules"][rule]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["subject"].as_str().unwrap().to_string(),
                c["value"].as_f64(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Relative agreement between the value `check` reports and the one
/// computed here from the same eigenvalues and weights with the same
/// theory functions: both runs do identical f64 arithmetic, and the JSON
/// round trip of an f64 is exact, so only 1e-12 of slack (none expected).
fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

/// `predicted-loss` and `surviving-modes` give the theory's numbers
/// (`theory::predict`, `k_bbp`, `k_weyl` on the analysis's eigenvalues
/// and the weights' ranges) and pass or fail at thresholds taken from
/// those same numbers: the test checks the wiring, not the theory.
#[test]
fn compression_target_rules_use_the_theory() {
    use specscope::fit::noise::Dims;
    use specscope::fit::spectral_fit;
    use specscope::theory::quant::{Granularity, QuantSpec, Scheme, k_weyl, range_stats};
    use specscope::theory::{Keep, Request, predict};
    let dir = tempfile::tempdir().unwrap();
    let t = tiny_with_eigs(dir.path());
    let model = fixture("tiny/model.safetensors");
    let n = t.rows.len();
    let dims = |i: usize| {
        Dims::of(
            t.rows[i]["N"].as_u64().unwrap() as usize,
            t.rows[i]["M"].as_u64().unwrap() as usize,
        )
    };
    let fits: Vec<_> = (0..n)
        .map(|i| spectral_fit(&t.mu[i], dims(i), None, None))
        .collect();
    let pred = |i: usize, req: Request, q: Option<&QuantSpec>| {
        let st = q.map(|q| {
            let (w, cols) = t.weights[i].as_ref().expect("single view");
            range_stats(w, *cols, q.scheme, q.granularity, q.group)
        });
        predict(&t.mu[i], dims(i), &fits[i], &req, st.as_ref())
    };
    let keep = |r: usize| Request {
        keep: Some(Keep::Rank(r)),
        quant: None,
    };
    // Rank fraction 0.5 keeps ⌈M/2⌉ modes: the exact truncation energy.
    let half: Vec<f64> = (0..n)
        .map(|i| pred(i, keep(t.mu[i].len().div_ceil(2)), None).err_rel)
        .collect();
    let (worst, vmax) = half
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    // Sparsity 0.98 on stem.conv, the one matrix with a steepening break
    // (k_* = 6): its reading-(B) a = 0.47 is ≤ 1, outside the theory's
    // domain, so there is no loss prediction and the reason says so.
    let conv = t
        .rows
        .iter()
        .position(|r| r["name"] == "stem.conv")
        .unwrap();
    let sparse = pred(
        conv,
        Request {
            keep: Some(Keep::Sparsity(0.98)),
            quant: None,
        },
        None,
    );
    assert_eq!(sparse.dl_frac, None);
    let why = sparse.model.as_ref().unwrap_err().to_string();
    assert!(why.contains("≤ 1") && why.contains("domain"), "{why}");
    // 4-bit symmetric per channel: the report's own k_q4 for every matrix.
    let kq4: Vec<f64> = t.rows.iter().map(|r| r["k_q4"].as_f64().unwrap()).collect();
    let kmin = kq4.iter().copied().fold(f64::INFINITY, f64::min);
    // 3-bit asymmetric per tensor, Weyl, on the single-view matrices: a
    // quantizer the analysis never saw, so `check` reads the weights again.
    let q3 = QuantSpec::new(3, Scheme::Asym, Granularity::Tensor, 1).unwrap();
    let single: Vec<usize> = (0..n).filter(|&i| t.weights[i].is_some()).collect();
    assert_eq!(single.len(), n - 1, "all but the pooled convolution");
    let weyl3 = |i: usize| {
        let (w, cols) = t.weights[i].as_ref().unwrap();
        let st = range_stats(w, *cols, q3.scheme, q3.granularity, q3.group);
        k_weyl(&t.mu[i], st.noise_variance(&q3), dims(i)) as f64
    };
    let wmin = single
        .iter()
        .map(|&i| weyl3(i))
        .fold(f64::INFINITY, f64::min);
    // 6-bit asymmetric per group of 16: the predicted weight error.
    let q6 = QuantSpec::new(6, Scheme::Asym, Granularity::Group, 16).unwrap();
    let err6 = |i: usize| {
        pred(
            i,
            Request {
                keep: None,
                quant: Some(q6),
            },
            Some(&q6),
        )
        .err_rel
    };
    let emax = single.iter().map(|&i| err6(i)).fold(0.0, f64::max);
    let rules = |tight: bool| {
        // tight: every limit moved just past the extreme value.
        let below = |v: f64| if tight { v * (1.0 - 1e-6) } else { v };
        let above = |v: f64| if tight { v + 1.0 } else { v };
        format!(
            "[[rule]]\nname = \"half-rank\"\nkind = \"predicted-loss\"\nrank_fraction = 0.5\nmeasure = \"weight-error\"\nmax = {:e}\n\n\
             [[rule]]\nname = \"kq4\"\nkind = \"surviving-modes\"\nbits = 4\nmin = {}\n\n\
             [[rule]]\nname = \"weyl3\"\nkind = \"surviving-modes\"\nexclude = '^stem'\nbits = 3\nscheme = \"asym\"\ngranularity = \"tensor\"\nbound = \"weyl\"\nmin = {}\n\n\
             [[rule]]\nname = \"err6\"\nkind = \"predicted-loss\"\nexclude = '^stem'\nbits = 6\nscheme = \"asym\"\ngroup = 16\nmeasure = \"weight-error\"\nmax = {:e}\n",
            below(vmax),
            above(kmin),
            above(wmin),
            below(emax),
        )
    };
    let pass = config(dir.path(), "pass.toml", &rules(false));
    let o = check(&model, &pass, &["--format", "json"]);
    assert_eq!(o.status.code(), Some(PASS), "{}{}", stdout(&o), stderr(&o));
    let j = json(&o);
    let v = check_values(&j, 0);
    assert_eq!(v.len(), n);
    for (i, (name, val, _)) in v.iter().enumerate() {
        assert!(
            same(val.unwrap(), half[i]),
            "{name}: {val:?} vs {}",
            half[i]
        );
    }
    for (i, (name, val, _)) in check_values(&j, 1).iter().enumerate() {
        assert_eq!(val.unwrap(), kq4[i], "{name}: check's k_q4 is analyze's");
    }
    for ((name, val, _), &i) in check_values(&j, 2).iter().zip(&single) {
        assert_eq!(val.unwrap(), weyl3(i), "{name}");
    }
    for ((name, val, _), &i) in check_values(&j, 3).iter().zip(&single) {
        assert!(same(val.unwrap(), err6(i)), "{name}");
    }
    // Every limit just past its extreme: each rule fails on exactly the
    // matrices at the extreme.
    let fail = config(dir.path(), "fail.toml", &rules(true));
    let o = check(&model, &fail, &["--format", "json"]);
    assert_eq!(o.status.code(), Some(VIOLATION), "{}", stderr(&o));
    let j = json(&o);
    let failed = |r: usize| -> Vec<String> {
        check_values(&j, r)
            .into_iter()
            .filter(|c| c.2 == "fail")
            .map(|c| c.0)
            .collect()
    };
    assert_eq!(failed(0), vec![t.rows[worst]["name"].as_str().unwrap()]);
    let at_min = kq4.iter().filter(|k| **k == kmin).count();
    assert_eq!(failed(1).len(), at_min);
    let at_wmin = single.iter().filter(|&&i| weyl3(i) == wmin).count();
    assert_eq!(failed(2).len(), at_wmin);
    assert_eq!(failed(3).len(), 1);
    assert_eq!(j["counts"]["rules_failed"], 4);
    // A loss rule requires a valid prediction: stem.conv has none (a ≤ 1),
    // so the rule fails there, naming the reason, unless it skips.
    for (missing, code, status) in [
        ("", VIOLATION, "fail"),
        ("missing = \"skip\"\n", PASS, "skip"),
    ] {
        let cfg = config(
            dir.path(),
            "conv.toml",
            &format!(
                "[[rule]]\nname = \"conv-loss\"\nkind = \"predicted-loss\"\nselect = '^stem\\.conv$'\nsparsity = 0.98\nmax = 0.5\n{missing}"
            ),
        );
        let o = check(&model, &cfg, &["--format", "json"]);
        assert_eq!(o.status.code(), Some(code), "{}", stderr(&o));
        let c = &json(&o)["rules"][0]["checks"][0];
        assert_eq!(c["status"], status, "{c}");
        assert!(c["message"].as_str().unwrap().contains("domain"), "{c}");
    }
}

/// The same rules on the JSON report: with `--eigs` the eigenvalue rules
/// give the checkpoint's numbers and `surviving-modes` at 4 bits reads the
/// report's k_q4; a quantizer whose ranges only the weights hold is a
/// config error naming the rule's line; the loss measure without a loss
/// model fails with the reason (or is skipped when asked).
#[test]
fn compression_rules_on_a_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let t = tiny_with_eigs(dir.path());
    let model = fixture("tiny/model.safetensors");
    let eigs = t.eigs.to_str().unwrap();
    let cfg = config(
        dir.path(),
        "c.toml",
        "[[rule]]\nname = \"half\"\nkind = \"predicted-loss\"\nrank_fraction = 0.5\nmeasure = \"weight-error\"\nmax = 1\n\n\
         [[rule]]\nname = \"kq4\"\nkind = \"surviving-modes\"\nbits = 4\nmin = 0\n\n\
         [[rule]]\nname = \"embed-loss\"\nkind = \"predicted-loss\"\nselect = '^embed$'\nrank_fraction = 0.25\nmax = 1\n\n\
         [[rule]]\nname = \"embed-loss-skip\"\nkind = \"predicted-loss\"\nselect = '^embed$'\nrank_fraction = 0.25\nmax = 1\nmissing = \"skip\"\n",
    );
    let from_json = check(&t.report, &cfg, &["--eigs", eigs, "--format", "json"]);
    let from_model = check(&model, &cfg, &["--format", "json"]);
    assert_eq!(
        from_json.status.code(),
        Some(VIOLATION),
        "{}",
        stderr(&from_json)
    );
    assert_eq!(from_model.status.code(), Some(VIOLATION));
    let (a, b) = (json(&from_json), json(&from_model));
    for r in 0..4 {
        assert_eq!(a["rules"][r]["checks"], b["rules"][r]["checks"], "rule {r}");
    }
    // embed's spectrum flattens at its break: no loss model, and the
    // message says so.
    let c = &a["rules"][2]["checks"][0];
    assert_eq!(c["status"], "fail");
    let msg = c["message"].as_str().unwrap();
    assert!(msg.starts_with("cannot predict: no loss model:"), "{msg}");
    assert_eq!(a["rules"][3]["checks"][0]["status"], "skip");
    // Without --eigs only the report's k_q4 is left.
    let kq = config(
        dir.path(),
        "kq.toml",
        "[[rule]]\nname = \"kq4\"\nkind = \"surviving-modes\"\nbits = 4\nmin = 0\n",
    );
    let o = check(&t.report, &kq, &["--format", "json"]);
    assert_eq!(o.status.code(), Some(PASS), "{}", stderr(&o));
    assert_eq!(json(&o)["rules"][0]["checks"], b["rules"][1]["checks"]);
    // A quantizer the report has no column for needs the weights.
    let asym = config(
        dir.path(),
        "asym.toml",
        "[[rule]]\nname = \"ok\"\nkind = \"surviving-modes\"\nbits = 8\nmin = 0\n\n\
         [[rule]]\nname = \"q\"\nkind = \"surviving-modes\"\nbits = 4\nscheme = \"asym\"\nmin = 1\n",
    );
    let o = check(&t.report, &asym, &["--eigs", eigs]);
    assert_eq!(o.status.code(), Some(ERROR));
    let want = format!(
        "specscope: error: {}:7:1: rule `q`: 4-bit asym per channel quantization needs the weights' ranges, and a JSON report holds no weights: give the checkpoint itself",
        asym.display()
    );
    assert!(stderr(&o).starts_with(&want), "{}", stderr(&o));
    // --eigs is for a JSON report.
    let o = check(&model, &kq, &["--eigs", eigs]);
    assert_eq!(o.status.code(), Some(ERROR));
    assert!(stderr(&o).contains("--eigs"), "{}", stderr(&o));
}

/// The example config the README shows, run on the checkpoint it names:
/// every rule passes, with the summary the README prints.
#[test]
fn readme_example_config_passes_on_the_tiny_fixture() {
    let cfg = fixture("tiny/specscope.toml");
    let o = specscope(&[
        "check",
        fixture("tiny/model.safetensors").to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("3 rules: 3 passed, 0 failed"), "{out}");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        readme.contains(text.trim_end()),
        "README's example config differs from fixtures/tiny/specscope.toml"
    );
}

/// A config whose rules read only λ_max: `--method auto` computes the top
/// of each spectrum by block Lanczos (M = 600 ≥ AUTO_PARTIAL_MIN_M) and
/// says so, per matrix; the value it checks is the exact λ_max to 1e-9
/// relative (the rule passes at 1 + 1e-9 of the exact value and fails at
/// 1 − 1e-9). Two matrices: one with a separated top (uniform noise plus a
/// rank-one spike), where Lanczos converges, and plain uniform noise,
/// whose clustered top does not converge within half the exact cost, so
/// the exact spectrum answers and the note says so.
#[test]
fn rules_on_the_top_of_the_spectrum_take_lanczos() {
    use specscope::load::DType;
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let (n, m) = (900, 600);
    let noise = values(n * m, 5);
    let spiked: Vec<f64> = (0..n * m)
        .map(|x| {
            noise[x] + 0.2 * (1.0 + (x / m) as f64 / n as f64) * (1.0 - (x % m) as f64 / m as f64)
        })
        .collect();
    write(
        &model,
        &[
            ("noise", DType::F32, &[n, m], noise.clone()),
            ("spiked", DType::F32, &[n, m], spiked),
        ],
    );
    let exact = specscope(&[
        "analyze",
        model.to_str().unwrap(),
        "--method",
        "exact",
        "--backend",
        "cpu",
        "--format",
        "json",
        "-q",
    ]);
    let layers = json(&exact)["layers"].as_array().unwrap().clone();
    let lambda = layers
        .iter()
        .map(|l| l["lambda_max"].as_f64().unwrap())
        .fold(0.0, f64::max);
    for (factor, code) in [(1.0 + 1e-9, 0), (1.0 - 1e-9, 1)] {
        let cfg = config(
            dir.path(),
            "top.toml",
            &format!(
                "[[rule]]\nname = \"top\"\nkind = \"range\"\nmetric = \"lambda_max\"\nmax = {:e}\n",
                lambda * factor
            ),
        );
        // Without -q: the notes are the point.
        let o = specscope(&[
            "check",
            model.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--backend",
            "cpu",
        ]);
        assert_eq!(o.status.code(), Some(code), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("computes it by block Lanczos"), "{err}");
        // Per matrix: which method auto took, why, and for which matrices.
        assert!(
            err.contains("auto: block Lanczos for the top 1 (only they are needed")
                && err.contains("— 1 matrix: `spiked`"),
            "{err}"
        );
        assert!(
            err.contains("auto: lanczos did not converge on the top 1 within")
                && err.contains("exact spectrum instead — 1 matrix: `noise`"),
            "{err}"
        );
    }
    // `check --format json` carries them too.
    let o = specscope(&[
        "check",
        model.to_str().unwrap(),
        "--config",
        dir.path().join("top.toml").to_str().unwrap(),
        "--backend",
        "cpu",
        "--format",
        "json",
        "-q",
    ]);
    let notes = json(&o)["method_notes"].clone();
    assert_eq!(notes[0]["matrices"][0], "noise", "{notes}");
    assert_eq!(notes[1]["matrices"][0], "spiked", "{notes}");
    // The engine's account in a report carries the same notes (JSON
    // `backend.method_notes`), each reason with its matrices.
    let ck = specscope::load::Checkpoint::open(&model).unwrap();
    let plan = specscope::pipeline::plan(&ck, &specscope::pipeline::Selection::default());
    let mut opts = specscope::analysis::Options::default();
    opts.run.needs = specscope::pipeline::Needs::Top(1);
    opts.run.threads = 1;
    let an =
        specscope::analysis::analyze_plan(&ck, &plan, &opts, &specscope::pipeline::Silent).unwrap();
    let notes = &an.engine.method_notes;
    assert_eq!(notes.len(), 2, "{notes:?}");
    let backend = serde_json::to_value(specscope::report::Backend::of(&an.engine)).unwrap();
    let noted: Vec<&str> = (0..2)
        .map(|i| backend["method_notes"][i]["matrices"][0].as_str().unwrap())
        .collect();
    assert_eq!(noted, ["noise", "spiked"], "{backend}");
    // An exact run says nothing: the field is absent.
    opts.run.needs = specscope::pipeline::Needs::All;
    let an =
        specscope::analysis::analyze_plan(&ck, &plan, &opts, &specscope::pipeline::Silent).unwrap();
    let backend = serde_json::to_value(specscope::report::Backend::of(&an.engine)).unwrap();
    assert!(backend.get("method_notes").is_none(), "{backend}");
}
