//! Fuzz target: any bytes as the JSON report `check --baseline` (and
//! `check`, `report`) reads. The document is read, its fields looked up,
//! and a fixed set of range and drift rules resolved and evaluated with it
//! as both the report and the baseline.
#![no_main]

use libfuzzer_sys::fuzz_target;
use specscope::check::{self, Inputs, config, predict};
use specscope::report::doc::{self, ReportDoc};
use std::sync::OnceLock;

const RULES: &str = r#"
[[rule]]
name = "alpha"
kind = "range"
metric = "alpha"
min = 2.0
max = 6.0

[[rule]]
name = "mean-alpha"
kind = "range"
scope = "model"
metric = "alpha"
max = 5.0

[[rule]]
name = "drift"
kind = "drift"
metric = "log_norm"
abs = 0.001
rel = 0.01
missing = "skip"
"#;

fn rules() -> &'static config::Config {
    static RULES_CONFIG: OnceLock<config::Config> = OnceLock::new();
    RULES_CONFIG.get_or_init(|| config::parse("rules.toml", RULES).expect("the fixed rules parse"))
}

fuzz_target!(|data: &[u8]| {
    let path =
        std::env::temp_dir().join(format!("specscope-fuzz-{}-report.json", std::process::id()));
    std::fs::write(&path, data).expect("scratch file written");
    let Ok(d) = ReportDoc::read(&path) else {
        return;
    };
    for (i, layer) in d.layers().iter().enumerate() {
        let _ = ReportDoc::layer_name(layer, i);
        let _ = doc::number(layer, "alpha");
        let _ = doc::row_dims(layer);
        let _ = doc::row_sigma_init(layer);
    }
    let _ = doc::field_kind(d.layers(), "log_norm");
    let _ = d.summary();
    let ranges = predict::Ranges::default();
    let inputs = Inputs {
        report: &d,
        baseline: Some(&d),
        evals: &[],
        ranges: &ranges,
        predictions: predict::builtin(),
    };
    if check::resolve(rules(), &inputs).is_ok() {
        let _ = check::evaluate(rules(), &inputs);
    }
});
