//! The `predict` report: one flat row per matrix (JSON and CSV from the
//! same struct), the loss curve over bit widths and the local-slope
//! profiles as extra JSON lists, and model-level totals. Numbers are
//! `None` when unavailable, never NaN; `status` and `note` say why.

use super::fmt::fixed as num;
use super::{Input, Tool};
use serde::Serialize;
use std::io::Write;

/// One matrix: its fit, the prediction, and (with `--verify`) what was
/// measured after compressing it for real.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PredictRow {
    pub layer_id: usize,
    pub name: String,
    #[serde(rename = "N")]
    pub n: usize,
    #[serde(rename = "M")]
    pub m: usize,
    pub params: u64,
    /// ‖W‖²_F = Σμ.
    #[serde(serialize_with = "finite")]
    pub frob2: f64,
    // the fit
    pub b: Option<f64>,
    pub b_err: Option<f64>,
    pub alpha: Option<f64>,
    pub b_alpha_ratio: Option<f64>,
    pub k_star: Option<usize>,
    pub k_star_source: String,
    /// The theory's D = k_*/M.
    pub density: Option<f64>,
    pub s_c: Option<f64>,
    pub a: Option<f64>,
    /// `ok`, or why ΔL/C cannot be predicted (no a under reading B), and
    /// which numbers were left empty because they were not finite.
    pub model_status: String,
    // truncation
    pub rank: Option<usize>,
    pub trunc_energy: Option<f64>,
    pub phase: String,
    // quantization
    pub quantizer: String,
    pub sigma_q: Option<f64>,
    pub rms_step: Option<f64>,
    pub k_q_bbp: Option<usize>,
    pub k_q_weyl: Option<usize>,
    pub k_q_overlap: Option<usize>,
    // the whole compression, predicted
    pub kept: usize,
    #[serde(serialize_with = "finite")]
    pub err_pred: f64,
    pub dl: Option<f64>,
    pub dl_frac: Option<f64>,
    /// Whether ΔL may be used: `valid`, `out_of_domain` (a ≤ 1),
    /// `unresolved` (no a or k_*, or an error bar reaching a = 1); the
    /// reason is `model_status`. ΔL is left empty unless valid.
    pub verdict: crate::fit::Verdict,
    /// ΔL in the loss's units (nats for a cross-entropy), calibrated on
    /// the loss the run removed (`--losses`: first minus last value), and
    /// as a fraction of the current (last) loss.
    pub dl_loss: Option<f64>,
    pub dl_loss_frac: Option<f64>,
    #[serde(serialize_with = "finite")]
    pub shift_top_pred: f64,
    pub shift_kept_pred: Option<f64>,
    // measured (--verify)
    pub verified: bool,
    pub err_meas: Option<f64>,
    /// Measured quantization noise per entry over the predicted Δ²/12.
    pub noise_ratio: Option<f64>,
    pub k_edge_meas: Option<usize>,
    pub k_overlap_meas: Option<usize>,
    pub overlap_compared: Option<usize>,
    pub shift_top_meas: Option<f64>,
    pub shift_kept_meas: Option<f64>,
    /// b refitted on the compressed spectrum.
    pub b_after: Option<f64>,
    /// `ok`, or `failed` with the reason in `note`.
    pub status: String,
    pub note: String,
}

/// A plain number that is not finite serializes as a missing one (null in
/// JSON, empty in CSV); `PredictRow::drop_non_finite` records why.
fn finite<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_none()
    }
}

impl PredictRow {
    /// ΔL in the loss's units, given the loss curve's first and last
    /// values (docs/theory.md §4.3).
    pub fn in_loss_units(&mut self, pred: &crate::theory::Prediction, loss: Option<(f64, f64)>) {
        let Some((first, last)) = loss else { return };
        self.dl_loss = pred.dl_in_loss_units(first - last);
        self.dl_loss_frac = self.dl_loss.map(|d| d / last);
    }

    /// docs/theory.md §2: a report never holds NaN or ∞. Every optional
    /// number that is not finite (the power-law α of a constant spectrum
    /// is +∞, for one) becomes `None`; plain numbers that are not finite
    /// are written empty by their serializer. Either way the fields and
    /// their values are appended to `model_status`.
    pub fn drop_non_finite(&mut self) {
        let mut bad = Vec::new();
        // In words, so that the report holds no `NaN` or `inf` token.
        let say = |name: &str, x: f64| match x {
            x if x.is_nan() => format!("{name} undefined (0/0)"),
            x if x > 0.0 => format!("{name} = +∞"),
            _ => format!("{name} = −∞"),
        };
        let mut opt = |name: &str, v: &mut Option<f64>| {
            if let Some(x) = *v
                && !x.is_finite()
            {
                bad.push(say(name, x));
                *v = None;
            }
        };
        opt("b", &mut self.b);
        opt("b_err", &mut self.b_err);
        opt("alpha", &mut self.alpha);
        opt("b_alpha_ratio", &mut self.b_alpha_ratio);
        opt("density", &mut self.density);
        opt("s_c", &mut self.s_c);
        opt("a", &mut self.a);
        opt("trunc_energy", &mut self.trunc_energy);
        opt("sigma_q", &mut self.sigma_q);
        opt("rms_step", &mut self.rms_step);
        opt("dl", &mut self.dl);
        opt("dl_frac", &mut self.dl_frac);
        opt("dl_loss", &mut self.dl_loss);
        opt("dl_loss_frac", &mut self.dl_loss_frac);
        opt("shift_kept_pred", &mut self.shift_kept_pred);
        opt("err_meas", &mut self.err_meas);
        opt("noise_ratio", &mut self.noise_ratio);
        opt("shift_top_meas", &mut self.shift_top_meas);
        opt("shift_kept_meas", &mut self.shift_kept_meas);
        opt("b_after", &mut self.b_after);
        for (name, x) in [
            ("frob2", self.frob2),
            ("err_pred", self.err_pred),
            ("shift_top_pred", self.shift_top_pred),
        ] {
            if !x.is_finite() {
                bad.push(say(name, x));
            }
        }
        if bad.is_empty() {
            return;
        }
        let why = format!("not finite, left empty: {}", bad.join(", "));
        self.model_status = if self.model_status.is_empty() || self.model_status == "ok" {
            why
        } else {
            format!("{}; {why}", self.model_status)
        };
    }
}

/// One point of a matrix's loss curve over bit widths.
#[derive(Debug, Clone, Serialize)]
pub struct CurveRow {
    pub name: String,
    pub bits: u32,
    pub sigma_q: f64,
    pub k_q_bbp: usize,
    pub k_q_weyl: usize,
    pub err_pred: f64,
    pub dl: Option<f64>,
    pub dl_frac: Option<f64>,
}

/// One point of a matrix's local-slope profile s(k) = −d ln μ/d ln k.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileRow {
    pub name: String,
    pub k: usize,
    pub slope: f64,
}

/// Model-level loss curve point: weight error relative to the whole
/// model's ‖W‖², surviving-mode fraction, parameter-weighted ΔL/ΔL_max.
#[derive(Debug, Clone, Serialize)]
pub struct ModelCurvePoint {
    pub bits: u32,
    pub err_pred: f64,
    pub kept_frac: f64,
    pub dl_frac: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct PredictSummary {
    pub matrices: usize,
    pub predicted: usize,
    pub verified: usize,
    pub failed: usize,
    /// Parameter-weighted D and s_c = 1 − D.
    pub density: Option<f64>,
    pub s_c: Option<f64>,
    /// Σ‖W − W'‖² / Σ‖W‖² predicted over all predicted matrices, predicted
    /// over the verified ones, and measured over the verified ones.
    pub err_pred: Option<f64>,
    pub err_pred_verified: Option<f64>,
    pub err_meas: Option<f64>,
    /// Σ kept / Σ M (predicted), and measured with the edge count
    /// (quantization) or the overlap count.
    pub kept_frac_pred: Option<f64>,
    pub kept_frac_meas: Option<f64>,
    /// Parameter-weighted ΔL/ΔL_max over matrices with a loss model, and
    /// how many have one.
    pub dl_frac: Option<f64>,
    pub with_model: usize,
    /// The current loss and the loss training removed (`--losses`: the
    /// curve's last value, and first minus last), and ΔL in its units of
    /// compressing every matrix with a valid prediction at once.
    pub loss: Option<f64>,
    pub loss_drop: Option<f64>,
    pub dl_loss: Option<f64>,
    pub curve: Vec<ModelCurvePoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PredictReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub command: &'static str,
    pub input: Input,
    /// Engine of the spectra: `cpu-exact-f64` or `gpu-exact-f32 (adapter)`
    /// with `--verify`, else the pipeline's, `cpu-exact-f64 (pipeline)`,
    /// `gpu-exact-f32 (pipeline, adapter)`, ….
    pub engine: String,
    /// What ran, as in the analyze report: backend, method(s), precision,
    /// threads, GPU adapter.
    pub backend: super::Backend,
    /// `rank 192`, `4-bit sym per channel`, … as requested.
    pub compression: String,
    /// Where σ came from: `init` (path) or `median`.
    pub noise: String,
    /// The loss ΔL is calibrated on (`--losses`), or none: ΔL/C only.
    pub losses: Option<String>,
    pub rows: Vec<PredictRow>,
    pub summary: PredictSummary,
    pub curves: Vec<CurveRow>,
    pub profiles: Vec<ProfileRow>,
    pub problems: Vec<String>,
}

fn sci(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.3e}"),
        _ => "-".into(),
    }
}

fn int(v: Option<usize>) -> String {
    v.map_or("-".into(), |x| x.to_string())
}

impl PredictReport {
    pub fn write_json(&self, mut w: impl Write) -> super::error::Result<()> {
        serde_json::to_writer_pretty(&mut w, self)?;
        writeln!(w)?;
        Ok(())
    }

    pub fn write_csv(&self, w: impl Write) -> super::error::Result<()> {
        super::write_csv_rows(&self.rows, w)
    }

    /// The text table: one line per matrix, then numbered notes for the
    /// matrices whose status column is not a plain `ok` (a failure, a note
    /// such as an unverified pooled convolution, or no loss model with the
    /// reason from `model_status`). When any matrix was verified, three
    /// more columns put predicted and measured side by side: the relative
    /// shift of μ_1 and the median shift over the kept modes (in percent),
    /// and the surviving-mode count by singular-vector overlap > 0.5.
    pub fn write_table(&self, mut w: impl Write) -> std::io::Result<()> {
        let width = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(4)
            .clamp(4, 50);
        let verify = self.rows.iter().any(|r| r.verified);
        self.write_table_head(&mut w, width, verify)?;
        let mut notes: Vec<String> = Vec::new();
        for r in &self.rows {
            let status = match r.table_note() {
                Some(n) => {
                    notes.push(format!("[{}] {}: {n}", notes.len() + 1, r.name));
                    format!("{} [{}]", r.status, notes.len())
                }
                None => r.status.clone(),
            };
            let verify_cols = if verify {
                r.verify_columns()
            } else {
                String::new()
            };
            r.write_table_line(&mut w, width, &verify_cols, &status)?;
        }
        if !notes.is_empty() {
            writeln!(w)?;
            writeln!(w, "notes:")?;
            for n in &notes {
                writeln!(w, "  {n}")?;
            }
        }
        self.summary.write_table_totals(&mut w)
    }

    /// The table's first lines: what was requested, then the column heads
    /// (with the predicted/measured pairs when `verify`).
    fn write_table_head(
        &self,
        w: &mut impl Write,
        width: usize,
        verify: bool,
    ) -> std::io::Result<()> {
        writeln!(
            w,
            "compression: {}   spectra: {}   noise σ: {}",
            self.compression, self.engine, self.noise
        )?;
        let verify_head = if verify {
            format!(
                "  {:>15}  {:>15}  {:>9}",
                "shift μ1 p/m", "shift kept p/m", "ovl p/m"
            )
        } else {
            String::new()
        };
        writeln!(
            w,
            "{:<width$}  {:>6}  {:>5}  {:>6}  {:>5}  {:>9}  {:>6}  {:>11}  {:>8}  {:>8}  {:>11}  {:>7}  {:>10}{verify_head}  status",
            "name",
            "b",
            "k*",
            "D",
            "r",
            "E_trunc",
            "σ_q",
            "k_q bbp/wyl",
            "err pred",
            "err meas",
            "kept p/m",
            "ΔL/max",
            "phase"
        )
    }
}

impl PredictRow {
    /// The numbered note of this row in the text table: its `note`, and
    /// `model_status` when that is not `ok` (no loss model and why).
    fn table_note(&self) -> Option<String> {
        let model = (!self.model_status.is_empty() && self.model_status != "ok").then(|| {
            if self.model_status.starts_with("needs") {
                format!("no ΔL/C: {}", self.model_status)
            } else {
                self.model_status.clone()
            }
        });
        match (self.note.is_empty(), model) {
            (true, None) => None,
            (false, None) => Some(self.note.clone()),
            (true, Some(m)) => Some(m),
            (false, Some(m)) => Some(format!("{}; {m}", self.note)),
        }
    }

    /// The three predicted/measured columns of a verified table: the
    /// relative shifts of μ_1 and of the kept modes, and the overlap
    /// survivors.
    fn verify_columns(&self) -> String {
        let pct = |v: Option<f64>| match v {
            Some(x) if x.is_finite() => format!("{:+.2}%", 100.0 * x),
            _ => "-".into(),
        };
        let pair = |p: Option<f64>, m: Option<f64>| format!("{}/{}", pct(p), pct(m));
        // Predicted overlap survivors: the kept rank for a
        // truncation (its top vectors are untouched), the overlap
        // count for a quantization, the smaller when both.
        let ovl_pred = match (self.k_q_overlap, self.rank) {
            (Some(k), Some(rank)) => k.min(rank),
            (Some(k), None) => k,
            (None, _) => self.kept,
        };
        format!(
            "  {:>15}  {:>15}  {:>9}",
            pair(Some(self.shift_top_pred), self.shift_top_meas),
            pair(self.shift_kept_pred, self.shift_kept_meas),
            format!("{ovl_pred}/{}", int(self.k_overlap_meas)),
        )
    }

    /// This matrix's line of the text table.
    fn write_table_line(
        &self,
        w: &mut impl Write,
        width: usize,
        verify_cols: &str,
        status: &str,
    ) -> std::io::Result<()> {
        let r = self;
        let kept_meas = r.k_edge_meas.or(r.k_overlap_meas);
        writeln!(
            w,
            "{:<width$}  {:>6}  {:>5}  {:>6}  {:>5}  {:>9}  {:>6}  {:>11}  {:>8}  {:>8}  {:>11}  {:>7}  {:>10}{verify_cols}  {status}",
            r.name,
            num(r.b, 3),
            int(r.k_star),
            num(r.density, 3),
            int(r.rank),
            sci(r.trunc_energy),
            r.sigma_q
                .filter(|s| s.is_finite())
                .map_or("-".into(), |s| format!("{s:.1e}")),
            match (r.k_q_bbp, r.k_q_weyl) {
                (Some(a), Some(b)) => format!("{a}/{b}"),
                _ => "-".into(),
            },
            sci(Some(r.err_pred)),
            sci(r.err_meas),
            format!("{}/{}", r.kept, int(kept_meas)),
            num(r.dl_frac, 3),
            if r.phase.is_empty() { "-" } else { &r.phase },
        )
    }
}

impl PredictSummary {
    /// The text table's closing lines: counts, model-level totals and the
    /// model's loss curve over bit widths.
    fn write_table_totals(&self, w: &mut impl Write) -> std::io::Result<()> {
        let s = self;
        writeln!(w)?;
        writeln!(
            w,
            "{} matrices: {} predicted, {} verified, {} failed",
            s.matrices, s.predicted, s.verified, s.failed
        )?;
        writeln!(
            w,
            "model: density D {}  s_c {}  weight error pred {} meas {}  kept fraction pred {} meas {}  ΔL/ΔL_max {} ({} matrices with a)",
            num(s.density, 3),
            num(s.s_c, 3),
            sci(s.err_pred_verified.or(s.err_pred)),
            sci(s.err_meas),
            num(s.kept_frac_pred, 3),
            num(s.kept_frac_meas, 3),
            num(s.dl_frac, 3),
            s.with_model,
        )?;
        if !s.curve.is_empty() {
            writeln!(
                w,
                "loss curve (model):  bits  err_pred   kept_frac  ΔL/ΔL_max"
            )?;
            for p in &s.curve {
                writeln!(
                    w,
                    "                     {:>4}  {:.3e}  {:>9.3}  {:>9}",
                    p.bits,
                    p.err_pred,
                    p.kept_frac,
                    num(p.dl_frac, 3)
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_are_empty_with_a_reason() {
        let mut r = PredictRow {
            name: "w".into(),
            alpha: Some(f64::INFINITY),
            b_after: Some(f64::NAN),
            density: Some(0.25),
            err_pred: f64::NEG_INFINITY,
            model_status: "ok".into(),
            status: "ok".into(),
            ..Default::default()
        };
        r.drop_non_finite();
        assert_eq!((r.alpha, r.b_after, r.density), (None, None, Some(0.25)));
        assert_eq!(
            r.model_status,
            "not finite, left empty: alpha = +∞, b_after undefined (0/0), err_pred = −∞"
        );
        let mut csv = Vec::new();
        {
            let mut w = csv::Writer::from_writer(&mut csv);
            w.serialize(&r).unwrap();
        }
        let csv = String::from_utf8(csv).unwrap().to_lowercase();
        assert!(!csv.contains("nan") && !csv.contains("inf,"), "{csv}");
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["err_pred"].is_null() && json["alpha"].is_null());
        // A reason already there is kept first.
        let mut r = PredictRow {
            alpha: Some(f64::INFINITY),
            model_status: "needs k_*".into(),
            ..Default::default()
        };
        r.drop_non_finite();
        assert_eq!(
            r.model_status,
            "needs k_*; not finite, left empty: alpha = +∞"
        );
    }
}
