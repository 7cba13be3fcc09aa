//! Plots: `analyze --plots` writes four non-empty figures per matrix (ESD,
//! rank plot, predicted pruning and quantization curves), and
//! `predict --plots` the predicted curves with the measured points of
//! `--verify`, the same bytes on every run, as SVG or PNG; the rank plot's
//! overlays are the fitter's own numbers; the library's figures (ESD,
//! rank plot with overlays, compression curves, snapshot series, ρ fit)
//! render deterministically, and degenerate inputs draw a message instead
//! of failing.

mod common;

use common::*;
use specscope::report::plot::{
    self, EsdPlot, Figure, ImageFormat, RankOverlay, RankPlot, Series, pruning_curve,
    quantization_curve, rho_fit, snapshot_series,
};
use std::collections::BTreeMap;
use std::path::Path;

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

fn analyze_plots(dir: &Path, png: bool) -> std::process::Output {
    let mut args = vec![
        "analyze",
        "--format",
        "json",
        "-q",
        "--plots",
        dir.to_str().unwrap(),
    ];
    if png {
        args.push("--png");
    }
    let fx = fixture("tiny/model.safetensors");
    args.insert(1, fx.to_str().unwrap());
    specscope(&args)
}

/// An SVG document that draws something: the root element, a polyline or
/// circles, and text.
fn assert_svg(name: &str, bytes: &[u8]) {
    let s = std::str::from_utf8(bytes).unwrap();
    assert!(s.starts_with("<svg "), "{name}");
    assert!(s.trim_end().ends_with("</svg>"), "{name}");
    assert!(
        s.contains("<polyline") || s.contains("<circle"),
        "{name}: nothing drawn"
    );
    assert!(s.contains("<text"), "{name}: no text");
    assert!(s.contains(r#"font-family="sans-serif""#), "{name}");
}

#[test]
fn analyze_plots_svg_deterministic() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let o = analyze_plots(a.path(), false);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let names: Vec<String> = json(&o)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    let first = files(a.path());
    assert_eq!(first.len(), 4 * names.len(), "{:?}", first.keys());
    for n in &names {
        let stem: String = n
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        for kind in ["esd", "rank", "pruning", "quant"] {
            let f = format!("{stem}.{kind}.svg");
            let bytes = first.get(&f).unwrap_or_else(|| panic!("{f} missing"));
            assert!(bytes.len() > 2000, "{f}: {} bytes", bytes.len());
            assert_svg(&f, bytes);
        }
    }
    // The ESD names the fitted alpha of the report (3 decimals).
    let esd = String::from_utf8(first["blocks.0.attn.out.esd.svg"].clone()).unwrap();
    let alpha = json(&o)["layers"][0]["alpha"].as_f64().unwrap();
    assert!(
        esd.contains(&format!("α = {alpha:.3}")),
        "alpha {alpha:.3} not in the ESD legend"
    );
    // The compression curves: stem.conv's a is below 1 (outside the
    // theory's domain), embed has no a (its break flattens); both say so
    // in the legend, and both have the weights' ranges for the
    // quantization curve.
    let text = |f: &str| String::from_utf8(first[f].clone()).unwrap();
    let conv = text("stem.conv.pruning.svg");
    let k_star = json(&o)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "stem.conv")
        .unwrap()["k_star"]
        .as_u64()
        .unwrap();
    for l in [
        "weight error",
        "ΔL/ΔL(0): no loss model (a = 0.474 ≤ 1, out of domain)",
        &format!("k* = {k_star}"),
    ] {
        assert!(conv.contains(l), "stem.conv pruning: {l}");
    }
    assert!(text("embed.pruning.svg").contains("ΔL/ΔL(0): no loss model (a unavailable)"));
    let q = text("embed.quant.svg");
    assert!(q.contains("quantization: embed (sym per channel)") && q.contains("N·M·σ_q²"));
    // Byte-identical on a second run.
    let o = analyze_plots(b.path(), false);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(first, files(b.path()), "plots differ between two runs");
}

#[test]
fn analyze_plots_png_deterministic() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    assert_eq!(analyze_plots(a.path(), true).status.code(), Some(0));
    assert_eq!(analyze_plots(b.path(), true).status.code(), Some(0));
    let first = files(a.path());
    assert!(!first.is_empty());
    for (name, bytes) in &first {
        assert!(name.ends_with(".png"), "{name}");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}");
        // IHDR: width and height, big-endian, at bytes 16..24.
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((w, h), plot::SIZE, "{name}");
        assert!(bytes.len() > 5000, "{name}: {} bytes", bytes.len());
    }
    assert_eq!(first, files(b.path()), "PNG plots differ between two runs");
}

#[test]
fn png_text_is_drawn_with_the_bundled_font() {
    // With text, the PNG has dark pixels in the caption band; a backend
    // that silently dropped text would leave that band white. Decoding is
    // avoided by comparing against the same figure with an empty title:
    // the files must differ.
    let dir = tempfile::tempdir().unwrap();
    let ev: Vec<f64> = (1..=50).map(|k| (k as f64).powf(-1.5)).collect();
    let a = dir.path().join("a.png");
    let b = dir.path().join("b.png");
    Figure::Esd(EsdPlot::new("some title", &ev))
        .write(&a, ImageFormat::Png)
        .unwrap();
    Figure::Esd(EsdPlot::new("other title", &ev))
        .write(&b, ImageFormat::Png)
        .unwrap();
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

fn svg(f: Figure) -> String {
    let s1 = f.to_svg().unwrap();
    let s2 = f.to_svg().unwrap();
    assert_eq!(s1, s2, "{}: not deterministic", f.title());
    assert!(s1.starts_with("<svg ") && s1.len() > 1000, "{}", f.title());
    s1
}

#[test]
fn rank_plot_draws_the_fitters_overlays() {
    let ev: Vec<f64> = (1..=300)
        .map(|k| 3.0 * (k as f64).powf(-1.4) + 1e-3)
        .collect();
    // A row with the fitter's fields: σ = 1e-3 on 900×300 views puts the
    // noise edge at 1e-6·(30+17.32)² + TW margin ≈ 0.00228.
    let row = serde_json::json!({"N": 900, "M": 300, "k_star": 40, "noise_sigma": 1e-3,
        "k_noise": 80, "b": 1.4, "b_kmin": 2, "b_kmax": 30});
    let s = svg(Figure::Rank(RankPlot::new(
        "layer.0",
        &ev,
        RankOverlay::from_row(&row),
    )));
    for label in [
        "k* = 40",
        "noise floor 0.002 (80 modes above)",
        "b = 1.400",
        "rank plot: layer.0",
    ] {
        assert!(s.contains(label), "{label} missing");
    }
    // Without the fitter's fields: only the spectrum.
    let bare = svg(Figure::Rank(RankPlot::new(
        "layer.0",
        &ev,
        RankOverlay::default(),
    )));
    assert!(!bare.contains("k* =") && !bare.contains("noise floor"));
}

#[test]
fn compression_and_snapshot_figures() {
    let predicted: Vec<(f64, f64)> = (1..=64)
        .map(|r| (r as f64, (r as f64).powf(-0.8)))
        .collect();
    let measured = [(4.0, 0.3), (16.0, 0.11), (32.0, 0.06)];
    let s = svg(Figure::Xy(pruning_curve(
        "attn.q",
        &predicted,
        Some(&measured),
        Some(20.0),
    )));
    for l in [
        "pruning: attn.q",
        "predicted",
        "measured",
        "k* = 20",
        "kept rank r",
    ] {
        assert!(s.contains(l), "{l}");
    }
    let q: Vec<(u32, f64)> = (2..=8).map(|b| (b, 2f64.powi(-(2 * b as i32)))).collect();
    let s = svg(Figure::Xy(quantization_curve(
        "attn.q",
        &q,
        Some(&[(4, 0.004)]),
    )));
    assert!(s.contains("quantization: attn.q") && s.contains("bits B"));
    let series = vec![
        Series::new("layer.0", [(10.0, 0.1), (100.0, 0.2), (1000.0, 0.35)]),
        Series::new("model", [(10.0, 0.12), (100.0, 0.22), (1000.0, 0.3)]),
    ];
    let s = svg(Figure::Xy(snapshot_series(
        "D", "step", series, true, false,
    )));
    assert!(s.contains("D over training") && s.contains("layer.0") && s.contains("model"));
    let s = svg(Figure::Xy(rho_fit(
        "step",
        &[10.0, 100.0, 1000.0],
        &[3.0, 9.0, 28.0],
        0.48,
        0.0,
        2.0,
    )));
    assert!(s.contains("ρ = slope·b = 0.960"), "rho label");
}

#[test]
fn degenerate_inputs_draw_a_message() {
    let zeros = [0.0; 8];
    for f in [
        Figure::Esd(EsdPlot::new("zero", &zeros)),
        Figure::Rank(RankPlot::new("zero", &zeros, RankOverlay::default())),
        Figure::Xy(pruning_curve("none", &[], None, None)),
    ] {
        let s = f.to_svg().unwrap();
        assert!(
            s.contains("nothing to plot") || s.contains("no points to plot"),
            "{}",
            f.title()
        );
    }
    // A constant spectrum: α = ∞ has no line, the histogram still draws.
    let flat = [2.0; 40];
    let s = svg(Figure::Esd(EsdPlot::new("flat", &flat)));
    assert!(s.contains("<circle") && !s.contains("power law α"));
    // One eigenvalue.
    svg(Figure::Rank(RankPlot::new(
        "one",
        &[5.0],
        RankOverlay::default(),
    )));
}

/// The rank plot's overlay read from real `analyze` rows: k_* and b are the
/// row's own, the b line spans the row's window, and the drawn noise floor
/// is the fitter's noise edge, which exactly `k_noise` eigenvalues exceed.
#[test]
fn rank_overlay_is_the_fitters() {
    let dir = tempfile::tempdir().unwrap();
    let fx = fixture("tiny/model.safetensors");
    let eigs = dir.path().join("eigs");
    let o = specscope(&[
        "analyze",
        fx.to_str().unwrap(),
        "--format",
        "json",
        "-q",
        "--save-eigs",
        eigs.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let rows = json(&o)["layers"].as_array().unwrap().clone();
    let mut with_b = 0;
    for row in &rows {
        let name = row["name"].as_str().unwrap();
        let stem: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let ev = specscope::report::read_npy_f64(&eigs.join(format!("{stem}.npy"))).unwrap();
        let o = RankOverlay::from_row(row);
        assert_eq!(o.k_star, row["k_star"].as_f64(), "{name}");
        let floor = o
            .noise_floor
            .unwrap_or_else(|| panic!("{name}: no noise floor"));
        let above = ev.iter().filter(|v| **v > floor).count() as f64;
        assert_eq!(Some(above), row["k_noise"].as_f64(), "{name}: k_noise");
        assert_eq!(o.k_noise, row["k_noise"].as_f64());
        let s = svg(Figure::Rank(RankPlot::new(name, &ev, o.clone())));
        assert!(s.contains(&format!("k* = {}", row["k_star"])), "{name}");
        assert!(s.contains("noise floor"), "{name}");
        if let Some(b) = row["b"].as_f64() {
            with_b += 1;
            let w = (
                row["b_kmin"].as_f64().unwrap(),
                row["b_kmax"].as_f64().unwrap(),
            );
            assert_eq!((o.b, o.b_window), (Some(b), Some(w)), "{name}");
            let line = RankPlot::new(name, &ev, o).b_line();
            assert_eq!(
                (line[0].0, line[1].0),
                w,
                "{name}: the b line spans its window"
            );
            assert!(s.contains(&format!("b = {b:.3}")), "{name}");
        }
    }
    assert!(with_b >= 2, "the fixture has b fits (embed, stem.conv)");
}

fn predict_plots(dir: &Path, extra: &[&str]) -> std::process::Output {
    let fx = fixture("tiny/model.safetensors");
    let mut args = vec![
        "predict",
        fx.to_str().unwrap(),
        "--format",
        "json",
        "-q",
        "--plots",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    specscope(&args)
}

/// `predict --plots`: the pruning curve per matrix (and with --bits the
/// quantization curve), with `--verify`'s measured weight error drawn as
/// a point; byte-identical twice; PNG with --png.
#[test]
fn predict_plots_with_measured_points() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let o = predict_plots(a.path(), &["--bits", "4", "--verify"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows = json(&o)["rows"].as_array().unwrap().clone();
    let first = files(a.path());
    assert_eq!(first.len(), 2 * rows.len(), "{:?}", first.keys());
    for (name, bytes) in &first {
        assert_svg(name, bytes);
    }
    let q = String::from_utf8(first["embed.quant.svg"].clone()).unwrap();
    assert!(
        q.contains("measured weight error (--verify)"),
        "embed: measured point"
    );
    // The pooled convolution is predicted, not verified: no point.
    let conv = String::from_utf8(first["stem.conv.quant.svg"].clone()).unwrap();
    assert!(!conv.contains("measured"));
    assert_eq!(
        predict_plots(b.path(), &["--bits", "4", "--verify"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        first,
        files(b.path()),
        "predict plots differ between two runs"
    );
    // Truncation: the measured point sits on the pruning figure, and no
    // quantization figure is written.
    let c = tempfile::tempdir().unwrap();
    let o = predict_plots(c.path(), &["--sparsity", "0.5", "--verify", "--png"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let f = files(c.path());
    assert_eq!(f.len(), rows.len());
    assert!(
        f.keys().all(|k| k.ends_with(".pruning.png")),
        "{:?}",
        f.keys()
    );
    let d = tempfile::tempdir().unwrap();
    assert_eq!(
        predict_plots(d.path(), &["--sparsity", "0.5"])
            .status
            .code(),
        Some(0)
    );
    let svg = String::from_utf8(files(d.path())["embed.pruning.svg"].clone()).unwrap();
    assert!(!svg.contains("measured"));
    let e = tempfile::tempdir().unwrap();
    assert_eq!(
        predict_plots(e.path(), &["--sparsity", "0.5", "--verify"])
            .status
            .code(),
        Some(0)
    );
    let svg = String::from_utf8(files(e.path())["embed.pruning.svg"].clone()).unwrap();
    assert!(svg.contains("measured weight error (--verify)"));
}

/// The figures built from the theory's curves: the pruning figure's lines
/// are the truncation energy and ΔL/ΔL(0) of `theory::curves`, zeros (the
/// plateau) left out; the quantization figure's are the predicted curve's.
#[test]
fn compression_figures_from_the_theory() {
    use specscope::fit::noise::Dims;
    use specscope::fit::spectral_fit;
    use specscope::theory::curves;
    use specscope::theory::quant::{Granularity, QuantSpec, Scheme, range_stats};
    // A broken power law (0.5 then 2.5 at k = 30) over 180 modes (few
    // enough that the curve keeps every rank) on 540×180 views: a
    // steepening break, so a loss model exists.
    let mu = specscope::synth::broken_power_law(180, 30.0, 0.5, 2.5);
    let d = Dims::of(540, 180);
    let fit = spectral_fit(&mu, d, None, None);
    let c = curves::pruning_curve(&mu, d, &fit);
    let k = c.k_star.unwrap();
    let f = plot::pruning_figure("m", &c, Some(&[(150.0, 1e-3)]));
    let e = &f.lines[0].points;
    assert_eq!(e.len(), c.points.len(), "every r < M has a positive tail");
    assert!(e.iter().zip(&c.points).all(|(p, q)| p.1 == q.energy));
    let dl = &f.lines[1].points;
    let learned = c.model.as_ref().unwrap().k_star;
    assert!(learned >= k, "learned modes reach at least k_*");
    assert_eq!(
        dl.len(),
        learned - 1,
        "ΔL > 0 below the learned modes only (plateau left out)"
    );
    assert_eq!(f.vlines[0].at, k as f64);
    assert_eq!(f.points[0].points, vec![(150.0, 1e-3)]);
    let s = svg(Figure::Xy(f));
    assert!(s.contains("measured weight error (--verify)"));
    // Quantization over B = 2…8 from a weight matrix's ranges.
    let w = values(540 * 180, 7);
    let q = QuantSpec::new(4, Scheme::Sym, Granularity::Channel, 128).unwrap();
    let st = range_stats(&w, 180, q.scheme, q.granularity, q.group);
    let curve = curves::quantization_curve(&mu, d, &fit, &q, &st, None);
    assert_eq!(
        curve.iter().map(|p| p.bits).collect::<Vec<_>>(),
        (2..=8).collect::<Vec<_>>()
    );
    let f = plot::quantization_figure("m", &plot::quantizer_label(&q), &curve, None);
    assert_eq!(f.title, "quantization: m (sym per channel)");
    assert!(
        f.lines[0]
            .points
            .iter()
            .zip(&curve)
            .all(|(p, c)| p.1 == c.err_rel)
    );
    svg(Figure::Xy(f));
    // No ranges: a message, not a failure.
    let s = Figure::Xy(plot::quantization_unavailable("m", plot::NO_RANGES))
        .to_svg()
        .unwrap();
    assert!(s.contains("needs the weights"));
}
