//! Plots: `analyze --plots` writes two non-empty figures per matrix, the
//! same bytes on every run, as SVG or PNG; the library's figures (ESD,
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
    assert_eq!(first.len(), 2 * names.len(), "{:?}", first.keys());
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
        for kind in ["esd", "rank"] {
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
    let row = serde_json::json!({"k_star": 40, "noise_floor": 2e-3, "b": 1.4, "b_window": [2, 30]});
    let s = svg(Figure::Rank(RankPlot::new(
        "layer.0",
        &ev,
        RankOverlay::from_row(&row),
    )));
    for label in [
        "k* = 40",
        "noise floor 0.002",
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
