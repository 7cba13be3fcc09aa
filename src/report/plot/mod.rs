//! Plots, drawn with `plotters`: per matrix the ESD with its power-law fit
//! and the rank plot (`spectra`) and the predicted pruning and
//! quantization curves (`compress`); generic x–y figures for predicted and
//! measured compression curves and snapshot series (`xy`); heat maps of
//! values in [0, 1], such as a snapshot series' singular-vector overlap
//! (`heat`). Each figure is
//! a plain data struct rendered to an SVG string (the default, and what
//! the HTML report inlines) or a PNG file.
//!
//! Fonts: text is laid out with DejaVu Sans, compiled in (the `dejavu`
//! crate) and registered with plotters' `ab_glyph` backend, so neither
//! SVG nor PNG needs a system font or fontconfig. SVG output keeps its
//! text as `<text font-family="sans-serif">`, rendered by the viewer.
//! Output is a pure function of the input: the same data gives the same
//! bytes.
//!
//! Owns drawing only; the numbers come from `fit` (the power-law fit is
//! recomputed from the eigenvalues, exactly as the report's), `theory`
//! (the compression curves, from the same refit) or from the caller.

mod axes;
mod compress;
mod heat;
mod snapshots;
mod spectra;
mod xy;

pub use axes::{DISTINCT_STYLES, MARKED_STYLES};
pub use compress::{
    NO_RANGES, compression_figures, pruning_figure, quantization_figure, quantization_unavailable,
    quantizer_label,
};
pub use heat::{HeatMap, OVERLAP_MAPS, Side, overlap_k, overlap_map};
pub use snapshots::snapshot_figures;
pub use spectra::{EsdPlot, RankOverlay, RankPlot};
pub use xy::{Marker, Series, XyPlot, pruning_curve, quantization_curve, rho_fit, snapshot_series};

use super::ReportError;
use axes::{LegendEntry, Ticks};
use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use std::path::Path;

/// Pixel size of every figure's chart; the legend is a band below it, so
/// a figure is `SIZE.0` wide and at least `SIZE.1` high
/// ([`Figure::size`]).
pub const SIZE: (u32, u32) = (640, 420);

/// Chart layout (px): the margin around the chart, the heights of the x
/// and widths of the y tick-label areas.
pub(crate) const MARGIN: u32 = 12;
pub(crate) const X_LABEL_AREA: u32 = 40;
pub(crate) const Y_LABEL_AREA: u32 = 64;

#[derive(Debug, thiserror::Error)]
#[error("plot `{name}`: {message}")]
pub struct PlotError {
    pub name: String,
    pub message: String,
}

/// The image format of files written by [`Figure::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Svg,
    Png,
}

impl ImageFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Svg => "svg",
            ImageFormat::Png => "png",
        }
    }
}

/// Any figure this module draws.
#[derive(Debug, Clone)]
pub enum Figure<'a> {
    Esd(EsdPlot<'a>),
    Rank(RankPlot<'a>),
    Xy(XyPlot),
    Heat(HeatMap),
}

impl Figure<'_> {
    pub fn title(&self) -> &str {
        match self {
            Figure::Esd(p) => p.name,
            Figure::Rank(p) => p.name,
            Figure::Xy(p) => &p.title,
            Figure::Heat(p) => &p.title,
        }
    }

    /// The legend entries, in drawing order; none when the figure shows a
    /// message instead of data.
    fn legend(&self) -> Vec<LegendEntry> {
        match self {
            Figure::Esd(p) => p.legend(),
            Figure::Rank(p) => p.legend(),
            Figure::Xy(p) => p.legend(),
            // The colour bar is drawn beside the grid.
            Figure::Heat(_) => Vec::new(),
        }
    }

    /// Pixel size: [`SIZE`] for the chart, plus the legend's band below;
    /// a heat map's grows with its rows.
    pub fn size(&self) -> (u32, u32) {
        match self {
            Figure::Heat(p) => p.size(),
            _ => (SIZE.0, SIZE.1 + axes::legend_height(&self.legend(), SIZE.0)),
        }
    }

    /// The chart in the top `SIZE` of `root`, the legend in a band below
    /// it: the legend never covers data.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        // A heat map takes the whole area: its colour bar is its key.
        if let Figure::Heat(p) = self {
            return p.draw(root);
        }
        let (chart, legend) = root.split_vertically(SIZE.1);
        match self {
            Figure::Esd(p) => p.draw(&chart),
            Figure::Rank(p) => p.draw(&chart),
            Figure::Xy(p) => p.draw(&chart),
            Figure::Heat(_) => Ok(()),
        }?;
        axes::draw_legend(&legend, &self.legend())
    }

    fn error(&self, message: impl std::fmt::Display) -> PlotError {
        PlotError {
            name: self.title().to_string(),
            message: message.to_string(),
        }
    }

    /// The figure as an SVG document.
    pub fn to_svg(&self) -> Result<String, PlotError> {
        register_font();
        let mut s = String::new();
        {
            let root = SVGBackend::with_string(&mut s, self.size()).into_drawing_area();
            self.draw(&root).map_err(|e| self.error(e))?;
            root.present().map_err(|e| self.error(e))?;
        }
        Ok(s)
    }

    /// Writes the figure to `path` as SVG or PNG.
    pub fn write(&self, path: &Path, format: ImageFormat) -> Result<(), PlotError> {
        let io = |e: std::io::Error| self.error(format!("{}: cannot write: {e}", path.display()));
        match format {
            ImageFormat::Svg => std::fs::write(path, self.to_svg()?).map_err(io),
            ImageFormat::Png => {
                register_font();
                let root = BitMapBackend::new(path, self.size()).into_drawing_area();
                self.draw(&root).map_err(|e| self.error(e))?;
                root.present()
                    .map_err(|e| self.error(format!("{}: {e}", path.display())))
            }
        }
    }
}

/// The per-matrix figures: the ESD with its power-law fit, and the rank
/// plot with whatever overlays the report row carries (see
/// [`RankOverlay::from_row`]).
pub fn matrix_figures<'a>(
    name: &'a str,
    row: &serde_json::Value,
    evals: &'a [f64],
) -> [Figure<'a>; 2] {
    [
        Figure::Esd(EsdPlot::new(name, evals)),
        Figure::Rank(RankPlot::new(name, evals, RankOverlay::from_row(row))),
    ]
}

/// The file kinds [`write_matrix_plots`] writes per matrix, in order.
pub const MATRIX_PLOT_KINDS: [&str; 4] = ["esd", "rank", "pruning", "quant"];

/// `analyze --plots DIR`: for every matrix with eigenvalues, writes
/// `DIR/<stem>.{esd,rank,pruning,quant}.<ext>` (stems as for
/// `--save-eigs`): [`matrix_figures`] and [`compression_figures`].
/// `rows` are the report rows, `evals` each one's eigenvalues and
/// `ranges` its weights' symmetric per-channel ranges (same order; `None`:
/// the quantization figure says it needs them). Returns the files written.
pub fn write_matrix_plots(
    dir: &Path,
    format: ImageFormat,
    rows: &[serde_json::Value],
    evals: &[Option<&[f64]>],
    ranges: &[Option<crate::load::quant::RangeStats>],
) -> Result<Vec<std::path::PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(ReportError::file(dir, "cannot create directory"))?;
    let names: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| crate::report::doc::ReportDoc::layer_name(r, i))
        .collect();
    let ids = rows.iter().enumerate().map(|(i, r)| {
        r.get("layer_id")
            .and_then(serde_json::Value::as_u64)
            .map_or(i, |v| v as usize)
    });
    let stems = crate::report::file_stems(names.iter().map(String::as_str).zip(ids));
    let mut written = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Some(ev) = evals.get(i).copied().flatten() else {
            continue;
        };
        let st = ranges.get(i).and_then(Option::as_ref);
        let [esd, rank] = matrix_figures(&names[i], row, ev);
        let [pruning, quant] = compression_figures(&names[i], row, ev, st);
        for (fig, kind) in [esd, rank, pruning, quant].iter().zip(MATRIX_PLOT_KINDS) {
            let path = dir.join(format!("{}.{kind}.{}", stems[i], format.extension()));
            fig.write(&path, format)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Writes named figures as `DIR/<stem>.<kind>.<ext>`, one stem per matrix
/// (`names` with their layer ids, stems as for `--save-eigs`): the
/// `predict --plots` files. Returns the files written.
pub fn write_named_plots(
    dir: &Path,
    format: ImageFormat,
    names: &[(String, usize)],
    figures: &[Vec<(&'static str, XyPlot)>],
) -> Result<Vec<std::path::PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(ReportError::file(dir, "cannot create directory"))?;
    let stems = crate::report::file_stems(names.iter().map(|(n, i)| (n.as_str(), *i)));
    let mut written = Vec::new();
    for (stem, figs) in stems.iter().zip(figures) {
        for (kind, fig) in figs {
            let path = dir.join(format!("{stem}.{kind}.{}", format.extension()));
            Figure::Xy(fig.clone()).write(&path, format)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Registers the bundled DejaVu Sans as plotters' `sans-serif`, once.
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_err()
        {
            panic!("the bundled DejaVu Sans font does not parse");
        }
    });
}

/// Series colours, in order (colour-blind safe, Okabe–Ito).
pub(crate) const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

/// A tick label: plain for moderate magnitudes, `1e-3` style otherwise.
pub(crate) fn tick(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if (1e-3..1e4).contains(&a) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        let e = a.log10().floor() as i32;
        let m = v / 10f64.powi(e);
        if (m.abs() - 1.0).abs() < 1e-9 {
            format!("{}1e{e}", if v < 0.0 { "-" } else { "" })
        } else {
            format!("{m:.1}e{e}")
        }
    }
}

/// A chart builder with the common layout on `area`, captioned.
pub(crate) fn chart_builder<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.caption(caption, ("sans-serif", 17))
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA);
    b
}

/// Ticks for the x and y axes of a chart built by [`chart_builder`] over
/// these ranges.
pub(crate) fn axis_ticks(
    xr: (f64, f64),
    yr: (f64, f64),
    log_x: bool,
    log_y: bool,
) -> (Ticks, Ticks) {
    let (w, h) = axes::plot_pixels();
    (
        axes::ticks(xr.0, xr.1, log_x, w, true),
        axes::ticks(yr.0, yr.1, log_y, h, false),
    )
}

/// Draws the axes with exactly the given ticks and labels.
pub(crate) fn draw_mesh<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    (xt, yt): (&Ticks, &Ticks),
    x_desc: &str,
    y_desc: &str,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| xt.label(*v))
        .y_label_formatter(&|v| yt.label(*v))
        .label_style(("sans-serif", axes::TICK_FONT))
        .axis_desc_style(("sans-serif", 14))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(|e| e.to_string())
}

/// A positive range [lo, hi] covering `values`, widened by `pad` (a
/// factor) on each side and never empty.
pub(crate) fn log_range(values: impl Iterator<Item = f64>, pad: f64) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for v in values.filter(|v| *v > 0.0 && v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi <= 0.0 {
        return None;
    }
    if hi / lo < 1.0 + 1e-9 {
        return Some((lo / 2.0, hi * 2.0));
    }
    Some((lo / pad, hi * pad))
}

/// A linear range covering `values` with 5% padding, never empty.
pub(crate) fn lin_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return None;
    }
    let pad = if hi > lo {
        0.05 * (hi - lo)
    } else {
        0.5 * lo.abs().max(1.0)
    };
    Some((lo - pad, hi + pad))
}

/// A figure with only a title and a message, for data that cannot be
/// plotted (no positive eigenvalue, no points).
pub(crate) fn draw_message<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    message: &str,
) -> Result<(), String> {
    let root = root
        .titled(title, ("sans-serif", 18))
        .map_err(|e| e.to_string())?;
    let (_, h) = root.dim_in_pixel();
    root.draw(&Text::new(
        message.to_string(),
        (20, (h / 2) as i32),
        ("sans-serif", 15)
            .into_font()
            .color(&RGBColor(120, 120, 120)),
    ))
    .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks() {
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(100.0), "100");
        assert_eq!(tick(1e-5), "1e-5");
        assert_eq!(tick(2.5e6), "2.5e6");
    }

    #[test]
    fn ranges_are_never_empty() {
        assert_eq!(log_range([3.0, 3.0].into_iter(), 1.5), Some((1.5, 6.0)));
        assert_eq!(log_range([0.0, -1.0].into_iter(), 1.5), None);
        assert_eq!(lin_range([2.0].into_iter()), Some((1.0, 3.0)));
    }
}
