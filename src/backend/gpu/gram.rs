//! The Gram on the GPU for the exact path: G = AᵀA in f32 over lower
//! tiles, the long side cut into slices (split-K, for parallelism and
//! accuracy) whose partial Grams are summed pairwise on the GPU, then read
//! back as the lower triangle in f64 for the CPU eigen-solver.

use super::context::{Batch, GpuContext};
use super::shaders::Program;
use super::upload::{self, UploadPlan};
use crate::backend::BackendError;
use crate::load::MatrixData;
use crate::spectrum::SpectrumError;
use faer::Mat;
use std::ops::Range;

/// Output tile side of gram.wgsl.
const TILE: usize = 128;
/// Aim for at least this many workgroups per Gram (tiles × slices), so a
/// large GPU is full even when M is small.
const TARGET_GROUPS: usize = 2048;
/// Never cut a slice shorter than this many rows of the long side.
const MIN_SLICE: usize = 512;
/// Bytes of partial Grams kept at once; more slices accumulate in turn.
const PARTIAL_BYTES: u64 = 256 << 20;

/// A Gram formed on the GPU.
#[derive(Debug, Clone)]
pub struct GpuGram {
    /// M×M; the lower triangle holds G (f32 values widened to f64).
    pub lower: Mat<f64>,
    /// ‖W‖²_F in f64 from the host.
    pub frob2: f64,
    /// tr G of the f32 Gram, summed in f64.
    pub trace: f64,
    /// Slices of the long side (partial Grams before the pairwise sum).
    pub slices: usize,
    /// Blocks the weights were uploaded in (more than one: the matrix
    /// exceeded one storage binding).
    pub blocks: usize,
    /// Wall-clock seconds: host ‖W‖²_F and uploads; GPU work after the
    /// last upload (tiles and pairwise sums); read-back and widening.
    pub seconds: GramSeconds,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GramSeconds {
    pub upload: f64,
    pub kernel: f64,
    pub readback: f64,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GramParams {
    m: u32,
    k0: u32,
    k1: u32,
    ld: u32,
    accumulate: u32,
    tiles: u32,
    pad: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct SumParams {
    pub n: u32,
    pub parts: u32,
    pub stride: u32,
    pub accumulate: u32,
    pub dst_off: u32,
    pub src_off: u32,
    pub pad: [u32; 2],
}

/// Slices (block index, k0, k1 within the block) of the long side.
fn slices(plan: &UploadPlan) -> Vec<(usize, usize, usize)> {
    let tiles = plan.m.div_ceil(TILE);
    let pairs = tiles * (tiles + 1) / 2;
    let want = TARGET_GROUPS
        .div_ceil(pairs)
        .clamp(1, (plan.long / MIN_SLICE).max(1));
    let mut out = Vec::new();
    for (bi, b) in plan.blocks.iter().enumerate() {
        let n = ((want * b.len()).div_ceil(plan.long)).clamp(1, b.len().max(1));
        let step = b.len().div_ceil(n);
        let mut k = 0;
        while k < b.len() {
            let e = (k + step).min(b.len());
            out.push((bi, k, e));
            k = e;
        }
    }
    out
}

/// The shape of one Gram's work: its side, the slices of the long side and
/// how many partial Grams they accumulate into.
struct GramLayout {
    m: usize,
    gram_bytes: u64,
    slices: Vec<(usize, usize, usize)>,
    partials: usize,
    tiles: usize,
    /// Lower tile pairs: the workgroups of one slice.
    pairs: u64,
}

impl GramLayout {
    /// Slices `plan`'s long side; more slices than fit in
    /// [`PARTIAL_BYTES`] of partial Grams (`gram_bytes` each) accumulate
    /// in turn.
    fn new(plan: &UploadPlan, gram_bytes: u64) -> Self {
        let m = plan.m;
        let slices = slices(plan);
        let partials = slices
            .len()
            .min((PARTIAL_BYTES / gram_bytes).max(1) as usize);
        let tiles = m.div_ceil(TILE);
        let pairs = (tiles * (tiles + 1) / 2) as u64;
        GramLayout {
            m,
            gram_bytes,
            slices,
            partials,
            tiles,
            pairs,
        }
    }
}

/// The device buffers of one Gram.
struct GramBuffers {
    /// One block of weights at a time.
    weights: wgpu::Buffer,
    /// The partial Grams; the pairwise sum leaves G in the first.
    parts: Vec<wgpu::Buffer>,
    readback: wgpu::Buffer,
}

impl GpuContext {
    /// G = AᵀA of one matrix (A its tall orientation). Weights with NaN or
    /// Inf are a [`SpectrumError::NonFinite`], as on the CPU; a GPU failure
    /// or a Gram whose trace misses ‖W‖²_F is a [`BackendError`]. `done`
    /// is told which tensor bytes were uploaded (their pages can go).
    pub fn gram(
        &self,
        data: &MatrixData,
        done: impl FnMut(Range<usize>),
    ) -> Result<GpuGram, SpectrumError> {
        let t0 = std::time::Instant::now();
        let (frob2, bad) = upload::host_frob2(data);
        if bad > 0 {
            return Err(SpectrumError::NonFinite { count: bad });
        }
        let plan = upload::plan(data, self.max_binding())?;
        let _guard = self.exclusive.lock().unwrap_or_else(|e| e.into_inner());
        let m = plan.m;
        let gram_bytes = (m * m * 4) as u64;
        self.check_binding(&format!("the {m}×{m} f32 Gram"), gram_bytes)?;
        let lay = GramLayout::new(&plan, gram_bytes);
        let bufs = self.gram_buffers(&plan, &lay)?;
        let t_upload = self.gram_tiles(data, &plan, &lay, &bufs, t0, done)?;
        self.gram_pairwise_sum(&lay, &bufs.parts)?;
        self.wait("gram: tiles")?;
        let t_kernel = t0.elapsed().as_secs_f64();
        let (lower, trace) = self.gram_read_back(&lay, &bufs)?;
        check_trace(&lay, trace, frob2)?;
        let t_all = t0.elapsed().as_secs_f64();
        Ok(GpuGram {
            lower,
            frob2,
            trace,
            slices: lay.slices.len(),
            blocks: plan.blocks.len(),
            seconds: GramSeconds {
                upload: t_upload,
                kernel: t_kernel - t_upload,
                readback: t_all - t_kernel,
            },
        })
    }

    /// Allocates the weights buffer (the largest block), the partial Grams
    /// and the read-back buffer.
    fn gram_buffers(
        &self,
        plan: &UploadPlan,
        lay: &GramLayout,
    ) -> Result<GramBuffers, BackendError> {
        let storage = wgpu::BufferUsages::STORAGE;
        self.scoped("gram: buffers", || {
            let w = self.buffer(
                "gram.weights",
                plan.max_block_bytes(),
                storage | wgpu::BufferUsages::COPY_DST,
            );
            let p: Vec<wgpu::Buffer> = (0..lay.partials)
                .map(|i| {
                    self.buffer(
                        &format!("gram.partial.{i}"),
                        lay.gram_bytes,
                        storage | wgpu::BufferUsages::COPY_SRC,
                    )
                })
                .collect();
            let r = self.buffer(
                "gram.readback",
                lay.gram_bytes,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            );
            GramBuffers {
                weights: w,
                parts: p,
                readback: r,
            }
        })
    }

    /// Uploads the weights block by block and dispatches each block's
    /// slices into the partial Grams; returns the upload seconds (timed
    /// alone only when there is one block, else 0).
    fn gram_tiles(
        &self,
        data: &MatrixData,
        plan: &UploadPlan,
        lay: &GramLayout,
        bufs: &GramBuffers,
        t0: std::time::Instant,
        mut done: impl FnMut(Range<usize>),
    ) -> Result<f64, BackendError> {
        let pipeline = self.scoped("gram: pipeline", || {
            self.pipeline(Program::Gram, "gram_tiles", plan.dtype, plan.layout())
        })?;
        let mut next = 0;
        let mut t_upload = 0.0;
        for (bi, b) in plan.blocks.iter().enumerate() {
            let (bytes, range) = upload::block_bytes(data, plan, b);
            self.scoped("gram: upload", || {
                self.queue.write_buffer(&bufs.weights, 0, &bytes);
                if plan.blocks.len() == 1 {
                    // flush the staged write so the upload is timed alone
                    self.queue.submit([]);
                }
            })?;
            if plan.blocks.len() == 1 {
                self.wait("gram: upload")?;
                t_upload = t0.elapsed().as_secs_f64();
            }
            drop(bytes);
            let mut batch = Batch::new(self, "gram: tiles");
            for &(_, k0, k1) in lay.slices.iter().filter(|s| s.0 == bi) {
                let p = next % lay.partials;
                let params = GramParams {
                    m: lay.m as u32,
                    k0: k0 as u32,
                    k1: k1 as u32,
                    ld: b.ld as u32,
                    accumulate: (next >= lay.partials) as u32,
                    tiles: lay.tiles as u32,
                    pad: [0; 2],
                };
                batch.dispatch(
                    &pipeline,
                    vec![
                        (0, bufs.weights.clone(), 0, Some(plan.block_bytes(b))),
                        (1, bufs.parts[p].clone(), 0, Some(lay.gram_bytes)),
                    ],
                    2,
                    &params,
                    lay.pairs,
                );
                next += 1;
            }
            batch.submit()?;
            if let Some(r) = range {
                done(r);
            }
        }
        Ok(t_upload)
    }

    /// Pairwise tree over the partial Grams: level s adds partial i + s
    /// into partial i for i a multiple of 2s, leaving G in `parts[0]`.
    fn gram_pairwise_sum(
        &self,
        lay: &GramLayout,
        parts: &[wgpu::Buffer],
    ) -> Result<(), BackendError> {
        let (m, partials, gram_bytes) = (lay.m, lay.partials, lay.gram_bytes);
        let add = self.scoped("gram: pipeline", || {
            self.pipeline(Program::Sum, "add_into", 0, 0)
        })?;
        let mut batch = Batch::new(self, "gram: pairwise sum");
        let n = (m * m) as u64;
        let mut s = 1;
        while s < partials {
            for i in (0..partials).step_by(2 * s) {
                if i + s < partials {
                    let params = SumParams {
                        n: n as u32,
                        parts: 0,
                        stride: 0,
                        accumulate: 1,
                        dst_off: 0,
                        src_off: 0,
                        pad: [0; 2],
                    };
                    batch.dispatch(
                        &add,
                        vec![
                            (0, parts[i].clone(), 0, Some(gram_bytes)),
                            (1, parts[i + s].clone(), 0, Some(gram_bytes)),
                        ],
                        2,
                        &params,
                        n.div_ceil(256),
                    );
                }
            }
            s *= 2;
        }
        batch.submit()
    }

    /// Copies G back and widens its lower triangle to f64; returns it with
    /// its trace (summed in f64). A non-finite entry is an error.
    fn gram_read_back(
        &self,
        lay: &GramLayout,
        bufs: &GramBuffers,
    ) -> Result<(Mat<f64>, f64), BackendError> {
        let m = lay.m;
        let mut batch = Batch::new(self, "gram: read back");
        batch.copy(&bufs.parts[0], 0, &bufs.readback, 0, lay.gram_bytes);
        batch.submit()?;
        let g32 = self.read_mapped("gram", &bufs.readback, m * m)?;
        let mut lower = Mat::<f64>::zeros(m, m);
        let mut bad = 0;
        let mut trace = 0.0;
        for i in 0..m {
            for j in 0..=i {
                let x = g32[i * m + j];
                bad += !x.is_finite() as usize;
                lower[(i, j)] = x as f64;
            }
            trace += g32[i * m + i] as f64;
        }
        if bad > 0 {
            return Err(BackendError::NonFinite {
                op: format!("the {m}×{m} Gram"),
                count: bad,
            });
        }
        Ok((lower, trace))
    }
}

/// The Gram's trace must match the host's ‖W‖²_F to within the f32
/// rounding its sums allow.
fn check_trace(lay: &GramLayout, trace: f64, frob2: f64) -> Result<(), BackendError> {
    let (m, slices, partials) = (lay.m, &lay.slices, lay.partials);
    // Each diagonal entry is a sum of ≤ L squares accumulated by fma in
    // f32 (relative error ≤ L·u), then ≤ ⌈log2 P⌉ pairwise additions;
    // F64 weights rounded to f32 add 2u. A lost or doubled block, or a
    // zeroed buffer, misses by far more.
    let longest = slices.iter().map(|s| s.2 - s.1).max().unwrap_or(1);
    let per_partial = slices.len().div_ceil(partials);
    let u = f32::EPSILON as f64 / 2.0;
    let tol = (longest * per_partial + partials.ilog2() as usize + 1 + 3) as f64 * u;
    let gap = (trace - frob2).abs();
    if gap > tol * frob2 {
        return Err(BackendError::Inconsistent {
            op: format!("the {m}×{m} Gram"),
            detail: format!(
                "trace {trace:e} vs ‖W‖²_F {frob2:e} (relative gap {:.1e} > {tol:.1e})",
                gap / frob2.max(f64::MIN_POSITIVE)
            ),
        });
    }
    Ok(())
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct UnpackParams {
    n: u32,
    pad: [u32; 3],
}

impl GpuContext {
    /// The f32 bits the shaders decode from `n` elements of raw
    /// little-endian `bytes` of type `dtype` (F32, F16 or BF16): the check
    /// that in-shader decoding is exact.
    pub fn decode_bits(
        &self,
        dtype: &crate::load::DType,
        bytes: &[u8],
        n: usize,
    ) -> Result<Vec<u32>, BackendError> {
        use crate::load::DType;
        let code = match dtype {
            DType::F16 => 1,
            DType::BF16 => 2,
            _ => 0,
        };
        let mut padded = bytes.to_vec();
        padded.resize(bytes.len().next_multiple_of(4).max(4), 0);
        self.check_binding("the decode check", padded.len() as u64)?;
        let _guard = self.exclusive.lock().unwrap_or_else(|e| e.into_inner());
        let out_bytes = (n * 4) as u64;
        let (w, out, rb) = self.scoped("decode check: buffers", || {
            let w = self.buffer(
                "decode.weights",
                padded.len() as u64,
                wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            );
            self.queue.write_buffer(&w, 0, &padded);
            let out = self.buffer(
                "decode.bits",
                out_bytes,
                wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            );
            let rb = self.buffer(
                "decode.readback",
                out_bytes,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            );
            (w, out, rb)
        })?;
        let pl = self.scoped("decode check: pipeline", || {
            self.pipeline(Program::Unpack, "unpack", code, 0)
        })?;
        let mut batch = Batch::new(self, "decode check");
        batch.dispatch(
            &pl,
            vec![(0, w, 0, None), (1, out.clone(), 0, None)],
            2,
            &UnpackParams {
                n: n as u32,
                pad: [0; 3],
            },
            (n as u64).div_ceil(256),
        );
        batch.copy(&out, 0, &rb, 0, out_bytes);
        batch.submit()?;
        Ok(self
            .read_mapped("decode check", &rb, n)?
            .into_iter()
            .map(f32::to_bits)
            .collect())
    }

    /// Submits a dispatch larger than the adapter allows, as a broken
    /// kernel launch would: for the test that a GPU validation error
    /// surfaces as an error.
    pub fn submit_invalid_dispatch_for_test(&self) -> Result<(), BackendError> {
        let pl = self.scoped("invalid dispatch: pipeline", || {
            self.pipeline(Program::Sum, "add_into", 0, 0)
        })?;
        let _guard = self.exclusive.lock().unwrap_or_else(|e| e.into_inner());
        let buf = self.scoped("invalid dispatch: buffer", || {
            self.buffer("invalid.dispatch", 16, wgpu::BufferUsages::STORAGE)
        })?;
        let mut batch = Batch::new(self, "invalid dispatch");
        let too_many = self
            .limits
            .max_compute_workgroups_per_dimension
            .saturating_add(1);
        batch.dispatch_grid(
            &pl,
            vec![(0, buf.clone(), 0, None), (1, buf.clone(), 0, None)],
            2,
            &SumParams {
                n: 0,
                parts: 0,
                stride: 0,
                accumulate: 0,
                dst_off: 0,
                src_off: 0,
                pad: [0; 2],
            },
            (too_many, 1),
        );
        batch.submit()
    }
}
