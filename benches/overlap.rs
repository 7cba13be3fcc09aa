//! The singular vectors behind `compare --overlap K`: the top 16 of one
//! matrix by block Lanczos (`SingularBasis::top`, streaming the weights)
//! against the Gram's full decomposition (`SingularBasis::new` at ranks
//! 1..16), both finishing with the same pass for the long side. One
//! thread each, as `compare` runs one matrix per thread. Two 8192×2048
//! BF16 matrices from `synth::scaled_columns_bf16` (docs/performance.md's
//! generator): trained-like (columns scaled by j^(−0.6) over a 1e-3 noise
//! floor) and pure Gaussian noise, whose clustered top makes Lanczos stop
//! at its budget (half the exact cost) and fall back to the exact vectors.
//!
//! Rounds interleave the two solvers; the table gives medians and the
//! ratio exact / Lanczos from the same rounds.
//!
//!   cargo bench --bench overlap
//!
//! SPECSCOPE_BENCH_ROUNDS=R rounds (default 3); SPECSCOPE_BENCH_SHAPE=N,M
//! instead of 8192,2048.

mod common;

use common::{median, rounds, shape};
use faer::Par;
use specscope::compare::modes::{SingularBasis, VectorSolver};
use specscope::load::{Checkpoint, DType, TensorOut, write_safetensors};
use specscope::pipeline::{self, Selection};
use std::time::Instant;

const K: usize = 16;

fn main() {
    let rounds = rounds(3);
    let (n, m) = shape((8192, 2048));
    let dir = tempfile::tempdir().unwrap();
    println!("| matrix | exact top-{K} vectors | Lanczos top-{K} | exact / Lanczos | solver |");
    println!("|---|---|---|---|---|");
    for (label, p, floor, seed) in [("trained", 0.6, 1e-3, 11u64), ("noise", 0.0, 0.0, 12)] {
        let path = dir.path().join(format!("{label}.safetensors"));
        let tensor = TensorOut {
            name: "w.weight".into(),
            dtype: DType::BF16,
            shape: vec![n, m],
            data: specscope::synth::scaled_columns_bf16(n, m, p, floor, seed),
        };
        write_safetensors(&path, &[tensor], &[]).unwrap();
        let ck = Checkpoint::open(&path).unwrap();
        let plan = pipeline::plan(&ck, &Selection::default());
        let job = &plan.jobs[0];
        let (mut exact, mut lanczos, mut solver) = (Vec::new(), Vec::new(), None);
        for _ in 0..rounds {
            let t = Instant::now();
            let a = SingularBasis::new(&ck, job, &|m| (1..=K.min(m)).collect(), Par::Seq).unwrap();
            exact.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let (b, s) = SingularBasis::top(&ck, job, K, None, Par::Seq).unwrap();
            lanczos.push(t.elapsed().as_secs_f64());
            // The same subspace: ‖AᵀB‖²_F / K near 1.
            let c = a.right.transpose() * &b.right;
            let fro2 = c.squared_norm_l2() / K as f64;
            assert!(fro2 > 0.999 || p == 0.0, "{label}: overlap {fro2}");
            solver = Some(s);
        }
        let (e, l) = (median(exact), median(lanczos));
        let solver = match solver.unwrap() {
            VectorSolver::Lanczos { passes, .. } => format!("Lanczos, {passes} passes"),
            VectorSolver::ExactFallback { passes } => {
                format!("fell back to exact after {passes} passes")
            }
            VectorSolver::Exact => "exact".into(),
        };
        println!(
            "| {label} {n}×{m} BF16 | {e:.2} s | {l:.2} s | {:.2}× | {solver} |",
            e / l
        );
    }
}
