//! specscope's Diffract columns (`fit::diffract`) on the real MiniLM
//! checkpoint against diffract-core 0.3.1's own output on the same weights
//! (fixtures/minilm/diffract_details.csv, made by
//! scripts/reference/diffract_reference.py; the command is in its
//! docstring). Tolerances, and why:
//! - eigenvalue-only real values (esd_max, esd_min, effective_rank,
//!   weights_std): 1e-5 relative (both sides are f64; the measured gap is
//!   ~1e-12);
//! - hard_rank: identical on ≥ 95% of matrices;
//! - the MP/TW formulas, fed Diffract's own bulk std so that the null's
//!   draw drops out: 1e-5 relative, counts identical;
//! - the permuted-null columns with our own draw: spike counts within
//!   max(2, 5%) on ≥ 90% of matrices; the real values are printed;
//! - tail fits (expon_*, tpl_*): 1e-5 relative where the same xmin is
//!   chosen, on ≥ 95% of matrices.
//!
//! Skips with `SKIPPED:` when the checkpoint is missing.

mod common;

use common::*;
use faer::Par;
use specscope::fit::diffract::{
    self, DiffractMetrics, DiffractOptions, MpFit, NULL_SEED, esd_ascending, permuted_null,
};
use specscope::load::{Checkpoint, MatrixData};
use specscope::pipeline::{self, Method, RunOptions, Selection, Silent};
use std::collections::HashMap;
use std::time::Instant;

type Row = HashMap<String, String>;

fn reference() -> HashMap<String, Row> {
    let mut r = csv::Reader::from_path(fixture("minilm/diffract_details.csv")).unwrap();
    r.deserialize::<Row>()
        .map(|row| row.unwrap())
        .map(|row| (row["name"].clone(), row))
        .collect()
}

fn num(row: &Row, k: &str) -> Option<f64> {
    let v = row.get(k).unwrap_or_else(|| panic!("column {k}"));
    (!v.is_empty()).then(|| v.parse().unwrap())
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / b.abs().max(1e-300)
    }
}

/// One matrix: our columns (with the null and both tail fits when the
/// reference has them) and its eigenvalues.
struct Ours {
    tensor: String,
    n: usize,
    m: usize,
    evals: Vec<f64>,
    metrics: DiffractMetrics,
}

/// Exact spectra of every MiniLM matrix through the library, then our
/// columns; prints the time of each part (for the cost figure in
/// docs/diffract-compat.md; never asserted).
fn ours(ckpt: &std::path::Path, refs: &HashMap<String, Row>) -> Vec<Ours> {
    let ck = Checkpoint::open(ckpt).unwrap();
    let plan = pipeline::plan(&ck, &Selection::default());
    let opts = RunOptions {
        method: Method::Exact,
        ..Default::default()
    };
    let t = Instant::now();
    let outcomes = pipeline::run(&ck, &plan, &opts, &Silent);
    let spectra_s = t.elapsed().as_secs_f64();
    let mut out = Vec::new();
    let (mut base_s, mut null_s, mut expon_s, mut tpl_s) = (0.0, 0.0, 0.0, 0.0);
    for (job, o) in plan.jobs.iter().zip(&outcomes) {
        let evals = o.evals.clone().unwrap();
        let (n, m) = (job.spec.n(), job.spec.m());
        let t = Instant::now();
        diffract::diffract_metrics(&evals, n, m, None, &DiffractOptions::default()).unwrap();
        base_s += t.elapsed().as_secs_f64();
        let tensor = &ck.tensors[job.tensor];
        let data = MatrixData {
            bytes: ck.file_of(tensor).unwrap().tensor_bytes(&tensor.header),
            dtype: &tensor.header.dtype,
            view: job.spec.views[0],
        };
        let t = Instant::now();
        let null = permuted_null(&o.tensor, &data, NULL_SEED, Par::Seq).unwrap();
        null_s += t.elapsed().as_secs_f64();
        let only = |exponential, truncated_power_law| DiffractOptions {
            exponential,
            truncated_power_law,
            ..Default::default()
        };
        let t = Instant::now();
        let mut metrics =
            diffract::diffract_metrics(&evals, n, m, Some(&null), &only(true, false)).unwrap();
        expon_s += t.elapsed().as_secs_f64();
        if refs
            .get(&o.tensor)
            .is_some_and(|r| num(r, "tpl_alpha").is_some())
        {
            let t = Instant::now();
            let tpl = diffract::diffract_metrics(&evals, n, m, None, &only(false, true)).unwrap();
            tpl_s += t.elapsed().as_secs_f64();
            (metrics.tpl_alpha, metrics.tpl_lambda) = (tpl.tpl_alpha, tpl.tpl_lambda);
            (metrics.tpl_esd_xmin, metrics.tpl_ks) = (tpl.tpl_esd_xmin, tpl.tpl_ks);
        }
        out.push(Ours {
            tensor: o.tensor.clone(),
            n,
            m,
            evals,
            metrics,
        });
    }
    eprintln!(
        "{} matrices: exact spectra {spectra_s:.3} s; default columns {:.3} ms; nulls {null_s:.3} s; \
         nulls' columns + exponential fits {expon_s:.3} s; tpl fits {tpl_s:.3} s ({} matrices)",
        out.len(),
        base_s * 1e3,
        out.iter().filter(|o| o.metrics.tpl_alpha.is_some()).count()
    );
    out
}

/// Counts within max(2, 5%).
fn close_count(a: usize, b: usize) -> bool {
    a.abs_diff(b) as f64 <= 2f64.max(0.05 * b as f64)
}

#[test]
fn minilm_matches_diffract() {
    let Some(ckpt) = checkpoint("minilm/model.safetensors") else {
        return;
    };
    let refs = reference();
    let ours = ours(&ckpt, &refs);
    assert_eq!(
        ours.len(),
        refs.len(),
        "one row per 2-D tensor on both sides"
    );
    let total = ours.len() as f64;
    let (mut hard_same, mut null_close, mut eigen_worst, mut formula_worst) =
        (0, 0, 0.0f64, 0.0f64);
    let mut exceptions = Vec::new();
    for o in &ours {
        let r = &refs[&o.tensor];
        let d = &o.metrics;
        assert_eq!(
            (num(r, "greater_dim"), num(r, "lower_dim")),
            (Some(o.n as f64), Some(o.m as f64))
        );
        for (k, v) in [
            ("esd_max", d.esd_max),
            ("esd_min", d.esd_min),
            ("effective_rank", d.effective_rank),
            ("weights_std", d.weights_std.unwrap()),
        ] {
            let want = num(r, k).unwrap();
            assert!(
                rel(v, want) <= 1e-5,
                "{}: {k} {v} vs diffract {want}",
                o.tensor
            );
            eigen_worst = eigen_worst.max(rel(v, want));
        }
        if d.hard_rank as f64 == num(r, "hard_rank").unwrap() {
            hard_same += 1;
        } else {
            exceptions.push(format!(
                "{}: hard_rank {} vs {}",
                o.tensor, d.hard_rank, r["hard_rank"]
            ));
        }
        formula_worst = formula_worst.max(check_formulas_on_diffract_bulk(o, r));
        let spikes_close = close_count(
            d.mp_num_spikes.unwrap(),
            num(r, "mp_num_spikes").unwrap() as usize,
        ) && close_count(
            d.tw_num_spikes.unwrap(),
            num(r, "tw_num_spikes").unwrap() as usize,
        );
        null_close += spikes_close as usize;
        let ours_bled = d.mp_bulk_std != d.weights_std;
        let theirs_bled = num(r, "mp_bulk_std") != num(r, "weights_std");
        let gaps: Vec<String> = ["mp_bulk_std", "mp_esd_max", "tw_esd_bound"]
            .iter()
            .map(|k| {
                let v = serde_json::to_value(d).unwrap()[k].as_f64().unwrap();
                format!("{k} {:.1e}", rel(v, num(r, k).unwrap()))
            })
            .collect();
        eprintln!(
            "null {}: bled ours {ours_bled} diffract {theirs_bled}; spikes mp {:?}/{} tw {:?}/{}; {}",
            o.tensor,
            d.mp_num_spikes,
            r["mp_num_spikes"],
            d.tw_num_spikes,
            r["tw_num_spikes"],
            gaps.join(", ")
        );
        if !spikes_close {
            exceptions.push(format!(
                "{}: null spikes mp {:?} vs {}, tw {:?} vs {}",
                o.tensor, d.mp_num_spikes, r["mp_num_spikes"], d.tw_num_spikes, r["tw_num_spikes"]
            ));
        }
    }
    let (expon_same, tpl) = tail_fits(&ours, &refs, &mut exceptions);
    eprintln!(
        "worst relative gap: eigenvalue-only columns {eigen_worst:.1e}, MP/TW formulas on \
         diffract's bulk {formula_worst:.1e}; hard_rank identical {hard_same}/{total}; null \
         spike counts within max(2, 5%) {null_close}/{total}; expon same xmin and 1e-5 \
         {expon_same}/{total}; tpl {}/{}",
        tpl.0, tpl.1
    );
    for e in &exceptions {
        eprintln!("exception: {e}");
    }
    assert!(hard_same as f64 >= 0.95 * total);
    assert!(null_close as f64 >= 0.90 * total);
    assert!(expon_same as f64 >= 0.95 * total);
    assert_eq!(tpl.0, tpl.1, "tpl_* on every matrix the reference fitted");
}

/// The MP and TW formulas given Diffract's own bulk std and edges, so
/// that its permutation draw drops out: 1e-5 relative, counts identical.
/// Where Diffract's edge is its λ_max (the cap), ours is ours. Returns
/// the worst relative gap.
fn check_formulas_on_diffract_bulk(o: &Ours, r: &Row) -> f64 {
    let esd = esd_ascending(&o.evals, o.n);
    let capped = num(r, "mp_esd_max") == num(r, "esd_max");
    let fit = MpFit {
        esd_max: if capped {
            o.metrics.esd_max
        } else {
            num(r, "mp_esd_max").unwrap()
        },
        esd_min: num(r, "mp_esd_min").unwrap(),
        bulk_std: num(r, "mp_bulk_std").unwrap(),
    };
    let q = o.n as f64 / o.m as f64;
    let want_min = fit.bulk_std.powi(2) * (1.0 - 1.0 / q.sqrt()).powi(2);
    assert!(
        rel(want_min, fit.esd_min) <= 1e-5,
        "{}: mp_esd_min",
        o.tensor
    );
    let tw = diffract::tw_esd_bound(o.n, o.m, fit.bulk_std, diffract::TW_P_VALUE).unwrap();
    let want_tw = num(r, "tw_esd_bound").unwrap();
    assert!(
        rel(tw, want_tw) <= 1e-5,
        "{}: tw_esd_bound {tw} vs {want_tw}",
        o.tensor
    );
    let ks = diffract::mp_ks(&esd, q, &fit);
    let want_ks = num(r, "mp_ks").unwrap();
    assert!(
        rel(ks, want_ks) <= 1e-5,
        "{}: mp_ks {ks} vs {want_ks}",
        o.tensor
    );
    let count = |edge: f64| esd.iter().filter(|&&x| x > edge).count() as f64;
    assert_eq!(
        Some(count(fit.esd_max)),
        num(r, "mp_num_spikes"),
        "{}: mp_num_spikes",
        o.tensor
    );
    assert_eq!(
        Some(count(tw)),
        num(r, "tw_num_spikes"),
        "{}: tw_num_spikes",
        o.tensor
    );
    rel(want_min, fit.esd_min)
        .max(rel(tw, want_tw))
        .max(rel(ks, want_ks))
}

/// expon_* on every matrix, tpl_* where the reference has them: how many
/// agree (same xmin, λ and KS within 1e-5 relative); the rest become
/// exceptions with their figures.
fn tail_fits(
    ours: &[Ours],
    refs: &HashMap<String, Row>,
    exceptions: &mut Vec<String>,
) -> (usize, (usize, usize)) {
    let mut worst = [0.0f64; 2];
    let mut agree = |o: &Ours, r: &Row, cols: &[(&str, Option<f64>)], which: usize| -> bool {
        for (k, v) in cols {
            worst[which] =
                worst[which].max(rel(v.unwrap_or(f64::NAN), num(r, k).unwrap_or(f64::NAN)));
        }
        let bad: Vec<String> = cols
            .iter()
            .filter_map(|(k, v)| {
                let (v, want) = (v.unwrap_or(f64::NAN), num(r, k).unwrap_or(f64::NAN));
                (rel(v, want).is_nan() || rel(v, want) > 1e-5)
                    .then(|| format!("{k} {v:.9e} vs {want:.9e}"))
            })
            .collect();
        if !bad.is_empty() {
            exceptions.push(format!("{}: {}", o.tensor, bad.join(", ")));
        }
        bad.is_empty()
    };
    let mut expon = 0;
    let mut tpl = (0, 0);
    for o in ours {
        let (r, d) = (&refs[&o.tensor], &o.metrics);
        expon += agree(
            o,
            r,
            &[
                ("expon_lambda", d.expon_lambda),
                ("expon_esd_xmin", d.expon_esd_xmin),
                ("expon_ks", d.expon_ks),
            ],
            0,
        ) as usize;
        if num(r, "tpl_alpha").is_some() {
            tpl.1 += 1;
            tpl.0 += agree(
                o,
                r,
                &[
                    ("tpl_alpha", d.tpl_alpha),
                    ("tpl_lambda", d.tpl_lambda),
                    ("tpl_esd_xmin", d.tpl_esd_xmin),
                    ("tpl_ks", d.tpl_ks),
                ],
                1,
            ) as usize;
        }
    }
    eprintln!(
        "worst relative gap: expon_* {:.1e}, tpl_* {:.1e}",
        worst[0], worst[1]
    );
    (expon, tpl)
}

/// The CLI's columns: the eigenvalue-only ones always, the null's and the
/// exponential fit's with `--diffract`, and they equal the library's on
/// the same spectrum (bit for bit: same code, same seed).
#[test]
fn analyze_reports_the_columns() {
    let tiny = fixture("tiny/model.safetensors");
    let tiny = tiny.to_str().unwrap();
    let plain = json(&specscope(&[
        "analyze",
        tiny,
        "--backend",
        "cpu",
        "--quiet",
        "--format",
        "json",
    ]));
    let full = json(&specscope(&[
        "analyze",
        tiny,
        "--backend",
        "cpu",
        "--quiet",
        "--format",
        "json",
        "--diffract",
    ]));
    let (p0, f0) = (&plain["layers"][0], &full["layers"][0]);
    assert!(p0["effective_rank"].as_f64().unwrap() > 1.0);
    assert_eq!(p0["hard_rank"], f0["hard_rank"]);
    assert!(p0["tw_num_spikes"].is_null() && p0["expon_lambda"].is_null());
    assert!(f0["tw_num_spikes"].as_u64().is_some() && f0["expon_lambda"].as_f64().is_some());
    assert!(
        f0["tpl_alpha"].is_null(),
        "the truncated power law needs --diffract-tpl"
    );
    // The library on the same matrix.
    let ck = Checkpoint::open(std::path::Path::new(tiny)).unwrap();
    let plan = pipeline::plan(&ck, &Selection::default());
    let job = &plan.jobs[0];
    let out = pipeline::run(&ck, &plan, &RunOptions::default(), &Silent);
    let evals = out[0].evals.as_ref().unwrap();
    let data = ck.matrix_data(job.tensor, job.spec.views[0]);
    let null = permuted_null("t", &data, NULL_SEED, Par::Seq).unwrap();
    let lib = diffract::diffract_metrics(
        evals,
        job.spec.n(),
        job.spec.m(),
        Some(&null),
        &DiffractOptions {
            exponential: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        f0["tw_num_spikes"].as_u64(),
        lib.tw_num_spikes.map(|v| v as u64)
    );
    assert_eq!(f0["mp_esd_max"].as_f64(), lib.mp_esd_max);
    assert_eq!(f0["expon_lambda"].as_f64(), lib.expon_lambda);
}
