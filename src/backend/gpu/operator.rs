//! The matrix-free Gram operator on the GPU: the weights stay resident
//! (in blocks that each fit one storage binding), x ↦ Aᵀ(A x) runs as two
//! passes per block (apply.wgsl), and the Krylov basis, its Gram–Schmidt
//! and its rotations stay on the GPU (krylov.wgsl). One submission and one
//! small read-back per expansion step.

use super::context::{Batch, Bind, GpuContext};
use super::gram::SumParams;
use super::upload::{self, UploadPlan};
use crate::backend::{BackendError, GramOperator, Step};
use crate::load::MatrixData;
use crate::spectrum::SpectrumError;

/// Rows per partial column sum in coldot.
const ROWS_PER_PART: usize = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ApplyParams {
    rows: u32,
    cols: u32,
    ld: u32,
    in_off: u32,
    out_off: u32,
    accumulate: u32,
    rows_per_part: u32,
    pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct KrylovParams {
    n: u32,
    cols: u32,
    cap: u32,
    dst: u32,
    m: u32,
    k: u32,
    pad: [u32; 2],
}

pub struct GpuOperator<'a> {
    ctx: &'a GpuContext,
    plan: UploadPlan,
    frob2: f64,
    weights: Vec<wgpu::Buffer>,
    /// A·x for one block (long-side length).
    t: wgpu::Buffer,
    /// Partial column sums.
    parts: wgpu::Buffer,
    cap: usize,
    basis: Option<wgpu::Buffer>,
    tmp: Option<wgpu::Buffer>,
    work: wgpu::Buffer,
    coef: Option<wgpu::Buffer>,
    rot: Option<wgpu::Buffer>,
    readback: Option<wgpu::Buffer>,
}

fn buf(ctx: &GpuContext, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: size.max(16).next_multiple_of(4),
        usage,
        mapped_at_creation: false,
    })
}

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_DST)
    .union(wgpu::BufferUsages::COPY_SRC);

impl<'a> GpuOperator<'a> {
    /// Uploads the weights of one matrix. NaN/Inf weights are a
    /// [`SpectrumError::NonFinite`], as on the CPU.
    pub fn new(ctx: &'a GpuContext, data: &MatrixData) -> Result<GpuOperator<'a>, SpectrumError> {
        let (frob2, bad) = upload::host_frob2(data);
        if bad > 0 {
            return Err(SpectrumError::NonFinite { count: bad });
        }
        let plan = upload::plan(data, ctx.max_binding())?;
        let m = plan.m;
        let longest = plan.blocks.iter().map(|b| b.len()).max().unwrap_or(1);
        // Partial column sums: tall blocks sum over their rows (parts × M),
        // wide ones over the M rows of W (parts × block length).
        let parts_len = if plan.tall {
            longest.div_ceil(ROWS_PER_PART) * m
        } else {
            m.div_ceil(ROWS_PER_PART) * longest
        };
        ctx.check_binding("the apply's partial sums", (parts_len * 4) as u64)?;
        let op = ctx.scoped("operator: upload", || {
            let weights: Vec<wgpu::Buffer> = plan
                .blocks
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let w = buf(
                        ctx,
                        &format!("operator.weights.{i}"),
                        plan.block_bytes(b),
                        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                    );
                    let (bytes, _) = upload::block_bytes(data, &plan, b);
                    ctx.queue.write_buffer(&w, 0, &bytes);
                    w
                })
                .collect();
            GpuOperator {
                ctx,
                t: buf(ctx, "operator.t", (longest * 4) as u64, STORAGE),
                parts: buf(ctx, "operator.parts", (parts_len * 4) as u64, STORAGE),
                work: buf(ctx, "operator.work", (m * 4) as u64, STORAGE),
                plan,
                frob2,
                weights,
                cap: 0,
                basis: None,
                tmp: None,
                coef: None,
                rot: None,
                readback: None,
            }
        })?;
        Ok(op)
    }

    /// Bytes of weights resident on the GPU.
    pub fn weight_bytes(&self) -> u64 {
        self.weights.iter().map(|b| b.size()).sum()
    }

    /// Blocks the weights were split into.
    pub fn blocks(&self) -> usize {
        self.weights.len()
    }

    fn basis(&self) -> &wgpu::Buffer {
        self.basis.as_ref().expect("reserve() first")
    }
    fn coef(&self) -> &wgpu::Buffer {
        self.coef.as_ref().expect("reserve() first")
    }

    fn pipelines(&self, entry: &'static str) -> Result<wgpu::ComputePipeline, BackendError> {
        let p = if matches!(entry, "rowdot" | "coldot") {
            self.ctx.apply_program()
        } else {
            self.ctx.krylov_program()
        };
        let dtype = if matches!(entry, "rowdot" | "coldot") {
            self.plan.dtype
        } else {
            0
        };
        self.ctx.scoped("operator: pipeline", || {
            self.ctx.pipeline(p, entry, dtype, 0)
        })
    }

    /// Records dst (+)= Σ of the `nparts` partial vectors of length `n`
    /// the previous dispatch left in `parts` (`accumulate`: add to dst).
    fn sum_parts(
        &self,
        batch: &mut Batch,
        sum: &wgpu::ComputePipeline,
        dst: &wgpu::Buffer,
        n: usize,
        nparts: usize,
        accumulate: bool,
    ) {
        let s = SumParams {
            n: n as u32,
            parts: nparts as u32,
            stride: n as u32,
            accumulate: accumulate as u32,
            dst_off: 0,
            src_off: 0,
            pad: [0; 2],
        };
        batch.dispatch(
            sum,
            vec![(0, dst.clone(), 0, None), (1, self.parts.clone(), 0, None)],
            2,
            &s,
            (n as u64).div_ceil(256),
        );
    }

    /// Records work = G·basis[src].
    fn record_apply(&self, batch: &mut Batch, src: usize) -> Result<(), BackendError> {
        let rowdot = self.pipelines("rowdot")?;
        let coldot = self.pipelines("coldot")?;
        let sum = self.ctx.scoped("operator: pipeline", || {
            self.ctx
                .pipeline(super::shaders::Program::Sum, "sum_parts", 0, 0)
        })?;
        let m = self.plan.m;
        let basis = self.basis().clone();
        let in_off = (src * m) as u32;
        for (c, (b, w)) in self.plan.blocks.iter().zip(&self.weights).enumerate() {
            let len = b.len();
            let wb: Bind = (0, w.clone(), 0, None);
            if self.plan.tall {
                // t = A_c x; work (+)= A_cᵀ t
                let p = ApplyParams {
                    rows: len as u32,
                    cols: m as u32,
                    ld: b.ld as u32,
                    in_off,
                    out_off: 0,
                    accumulate: 0,
                    rows_per_part: ROWS_PER_PART as u32,
                    pad: 0,
                };
                batch.dispatch(
                    &rowdot,
                    vec![
                        wb.clone(),
                        (1, basis.clone(), 0, None),
                        (2, self.t.clone(), 0, None),
                    ],
                    3,
                    &p,
                    len as u64,
                );
                let nparts = len.div_ceil(ROWS_PER_PART);
                let p = ApplyParams { in_off: 0, ..p };
                batch.dispatch_grid(
                    &coldot,
                    vec![
                        wb,
                        (1, self.t.clone(), 0, None),
                        (2, self.parts.clone(), 0, None),
                    ],
                    3,
                    &p,
                    (m.div_ceil(256) as u32, nparts as u32),
                );
                self.sum_parts(batch, &sum, &self.work, m, nparts, c > 0);
            } else {
                // W_c is M × len: t = W_cᵀ x; work (+)= W_c t
                let p = ApplyParams {
                    rows: m as u32,
                    cols: len as u32,
                    ld: b.ld as u32,
                    in_off,
                    out_off: 0,
                    accumulate: 0,
                    rows_per_part: ROWS_PER_PART as u32,
                    pad: 0,
                };
                let nparts = m.div_ceil(ROWS_PER_PART);
                batch.dispatch_grid(
                    &coldot,
                    vec![
                        wb.clone(),
                        (1, basis.clone(), 0, None),
                        (2, self.parts.clone(), 0, None),
                    ],
                    3,
                    &p,
                    (len.div_ceil(256) as u32, nparts as u32),
                );
                self.sum_parts(batch, &sum, &self.t, len, nparts, false);
                let p = ApplyParams {
                    in_off: 0,
                    accumulate: (c > 0) as u32,
                    ..p
                };
                batch.dispatch(
                    &rowdot,
                    vec![
                        wb,
                        (1, self.t.clone(), 0, None),
                        (2, self.work.clone(), 0, None),
                    ],
                    3,
                    &p,
                    m as u64,
                );
            }
        }
        Ok(())
    }

    fn kparams(&self, cols: usize, dst: usize) -> KrylovParams {
        KrylovParams {
            n: self.plan.m as u32,
            cols: cols as u32,
            cap: self.cap as u32,
            dst: dst as u32,
            m: 0,
            k: 0,
            pad: [0; 2],
        }
    }

    /// Records CGS2 of `work` against basis[0..cols], its norm, and
    /// basis[dst] = work/‖work‖.
    fn record_orthonormalize(
        &self,
        batch: &mut Batch,
        cols: usize,
        dst: usize,
    ) -> Result<(), BackendError> {
        let n = self.plan.m as u64;
        let basis = self.basis().clone();
        let coef = self.coef().clone();
        let p = self.kparams(cols, dst);
        let core = |b: &wgpu::Buffer| -> Vec<Bind> {
            vec![
                (0, b.clone(), 0, None),
                (1, self.work.clone(), 0, None),
                (2, coef.clone(), 0, None),
            ]
        };
        batch.clear(&coef, (self.cap * 4) as u64, (self.cap * 4) as u64);
        if cols > 0 {
            let coeffs = self.pipelines("coeffs")?;
            let update = self.pipelines("update")?;
            for _ in 0..2 {
                batch.dispatch_grid(&coeffs, core(&basis), 3, &p, (cols as u32, 1));
                batch.dispatch(&update, core(&basis), 3, &p, n.div_ceil(256));
            }
        }
        let norm = self.pipelines("norm")?;
        batch.dispatch_grid(
            &norm,
            vec![(1, self.work.clone(), 0, None), (2, coef.clone(), 0, None)],
            3,
            &p,
            (1, 1),
        );
        let store = self.pipelines("store")?;
        batch.dispatch(&store, core(&basis), 3, &p, n.div_ceil(256));
        Ok(())
    }

    /// Reads `count` f32 starting at byte `off` of `src`.
    fn read(
        &self,
        op: &'static str,
        src: &wgpu::Buffer,
        off: u64,
        count: usize,
        mut batch: Batch,
    ) -> Result<Vec<f32>, BackendError> {
        let rb = self.readback.as_ref().expect("reserve() first");
        batch.copy(src, off, rb, 0, (count * 4) as u64);
        batch.submit()?;
        self.ctx.read_mapped(op, rb, count)
    }
}

impl GramOperator for GpuOperator<'_> {
    fn dim(&self) -> usize {
        self.plan.m
    }
    fn frob2(&self) -> f64 {
        self.frob2
    }
    fn unit_roundoff(&self) -> f64 {
        f32::EPSILON as f64 / 2.0
    }
    fn reserve(&mut self, cols: usize) -> Result<(), BackendError> {
        if cols <= self.cap {
            return Ok(());
        }
        let n = self.plan.m;
        let bytes = (cols * n * 4) as u64;
        self.ctx
            .check_binding(&format!("a Krylov basis of {cols} vectors of {n}"), bytes)?;
        let ctx = self.ctx;
        let (basis, tmp, coef, rot, rb) = ctx.scoped("operator: basis", || {
            (
                buf(ctx, "operator.basis", bytes, STORAGE),
                buf(ctx, "operator.rotated", bytes, STORAGE),
                buf(ctx, "operator.coef", ((2 * cols + 1) * 4) as u64, STORAGE),
                buf(
                    ctx,
                    "operator.rotation",
                    (cols * (cols + 1) * 4) as u64,
                    STORAGE,
                ),
                buf(
                    ctx,
                    "operator.readback",
                    (n.max(2 * cols + 1) * 4) as u64,
                    wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                ),
            )
        })?;
        if let Some(old) = self.basis.take() {
            // keep the columns already there (SLQ grows the basis after
            // the top-K Ritz vectors are in place)
            let mut batch = Batch::new(ctx, "operator: grow basis");
            batch.copy(&old, 0, &basis, 0, old.size().min(bytes));
            batch.submit()?;
        }
        self.basis = Some(basis);
        self.tmp = Some(tmp);
        self.coef = Some(coef);
        self.rot = Some(rot);
        self.readback = Some(rb);
        self.cap = cols;
        Ok(())
    }

    fn set_column(&mut self, col: usize, x: &[f64]) -> Result<(), BackendError> {
        let v: Vec<f32> = x.iter().map(|&a| a as f32).collect();
        let off = (col * self.plan.m * 4) as u64;
        self.ctx.scoped("operator: set column", || {
            self.ctx
                .queue
                .write_buffer(self.basis(), off, bytemuck::cast_slice(&v));
        })
    }

    fn column(&mut self, col: usize) -> Result<Vec<f64>, BackendError> {
        let n = self.plan.m;
        let batch = Batch::new(self.ctx, "operator: read column");
        let v = self.read(
            "a basis column",
            self.basis(),
            (col * n * 4) as u64,
            n,
            batch,
        )?;
        Ok(v.into_iter().map(f64::from).collect())
    }

    fn expand(&mut self, src: usize, cols: usize) -> Result<Step, BackendError> {
        let mut batch = Batch::new(self.ctx, "operator: expand");
        self.record_apply(&mut batch, src)?;
        self.record_orthonormalize(&mut batch, cols, cols)?;
        // coef[cap .. cap+cols] (summed coefficients) and coef[2cap] (norm)
        let cap = self.cap;
        let v = self.read(
            "Gram–Schmidt coefficients",
            self.coef(),
            0,
            2 * cap + 1,
            batch,
        )?;
        let coeffs: Vec<f64> = v[cap..cap + cols].iter().map(|&x| x as f64).collect();
        let norm = v[2 * cap] as f64;
        if !norm.is_finite() || coeffs.iter().any(|c| !c.is_finite()) {
            return Err(BackendError::NonFinite {
                op: "a Gram apply".into(),
                count: coeffs.iter().filter(|c| !c.is_finite()).count()
                    + !norm.is_finite() as usize,
            });
        }
        Ok(Step { coeffs, norm })
    }

    fn orthonormalize(&mut self, col: usize) -> Result<f64, BackendError> {
        let n = (self.plan.m * 4) as u64;
        let mut batch = Batch::new(self.ctx, "operator: orthonormalize");
        batch.copy(self.basis(), col as u64 * n, &self.work, 0, n);
        self.record_orthonormalize(&mut batch, col, col)?;
        let cap = self.cap;
        let v = self.read("a vector norm", self.coef(), (2 * cap * 4) as u64, 1, batch)?;
        if !v[0].is_finite() {
            return Err(BackendError::NonFinite {
                op: "a vector norm".into(),
                count: 1,
            });
        }
        Ok(v[0] as f64)
    }

    fn rotate(&mut self, s: &[f64], m: usize, k: usize) -> Result<(), BackendError> {
        let n = self.plan.m;
        let sv: Vec<f32> = s[..m * k].iter().map(|&a| a as f32).collect();
        let rot = self.rot.clone().expect("reserve() first");
        let tmp = self.tmp.clone().expect("reserve() first");
        self.ctx.scoped("operator: rotation", || {
            self.ctx
                .queue
                .write_buffer(&rot, 0, bytemuck::cast_slice(&sv));
        })?;
        let pl = self.pipelines("rotate")?;
        let mut batch = Batch::new(self.ctx, "operator: rotate");
        let p = KrylovParams {
            m: m as u32,
            k: k as u32,
            ..self.kparams(0, 0)
        };
        batch.dispatch_grid(
            &pl,
            vec![
                (0, self.basis().clone(), 0, None),
                (4, rot, 0, None),
                (5, tmp.clone(), 0, None),
            ],
            3,
            &p,
            (n.div_ceil(256) as u32, k as u32),
        );
        batch.copy(&tmp, 0, self.basis(), 0, (k * n * 4) as u64);
        batch.submit()
    }
}

impl Drop for GpuOperator<'_> {
    fn drop(&mut self) {
        for b in self.weights.drain(..) {
            b.destroy();
        }
        for b in [
            &self.basis,
            &self.tmp,
            &self.coef,
            &self.rot,
            &self.readback,
        ]
        .into_iter()
        .flatten()
        {
            b.destroy();
        }
    }
}
