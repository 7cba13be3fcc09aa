//! What a part records per matrix, and the conversions both ways between
//! `analysis::Measured` and these records. A record holds exactly what
//! `analysis::assemble_plan` consumes: the spectrum (eigenvalues, smallest
//! singular value, ‖W‖²_F, Krylov convergence, per-channel ranges),
//! Diffract's columns (a permuted null's spectrum and the tail fits: the
//! costly ones), the init σ, and for `predict` the ranges under the
//! requested quantizer. A failure is
//! kept as its message (`FailureCause::Recorded`), which is all any report
//! shows of it.

use super::ShardError;
use super::part::{Num, floats, nums};
use crate::analysis::{EngineInfo, Measured, init::InitSigmas};
use crate::backend::AdapterSummary;
use crate::fit::diffract::{DiffractError, DiffractMetrics};
use crate::load::quant::{RangeStats, ZERO_LEVEL_BITS, ZeroLevel};
use crate::pipeline::{FailureCause, Job, MatrixFailure, Method, Outcome};
use crate::spectrum::SpectrumError;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One matrix of a part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnitRecord {
    /// Position in the whole run's plan.
    pub index: usize,
    pub name: String,
    pub tensor: String,
    pub file: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    /// The method that ran (`exact`, `lanczos`, …).
    pub method: String,
    /// The spectrum, or the message of why there is none.
    pub spectrum: Result<SpectrumRecord, String>,
    /// Diffract's columns (single-view full spectra).
    #[serde(default)]
    pub diffract: Option<Result<DiffractColumns, DiffractRecord>>,
    #[serde(default)]
    pub sigma_init: Option<Num>,
    /// The init snapshot had no usable tensor for this matrix.
    #[serde(default)]
    pub init_warning: Option<String>,
    /// `predict`: the weights' ranges under the requested quantizer.
    #[serde(default)]
    pub quant_ranges: Option<RangesRecord>,
    /// Why `auto` took the method it did, or fell back from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl UnitRecord {
    /// Why the matrix has no spectrum, worded as the run that measured it
    /// words it.
    pub fn failure(&self) -> Option<String> {
        let cause = self.spectrum.as_ref().err()?;
        Some(
            MatrixFailure {
                file: PathBuf::from(&self.file),
                tensor: self.tensor.clone(),
                cause: FailureCause::Recorded(cause.clone()),
            }
            .to_string(),
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpectrumRecord {
    pub evals: Vec<Num>,
    pub sv_min: Num,
    pub frob2: Option<Num>,
    pub converged: Option<Vec<bool>>,
    pub ranges: Option<RangesRecord>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct RangesRecord {
    pub entries: u64,
    pub groups: u64,
    pub sum_n_range2: Num,
    /// `ZeroLevel`: per bit width B = 2, 3, …, the entries that round to
    /// zero (Σ w² and Σ range²).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero: Option<ZeroRecord>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ZeroRecord {
    pub small_sq: [Num; ZERO_LEVELS],
    pub small_range2: [Num; ZERO_LEVELS],
}

/// Bit widths a `ZeroLevel` covers.
const ZERO_LEVELS: usize = (*ZERO_LEVEL_BITS.end() - *ZERO_LEVEL_BITS.start() + 1) as usize;

impl From<RangeStats> for RangesRecord {
    fn from(r: RangeStats) -> RangesRecord {
        RangesRecord {
            entries: r.entries,
            groups: r.groups,
            sum_n_range2: Num(r.sum_n_range2),
            zero: r.zero.map(|z| ZeroRecord {
                small_sq: z.small_sq.map(Num),
                small_range2: z.small_range2.map(Num),
            }),
        }
    }
}

impl From<RangesRecord> for RangeStats {
    fn from(r: RangesRecord) -> RangeStats {
        RangeStats {
            entries: r.entries,
            groups: r.groups,
            sum_n_range2: r.sum_n_range2.0,
            zero: r.zero.map(|z| ZeroLevel {
                small_sq: z.small_sq.map(|n| n.0),
                small_range2: z.small_range2.map(|n| n.0),
            }),
        }
    }
}

/// `DiffractMetrics`, field for field.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiffractColumns {
    pub greater_dim: usize,
    pub lower_dim: usize,
    pub esd_max: Num,
    pub esd_min: Num,
    pub effective_rank: Num,
    pub hard_rank: usize,
    pub weights_std: Option<Num>,
    pub mp_bulk_std: Option<Num>,
    pub mp_esd_max: Option<Num>,
    pub mp_esd_min: Option<Num>,
    pub mp_num_spikes: Option<usize>,
    pub mp_soft_rank: Option<Num>,
    pub mp_ks: Option<Num>,
    pub mp_concentration: Option<Num>,
    pub mp_presence: Option<Num>,
    pub tw_esd_bound: Option<Num>,
    pub tw_num_spikes: Option<usize>,
    pub expon_lambda: Option<Num>,
    pub expon_esd_xmin: Option<Num>,
    pub expon_ks: Option<Num>,
    pub tpl_alpha: Option<Num>,
    pub tpl_lambda: Option<Num>,
    pub tpl_esd_xmin: Option<Num>,
    pub tpl_ks: Option<Num>,
}

fn num(x: Option<f64>) -> Option<Num> {
    x.map(Num)
}

fn float(x: Option<Num>) -> Option<f64> {
    x.map(|n| n.0)
}

impl From<&DiffractMetrics> for DiffractColumns {
    fn from(d: &DiffractMetrics) -> DiffractColumns {
        DiffractColumns {
            greater_dim: d.greater_dim,
            lower_dim: d.lower_dim,
            esd_max: Num(d.esd_max),
            esd_min: Num(d.esd_min),
            effective_rank: Num(d.effective_rank),
            hard_rank: d.hard_rank,
            weights_std: num(d.weights_std),
            mp_bulk_std: num(d.mp_bulk_std),
            mp_esd_max: num(d.mp_esd_max),
            mp_esd_min: num(d.mp_esd_min),
            mp_num_spikes: d.mp_num_spikes,
            mp_soft_rank: num(d.mp_soft_rank),
            mp_ks: num(d.mp_ks),
            mp_concentration: num(d.mp_concentration),
            mp_presence: num(d.mp_presence),
            tw_esd_bound: num(d.tw_esd_bound),
            tw_num_spikes: d.tw_num_spikes,
            expon_lambda: num(d.expon_lambda),
            expon_esd_xmin: num(d.expon_esd_xmin),
            expon_ks: num(d.expon_ks),
            tpl_alpha: num(d.tpl_alpha),
            tpl_lambda: num(d.tpl_lambda),
            tpl_esd_xmin: num(d.tpl_esd_xmin),
            tpl_ks: num(d.tpl_ks),
        }
    }
}

impl From<DiffractColumns> for DiffractMetrics {
    fn from(d: DiffractColumns) -> DiffractMetrics {
        DiffractMetrics {
            greater_dim: d.greater_dim,
            lower_dim: d.lower_dim,
            esd_max: d.esd_max.0,
            esd_min: d.esd_min.0,
            effective_rank: d.effective_rank.0,
            hard_rank: d.hard_rank,
            weights_std: float(d.weights_std),
            mp_bulk_std: float(d.mp_bulk_std),
            mp_esd_max: float(d.mp_esd_max),
            mp_esd_min: float(d.mp_esd_min),
            mp_num_spikes: d.mp_num_spikes,
            mp_soft_rank: float(d.mp_soft_rank),
            mp_ks: float(d.mp_ks),
            mp_concentration: float(d.mp_concentration),
            mp_presence: float(d.mp_presence),
            tw_esd_bound: float(d.tw_esd_bound),
            tw_num_spikes: d.tw_num_spikes,
            expon_lambda: float(d.expon_lambda),
            expon_esd_xmin: float(d.expon_esd_xmin),
            expon_ks: float(d.expon_ks),
            tpl_alpha: float(d.tpl_alpha),
            tpl_lambda: float(d.tpl_lambda),
            tpl_esd_xmin: float(d.tpl_esd_xmin),
            tpl_ks: float(d.tpl_ks),
        }
    }
}

/// `DiffractError`, variant for variant (the permuted null's spectrum runs
/// on the CPU, so its error is never a GPU one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum DiffractRecord {
    Shape {
        len: usize,
        n: usize,
        m: usize,
    },
    BadEigenvalue {
        index: usize,
        value: Num,
    },
    NonFinite {
        tensor: String,
        count: usize,
    },
    Spectrum {
        tensor: String,
        source: SpectrumRecordError,
    },
}

/// `SpectrumError` of a CPU solve.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SpectrumRecordError {
    NonFinite { count: usize },
    NoConvergence,
    OutOfRange { max_abs: Num },
    TraceMismatch { sum: Num, frob2: Num, gap: Num },
}

impl DiffractRecord {
    fn of(e: &DiffractError) -> Result<DiffractRecord, ShardError> {
        Ok(match e {
            DiffractError::Shape { len, n, m } => DiffractRecord::Shape {
                len: *len,
                n: *n,
                m: *m,
            },
            DiffractError::BadEigenvalue { index, value } => DiffractRecord::BadEigenvalue {
                index: *index,
                value: Num(*value),
            },
            DiffractError::NonFinite { tensor, count } => DiffractRecord::NonFinite {
                tensor: tensor.clone(),
                count: *count,
            },
            DiffractError::Spectrum { tensor, source } => {
                let source = match source {
                    SpectrumError::NonFinite { count } => {
                        SpectrumRecordError::NonFinite { count: *count }
                    }
                    SpectrumError::NoConvergence => SpectrumRecordError::NoConvergence,
                    SpectrumError::OutOfRange { max_abs } => SpectrumRecordError::OutOfRange {
                        max_abs: Num(*max_abs),
                    },
                    SpectrumError::TraceMismatch { sum, frob2, gap } => {
                        SpectrumRecordError::TraceMismatch {
                            sum: Num(*sum),
                            frob2: Num(*frob2),
                            gap: Num(*gap),
                        }
                    }
                    SpectrumError::Backend(b) => {
                        return Err(ShardError::Unrecordable {
                            tensor: tensor.clone(),
                            what: format!("a GPU error of the permuted null ({b})"),
                        });
                    }
                };
                DiffractRecord::Spectrum {
                    tensor: tensor.clone(),
                    source,
                }
            }
        })
    }

    fn error(self) -> DiffractError {
        match self {
            DiffractRecord::Shape { len, n, m } => DiffractError::Shape { len, n, m },
            DiffractRecord::BadEigenvalue { index, value } => DiffractError::BadEigenvalue {
                index,
                value: value.0,
            },
            DiffractRecord::NonFinite { tensor, count } => {
                DiffractError::NonFinite { tensor, count }
            }
            DiffractRecord::Spectrum { tensor, source } => DiffractError::Spectrum {
                tensor,
                source: match source {
                    SpectrumRecordError::NonFinite { count } => SpectrumError::NonFinite { count },
                    SpectrumRecordError::NoConvergence => SpectrumError::NoConvergence,
                    SpectrumRecordError::OutOfRange { max_abs } => {
                        SpectrumError::OutOfRange { max_abs: max_abs.0 }
                    }
                    SpectrumRecordError::TraceMismatch { sum, frob2, gap } => {
                        SpectrumError::TraceMismatch {
                            sum: sum.0,
                            frob2: frob2.0,
                            gap: gap.0,
                        }
                    }
                },
            },
        }
    }
}

/// What computed a part's spectra.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineRecord {
    pub gpu: Option<AdapterRecord>,
    pub threads: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdapterRecord {
    pub name: String,
    pub api: String,
    pub device_type: String,
    pub driver: String,
    pub software: bool,
}

impl EngineRecord {
    pub fn of(e: &EngineInfo) -> EngineRecord {
        EngineRecord {
            gpu: e.gpu.as_ref().map(|g| AdapterRecord {
                name: g.name.clone(),
                api: g.api.clone(),
                device_type: g.device_type.clone(),
                driver: g.driver.clone(),
                software: g.software,
            }),
            threads: e.threads,
        }
    }

    /// The engine of a merged run: this record's adapter and threads, and
    /// the methods that ran over `outcomes`, ordered as an analysis orders
    /// them (by name, deduplicated).
    pub fn info(&self, outcomes: &[Outcome]) -> EngineInfo {
        let mut methods: Vec<Method> = outcomes.iter().map(|o| o.method).collect();
        methods.sort_by_key(|m| m.as_str());
        methods.dedup();
        EngineInfo {
            method_notes: crate::analysis::method_notes(outcomes),
            gpu: self.gpu.as_ref().map(|g| AdapterSummary {
                name: g.name.clone(),
                api: g.api.clone(),
                device_type: g.device_type.clone(),
                driver: g.driver.clone(),
                software: g.software,
            }),
            threads: self.threads,
            methods,
        }
    }
}

/// One snapshot of a `compare` part: its matrices, in its plan's order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// Position in the series.
    pub index: usize,
    pub path: String,
    pub matrices: Vec<UnitRecord>,
}

/// The records of a measured sub-plan: `indices[k]` is the whole run's
/// position of `jobs[k]`; `quant[k]`, `predict`'s quantizer ranges.
/// `init`: an init snapshot was given, so each matrix without an init σ
/// has exactly one warning, in job order (`analysis::init::sigmas`).
pub fn records(
    indices: &[usize],
    jobs: &[Job],
    m: Measured,
    init: bool,
    quant: Option<Vec<Option<RangeStats>>>,
) -> Result<Vec<UnitRecord>, ShardError> {
    let missing = m.sigmas.values.iter().filter(|s| s.is_none()).count();
    if init && missing != m.sigmas.warnings.len() {
        return Err(ShardError::Input(format!(
            "{missing} matrices lack an init σ but {} warnings say why",
            m.sigmas.warnings.len()
        )));
    }
    let mut warnings = m.sigmas.warnings.into_iter();
    let mut quant = quant.map(Vec::into_iter);
    let mut out = Vec::with_capacity(jobs.len());
    for (k, ((out_k, diffract), sigma)) in m
        .outcomes
        .into_iter()
        .zip(m.diffract)
        .zip(m.sigmas.values)
        .enumerate()
    {
        let init_warning = if init && sigma.is_none() {
            warnings.next()
        } else {
            None
        };
        let diffract = diffract
            .map(|d| match d {
                Ok(d) => Ok(Ok(DiffractColumns::from(&d))),
                Err(e) => DiffractRecord::of(&e).map(Err),
            })
            .transpose()?;
        out.push(UnitRecord {
            index: indices[k],
            name: jobs[k].spec.name.clone(),
            tensor: out_k.tensor,
            file: out_k.file.display().to_string(),
            dtype: out_k.dtype,
            shape: out_k.shape,
            method: out_k.method.as_str().to_string(),
            note: out_k.note,
            spectrum: match out_k.evals {
                Ok(evals) => Ok(SpectrumRecord {
                    evals: nums(&evals),
                    sv_min: Num(out_k.sv_min),
                    frob2: out_k.frob2.map(Num),
                    converged: out_k.converged,
                    ranges: out_k.channel_ranges.map(RangesRecord::from),
                }),
                Err(e) => Err(e.cause.to_string()),
            },
            diffract,
            sigma_init: sigma.map(Num),
            init_warning,
            quant_ranges: quant
                .as_mut()
                .and_then(Iterator::next)
                .flatten()
                .map(RangesRecord::from),
        });
    }
    Ok(out)
}

/// `Measured` for `jobs` (a whole plan) from their records (`records[i]`
/// is job i's), with the engine of `engine`.
pub fn measured(
    jobs: &[Job],
    records: Vec<UnitRecord>,
    engine: &EngineRecord,
) -> Result<Measured, ShardError> {
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut diffract = Vec::with_capacity(jobs.len());
    let mut sigmas = InitSigmas::default();
    for (job, r) in jobs.iter().zip(records) {
        let method = Method::from_str(&r.method, false).map_err(|_| {
            ShardError::Input(format!(
                "matrix `{}`: unknown method `{}`",
                r.name, r.method
            ))
        })?;
        let file = PathBuf::from(&r.file);
        let mut out = Outcome::empty(
            job,
            r.tensor.clone(),
            file.clone(),
            r.dtype,
            r.shape,
            method,
        );
        out.note = r.note;
        match r.spectrum {
            Ok(s) => {
                out.evals = Ok(floats(s.evals));
                out.sv_min = s.sv_min.0;
                out.frob2 = s.frob2.map(|n| n.0);
                out.converged = s.converged;
                out.channel_ranges = s.ranges.map(RangeStats::from);
            }
            Err(cause) => {
                out.evals = Err(MatrixFailure {
                    file,
                    tensor: r.tensor,
                    cause: FailureCause::Recorded(cause),
                });
            }
        }
        outcomes.push(out);
        diffract.push(r.diffract.map(|d| match d {
            Ok(d) => Ok(DiffractMetrics::from(d)),
            Err(e) => Err(e.error()),
        }));
        sigmas.values.push(r.sigma_init.map(|n| n.0));
        sigmas.warnings.extend(r.init_warning);
    }
    Ok(Measured {
        engine: engine.info(&outcomes),
        outcomes,
        diffract,
        sigmas,
    })
}
