//! Partial spectra against the exact one on the two large matrices of
//! docs/performance.md (11008×4096 BF16, `synth::scaled_columns_bf16`): a
//! trained-like one (columns scaled by j^(−0.6) over a 1e-3 noise floor,
//! μ₂/μ₁ ≈ 0.44) and pure Gaussian noise (its top clustered at the
//! Marchenko–Pastur edge). Each method runs through the pipeline as
//! `analyze` runs it (mapped file, decoding, operator, solver, on every
//! core): exact; Lanczos top 16; power (λ_max); SLQ with the CLI's
//! defaults and --top-k 16 (32 probes × 40 steps); and `auto` for a caller
//! that needs the top 16 or only λ_max ([`Needs::Top`]).
//!
//! Rounds interleave the methods (each round runs every method once, so a
//! change in the shared machine's load hits all of them alike); the table
//! gives medians over the rounds and ratios to exact from the same rounds.
//! With `PEER_PYTHON=/path/to/python` (numpy installed) numpy's f64 Gram +
//! eigvalsh on the same matrix (benches/reference/numpy_gram_eigvalsh.py)
//! runs in every round too.
//!
//!   PEER_PYTHON=/path/to/python cargo bench --bench partial
//!
//! SPECSCOPE_BENCH_ROUNDS=R rounds (default 5); SPECSCOPE_BENCH_SHAPE=N,M
//! instead of 11008,4096; SPECSCOPE_BENCH_ONLY=trained|noise one matrix.
//!
//! With SPECSCOPE_BENCH_CHECKPOINT=PATH (e.g. a 7B-shaped checkpoint from
//! `cargo run --release --example make_7b -- DIR`), instead: one run of
//! `auto` over every matrix of PATH for a caller that needs λ_max, then
//! one for the top 16, each timed end to end (open, plan, every matrix),
//! with the methods that ran and the fallbacks counted.

mod common;

use common::{median, rounds, shape};
use specscope::load::{Checkpoint, DType, TensorOut, write_safetensors};
use specscope::pipeline::{self, Method, Needs, RunOptions, Selection, Silent};
use specscope::spectrum::KrylovOptions;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

struct Case {
    name: &'static str,
    method: Method,
    needs: Needs,
}

const CASES: [Case; 7] = [
    Case {
        name: "exact",
        method: Method::Exact,
        needs: Needs::All,
    },
    Case {
        name: "lanczos top-16",
        method: Method::Lanczos,
        needs: Needs::All,
    },
    Case {
        name: "power",
        method: Method::Power,
        needs: Needs::All,
    },
    Case {
        name: "slq",
        method: Method::Slq,
        needs: Needs::All,
    },
    Case {
        name: "auto, needs top 16",
        method: Method::Auto,
        needs: Needs::Top(16),
    },
    Case {
        name: "auto, needs λ_max",
        method: Method::Auto,
        needs: Needs::Top(1),
    },
    Case {
        name: "auto, needs all",
        method: Method::Auto,
        needs: Needs::All,
    },
];

/// What one run gave: seconds, the method that ran, λ_max, how many of
/// the top values converged, the note.
struct Run {
    secs: f64,
    method: Method,
    top: f64,
    converged: String,
    note: Option<String>,
}

fn run(ck: &Checkpoint, case: &Case, threads: usize) -> Run {
    let sel = Selection::default();
    let plan = pipeline::plan(ck, &sel);
    assert_eq!(plan.jobs.len(), 1);
    let opts = RunOptions {
        threads,
        method: case.method,
        needs: case.needs,
        krylov: KrylovOptions {
            top_k: 16,
            probes: 32,
            steps: 40,
            ..Default::default()
        },
        ..RunOptions::default()
    };
    let t0 = Instant::now();
    let out = pipeline::run(ck, &plan, &opts, &Silent);
    let secs = t0.elapsed().as_secs_f64();
    let o = &out[0];
    let evals = o.evals.as_ref().expect("the spectrum");
    let converged = o.converged.as_ref().map_or("all".into(), |c| {
        format!("{}/{}", c.iter().filter(|&&x| x).count(), c.len())
    });
    Run {
        secs,
        method: o.method,
        top: evals[0],
        converged,
        note: o.note.clone(),
    }
}

/// numpy's exact spectrum on the matrix written as f32 at `raw`: seconds,
/// λ_max, and the seconds of its two phases (cast + Gram, `eigvalsh`).
fn numpy(py: &std::ffi::OsStr, raw: &Path, n: usize, m: usize) -> Option<(f64, f64, [f64; 2])> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/reference/numpy_gram_eigvalsh.py"
    );
    let out = Command::new(py)
        .arg(script)
        .arg(raw)
        .args([n.to_string(), m.to_string()])
        .env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("numpy_exact_s"))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    let num = |i: usize| f.get(i)?.parse::<f64>().ok();
    Some((num(1)?, num(3)?, [num(5)?, num(7)?]))
}

/// `auto` over a whole checkpoint, for λ_max and for the top 16.
fn whole_checkpoint(path: &Path) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for needs in [Needs::Top(1), Needs::Top(16)] {
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let t0 = Instant::now();
        let ck = Checkpoint::open(path).unwrap();
        let plan = pipeline::plan(&ck, &Selection::default());
        let opts = RunOptions {
            threads,
            method: Method::Auto,
            needs,
            ..RunOptions::default()
        };
        let out = pipeline::run(&ck, &plan, &opts, &Silent);
        let secs = t0.elapsed().as_secs_f64();
        let mut ran = std::collections::BTreeMap::<&str, usize>::new();
        for o in &out {
            *ran.entry(o.method.as_str()).or_default() += 1;
        }
        let fallbacks = out
            .iter()
            .filter(|o| {
                o.note
                    .as_deref()
                    .is_some_and(|n| n.contains("did not converge"))
            })
            .count();
        let failed = out.iter().filter(|o| o.evals.is_err()).count();
        println!(
            "{}: auto, needs {needs:?}: {} matrices in {secs:.1} s ({:.2} s each), ran {ran:?}, {fallbacks} fell back to exact, {failed} failed; {threads} threads, load average at start: {}",
            path.display(),
            out.len(),
            secs / out.len().max(1) as f64,
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
}

fn main() {
    if let Some(path) = std::env::var_os("SPECSCOPE_BENCH_CHECKPOINT") {
        whole_checkpoint(Path::new(&path));
        return;
    }
    let rounds = rounds(5);
    let (n, m) = shape((11008, 4096));
    let only = std::env::var("SPECSCOPE_BENCH_ONLY").ok();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let py = std::env::var_os("PEER_PYTHON");
    let dir = tempfile::tempdir().unwrap();
    for (label, p, floor, seed) in [("trained", 0.6, 1e-3, 11u64), ("noise", 0.0, 0.0, 12)] {
        if only.as_deref().is_some_and(|o| o != label) {
            continue;
        }
        let bytes = specscope::synth::scaled_columns_bf16(n, m, p, floor, seed);
        let sub = dir.path().join(label);
        std::fs::create_dir_all(&sub).unwrap();
        let raw = sub.join("a.f32");
        if py.is_some() {
            let f32s: Vec<u8> = bytes
                .chunks_exact(2)
                .flat_map(|c| {
                    half::bf16::from_le_bytes([c[0], c[1]])
                        .to_f32()
                        .to_le_bytes()
                })
                .collect();
            std::fs::write(&raw, f32s).unwrap();
        }
        let tensor = TensorOut {
            name: "w.weight".into(),
            dtype: DType::BF16,
            shape: vec![n, m],
            data: bytes,
        };
        write_safetensors(&sub.join("model.safetensors"), &[tensor], &[]).unwrap();
        let ck = Checkpoint::open(&sub.join("model.safetensors")).unwrap();
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "\n{label}: {n}×{m} BF16, {threads} threads, {rounds} rounds; load average at start: {}",
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); CASES.len()];
        let mut last: Vec<Option<Run>> = (0..CASES.len()).map(|_| None).collect();
        let mut np: Vec<f64> = Vec::new();
        let mut np_phases: [Vec<f64>; 2] = Default::default();
        let mut np_top = f64::NAN;
        for _ in 0..rounds {
            for (i, case) in CASES.iter().enumerate() {
                let r = run(&ck, case, threads);
                times[i].push(r.secs);
                last[i] = Some(r);
            }
            if let Some(py) = &py
                && let Some((s, top, phases)) = numpy(py, &raw, n, m)
            {
                np.push(s);
                np_top = top;
                for (all, p) in np_phases.iter_mut().zip(phases) {
                    all.push(p);
                }
            }
        }
        let exact = median(times[0].clone());
        let exact_top = last[0].as_ref().unwrap().top;
        println!(
            "{:<22} {:>9} {:>9}  {:<8} {:>10} {:>12}",
            "method", "median s", "exact/x", "ran", "converged", "λ_max rel"
        );
        for (i, case) in CASES.iter().enumerate() {
            let t = median(times[i].clone());
            let r = last[i].as_ref().unwrap();
            println!(
                "{:<22} {:>9.3} {:>8.2}×  {:<8} {:>10} {:>12.1e}",
                case.name,
                t,
                exact / t,
                r.method.as_str(),
                r.converged,
                (r.top - exact_top).abs() / exact_top
            );
            if let Some(note) = &r.note {
                println!("    note: {note}");
            }
        }
        if !np.is_empty() {
            let t = median(np.clone());
            println!(
                "{:<22} {:>9.3} {:>8.2}×  {:<8} {:>10} {:>12.1e}   (numpy / specscope exact: {:.2}×)",
                "numpy Gram+eigvalsh",
                t,
                exact / t,
                "numpy",
                "all",
                (np_top - exact_top).abs() / exact_top,
                t / exact
            );
            println!(
                "    numpy phases (medians): cast + Gram {:.3} s, eigvalsh {:.3} s",
                median(np_phases[0].clone()),
                median(np_phases[1].clone())
            );
        }
        for (i, case) in CASES.iter().enumerate() {
            let r: Vec<f64> = times[i]
                .iter()
                .map(|x| (x * 1000.0).round() / 1000.0)
                .collect();
            println!("  runs {:<22} {r:?}", case.name);
        }
    }
}
