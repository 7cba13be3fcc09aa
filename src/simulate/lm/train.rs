//! AdamW training of the language model and the run directory it writes.
//!
//! Steps t = 0…T; at t = 0 the init is saved, at S log-spaced steps in
//! [1, T] a snapshot; the losses are recorded on a log-spaced grid that
//! includes every snapshot; after the last step the compression truth of
//! the last snapshot is measured (`truth`). The gradient of a step is the
//! ordered sum of fixed chunks of `GRAD_CHUNK` windows, computed in
//! parallel: nothing written depends on the clock or the thread count.

use super::corpus::{self, Corpus};
use super::net::{Batch, Dims, Params};
use super::truth::{self, LmTruth, SnapshotLoss};
use super::{LM_MODEL, LmConfig};
use crate::load::{DType, TensorOut, write_safetensors};
use crate::simulate::train::{prepare_dir, record_steps, snapshot_steps, write_csv};
use crate::simulate::truth::CompressionRow;
use crate::simulate::{SIM_FORMAT, SimError, stream_seed};
use crate::synth;
use faer::Mat;
use rand::RngExt;
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Windows per gradient chunk: the unit of parallel work and of the
/// fixed summation order.
pub const GRAD_CHUNK: usize = 4;
/// Windows per evaluation chunk.
pub const EVAL_CHUNK: usize = 8;
/// Log-spaced points of the loss record grid (besides step 0 and the
/// snapshots).
pub const RECORD_POINTS: usize = 32;

/// What a finished run reports back.
#[derive(Debug, Clone)]
pub struct LmSummary {
    pub dir: PathBuf,
    pub truth: LmTruth,
}

#[derive(Serialize)]
struct LossOut {
    step: u64,
    tokens: u64,
    lr_sum: f64,
    train_loss: f64,
    test_loss: f64,
}

/// Mean cross-entropy (nats per predicted character) of `p` over `windows`.
pub(crate) fn mean_loss(p: &Params<f32>, windows: &[&[u16]]) -> f64 {
    let batches = corpus::batches(windows, EVAL_CHUNK);
    let sums: Vec<f64> = batches.par_iter().map(|b| p.loss_sum(b)).collect();
    sums.iter().sum::<f64>() / (windows.len() * p.dims.ctx) as f64
}

/// The validation windows of a config: the first `valid_windows`
/// non-overlapping windows of the held-out text.
pub(crate) fn valid_windows<'a>(cfg: &LmConfig, c: &'a Corpus) -> Vec<&'a [u16]> {
    corpus::windows(&c.valid, cfg.context, cfg.valid_windows)
}

/// Mean validation loss of `p` for a run of config `cfg` (the number
/// every `test_loss` and compression ΔL of the run is made of).
pub fn validation_loss(cfg: &LmConfig, p: &Params<f32>) -> f64 {
    let c = Corpus::embedded();
    mean_loss(p, &valid_windows(cfg, &c))
}

/// Weight matrices N(0, init_std²) (W_o, W_down: init_std²/(2·layers)),
/// LayerNorm gains 1 and biases 0.
fn init(cfg: &LmConfig, dims: Dims) -> Params<f32> {
    let mut rng = synth::rng(stream_seed(cfg.seed, 1));
    let mut p = Params::<f64>::zeros(dims);
    let shapes = dims.shapes();
    let names = dims.names();
    let resid = cfg.init_std / (2.0 * cfg.layers as f64).sqrt();
    for ((m, s), name) in p.t.iter_mut().zip(&shapes).zip(&names) {
        if s.len() == 2 {
            let std = if name.ends_with("wo.weight") || name.ends_with("w_down.weight") {
                resid
            } else {
                cfg.init_std
            };
            *m = synth::gaussian(s[0], s[1], std, &mut rng);
        } else if name.ends_with(".weight") {
            *m = Mat::from_fn(s[0], 1, |_, _| 1.0);
        }
    }
    p.cast()
}

/// AdamW state: first and second moments of every tensor.
struct Adam {
    m: Params<f32>,
    v: Params<f32>,
    t: i32,
}

impl Adam {
    fn step(&mut self, cfg: &LmConfig, p: &mut Params<f32>, g: &Params<f32>, lr: f64) {
        self.t += 1;
        let (b1, b2) = (cfg.beta1 as f32, cfg.beta2 as f32);
        let c1 = 1.0 / (1.0 - cfg.beta1.powi(self.t)) as f32;
        let c2 = 1.0 / (1.0 - cfg.beta2.powi(self.t)) as f32;
        let (lr, eps) = (lr as f32, cfg.adam_eps as f32);
        let shapes = p.dims.shapes();
        for (i, s) in shapes.iter().enumerate() {
            let decay = if s.len() == 2 {
                1.0 - lr * cfg.weight_decay as f32
            } else {
                1.0
            };
            let w = &mut p.t[i];
            for j in 0..w.ncols() {
                let (wc, gc) = (w.col_as_slice_mut(j), g.t[i].col_as_slice(j));
                let mc = self.m.t[i].col_as_slice_mut(j);
                let vc = self.v.t[i].col_as_slice_mut(j);
                for r in 0..wc.len() {
                    mc[r] = b1 * mc[r] + (1.0 - b1) * gc[r];
                    vc[r] = b2 * vc[r] + (1.0 - b2) * gc[r] * gc[r];
                    let upd = (mc[r] * c1) / ((vc[r] * c2).sqrt() + eps);
                    wc[r] = wc[r] * decay - lr * upd;
                }
            }
        }
    }
}

/// Mean loss and gradient of one step's windows: fixed chunks in
/// parallel, summed in chunk order.
fn loss_and_grad(p: &Params<f32>, windows: &[&[u16]], ctx: usize) -> (f64, Params<f32>) {
    let n = (windows.len() * ctx) as f64;
    let scale = (1.0 / n) as f32;
    let parts: Vec<(f64, Params<f32>)> = corpus::batches(windows, GRAD_CHUNK)
        .par_iter()
        .map(|b: &Batch<'_>| {
            let (loss, cache) = p.forward(b, Some(scale));
            (loss, p.backward(b, &cache.expect("kept for backward")))
        })
        .collect();
    let mut it = parts.into_iter();
    let (mut loss, mut grad) = it.next().expect("at least one window");
    for (l, g) in it {
        loss += l;
        grad.add(&g);
    }
    (loss / n, grad)
}

/// Scales the gradient so its global norm is at most `clip`.
fn clip(g: &mut Params<f32>, clip: f64) {
    let norm = g.squared_norm().sqrt();
    if clip > 0.0 && norm > clip {
        let s = (clip / norm) as f32;
        for m in &mut g.t {
            for j in 0..m.ncols() {
                for x in m.col_as_slice_mut(j) {
                    *x *= s;
                }
            }
        }
    }
}

/// The tensors of `p` as the snapshot stores them.
pub(crate) fn tensors_out(
    p: &Params<f32>,
    dtype: &DType,
) -> Result<Vec<TensorOut>, crate::load::EncodeError> {
    let names = p.dims.names();
    let shapes = p.dims.shapes();
    p.t.iter()
        .zip(names.iter().zip(&shapes))
        .map(|(m, (name, shape))| {
            let (r, c) = m.shape();
            let v: Vec<f64> = (0..r * c).map(|i| m[(i / c, i % c)] as f64).collect();
            TensorOut::from_f64(name, dtype.clone(), shape, &v)
        })
        .collect()
}

/// Trains the language model of `cfg` on the embedded corpus and writes
/// its run directory `dir`, which must not exist or be empty.
/// `progress(step, T)` is called after each snapshot.
pub fn simulate_lm(
    cfg: &LmConfig,
    dir: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<LmSummary, SimError> {
    cfg.validate()?;
    let dtype = cfg.storage_dtype()?;
    let corpus = Corpus::embedded();
    let valid = valid_windows(cfg, &corpus);
    if valid.is_empty() || corpus.train.len() <= cfg.context + 1 {
        return Err(SimError::Config(format!(
            "--context {}: longer than the held-out text",
            cfg.context
        )));
    }
    prepare_dir(dir)?;
    let train_eval = corpus::spread_windows(&corpus.train, cfg.context, valid.len());
    let dims = cfg.dims(corpus.vocab.len());
    let mut p = init(cfg, dims);
    let init_params = p.clone();
    let mut adam = Adam {
        m: Params::zeros(dims),
        v: Params::zeros(dims),
        t: 0,
    };
    let mut rng = synth::rng(stream_seed(cfg.seed, 2));
    let snaps = snapshot_steps(cfg.steps, cfg.snapshots);
    let records = record_steps(cfg.steps, RECORD_POINTS, &snaps);
    let per_step = (cfg.batch * cfg.context) as u64;
    let mut losses = Vec::with_capacity(records.len());
    let mut snap_losses: Vec<SnapshotLoss> = Vec::new();
    let mut init_loss = None;
    let (mut next_record, mut next_snap, mut lr_sum) = (0usize, 0usize, 0.0f64);
    let span = corpus.train.len() - cfg.context - 1;

    for step in 0..=cfg.steps {
        if records.get(next_record) == Some(&step) {
            next_record += 1;
            losses.push(LossOut {
                step,
                tokens: step * per_step,
                lr_sum,
                train_loss: mean_loss(&p, &train_eval),
                test_loss: mean_loss(&p, &valid),
            });
        }
        if step == 0 || snaps.get(next_snap) == Some(&step) {
            let last = losses.last().expect("every snapshot step is recorded");
            let index = (step > 0).then_some(next_snap);
            let file = match index {
                None => "init.safetensors".to_string(),
                Some(_) => format!("snapshots/step-{step:08}.safetensors"),
            };
            let mut meta = vec![
                ("format", SIM_FORMAT.to_string()),
                ("model", LM_MODEL.to_string()),
                ("step", step.to_string()),
                ("tokens", (step * per_step).to_string()),
                ("lr_sum", lr_sum.to_string()),
                ("seed", cfg.seed.to_string()),
            ];
            if let Some(i) = index {
                meta.push(("snapshot", i.to_string()));
            }
            let path = dir.join(&file);
            write_safetensors(&path, &tensors_out(&p, &dtype)?, &meta)
                .map_err(|source| SimError::Write { path, source })?;
            let row = SnapshotLoss {
                file,
                step,
                tokens: step * per_step,
                lr_sum,
                train_loss: last.train_loss,
                test_loss: last.test_loss,
            };
            match index {
                None => init_loss = Some(row),
                Some(_) => {
                    snap_losses.push(row);
                    next_snap += 1;
                    progress(step, cfg.steps);
                }
            }
        }
        if step < cfg.steps {
            let windows: Vec<&[u16]> = (0..cfg.batch)
                .map(|_| {
                    let s = rng.random_range(0..=span);
                    &corpus.train[s..s + cfg.context + 1]
                })
                .collect();
            let (loss, mut g) = loss_and_grad(&p, &windows, cfg.context);
            if !loss.is_finite() || loss > 1e3 {
                return Err(SimError::Diverged {
                    step,
                    loss,
                    lr: cfg.lr,
                });
            }
            clip(&mut g, cfg.clip);
            let lr = cfg.lr_at(step);
            adam.step(cfg, &mut p, &g, lr);
            lr_sum += lr;
        }
    }

    let last = snap_losses.last().expect("at least one snapshot").clone();
    let (rows, summary) = truth::measure(&p, &init_params, &valid, &last)?;
    let compression: Vec<CompressionRow> = truth::compression_rows(&rows, cfg.snapshots - 1, &last);
    let truth = LmTruth::new(
        cfg,
        &corpus,
        valid.len(),
        init_loss.expect("step 0 is saved"),
        snap_losses,
        summary,
    );
    write_csv(&dir.join("losses.csv"), &losses)?;
    write_csv(&dir.join("compression.csv"), &compression)?;
    write_csv(&dir.join("lm_truth.csv"), &rows)?;
    let path = dir.join("truth.json");
    let mut text = serde_json::to_string_pretty(&truth).expect("truth serializes");
    text.push('\n');
    std::fs::write(&path, text).map_err(|e| SimError::io(&path, e))?;
    Ok(LmSummary {
        dir: dir.to_path_buf(),
        truth,
    })
}
