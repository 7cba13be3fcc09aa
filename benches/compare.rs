//! `compare` over a snapshot series against one `analyze` per snapshot
//! (the speed target: no more than 20 separate analyze runs plus
//! 10%). Whole processes, all cores, median of 3 after one warm-up each,
//! with `--backend cpu` (the computation alone) and the default `auto`
//! (what a user runs: every analyze process probes for a GPU).
//!
//! The series: 20 snapshots of a synthetic 4-block transformer-shaped
//! model (per block four 384×384 attention matrices and a 1536×384 /
//! 384×1536 MLP pair; 7.1M parameters, F32, 28 MB a snapshot), written
//! once with `load::write_safetensors`. Every matrix has fixed singular
//! vectors and a saturating spectrum whose front moves as k_* = 3·√t over
//! log-spaced t ∈ [1, 2000] (k_* = 3…134), over an i.i.d. noise bulk, so
//! `compare` does all its work: saturation fits, the last snapshot's
//! vectors up to k_*, and one projection pass per snapshot.
//!
//! Why it stands for the 100M target: the spectra are the same work in
//! both runs, and what compare adds per snapshot, a pass of N·M·K
//! multiply-adds for K probed modes (K ≈ 20 here), is 2K/M of a Gram's
//! N·M²/2; at the width of a 100M model (M = 768–1024) that share is half
//! to a third of this one's, at the same K. The ratio measured here is an
//! upper bound for wider matrices.
//!
//!   cargo bench --bench compare
//!
//! SPECSCOPE_BENCH_BLOCKS=N: N blocks instead of 4; SPECSCOPE_BENCH_WIDTH=W:
//! width W instead of 384 (MLP 4W); SPECSCOPE_BENCH_DIR=DIR:
//! write (and keep) the series in DIR.

use rayon::prelude::*;
use specscope::load::{DType, TensorOut, write_safetensors};
use specscope::synth;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const SNAPSHOTS: usize = 20;
const STEPS: f64 = 2000.0;

fn spectrum(m: usize, k_star: f64, scale: f64) -> Vec<f64> {
    (1..=m)
        .map(|k| {
            let k = k as f64;
            scale * k.powf(-1.0) * (-(-(k_star / k).powf(1.5)).exp_m1()).powi(2)
        })
        .collect()
}

/// One matrix at time t: U·diag(√μ)·Vᵀ over its top 200 modes plus a
/// noise bulk of σ = 1e-3/√M per entry, vectors and noise fixed by `seed`.
fn matrix(rows: usize, cols: usize, t: f64, seed: u64) -> Vec<f64> {
    let m = rows.min(cols);
    let r = m.min(200);
    let mut rng = synth::rng(seed);
    let u = synth::orthonormal(rows, r, &mut rng);
    let v = synth::orthonormal(cols, r, &mut rng);
    let mu = spectrum(r, 3.0 * t.sqrt(), 1.0 + (seed % 7) as f64 / 7.0);
    let us = faer::Mat::from_fn(rows, r, |i, j| u[(i, j)] * mu[j].sqrt());
    let mut w = &us * v.transpose();
    w += synth::gaussian(rows, cols, 1e-3 / (m as f64).sqrt(), &mut rng);
    synth::row_major(&w)
}

fn write_series(dir: &Path, blocks: usize, w: usize) -> u64 {
    let shapes: Vec<(String, usize, usize)> = (0..blocks)
        .flat_map(|b| {
            let p = format!("blocks.{b}");
            vec![
                (format!("{p}.attn.q.weight"), w, w),
                (format!("{p}.attn.k.weight"), w, w),
                (format!("{p}.attn.v.weight"), w, w),
                (format!("{p}.attn.o.weight"), w, w),
                (format!("{p}.mlp.up.weight"), 4 * w, w),
                (format!("{p}.mlp.down.weight"), w, 4 * w),
            ]
        })
        .collect();
    let params: u64 = shapes.iter().map(|s| (s.1 * s.2) as u64).sum();
    let mut step = 0u64;
    for j in 0..SNAPSHOTS {
        // Log-spaced in [1, 2000], bumped up to stay distinct (as simulate).
        step = (STEPS.powf(j as f64 / (SNAPSHOTS - 1) as f64).round() as u64).max(step + 1);
        let tensors: Vec<TensorOut> = shapes
            .par_iter()
            .enumerate()
            .map(|(i, (name, r, c))| {
                TensorOut::from_f64(
                    name,
                    DType::F32,
                    &[*r, *c],
                    &matrix(*r, *c, step as f64, i as u64),
                )
                .expect("a float tensor")
            })
            .collect();
        write_safetensors(
            &dir.join(format!("step-{step:06}.safetensors")),
            &tensors,
            &[("step", step.to_string())],
        )
        .unwrap();
    }
    params
}

fn time(f: &dyn Fn()) -> f64 {
    let t0 = Instant::now();
    f();
    t0.elapsed().as_secs_f64()
}

fn median3(f: &dyn Fn()) -> (f64, Vec<f64>) {
    f();
    let mut v: Vec<f64> = (0..3).map(|_| time(f)).collect();
    let runs = v.clone();
    v.sort_by(f64::total_cmp);
    (v[1], runs)
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_specscope");
    let blocks: usize = std::env::var("SPECSCOPE_BENCH_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let width: usize = std::env::var("SPECSCOPE_BENCH_WIDTH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(384);
    // SPECSCOPE_BENCH_DIR keeps the series there (for profiling compare).
    let keep = std::env::var_os("SPECSCOPE_BENCH_DIR").map(std::path::PathBuf::from);
    let dir = keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("specscope-bench-compare-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir).unwrap();
    let t0 = Instant::now();
    let params = write_series(&dir, blocks, width);
    println!(
        "series: {SNAPSHOTS} snapshots × {} matrices (width {width}), {:.1}M parameters each (written in {:.1} s)",
        6 * blocks,
        params as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let common = ["--format", "json", "-o", "/dev/null", "--quiet"];
    let analyze_all = |backend: &str| {
        for f in &files {
            let s = Command::new(bin)
                .arg("analyze")
                .arg(f)
                .args(common)
                .args(["--backend", backend])
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(s.success());
        }
    };
    let compare = |backend: &str, extra: &[&str]| {
        let s = Command::new(bin)
            .arg("compare")
            .arg(&dir)
            .args(common)
            .args(["--backend", backend])
            .args(extra)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(s.success());
    };
    let r = |v: Vec<f64>| {
        v.iter()
            .map(|x| (x * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    };
    // `--backend cpu`: the computation alone. The default `auto`: what a
    // user runs; every analyze process probes for a GPU, compare once.
    for backend in ["cpu", "auto"] {
        let (a, ar) = median3(&|| analyze_all(backend));
        let (c, cr) = median3(&|| compare(backend, &[]));
        let (n, nr) = median3(&|| compare(backend, &["--no-modes"]));
        println!("--backend {backend}:");
        println!(
            "  20 × analyze:         median {a:.2} s  (runs {:?})",
            r(ar)
        );
        println!(
            "  compare:              median {c:.2} s  (runs {:?})",
            r(cr)
        );
        println!(
            "  compare --no-modes:   median {n:.2} s  (runs {:?})",
            r(nr)
        );
        println!(
            "  ratio compare / 20 analyze = {:.3} (target ≤ 1.10); mode matching adds {:.1}% to compare",
            c / a,
            100.0 * (c / n - 1.0)
        );
    }
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
