//! Plots: `analyze --plots` writes four non-empty figures per matrix (ESD,
//! rank plot, predicted pruning and quantization curves), and
//! `predict --plots` the predicted curves with the measured points of
//! `--verify`, the same bytes on every run, as SVG or PNG; the rank plot's
//! overlays are the fitter's own numbers; the library's figures (ESD,
//! rank plot with overlays, compression curves, snapshot series, ρ fit)
//! render deterministically, and degenerate inputs draw a message instead
//! of failing. The layout checks (legend apart from data, tick labels
//! apart) run on the overlap heat maps too, whose labels also keep off
//! their cells.

mod common;

use common::*;
use specscope::report::plot::{
    self, EsdPlot, Figure, HeatMap, ImageFormat, RankOverlay, RankPlot, Series, pruning_curve,
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
        // The chart is SIZE; the legend's band below adds height.
        assert_eq!(w, plot::SIZE.0, "{name}");
        assert!(h >= plot::SIZE.1, "{name}: {h}");
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

/// A rectangle in SVG pixels: (x0, y0, x1, y1).
type Box4 = (f64, f64, f64, f64);

fn num(n: roxmltree::Node, a: &str) -> f64 {
    n.attribute(a)
        .unwrap_or_else(|| panic!("<{}> without {a}", n.tag_name().name()))
        .parse()
        .unwrap()
}

/// Estimated box of an SVG text element: width = font size × chars × 0.6
/// (DejaVu Sans averages 0.55–0.64 em for digits and lower case), height
/// one font size, placed by its anchor and `dy` as plotters writes them.
fn text_box(n: roxmltree::Node) -> Box4 {
    let (x, y, f) = (num(n, "x"), num(n, "y"), num(n, "font-size"));
    let w = n.text().unwrap_or("").chars().count() as f64 * f * 0.6;
    let x0 = match n.attribute("text-anchor") {
        Some("middle") => x - w / 2.0,
        Some("end") => x - w,
        _ => x,
    };
    let y0 = match n.attribute("dy") {
        Some("0.76em") => y,
        Some("0.5ex") => y - f / 2.0,
        _ => y - f,
    };
    (x0, y0, x0 + w, y0 + f)
}

/// The box an SVG shape covers, or `None` for anything else.
fn shape_box(n: roxmltree::Node) -> Option<Box4> {
    match n.tag_name().name() {
        "polyline" | "polygon" => {
            let v: Vec<f64> = n
                .attribute("points")?
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().unwrap())
                .collect();
            let xs = v.iter().step_by(2);
            let ys = v.iter().skip(1).step_by(2);
            Some((
                xs.clone().copied().fold(f64::INFINITY, f64::min),
                ys.clone().copied().fold(f64::INFINITY, f64::min),
                xs.copied().fold(f64::NEG_INFINITY, f64::max),
                ys.copied().fold(f64::NEG_INFINITY, f64::max),
            ))
        }
        "circle" => {
            let (x, y, r) = (num(n, "cx"), num(n, "cy"), num(n, "r"));
            Some((x - r, y - r, x + r, y + r))
        }
        "line" => Some((
            num(n, "x1").min(num(n, "x2")),
            num(n, "y1").min(num(n, "y2")),
            num(n, "x1").max(num(n, "x2")),
            num(n, "y1").max(num(n, "y2")),
        )),
        "rect" => {
            let (x, y) = (num(n, "x"), num(n, "y"));
            Some((x, y, x + num(n, "width"), y + num(n, "height")))
        }
        "text" => Some(text_box(n)),
        _ => None,
    }
}

fn overlap(a: Box4, b: Box4) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// The legend's frame (the rectangle stroked #C8C8C8) and the elements
/// drawn before it (the chart) and after it (the legend's contents).
fn legend_parts(svg: &str) -> Option<(Box4, Vec<Box4>, Vec<Box4>)> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    let nodes: Vec<roxmltree::Node> = doc
        .root_element()
        .children()
        .filter(|n| n.is_element())
        .collect();
    let at = nodes
        .iter()
        .position(|n| n.has_tag_name("rect") && n.attribute("stroke") == Some("#C8C8C8"))?;
    let frame = shape_box(nodes[at]).unwrap();
    let before = nodes[..at].iter().filter_map(|n| shape_box(*n));
    // The white background fill covers everything; it is not data.
    let (w, h) = (
        num(doc.root_element(), "width"),
        num(doc.root_element(), "height"),
    );
    let before = before.filter(|b| *b != (0.0, 0.0, w, h)).collect();
    let after = nodes[at + 1..]
        .iter()
        .filter_map(|n| shape_box(*n))
        .collect();
    Some((frame, before, after))
}

/// Heat maps of `rows` matrices (long, dotted names) over `cols`
/// snapshots, the first column and one row without values.
fn heat_map(rows: usize, cols: usize) -> HeatMap {
    HeatMap {
        title: format!("heat {rows}×{cols}"),
        x_label: "snapshot t (step)".into(),
        value_label: "‖U₁ᵀU₂‖²/K".into(),
        rows: (0..rows)
            .map(|r| format!("model.encoder.layer.{r}.attention.output.dense.weight"))
            .collect(),
        columns: (0..cols).map(|c| 1000.0 * (c + 1) as f64).collect(),
        values: (0..rows)
            .map(|r| {
                (0..cols)
                    .map(|c| (c > 0 && r != 1).then(|| ((r * 7 + c * 3) % 11) as f64 / 10.0))
                    .collect()
            })
            .collect(),
    }
}

/// The heat maps the layout tests draw: few and many rows and columns.
fn heat_figures() -> Vec<(String, String)> {
    [(3, 4), (40, 12), (250, 60), (1000, 200)]
        .into_iter()
        .map(|(r, c)| {
            let f = Figure::Heat(heat_map(r, c));
            (f.title().to_string(), svg(f))
        })
        .collect()
}

/// The figures the layout tests draw: every kind, with long legend
/// labels, many series, axes spanning under a decade, and heat maps.
fn layout_figures() -> Vec<(String, String)> {
    let ev: Vec<f64> = (1..=300)
        .map(|k| 3.0 * (k as f64).powf(-1.4) + 1e-3)
        .collect();
    let row = serde_json::json!({"N": 900, "M": 300, "k_star": 40, "noise_sigma": 1e-3,
        "k_noise": 80, "b": 1.4, "b_kmin": 2, "b_kmax": 30});
    // The pruning curve's y from 0.06 to 0.1 and its x from 85 to 104:
    // the spans whose log ticks printed as `0.060.070.080.090.1` and
    // `90100`.
    let narrow: Vec<(f64, f64)> = (85..=104)
        .map(|r| (r as f64, 0.1 - 0.04 * (r - 85) as f64 / 19.0))
        .collect();
    let many: Vec<Series> = (0..20)
        .map(|i| {
            Series::new(
                format!("model.layers.{i}.mlp.down_proj (k* source: saturation)"),
                (1..=6).map(move |s| (10f64.powi(s), 0.05 + 0.01 * (i as f64) + 0.002 * s as f64)),
            )
        })
        .collect();
    let forty: Vec<Series> = (0..40)
        .map(|i| {
            Series::new(
                format!("l{i}"),
                (1..=5).map(move |s| (s as f64 * 100.0, (i + 1) as f64 * (1.0 + 0.1 * s as f64))),
            )
        })
        .collect();
    let mut out = vec![
        Figure::Esd(EsdPlot::new("esd", &ev)),
        Figure::Rank(RankPlot::new("rank", &ev, RankOverlay::from_row(&row))),
        Figure::Xy(pruning_curve(
            "narrow",
            &narrow,
            Some(&[(100.0, 0.065)]),
            Some(101.0),
        )),
        Figure::Xy(snapshot_series("D", "step", many, true, true)),
        Figure::Xy(snapshot_series("k*", "step", forty, false, true)),
        Figure::Xy(rho_fit(
            "step",
            &[10.0, 30.0, 100.0, 300.0],
            &[3.0, 5.0, 9.0, 15.0],
            0.48,
            0.0,
            2.0,
        )),
        Figure::Xy(quantization_curve(
            "q",
            &(2..=8)
                .map(|b| (b, 2f64.powi(-(2 * b as i32))))
                .collect::<Vec<_>>(),
            Some(&[(4, 0.004)]),
        )),
    ]
    .into_iter()
    .map(|f| (f.title().to_string(), svg(f)))
    .collect::<Vec<_>>();
    out.extend(heat_figures());
    // The real figures of the tiny fixture, as `analyze --plots` draws them.
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(analyze_plots(dir.path(), false).status.code(), Some(0));
    for (name, bytes) in files(dir.path()) {
        out.push((name, String::from_utf8(bytes).unwrap()));
    }
    out
}

/// A heat map's labels (row and column labels, the colour bar's ticks,
/// label and key) cover no cell and no step of the colour bar, and the
/// bar is right of every cell.
#[test]
fn heat_map_labels_never_cover_cells() {
    for (name, s) in heat_figures() {
        let doc = roxmltree::Document::parse(&s).unwrap();
        let (w, h) = (
            num(doc.root_element(), "width"),
            num(doc.root_element(), "height"),
        );
        let rects: Vec<Box4> = doc
            .descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("fill") != Some("none"))
            .filter_map(shape_box)
            .filter(|b| *b != (0.0, 0.0, w, h))
            .collect();
        let texts: Vec<Box4> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(text_box)
            .collect();
        assert!(rects.len() > 64 && texts.len() > 6, "{name}");
        for t in &texts {
            assert!(
                t.0 >= 0.0 && t.2 <= w && t.1 >= 0.0 && t.3 <= h,
                "{name}: {t:?} off the figure"
            );
            for r in &rects {
                assert!(!overlap(*t, *r), "{name}: label {t:?} covers {r:?}");
            }
        }
    }
}

/// The legend sits in its own band below the chart: no element of the
/// chart (data, axes, labels) meets its frame, and every legend label is
/// inside the frame.
#[test]
fn legends_never_cover_data() {
    let mut framed = 0;
    for (name, s) in layout_figures() {
        let Some((frame, chart, legend)) = legend_parts(&s) else {
            continue;
        };
        framed += 1;
        assert!(
            frame.1 >= plot::SIZE.1 as f64,
            "{name}: legend inside the chart area"
        );
        for b in &chart {
            assert!(
                !overlap(*b, frame),
                "{name}: {b:?} meets the legend {frame:?}"
            );
        }
        for b in &legend {
            assert!(
                b.1 >= frame.1 && b.3 <= frame.3,
                "{name}: legend element {b:?} outside its frame {frame:?}"
            );
        }
    }
    assert!(
        framed >= 20,
        "every figure with data has a legend: {framed}"
    );
}

/// Tick labels (the 12 px text, drawn by plotters at 12/1.24 in SVG) on
/// each axis: on the x axis (one row, centred) no two estimated boxes
/// overlap; on the y axis (one column, right-aligned) two labels are at
/// least one font size apart.
#[test]
fn tick_labels_never_collide() {
    let tick_size = 12.0 / 1.24;
    for (name, s) in layout_figures() {
        let doc = roxmltree::Document::parse(&s).unwrap();
        let ticks: Vec<roxmltree::Node> = doc
            .descendants()
            .filter(|n| {
                n.has_tag_name("text")
                    && n.attribute("font-size")
                        .is_some_and(|f| (f.parse::<f64>().unwrap() - tick_size).abs() < 1e-6)
            })
            .collect();
        let x: Vec<Box4> = ticks
            .iter()
            .filter(|n| n.attribute("text-anchor") == Some("middle"))
            .map(|n| text_box(*n))
            .collect();
        let y: Vec<Box4> = ticks
            .iter()
            .filter(|n| n.attribute("text-anchor") == Some("end"))
            .map(|n| text_box(*n))
            .collect();
        if s.contains("nothing to plot") || s.contains("needs the weights") {
            continue;
        }
        assert!(
            x.len() >= 2 && y.len() >= 2,
            "{name}: {} x and {} y ticks",
            x.len(),
            y.len()
        );
        for (axis, b) in [("x", &x), ("y", &y)] {
            for i in 0..b.len() {
                for j in 0..i {
                    assert!(
                        !overlap(b[i], b[j]),
                        "{name}: {axis} tick labels collide: {:?} {:?}",
                        b[i],
                        b[j]
                    );
                }
            }
        }
        // Two numbers run together (`0.060.07`); a heat map's row labels
        // are names, dotted by nature.
        let labels: Vec<&str> = ticks.iter().filter_map(|n| n.text()).collect();
        assert!(
            !labels
                .iter()
                .any(|l| l.matches('.').count() > 1 && !l.contains(char::is_alphabetic)),
            "{name}: {labels:?}"
        );
    }
}

/// Up to 21 lines differ in colour × dash; beyond that every line's points
/// are marked too (circle, square, triangle), in the legend as well: 63
/// distinct styles.
#[test]
fn many_lines_are_marked() {
    let lines = |n: usize| -> Vec<Series> {
        (0..n)
            .map(|i| {
                Series::new(
                    format!("m{i}"),
                    (1..=4).map(move |s| (s as f64, (i + s) as f64)),
                )
            })
            .collect()
    };
    const { assert!(plot::DISTINCT_STYLES >= 20 && plot::MARKED_STYLES >= 60) };
    let few = svg(Figure::Xy(snapshot_series(
        "x",
        "t",
        lines(21),
        false,
        false,
    )));
    assert!(
        !few.contains("<circle") && !few.contains("<polygon"),
        "21 lines: no markers"
    );
    let many = svg(Figure::Xy(snapshot_series(
        "x",
        "t",
        lines(40),
        false,
        false,
    )));
    // 40 lines × 4 points plus one marker per legend entry.
    let markers = many.matches("<circle").count()
        + many.matches("<polygon").count()
        + many.matches("<rect").count();
    assert!(markers >= 40 * 5, "{markers} markers");
}

/// Every figure kind with no data draws a message in place of the chart,
/// and no legend.
#[test]
fn every_empty_figure_says_why() {
    let zeros = [0.0; 8];
    let mut only_k = pruning_curve("only k*", &[], None, Some(12.0));
    only_k.note = Some("nothing to cut".into());
    let hidden = pruning_curve("all hidden", &[(0.0, 1.0), (5.0, 0.0)], None, None);
    let empty_series = snapshot_series("D", "step", vec![Series::new("m", [])], true, true);
    let no_rho = rho_fit("step", &[], &[], 0.5, 0.0, 2.0);
    let unavailable = plot::quantization_unavailable("q", plot::NO_RANGES);
    for (f, says) in [
        (Figure::Esd(EsdPlot::new("zero", &zeros)), "nothing to plot"),
        (
            Figure::Rank(RankPlot::new("zero", &zeros, RankOverlay::default())),
            "nothing to plot",
        ),
        (Figure::Xy(only_k), "nothing to cut"),
        (Figure::Xy(hidden), "no points to plot"),
        (Figure::Xy(empty_series), "no points to plot"),
        (Figure::Xy(no_rho), "no points to plot"),
        (Figure::Xy(unavailable), "needs the weights"),
    ] {
        assert_eq!(f.size(), plot::SIZE, "{}: no legend band", f.title());
        let s = f.to_svg().unwrap();
        assert!(s.contains(says), "{}: no message `{says}`", f.title());
        assert!(
            !s.contains("#C8C8C8"),
            "{}: a legend without data",
            f.title()
        );
    }
    // A line of one point (a two-mode matrix's pruning curve) is marked,
    // not left blank.
    let one = Figure::Xy(pruning_curve("one", &[(1.0, 0.5)], None, Some(2.0)));
    assert!(
        one.to_svg().unwrap().contains("<circle"),
        "one point: blank"
    );
    // The tiny fixture's figures with no data, as `analyze --plots` writes
    // them, each say so.
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(analyze_plots(dir.path(), false).status.code(), Some(0));
    for (name, bytes) in files(dir.path()) {
        let s = String::from_utf8(bytes).unwrap();
        let drawn = s.contains("<polyline") || s.contains("<circle");
        assert!(drawn || s.matches("<text").count() >= 2, "{name}: blank");
    }
}
