//! The spectral-framework estimators on one spectrum of M = 4096
//! eigenvalues, on one core: each stage and the whole `spectral_fit`
//! (noise floor, b by least squares and Hill, 1/(α−1) with the peer's
//! power-law fit, slope profile, broken power law, frontier), then the
//! `analyze` theory columns and a quantization prediction with its B = 2…8
//! curve. Median of repeated runs; the target is < 50 ms for everything.
//!
//!   cargo bench --bench fit

use specscope::fit::estimate::screen;
use specscope::fit::noise::{Dims, mp_quantiles, noise_floor};
use specscope::fit::{broken, powerlaw, rankdecay, spectral_fit};
use specscope::theory::quant::{Granularity, QuantSpec, RangeStats, Scheme};
use specscope::theory::{Keep, Request, TheoryColumns, predict};
use std::time::Instant;

fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// 4096 eigenvalues of a 8192×4096 matrix: a 300-mode power-law signal
/// (k^-1.3, well above the edge) on a Marchenko–Pastur bulk (its exact
/// quantiles), and a pure power law (no bulk) as the second case.
fn spectra() -> Vec<(&'static str, Vec<f64>)> {
    let (n, m) = (8192usize, 4096usize);
    let beta = m as f64 / n as f64;
    let sigma2 = 1e-4;
    let p: Vec<f64> = (0..m).map(|i| (i as f64 + 0.5) / m as f64).collect();
    let mut bulk: Vec<f64> = mp_quantiles(beta, &p)
        .into_iter()
        .map(|t| t * n as f64 * sigma2)
        .collect();
    let edge = sigma2 * ((n as f64).sqrt() + (m as f64).sqrt()).powi(2);
    for k in 0..300 {
        bulk[m - 1 - k] = 4.0 * edge * 200f64.powf(1.3) * ((k + 1) as f64).powf(-1.3);
    }
    bulk.sort_by(|a, b| b.total_cmp(a));
    let pl: Vec<f64> = (1..=m).map(|k| (k as f64).powf(-1.1)).collect();
    vec![("signal+MP bulk", bulk), ("pure power law", pl)]
}

fn main() {
    let d = Dims::of(8192, 4096);
    println!("spectral-framework estimators, M = 4096, one core (median ms)");
    println!(
        "{:>16}  {:>7}  {:>7}  {:>7}  {:>7}  {:>7}  {:>9}  {:>8}  {:>8}",
        "spectrum",
        "noise",
        "b (LS)",
        "broken",
        "profile",
        "α fit",
        "all (fit)",
        "columns",
        "predict"
    );
    let ranges = RangeStats {
        entries: 8192 * 4096,
        groups: 8192,
        sum_n_range2: 8192.0 * 4096.0 * 0.05f64.powi(2),
        zero: None,
    };
    let req = Request {
        keep: Some(Keep::Sparsity(0.5)),
        quant: Some(QuantSpec::new(4, Scheme::Sym, Granularity::Channel, 128).unwrap()),
    };
    for (label, mu) in spectra() {
        let reps = 21;
        let s = screen(&mu).unwrap();
        let nf = noise_floor(&mu, d, None);
        let cap = nf.k_clean.max(10).min(s.rank);
        let t_noise = median_ms(reps, || {
            std::hint::black_box(noise_floor(&mu, d, None));
        });
        let t_b = median_ms(reps, || {
            std::hint::black_box(rankdecay::rank_decay(&s, cap).ok());
        });
        let t_bpl = median_ms(reps, || {
            std::hint::black_box(broken::broken_power_law(&s, cap).ok());
        });
        let t_prof = median_ms(reps, || {
            std::hint::black_box(rankdecay::slope_profile(&s, cap));
        });
        let t_alpha = median_ms(reps, || {
            std::hint::black_box(powerlaw::fit(&mu).ok());
        });
        let t_all = median_ms(reps, || {
            std::hint::black_box(spectral_fit(&mu, d, None, None));
        });
        let fit = spectral_fit(&mu, d, None, None);
        let t_cols = median_ms(reps, || {
            std::hint::black_box(TheoryColumns::new(&mu, &fit, 8192 * 4096, Some(&ranges)));
        });
        let t_pred = median_ms(reps, || {
            std::hint::black_box(predict(&mu, d, &fit, &req, Some(&ranges)));
        });
        println!(
            "{label:>16}  {t_noise:>7.2}  {t_b:>7.2}  {t_bpl:>7.2}  {t_prof:>7.2}  {t_alpha:>7.2}  {t_all:>9.2}  {t_cols:>8.2}  {t_pred:>8.2}"
        );
        println!(
            "{:>16}  k_noise {} k_clean {} b {:?} k_* {:?} ({:?})",
            "",
            nf.k_noise,
            nf.k_clean,
            fit.b().map(|b| (b.value * 1000.0).round() / 1000.0),
            fit.k_star(),
            fit.frontier.as_ref().map(|f| f.source).ok()
        );
    }
}
