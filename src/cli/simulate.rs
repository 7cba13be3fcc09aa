//! `specscope simulate`: raw flags, their per-model defaults, and a short
//! summary of the run on stdout. The training itself is `crate::simulate`
//! (the teacher models) and `crate::simulate::lm` (the language model).

use crate::simulate::lm::{LmConfig, simulate_lm};
use crate::simulate::{ModelKind, SimConfig, simulate};
use anyhow::Result;
use clap::ValueEnum;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

/// `--model`: a teacher-task model, or the character-level language model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SimModel {
    /// One weight matrix W (outputs × dim): kernel regime, g = ηλt.
    Linear,
    /// Two weight matrices, W₂·W₁: sequential mode learning from small init.
    DeepLinear,
    /// Two-layer ReLU network W₂·relu(W₁x), trained on a fixed sample set.
    Mlp,
    /// A 2-layer character-level transformer trained with AdamW on real
    /// text (Debian's license texts); no teacher, no --a/--b.
    Lm,
}

impl SimModel {
    /// The teacher model, `None` for the language model.
    pub fn teacher(self) -> Option<ModelKind> {
        match self {
            SimModel::Linear => Some(ModelKind::Linear),
            SimModel::DeepLinear => Some(ModelKind::DeepLinear),
            SimModel::Mlp => Some(ModelKind::Mlp),
            SimModel::Lm => None,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The model: trained on the teacher task, or the language model.
    #[arg(long, value_enum)]
    pub model: SimModel,
    /// Loss-energy exponent: λ_k·w_k² = k^(−a), a > 1 (teacher models).
    #[arg(long, allow_negative_numbers = true, required_if_eq_any = TEACHERS)]
    pub a: Option<f64>,
    /// Input-covariance exponent: λ_k = k^(−b), b > 1 (teacher models).
    #[arg(long, allow_negative_numbers = true, required_if_eq_any = TEACHERS)]
    pub b: Option<f64>,
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
    /// lm: width of the residual stream [default: 64].
    #[arg(long, value_name = "D")]
    pub d_model: Option<usize>,
    /// lm: transformer layers [default: 2].
    #[arg(long, value_name = "L")]
    pub layers: Option<usize>,
    /// lm: attention heads [default: 4].
    #[arg(long, value_name = "N")]
    pub heads: Option<usize>,
    /// lm: characters of context [default: 64].
    #[arg(long, value_name = "N")]
    pub context: Option<usize>,
    /// lm: windows per AdamW step [default: 16].
    #[arg(long, value_name = "N")]
    pub batch: Option<usize>,
    /// Run directory to create (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// No progress lines on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

const TEACHERS: [(&str, &str); 3] = [
    ("model", "linear"),
    ("model", "deep-linear"),
    ("model", "mlp"),
];

impl SimulateArgs {
    /// Raw flags → a teacher-model config: per-model defaults, then the
    /// given flags.
    pub fn config(&self, model: ModelKind) -> SimConfig {
        let (a, b) = (self.a.unwrap_or(f64::NAN), self.b.unwrap_or(f64::NAN));
        let d = SimConfig::defaults(model, a, b);
        let dim = self.dim.unwrap_or(d.dim);
        SimConfig {
            dim,
            outputs: self
                .outputs
                .unwrap_or(if self.dim.is_some() { dim } else { d.outputs }),
            hidden: self.hidden.unwrap_or(match (model, self.dim) {
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

/// The flags that only one family of models reads, by family.
fn foreign_flags(args: &SimulateArgs) -> Vec<&'static str> {
    let given = |set: bool, name: &'static str| set.then_some(name);
    let lm_only = [
        given(args.d_model.is_some(), "--d-model"),
        given(args.layers.is_some(), "--layers"),
        given(args.heads.is_some(), "--heads"),
        given(args.context.is_some(), "--context"),
        given(args.batch.is_some(), "--batch"),
    ];
    let teacher_only = [
        given(args.a.is_some(), "--a"),
        given(args.b.is_some(), "--b"),
        given(args.dim.is_some(), "--dim"),
        given(args.outputs.is_some(), "--outputs"),
        given(args.hidden.is_some(), "--hidden"),
        given(args.init_scale.is_some(), "--init-scale"),
        given(args.train_samples.is_some(), "--train-samples"),
        given(args.test_samples.is_some(), "--test-samples"),
    ];
    let foreign = if args.model == SimModel::Lm {
        &teacher_only[..]
    } else {
        &lm_only[..]
    };
    foreign.iter().flatten().copied().collect()
}

/// Raw flags → the language model's config: defaults, then the flags.
pub fn lm_config(args: &SimulateArgs) -> LmConfig {
    let d = LmConfig::default();
    LmConfig {
        d_model: args.d_model.unwrap_or(d.d_model),
        layers: args.layers.unwrap_or(d.layers),
        heads: args.heads.unwrap_or(d.heads),
        context: args.context.unwrap_or(d.context),
        batch: args.batch.unwrap_or(d.batch),
        steps: args.steps.unwrap_or(d.steps),
        lr: args.lr.unwrap_or(d.lr),
        snapshots: args.snapshots.unwrap_or(d.snapshots),
        seed: args.seed.unwrap_or(d.seed),
        dtype: args.dtype.clone().unwrap_or(d.dtype.clone()),
        ..d
    }
}

fn run_lm(args: &SimulateArgs) -> Result<u8> {
    let cfg = lm_config(args);
    let show = !args.quiet && std::io::stderr().is_terminal();
    let t0 = Instant::now();
    let mut progress = |step: u64, total: u64| {
        if show {
            eprint!("\rspecscope: simulate lm: step {step}/{total}");
        }
    };
    let summary = simulate_lm(&cfg, &args.out, &mut progress)?;
    if show {
        eprintln!();
    }
    let t = &summary.truth;
    let last = t.snapshots.last().expect("at least one snapshot");
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "lm run: d_model = {}, layers = {}, heads = {}, context = {}, batch = {}, T = {}, peak lr = {}, seed = {} ({} parameters, vocabulary {})",
        cfg.d_model,
        cfg.layers,
        cfg.heads,
        cfg.context,
        cfg.batch,
        cfg.steps,
        cfg.lr,
        cfg.seed,
        t.parameters,
        t.corpus.vocab_size
    )?;
    writeln!(
        out,
        "written to {} ({} snapshots + init, losses.csv, compression.csv, lm_truth.csv, truth.json) in {:.1} s",
        summary.dir.display(),
        t.snapshots.len(),
        t0.elapsed().as_secs_f64()
    )?;
    writeln!(
        out,
        "final loss (nats/char): train {:.4}, validation {:.4}; unigram entropy {:.4}, ln V {:.4}",
        last.train_loss, last.test_loss, t.corpus.unigram_entropy, t.corpus.ln_vocab
    )?;
    let c = &t.compression;
    let list = |xs: &[f64]| {
        xs.iter()
            .map(|x| format!("{x:+.4}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    writeln!(out, "ΔL, every matrix at once:")?;
    writeln!(out, "  ranks {:?}: {}", c.ranks, list(&c.all_rank_dl))?;
    writeln!(out, "  bits  {:?}: {}", c.bits, list(&c.all_bits_dl))?;
    Ok(super::exit::SUCCESS)
}

pub fn run(args: SimulateArgs) -> Result<u8> {
    let foreign = foreign_flags(&args);
    if !foreign.is_empty() {
        anyhow::bail!(
            "{} not read by --model {}",
            foreign.join(", "),
            args.model
                .to_possible_value()
                .map_or(String::new(), |v| v.get_name().to_string())
        );
    }
    let Some(model) = args.model.teacher() else {
        return run_lm(&args);
    };
    let cfg = args.config(model);
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
