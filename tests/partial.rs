//! `--method auto` with a caller that needs only the top of the spectrum
//! (`RunOptions::needs`): it takes block Lanczos on the CPU, says so in the
//! outcome's note, gives the exact method's top values, and answers with
//! the exact spectrum (and says why) when Lanczos cannot converge within
//! its budget of passes over the weights.

use specscope::load::{Checkpoint, DType, TensorOut, write_safetensors};
use specscope::pipeline::{self, Method, Needs, Outcome, RunOptions, Selection, Silent};
use specscope::spectrum::KrylovOptions;

/// A 1600×640 BF16 matrix with a power-law head (μ₂/μ₁ ≈ 0.44), written
/// as a one-tensor checkpoint.
fn checkpoint(dir: &std::path::Path) -> Checkpoint {
    let (n, m) = (1600, 640);
    let bytes = specscope::synth::scaled_columns_bf16(n, m, 0.6, 1e-3, 5);
    let tensor = TensorOut {
        name: "w.weight".into(),
        dtype: DType::BF16,
        shape: vec![n, m],
        data: bytes,
    };
    let path = dir.join("model.safetensors");
    write_safetensors(&path, &[tensor], &[]).unwrap();
    Checkpoint::open(&path).unwrap()
}

fn run(ck: &Checkpoint, method: Method, needs: Needs, krylov: KrylovOptions) -> Outcome {
    let plan = pipeline::plan(ck, &Selection::default());
    let opts = RunOptions {
        threads: 2,
        method,
        needs,
        krylov,
        ..RunOptions::default()
    };
    let mut out = pipeline::run(ck, &plan, &opts, &Silent);
    assert_eq!(out.len(), 1);
    out.remove(0)
}

/// Top 8 by auto's Lanczos against the exact spectrum: within 1e-9
/// relative (the Krylov tolerance is 1e-10 relative; the exact path's own
/// rounding is ~1e-13).
#[test]
fn auto_takes_lanczos_when_only_the_top_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    let ck = checkpoint(dir.path());
    let exact = run(&ck, Method::Exact, Needs::All, KrylovOptions::default());
    let all = run(&ck, Method::Auto, Needs::All, KrylovOptions::default());
    assert_eq!(all.method, Method::Exact);
    assert!(all.note.is_none());
    let top = run(&ck, Method::Auto, Needs::Top(8), KrylovOptions::default());
    assert_eq!(top.method, Method::Lanczos);
    let note = top.note.as_deref().expect("auto says why");
    assert!(note.contains("block Lanczos for the top 8"), "{note}");
    let (e, t) = (exact.evals.unwrap(), top.evals.unwrap());
    assert!(top.converged.as_ref().unwrap().iter().all(|&c| c));
    for i in 0..8 {
        assert!(
            (t[i] - e[i]).abs() <= 1e-9 * e[i],
            "μ_{}: {} vs {}",
            i + 1,
            t[i],
            e[i]
        );
    }
}

/// A tolerance no Krylov run can meet: auto spends its budget, then
/// answers with the exact spectrum and says so.
#[test]
fn auto_falls_back_to_exact_when_lanczos_does_not_converge() {
    let dir = tempfile::tempdir().unwrap();
    let ck = checkpoint(dir.path());
    let krylov = KrylovOptions {
        tol: 1e-300,
        ..KrylovOptions::default()
    };
    let o = run(&ck, Method::Auto, Needs::Top(8), krylov);
    assert_eq!(o.method, Method::Exact);
    let note = o.note.as_deref().expect("the fallback is said");
    assert!(note.contains("did not converge"), "{note}");
    assert_eq!(o.evals.unwrap().len(), 640);
}
