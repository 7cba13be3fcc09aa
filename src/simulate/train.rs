//! The training loop and the run directory it writes.
//!
//! Steps t = 0…T; at t = 0 the init is saved, at S log-spaced steps in
//! [1, T] a snapshot is saved and really compressed, and on a denser
//! log-spaced grid the losses and the true mode strengths are recorded.
//! Nothing written depends on the clock or the thread count.

use super::compress::{Compression, Compressor, rank_grid};
use super::model::{Net, Samples, Trainer, mlp_samples};
use super::task::Task;
use super::truth::{CompressionRow, SnapshotTruth, Trajectory, Truth, frontier_count};
use super::{ModelKind, SIM_FORMAT, SimConfig, SimError};
use crate::load::{DType, TensorOut, write_safetensors};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Points of the log-spaced record grid (losses and mode strengths).
pub const RECORD_POINTS: usize = 160;
/// Points of the log-spaced pruning-rank grid.
pub const RANK_POINTS: usize = 24;
/// Quantization bit widths measured.
pub const BITS: std::ops::RangeInclusive<u32> = 2..=8;

/// What a finished run reports back.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub dir: PathBuf,
    pub truth: Truth,
    pub final_test_loss: f64,
}

/// `count` distinct log-spaced steps in [1, T], the last one T.
pub(crate) fn snapshot_steps(t: u64, count: usize) -> Vec<u64> {
    if count == 1 {
        return vec![t];
    }
    let mut out: Vec<u64> = Vec::with_capacity(count);
    for j in 0..count {
        let ideal = (t as f64).powf(j as f64 / (count - 1) as f64).round() as u64;
        let prev = out.last().copied().unwrap_or(0);
        out.push(ideal.max(prev + 1));
    }
    *out.last_mut().unwrap() = t;
    debug_assert!(out.windows(2).all(|w| w[0] < w[1]), "{out:?}");
    out
}

/// The record grid: 0, `points` log-spaced steps up to `t` and every
/// snapshot.
pub(crate) fn record_steps(t: u64, points: usize, snaps: &[u64]) -> Vec<u64> {
    let mut out: Vec<u64> = (0..points)
        .map(|i| (t as f64).powf(i as f64 / (points - 1) as f64).round() as u64)
        .collect();
    out.push(0);
    out.extend_from_slice(snaps);
    out.sort_unstable();
    out.dedup();
    out
}

fn snapshot_name(step: u64) -> String {
    format!("snapshots/step-{step:08}.safetensors")
}

/// The weights as the snapshot stores them (rounded to its dtype).
fn as_stored(net: &Net, dtype: &DType) -> Net {
    let mut out = net.clone();
    if *dtype == DType::F32 {
        for w in &mut out.layers {
            for j in 0..w.ncols() {
                for x in w.col_mut(j).iter_mut() {
                    *x = *x as f32 as f64;
                }
            }
        }
    }
    out
}

fn write_snapshot(
    dir: &Path,
    file: &str,
    net: &Net,
    dtype: &DType,
    meta: &[(&str, String)],
) -> Result<(), SimError> {
    let tensors: Vec<TensorOut> = net
        .names
        .iter()
        .zip(&net.layers)
        .map(|(name, w)| {
            TensorOut::from_f64(
                name,
                dtype.clone(),
                &[w.nrows(), w.ncols()],
                &crate::synth::row_major(w),
            )
        })
        .collect::<Result<_, _>>()?;
    let path = dir.join(file);
    write_safetensors(&path, &tensors, meta).map_err(|source| SimError::Write { path, source })
}

pub(crate) fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<(), SimError> {
    let mut w = csv::Writer::from_path(path).map_err(|e| SimError::io(path, e.into()))?;
    for r in rows {
        w.serialize(r).map_err(|e| SimError::io(path, e.into()))?;
    }
    w.flush().map_err(|e| SimError::io(path, e))
}

#[derive(Serialize)]
struct LossOut {
    step: u64,
    tokens: u64,
    lr_sum: f64,
    train_loss: f64,
    test_loss: f64,
}

#[derive(Serialize)]
struct ModeOut {
    step: u64,
    k: usize,
    strength: f64,
}

/// Trains the model of `cfg` and writes its run directory `dir`, which must
/// not exist or be empty. `progress(step, T)` is called after each snapshot.
pub fn simulate(
    cfg: &SimConfig,
    dir: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RunSummary, SimError> {
    cfg.validate()?;
    let dtype = cfg.storage_dtype()?;
    prepare_dir(dir)?;

    let task = Task::new(cfg);
    let samples: Option<(Samples, Samples)> =
        (cfg.model == ModelKind::Mlp).then(|| mlp_samples(cfg, &task));
    let (train, test) = match &samples {
        Some((a, b)) => (Some(a), Some(b)),
        None => (None, None),
    };
    let mut trainer = Trainer::new(Net::init(cfg), &task, train, cfg.lr);

    let snaps = snapshot_steps(cfg.steps, cfg.snapshots);
    let records = record_steps(cfg.steps, RECORD_POINTS, &snaps);
    let mut rec = Recorder {
        cfg,
        task: &task,
        train,
        test,
        dtype,
        per_step: cfg.examples_per_step(),
        losses: Vec::with_capacity(records.len()),
        strengths: Vec::with_capacity(records.len()),
        compression: Vec::new(),
        snap_truth: Vec::new(),
        init_truth: None,
    };
    let (mut next_record, mut next_snap) = (0usize, 0usize);
    let mut lr_sum = 0.0f64;
    let mut first_loss = f64::NAN;

    for step in 0..=cfg.steps {
        let is_snap = step == 0 || snaps.get(next_snap) == Some(&step);
        if records.get(next_record) == Some(&step) {
            next_record += 1;
            rec.record(step, lr_sum, &trainer);
        }
        if is_snap {
            let index = (step > 0).then_some(next_snap);
            rec.snapshot(dir, step, index, lr_sum, &trainer.net)?;
            if index.is_some() {
                next_snap += 1;
                progress(step, cfg.steps);
            }
        }
        if step < cfg.steps {
            let loss = trainer.step();
            if step == 0 {
                first_loss = loss;
            }
            if !loss.is_finite() || loss > 1e6 * first_loss.max(f64::MIN_POSITIVE) {
                return Err(SimError::Diverged {
                    step,
                    loss,
                    lr: cfg.lr,
                });
            }
            lr_sum += cfg.lr;
        }
    }
    rec.finish(dir)
}

/// The run directory must not exist or be empty; creates it with its
/// `snapshots/` folder.
pub(crate) fn prepare_dir(dir: &Path) -> Result<(), SimError> {
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(|e| SimError::io(dir, e))?;
        if entries.next().is_some() {
            return Err(SimError::Config(format!(
                "--out {}: directory exists and is not empty",
                dir.display()
            )));
        }
    }
    std::fs::create_dir_all(dir.join("snapshots")).map_err(|e| SimError::io(dir, e))
}

/// What the training loop records as it goes (losses and mode strengths
/// on the record grid, snapshots and their compression losses), with what
/// it needs to record them.
struct Recorder<'a> {
    cfg: &'a SimConfig,
    task: &'a Task,
    train: Option<&'a Samples>,
    test: Option<&'a Samples>,
    /// The snapshots' storage dtype.
    dtype: DType,
    /// Examples (tokens) per step.
    per_step: u64,
    losses: Vec<LossOut>,
    strengths: Vec<Vec<f64>>,
    compression: Vec<CompressionRow>,
    snap_truth: Vec<SnapshotTruth>,
    init_truth: Option<SnapshotTruth>,
}

impl Recorder<'_> {
    /// A point of the record grid: the losses and true mode strengths of
    /// the weights in training (f64, not rounded to the storage dtype).
    fn record(&mut self, step: u64, lr_sum: f64, trainer: &Trainer<'_>) {
        let (cfg, task, test) = (self.cfg, self.task, self.test);
        let test_loss = trainer.net.test_loss(task, test);
        let train_loss = match cfg.model {
            ModelKind::Mlp => trainer.train_loss(),
            _ => test_loss,
        };
        self.losses.push(LossOut {
            step,
            tokens: step * self.per_step,
            lr_sum,
            train_loss,
            test_loss,
        });
        self.strengths
            .push(task.mode_strengths(trainer.net.effective().as_ref()));
    }

    /// Saves `net` as the init (step 0, `index` None) or as snapshot
    /// `index`, with its truth measured on the weights as stored; a
    /// snapshot is also compressed for real.
    fn snapshot(
        &mut self,
        dir: &Path,
        step: u64,
        index: Option<usize>,
        lr_sum: f64,
        net: &Net,
    ) -> Result<(), SimError> {
        let (cfg, task, train, test) = (self.cfg, self.task, self.train, self.test);
        let (dtype, per_step) = (&self.dtype, self.per_step);
        let file = if step == 0 {
            "init.safetensors".to_string()
        } else {
            snapshot_name(step)
        };
        let mut meta = vec![
            ("format", SIM_FORMAT.to_string()),
            ("model", cfg.model.as_str().to_string()),
            ("step", step.to_string()),
            ("tokens", (step * per_step).to_string()),
            ("lr_sum", lr_sum.to_string()),
            ("a", cfg.a.to_string()),
            ("b", cfg.b.to_string()),
            ("seed", cfg.seed.to_string()),
        ];
        if let Some(i) = index {
            meta.push(("snapshot", i.to_string()));
        }
        let stored = as_stored(net, dtype);
        write_snapshot(dir, &file, &stored, dtype, &meta)?;
        let test_loss = stored.test_loss(task, test);
        let train_loss = match cfg.model {
            ModelKind::Mlp => {
                super::model::mlp_loss(&stored.layers[0], &stored.layers[1], train.unwrap())
            }
            _ => test_loss,
        };
        let s = task.mode_strengths(stored.effective().as_ref());
        let truth = SnapshotTruth {
            file,
            step,
            tokens: step * per_step,
            lr_sum,
            train_loss,
            test_loss,
            k_star: frontier_count(&s, &task.target),
            k_star_analytic: (cfg.model == ModelKind::Linear)
                .then(|| (cfg.lr * step as f64).powf(1.0 / cfg.b)),
        };
        if let Some(i) = index {
            self.compress(&stored, i, step, test_loss)?;
            self.snap_truth.push(truth);
        } else {
            self.init_truth = Some(truth);
        }
        Ok(())
    }

    /// Compresses snapshot `i` (as stored) for real: truncation over the
    /// rank grid and per-tensor and per-channel quantization at [`BITS`],
    /// each with its test loss and the increase over `test_loss`.
    fn compress(
        &mut self,
        stored: &Net,
        i: usize,
        step: u64,
        test_loss: f64,
    ) -> Result<(), SimError> {
        let comp = Compressor::new(stored, self.task, self.test).ok_or_else(|| SimError::Svd {
            name: stored.names.join("+"),
            step,
        })?;
        let mut list: Vec<Compression> = rank_grid(comp.full_rank(), RANK_POINTS)
            .into_iter()
            .map(Compression::Rank)
            .collect();
        list.extend(BITS.map(Compression::QuantTensor));
        list.extend(BITS.map(Compression::QuantChannel));
        for (c, l) in list.iter().zip(comp.losses(&list)) {
            self.compression.push(CompressionRow {
                snapshot: i,
                step,
                kind: c.kind().to_string(),
                param: c.param(),
                test_loss: l,
                delta_loss: l - test_loss,
            });
        }
        Ok(())
    }

    /// The run's summary: measures the truth over the recorded trajectory
    /// and writes `losses.csv`, `modes.csv`, `compression.csv` and
    /// `truth.json`.
    fn finish(self, dir: &Path) -> Result<RunSummary, SimError> {
        let (cfg, task) = (self.cfg, self.task);
        let (losses, strengths) = (self.losses, self.strengths);
        let steps: Vec<u64> = losses.iter().map(|l| l.step).collect();
        let test_losses: Vec<f64> = losses.iter().map(|l| l.test_loss).collect();
        let (analytic, measured) = Truth::measure(
            cfg,
            &task.lambda,
            &task.target,
            &Trajectory {
                steps: &steps,
                test_loss: &test_losses,
                strength: &strengths,
            },
        );
        let truth = Truth {
            format: SIM_FORMAT.to_string(),
            model: cfg.model,
            a: cfg.a,
            b: cfg.b,
            modes: task.rank(),
            config: cfg.clone(),
            loss_convention: "L = ½·E‖f(x) − y‖² (½ of the mean squared error summed over outputs); L(t) = ½·Σ_k e_k·exp(−2g) for the linear model".into(),
            time: "step".into(),
            analytic,
            measured,
            lambda: task.lambda.clone(),
            target: task.target.clone(),
            init: self.init_truth.expect("step 0 is always saved"),
            snapshots: self.snap_truth,
        };

        write_csv(&dir.join("losses.csv"), &losses)?;
        let modes: Vec<ModeOut> = steps
            .iter()
            .zip(&strengths)
            .flat_map(|(&step, s)| {
                s.iter().enumerate().map(move |(k, &strength)| ModeOut {
                    step,
                    k: k + 1,
                    strength,
                })
            })
            .collect();
        write_csv(&dir.join("modes.csv"), &modes)?;
        write_csv(&dir.join("compression.csv"), &self.compression)?;
        let path = dir.join("truth.json");
        let mut text = serde_json::to_string_pretty(&truth).expect("truth serializes");
        text.push('\n');
        std::fs::write(&path, text).map_err(|e| SimError::io(&path, e))?;
        Ok(RunSummary {
            dir: dir.to_path_buf(),
            final_test_loss: *test_losses.last().unwrap_or(&f64::NAN),
            truth,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_steps_are_distinct_log_spaced_and_end_at_t() {
        for (t, s) in [
            (2000u64, 20usize),
            (20, 20),
            (21, 20),
            (5, 1),
            (1, 1),
            (100_000, 7),
        ] {
            let g = snapshot_steps(t, s);
            assert_eq!(g.len(), s, "{t} {s}");
            assert!(g[0] >= 1 && *g.last().unwrap() == t);
            assert!(g.windows(2).all(|w| w[0] < w[1]), "{g:?}");
        }
        let g = snapshot_steps(100_000, 6);
        assert_eq!(g, vec![1, 10, 100, 1000, 10_000, 100_000]);
    }
}
