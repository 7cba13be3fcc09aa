//! Wall time of `specscope simulate` at the documented default sizes of
//! each model (a = 2.5, b = 1.5), median of repeated runs.
//!
//!   cargo bench --bench simulate
//!   SPECSCOPE_BENCH_REPS=5 cargo bench --bench simulate
//!
//! Target: at most two minutes per default run on two cores.

use specscope::simulate::{ModelKind, SimConfig, simulate};
use std::time::Instant;

fn main() {
    let reps: usize = std::env::var("SPECSCOPE_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("simulate at default sizes, median of {reps} runs; {threads} threads available");
    println!(
        "{:<12} {:>16} {:>7} {:>10} {:>10} {:>10} {:>11}",
        "model", "D×K (H)", "steps", "median s", "min s", "max s", "steps/s"
    );
    for model in [ModelKind::Linear, ModelKind::DeepLinear, ModelKind::Mlp] {
        let cfg = SimConfig::defaults(model, 2.5, 1.5);
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let dir = tempfile::tempdir().expect("temp dir");
            let t0 = Instant::now();
            simulate(&cfg, &dir.path().join("run"), &mut |_, _| {}).expect("default run");
            times.push(t0.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let shape = if model == ModelKind::Linear {
            format!("{}×{}", cfg.outputs, cfg.dim)
        } else {
            format!("{}×{} ({})", cfg.outputs, cfg.dim, cfg.hidden)
        };
        println!(
            "{:<12} {shape:>16} {:>7} {median:>10.1} {:>10.1} {:>10.1} {:>11.0}",
            model.as_str(),
            cfg.steps,
            times[0],
            times[times.len() - 1],
            cfg.steps as f64 / median
        );
    }
}
