//! `specscope simulate`: raw flags, their per-model defaults, and a short
//! summary of the run on stdout. The training itself is `crate::simulate`.

use crate::simulate::{ModelKind, SimConfig, simulate};
use anyhow::Result;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The model trained on the teacher task.
    #[arg(long, value_enum)]
    pub model: ModelKind,
    /// Loss-energy exponent: λ_k·w_k² = k^(−a), a > 1.
    #[arg(long, allow_negative_numbers = true)]
    pub a: f64,
    /// Input-covariance exponent: λ_k = k^(−b), b > 1.
    #[arg(long, allow_negative_numbers = true)]
    pub b: f64,
    /// Input dimension D [default: linear 512, deep-linear 256, mlp 64].
    #[arg(long, value_name = "D")]
    pub dim: Option<usize>,
    /// Output dimension K; the teacher has rank min(D, K) [default: = D].
    #[arg(long, value_name = "K")]
    pub outputs: Option<usize>,
    /// Hidden width of the two-layer models [default: deep-linear D, mlp 2·D].
    #[arg(long, value_name = "H")]
    pub hidden: Option<usize>,
    /// Gradient steps [default: linear 2000, deep-linear 5000, mlp 3000].
    #[arg(long, value_name = "T")]
    pub steps: Option<u64>,
    /// Constant learning rate η [default: 0.5; mlp 1.0].
    #[arg(long, value_name = "η")]
    pub lr: Option<f64>,
    /// Log-spaced snapshots in [1, T] [default: 20].
    #[arg(long, value_name = "S")]
    pub snapshots: Option<usize>,
    /// Seed of the teacher, the init and the samples [default: 0].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Init entries are N(0, scale²/fan_in) [default: 1e-3].
    #[arg(long, value_name = "SCALE")]
    pub init_scale: Option<f64>,
    /// MLP training samples [default: 2048].
    #[arg(long, value_name = "N")]
    pub train_samples: Option<usize>,
    /// MLP test samples [default: 2048].
    #[arg(long, value_name = "N")]
    pub test_samples: Option<usize>,
    /// Snapshot storage type: F32 or F64 [default: F32].
    #[arg(long, value_name = "DTYPE")]
    pub dtype: Option<String>,
    /// Run directory to create (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// No progress lines on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

impl SimulateArgs {
    /// Raw flags → a config: per-model defaults, then the given flags.
    pub fn config(&self) -> SimConfig {
        let d = SimConfig::defaults(self.model, self.a, self.b);
        let dim = self.dim.unwrap_or(d.dim);
        SimConfig {
            dim,
            outputs: self
                .outputs
                .unwrap_or(if self.dim.is_some() { dim } else { d.outputs }),
            hidden: self.hidden.unwrap_or(match (self.model, self.dim) {
                (_, None) => d.hidden,
                (ModelKind::Linear, Some(_)) => 0,
                (ModelKind::DeepLinear, Some(dim)) => dim,
                (ModelKind::Mlp, Some(dim)) => 2 * dim,
            }),
            steps: self.steps.unwrap_or(d.steps),
            lr: self.lr.unwrap_or(d.lr),
            snapshots: self.snapshots.unwrap_or(d.snapshots),
            seed: self.seed.unwrap_or(d.seed),
            init_scale: self.init_scale.unwrap_or(d.init_scale),
            train_samples: self.train_samples.unwrap_or(d.train_samples),
            test_samples: self.test_samples.unwrap_or(d.test_samples),
            dtype: self.dtype.clone().unwrap_or(d.dtype),
            ..d
        }
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.4}"))
}

pub fn run(args: SimulateArgs) -> Result<u8> {
    let cfg = args.config();
    let show = !args.quiet && std::io::stderr().is_terminal();
    let t0 = Instant::now();
    let mut progress = |step: u64, total: u64| {
        if show {
            eprint!(
                "\rspecscope: simulate {}: step {step}/{total}",
                cfg.model.as_str()
            );
        }
    };
    let summary = simulate(&cfg, &args.out, &mut progress)?;
    if show {
        eprintln!();
    }
    let t = &summary.truth;
    let m = &t.measured;
    let mut out = std::io::stdout().lock();
    let hidden = if cfg.model == ModelKind::Linear {
        String::new()
    } else {
        format!(", H = {}", cfg.hidden)
    };
    writeln!(
        out,
        "{} run: a = {}, b = {}, D = {}, K = {}{hidden}, T = {}, η = {}, seed = {}",
        cfg.model.as_str(),
        cfg.a,
        cfg.b,
        cfg.dim,
        cfg.outputs,
        cfg.steps,
        cfg.lr,
        cfg.seed
    )?;
    writeln!(
        out,
        "written to {} ({} snapshots + init, losses.csv, modes.csv, compression.csv, truth.json) in {:.1} s",
        summary.dir.display(),
        t.snapshots.len(),
        t0.elapsed().as_secs_f64()
    )?;
    writeln!(
        out,
        "final test loss {:.6e}, final k_* = {}",
        summary.final_test_loss,
        t.snapshots.last().map_or(0, |s| s.k_star)
    )?;
    writeln!(
        out,
        "{:<22} {:>10} {:>18}",
        "quantity", "analytic", "measured (± se)"
    )?;
    let an = t.analytic.as_ref();
    let row =
        |out: &mut dyn Write, name: &str, a: Option<f64>, f: &Option<crate::simulate::SlopeFit>| {
            let meas = f.as_ref().map_or("—".into(), |f| {
                format!("{:.4} ± {:.4}", f.value, f.stderr)
            });
            writeln!(out, "{name:<22} {:>10} {meas:>18}", fmt_opt(a))
        };
    row(
        &mut out,
        "rho (half-learning)",
        an.map(|a| a.rho),
        &m.rho_half_learning,
    )?;
    row(
        &mut out,
        "loss exponent alpha_t",
        an.map(|a| a.loss_time_exponent),
        &m.loss_time_exponent,
    )?;
    row(
        &mut out,
        "frontier exponent",
        an.map(|a| a.k_star_exponent),
        &m.frontier_exponent,
    )?;
    if let Some(r) = an.and_then(|a| a.rho_log_corrected) {
        writeln!(
            out,
            "{:<22} {:>10}",
            "rho (log-corrected)",
            format!("{r:.4}")
        )?;
    }
    Ok(super::exit::SUCCESS)
}
