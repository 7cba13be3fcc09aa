//! End-to-end `specscope analyze` on the real MiniLM checkpoint: the whole
//! process (start, mapping, decoding, spectra, fits, report), median of 5
//! after one warm-up, per thread count, with `--backend cpu` and with the
//! default `auto` (which first probes for a hardware GPU adapter; on a
//! machine without one that probe is the whole difference). The peer baseline (WeightWatcher's
//! `analyze()` alone) runs side by side in scripts/bench-vs-peers.sh.
//!
//!   scripts/fetch-checkpoints.sh && cargo bench --bench e2e
//!
//! With `PEER_PYTHON=/path/to/python` (weightwatcher and torch installed)
//! the peer's `analyze()` runs right after on the same file, in the same
//! run, and the ratios are printed.
//!
//! With `DIFFRACT_PYTHON=/path/to/python` (Python ≥ 3.12 with
//! diffract-core 0.3.1, as in scripts/reference/diffract_reference.py's
//! docstring), `analyze --diffract` (Diffract's default column set: the
//! permuted null, Tracy–Widom and exponential fits; median of 3) runs side
//! by side with Diffract's own default fields through that script
//! (`--tpl --runs 3`: its median of 3 timed in-memory runs, import and
//! load excluded), and the ratio is printed.
//!
//!   DIFFRACT_PYTHON=/work/venvs/diffract/bin/python cargo bench --bench e2e

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn main() {
    let root = std::env::var_os("SPECSCOPE_CHECKPOINTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/checkpoints"));
    let ckpt = root.join("minilm/model.safetensors");
    if !ckpt.is_file() {
        println!(
            "SKIPPED: {} is missing (run scripts/fetch-checkpoints.sh)",
            ckpt.display()
        );
        return;
    }
    let bin = env!("CARGO_BIN_EXE_specscope");
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut medians = Vec::new();
    for (t, backend) in [(1, "cpu"), (threads, "auto"), (threads, "cpu")] {
        let run = || {
            let t0 = Instant::now();
            let s = Command::new(bin)
                .args([
                    "analyze",
                    ckpt.to_str().unwrap(),
                    "--format",
                    "json",
                    "-o",
                    "/dev/null",
                    "--quiet",
                ])
                .args(["--threads", &t.to_string(), "--backend", backend])
                .status()
                .unwrap();
            assert!(s.success());
            t0.elapsed().as_secs_f64()
        };
        run();
        let mut times: Vec<f64> = (0..5).map(|_| run()).collect();
        times.sort_by(f64::total_cmp);
        medians.push((t, backend, times[2]));
        println!(
            "e2e analyze MiniLM (40 matrices, 91 MB F32), --backend {backend:4}, {t} thread(s): median {:.3} s  (runs {:?})",
            times[2],
            times
                .iter()
                .map(|x| (x * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>()
        );
    }
    if let Some(py) = std::env::var_os("DIFFRACT_PYTHON") {
        diffract_side_by_side(bin, &ckpt, &py, threads);
    }
    let Some(py) = std::env::var_os("PEER_PYTHON") else {
        return;
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/reference/ww_analyze_bench.py"
    );
    let out = Command::new(py)
        .arg(script)
        .arg(ckpt.parent().unwrap())
        .env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE")
        .output();
    let ww = out.ok().filter(|o| o.status.success()).and_then(|o| {
        String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
            l.strip_prefix("ww_analyze_median_s ")?
                .trim()
                .parse::<f64>()
                .ok()
        })
    });
    let Some(ww) = ww else {
        println!("WeightWatcher baseline not run (PEER_PYTHON needs weightwatcher and torch)");
        return;
    };
    println!("WeightWatcher analyze() alone, same file: median {ww:.3} s");
    for (t, backend, ours) in medians {
        println!(
            "  ratio WeightWatcher / specscope (--backend {backend}, {t} thread(s)): {:.1}×",
            ww / ours
        );
    }
}

/// `analyze --diffract` against Diffract's default fields on the same file.
fn diffract_side_by_side(bin: &str, ckpt: &std::path::Path, py: &std::ffi::OsStr, threads: usize) {
    let mut ours: Vec<f64> = (0..3)
        .map(|_| {
            let t0 = Instant::now();
            let s = Command::new(bin)
                .args([
                    "analyze",
                    ckpt.to_str().unwrap(),
                    "--diffract",
                    "--backend",
                    "cpu",
                ])
                .args(["--format", "json", "-o", "/dev/null", "--quiet"])
                .status()
                .unwrap();
            assert!(s.success());
            t0.elapsed().as_secs_f64()
        })
        .collect();
    ours.sort_by(f64::total_cmp);
    println!(
        "e2e analyze --diffract MiniLM, --backend cpu, {threads} thread(s): median {:.3} s  (runs {:?})",
        ours[1],
        ours.iter()
            .map(|x| (x * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/reference/diffract_reference.py"
    );
    let csv = std::env::temp_dir().join(format!("specscope-diffract-{}.csv", std::process::id()));
    let out = Command::new(py)
        .arg(script)
        .arg(ckpt)
        .arg(&csv)
        .args(["--tpl", "--runs", "3"])
        .output();
    let _ = std::fs::remove_file(&csv);
    let theirs = out.ok().filter(|o| o.status.success()).and_then(|o| {
        String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
            let rest = l.split_once("matrices: median ")?.1;
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
    });
    match theirs {
        Some(t) => println!(
            "Diffract default fields, same file (weights in memory): median {t:.2} s; ratio Diffract / specscope --diffract: {:.1}×",
            t / ours[1]
        ),
        None => println!("Diffract baseline not run (DIFFRACT_PYTHON needs diffract-core 0.3.1)"),
    }
}
