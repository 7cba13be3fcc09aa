//! `analyze` on each backend and method through the binary: the GPU run
//! equals the CPU run on the real MiniLM checkpoint, `auto` falls back with
//! one stderr line, and the report says what ran.
//!
//! GPU parts skip (printing why) without an adapter unless
//! SPECSCOPE_REQUIRE_GPU=1; the MiniLM part skips without the fetched
//! checkpoint unless SPECSCOPE_REQUIRE_CHECKPOINTS=1.

mod common;

use common::{checkpoint, fixture, have_gpu, read_npy, specscope};
use serde_json::Value;
use specscope::backend::{GpuContext, GpuOptions};
use std::process::Output;

/// stderr without the Vulkan loader's XDG_RUNTIME_DIR noise.
fn stderr(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
        .map(str::to_string)
        .collect()
}

fn tiny() -> String {
    fixture("tiny/model.safetensors").display().to_string()
}

fn json(o: &Output) -> Value {
    assert!(
        o.status.code().is_some_and(|c| c == 0 || c == 3),
        "exit {:?}: {:?}",
        o.status,
        stderr(o)
    );
    serde_json::from_slice(&o.stdout).expect("a JSON report")
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
}

/// MiniLM: `--backend gpu` against `--backend cpu`. Eigenvalues within
/// |Δμ_k| ≤ 1e-5·μ_max per matrix (f32 Gram); norm, lambda_max,
/// stable_rank within 1e-5 relative; alpha within 1e-4 (the fit moves
/// continuously with the eigenvalues unless xmin flips); matrix_rank
/// differs at most by the eigenvalues below the f32 Gram's resolution
/// (1e-6·μ_max), which it cannot tell from zero.
#[test]
fn minilm_gpu_equals_cpu() {
    let Some(path) = checkpoint("minilm/model.safetensors") else {
        return;
    };
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = |backend: &str| {
        let eigs = dir.path().join(backend);
        let o = specscope(&[
            "analyze",
            path.to_str().unwrap(),
            "--backend",
            backend,
            "--format",
            "json",
            "-q",
            "--save-eigs",
            eigs.to_str().unwrap(),
        ]);
        (json(&o), eigs)
    };
    let (g, gdir) = run("gpu");
    let (c, cdir) = run("cpu");
    assert_eq!(g["backend"]["name"], "gpu");
    assert_eq!(g["backend"]["method"], "exact");
    assert!(g["backend"]["adapter"].is_string() && g["backend"]["api"].is_string());
    assert_eq!(c["backend"]["name"], "cpu");
    let (gl, cl) = (
        g["layers"].as_array().unwrap(),
        c["layers"].as_array().unwrap(),
    );
    assert_eq!(gl.len(), cl.len());
    let mut worst = [0.0f64; 4];
    for (a, b) in gl.iter().zip(cl) {
        let name = b["name"].as_str().unwrap();
        assert_eq!(a["name"], b["name"]);
        let index: Value =
            serde_json::from_slice(&std::fs::read(cdir.join("index.json")).unwrap()).unwrap();
        let file = index
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == b["name"])
            .and_then(|e| e["file"].as_str())
            .unwrap_or_else(|| panic!("no eigenvalue file for {name}"))
            .to_string();
        let (ge, ce) = (read_npy(&gdir.join(&file)), read_npy(&cdir.join(&file)));
        assert_eq!(ge.len(), ce.len(), "{name}");
        let d = ge
            .iter()
            .zip(&ce)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
            / ce[0];
        assert!(d <= 1e-5, "{name}: max |Δμ|/μ_max {d:e}");
        worst[0] = worst[0].max(d);
        for (k, key) in ["norm", "lambda_max", "stable_rank"].iter().enumerate() {
            let r = rel(a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
            assert!(r <= 1e-5, "{name} {key}: {r:e}");
            if k == 0 {
                worst[1] = worst[1].max(r);
            }
        }
        let r = rel(a["alpha"].as_f64().unwrap(), b["alpha"].as_f64().unwrap());
        assert!(r <= 1e-4, "{name} alpha: {r:e}");
        worst[2] = worst[2].max(r);
        let floor = ce.iter().filter(|&&x| x < 1e-6 * ce[0]).count() as i64;
        let dr = (a["matrix_rank"].as_i64().unwrap() - b["matrix_rank"].as_i64().unwrap()).abs();
        assert!(dr <= floor, "{name} matrix_rank differs by {dr} > {floor}");
        worst[3] = worst[3].max(dr as f64);
    }
    eprintln!(
        "minilm gpu vs cpu: max |Δμ|/μ_max {:.1e}, norm {:.1e}, alpha {:.1e}, matrix_rank Δ {}",
        worst[0], worst[1], worst[2], worst[3]
    );
}

/// `--backend auto` uses a hardware adapter, else the CPU with exactly one
/// stderr line saying why; a software adapter is never picked by auto.
#[test]
fn auto_backend_falls_back_with_one_line() {
    let hardware = GpuContext::open(&GpuOptions::default()).ok();
    // --quiet silences the note; a successful quiet run prints nothing.
    let quiet = specscope(&["analyze", &tiny(), "--format", "json", "-q"]);
    assert!(quiet.status.success());
    assert!(quiet.stderr.is_empty(), "{:?}", stderr(&quiet));
    let o = specscope(&["analyze", &tiny(), "--format", "json"]);
    let rep = json(&o);
    let err = stderr(&o);
    match hardware {
        Some(c) => {
            assert_eq!(rep["backend"]["name"], "gpu");
            assert_eq!(
                rep["backend"]["adapter"].as_str(),
                Some(c.adapter.name.as_str())
            );
        }
        None => {
            assert_eq!(rep["backend"]["name"], "cpu");
            assert_eq!(err.len(), 1, "{err:?}");
            assert!(err[0].contains("using the CPU backend"), "{err:?}");
            assert!(rep["backend"]["adapter"].is_null());
        }
    }
}

#[test]
fn unknown_adapter_is_an_error() {
    let o = specscope(&[
        "analyze",
        &tiny(),
        "--backend",
        "gpu",
        "--adapter",
        "no-such-gpu-xyz",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o).join("\n");
    assert!(err.contains("no-such-gpu-xyz"), "{err}");
}

/// `--backend auto --adapter NAME` where NAME matches only a software
/// adapter (llvmpipe): the one fallback line says it matched but was
/// refused as software, and how to force it, not "no adapter matches".
#[test]
fn auto_names_a_refused_software_match() {
    if !have_gpu() {
        return;
    }
    let all = specscope::backend::gpu::list_adapters();
    // the whole name: a hardware adapter's name cannot contain it
    let Some(soft) = all
        .iter()
        .find(|a| a.software && !all.iter().any(|h| !h.software && h.name.contains(&a.name)))
    else {
        eprintln!("SKIPPED: no software adapter (found {all:?})");
        return;
    };
    let o = specscope(&[
        "analyze",
        &tiny(),
        "--adapter",
        &soft.name,
        "--format",
        "json",
    ]);
    assert_eq!(json(&o)["backend"]["name"], "cpu");
    let err = stderr(&o);
    eprintln!("{err:?}");
    assert_eq!(err.len(), 1, "{err:?}");
    assert!(!err[0].contains("no adapter matches"), "{err:?}");
    assert!(
        err[0].contains("matches only the software adapter")
            && err[0].contains("use --backend gpu to force it")
            && err[0].contains("using the CPU backend"),
        "{err:?}"
    );
}

/// `--adapter` with `--backend cpu` picks nothing: one warning says so.
#[test]
fn adapter_with_cpu_backend_warns() {
    let o = specscope(&[
        "analyze",
        &tiny(),
        "--backend",
        "cpu",
        "--adapter",
        "llvm",
        "--format",
        "json",
    ]);
    assert_eq!(json(&o)["backend"]["name"], "cpu");
    let err = stderr(&o);
    assert_eq!(err.len(), 1, "{err:?}");
    assert!(
        err[0].contains("--adapter `llvm` is ignored with --backend cpu"),
        "{err:?}"
    );
    // without --adapter, nothing
    let o = specscope(&["analyze", &tiny(), "--backend", "cpu", "-q"]);
    assert!(stderr(&o).is_empty(), "{:?}", stderr(&o));
}

/// Each Krylov method through the CLI, on the CPU (always) and the GPU
/// (when present): rows say the method, what their eigenvalues are and
/// which converged; the norm is the exact ‖W‖²_F; the top eigenvalue
/// equals the exact one (1e-5 relative).
#[test]
fn krylov_methods_through_the_cli() {
    let exact = json(&specscope(&[
        "analyze",
        &tiny(),
        "--backend",
        "cpu",
        "--format",
        "json",
        "-q",
    ]));
    let mut backends = vec!["cpu"];
    if have_gpu() {
        backends.push("gpu");
    }
    for backend in backends {
        for (method, spectrum) in [("lanczos", "top_k"), ("power", "top_k"), ("slq", "density")] {
            let o = specscope(&[
                "analyze",
                &tiny(),
                "--backend",
                backend,
                "--method",
                method,
                "--top-k",
                "4",
                "--slq-probes",
                "4",
                "--slq-steps",
                "8",
                "--format",
                "json",
                "-q",
            ]);
            let rep = json(&o);
            assert_eq!(rep["backend"]["method"], method);
            assert!(rep["backend"]["partial_spectra"].is_string());
            for (row, ex) in rep["layers"]
                .as_array()
                .unwrap()
                .iter()
                .zip(exact["layers"].as_array().unwrap())
            {
                let name = row["name"].as_str().unwrap();
                assert_eq!(row["method"], method, "{name}");
                assert_eq!(row["spectrum"], spectrum, "{name}");
                assert!(
                    row["matrix_rank"].is_null() && row["entropy"].is_null(),
                    "{name}"
                );
                let r = rel(row["norm"].as_f64().unwrap(), ex["norm"].as_f64().unwrap());
                assert!(r <= 1e-6, "{backend} {method} {name} norm {r:e}");
                let r = rel(
                    row["lambda_max"].as_f64().unwrap(),
                    ex["lambda_max"].as_f64().unwrap(),
                );
                assert!(r <= 1e-5, "{backend} {method} {name} lambda_max {r:e}");
                let k = if method == "power" { 1 } else { 4 };
                assert_eq!(row["top_k"].as_u64(), Some(k), "{name}");
                let want = if k == 1 {
                    "1".to_string()
                } else {
                    format!("1-{k}")
                };
                assert_eq!(
                    row["converged"].as_str(),
                    Some(want.as_str()),
                    "{backend} {method} {name}"
                );
            }
        }
    }
}

/// A rank-deficient matrix (rank 12 of 96) on the GPU: its 84 null
/// eigenvalues come out of the f32 Gram as ±ε₃₂-sized round-off, checked
/// against the trace before they are clamped to zero (as `predict
/// --verify` does), then reported as zeros; its 12 nonzero eigenvalues
/// match the CPU's within the f32 Gram's 1e-5.
#[test]
fn rank_deficient_matrix_on_the_gpu() {
    if !have_gpu() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("lowrank.safetensors");
    let (n, m, r) = (300usize, 96usize, 12usize);
    let a = common::values(n * r, 11);
    let b = common::values(r * m, 12);
    let w: Vec<f64> = (0..n * m)
        .map(|ij| {
            let (i, j) = (ij / m, ij % m);
            (0..r).map(|k| a[i * r + k] * b[k * m + j]).sum()
        })
        .collect();
    common::write(&p, &[("lowrank", specscope::load::DType::F32, &[n, m], w)]);
    let eigs = |backend: &str| -> Vec<f64> {
        let out = dir.path().join(backend);
        let o = specscope(&[
            "analyze",
            p.to_str().unwrap(),
            "--backend",
            backend,
            "--format",
            "json",
            "--quiet",
            "--save-eigs",
            out.to_str().unwrap(),
        ]);
        let v = json(&o);
        assert_eq!(o.status.code(), Some(0), "{backend}: {:?}", stderr(&o));
        assert_eq!(v["layers"][0]["status"], "success", "{backend}: {v}");
        let f = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "npy"))
            .unwrap();
        read_npy(&f)
    };
    let (cpu, gpu) = (eigs("cpu"), eigs("gpu"));
    assert_eq!(cpu.len(), m);
    for k in 0..r {
        assert!(
            rel(gpu[k], cpu[k]) < 1e-5,
            "μ_{k}: gpu {} cpu {}",
            gpu[k],
            cpu[k]
        );
    }
    assert!(gpu[r..].iter().all(|&x| x >= 0.0 && x < 1e-5 * gpu[0]));
}
