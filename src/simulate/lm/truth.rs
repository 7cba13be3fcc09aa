//! What the language-model run knows: the measured validation-loss
//! increase ΔL of really compressing its last snapshot, one weight matrix
//! at a time and all of them at once, and the `truth.json` that
//! summarises the run.
//!
//! Compression acts on the weights as stored (f32), in f64, with the
//! simulator's operators: SVD truncation to rank r (`Factors`), symmetric
//! round-to-nearest per output channel (`quantize_channel`, one step per
//! row of the out × in matrix) and reset to the init. The compressed model
//! is evaluated in f32 on the run's fixed validation windows. LayerNorm
//! gains and biases are never compressed. Owns the measurement grid and
//! the row and summary types; predicts nothing.

use super::LmConfig;
use super::corpus::Corpus;
use super::net::Params;
use super::train::mean_loss;
use crate::simulate::compress::{Factors, quantize_channel};
use crate::simulate::truth::CompressionRow;
use crate::simulate::{SIM_FORMAT, SimError};
use faer::Mat;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Bit widths measured.
pub const BITS: [u32; 5] = [2, 3, 4, 6, 8];

/// Ranks measured for a matrix of full rank `full`: powers of two below
/// it, then `full` itself (where truncation is the identity up to SVD
/// round-off).
pub fn ranks(full: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (0..)
        .map(|k| 1usize << k)
        .take_while(|&r| r < full)
        .collect();
    out.push(full);
    out
}

/// One row of lm_truth.csv.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmTruthRow {
    /// Tensor name, or `*` for every weight matrix at once.
    pub matrix: String,
    /// `rank`, `bits`, `reset`, `all-rank` or `all-bits`.
    pub kind: String,
    /// Rank r or bits B (0 for `reset`).
    pub value: u64,
    /// Validation loss after the compression (nats per character).
    pub test_loss: f64,
    /// test_loss minus the uncompressed snapshot's validation loss.
    pub dl: f64,
    /// dl divided by the uncompressed validation loss.
    pub dl_rel: f64,
}

/// The loss of one snapshot (or the init).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotLoss {
    /// Path relative to the run directory.
    pub file: String,
    pub step: u64,
    pub tokens: u64,
    pub lr_sum: f64,
    /// Mean cross-entropy on the fixed training sample (nats per character).
    pub train_loss: f64,
    /// Mean cross-entropy on the validation windows.
    pub test_loss: f64,
}

/// ΔL of one matrix, on the grids of `CompressionSummary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixSummary {
    pub name: String,
    /// out × in.
    pub shape: [usize; 2],
    /// ΔL at each of `ranks` (ranks above the matrix's own full rank are
    /// measured at its full rank).
    pub rank_dl: Vec<f64>,
    /// ΔL at each of `bits`.
    pub bits_dl: Vec<f64>,
    pub reset_dl: f64,
}

/// The compression truth of the last snapshot, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompressionSummary {
    pub file: String,
    pub step: u64,
    /// The uncompressed validation loss every ΔL is relative to.
    pub test_loss: f64,
    pub ranks: Vec<usize>,
    pub bits: Vec<u32>,
    pub matrices: Vec<MatrixSummary>,
    /// Every weight matrix truncated to each rank / quantized to each width.
    pub all_rank_dl: Vec<f64>,
    pub all_bits_dl: Vec<f64>,
}

/// The corpus, as truth.json describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusInfo {
    pub file: String,
    pub license: String,
    pub chars: usize,
    pub fnv1a64: String,
    pub vocab: String,
    pub vocab_size: usize,
    pub split: String,
    pub train_chars: usize,
    pub valid_chars: usize,
    /// Validation windows used and the characters they predict.
    pub valid_windows: usize,
    pub valid_predicted: usize,
    /// Entropy of the training split's character frequencies (nats).
    pub unigram_entropy: f64,
    pub ln_vocab: f64,
}

/// truth.json of a language-model run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmTruth {
    pub format: String,
    /// Always `lm`.
    pub model: String,
    pub config: LmConfig,
    pub corpus: CorpusInfo,
    /// Names and shapes of every tensor, in file order.
    pub tensors: Vec<(String, Vec<usize>)>,
    pub parameters: usize,
    pub loss_convention: String,
    pub compute: String,
    pub time: String,
    pub init: SnapshotLoss,
    pub snapshots: Vec<SnapshotLoss>,
    pub compression: CompressionSummary,
}

impl LmTruth {
    pub(crate) fn new(
        cfg: &LmConfig,
        corpus: &Corpus,
        valid_windows: usize,
        init: SnapshotLoss,
        snapshots: Vec<SnapshotLoss>,
        compression: CompressionSummary,
    ) -> LmTruth {
        let dims = cfg.dims(corpus.vocab.len());
        let shapes = dims.shapes();
        LmTruth {
            format: SIM_FORMAT.into(),
            model: super::LM_MODEL.into(),
            config: cfg.clone(),
            corpus: CorpusInfo {
                file: "fixtures/corpus/common-licenses.txt".into(),
                license: "the license texts of Debian's /usr/share/common-licenses (base-files); each permits verbatim copying and distribution of the license document".into(),
                chars: corpus.train.len() + corpus.valid.len(),
                fnv1a64: corpus.fnv64.clone(),
                vocab: corpus.vocab_string(),
                vocab_size: corpus.vocab.len(),
                split: format!(
                    "blocks of {} characters; block i is validation text when i mod {} = {}",
                    super::corpus::BLOCK,
                    super::corpus::HOLD_OUT_EVERY,
                    super::corpus::HOLD_OUT_EVERY - 1
                ),
                train_chars: corpus.train.len(),
                valid_chars: corpus.valid.len(),
                valid_windows,
                valid_predicted: valid_windows * cfg.context,
                unigram_entropy: corpus.unigram_entropy,
                ln_vocab: (corpus.vocab.len() as f64).ln(),
            },
            parameters: shapes.iter().map(|s| s.iter().product::<usize>()).sum(),
            tensors: dims.names().into_iter().zip(shapes).collect(),
            loss_convention: "mean cross-entropy −ln p(next character | up to `context` previous ones), nats per character, over every predicted position of the windows".into(),
            compute: "f32 forward and backward (sequential faer matmuls), f64 loss accumulation; compression operators in f64 on the stored weights".into(),
            time: "step".into(),
            init,
            snapshots,
            compression,
        }
    }
}

/// One compression of the measurement grid.
#[derive(Debug, Clone, Copy)]
enum Op {
    Rank(usize),
    Bits(u32),
    Reset,
}

fn to_f64(m: &Mat<f32>) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] as f64)
}

fn to_f32(m: &Mat<f64>) -> Mat<f32> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] as f32)
}

/// The compressed copy of one matrix.
fn apply(op: Op, w: &Mat<f64>, f: &Factors, init: &Mat<f32>) -> Mat<f32> {
    match op {
        Op::Rank(r) => to_f32(&f.truncate(r)),
        Op::Bits(b) => to_f32(&quantize_channel(w.as_ref(), b)),
        Op::Reset => init.clone(),
    }
}

/// Measures ΔL of every single-matrix and whole-model compression of
/// `p` (the last snapshot, `last`), on the validation windows. The SVDs
/// are computed once; the evaluations run in parallel, each in a fixed
/// order, so the numbers do not depend on the thread count.
pub(crate) fn measure(
    p: &Params<f32>,
    init: &Params<f32>,
    valid: &[&[u16]],
    last: &SnapshotLoss,
) -> Result<(Vec<LmTruthRow>, CompressionSummary), SimError> {
    let dims = p.dims;
    let mats = dims.matrices();
    let names = dims.names();
    let w64: Vec<Mat<f64>> = mats.iter().map(|&i| to_f64(&p.t[i])).collect();
    let factors: Vec<Factors> = w64
        .par_iter()
        .zip(&mats)
        .map(|(w, &i)| {
            Factors::new(w.as_ref()).ok_or_else(|| SimError::Svd {
                name: names[i].clone(),
                step: last.step,
            })
        })
        .collect::<Result<_, _>>()?;
    let full = mats.iter().map(|&i| p.t[i].nrows().min(p.t[i].ncols()));
    let grid = ranks(full.max().unwrap_or(1));
    let base = last.test_loss;
    debug_assert_eq!(base, mean_loss(p, valid));

    // (matrix position in `mats` or None for all, op)
    let mut jobs: Vec<(Option<usize>, Op)> = Vec::new();
    for (k, f) in factors.iter().enumerate() {
        let own = ranks(f.rank());
        jobs.extend(own.into_iter().map(|r| (Some(k), Op::Rank(r))));
        jobs.extend(BITS.iter().map(|&b| (Some(k), Op::Bits(b))));
        jobs.push((Some(k), Op::Reset));
    }
    jobs.extend(grid.iter().map(|&r| (None, Op::Rank(r))));
    jobs.extend(BITS.iter().map(|&b| (None, Op::Bits(b))));

    let losses: Vec<f64> = jobs
        .par_iter()
        .map(|&(which, op)| {
            let mut q = p.clone();
            for (k, &i) in mats.iter().enumerate() {
                if which.is_none() || which == Some(k) {
                    q.t[i] = apply(op, &w64[k], &factors[k], &init.t[i]);
                }
            }
            mean_loss(&q, valid)
        })
        .collect();

    let rows: Vec<LmTruthRow> = jobs
        .iter()
        .zip(&losses)
        .map(|(&(which, op), &l)| {
            let (kind, value) = match (which, op) {
                (Some(_), Op::Rank(r)) => ("rank", r as u64),
                (Some(_), Op::Bits(b)) => ("bits", b as u64),
                (_, Op::Reset) => ("reset", 0),
                (None, Op::Rank(r)) => ("all-rank", r as u64),
                (None, Op::Bits(b)) => ("all-bits", b as u64),
            };
            LmTruthRow {
                matrix: which.map_or("*".to_string(), |k| names[mats[k]].clone()),
                kind: kind.into(),
                value,
                test_loss: l,
                dl: l - base,
                dl_rel: (l - base) / base,
            }
        })
        .collect();
    let summary = summarise(&rows, &mats, &names, p, &grid, last);
    Ok((rows, summary))
}

fn summarise(
    rows: &[LmTruthRow],
    mats: &[usize],
    names: &[String],
    p: &Params<f32>,
    grid: &[usize],
    last: &SnapshotLoss,
) -> CompressionSummary {
    let find = |m: &str, kind: &str, v: u64| {
        rows.iter()
            .find(|r| r.matrix == m && r.kind == kind && r.value == v)
            .map_or(f64::NAN, |r| r.dl)
    };
    let matrices = mats
        .iter()
        .map(|&i| {
            let (name, w) = (&names[i], &p.t[i]);
            let full = w.nrows().min(w.ncols());
            MatrixSummary {
                name: name.clone(),
                shape: [w.nrows(), w.ncols()],
                rank_dl: grid
                    .iter()
                    .map(|&r| find(name, "rank", r.min(full) as u64))
                    .collect(),
                bits_dl: BITS.iter().map(|&b| find(name, "bits", b as u64)).collect(),
                reset_dl: find(name, "reset", 0),
            }
        })
        .collect();
    CompressionSummary {
        file: last.file.clone(),
        step: last.step,
        test_loss: last.test_loss,
        ranks: grid.to_vec(),
        bits: BITS.to_vec(),
        matrices,
        all_rank_dl: grid
            .iter()
            .map(|&r| find("*", "all-rank", r as u64))
            .collect(),
        all_bits_dl: BITS
            .iter()
            .map(|&b| find("*", "all-bits", b as u64))
            .collect(),
    }
}

/// The whole-model rows as compression.csv rows of the last snapshot
/// (`rank`: every matrix truncated to r, as the MLP's rows are;
/// `quant_channel`: every matrix quantized per output channel), so that
/// `compare RUN` reads them as it reads a teacher run's.
pub(crate) fn compression_rows(
    rows: &[LmTruthRow],
    snapshot: usize,
    last: &SnapshotLoss,
) -> Vec<CompressionRow> {
    rows.iter()
        .filter_map(|r| {
            let kind = match r.kind.as_str() {
                "all-rank" => "rank",
                "all-bits" => "quant_channel",
                _ => return None,
            };
            Some(CompressionRow {
                snapshot,
                step: last.step,
                kind: kind.into(),
                param: r.value,
                test_loss: r.test_loss,
                delta_loss: r.dl,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_grid_is_powers_of_two_then_full() {
        assert_eq!(ranks(64), vec![1, 2, 4, 8, 16, 32, 64]);
        assert_eq!(ranks(48), vec![1, 2, 4, 8, 16, 32, 48]);
        assert_eq!(ranks(1), vec![1]);
    }
}
