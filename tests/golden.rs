//! Golden outputs: the exact bytes `inspect`, `analyze`, `predict --verify`,
//! `check` (with its JUnit file), `compare` and `validate` write on the
//! bundled tiny checkpoint and on a small `simulate` run, on the CPU
//! backend. Any change to a number, a column or the order of rows shows up
//! here as a diff against `tests/golden/`.
//!
//! The reports hold no timings, so the comparison is byte for byte; the
//! only substitutions are the directory of the simulated run (`$RUN`),
//! the scratch copy `validate` makes of it (`$SCRATCH`) and the tool's
//! version (`$VERSION`).
//!
//! After a deliberate change of output, regenerate the files with
//! `SPECSCOPE_BLESS=1 cargo test --release --test golden` and review the
//! diff.

mod common;

use common::stderr;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary from the crate root (so fixture paths in the reports
/// are relative) and returns its stdout; the exit code must be `code`.
fn run(args: &[&str], code: i32) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_specscope"))
        .args(args)
        .env_remove("COLUMNS")
        .current_dir(root())
        .output()
        .expect("the specscope binary runs");
    assert_eq!(
        o.status.code(),
        Some(code),
        "specscope {}: {}",
        args.join(" "),
        stderr(&o)
    );
    String::from_utf8(o.stdout).expect("stdout is UTF-8")
}

/// Replaces what differs between machines and builds.
fn normalize(text: &str, run_dir: Option<&Path>) -> String {
    let mut t = text.replace(env!("CARGO_PKG_VERSION"), "$VERSION");
    if let Some(d) = run_dir {
        t = t.replace(&d.display().to_string(), "$RUN");
    }
    // `validate` re-runs `compare` on a scratch copy of the run.
    let scratch = regex::Regex::new(r"/tmp/[^/\s\x22]+").unwrap();
    scratch.replace_all(&t, "$$SCRATCH").into_owned()
}

/// Compares `actual` with `tests/golden/NAME`, or writes it there when
/// `SPECSCOPE_BLESS=1`.
fn golden(name: &str, actual: &str) {
    let path = root().join("tests/golden").join(name);
    if std::env::var("SPECSCOPE_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with SPECSCOPE_BLESS=1)", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output at line {}:\n  expected: {}\n  actual:   {}",
            path.display(),
            line + 1,
            expected.lines().nth(line).unwrap_or("<end>"),
            actual.lines().nth(line).unwrap_or("<end>")
        );
    }
}

const TINY: &str = "fixtures/tiny/model.safetensors";
const CPU: [&str; 4] = ["--backend", "cpu", "--quiet", "--threads=2"];

fn with_cpu<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend_from_slice(&CPU);
    v
}

#[test]
fn tiny_inspect_and_analyze() {
    for format in ["json", "csv", "table"] {
        let out = run(&["inspect", TINY, "--format", format], 0);
        golden(&format!("tiny-inspect.{format}"), &normalize(&out, None));
        let out = run(&with_cpu(&["analyze", TINY, "--format", format]), 0);
        golden(&format!("tiny-analyze.{format}"), &normalize(&out, None));
    }
}

#[test]
fn tiny_predict_verify() {
    for format in ["json", "csv", "table"] {
        let out = run(
            &with_cpu(&[
                "predict", TINY, "--rank", "4", "--bits", "4", "--verify", "--format", format,
            ]),
            0,
        );
        golden(&format!("tiny-predict.{format}"), &normalize(&out, None));
    }
    let out = run(
        &with_cpu(&["predict", TINY, "--sparsity", "0.5", "--format", "json"]),
        0,
    );
    golden("tiny-predict-sparsity.json", &normalize(&out, None));
}

#[test]
fn tiny_check() {
    let dir = scratch("check");
    let junit = dir.join("junit.xml");
    for format in ["json", "text"] {
        let out = run(
            &with_cpu(&[
                "check",
                TINY,
                "--config",
                "fixtures/tiny/specscope.toml",
                "--format",
                format,
                "--junit",
                junit.to_str().unwrap(),
            ]),
            0,
        );
        golden(&format!("tiny-check.{format}"), &normalize(&out, None));
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    golden("tiny-check.junit.xml", &normalize(&xml, None));
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("golden")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small linear run (a few seconds), and its analyses.
#[test]
fn simulated_run() {
    let dir = scratch("sim").join("run");
    let d = dir.to_str().unwrap();
    run(
        &[
            "simulate",
            "--model",
            "linear",
            "--a",
            "2.5",
            "--b",
            "1.5",
            "--dim",
            "64",
            "--steps",
            "400",
            "--snapshots",
            "8",
            "--quiet",
            "--out",
            d,
        ],
        0,
    );
    let norm = |s: &str| normalize(s, Some(&dir));
    for format in ["json", "csv", "table"] {
        let out = run(&with_cpu(&["compare", d, "--format", format]), 0);
        golden(&format!("sim-compare.{format}"), &norm(&out));
        let out = run(&with_cpu(&["validate", d, "--format", format]), 0);
        golden(&format!("sim-validate.{format}"), &norm(&out));
    }
    let last = dir.join("snapshots/step-00000400.safetensors");
    let last = last.to_str().unwrap();
    let init = dir.join("init.safetensors");
    let init = init.to_str().unwrap();
    let out = run(
        &with_cpu(&["analyze", last, "--init", init, "--format", "json"]),
        0,
    );
    golden("sim-analyze-init.json", &norm(&out));
    let out = run(
        &with_cpu(&[
            "predict", last, "--init", init, "--rank", "8", "--bits", "3", "--verify", "--format",
            "json",
        ]),
        0,
    );
    golden("sim-predict-init.json", &norm(&out));
}

/// `check` on a saved JSON report reads it by field name.
#[test]
fn check_on_a_saved_report() {
    let out = run(
        &[
            "check",
            "tests/golden/tiny-analyze.json",
            "--config",
            "fixtures/tiny/specscope.toml",
            "--format",
            "json",
        ],
        2,
    );
    // The compression-target rules need eigenvalues a JSON report lacks:
    // a config error, exit 2, nothing on stdout.
    assert!(out.is_empty());
    let dir = scratch("saved");
    let cfg = dir.join("rules.toml");
    std::fs::write(
        &cfg,
        "[[rule]]\nname = \"alpha\"\nkind = \"range\"\nmetric = \"alpha\"\nmin = 2\nmax = 6\n\n\
         [[rule]]\nname = \"mean-alpha\"\nkind = \"range\"\nscope = \"model\"\nmetric = \"alpha\"\nmax = 5\n",
    )
    .unwrap();
    let out = run(
        &[
            "check",
            "tests/golden/tiny-analyze.json",
            "--config",
            cfg.to_str().unwrap(),
            "--format",
            "json",
        ],
        1,
    );
    golden(
        "tiny-check-saved.json",
        &normalize(&out.replace(&dir.display().to_string(), "$DIR"), None),
    );
}

/// The real checkpoint: every column of every matrix of MiniLM.
#[test]
fn minilm_analyze() {
    let Some(path) = common::checkpoint("minilm/model.safetensors") else {
        return;
    };
    let p = path.to_str().unwrap();
    let out = run(&with_cpu(&["analyze", p, "--format", "csv"]), 0);
    golden(
        "minilm-analyze.csv",
        &normalize(&out.replace(p, "$MINILM"), None),
    );
}
