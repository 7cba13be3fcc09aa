//! The dense f64 products under the exact path and the streaming operator
//! (`simd::gemm_f64`, the `gemm` crate's kernels) against faer 0.24's own
//! `matmul`, side by side: a 4096×2048 · 2048×4096 product (the shape of
//! one block of a Gram), and the lower triangle of G += X·Xᵀ for the same
//! X by `simd::gemmt_lower` against faer's triangular product. One thread
//! and two; rounds interleave the kernels, the table gives medians and the
//! ratio faer / ours from the same rounds, in GFLOP/s of useful work.
//!
//!   cargo bench --bench kernels
//!
//! SPECSCOPE_BENCH_ROUNDS=R rounds (default 5).

use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, Par};
use specscope::simd::{gemm_f64, gemmt_lower};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("SPECSCOPE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
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
            matmul(
                g.as_mut(),
                Accum::Replace,
                x.as_ref(),
                x.transpose(),
                1.0,
                par,
            );
            f_full.push(full / t.elapsed().as_secs_f64() / 1e9);
            let t = Instant::now();
            gemm_f64(
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
}
