//! `specscope compare` and `specscope validate` end to end: the validation
//! targets on simulated runs (fixed seeds, sizes small enough for a few
//! seconds each), exact synthetic series for the estimators and the mode
//! matching, orderings, losses files, errors, plots, and the HTML
//! report's `--attach` of validate's JSON.
//!
//! Where the theory misses a target the test pins what is measured (with a
//! margin for small numerical changes) and says why; docs/compare-and-validate.md
//! has the same figures at the default sizes.

mod common;

use common::{json, specscope, stderr, values};
use serde_json::Value;
use specscope::load::{DType, TensorOut, write_safetensors};
use specscope::synth;
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("compare")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn simulate(name: &str, args: &[&str]) -> PathBuf {
    let dir = scratch(name).join("run");
    common::simulate(&dir, args);
    dir
}

fn validate(dir: &Path) -> Value {
    let o = specscope(&[
        "validate",
        dir.to_str().unwrap(),
        "--format",
        "json",
        "--quiet",
        "--backend",
        "cpu",
    ]);
    assert!(o.status.success(), "validate: {}", stderr(&o));
    json(&o)
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing or null: {v}"))
}

fn target<'a>(rep: &'a Value, prefix: &str) -> &'a Value {
    rep["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"].as_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no target `{prefix}`"))
}

fn effective(rep: &Value) -> &Value {
    rep["compare"]["dynamics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "effective")
        .unwrap()
}

/// Linear model, a = 2.5, b = 1.5, D = K = 256, T = 1000 (final k_* = 63,
/// the loss window 5 < k_* < 12.8 spans steps ≈ 22–96), seed 1: 2–3 s.
#[test]
fn linear_run_meets_the_linear_targets_and_pins_the_compression_misses() {
    let dir = simulate(
        "linear",
        &[
            "--model", "linear", "--a", "2.5", "--b", "1.5", "--dim", "256", "--steps", "1000",
            "--seed", "1",
        ],
    );
    let rep = validate(&dir);
    let d = effective(&rep);
    // The target tolerances, on the spectra alone (p = 1). Measured: b
    // 1.499, a 2.492, ρ 1.010 (frontier) and 0.996 (modes), α̂_t 0.4% off.
    let (a, b) = (f(d, "a_spectra"), f(d, "b_spectra"));
    assert!((b - 1.5).abs() <= 0.1, "b = {b}");
    assert!((a - 2.5).abs() <= 0.15, "a = {a}");
    let (phi, psi) = (f(d, "phi"), f(d, "psi"));
    for rho in [phi * b, b / psi] {
        assert!((rho - 1.0).abs() <= 0.1, "ρ = {rho}");
    }
    let alpha_measured = f(&rep["compare"]["loss_fit"], "alpha_t");
    let alpha_pred = f(d, "alpha_t_predicted");
    assert!(
        (alpha_pred / alpha_measured - 1.0).abs() <= 0.15,
        "{alpha_pred} vs {alpha_measured}"
    );
    // The losses route meets the same tolerances (measured: a 2.485, b 1.491).
    assert!((f(d, "a_losses") - 2.5).abs() <= 0.15);
    assert!((f(d, "b_losses") - 1.5).abs() <= 0.1);
    for t in [
        "b (spectra",
        "a (spectra",
        "ρ (spectra",
        "predicted loss exponent",
    ] {
        assert_eq!(target(&rep, t)["met"], true, "{t}");
    }
    // Where the theory holds the verdicts say so: both routes to ρ agree
    // (measured z = 0.47 on ln φψ), and p = 1 holds (the spectra's a
    // agrees with the losses').
    assert_eq!(d["verdict"], "valid", "{}", d["status"]);
    assert_eq!(d["spectra_verdict"], "valid", "{}", d["status"]);
    assert_eq!(d["frontier_source"], "saturation");
    assert_eq!(d["frontier_gaps"], 0);

    // Pruning: missed. The hard frontier puts C(t) = L/Σ_{k>k_*} k^(−a) at
    // about 0.23 where the true loss constant is ½ (the linear model's modes
    // past k_* are partly learned and carry less loss than e_k), so every
    // prediction in r ∈ [k_*/30, k_*/2] is low. Measured worst factor 2.74;
    // the band allows ±20%.
    let prune = target(&rep, "pruning");
    assert_eq!(prune["met"], false);
    let w = f(prune, "value");
    assert!((2.2..3.3).contains(&w), "pruning worst factor {w}");
    // No plateau past the frontier (measured 0.45·L at r ≥ 1.5·k_*).
    let plateau = target(&rep, "plateau");
    assert_eq!(plateau["met"], false);
    assert!(f(plateau, "value") > 0.2);
    // Quantization: missed at 3 bits per tensor on the early snapshots
    // (measured worst 11.5; the coarse grid of docs/theory.md §5), within
    // ×2 from 4 bits on once k_* ≥ 20 (checked row by row below).
    let q = target(&rep, "quantization");
    assert_eq!(q["met"], false);
    assert!(f(q, "value") > 4.0);
    let rows = rep["compression"].as_array().unwrap();
    let late_fine: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            r["kind"].as_str().unwrap().starts_with("quant")
                && (4..=6).contains(&r["param"].as_u64().unwrap())
                && r["k_star_true"].as_u64().unwrap() >= 20
        })
        .collect();
    assert!(late_fine.len() >= 24);
    for r in late_fine {
        let ratio = f(r, "ratio");
        assert!((0.5..=2.0).contains(&ratio), "{r}");
    }
    // Complementarity: met, measured (0.063) and predicted (0.198, right at
    // the tolerance at this size; 0.083 at the default size).
    let cm = target(&rep, "complementarity (measured)");
    assert_eq!(cm["met"], true);
    let cp = target(&rep, "complementarity (predicted)");
    assert!(f(cp, "value") <= 0.25, "{cp}");

    // `compare` on the raw run (the F32 snapshots, projected in place in
    // f32) agrees with validate's (F64 effective maps, the same W): every
    // matched mode's half-learning time to 1e-3 (the f32 projection's error
    // is ~1e-6), φ to 0.5%. (ψ itself differs: validate drops crossings
    // before step 20, the simulator's discretization floor, compare does
    // not.)
    let o = specscope(&[
        "compare",
        dir.to_str().unwrap(),
        "--format",
        "json",
        "--quiet",
        "--backend",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let raw = json(&o);
    let w = dyn_row(&raw, "weight");
    assert_eq!(w["verdict"], "valid", "{}", w["status"]);
    assert!(
        (f(w, "phi") / phi - 1.0).abs() < 5e-3,
        "{} vs {phi}",
        w["phi"]
    );
    let mut matched = 0;
    for m in rep["compare"]["modes"].as_array().unwrap() {
        let Some(th) = m["t_half"].as_f64() else {
            continue;
        };
        let r = raw["modes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["k"] == m["k"])
            .unwrap_or_else(|| panic!("mode {} not probed in the raw run", m["k"]));
        assert!((f(r, "t_half") / th - 1.0).abs() < 1e-3, "{r} vs {m}");
        matched += 1;
    }
    assert!(matched >= 10, "{matched}");
    // The run directory's own init and losses were picked up.
    let notes = raw["notes"].to_string();
    assert!(notes.contains("init.safetensors (the run's)"), "{notes}");
    assert!(
        notes.contains("losses.csv (columns step, test_loss)"),
        "{notes}"
    );

    // The HTML report shows validate's tables (--attach: arrays of objects).
    let out = dir.parent().unwrap();
    let vj = out.join("validate.json");
    std::fs::write(&vj, serde_json::to_string(&rep).unwrap()).unwrap();
    let html = out.join("report.html");
    let o = specscope(&[
        "report",
        common::fixture("tiny/model.safetensors").to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
        "--attach",
        vj.to_str().unwrap(),
        "--quiet",
        "--backend",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    for section in [
        "validate: estimates",
        "validate: targets",
        "validate: compression",
    ] {
        assert!(page.contains(section), "{section} missing from the page");
    }
    assert!(page.contains("ρ by frontier motion"));
}

/// Deep-linear, a = 2.5, b = 1.5, D = K = H = 200, T = 5000 (final k_* =
/// 19; R/20 = 10 leaves a loss window), seed 1: ≈ 8 s.
#[test]
fn deep_linear_rho_within_20_percent_of_the_true_modes() {
    let dir = simulate(
        "deep",
        &[
            "--model",
            "deep-linear",
            "--a",
            "2.5",
            "--b",
            "1.5",
            "--dim",
            "200",
            "--steps",
            "5000",
            "--seed",
            "1",
        ],
    );
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap();
    let rho_true = f(&truth["measured"]["rho_half_learning"], "value");
    let rep = validate(&dir);
    let d = effective(&rep);
    // The spectra alone cannot give b here: the front is a logistic cliff
    // (β ≈ 17 where p = 1 would need β = b = 1.5), so b comes from the
    // losses (a = 1 + α_t/φ, b = a − s₁).
    assert_eq!(d["route"], "losses");
    assert!(f(d, "b_spectra") > 5.0);
    // The headline (losses route) is valid; the spectra route is flagged:
    // p = 1 does not hold (measured a = s₁ + β = 19.8 against 2.51, z = 14).
    assert_eq!(d["verdict"], "valid", "{}", d["status"]);
    assert_eq!(d["spectra_verdict"], "inconsistent", "{}", d["status"]);
    assert!(
        d["status"]
            .as_str()
            .unwrap()
            .contains("p = 1 does not hold")
    );
    let (rf, rm) = (f(d, "rho_frontier"), f(d, "rho_modes"));
    for rho in [rf, rm] {
        assert!((rho / rho_true - 1.0).abs() <= 0.2, "{rho} vs {rho_true}");
    }
    assert_eq!(
        target(&rep, "ρ (losses b").as_object().unwrap()["met"],
        true
    );
    // Against the analytic 2b/(a+b) = 0.75: measured on the modes 0.769
    // (the log factor of docs/simulate.md), frontier 0.757, modes 0.766.
    // Both estimates sit within 6% of it, like the truth.
    let analytic = 2.0 * 1.5 / 4.0;
    assert!(rho_true > analytic);
    for rho in [rf, rm] {
        assert!((rho / analytic - 1.0).abs() < 0.06, "{rho}");
    }
    // Compression: pruning and the plateau hold here (measured worst factor
    // 1.10; ΔL ≤ 5e-5·L past 1.5·k_*), and so does complementarity.
    assert_eq!(target(&rep, "pruning")["met"], true);
    assert_eq!(target(&rep, "plateau")["met"], true);
    assert_eq!(target(&rep, "complementarity (measured)")["met"], true);
    assert_eq!(target(&rep, "complementarity (predicted)")["met"], true);
    // Quantization: missed by a factor ≈ 37. The layers' noise reaches the
    // product as W₂E₁ + E₂W₁, confined to the learned modes' directions,
    // where λ is large; the isotropic noise model of the theory spreads the
    // same energy over all D input directions.
    let q = target(&rep, "quantization");
    assert_eq!(q["met"], false);
    assert!(f(q, "value") > 10.0);
}

/// A saturating series with known exponents: μ_k(t) = k^(−1)·(1 −
/// exp(−(k_*(t)/k)^1.5))² with k_*(t) = 2·√t, the same singular vectors at
/// every snapshot, a wide (200×300, F32) and a tall (300×200, F64) matrix. Then
/// φ = 0.5 and f_k(t) = ½ at (k_*(t)/k)^1.5 = ln 2 (up to the last
/// snapshot's normalization), so ψ = 1/φ = 2.
fn synthetic_series(dir: &Path, metadata: bool) -> Vec<PathBuf> {
    let times = [1u64, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048];
    let mut paths = Vec::new();
    for &t in &times {
        let ks = 2.0 * (t as f64).sqrt();
        let mu: Vec<f64> = (1..=200)
            .map(|k| {
                let k = k as f64;
                k.powf(-1.0) * (-(-(ks / k).powf(1.5)).exp_m1()).powi(2) + 1e-9
            })
            .collect();
        let mut tensors = Vec::new();
        // F32 (the projections' in-place path) and F64 (the decoding one).
        for (name, rows, cols, seed, dtype) in [
            ("wide", 200, 300, 7, DType::F32),
            ("tall", 300, 200, 8, DType::F64),
        ] {
            let w = synth::with_spectrum(rows, cols, &mu, 0.0, &mut synth::rng(seed));
            tensors.push(
                TensorOut::from_f64(name, dtype, &[rows, cols], &synth::row_major(&w))
                    .expect("a float tensor"),
            );
        }
        let path = dir.join(format!("ckpt-{t}.safetensors"));
        let meta: Vec<(&str, String)> = if metadata {
            vec![("step", t.to_string()), ("tokens", (64 * t).to_string())]
        } else {
            Vec::new()
        };
        write_safetensors(&path, &tensors, &meta).unwrap();
        paths.push(path);
    }
    paths
}

fn dyn_row<'a>(rep: &'a Value, name: &str) -> &'a Value {
    rep["dynamics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap()
}

#[test]
fn exact_series_recovers_phi_psi_and_their_agreement() {
    let dir = scratch("exact");
    let paths = synthetic_series(&dir, false);
    // Given out of order: natural path order puts them back, and says so.
    let mut args: Vec<&str> = vec!["compare", "--format", "json", "--quiet", "--backend", "cpu"];
    let shuffled = [4, 0, 8, 2, 6, 1, 3, 7, 5, 11, 9, 10];
    for &i in &shuffled {
        args.push(paths[i].to_str().unwrap());
    }
    let plots = dir.join("plots");
    args.extend(["--plots", plots.to_str().unwrap()]);
    let o = specscope(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let rep = json(&o);
    assert!(
        rep["order"]
            .as_str()
            .unwrap()
            .starts_with("natural path order"),
        "{}",
        rep["order"]
    );
    let t: Vec<f64> = rep["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| f(s, "t"))
        .collect();
    assert_eq!(t, (0..12).map(|j| (1u64 << j) as f64).collect::<Vec<_>>());
    for name in ["wide", "tall"] {
        let d = dyn_row(&rep, name);
        assert_eq!(d["frontier_source"], "saturation");
        // The saturation fit is exact on this form (to the search's 1e-4
        // in ln k_*, plus the 1e-9 floor): φ to 1%.
        assert!((f(d, "phi") - 0.5).abs() < 0.005, "{d}");
        assert!((f(d, "beta") - 1.5).abs() < 0.02, "{d}");
        assert!((f(d, "s1") - 1.0).abs() < 0.02, "{d}");
        // ψ: the log-time interpolation between snapshots a factor 2 apart
        // and the last snapshot's normalization cost a few percent.
        assert!((f(d, "psi") - 2.0).abs() < 0.1, "{d}");
        assert!((f(d, "agreement") - 1.0).abs() < 0.05, "{d}");
        // With no losses the spectra route is the headline: ρ = φ·β = 0.75.
        assert_eq!(d["route"], "spectra");
        assert!((f(d, "rho_frontier") - 0.75).abs() < 0.01, "{d}");
    }
    // Matched modes: the same vectors at every snapshot, so the last
    // snapshot's fraction is exactly 1.
    let modes = rep["modes"].as_array().unwrap();
    assert!(modes.iter().filter(|m| m["used"] == true).count() >= 8);
    for p in [
        "density.svg",
        "k_star.svg",
        "alpha.svg",
        "rho-fit.wide.svg",
        "rho-fit.tall.svg",
    ] {
        assert!(plots.join(p).is_file(), "{p}");
    }
}

#[test]
fn metadata_orders_and_picks_the_time_axis_and_losses_give_alpha_t() {
    let dir = scratch("meta");
    synthetic_series(&dir, true);
    // A loss curve L = 3·t^(−0.8) on every integer step, named `step,loss`.
    let losses = dir.join("loss.csv");
    let mut text = String::from("step,loss\n");
    for t in 1..=2100 {
        text += &format!("{t},{}\n", 3.0 * (t as f64).powf(-0.8));
    }
    std::fs::write(&losses, text).unwrap();
    let o = specscope(&[
        "compare",
        dir.to_str().unwrap(),
        "--losses",
        losses.to_str().unwrap(),
        "--format",
        "json",
        "--quiet",
        "--backend",
        "cpu",
        "--no-modes",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rep = json(&o);
    assert_eq!(rep["order"], "by the snapshots' `step` metadata");
    let lf = &rep["loss_fit"];
    assert_eq!(lf["verdict"], "valid", "{lf}");
    assert!((f(lf, "alpha_t") - 0.8).abs() < 1e-9, "{lf}");
    // The losses route: a = 1 + α_t/φ = 2.6, b = a − s₁ = 1.6.
    let d = dyn_row(&rep, "wide");
    assert_eq!(d["route"], "losses");
    assert!((f(d, "a") - 2.6).abs() < 0.03, "{d}");
    assert!(d["psi"].is_null());
    // The tokens axis multiplies t by 64: φ does not change.
    let o = specscope(&[
        "compare",
        dir.to_str().unwrap(),
        "--time",
        "tokens",
        "--format",
        "json",
        "--quiet",
        "--backend",
        "cpu",
        "--no-modes",
    ]);
    let rep2 = json(&o);
    assert_eq!(f(&rep2["snapshots"][0], "t"), 64.0);
    assert!((f(dyn_row(&rep2, "wide"), "phi") - f(d, "phi")).abs() < 1e-9);
    // The Densing slope at fixed size is φ.
    let den = &rep2["densing"];
    assert!((f(den, "slope") - f(den, "expected")).abs() < 0.02, "{den}");
}

#[test]
fn bad_inputs_are_errors_that_name_the_input() {
    let dir = scratch("bad");
    let paths = synthetic_series(&dir, true);
    let o = specscope(&[
        "compare",
        paths[0].to_str().unwrap(),
        paths[1].to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("at least 3"), "{}", stderr(&o));
    let missing = dir.join("nope.safetensors");
    let o = specscope(&[
        "compare",
        paths[0].to_str().unwrap(),
        paths[1].to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nope.safetensors"), "{}", stderr(&o));
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "when,value\n1,2\n").unwrap();
    let o = specscope(&[
        "compare",
        dir.to_str().unwrap(),
        "--losses",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("bad.csv") && e.contains("when, value"), "{e}");
    let o = specscope(&["validate", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("truth.json"), "{}", stderr(&o));
}

/// `report` on a `simulate` run directory shows the last snapshot's
/// matrices plus the comparison over the series (tables and figures) and
/// the validation; on a bare folder of snapshots, the comparison only; a
/// directory of checkpoints that hold different tensors (shards) is one
/// model, not a series.
#[test]
fn report_of_a_run_directory_shows_the_series_and_the_validation() {
    let dir = simulate(
        "report",
        &[
            "--model", "linear", "--a", "2.5", "--b", "1.5", "--dim", "128", "--steps", "300",
            "--seed", "2",
        ],
    );
    let html = |path: &Path, name: &str| -> String {
        let out = dir.parent().unwrap().join(format!("{name}.html"));
        let o = specscope(&[
            "report",
            path.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--quiet",
            "--backend",
            "cpu",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        std::fs::read_to_string(out).unwrap()
    };
    let sections = |h: &str| -> Vec<String> {
        h.split(r#"<section id=""#)
            .skip(1)
            .map(|s| s.split('"').next().unwrap().to_string())
            .collect()
    };
    let run = html(&dir, "run");
    let ids = sections(&run);
    for want in [
        "snapshots",
        "compare--dynamics",
        "compare--series",
        "validate--targets",
        "validate--estimates",
    ] {
        assert!(ids.iter().any(|i| i == want), "{want} not in {ids:?}");
    }
    assert!(
        !ids.iter().any(|i| i.starts_with("validate--compare")),
        "the validation's own comparison is not repeated: {ids:?}"
    );
    // The series figures: D(t), k_*(t), α(t) and at least one ρ fit.
    let snap = run.split(r#"<section id="snapshots">"#).nth(1).unwrap();
    let snap = snap.split("</section>").next().unwrap();
    assert!(snap.matches("<figure>").count() >= 4, "{snap:.400}");
    // The matrices shown are the last snapshot's.
    let last = std::fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .max()
        .unwrap();
    assert!(snap.contains(&last), "{last} not named in {snap:.400}");

    let bare = sections(&html(&dir.join("snapshots"), "bare"));
    assert!(bare.iter().any(|i| i == "compare--dynamics"), "{bare:?}");
    assert!(!bare.iter().any(|i| i.starts_with("validate")), "{bare:?}");

    // Three files with different tensors: one model in three files.
    let shards = dir.parent().unwrap().join("shards");
    std::fs::create_dir_all(&shards).unwrap();
    for (i, n) in ["a", "b", "c"].iter().enumerate() {
        common::write(
            &shards.join(format!("part-{i}.safetensors")),
            &[(
                n,
                specscope::load::DType::F32,
                &[16, 8],
                values(128, i as u64),
            )],
        );
    }
    let one = sections(&html(&shards, "shards"));
    assert!(!one.iter().any(|i| i == "snapshots"), "{one:?}");
}

/// The MLP at the default sizes (D = 64, H = 128, T = 3000, seed 0; ~25 s):
/// the README's "Does the theory hold?" figures for it, pinned as measured
/// (docs/compare-and-validate.md explains each miss). Measured: pruning
/// worst factor 1.61 (missed, ×1.5 asked), plateau 0.0077·L (met),
/// quantization worst factor 25.4 (missed, ×2 asked), complementarity
/// measured 0.288 (missed, 0.2 asked) and predicted 0.093 (met); ρ from
/// the losses route 0.83 / 0.78 against 0.86 on the true modes.
#[test]
fn mlp_run_pins_the_measured_outcomes() {
    let dir = simulate("mlp", &["--model", "mlp", "--a", "2.5", "--b", "1.5"]);
    let rep = validate(&dir);
    let get = |prefix: &str| {
        let t = target(&rep, prefix);
        (t["met"].clone(), f(t, "value"))
    };
    let (met, v) = get("pruning");
    assert_eq!(met, false);
    assert!((1.3..2.0).contains(&v), "pruning worst factor {v}");
    let (met, v) = get("plateau");
    assert_eq!(met, true, "plateau {v}");
    let (met, v) = get("quantization");
    assert_eq!(met, false);
    assert!((10.0..50.0).contains(&v), "quantization worst factor {v}");
    let (met, v) = get("complementarity (measured)");
    assert_eq!(met, false);
    assert!((0.2..0.4).contains(&v), "measured complementarity {v}");
    let (met, v) = get("complementarity (predicted)");
    assert_eq!(met, true, "predicted complementarity {v}");
    // ρ by the losses route, against ρ measured on the true modes (the
    // MLP has no analytic ρ): within the deep-linear target's 20%.
    let (_, v) = get("ρ (losses");
    assert!(v <= 0.2, "ρ relative error {v}");
    // The effective map's routes agree (measured z = 1.4 on ln φψ); the
    // spectra route does not apply (a = s₁ + β = 10.4 against 2.41).
    let d = effective(&rep);
    assert_eq!(d["verdict"], "valid", "{}", d["status"]);
    assert_eq!(d["spectra_verdict"], "inconsistent", "{}", d["status"]);
}
