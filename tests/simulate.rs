//! The ground-truth simulator against what it claims: the analytic laws of
//! docs/simulate.md, an independent closed form of gradient descent, real
//! compression properties, determinism, and the run-directory API.
//!
//! Sizes are small (each run takes a second or two in a release build)
//! but awkward: non-square teachers, hidden widths unlike D and K.

use faer::Mat;
use specscope::simulate::{ModelKind, Run, SimConfig, SimError, simulate};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A fresh directory under cargo's per-target scratch space.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("simulate")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run(name: &str, cfg: &SimConfig) -> PathBuf {
    let dir = scratch(name);
    simulate(cfg, &dir, &mut |_, _| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
    dir
}

/// Linear: a = 2.3, b = 1.4, D = 400, K = 333 (R = 333, so the loss window
/// 5 < k_* < R/20 spans steps ≈ 19…102), T = 300 (final k_* ≈ 36), stored
/// in F64 so the closed form can be checked to round-off. The init is
/// 10× smaller than the default so that the unlearned regime of the
/// spectrum stays above the init floor over a decade of ranks.
fn linear_cfg() -> SimConfig {
    SimConfig {
        dim: 400,
        outputs: 333,
        steps: 300,
        lr: 0.5,
        snapshots: 8,
        seed: 7,
        init_scale: 1e-4,
        dtype: "F64".into(),
        ..SimConfig::defaults(ModelKind::Linear, 2.3, 1.4)
    }
}

fn linear_run() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| run("linear", &linear_cfg()))
}

/// Deep-linear: a = 2.5, b = 1.5 (THEORY.md's example), D = 96, K = 80,
/// H = 112, T = 4000: modes up to k ≈ 17 are learned.
fn deep_cfg() -> SimConfig {
    SimConfig {
        dim: 96,
        outputs: 80,
        hidden: 112,
        steps: 4000,
        snapshots: 10,
        seed: 11,
        ..SimConfig::defaults(ModelKind::DeepLinear, 2.5, 1.5)
    }
}

fn deep_run() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| run("deep", &deep_cfg()))
}

fn mlp_cfg() -> SimConfig {
    SimConfig {
        dim: 24,
        outputs: 20,
        hidden: 56,
        steps: 800,
        snapshots: 6,
        train_samples: 500,
        test_samples: 300,
        seed: 3,
        ..SimConfig::defaults(ModelKind::Mlp, 2.5, 1.5)
    }
}

fn mlp_run() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| run("mlp", &mlp_cfg()))
}

/// Plain least-squares slope of y on x (test-private; the real estimators
/// live in `fit`).
fn ls_slope(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    sxy / sxx
}

/// Decay exponent of μ_k over ranks k0..=k1 (1-based): −slope of ln μ on ln k.
fn rank_decay(mu: &[f64], k0: usize, k1: usize) -> f64 {
    let x: Vec<f64> = (k0..=k1).map(|k| (k as f64).ln()).collect();
    let y: Vec<f64> = (k0..=k1).map(|k| mu[k - 1].ln()).collect();
    -ls_slope(&x, &y)
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn same_seed_gives_identical_files_and_another_seed_does_not() {
    for model in [ModelKind::Linear, ModelKind::DeepLinear, ModelKind::Mlp] {
        let cfg = SimConfig {
            dim: 23,
            outputs: 17,
            hidden: 29,
            steps: 60,
            snapshots: 5,
            train_samples: 64,
            test_samples: 32,
            seed: 5,
            ..SimConfig::defaults(model, 2.2, 1.3)
        };
        let name = model.as_str();
        let a = files(&run(&format!("det-{name}-a"), &cfg));
        let b = files(&run(&format!("det-{name}-b"), &cfg));
        assert_eq!(a.len(), 5 + 1 + 4, "{name}: file count");
        for ((pa, da), (pb, db)) in a.iter().zip(&b) {
            assert_eq!(pa, pb);
            assert!(
                da == db,
                "{name}: {} differs between two runs",
                pa.display()
            );
        }
        let c = files(&run(
            &format!("det-{name}-c"),
            &SimConfig { seed: 6, ..cfg },
        ));
        let snap = |f: &[(PathBuf, Vec<u8>)]| {
            f.iter()
                .find(|(p, _)| p.ends_with("step-00000060.safetensors"))
                .unwrap()
                .1
                .clone()
        };
        assert!(
            snap(&a) != snap(&c),
            "{name}: seed 6 wrote the same weights as seed 5"
        );
    }
}

/// Gradient descent on ½‖(W−W*)Σ^(1/2)‖² has the closed form
/// W(t) = W* + (W(0) − W*)·V·diag((1 − ηλ)^t)·Vᵀ. The iterated weights
/// must match it to round-off: 300 steps of f64 updates with entries of
/// order 0.1 accumulate ≲ 1e-13 absolute error; 1e-10 leaves room.
#[test]
fn linear_gradient_descent_matches_its_closed_form() {
    let r = Run::open(linear_run()).unwrap();
    let task = r.task();
    let w0 = r.weights(&r.init).unwrap().layers.remove(0);
    let cfg = &r.truth.config;
    for snap in [&r.snapshots[2], r.snapshots.last().unwrap()] {
        let w = r.weights(snap).unwrap().layers.remove(0);
        let t = snap.step as i32;
        let decay = Mat::from_fn(cfg.dim, cfg.dim, |i, j| {
            task.v[(i, j)] * (1.0 - cfg.lr * task.lambda[j]).powi(t)
        });
        let closed = &task.w_star + (&w0 - &task.w_star) * &decay * task.v.transpose();
        let err = (&w - &closed).norm_max();
        assert!(err < 1e-10, "step {t}: max |W − closed form| = {err:e}");
    }
}

/// THEORY.md §1/§4: L(t) ∝ t^(−(a−1)/b) while 5 < k_* < R/20. The slope of
/// ln L on ln t is measured here from losses.csv over the steps where the
/// analytic frontier (ηt)^(1/b) lies in that window; target: within 15%.
#[test]
fn linear_loss_exponent_matches_theory() {
    let r = Run::open(linear_run()).unwrap();
    let (a, b, eta) = (r.truth.a, r.truth.b, r.truth.config.lr);
    let size = r.truth.modes as f64;
    let pts: Vec<(f64, f64)> = r
        .losses
        .iter()
        .filter(|l| {
            let ks = (eta * l.step as f64).powf(1.0 / b);
            l.step > 0 && ks > 5.0 && ks < size / 20.0
        })
        .map(|l| ((l.step as f64).ln(), l.test_loss.ln()))
        .collect();
    assert!(pts.len() >= 10, "only {} points in the window", pts.len());
    let (x, y): (Vec<f64>, Vec<f64>) = pts.into_iter().unzip();
    let measured = -ls_slope(&x, &y);
    let analytic = (a - 1.0) / b;
    let from_truth = r.truth.measured.loss_time_exponent.as_ref().unwrap().value;
    println!(
        "linear loss exponent: measured {measured:.4} (truth.json {from_truth:.4}), analytic {analytic:.4}, window steps {:.0}..{:.0}",
        x[0].exp(),
        x[x.len() - 1].exp()
    );
    assert!((measured / analytic - 1.0).abs() < 0.15);
    assert!((from_truth / analytic - 1.0).abs() < 0.15);
    assert!((r.truth.analytic.as_ref().unwrap().loss_time_exponent - analytic).abs() < 1e-12);
}

/// The final spectrum μ_k = σ_k(W)² is a broken power law with break at
/// k_*: decay a−b for learned modes (k ≤ k_*/3, where (1 − e^(−ηλt))² > 0.99),
/// a+b for unlearned ones (k ≥ 4·k_*, where ηλ_k t ≤ 0.15). Tolerances:
/// ±0.05 inside; outside, the curvature of (1 − e^(−x))²/x² ≈ 1 − x
/// biases the decay low by about b·x̄ ≈ 0.1, so ±0.2.
#[test]
fn linear_final_spectrum_has_the_analytic_slopes() {
    let r = Run::open(linear_run()).unwrap();
    let last = r.snapshots.last().unwrap();
    let w = r.weights(last).unwrap().layers.remove(0);
    let mu: Vec<f64> = w.singular_values().unwrap().iter().map(|s| s * s).collect();
    let (a, b) = (r.truth.a, r.truth.b);
    let ks = r.truth.snapshots.last().unwrap().k_star;
    let inside = rank_decay(&mu, 2, ks / 3);
    let outside = rank_decay(&mu, 4 * ks, r.truth.modes);
    println!(
        "linear final spectrum (k_* = {ks}): decay {inside:.4} on k = 2..{} (a−b = {:.2}), {outside:.4} on k = {}..{} (a+b = {:.2})",
        ks / 3,
        a - b,
        4 * ks,
        r.truth.modes,
        a + b
    );
    assert!((inside - (a - b)).abs() < 0.05);
    assert!((outside - (a + b)).abs() < 0.2);
    let an = r.truth.analytic.as_ref().unwrap();
    assert_eq!(an.spectrum_learned_exponent, a - b);
    assert_eq!(an.spectrum_unlearned_exponent, Some(a + b));
}

/// Linear truth: the mode-wise ρ measured on the true trajectories is 1
/// (within 2%: the discrete −ln(1 − ηλ) differs from ηλ by ηλ/2 ≤ 2.5% on
/// the fitted modes), and the counted frontier follows (ηt)^(1/b) to
/// within one mode plus 5%.
#[test]
fn linear_truth_rho_and_frontier() {
    let r = Run::open(linear_run()).unwrap();
    let rho = r.truth.measured.rho_half_learning.as_ref().unwrap();
    println!(
        "linear ρ (half-learning) = {:.4} ± {:.4} over {}",
        rho.value, rho.stderr, rho.over
    );
    assert!((rho.value - 1.0).abs() < 0.02);
    for s in &r.truth.snapshots {
        let an = s.k_star_analytic.unwrap();
        assert!(
            (s.k_star as f64 - an).abs() <= 1.0 + 0.05 * an,
            "step {}: k_* = {} vs (ηt)^(1/b) = {an:.2}",
            s.step,
            s.k_star
        );
    }
}

/// Deep-linear: ρ measured on the true trajectories beside the analytic
/// 2b/(a+b) = 0.75 and the log-corrected value (the logistic t_½ with
/// its ln(w_k/s₀) factor, fitted over the same modes). Measured, not
/// tuned: the pins are what this seed gives (ρ ≈ 0.77, i.e. 2–3% above
/// 2b/(a+b), within 1% of the log-corrected value), with room for another
/// platform's round-off but not for a change of sign of the log effect.
#[test]
fn deep_linear_rho_beside_its_analytic_value() {
    let r = Run::open(deep_run()).unwrap();
    let an = r.truth.analytic.as_ref().unwrap();
    let m = r.truth.measured.rho_half_learning.as_ref().unwrap();
    let log = an.rho_log_corrected.unwrap();
    println!(
        "deep-linear ρ: measured {:.4} ± {:.4} ({}), analytic 2b/(a+b) = {:.4}, log-corrected {log:.4}",
        m.value, m.stderr, m.over, an.rho
    );
    assert_eq!(an.rho, 0.75);
    assert!(m.points >= 10, "{} modes", m.points);
    assert!(
        m.value > an.rho,
        "the log factor should raise ρ above 2b/(a+b)"
    );
    assert!((m.value / an.rho - 1.0).abs() < 0.06);
    assert!((m.value / log - 1.0).abs() < 0.02);
    assert!(log > an.rho);
}

/// Properties every measured compression must have, per snapshot:
/// truncation at full rank costs nothing (round-off of an SVD
/// reconstruction: |ΔL| ≤ 1e-10·L); for the population-loss models, once
/// a mode is learned (k_* ≥ 1; before that every mode is init noise), ΔL
/// falls with the rank (to 1e-8·L: removing an init-noise mode changes the
/// loss by its tiny energy, of either sign); for every model ΔL falls with
/// the bits from 2 to 6 once k_* ≥ 5. From 6 to 8 bits the increase is at
/// the level of the first-order term ⟨∇L, δW⟩ of an unconverged model,
/// whose sign is random: there ΔL may rise by at most 1e-3·L per bit
/// (measured: at most 1.4e-4·L).
fn check_compression(dir: &Path, rank_monotone: bool) {
    let r = Run::open(dir).unwrap();
    for (i, s) in r.truth.snapshots.iter().enumerate() {
        let l = s.test_loss;
        let rows: Vec<_> = r.compression_of(i).collect();
        let series = |kind: &str| -> Vec<(u64, f64)> {
            rows.iter()
                .filter(|c| c.kind == kind)
                .map(|c| (c.param, c.delta_loss))
                .collect()
        };
        let ranks = series("rank");
        let (full, d_full) = *ranks.last().unwrap();
        assert!(
            d_full.abs() <= 1e-10 * l,
            "snapshot {i}: rank {full} ΔL = {d_full:e}"
        );
        if rank_monotone && s.k_star >= 1 {
            for w in ranks.windows(2) {
                assert!(
                    w[1].1 <= w[0].1 + 1e-8 * l,
                    "snapshot {i}: ΔL(r = {}) = {:e} > ΔL(r = {}) = {:e}",
                    w[1].0,
                    w[1].1,
                    w[0].0,
                    w[0].1
                );
            }
        }
        for kind in ["quant_tensor", "quant_channel"] {
            let q = series(kind);
            assert_eq!(
                q.iter().map(|p| p.0).collect::<Vec<_>>(),
                (2..=8).collect::<Vec<_>>()
            );
            if s.k_star >= 5 {
                for w in q[..5].windows(2) {
                    assert!(
                        w[1].1 <= w[0].1,
                        "snapshot {i} {kind}: ΔL({} bits) = {:e} > ΔL({} bits) = {:e}",
                        w[1].0,
                        w[1].1,
                        w[0].0,
                        w[0].1
                    );
                }
                for w in q[4..].windows(2) {
                    assert!(
                        w[1].1 <= w[0].1 + 1e-3 * l,
                        "snapshot {i} {kind}: ΔL rises from {:e} to {:e} at {} bits",
                        w[0].1,
                        w[1].1,
                        w[1].0
                    );
                }
            }
            assert!(q[0].1 > 0.0, "snapshot {i} {kind}: 2 bits cost nothing?");
        }
    }
}

#[test]
fn linear_compression_is_monotone_and_free_at_full_rank() {
    check_compression(linear_run(), true);
}

#[test]
fn deep_linear_compression_is_monotone_and_free_at_full_rank() {
    check_compression(deep_run(), true);
}

/// The MLP overfits its 500 samples a little, so pruning modes beyond the
/// frontier can lower the test loss: its ΔL is only required to fall with
/// the rank up to k_*, and to stay within 2% of L beyond 2·k_*.
#[test]
fn mlp_compression_is_monotone_up_to_the_frontier() {
    check_compression(mlp_run(), false);
    let r = Run::open(mlp_run()).unwrap();
    let s = r.truth.snapshots.last().unwrap();
    let i = r.snapshots.len() - 1;
    let ranks: Vec<_> = r.compression_of(i).filter(|c| c.kind == "rank").collect();
    println!("mlp final k_* = {}, L = {:e}", s.k_star, s.test_loss);
    for w in ranks.windows(2).filter(|w| w[1].param as usize <= s.k_star) {
        assert!(w[1].delta_loss <= w[0].delta_loss, "r = {}", w[1].param);
    }
    for c in ranks.iter().filter(|c| c.param as usize >= 2 * s.k_star) {
        assert!(
            c.delta_loss.abs() <= 0.02 * s.test_loss,
            "r = {}: {:e}",
            c.param,
            c.delta_loss
        );
    }
    assert!(s.k_star >= 5, "the MLP learned only {} modes", s.k_star);
}

/// The reader returns what the trainer wrote: snapshots in step order with
/// their header metadata, weights whose recomputed loss and mode strengths
/// equal truth.json and modes.csv (same f64 arithmetic on F64 weights:
/// 1e-12 relative), and one compression row per (snapshot, kind, param).
#[test]
fn reader_round_trips_a_run() {
    let r = Run::open(linear_run()).unwrap();
    let cfg = &r.truth.config;
    assert_eq!(r.snapshots.len(), cfg.snapshots);
    assert_eq!(r.init.step, 0);
    let modes = r.modes().unwrap();
    let task = r.task();
    for (i, s) in r.snapshots.iter().enumerate() {
        assert_eq!(s.index, Some(i));
        assert_eq!(
            s.tokens, s.step,
            "population training: one example-equivalent per step"
        );
        assert!((s.lr_sum - cfg.lr * s.step as f64).abs() < 1e-9);
        let w = r.weights(s).unwrap();
        let l = task.population_loss(w.layers[0].as_ref());
        let t = &r.truth.snapshots[i];
        assert!(
            (l - t.test_loss).abs() <= 1e-12 * l,
            "{l} vs {}",
            t.test_loss
        );
        let j = modes.steps.iter().position(|&st| st == s.step).unwrap();
        let sk = task.mode_strengths(w.effective().as_ref());
        for k in [0, 5, 100, r.truth.modes - 1] {
            assert!((sk[k] - modes.strength[k][j]).abs() <= 1e-12 * task.target[0]);
        }
        assert_eq!(modes.frontier(j), t.k_star);
        let row = r.losses.iter().find(|l| l.step == s.step).unwrap();
        assert!((row.test_loss - t.test_loss).abs() <= 1e-12 * l);
    }
    assert!(r.snapshots.windows(2).all(|w| w[0].step < w[1].step));
    let per = r.compression.len() / cfg.snapshots;
    assert_eq!(r.compression.len(), per * cfg.snapshots);
    assert_eq!(per, r.compression_of(0).count());
    assert_eq!(r.compression_of(0).filter(|c| c.kind != "rank").count(), 14);
    assert_eq!(modes.steps.len(), r.losses.len());
    assert!((modes.lr_sum[7] - cfg.lr * modes.steps[7] as f64).abs() < 1e-9);
    let t_half = modes.half_learning_times();
    assert_eq!(t_half, r.truth.measured.half_learning_steps);
}

#[test]
fn reader_names_the_damaged_file() {
    let cfg = SimConfig {
        dim: 9,
        outputs: 7,
        steps: 12,
        snapshots: 3,
        ..SimConfig::defaults(ModelKind::Linear, 2.0, 1.5)
    };
    let fresh = || run("damaged", &cfg);
    let err = |dir: &Path| Run::open(dir).unwrap_err();

    let dir = fresh();
    std::fs::write(dir.join("truth.json"), "{\"format\": 3").unwrap();
    let e = err(&dir);
    assert!(
        matches!(e, SimError::Format { .. }) && e.to_string().contains("truth.json"),
        "{e}"
    );

    let dir = fresh();
    std::fs::remove_file(dir.join("snapshots/step-00000012.safetensors")).unwrap();
    let e = err(&dir);
    assert!(
        e.to_string()
            .contains("2 snapshot files, truth.json lists 3"),
        "{e}"
    );

    let dir = fresh();
    std::fs::write(dir.join("snapshots/step-00000012.safetensors"), b"garbage").unwrap();
    let e = err(&dir);
    assert!(e.to_string().contains("step-00000012.safetensors"), "{e}");

    let dir = fresh();
    std::fs::write(dir.join("modes.csv"), "step,k,strength\n0,2,0.5\n").unwrap();
    let e = Run::open(&dir).unwrap().modes().unwrap_err();
    assert!(
        e.to_string().contains("modes.csv") && e.to_string().contains("mode 2"),
        "{e}"
    );

    // A non-empty output directory is refused, not overwritten.
    let e = simulate(&cfg, &dir, &mut |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("not empty"), "{e}");
}

#[test]
fn cli_writes_a_run_and_rejects_bad_flags() {
    let exe = env!("CARGO_BIN_EXE_specscope");
    let dir = scratch("cli");
    let out = std::process::Command::new(exe)
        .args([
            "simulate",
            "--model",
            "deep-linear",
            "--a",
            "2.5",
            "--b",
            "1.5",
        ])
        .args([
            "--dim",
            "12",
            "--outputs",
            "10",
            "--hidden",
            "14",
            "--steps",
            "30",
        ])
        .args([
            "--snapshots",
            "4",
            "--seed",
            "2",
            "--lr",
            "0.4",
            "--init-scale",
            "0.01",
            "--quiet",
        ])
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("deep-linear run") && stdout.contains("rho"),
        "{stdout}"
    );
    let r = Run::open(&dir).unwrap();
    assert_eq!(r.snapshots.len(), 4);
    assert_eq!(
        (r.truth.config.dim, r.truth.config.hidden, r.truth.config.lr),
        (12, 14, 0.4)
    );
    for (args, needle) in [
        (vec!["--a", "0.9", "--b", "1.5"], "--a 0.9"),
        (vec!["--a", "2", "--b", "1.5", "--steps", "3"], "--steps 3"),
        (
            vec!["--a", "2", "--b", "1.5", "--dtype", "I8"],
            "dtype `I8`",
        ),
    ] {
        let out = std::process::Command::new(exe)
            .args(["simulate", "--model", "linear", "--dim", "8"])
            .args(&args)
            .arg("--out")
            .arg(scratch("cli-bad"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn divergence_is_an_error_naming_the_learning_rate() {
    let cfg = SimConfig {
        dim: 10,
        outputs: 10,
        steps: 200,
        snapshots: 2,
        lr: 2.5,
        ..SimConfig::defaults(ModelKind::Linear, 2.0, 1.5)
    };
    let e = simulate(&cfg, &scratch("diverge"), &mut |_, _| {}).unwrap_err();
    assert!(matches!(e, SimError::Diverged { .. }), "{e}");
    assert!(e.to_string().contains("--lr"), "{e}");
}
