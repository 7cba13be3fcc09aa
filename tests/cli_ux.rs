//! The command line as a person meets it: tables that keep to the
//! terminal's width (COLUMNS 80, 100, 200), `--columns`/`--wide`, one
//! `wrote FILE` line and `--quiet`, the refusals that say what to do
//! instead (each with its message and exit code 2), `check --sarif`,
//! and the completion scripts and man pages generated from the clap
//! definitions. All on the bundled tiny checkpoint, on the CPU.

mod common;

use common::{fixture, stderr, stdout, values};
use specscope::load::DType;
use std::process::{Command, Output};

fn run_with(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_specscope"));
    c.args(args).env_remove("COLUMNS");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the specscope binary runs")
}

fn tiny() -> String {
    fixture("tiny/model.safetensors").display().to_string()
}

fn longest_line(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

#[test]
fn compact_tables_keep_to_the_width() {
    let t = tiny();
    let analyze = ["analyze", &t, "--backend", "cpu", "-q"];
    let predict = [
        "predict",
        &t,
        "--backend",
        "cpu",
        "-q",
        "--rank",
        "4",
        "--bits",
        "4",
        "--verify",
    ];
    for width in ["80", "100", "200"] {
        for args in [&analyze[..], &predict[..]] {
            let o = run_with(&[("COLUMNS", width)], args);
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            let text = stdout(&o);
            let w: usize = width.parse().unwrap();
            assert!(
                longest_line(&text) <= w,
                "{} at COLUMNS={width}: a line of {} characters\n{text}",
                args[0],
                longest_line(&text)
            );
            // The two Ds of the peer have distinct names here.
            assert!(!text.lines().nth(1).unwrap_or("").contains(" D "), "{text}");
        }
    }
    // The analyze head names the compact columns; nothing is elided at 200.
    let o = run_with(&[("COLUMNS", "200")], &analyze);
    let head = stdout(&o).lines().next().unwrap().to_string();
    assert_eq!(
        head.split_whitespace().collect::<Vec<_>>(),
        [
            "name", "N×M", "alpha", "log_norm", "b", "k_star", "density", "status"
        ]
    );
    assert!(!stdout(&o).contains('…'));
}

#[test]
fn wide_shows_every_column_and_columns_picks() {
    let t = tiny();
    let o = run_with(
        &[("COLUMNS", "80")],
        &["analyze", &t, "--backend", "cpu", "-q", "--wide"],
    );
    let text = stdout(&o);
    assert!(
        text.lines().next().unwrap().contains("ks_distance"),
        "{text}"
    );
    assert!(longest_line(&text) > 80, "--wide is not fitted");
    let o = run_with(
        &[],
        &[
            "analyze",
            &t,
            "--backend",
            "cpu",
            "-q",
            "--columns",
            "name,ks_distance,density",
        ],
    );
    assert_eq!(
        stdout(&o)
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["name", "ks_distance", "density"]
    );
}

#[test]
fn an_unknown_column_is_refused_with_the_valid_names() {
    let t = tiny();
    let o = run_with(
        &[],
        &["analyze", &t, "--backend", "cpu", "--columns", "name,D"],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("unknown column `D`") && e.contains("ks_distance") && e.contains("density"),
        "{e}"
    );
    let o = run_with(
        &[],
        &[
            "predict",
            &t,
            "--backend",
            "cpu",
            "--rank",
            "2",
            "--columns",
            "alpha",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("valid columns: name,b,k_star"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_written_file_is_one_line_and_quiet_silences_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let (t, o_arg) = (tiny(), out.display().to_string());
    let args = [
        "analyze",
        &t,
        "--backend",
        "cpu",
        "--format",
        "json",
        "-o",
        &o_arg,
    ];
    let o = run_with(&[], &args);
    assert_eq!(o.status.code(), Some(0));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains("wrote ") && e.contains("r.json (") && e.contains(" kB)"),
        "{e}"
    );
    let mut quiet = args.to_vec();
    quiet.push("--quiet");
    let o = run_with(&[], &quiet);
    assert_eq!((o.status.code(), stderr(&o)), (Some(0), String::new()));
}

#[test]
fn validate_refuses_a_directory_that_is_not_a_simulate_run() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_with(&[], &["validate", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("not a `specscope simulate` run directory (no truth.json / lm_truth.csv)")
            && e.contains("--out DIR"),
        "{e}"
    );
    assert!(!e.contains("os error"), "{e}");
}

#[test]
fn check_without_its_rules_file_names_config() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("specscope.toml");
    let t = tiny();
    let o = run_with(&[], &["check", &t, "--config", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--config FILE"), "{}", stderr(&o));
}

#[test]
fn predict_rank_above_every_matrix_is_refused_and_above_some_is_a_note() {
    let t = tiny();
    let o = run_with(
        &[],
        &["predict", &t, "--backend", "cpu", "--rank", "100000"],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("--rank 100000 is above every matrix's min(N, M) (the largest is 64)"),
        "{e}"
    );
    // The experts are 64×32 and the convolution 32×16: 40 keeps all of theirs.
    let o = run_with(&[], &["predict", &t, "--backend", "cpu", "--rank", "40"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--rank 40 is above min(N, M) of 5 matrices"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn compare_refuses_unrelated_checkpoints_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (i, name) in ["a.weight", "b.weight", "c.weight"].iter().enumerate() {
        let p = dir.path().join(format!("model_{i}.safetensors"));
        common::write(&p, &[(name, DType::F32, &[16, 8], values(128, i as u64))]);
        paths.push(p.display().to_string());
    }
    let mut args = vec!["compare", "--backend", "cpu"];
    args.extend(paths.iter().map(String::as_str));
    let o = run_with(&[], &args);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let e = stderr(&o);
    assert!(
        e.contains("share no tensor name") && e.contains("one training run"),
        "{e}"
    );
    // Same names, a different shape.
    for (i, shape) in [[16, 8], [16, 8], [8, 8]].iter().enumerate() {
        let n = shape[0] * shape[1];
        common::write(
            std::path::Path::new(&paths[i]),
            &[("w.weight", DType::F32, shape, values(n, i as u64))],
        );
    }
    let o = run_with(&[], &args);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("tensor `w.weight` is [16, 8]"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn check_writes_sarif_with_the_required_fields() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"alpha-cap\"\nkind = \"range\"\nmetric = \"alpha\"\nmax = 2.0\n",
    )
    .unwrap();
    let sarif = dir.path().join("check.sarif");
    let t = tiny();
    let o = run_with(
        &[],
        &[
            "check",
            &t,
            "--backend",
            "cpu",
            "-q",
            "--config",
            rules.to_str().unwrap(),
            "--sarif",
            sarif.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    // SARIF 2.1.0's required properties: version and runs; each run a
    // tool.driver.name; each result a message.text; ruleIndex within the
    // driver's rules; regions start at line 1 or later.
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "specscope");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules[0]["id"], "alpha-cap");
    let results = run["results"].as_array().unwrap();
    // Every tiny matrix but the four experts has alpha above 2.
    assert_eq!(results.len(), 10, "{run}");
    for r in results {
        assert_eq!(r["ruleId"], "alpha-cap");
        assert!(r["ruleIndex"].as_u64().unwrap() < rules.len() as u64);
        assert_eq!((&r["level"], &r["kind"]), (&"error".into(), &"fail".into()));
        assert!(r["message"]["text"].as_str().unwrap().contains("alpha"));
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(
            loc["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with("rules.toml")
        );
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn completions_and_man_pages_name_the_commands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = run_with(&[], &["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        let text = stdout(&o);
        for cmd in ["analyze", "predict", "check", "compare", "validate", "man"] {
            assert!(text.contains(cmd), "{shell} completions lack {cmd}");
        }
    }
    let o = run_with(&[], &["man"]);
    assert_eq!(o.status.code(), Some(0));
    let page = stdout(&o);
    assert!(
        page.starts_with(".ie") || page.contains(".TH specscope"),
        "{page}"
    );
    for cmd in ["analyze", "predict", "check", "compare", "completions"] {
        assert!(page.contains(cmd), "man page lacks {cmd}");
    }
    let o = run_with(&[], &["man", "analyze"]);
    assert!(stdout(&o).contains("\\-\\-columns"), "{}", stdout(&o));
    let o = run_with(&[], &["man", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("commands: inspect, analyze"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn help_says_what_plots_writes() {
    let o = run_with(&[], &["help", "analyze"]);
    let h = stdout(&o);
    assert!(h.contains("pruning and quantization"), "{h}");
}

#[test]
fn the_peers_negative_sigma_is_a_dash_in_the_table_only() {
    // A matrix with two eigenvalues: the peer writes σ = −1/√2 as its
    // "not defined" value; the table shows —, JSON keeps the number.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("two.safetensors");
    common::write(
        &p,
        &[
            ("two.weight", DType::F32, &[8, 2], values(16, 1)),
            ("big.weight", DType::F32, &[64, 32], values(2048, 2)),
        ],
    );
    let p = p.display().to_string();
    let base = ["analyze", &p, "--backend", "cpu", "-q"];
    let mut table = base.to_vec();
    table.extend(["--columns", "name,sigma"]);
    let text = stdout(&run_with(&[], &table));
    let two = text.lines().find(|l| l.starts_with("two")).expect(&text);
    assert!(two.ends_with('—'), "{text}");
    let mut json = base.to_vec();
    json.extend(["--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&run_with(&[], &json))).unwrap();
    let sigma = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "two")
        .unwrap()["sigma"]
        .as_f64()
        .unwrap();
    // Exactly the peer's sentinel −1/√2 (to 1e-12: it is computed, not stored).
    assert!(
        (sigma + std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12,
        "{sigma}"
    );
}
