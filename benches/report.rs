//! Presentation costs, so a report never dominates an analysis: one ESD
//! and one rank figure (SVG and PNG), the two compression figures (the
//! fitter rerun, the theory's curves and both SVGs), the HTML page for a
//! MiniLM-sized model (40 matrices, 160 figures), and `check` on 40
//! matrices × 4 rules and × 2 compression-target rules. Medians of repeated runs on power-law spectra of
//! M = 384 and 4096. The ESD and rank timings are drawing only (the
//! power-law fit is done once before); the page timing includes each
//! matrix's fits, as `report` does it.
//!
//!   cargo bench --bench report

mod common;

use common::median;
use specscope::check::{self, Inputs, config};
use specscope::report::doc::ReportDoc;
use specscope::report::html::{self, HtmlReport, MatrixFigures};
use specscope::report::plot::{self, ImageFormat};
use std::time::Instant;

fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

/// μ_k = k^(−1.3) with a small deterministic ripple.
fn spectrum(m: usize) -> Vec<f64> {
    (1..=m)
        .map(|k| (k as f64).powf(-1.3) * (1.0 + 0.1 * ((k * 7919 % 101) as f64 / 101.0)))
        .collect()
}

/// Symmetric per-channel ranges of a rows×cols matrix whose channels'
/// largest |w| spread over [0.05, 0.1).
fn ranges(rows: usize, cols: usize) -> specscope::theory::quant::RangeStats {
    let absmax: Vec<f64> = (0..rows)
        .map(|r| 0.05 + 0.05 * ((r * 37 % 101) as f64 / 101.0))
        .collect();
    specscope::theory::quant::RangeStats::from_row_absmax(&absmax, cols, 1.0)
}

fn main() {
    println!("{:<46} {:>10}", "case", "median ms");
    for m in [384, 4096] {
        let ev = spectrum(m);
        let row = serde_json::json!({"N": 4 * m, "M": m, "k_star": 40, "b": 1.3,
            "b_kmin": 1, "b_kmax": 40, "noise_sigma": 1e-4});
        let [esd, rank] = plot::matrix_figures("m", &row, &ev);
        let t = time(20, || {
            esd.to_svg().unwrap();
        });
        println!("{:<46} {t:>10.2}", format!("ESD figure, SVG, M = {m}"));
        let t = time(20, || {
            rank.to_svg().unwrap();
        });
        println!("{:<46} {t:>10.2}", format!("rank figure, SVG, M = {m}"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.png");
        let t = time(10, || esd.write(&p, ImageFormat::Png).unwrap());
        println!("{:<46} {t:>10.2}", format!("ESD figure, PNG, M = {m}"));
        let st = ranges(4 * m, m);
        let t = time(10, || {
            for f in plot::compression_figures("m", &row, &ev, Some(&st)) {
                f.to_svg().unwrap();
            }
        });
        println!(
            "{:<46} {t:>10.2}",
            format!("pruning + quantization figures, M = {m}")
        );
    }

    // A MiniLM-sized report: 40 rows, 4 figures each.
    let ev = spectrum(384);
    let st = ranges(1536, 384);
    let layers: Vec<serde_json::Value> = (0..40)
        .map(|i| {
            serde_json::json!({"layer_id": i, "name": format!("encoder.layer.{}.m{}", i / 6, i % 6),
            "N": 1536, "M": 384, "alpha": 2.0 + (i as f64) / 10.0, "noise_sigma": 1e-3, "log_norm": 2.5, "stable_rank": 30.0 + i as f64,
            "status": "success", "warning": "", "error": null})
        })
        .collect();
    let doc = ReportDoc {
        source: "bench".into(),
        value: serde_json::json!({"schema_version": 1, "command": "analyze", "layers": layers,
            "summary": {"alpha": 4.0, "log_norm": 2.8}}),
    };
    let t = time(5, || {
        let figures: Vec<MatrixFigures> = doc
            .layers()
            .iter()
            .enumerate()
            .map(|(i, l)| MatrixFigures {
                name: ReportDoc::layer_name(l, i),
                figures: plot::matrix_figures("m", l, &ev)
                    .iter()
                    .map(|f| ("c".to_string(), f.to_svg().unwrap()))
                    .chain(
                        plot::compression_figures("m", l, &ev, Some(&st))
                            .iter()
                            .map(|f| ("c".to_string(), f.to_svg().unwrap())),
                    )
                    .collect(),
            })
            .collect();
        let page = HtmlReport {
            doc: &doc,
            figures,
            figures_note: None,
            sections: html::report_sections(&doc),
        };
        let mut out = Vec::new();
        html::write_html(&page, &mut out).unwrap();
    });
    println!("{:<46} {t:>10.2}", "HTML page, 40 matrices, 160 figures");

    let cfg = config::parse(
        "bench.toml",
        "[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"alpha\"\nmin = 2\nmax = 6\n\
         [[rule]]\nname = \"b\"\nkind = \"range\"\nmetric = \"stable_rank\"\nselect = 'layer\\.[0-3]\\.'\nmin = 20\n\
         [[rule]]\nname = \"c\"\nkind = \"drift\"\nmetric = \"log_norm\"\nrel = 0.01\n\
         [[rule]]\nname = \"d\"\nkind = \"range\"\nscope = \"model\"\nmetric = \"alpha\"\nmax = 5\n",
    )
    .unwrap();
    let inputs = Inputs {
        report: &doc,
        baseline: Some(&doc),
        evals: &[],
        ranges: &check::predict::Ranges::default(),
        predictions: check::predict::builtin(),
    };
    let t = time(50, || {
        check::resolve(&cfg, &inputs).unwrap();
        check::evaluate(&cfg, &inputs);
    });
    println!(
        "{:<46} {t:>10.3}",
        "check: 4 rules on 40 matrices, with a baseline"
    );

    // Compression targets: each check reruns the fitter on M = 384.
    let cfg = config::parse(
        "bench.toml",
        "[[rule]]\nname = \"a\"\nkind = \"predicted-loss\"\nrank_fraction = 0.5\nmeasure = \"weight-error\"\nmax = 1\n\
         [[rule]]\nname = \"b\"\nkind = \"surviving-modes\"\nbits = 4\nmin = 1\n",
    )
    .unwrap();
    let evals: Vec<Option<Vec<f64>>> = (0..40).map(|_| Some(ev.clone())).collect();
    let mut ranges = check::predict::Ranges::default();
    let q = specscope::theory::analyze_quantizer(4);
    ranges.insert(q, vec![Some(st); 40]);
    let inputs = Inputs {
        report: &doc,
        baseline: None,
        evals: &evals,
        ranges: &ranges,
        predictions: check::predict::builtin(),
    };
    let t = time(10, || {
        check::resolve(&cfg, &inputs).unwrap();
        check::evaluate(&cfg, &inputs);
    });
    println!(
        "{:<46} {t:>10.2}",
        "check: 2 compression rules on 40 matrices"
    );
}
