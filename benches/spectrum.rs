//! Exact-spectrum kernels: the f64 Gram accumulation and the eigen-solve,
//! timed separately for the shapes that matter (median of repeated runs).
//!
//!   cargo bench --bench spectrum
//!
//! The 768×3072 f32 case is the one the speed target compares with
//! `numpy.linalg.eigvalsh` on the same Gram (benches/reference/numpy_eigvalsh_bench.py).
//! With `PEER_PYTHON=/path/to/python` (numpy and threadpoolctl installed)
//! that baseline runs right after, in the same run, and the ratio is
//! printed:
//!
//!   PEER_PYTHON=/work/venv-ww/bin/python cargo bench --bench spectrum

mod common;

use common::median;
use faer::Par;
use specscope::load::{DType, MatrixData, View};
use specscope::spectrum::{eigenvalues_desc, gram_lower};
use std::time::Instant;

fn random_f32_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .flat_map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (((s >> 40) as f32) / (1u64 << 24) as f32 - 0.5).to_le_bytes()
        })
        .collect()
}

fn main() {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "exact spectrum, f64 Gram + faer self-adjoint eigenvalues; {threads} threads available"
    );
    println!(
        "{:>12}  {:>6}  {:>10}  {:>10}  {:>10}  {:>8}",
        "shape", "par", "gram ms", "eig ms", "total ms", "GFLOP/s"
    );
    let mut ours_768 = None;
    for &(rows, cols, reps) in &[
        (384usize, 384usize, 15usize),
        (1536, 384, 15),
        (768, 3072, 7),
        (4096, 4096, 3),
    ] {
        let bytes = random_f32_bytes(rows * cols, 7);
        let data = MatrixData {
            bytes: &bytes,
            dtype: &DType::F32,
            view: View::dense(0, rows, cols),
        };
        for (label, par) in [("seq", Par::Seq), ("all", Par::rayon(threads))] {
            let (mut tg, mut te) = (Vec::new(), Vec::new());
            for _ in 0..reps {
                let t0 = Instant::now();
                let g = gram_lower(&data, par, |_| {}).unwrap();
                let t1 = Instant::now();
                let e = eigenvalues_desc(g.as_ref(), par).unwrap();
                let t2 = Instant::now();
                std::hint::black_box(e);
                tg.push((t1 - t0).as_secs_f64());
                te.push((t2 - t1).as_secs_f64());
            }
            let (g, e) = (median(tg), median(te));
            if (rows, cols, label) == (768, 3072, "all") {
                ours_768 = Some(g + e);
            }
            let m = rows.min(cols) as f64;
            let flops = rows.max(cols) as f64 * m * m; // lower triangle of the Gram
            println!(
                "{:>12}  {label:>6}  {:>10.2}  {:>10.2}  {:>10.2}  {:>8.1}",
                format!("{rows}×{cols}"),
                g * 1e3,
                e * 1e3,
                (g + e) * 1e3,
                flops / g / 1e9
            );
        }
    }
    if let (Some(ours), Some(py)) = (ours_768, std::env::var_os("PEER_PYTHON")) {
        peer_ratio(ours, &py);
    }
}

/// Runs the numpy baseline (its own CPU detection: the OpenBLAS overrides
/// some machines pin are removed) and prints the ratios for 768×3072.
fn peer_ratio(ours: f64, python: &std::ffi::OsStr) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/reference/numpy_eigvalsh_bench.py"
    );
    let out = std::process::Command::new(python)
        .arg(script)
        .env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE")
        .output();
    let text = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            println!(
                "numpy baseline failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            return;
        }
        Err(e) => {
            println!("numpy baseline not run: {e}");
            return;
        }
    };
    let Some(line) = text.lines().find(|l| l.contains("768x768")) else {
        println!("numpy baseline printed no 768x768 line:\n{text}");
        return;
    };
    let ms_after = |key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    let (Some(alone), Some(all)) = (
        ms_after("eigvalsh alone median "),
        ms_after("cast+Gram+eigvalsh median "),
    ) else {
        println!("cannot read the numpy baseline: {line}");
        return;
    };
    println!("{line}");
    println!(
        "768×3072 ratio (numpy time / specscope time, >1: specscope faster): eigvalsh alone {:.2}×, numpy's Gram + eigvalsh {:.2}× (specscope {:.1} ms)",
        alone / (ours * 1e3),
        all / (ours * 1e3),
        ours * 1e3
    );
}
