//! The dense f64 products under the exact path and the streaming operator
//! (`simd::matmul`, the `gemm` crate's kernels) against faer 0.24's own
//! `matmul`, side by side: a 4096×2048 · 2048×4096 product (the shape of
//! one block of a Gram), and the lower triangle of G += X·Xᵀ for the same
//! X by `simd::gemmt_lower` against faer's triangular product. One thread
//! and two; rounds interleave the kernels, the table gives medians and the
//! ratio faer / ours from the same rounds, in GFLOP/s of useful work.
//!
//! Then the exact method's phases on the 11008×4096 BF16 trained-like
//! matrix of docs/performance.md (`synth::scaled_columns_bf16`), 2 threads:
//! the Gram (decoding included), the reduction to a band
//! (`twostage::to_band`), the bulge chase on one thread and pipelined on
//! two (`twostage::band_to_tridiagonal`), and the tridiagonal eigenvalues.
//!
//! With `PEER_PYTHON=/path/to/python` (numpy installed), numpy's products
//! of the same X at 1 and 2 OpenBLAS threads
//! (benches/reference/numpy_gemm.py) are timed after ours.
//!
//!   PEER_PYTHON=/path/to/python cargo bench --bench kernels
//!
//! SPECSCOPE_BENCH_ROUNDS=R rounds (default 5; 3 for the phases).

mod common;

use common::{median, rounds};
use faer::MatMut;
use faer::linalg::matmul::matmul as faer_matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, Par};
use specscope::load::{DType, MatrixData, View};
use specscope::simd::{gemmt_lower, matmul};
use specscope::spectrum::{exact, tridiagonal, twostage};
use std::time::Instant;

fn main() {
    let rounds = rounds(5);
    let (m, k) = (4096usize, 2048usize);
    let x = Mat::<f64>::from_fn(m, k, |i, j| ((i * 7 + j * 13) % 101) as f64 / 101.0 - 0.5);
    let mut g = Mat::<f64>::zeros(m, m);
    let full = 2.0 * (m * m * k) as f64;
    println!("{m}×{k} · {k}×{m} f64, {rounds} rounds; GFLOP/s of useful work (median)");
    println!(
        "{:<34} {:>9} {:>9} {:>11}",
        "product, threads", "faer", "ours", "ours/faer"
    );
    for threads in [1usize, 2] {
        let par = if threads == 1 {
            Par::Seq
        } else {
            Par::rayon(threads)
        };
        let (mut f_full, mut o_full, mut f_tri, mut o_tri) = (vec![], vec![], vec![], vec![]);
        for _ in 0..rounds {
            let t = Instant::now();
            faer_matmul(
                g.as_mut(),
                Accum::Replace,
                x.as_ref(),
                x.transpose(),
                1.0,
                par,
            );
            f_full.push(full / t.elapsed().as_secs_f64() / 1e9);
            let t = Instant::now();
            matmul(
                g.as_mut(),
                Accum::Replace,
                x.as_ref(),
                x.transpose(),
                1.0,
                par,
            );
            o_full.push(full / t.elapsed().as_secs_f64() / 1e9);
            let t = Instant::now();
            triangular::matmul(
                g.as_mut(),
                BlockStructure::TriangularLower,
                Accum::Add,
                x.as_ref(),
                BlockStructure::Rectangular,
                x.transpose(),
                BlockStructure::Rectangular,
                1.0,
                par,
            );
            f_tri.push(full / 2.0 / t.elapsed().as_secs_f64() / 1e9);
            let t = Instant::now();
            gemmt_lower(g.as_mut(), x.as_ref(), x.as_ref(), 1.0, par);
            o_tri.push(full / 2.0 / t.elapsed().as_secs_f64() / 1e9);
        }
        for (name, f, o) in [
            ("A·Aᵀ", f_full, o_full),
            ("lower of G += X·Xᵀ", f_tri, o_tri),
        ] {
            let (f, o) = (median(f), median(o));
            println!(
                "{:<34} {:>9.1} {:>9.1} {:>10.2}×",
                format!("{name}, {threads}"),
                f,
                o,
                o / f
            );
        }
    }
    if let Some(py) = std::env::var_os("PEER_PYTHON") {
        numpy(&py, rounds);
    }
    band_update(rounds);
    phases(rounds.min(3));
}

/// The trailing update of one panel of the reduction to a band at
/// M = 4096, b = 32 (the lower triangle of A −= V·Yᵀ + Y·Vᵀ), 2 threads:
/// faer's two triangular products against one rank-64 `gemmt_lower`
/// sweep over [V Y]·[Y V]ᵀ (`twostage::rank2_update`, what
/// `twostage::to_band` runs).
fn band_update(rounds: usize) {
    let (m, b) = (4096usize, 32usize);
    let par = Par::rayon(2);
    let mut a = Mat::<f64>::from_fn(m, m, |i, j| ((i * 7 + j * 13) % 101) as f64 / 101.0);
    let v = Mat::<f64>::from_fn(m, b, |i, j| ((i + j * 3) % 17) as f64 / 17.0);
    let y = Mat::<f64>::from_fn(m, b, |i, j| ((i * 5 + j) % 13) as f64 / 13.0);
    let (mut two, mut one) = (vec![], vec![]);
    for _ in 0..rounds {
        let t = Instant::now();
        for (l, r) in [(v.as_ref(), y.as_ref()), (y.as_ref(), v.as_ref())] {
            triangular::matmul(
                a.as_mut(),
                BlockStructure::TriangularLower,
                Accum::Add,
                l,
                BlockStructure::Rectangular,
                r.transpose(),
                BlockStructure::Rectangular,
                -1.0,
                par,
            );
        }
        two.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        twostage::rank2_update(a.as_mut(), v.as_ref(), y.as_ref(), par);
        one.push(t.elapsed().as_secs_f64());
    }
    let (two, one) = (median(two), median(one));
    println!(
        "\nband-reduction update, M = {m}, b = {b}, 2 threads: faer's two triangular products {:.2} ms, one gemmt_lower sweep {:.2} ms ({:.2}×)",
        two * 1e3,
        one * 1e3,
        two / one
    );
}

/// numpy's products of the same X, at 1 and 2 OpenBLAS threads.
fn numpy(py: &std::ffi::OsStr, rounds: usize) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/reference/numpy_gemm.py"
    );
    for threads in ["1", "2"] {
        let out = std::process::Command::new(py)
            .arg(script)
            .arg(rounds.to_string())
            .env("OPENBLAS_NUM_THREADS", threads)
            .output();
        match out {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                // numpy_gemm_gflops threads T syrk S gemm G
                let f: Vec<&str> = text.split_whitespace().collect();
                if let (Some(syrk), Some(gemm)) = (f.get(4), f.get(6)) {
                    println!(
                        "numpy (OpenBLAS), {threads} thread(s): A·Aᵀ {gemm} GFLOP/s, lower of X·Xᵀ (dsyrk) {syrk} GFLOP/s"
                    );
                }
            }
            _ => println!("numpy baseline not run ({script} failed)"),
        }
    }
}

/// The exact method's phases on the trained-like 11008×4096 BF16 matrix.
fn phases(rounds: usize) {
    let (n, m) = (11008usize, 4096usize);
    let bytes = specscope::synth::scaled_columns_bf16(n, m, 0.6, 1e-3, 1);
    let data = MatrixData {
        bytes: &bytes,
        dtype: &DType::BF16,
        view: View::dense(0, n, m),
    };
    let par = Par::rayon(2);
    let nb = exact::TWO_STAGE_BAND;
    let mut t: [Vec<f64>; 5] = Default::default();
    let mut top = 0.0;
    for _ in 0..rounds {
        let clock = Instant::now();
        let g = exact::gram_lower(&data, par, |_| {}).unwrap();
        t[0].push(clock.elapsed().as_secs_f64());
        let clock = Instant::now();
        let mut band = vec![0.0f64; m * m];
        let mut a = MatMut::from_column_major_slice_mut(&mut band, m, m);
        a.copy_from_triangular_lower(g.as_ref());
        twostage::to_band(a, nb, par);
        t[1].push(clock.elapsed().as_secs_f64());
        let mut one = band.clone();
        let clock = Instant::now();
        twostage::band_to_tridiagonal(&mut one, m, nb, Par::Seq);
        t[2].push(clock.elapsed().as_secs_f64());
        let clock = Instant::now();
        let (mut d, mut e) = twostage::band_to_tridiagonal(&mut band, m, nb, par);
        t[3].push(clock.elapsed().as_secs_f64());
        let clock = Instant::now();
        tridiagonal::eigenvalues(&mut d, &mut e).unwrap();
        t[4].push(clock.elapsed().as_secs_f64());
        top = d.iter().copied().fold(0.0, f64::max);
    }
    let [gram, to_band, chase1, chase2, ql] = t.map(median);
    println!(
        "\nexact phases, {n}×{m} BF16 trained-like, 2 threads, median of {rounds} (λ_max {top:.6e}):"
    );
    for (what, secs) in [
        ("Gram (decoding included)".to_string(), gram),
        (format!("dense → band (b = {nb})"), to_band),
        ("bulge chase, 1 thread".to_string(), chase1),
        ("bulge chase, pipelined".to_string(), chase2),
        ("tridiagonal eigenvalues".to_string(), ql),
        (
            "total (pipelined chase)".to_string(),
            gram + to_band + chase2 + ql,
        ),
    ] {
        println!("  {what:<27}{secs:.3} s");
    }
}
