//! `specscope predict` and the theory columns of `analyze`, end to end on
//! the bundled tiny checkpoint (every tensor rule and dtype) and, when it
//! is present, on the real MiniLM checkpoint.

mod common;

use specscope::load::DType;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_specscope"))
}

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tiny/model.safetensors")
}

fn run_json(args: &[&str]) -> (i32, serde_json::Value) {
    let out = bin().args(args).output().unwrap();
    let code = out.status.code().unwrap();
    assert!(
        !out.stdout.is_empty(),
        "no output; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, serde_json::from_slice(&out.stdout).unwrap())
}

fn f(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing: {v}"))
}

#[test]
fn truncation_verify_matches_the_predicted_energy() {
    let path = tiny();
    let (code, rep) = run_json(&[
        "predict",
        path.to_str().unwrap(),
        "--rank",
        "8",
        "--verify",
        "--backend",
        "cpu",
        "--quiet",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(rep["engine"], "cpu-exact-f64");
    assert_eq!(rep["backend"]["name"], "cpu");
    let rows = rep["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 14);
    let mut verified = 0;
    for r in rows {
        assert_eq!(r["status"], "ok", "{r}");
        if r["verified"].as_bool().unwrap() {
            verified += 1;
            // Eckart–Young, with the decoded weights exactly representable
            // in f64: predicted and measured agree to round-off (1e-9).
            let (p, m) = (f(r, "trunc_energy"), f(r, "err_meas"));
            assert!(
                (p - m).abs() <= 1e-9 * p.max(1e-12),
                "{}: {p} vs {m}",
                r["name"]
            );
            assert_eq!(r["kept"], 8);
            // The top 8 vectors are untouched by truncation.
            assert_eq!(r["k_overlap_meas"], 8, "{r}");
        } else {
            assert_eq!(r["name"], "stem.conv");
            assert!(r["note"].as_str().unwrap().contains("pooled"));
        }
    }
    assert_eq!(verified, 13);
    assert_eq!(rep["summary"]["verified"], 13);
    let s = &rep["summary"];
    let (p, m) = (f(s, "err_pred_verified"), f(s, "err_meas"));
    assert!((p - m).abs() <= 1e-9 * p, "{p} vs {m}");
}

#[test]
fn quantization_verify_and_curve() {
    let path = tiny();
    let out = bin()
        .args([
            "predict",
            path.to_str().unwrap(),
            "--bits",
            "4",
            "--scheme",
            "asym",
            "--group",
            "16",
            "--verify",
            "--backend",
            "cpu",
            "--quiet",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mut rd = csv::Reader::from_reader(&out.stdout[..]);
    let headers = rd.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let mut n = 0;
    for rec in rd.records() {
        let rec = rec.unwrap();
        assert_eq!(&rec[col("quantizer")], "4-bit asym per group of 16");
        if &rec[col("verified")] != "true" {
            continue;
        }
        n += 1;
        // Δ²/12 holds to a few percent on these near-Gaussian weights
        // (docs/theory.md §5: 0.98–1.03 measured); 5% is the stated bound.
        let ratio: f64 = rec[col("noise_ratio")].parse().unwrap();
        assert!((ratio - 1.0).abs() < 0.05, "{}: {ratio}", &rec[col("name")]);
    }
    assert_eq!(n, 13);
    // JSON carries the B = 2…8 curve per matrix and for the model.
    let (_, rep) = run_json(&[
        "predict",
        path.to_str().unwrap(),
        "--bits",
        "4",
        "--quiet",
        "--format",
        "json",
    ]);
    let curve = rep["summary"]["curve"].as_array().unwrap();
    assert_eq!(curve.len(), 7);
    let errs: Vec<f64> = curve.iter().map(|p| f(p, "err_pred")).collect();
    assert!(errs.windows(2).all(|w| w[1] < w[0]), "{errs:?}");
    assert_eq!(rep["curves"].as_array().unwrap().len(), 14 * 7);
    assert!(!rep["profiles"].as_array().unwrap().is_empty());
}

#[test]
fn analyze_has_the_theory_columns() {
    let path = tiny();
    let (code, rep) = run_json(&[
        "analyze",
        path.to_str().unwrap(),
        "--quiet",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let layers = rep["layers"].as_array().unwrap();
    let embed = layers.iter().find(|l| l["name"] == "embed").unwrap();
    // embed is μ_k = 4·k^-1.2 (64 modes) plus N(0, 0.01²) on 512×64: only
    // ~5 modes clear the 10% noise-inflation floor, so b comes from the
    // modes above the noise edge, flagged unclean, and biased low by the
    // inflation (measured 1.06).
    assert_eq!(embed["b_clean"], false);
    let b = f(embed, "b");
    assert!(b > 0.9 && b < 1.2, "{embed}");
    for key in [
        "k_star", "density", "s_c", "k_q4", "k_q8", "b_err", "b_kmin", "b_kmax",
    ] {
        assert!(!embed[key].is_null(), "{key}: {embed}");
    }
    assert!((f(embed, "density") + f(embed, "s_c") - 1.0).abs() < 1e-12);
    assert_eq!(embed["noise_source"], "median");
    // The peer's D is still the KS distance, first; the theory's is `density`.
    assert!(f(embed, "D") < 1.0);
    assert!(rep["summary"]["density"].as_f64().is_some());
    // CSV: the peer's columns stay first, the theory's are at the end.
    let out = bin()
        .args([
            "analyze",
            path.to_str().unwrap(),
            "--quiet",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let header = text.lines().next().unwrap();
    assert!(header.starts_with("layer_id,name,D,M,N,Q,alpha"));
    assert!(header.contains(",k_q4,k_q8,theory_status,"));
    // An init snapshot (here the same file) switches the noise source.
    let (_, rep) = run_json(&[
        "analyze",
        path.to_str().unwrap(),
        "--init",
        path.to_str().unwrap(),
        "--quiet",
        "--format",
        "json",
    ]);
    let embed = rep["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "embed")
        .unwrap()
        .clone();
    assert_eq!(embed["noise_source"], "init");
}

#[test]
fn bad_requests_are_errors() {
    let path = tiny();
    let p = path.to_str().unwrap();
    for args in [
        vec!["predict", p],
        vec!["predict", p, "--sparsity", "1.5"],
        vec!["predict", p, "--bits", "1"],
        vec!["predict", p, "--rank", "4", "--sparsity", "0.5"],
        vec![
            "predict",
            p,
            "--bits",
            "4",
            "--group",
            "8",
            "--granularity",
            "channel",
        ],
    ] {
        let out = bin().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        assert!(!out.stderr.is_empty());
    }
}

fn checkpoint(rel: &str) -> Option<PathBuf> {
    let root = std::env::var_os("SPECSCOPE_CHECKPOINTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/checkpoints"));
    let p = root.join(rel);
    if p.exists() {
        return Some(p);
    }
    if std::env::var_os("SPECSCOPE_REQUIRE_CHECKPOINTS").is_some() {
        panic!(
            "{} missing and SPECSCOPE_REQUIRE_CHECKPOINTS is set",
            p.display()
        );
    }
    eprintln!(
        "skipping: {} not found (run scripts/fetch-checkpoints.sh)",
        p.display()
    );
    None
}

#[test]
fn minilm_half_rank_verify() {
    let Some(path) = checkpoint("minilm/model.safetensors") else {
        return;
    };
    let (code, rep) = run_json(&[
        "predict",
        path.to_str().unwrap(),
        "--sparsity",
        "0.5",
        "--verify",
        "--backend",
        "cpu",
        "--quiet",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let rows = rep["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 40);
    for r in rows {
        let (p, m) = (f(r, "trunc_energy"), f(r, "err_meas"));
        // F32 weights decode exactly; the two routes agree to 1e-9.
        assert!(
            (p - m).abs() <= 1e-9 * p.max(1e-12),
            "{}: {p} vs {m}",
            r["name"]
        );
        assert_eq!(
            r["rank"].as_u64().unwrap() * 2,
            r["M"].as_u64().unwrap() - (r["M"].as_u64().unwrap() % 2)
        );
    }
}

/// `analyze` takes its k_q columns from channel ranges gathered while the
/// pipeline read the weights for the spectrum; `predict` measures them in a
/// separate pass. Both must give the same surviving-mode counts.
#[test]
fn analyze_kq_equals_predict_kq() {
    let tiny = tiny();
    let p = tiny.to_str().unwrap();
    let run = |args: &[&str]| {
        let (code, v) = run_json(args);
        assert_eq!(code, 0, "{args:?}");
        v
    };
    let analyze = run(&["analyze", p, "--format", "json", "--backend", "cpu"]);
    for (bits, col) in [("4", "k_q4"), ("8", "k_q8")] {
        let predict = run(&[
            "predict",
            p,
            "--bits",
            bits,
            "--granularity",
            "channel",
            "--scheme",
            "sym",
            "--backend",
            "cpu",
            "--format",
            "json",
        ]);
        let rows = predict["rows"].as_array().unwrap();
        let layers = analyze["layers"].as_array().unwrap();
        assert_eq!(rows.len(), layers.len());
        for (r, l) in rows.iter().zip(layers) {
            assert_eq!(r["name"], l["name"]);
            assert_eq!(r["k_q_bbp"], l[col], "{} at {bits} bits", l["name"]);
        }
    }
}

/// A checkpoint of degenerate matrices: a constant spectrum (the identity),
/// all zeros, rank 1, and M = 5.
fn degenerate_checkpoint(dir: &Path) -> PathBuf {
    let path = dir.join("degenerate.safetensors");
    let eye: Vec<f64> = (0..32 * 32)
        .map(|i| if i / 32 == i % 32 { 0.5 } else { 0.0 })
        .collect();
    let u = common::values(40, 1);
    let v = common::values(25, 2);
    let rank1: Vec<f64> = (0..40 * 25).map(|i| u[i / 25] * v[i % 25]).collect();
    common::write(
        &path,
        &[
            ("constant.weight", DType::F32, &[32, 32], eye),
            ("zero.weight", DType::F32, &[20, 30], vec![0.0; 600]),
            ("rank1.weight", DType::F32, &[40, 25], rank1),
            (
                "short.weight",
                DType::F32,
                &[5, 100],
                common::values(500, 3),
            ),
        ],
    );
    path
}

/// No NaN or infinity anywhere: no `NaN`/`inf`/`infinity` token in the
/// text (words such as "finite" are fine), and no field that parses as a
/// non-finite number.
fn assert_finite_text(what: &str, text: &str) {
    for token in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        let t = token.to_ascii_lowercase();
        assert!(
            !matches!(t.as_str(), "nan" | "inf" | "infinity"),
            "{what} has `{token}`:\n{text}"
        );
    }
    for field in text.split([',', '\n', '"', ' ', ':']) {
        if let Ok(x) = field.trim().parse::<f64>() {
            assert!(x.is_finite(), "{what} has {field}:\n{text}");
        }
    }
}

/// docs/theory.md §2: predict's reports never contain NaN or ∞. Every
/// non-finite estimate is empty (CSV) or null (JSON), and the matrix's
/// `model_status` gives the reason.
#[test]
fn degenerate_matrices_report_reasons_not_nan() {
    let dir = tempfile::tempdir().unwrap();
    let path = degenerate_checkpoint(dir.path());
    let p = path.to_str().unwrap();
    for extra in [
        &["--sparsity", "0.5"][..],
        &["--bits", "4"],
        &["--rank", "2", "--bits", "4", "--verify"],
    ] {
        for format in ["json", "csv"] {
            let mut args = vec![
                "predict",
                p,
                "--quiet",
                "--backend",
                "cpu",
                "--format",
                format,
            ];
            args.extend_from_slice(extra);
            let out = common::specscope(&args);
            let text = common::stdout(&out);
            assert!(!text.is_empty(), "{args:?}: {}", common::stderr(&out));
            assert_finite_text(&format!("{args:?}"), &text);
            if format == "json" {
                let rep = common::json(&out);
                let rows = rep["rows"].as_array().unwrap();
                assert_eq!(rows.len(), 4, "{args:?}");
                for r in rows {
                    let why = r["model_status"].as_str().unwrap();
                    assert!(why != "ok" && !why.is_empty(), "{args:?}: {r}");
                }
            } else {
                let mut rd = csv::Reader::from_reader(text.as_bytes());
                let h = rd.headers().unwrap().clone();
                let col = |n: &str| h.iter().position(|x| x == n).unwrap();
                let recs: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
                assert_eq!(recs.len(), 4, "{args:?}");
                for rec in &recs {
                    assert_ne!(&rec[col("model_status")], "ok", "{rec:?}");
                }
            }
        }
    }
}

/// The text table says why a matrix has no loss model (a numbered note per
/// such matrix) instead of a bare `ok`, and with --verify shows the
/// predicted and measured spectral shifts and overlap counts.
#[test]
fn table_shows_reasons_and_verify_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = degenerate_checkpoint(dir.path());
    let out = common::specscope(&[
        "predict",
        path.to_str().unwrap(),
        "--sparsity",
        "0.5",
        "--verify",
        "--backend",
        "cpu",
        "--quiet",
    ]);
    let text = common::stdout(&out);
    assert_finite_text("table", &text);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name}:\n{text}"))
            .to_string()
    };
    let notes = &text[text.find("\nnotes:\n").expect("notes")..];
    for (name, why) in [
        ("constant ", "constant spectrum"),
        ("zero ", "all eigenvalues are zero"),
        ("rank1 ", "numerical rank 1"),
        ("short ", "M = 5 eigenvalues"),
    ] {
        let l = line(name);
        let tag = l.rsplit_once("ok [").expect(&l).1.trim_end_matches(']');
        let note = notes
            .lines()
            .find(|n| n.trim_start().starts_with(&format!("[{tag}] ")))
            .unwrap_or_else(|| panic!("no note [{tag}]:\n{text}"));
        assert!(note.contains(why), "{note}");
    }
    // α of the identity is +∞ in the peer's convention: empty, and said so.
    assert!(notes.contains("alpha = +∞"), "{notes}");

    let tiny = tiny();
    let out = common::specscope(&[
        "predict",
        tiny.to_str().unwrap(),
        "--bits",
        "4",
        "--verify",
        "--backend",
        "cpu",
        "--quiet",
        "--wide",
    ]);
    let text = common::stdout(&out);
    let header = text.lines().nth(1).unwrap();
    // Predicted/measured pairs, in --wide (the compact view keeps
    // err_pred, err_meas and kept).
    for col in ["shift_top", "shift_kept", "overlap"] {
        assert!(header.contains(col), "{header}");
    }
    // Verified rows have both sides; the pooled convolution only a prediction.
    let embed = text.lines().find(|l| l.starts_with("embed ")).unwrap();
    assert_eq!(embed.matches('%').count(), 4, "{embed}");
    let conv = text.lines().find(|l| l.starts_with("stem.conv")).unwrap();
    assert!(conv.contains("%/-"), "{conv}");
    assert!(text.contains("stem.conv: pooled convolution"), "{text}");
    // Without --verify the columns stay out.
    let out = common::specscope(&[
        "predict",
        tiny.to_str().unwrap(),
        "--bits",
        "4",
        "--backend",
        "cpu",
        "--quiet",
        "--wide",
    ]);
    assert!(!common::stdout(&out).contains("overlap"));
}

/// `--init`: σ is the init's RMS entry, scaled like the matrix's
/// eigenvalues. A pooled convolution's spectrum is ×0.5 (the peer's
/// `conv2d_norm`), so its σ² is too: σ = RMS·√0.5 there, RMS elsewhere.
#[test]
fn init_sigma_is_scaled_like_pooled_conv_spectra() {
    let dir = tempfile::tempdir().unwrap();
    let init = dir.path().join("init.safetensors");
    // Entries ±0.02: RMS exactly 0.02 (representable to f32 round-off).
    let pm = |n: usize| -> Vec<f64> {
        (0..n)
            .map(|i| if i % 3 == 0 { -0.02 } else { 0.02 })
            .collect()
    };
    common::write(
        &init,
        &[
            ("stem.conv.weight", DType::F32, &[32, 16, 3, 3], pm(4608)),
            ("embed.weight", DType::F32, &[512, 64], pm(512 * 64)),
        ],
    );
    let tiny = tiny();
    let out = common::specscope(&[
        "analyze",
        tiny.to_str().unwrap(),
        "--init",
        init.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let rep = common::json(&out);
    let layer = |name: &str| {
        rep["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .clone()
    };
    let rms = 0.02f32 as f64;
    let conv = layer("stem.conv");
    assert_eq!(conv["noise_source"], "init", "{conv}");
    let s = f(&conv, "noise_sigma");
    assert!((s - rms * 0.5f64.sqrt()).abs() < 1e-12, "{s}");
    let embed = layer("embed");
    assert_eq!(embed["noise_source"], "init", "{embed}");
    assert!((f(&embed, "noise_sigma") - rms).abs() < 1e-12);
    // Tensors the init lacks fall back to the median estimate, with a warning.
    assert_eq!(layer("blocks.0.attn.out")["noise_source"], "median");
    assert!(common::stderr(&out).contains("init snapshot has no tensor"));
}

/// GPU against CPU. The GPU's exact path accumulates the Gram in f32, so
/// every eigenvalue carries ~1e-7·μ_1 of rounding (docs/theory.md §4.3),
/// not f64 round-off. ‖W‖²_F and the noise ratio agree to 1e-5 relative;
/// the fractions of ‖W‖²_F (predicted tail energy, predicted and measured
/// error) and the spectral shifts (ratios of eigenvalues) to 1e-5
/// absolute: a tail or a small μ_k is off by ~1e-7·μ_1, a large relative
/// error when it is small. Measured on this fixture with lavapipe: ≤ 8e-7
/// relative, ≤ 3e-7 absolute; on MiniLM ≤ 2.9e-7 relative, shifts ≤ 1.0e-5
/// absolute. 1e-5 is also tests/gpu_cli.rs's eigenvalue bound on MiniLM.
const GPU_TOL: f64 = 1e-5;

fn close(what: &str, g: &serde_json::Value, c: &serde_json::Value, key: &str, abs: bool) {
    match (g[key].as_f64(), c[key].as_f64()) {
        (Some(x), Some(y)) => {
            let d = (x - y).abs();
            let bound = if abs { GPU_TOL } else { GPU_TOL * y.abs() };
            assert!(d <= bound, "{what} {}: {key} gpu {x} cpu {y}", c["name"]);
        }
        (None, None) => {}
        _ => panic!("{what} {}: {key} gpu {} cpu {}", c["name"], g[key], c[key]),
    }
}

#[test]
fn verify_on_the_gpu_agrees_with_the_cpu() {
    if !common::have_gpu() {
        return;
    }
    let tiny = tiny();
    let p = tiny.to_str().unwrap();
    for extra in [
        &["--rank", "8"][..],
        &["--bits", "4"],
        &["--rank", "16", "--bits", "4", "--scheme", "asym"],
    ] {
        let run = |backend: &str| {
            let mut args = vec!["predict", p, "--verify", "--quiet", "--format", "json"];
            args.extend_from_slice(extra);
            args.extend_from_slice(&["--backend", backend]);
            let (code, rep) = run_json(&args);
            assert_eq!(code, 0, "{args:?}");
            rep
        };
        let (gpu, cpu) = (run("gpu"), run("cpu"));
        let what = format!("{extra:?}");
        assert_eq!(cpu["engine"], "cpu-exact-f64");
        let engine = gpu["engine"].as_str().unwrap();
        assert!(engine.starts_with("gpu-exact-f32 ("), "{engine}");
        assert_eq!(gpu["backend"]["name"], "gpu");
        assert_eq!(gpu["backend"]["method"], "exact");
        let adapter = gpu["backend"]["adapter"].as_str().expect("adapter named");
        assert!(engine.contains(adapter), "{engine} / {adapter}");
        let (gr, cr) = (
            gpu["rows"].as_array().unwrap(),
            cpu["rows"].as_array().unwrap(),
        );
        assert_eq!(gr.len(), 14);
        assert_eq!(gr.len(), cr.len());
        assert_eq!(gpu["summary"]["verified"], 13);
        for (g, c) in gr.iter().zip(cr) {
            assert_eq!(g["name"], c["name"]);
            assert_eq!(g["status"], "ok", "{g}");
            assert_eq!(g["verified"], c["verified"]);
            for key in ["frob2", "noise_ratio"] {
                close(&what, g, c, key, false);
            }
            for key in [
                "trunc_energy",
                "err_pred",
                "err_meas",
                "shift_top_meas",
                "shift_kept_meas",
            ] {
                close(&what, g, c, key, true);
            }
            assert_eq!(g["k_edge_meas"], c["k_edge_meas"], "{what} {}", c["name"]);
            assert_eq!(g["b_after"].is_null(), c["b_after"].is_null(), "{what} {g}");
            if let (Some(x), Some(y)) = (g["b_after"].as_f64(), c["b_after"].as_f64()) {
                assert!((x - y).abs() <= 1e-4 * y.abs(), "{what} b_after {x} {y}");
            }
            // Overlap counts agree except for the modes of W below the f32
            // Gram's resolution, which the GPU run does not compare, and a
            // mode or two whose neighbours are closer than that resolution
            // (their vectors mix): MiniLM 4-bit, ≤ 1 beyond the uncompared.
            if g["verified"].as_bool().unwrap() {
                let n = |v: &serde_json::Value, k: &str| v[k].as_i64().unwrap();
                let lost = n(c, "overlap_compared") - n(g, "overlap_compared");
                assert!(lost >= 0, "{what} {g}");
                let dk = (n(c, "k_overlap_meas") - n(g, "k_overlap_meas")).abs();
                assert!(
                    dk <= lost + 2,
                    "{what} {}: Δk_overlap {dk} > {lost} + 2",
                    c["name"]
                );
            }
        }
        // A truncation on the GPU is still Eckart–Young: predicted and
        // measured energies agree to the f32 Gram's rounding.
        if extra == ["--rank", "8"] {
            for g in gr.iter().filter(|g| g["verified"].as_bool().unwrap()) {
                let (p, m) = (f(g, "trunc_energy"), f(g, "err_meas"));
                assert!((p - m).abs() <= GPU_TOL, "{}: {p} vs {m}", g["name"]);
                assert_eq!(g["k_overlap_meas"], 8, "{g}");
            }
        }
        let (sg, sc) = (&gpu["summary"], &cpu["summary"]);
        for key in ["err_meas", "err_pred_verified"] {
            let (x, y) = (f(sg, key), f(sc, key));
            assert!((x - y).abs() <= GPU_TOL, "{what} summary {key}: {x} vs {y}");
        }
    }
}

/// Without --verify, predict starts from the pipeline's spectra on the
/// selected backend, exactly as analyze computes them: the same k_q as
/// analyze on the GPU, and the report names the GPU.
#[test]
fn predict_on_the_gpu_uses_analyze_spectra() {
    if !common::have_gpu() {
        return;
    }
    let tiny = tiny();
    let p = tiny.to_str().unwrap();
    let (code, analyze) = run_json(&["analyze", p, "-q", "--format", "json", "--backend", "gpu"]);
    assert_eq!(code, 0);
    let (code, predict) = run_json(&[
        "predict",
        p,
        "--bits",
        "4",
        "--granularity",
        "channel",
        "--scheme",
        "sym",
        "--backend",
        "gpu",
        "-q",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let engine = predict["engine"].as_str().unwrap();
    assert!(engine.starts_with("gpu-exact-f32 (pipeline, "), "{engine}");
    assert_eq!(predict["backend"]["name"], "gpu");
    assert_eq!(predict["backend"]["adapter"], analyze["backend"]["adapter"]);
    assert_eq!(
        predict["backend"]["precision"],
        analyze["backend"]["precision"]
    );
    let rows = predict["rows"].as_array().unwrap();
    let layers = analyze["layers"].as_array().unwrap();
    assert_eq!(rows.len(), layers.len());
    for (r, l) in rows.iter().zip(layers) {
        assert_eq!(r["name"], l["name"]);
        assert_eq!(r["k_q_bbp"], l["k_q4"], "{}", l["name"]);
        // Σμ of the same spectrum: the pipeline's f32 Gram on both sides.
        let (x, y) = (f(r, "frob2"), f(l, "norm"));
        assert!((x - y).abs() <= 1e-12 * y, "{}: {x} vs {y}", l["name"]);
    }
}
