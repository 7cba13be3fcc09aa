//! Why a 1.2× spike cannot be told from a 0.8× one at 90%/90% on 500×500:
//! for one spike at 0.8× and at 1.2× the BBP threshold (120 seeds each),
//! the top eigenvalue's distance above the MP edge in Tracy–Widom units,
//! z = (μ_1 − edge)/TW scale, with σ from the median (as the estimators
//! use it) and with the true σ; and the RMS relative error of σ̂. Quoted in
//! docs/theory.md §5.
//!
//!   cargo run --release --example noise_sigma_spread

use faer::Par;
use specscope::fit::noise::{Dims, bbp_threshold, mp_edge, noise_floor, tw_scale};
use specscope::synth;
use specscope::theory::verify::{CpuExact, SpectrumEngine};

fn main() {
    let n = 500;
    let d = Dims::of(n, n);
    let thr = bbp_threshold(1.0, d);
    let z = |mu1: f64, s2: f64| (mu1 - mp_edge(s2, d)) / tw_scale(s2, d);
    println!("quantiles of z over 120 seeds: 10%  50%  90%");
    for f in [0.8, 1.2] {
        let (mut est, mut truth, mut err2) = (Vec::new(), Vec::new(), 0.0);
        for seed in 0..120u64 {
            let w = synth::with_spectrum(n, n, &[f * f * thr], 1.0, &mut synth::rng(5000 + seed));
            let ev = CpuExact { par: Par::Seq }
                .gram_eigen(w.as_ref(), false)
                .unwrap()
                .values;
            let nf = noise_floor(&ev, d, None);
            est.push(z(ev[0], nf.sigma * nf.sigma));
            truth.push(z(ev[0], 1.0));
            err2 += (nf.sigma - 1.0).powi(2) / 120.0;
        }
        println!("spike {f}×: RMS relative error of σ̂ {:.2e}", err2.sqrt());
        for (label, v) in [("median σ", &mut est), ("true σ", &mut truth)] {
            v.sort_by(f64::total_cmp);
            let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
            println!(
                "spike {f}×, {label:>8}: {:6.2} {:6.2} {:6.2}",
                q(0.1),
                q(0.5),
                q(0.9)
            );
        }
    }
}
