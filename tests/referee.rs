//! The real-data referee end to end: `simulate --model lm` at its defaults
//! (a character-level transformer trained on real text; ~2–3 minutes on two
//! cores), then `validate` scores every prediction for its last snapshot
//! against the validation-loss increase measured by really compressing
//! each matrix. The targets and what is measured (README, "Does the
//! theory hold?"):
//! - model-level ΔL of compressing every matrix at once within ×2: met
//!   (worst ×1.34 over ranks 1–32 and 2–6 bits);
//! - every matrix has a prediction or a named reason: met (11 of 15
//!   matrices predicted; 2 out of domain with a ≤ 1, 2 unresolved);
//! - no matrix predicted loss-free whose real ΔL exceeds 2% of L: met;
//! - Spearman ≥ 0.8 between predicted and measured per-matrix ΔL:
//!   **missed**, pinned below at its measured values (−0.24 to 0.55; the
//!   weight-error baseline gives 0.07 to 0.82): the spectra do not say how
//!   sensitive the loss is to each matrix (a layer-0 matrix costs 10–20×
//!   more than its layer-1 twin with a similar spectrum).
//!
//! `SPECSCOPE_LM_RUN=DIR` reuses a default run already made.

mod common;

use common::{json, specscope, stderr};
use serde_json::Value;
use std::path::PathBuf;

fn lm_run() -> PathBuf {
    if let Some(d) = std::env::var_os("SPECSCOPE_LM_RUN") {
        return PathBuf::from(d);
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("referee-{}", std::process::id()))
        .join("run");
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    let o = specscope(&[
        "simulate",
        "--model",
        "lm",
        "--quiet",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "simulate: {}", stderr(&o));
    dir
}

fn score<'a>(rep: &'a Value, kind: &str, value: u64) -> &'a Value {
    rep["scores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == kind && s["value"] == value)
        .unwrap_or_else(|| panic!("no score for {kind} {value}"))
}

#[test]
fn validate_scores_the_lm_run() {
    let dir = lm_run();
    let o = specscope(&[
        "validate",
        dir.to_str().unwrap(),
        "--backend",
        "cpu",
        "--quiet",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rep = json(&o);
    let target = |prefix: &str| -> &Value {
        rep["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["target"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("no target {prefix}"))
    };
    // Met targets.
    let model = target("model-level");
    assert_eq!(model["met"], true, "{model}");
    assert!(model["value"].as_f64().unwrap() <= 1.5, "{model}");
    assert_eq!(target("every matrix")["met"], true);
    assert_eq!(target("no matrix predicted loss-free")["met"], true);
    // The ρ routes disagree on this run (measured z ≈ −9.6 on ln φψ) and
    // compare's model row says so instead of calling it valid.
    let routes = target("the ρ routes");
    assert_eq!(routes["met"], true, "{routes}");
    assert!(routes["value"].as_f64().unwrap() < -2.0, "{routes}");
    assert!(
        routes["detail"]
            .as_str()
            .unwrap()
            .contains("verdict inconsistent"),
        "{routes}"
    );
    // The missed one, pinned at its measured values (±0.1).
    let rho = target("Spearman");
    assert_eq!(rho["met"], false, "{rho}");
    let pin = |kind: &str, value: u64, measured: f64| {
        let s = score(&rep, kind, value)["spearman"].as_f64().unwrap();
        assert!(
            (s - measured).abs() <= 0.1,
            "{kind} {value}: Spearman {s}, pinned {measured}"
        );
    };
    pin("rank", 8, 0.29);
    pin("rank", 32, 0.55);
    pin("bits", 3, -0.24);
    // Coverage: 11 of the 15 matrices have a valid prediction, the rest a
    // reason (a ≤ 1, or an error bar reaching it).
    assert_eq!(score(&rep, "rank", 8)["predicted"], 11);
    let reasons: Vec<&Value> = rep["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["dl_pred"].is_null())
        .collect();
    assert!(
        reasons
            .iter()
            .all(|r| !r["reason"].as_str().unwrap().is_empty())
    );
    assert!(
        reasons
            .iter()
            .any(|r| r["verdict"] == "out_of_domain"
                && r["reason"].as_str().unwrap().contains("≤ 1"))
    );
}
