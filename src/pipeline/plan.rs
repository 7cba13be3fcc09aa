//! Which matrices a run analyses, in which order, under which names and
//! layer ids: the default plan, and the peer tool's (`--preset
//! weightwatcher`, docs/weightwatcher-compat.md §1).

use crate::load::{Checkpoint, ConvMode, LoadError, MatrixSpec, RuleKind, TensorPlan, plan_tensor};
use regex::Regex;

/// Which tensors become matrices, and how.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub include: Option<Regex>,
    pub exclude: Option<Regex>,
    pub conv: ConvMode,
    pub preset: Preset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Every matrix the rules produce, in natural name order.
    #[default]
    Default,
    /// The peer tool WeightWatcher's layer selection, ids and order.
    Weightwatcher,
}

impl Selection {
    /// The tensor name passes `--include` / `--exclude`.
    pub fn wants(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|r| r.is_match(name))
            && !self.exclude.as_ref().is_some_and(|r| r.is_match(name))
    }
}

/// One matrix to analyse.
#[derive(Debug, Clone)]
pub struct Job {
    pub spec: MatrixSpec,
    /// Index into `Checkpoint::tensors`.
    pub tensor: usize,
    pub layer_id: usize,
    /// `dense`, `expert`, `conv1d`, `conv2d`, … (the peer's column).
    pub layer_type: String,
    /// N, M and rf as reported (the peer's definitions; N ≥ M except for
    /// the peer's own conv quirk reproduced under its preset).
    pub n: usize,
    pub m: usize,
    pub rf: usize,
}

/// A tensor that yields no matrix, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    pub tensor: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub reason: String,
    /// The tensor was meant to be analysed and could not be (as opposed to
    /// a tensor that is not a weight matrix).
    pub failed: bool,
}

/// Matrices to analyse and tensors left out.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub jobs: Vec<Job>,
    pub skipped: Vec<Skipped>,
}

impl Plan {
    /// Bytes of the tensors the jobs read.
    pub fn total_bytes(&self, ck: &Checkpoint) -> u64 {
        let mut seen = std::collections::BTreeSet::new();
        self.jobs
            .iter()
            .filter(|j| seen.insert(j.tensor))
            .map(|j| ck.tensors[j.tensor].header.bytes.len() as u64)
            .sum()
    }
}

/// The layer name the peer shows: the tensor name without `.weight`.
pub fn base_name(tensor: &str) -> &str {
    tensor.strip_suffix(".weight").unwrap_or(tensor)
}

fn layer_type(rule: RuleKind, ndim: usize) -> String {
    match rule {
        RuleKind::Matrix => "dense".into(),
        RuleKind::Expert => "expert".into(),
        _ => format!("conv{}d", ndim - 2),
    }
}

fn skipped(ck: &Checkpoint, i: usize, reason: String, failed: bool) -> Skipped {
    let h = &ck.tensors[i].header;
    Skipped {
        tensor: h.name.clone(),
        dtype: h.dtype.to_string(),
        shape: h.shape.clone(),
        reason,
        failed,
    }
}

/// A tensor's load problem as a skip: integer tensors quietly, anything else
/// that cannot be read as a failure.
fn problem_skip(ck: &Checkpoint, i: usize, p: &LoadError) -> Skipped {
    let t = &ck.tensors[i];
    let failed =
        !(matches!(p, LoadError::UnsupportedDtype { .. }) && t.header.dtype.is_non_float());
    skipped(ck, i, p.to_string(), failed)
}

/// Applies the selection and the rules to every tensor.
pub fn plan(ck: &Checkpoint, sel: &Selection) -> Plan {
    match sel.preset {
        Preset::Default => plan_default(ck, sel),
        Preset::Weightwatcher => plan_weightwatcher(ck, sel),
    }
}

fn plan_default(ck: &Checkpoint, sel: &Selection) -> Plan {
    let mut plan = Plan::default();
    for (i, t) in ck.tensors.iter().enumerate() {
        let h = &t.header;
        if !sel.wants(&h.name) {
            continue;
        }
        if let Some(p) = t.problem() {
            plan.skipped.push(problem_skip(ck, i, p));
            continue;
        }
        match plan_tensor(&h.name, base_name(&h.name), &h.dtype, &h.shape, sel.conv) {
            TensorPlan::Matrices(specs) => {
                for spec in specs {
                    let (n, m) = (spec.n(), spec.m());
                    let rf = if spec.rule == RuleKind::ConvPooled {
                        spec.views.len()
                    } else {
                        1
                    };
                    plan.jobs.push(Job {
                        layer_id: plan.jobs.len(),
                        layer_type: layer_type(spec.rule, h.shape.len()),
                        spec,
                        tensor: i,
                        n,
                        m,
                        rf,
                    });
                }
            }
            TensorPlan::Skip(reason) => plan.skipped.push(skipped(ck, i, reason, false)),
        }
    }
    plan
}

/// The peer's filter (`min_evals`, `max_evals`, `max_N`).
const WW_MIN_EVALS: usize = 8;
const WW_MAX_EVALS: usize = 15000;
const WW_MAX_N: usize = 50000;

/// The peer's walk: `.weight` keys only, each taking a layer id from 0
/// whether analysed or not; byte-wise name order per file (files in name
/// order), or the index's order for a sharded checkpoint; 2-D tensors with
/// a first side ≥ 2 are dense, 4-D are conv2d, everything else is ignored;
/// then 8 ≤ M·rf ≤ 15000 and N ≤ 50000.
fn plan_weightwatcher(ck: &Checkpoint, sel: &Selection) -> Plan {
    let by_name: std::collections::HashMap<&str, usize> = ck
        .tensors
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name(), i))
        .collect();
    // (tensor index, layer id) in the peer's order.
    let mut walk: Vec<(usize, usize)> = Vec::new();
    if let Some(order) = &ck.index_order {
        let weights = order.iter().filter(|n| n.ends_with(".weight"));
        for (id, name) in weights.enumerate() {
            if let Some(&i) = by_name.get(name.as_str()) {
                walk.push((i, id));
            }
        }
    } else {
        // Files in path order, names byte-wise within each. The peer's id
        // offset for a file grows by the running total of ids already
        // handed out (so a third file skips ahead); reproduced as is.
        let (mut start, mut yielded) = (0usize, 0usize);
        for f in 0..ck.files.len() {
            let mut names: Vec<usize> = (0..ck.tensors.len())
                .filter(|&i| {
                    ck.tensors[i].file == Some(f) && ck.tensors[i].name().ends_with(".weight")
                })
                .collect();
            names.sort_by(|&a, &b| ck.tensors[a].name().cmp(ck.tensors[b].name()));
            start += yielded;
            for (k, i) in names.iter().enumerate() {
                walk.push((*i, start + k));
            }
            yielded += names.len();
        }
    }
    let mut plan = Plan::default();
    for (i, layer_id) in walk {
        let t = &ck.tensors[i];
        let h = &t.header;
        if !sel.wants(&h.name) {
            continue;
        }
        let shape = &h.shape;
        let dense = shape.len() == 2 && shape[0] >= 2;
        let conv = shape.len() == 4 && shape[0] >= 2;
        if !dense && !conv {
            let why = format!(
                "{}-D tensor {shape:?}: not a dense or conv2d layer for the peer",
                shape.len()
            );
            plan.skipped.push(skipped(ck, i, why, false));
            continue;
        }
        if let Some(p) = t.problem() {
            plan.skipped.push(problem_skip(ck, i, p));
            continue;
        }
        let conv_mode = ConvMode::Pooled;
        let TensorPlan::Matrices(mut specs) =
            plan_tensor(&h.name, base_name(&h.name), &h.dtype, shape, conv_mode)
        else {
            plan.skipped
                .push(skipped(ck, i, "not a matrix".into(), false));
            continue;
        };
        let spec = specs.remove(0);
        let (n, m, rf, layer_type) = if dense {
            (spec.n(), spec.m(), 1, "dense")
        } else {
            // The peer starts from N = out, M = in and swaps them once per
            // slice it transposes (out < in): an even kernel size leaves
            // them swapped. Only N, M and Q show it.
            let (out, inp, k) = (shape[0], shape[1], shape[2] * shape[3]);
            let swapped = out < inp && k % 2 == 1;
            let (n, m) = if swapped { (inp, out) } else { (out, inp) };
            (n, m, k, "conv2d")
        };
        if m * rf < WW_MIN_EVALS || m * rf > WW_MAX_EVALS || n > WW_MAX_N {
            let why = format!(
                "outside the peer's size filter ({WW_MIN_EVALS} ≤ M·rf ≤ {WW_MAX_EVALS}, N ≤ {WW_MAX_N}): M·rf = {}, N = {n}",
                m * rf
            );
            plan.skipped.push(skipped(ck, i, why, false));
            continue;
        }
        plan.jobs.push(Job {
            spec,
            tensor: i,
            layer_id,
            layer_type: layer_type.into(),
            n,
            m,
            rf,
        });
    }
    plan
}
