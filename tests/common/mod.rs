//! Shared helpers for the integration tests: running the binary, finding
//! the fetched real checkpoints, and writing small (valid or deliberately
//! broken) safetensors files.
#![allow(dead_code)]

use specscope::load::{DType, TensorOut, write_safetensors};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `specscope` binary with `args`.
pub fn specscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_specscope"))
        .args(args)
        .output()
        .expect("the specscope binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fetched real checkpoint (`scripts/fetch-checkpoints.sh`), looked up
/// under `$SPECSCOPE_CHECKPOINTS` or `<crate>/.cache/checkpoints`. When it
/// is missing the test is skipped with a printed reason, unless
/// `SPECSCOPE_REQUIRE_CHECKPOINTS=1` (CI), where it fails.
pub fn checkpoint(rel: &str) -> Option<PathBuf> {
    let root = std::env::var_os("SPECSCOPE_CHECKPOINTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/checkpoints"));
    let path = root.join(rel);
    if path.is_file() {
        return Some(path);
    }
    let why = format!(
        "{} is missing: run scripts/fetch-checkpoints.sh",
        path.display()
    );
    if std::env::var("SPECSCOPE_REQUIRE_CHECKPOINTS").is_ok_and(|v| v == "1") {
        panic!("SPECSCOPE_REQUIRE_CHECKPOINTS=1 but {why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// A file in the crate's `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// Writes a valid safetensors file of f64-valued tensors stored as `dtype`.
pub fn write(path: &Path, tensors: &[(&str, DType, &[usize], Vec<f64>)]) {
    let t: Vec<TensorOut> = tensors
        .iter()
        .map(|(n, d, s, v)| TensorOut::from_f64(n, d.clone(), s, v).expect("a float tensor"))
        .collect();
    write_safetensors(path, &t, &[]).expect("fixture written");
}

/// Writes a safetensors file by hand: a JSON header (any text, valid or
/// not) and a data section, for malformed-input tests.
pub fn write_raw(path: &Path, header: &str, data: &[u8]) {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).expect("fixture written");
}

/// Deterministic pseudo-random values in [-0.5, 0.5).
pub fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect()
}

/// A float64 `.npy` file written by `--save-eigs`.
pub fn read_npy(path: &Path) -> Vec<f64> {
    specscope::report::read_npy_f64(path).unwrap_or_else(|e| panic!("{e:#}"))
}

/// `specscope simulate --quiet --out DIR ARGS…`, which must succeed.
#[allow(dead_code)]
pub fn simulate(dir: &Path, args: &[&str]) {
    let mut all = vec!["simulate", "--quiet", "--out", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = specscope(&all);
    assert!(o.status.success(), "simulate: {}", stderr(&o));
}

/// A small `simulate --model linear --a 2.5 --b 1.5` run in `dir`.
#[allow(dead_code)]
pub fn simulate_linear(dir: &Path, dim: usize, steps: usize, seed: u64) {
    let (dim, steps, seed) = (dim.to_string(), steps.to_string(), seed.to_string());
    simulate(
        dir,
        &[
            "--model", "linear", "--a", "2.5", "--b", "1.5", "--dim", &dim, "--steps", &steps,
            "--seed", &seed,
        ],
    );
}

/// Parses a JSON report from stdout.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(o)))
}

/// Whether a GPU adapter (a software one, lavapipe, included) opens; the
/// GPU tests call it first. Without one they print `SKIPPED:` and why,
/// unless SPECSCOPE_REQUIRE_GPU=1 (CI), where they fail.
pub fn have_gpu() -> bool {
    use specscope::backend::{GpuContext, GpuOptions};
    match GpuContext::open(&GpuOptions {
        allow_software: true,
        ..Default::default()
    }) {
        Ok(c) => {
            eprintln!("[{}]", c.adapter);
            true
        }
        Err(e) => {
            if std::env::var("SPECSCOPE_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("SPECSCOPE_REQUIRE_GPU=1 but {e}");
            }
            eprintln!("SKIPPED: {e}");
            false
        }
    }
}
