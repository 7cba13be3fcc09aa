//! The character-level transformer: its parameters, the forward pass with
//! the mean cross-entropy (nats per character), and the hand-written
//! backward pass.
//!
//! A decoder-only, pre-LayerNorm transformer: token and learned position
//! embeddings; per layer causal multi-head self-attention (no biases)
//! and a ReLU MLP of width `ff`, each in a residual branch behind its own
//! LayerNorm; a final LayerNorm and an untied unembedding. Activations are
//! stored features × tokens (one column per position, so LayerNorm,
//! softmax and the embeddings read contiguous columns) and every weight
//! matrix keeps the PyTorch layout (out × in): a layer is Y = W·X.
//!
//! Generic over the scalar: training runs in f32, the gradient check in
//! f64. Every matmul is sequential (faer `Par::Seq`), so a pass is
//! bitwise reproducible. Owns the arithmetic of one batch; knows nothing
//! of files, optimizers or compression.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// The scalar of a pass: f32 (training) or f64 (the gradient check).
pub trait Real:
    faer::traits::ComplexField
    + Copy
    + Send
    + Sync
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + 'static
{
    fn of(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn sqrt(self) -> Self;
}

impl Real for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn exp(self) -> Self {
        exp_f32(self)
    }
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}

impl Real for f64 {
    fn of(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}

/// e^x in f32, inlined: x = n·ln 2 + r with |r| ≤ ½ln 2, e^r by its
/// degree-7 Taylor polynomial (truncation r⁸/8! < 6e-9 relative, below
/// f32's ε/2 = 6e-8), and 2^n by the exponent bits. Inputs are clamped to
/// [−87, 88]: the result never becomes subnormal (e^(−87) = 1.6e-38; the
/// softmax inputs here are ≤ 0, where a clamped term is < 1e-37 of the
/// largest). The library call it replaces cost 10× more per element
/// inside the attention and cross-entropy loops.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n·LN2_HI is exact for |n| < 2^9.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E).round();
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// LayerNorm's variance floor (PyTorch's default).
pub const LN_EPS: f64 = 1e-5;

/// The sizes of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub vocab: usize,
    pub d: usize,
    pub heads: usize,
    pub ctx: usize,
    pub layers: usize,
    pub ff: usize,
}

/// Tensors per transformer layer, in storage order.
const PER_LAYER: usize = 10;

/// One tensor of a layer (its offset in the layer's slice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Part {
    AttnNormW = 0,
    AttnNormB,
    Wq,
    Wk,
    Wv,
    Wo,
    MlpNormW,
    MlpNormB,
    WUp,
    WDown,
}

const PART_NAMES: [&str; PER_LAYER] = [
    "attn_norm.weight",
    "attn_norm.bias",
    "attn.wq.weight",
    "attn.wk.weight",
    "attn.wv.weight",
    "attn.wo.weight",
    "mlp_norm.weight",
    "mlp_norm.bias",
    "mlp.w_up.weight",
    "mlp.w_down.weight",
];

impl Dims {
    pub fn head_dim(&self) -> usize {
        self.d / self.heads
    }

    pub fn count(&self) -> usize {
        2 + PER_LAYER * self.layers + 3
    }

    pub const TOK: usize = 0;
    pub const POS: usize = 1;

    pub fn at(&self, layer: usize, part: Part) -> usize {
        2 + PER_LAYER * layer + part as usize
    }

    pub fn norm_w(&self) -> usize {
        2 + PER_LAYER * self.layers
    }

    pub fn norm_b(&self) -> usize {
        self.norm_w() + 1
    }

    pub fn out(&self) -> usize {
        self.norm_w() + 2
    }

    /// Tensor names, as in a safetensors snapshot.
    pub fn names(&self) -> Vec<String> {
        let mut out = vec![
            "tok_embeddings.weight".to_string(),
            "pos_embeddings.weight".to_string(),
        ];
        for l in 0..self.layers {
            out.extend(PART_NAMES.iter().map(|p| format!("layers.{l}.{p}")));
        }
        out.extend(["norm.weight", "norm.bias", "output.weight"].map(String::from));
        out
    }

    /// Tensor shapes (1-D for the LayerNorm gains and biases).
    pub fn shapes(&self) -> Vec<Vec<usize>> {
        let (v, d, ff) = (self.vocab, self.d, self.ff);
        let mut out = vec![vec![v, d], vec![self.ctx, d]];
        for _ in 0..self.layers {
            out.extend([
                vec![d],
                vec![d],
                vec![d, d],
                vec![d, d],
                vec![d, d],
                vec![d, d],
                vec![d],
                vec![d],
                vec![ff, d],
                vec![d, ff],
            ]);
        }
        out.extend([vec![d], vec![d], vec![v, d]]);
        out
    }

    /// Indices of the 2-D tensors (the weight matrices), in storage order.
    pub fn matrices(&self) -> Vec<usize> {
        self.shapes()
            .iter()
            .enumerate()
            .filter(|(_, s)| s.len() == 2)
            .map(|(i, _)| i)
            .collect()
    }
}

/// Every tensor of the model (or of a gradient), 1-D ones as one column.
#[derive(Debug, Clone, PartialEq)]
pub struct Params<T: Real> {
    pub dims: Dims,
    pub t: Vec<Mat<T>>,
}

impl<T: Real> Params<T> {
    pub fn zeros(dims: Dims) -> Params<T> {
        let t = dims
            .shapes()
            .iter()
            .map(|s| Mat::zeros(s[0], s.get(1).copied().unwrap_or(1)))
            .collect();
        Params { dims, t }
    }

    /// Element-wise sum, in place.
    pub fn add(&mut self, o: &Params<T>) {
        for (a, b) in self.t.iter_mut().zip(&o.t) {
            for j in 0..a.ncols() {
                for (x, y) in a.col_as_slice_mut(j).iter_mut().zip(b.col_as_slice(j)) {
                    *x += *y;
                }
            }
        }
    }

    /// Σ x² over every tensor, in f64.
    pub fn squared_norm(&self) -> f64 {
        self.t
            .iter()
            .map(|m| {
                (0..m.ncols())
                    .flat_map(|j| m.col_as_slice(j).iter())
                    .map(|x| x.to_f64() * x.to_f64())
                    .sum::<f64>()
            })
            .sum()
    }

    /// The same values in another scalar type.
    pub fn cast<U: Real>(&self) -> Params<U> {
        Params {
            dims: self.dims,
            t: self
                .t
                .iter()
                .map(|m| Mat::from_fn(m.nrows(), m.ncols(), |i, j| U::of(m[(i, j)].to_f64())))
                .collect(),
        }
    }
}

/// `nseq` windows of `ctx + 1` characters: each predicts its last `ctx`.
#[derive(Debug, Clone)]
pub struct Batch<'a> {
    pub windows: Vec<&'a [u16]>,
}

/// dst (+)= lhs·rhs, sequential.
fn mm<T: Real>(dst: MatMut<'_, T>, acc: Accum, lhs: MatRef<'_, T>, rhs: MatRef<'_, T>) {
    matmul(dst, acc, lhs, rhs, T::of(1.0), Par::Seq);
}

/// What the backward pass needs of one LayerNorm.
struct NormCache<T: Real> {
    xhat: Mat<T>,
    rstd: Vec<T>,
}

/// Per-column LayerNorm y = x̂·w + b of `x` (d × N).
fn layer_norm<T: Real>(x: &Mat<T>, w: &Mat<T>, b: &Mat<T>) -> (Mat<T>, NormCache<T>) {
    let (d, n) = x.shape();
    let mut y = Mat::zeros(d, n);
    let mut xhat = Mat::zeros(d, n);
    let mut rstd = Vec::with_capacity(n);
    let (w, b) = (w.col_as_slice(0), b.col_as_slice(0));
    let inv_d = T::of(1.0 / d as f64);
    for j in 0..n {
        let col = x.col_as_slice(j);
        let mut mean = T::of(0.0);
        for &v in col {
            mean += v;
        }
        mean *= inv_d;
        let mut var = T::of(0.0);
        for &v in col {
            var += (v - mean) * (v - mean);
        }
        let r = T::of(1.0) / (var * inv_d + T::of(LN_EPS)).sqrt();
        rstd.push(r);
        let xh = xhat.col_as_slice_mut(j);
        for i in 0..d {
            xh[i] = (col[i] - mean) * r;
        }
        let yc = y.col_as_slice_mut(j);
        for i in 0..d {
            yc[i] = xh[i] * w[i] + b[i];
        }
    }
    (y, NormCache { xhat, rstd })
}

/// LayerNorm backward: accumulates dw, db and adds dx to `dx`.
fn layer_norm_back<T: Real>(
    dy: &Mat<T>,
    c: &NormCache<T>,
    w: &Mat<T>,
    dw: &mut Mat<T>,
    db: &mut Mat<T>,
    dx: &mut Mat<T>,
) {
    let (d, n) = dy.shape();
    let w = w.col_as_slice(0);
    let inv_d = T::of(1.0 / d as f64);
    let mut dxh = vec![T::of(0.0); d];
    for j in 0..n {
        let (g, xh) = (dy.col_as_slice(j), c.xhat.col_as_slice(j));
        {
            let (dwc, dbc) = (dw.col_as_slice_mut(0), db.col_as_slice_mut(0));
            for i in 0..d {
                dwc[i] += g[i] * xh[i];
                dbc[i] += g[i];
            }
        }
        let (mut m1, mut m2) = (T::of(0.0), T::of(0.0));
        for i in 0..d {
            dxh[i] = g[i] * w[i];
            m1 += dxh[i];
            m2 += dxh[i] * xh[i];
        }
        m1 *= inv_d;
        m2 *= inv_d;
        let r = c.rstd[j];
        let out = dx.col_as_slice_mut(j);
        for i in 0..d {
            out[i] += r * (dxh[i] - m1 - xh[i] * m2);
        }
    }
}

/// What the backward pass needs of one transformer layer.
struct LayerCache<T: Real> {
    ln1: NormCache<T>,
    a: Mat<T>,
    q: Mat<T>,
    k: Mat<T>,
    v: Mat<T>,
    /// Attention probabilities per (window, head): keys × queries.
    p: Vec<Mat<T>>,
    o: Mat<T>,
    ln2: NormCache<T>,
    m: Mat<T>,
    /// ReLU output (its support is the ReLU mask).
    g: Mat<T>,
}

/// The forward state kept for the backward pass.
pub struct Cache<T: Real> {
    layers: Vec<LayerCache<T>>,
    lnf: NormCache<T>,
    z: Mat<T>,
    /// softmax(logits) − onehot(target), already divided by the batch's
    /// token count.
    dlogits: Mat<T>,
}

/// Head h's rows of window s's columns (dh × ctx).
fn block<T: Real>(m: &Mat<T>, h: usize, s: usize, dh: usize, t: usize) -> MatRef<'_, T> {
    m.as_ref().submatrix(h * dh, s * t, dh, t)
}

/// Causal multi-head attention of one window `s`: fills `o`'s columns of
/// that window and returns the probabilities (keys × queries) per head.
fn attend<T: Real>(
    dims: &Dims,
    s: usize,
    q: &Mat<T>,
    k: &Mat<T>,
    v: &Mat<T>,
    o: &mut Mat<T>,
) -> Vec<Mat<T>> {
    let (t, dh) = (dims.ctx, dims.head_dim());
    let scale = T::of(1.0 / (dh as f64).sqrt());
    let mut probs = Vec::with_capacity(dims.heads);
    for h in 0..dims.heads {
        let blk = |m| block(m, h, s, dh, t);
        let mut st = Mat::<T>::zeros(t, t);
        mm(st.as_mut(), Accum::Replace, blk(k).transpose(), blk(q));
        for i in 0..t {
            let col = st.col_as_slice_mut(i);
            let mut max = col[0] * scale;
            for x in col[..=i].iter_mut() {
                *x *= scale;
                if *x > max {
                    max = *x;
                }
            }
            let mut sum = T::of(0.0);
            for x in col[..=i].iter_mut() {
                *x = (*x - max).exp();
                sum += *x;
            }
            let inv = T::of(1.0) / sum;
            for x in col[..=i].iter_mut() {
                *x *= inv;
            }
            for x in col[i + 1..].iter_mut() {
                *x = T::of(0.0);
            }
        }
        mm(
            o.as_mut().submatrix_mut(h * dh, s * t, dh, t),
            Accum::Replace,
            blk(v),
            st.as_ref(),
        );
        probs.push(st);
    }
    probs
}

/// Backward of `attend` for window `s`: writes dq, dk, dv's columns.
#[allow(clippy::too_many_arguments)]
fn attend_back<T: Real>(
    dims: &Dims,
    s: usize,
    c: &LayerCache<T>,
    dout: &Mat<T>,
    dq: &mut Mat<T>,
    dk: &mut Mat<T>,
    dv: &mut Mat<T>,
) {
    let (t, dh) = (dims.ctx, dims.head_dim());
    let scale = T::of(1.0 / (dh as f64).sqrt());
    let mut dp = Mat::<T>::zeros(t, t);
    for h in 0..dims.heads {
        let blk = |m| block(m, h, s, dh, t);
        let p = &c.p[s * dims.heads + h];
        mm(
            dp.as_mut(),
            Accum::Replace,
            blk(&c.v).transpose(),
            blk(dout),
        );
        mm(
            dv.as_mut().submatrix_mut(h * dh, s * t, dh, t),
            Accum::Replace,
            blk(dout),
            p.transpose(),
        );
        // dS = P ⊙ (dP − Σ_keys P·dP), per query column; scaled once here.
        for i in 0..t {
            let (pc, dc) = (p.col_as_slice(i), dp.col_as_slice_mut(i));
            let mut dot = T::of(0.0);
            for j in 0..=i {
                dot += pc[j] * dc[j];
            }
            for j in 0..=i {
                dc[j] = pc[j] * (dc[j] - dot) * scale;
            }
            for x in dc[i + 1..].iter_mut() {
                *x = T::of(0.0);
            }
        }
        mm(
            dq.as_mut().submatrix_mut(h * dh, s * t, dh, t),
            Accum::Replace,
            blk(&c.k),
            dp.as_ref(),
        );
        mm(
            dk.as_mut().submatrix_mut(h * dh, s * t, dh, t),
            Accum::Replace,
            blk(&c.q),
            dp.transpose(),
        );
    }
}

/// One transformer layer on the residual stream `x` (in place).
fn layer_forward<T: Real>(p: &Params<T>, l: usize, x: &mut Mat<T>, nseq: usize) -> LayerCache<T> {
    let dims = &p.dims;
    let w = |part: Part| &p.t[dims.at(l, part)];
    let n = x.ncols();
    let (a, ln1) = layer_norm(x, w(Part::AttnNormW), w(Part::AttnNormB));
    let proj = |wm: &Mat<T>, inp: &Mat<T>| {
        let mut y = Mat::zeros(wm.nrows(), n);
        mm(y.as_mut(), Accum::Replace, wm.as_ref(), inp.as_ref());
        y
    };
    let (q, k, v) = (
        proj(w(Part::Wq), &a),
        proj(w(Part::Wk), &a),
        proj(w(Part::Wv), &a),
    );
    let mut o = Mat::zeros(dims.d, n);
    let mut probs = Vec::with_capacity(nseq * dims.heads);
    for s in 0..nseq {
        probs.extend(attend(dims, s, &q, &k, &v, &mut o));
    }
    mm(x.as_mut(), Accum::Add, w(Part::Wo).as_ref(), o.as_ref());
    let (m, ln2) = layer_norm(x, w(Part::MlpNormW), w(Part::MlpNormB));
    let mut g = proj(w(Part::WUp), &m);
    for j in 0..n {
        for u in g.col_as_slice_mut(j) {
            if *u < T::of(0.0) {
                *u = T::of(0.0);
            }
        }
    }
    mm(x.as_mut(), Accum::Add, w(Part::WDown).as_ref(), g.as_ref());
    LayerCache {
        ln1,
        a,
        q,
        k,
        v,
        p: probs,
        o,
        ln2,
        m,
        g,
    }
}

/// Backward of one layer: `dx` holds d(loss)/d(layer output) and is turned
/// into d(loss)/d(layer input); weight gradients accumulate in `grad`.
fn layer_backward<T: Real>(
    p: &Params<T>,
    l: usize,
    c: &LayerCache<T>,
    dx: &mut Mat<T>,
    grad: &mut Params<T>,
    nseq: usize,
) {
    let dims = p.dims;
    let idx = |part: Part| dims.at(l, part);
    let w = |part: Part| p.t[idx(part)].as_ref();
    let n = dx.ncols();
    // MLP branch: x += W_down·relu(W_up·m).
    mm(
        grad.t[idx(Part::WDown)].as_mut(),
        Accum::Add,
        dx.as_ref(),
        c.g.transpose(),
    );
    let mut du = Mat::<T>::zeros(dims.ff, n);
    mm(
        du.as_mut(),
        Accum::Replace,
        w(Part::WDown).transpose(),
        dx.as_ref(),
    );
    for j in 0..n {
        for (d, g) in du.col_as_slice_mut(j).iter_mut().zip(c.g.col_as_slice(j)) {
            if *g <= T::of(0.0) {
                *d = T::of(0.0);
            }
        }
    }
    mm(
        grad.t[idx(Part::WUp)].as_mut(),
        Accum::Add,
        du.as_ref(),
        c.m.transpose(),
    );
    let mut dm = Mat::<T>::zeros(dims.d, n);
    mm(
        dm.as_mut(),
        Accum::Replace,
        w(Part::WUp).transpose(),
        du.as_ref(),
    );
    {
        let (gw, gb) = two_mut(&mut grad.t, idx(Part::MlpNormW), idx(Part::MlpNormB));
        layer_norm_back(&dm, &c.ln2, &p.t[idx(Part::MlpNormW)], gw, gb, dx);
    }
    // Attention branch: x += W_o·attn(W_q·a, W_k·a, W_v·a).
    mm(
        grad.t[idx(Part::Wo)].as_mut(),
        Accum::Add,
        dx.as_ref(),
        c.o.transpose(),
    );
    let mut dout = Mat::<T>::zeros(dims.d, n);
    mm(
        dout.as_mut(),
        Accum::Replace,
        w(Part::Wo).transpose(),
        dx.as_ref(),
    );
    let mut dq = Mat::<T>::zeros(dims.d, n);
    let mut dk = Mat::<T>::zeros(dims.d, n);
    let mut dv = Mat::<T>::zeros(dims.d, n);
    for s in 0..nseq {
        attend_back(&dims, s, c, &dout, &mut dq, &mut dk, &mut dv);
    }
    let mut da = Mat::<T>::zeros(dims.d, n);
    for (part, dy) in [(Part::Wq, &dq), (Part::Wk, &dk), (Part::Wv, &dv)] {
        mm(
            grad.t[idx(part)].as_mut(),
            Accum::Add,
            dy.as_ref(),
            c.a.transpose(),
        );
        mm(da.as_mut(), Accum::Add, w(part).transpose(), dy.as_ref());
    }
    let (gw, gb) = two_mut(&mut grad.t, idx(Part::AttnNormW), idx(Part::AttnNormB));
    layer_norm_back(&da, &c.ln1, &p.t[idx(Part::AttnNormW)], gw, gb, dx);
}

/// Two distinct elements of a slice, mutably (i < j).
fn two_mut<X>(v: &mut [X], i: usize, j: usize) -> (&mut X, &mut X) {
    debug_assert!(i < j);
    let (a, b) = v.split_at_mut(j);
    (&mut a[i], &mut b[0])
}

/// The residual stream after the embeddings: tok[x_n] + pos[n mod ctx].
fn embed<T: Real>(p: &Params<T>, batch: &Batch<'_>) -> Mat<T> {
    let (t, d) = (p.dims.ctx, p.dims.d);
    let (tok, pos) = (&p.t[Dims::TOK], &p.t[Dims::POS]);
    let mut x = Mat::zeros(d, batch.windows.len() * t);
    for (s, w) in batch.windows.iter().enumerate() {
        for (i, &c) in w[..t].iter().enumerate() {
            let out = x.col_as_slice_mut(s * t + i);
            for (r, o) in out.iter_mut().enumerate() {
                *o = tok[(c as usize, r)] + pos[(i, r)];
            }
        }
    }
    x
}

/// Cross-entropy of each column of `logits` against the targets: the sum
/// in f64, and (if `grad_scale` is given) softmax − onehot times it, in
/// place of the logits.
fn cross_entropy<T: Real>(
    logits: &mut Mat<T>,
    batch: &Batch<'_>,
    ctx: usize,
    grad_scale: Option<T>,
) -> f64 {
    let mut total = 0.0f64;
    for (s, w) in batch.windows.iter().enumerate() {
        for i in 0..ctx {
            let target = w[i + 1] as usize;
            let col = logits.col_as_slice_mut(s * ctx + i);
            let mut max = col[0];
            for &x in col.iter() {
                if x > max {
                    max = x;
                }
            }
            let mut sum = T::of(0.0);
            for x in col.iter_mut() {
                *x = (*x - max).exp();
                sum += *x;
            }
            // −ln p_target = ln Σ exp(l − max) − (l_target − max).
            total += sum.to_f64().ln() - col[target].to_f64().ln();
            if let Some(g) = grad_scale {
                let inv = T::of(1.0) / sum;
                for x in col.iter_mut() {
                    *x *= inv * g;
                }
                col[target] -= g;
            }
        }
    }
    total
}

impl<T: Real> Params<T> {
    /// Σ over the batch's predicted characters of −ln p(next | context),
    /// in nats (f64 accumulation). Forward only.
    pub fn loss_sum(&self, batch: &Batch<'_>) -> f64 {
        self.forward(batch, None).0
    }

    /// The forward pass; with `grad_scale` (1/token count of the whole
    /// step) it keeps what the backward pass needs.
    pub fn forward(&self, batch: &Batch<'_>, grad_scale: Option<T>) -> (f64, Option<Cache<T>>) {
        let dims = self.dims;
        let nseq = batch.windows.len();
        let mut x = embed(self, batch);
        let mut layers = Vec::with_capacity(dims.layers);
        for l in 0..dims.layers {
            let c = layer_forward(self, l, &mut x, nseq);
            if grad_scale.is_some() {
                layers.push(c);
            }
        }
        let (z, lnf) = layer_norm(&x, &self.t[dims.norm_w()], &self.t[dims.norm_b()]);
        let mut logits = Mat::zeros(dims.vocab, x.ncols());
        mm(
            logits.as_mut(),
            Accum::Replace,
            self.t[dims.out()].as_ref(),
            z.as_ref(),
        );
        let loss = cross_entropy(&mut logits, batch, dims.ctx, grad_scale);
        let cache = grad_scale.map(|_| Cache {
            layers,
            lnf,
            z,
            dlogits: logits,
        });
        (loss, cache)
    }

    /// Gradients of (Σ loss)·grad_scale with respect to every tensor.
    pub fn backward(&self, batch: &Batch<'_>, cache: &Cache<T>) -> Params<T> {
        let dims = self.dims;
        let nseq = batch.windows.len();
        let n = nseq * dims.ctx;
        let mut grad = Params::zeros(dims);
        mm(
            grad.t[dims.out()].as_mut(),
            Accum::Replace,
            cache.dlogits.as_ref(),
            cache.z.transpose(),
        );
        let mut dz = Mat::<T>::zeros(dims.d, n);
        mm(
            dz.as_mut(),
            Accum::Replace,
            self.t[dims.out()].transpose(),
            cache.dlogits.as_ref(),
        );
        let mut dx = Mat::<T>::zeros(dims.d, n);
        {
            let (gw, gb) = two_mut(&mut grad.t, dims.norm_w(), dims.norm_b());
            layer_norm_back(&dz, &cache.lnf, &self.t[dims.norm_w()], gw, gb, &mut dx);
        }
        for l in (0..dims.layers).rev() {
            layer_backward(self, l, &cache.layers[l], &mut dx, &mut grad, nseq);
        }
        let t = dims.ctx;
        for (s, w) in batch.windows.iter().enumerate() {
            for (i, &c) in w[..t].iter().enumerate() {
                let g = dx.col_as_slice(s * t + i);
                for (r, &v) in g.iter().enumerate() {
                    grad.t[Dims::TOK][(c as usize, r)] += v;
                    grad.t[Dims::POS][(i, r)] += v;
                }
            }
        }
        grad
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;
    use rand::RngExt;

    fn tiny() -> Dims {
        Dims {
            vocab: 7,
            d: 8,
            heads: 2,
            ctx: 5,
            layers: 2,
            ff: 12,
        }
    }

    /// A random model (norm gains near 1, biases and weights O(0.3)) so
    /// that every branch carries signal.
    fn random(dims: Dims, seed: u64) -> Params<f64> {
        let mut rng = synth::rng(seed);
        let mut p = Params::<f64>::zeros(dims);
        let shapes = dims.shapes();
        for (m, s) in p.t.iter_mut().zip(&shapes) {
            let g = synth::gaussian(m.nrows(), m.ncols(), 0.4, &mut rng);
            *m = if s.len() == 1 {
                Mat::from_fn(m.nrows(), 1, |i, _| 1.0 + 0.3 * g[(i, 0)])
            } else {
                g
            };
        }
        p
    }

    fn windows(dims: Dims, nseq: usize, seed: u64) -> Vec<Vec<u16>> {
        let mut rng = synth::rng(seed);
        (0..nseq)
            .map(|_| {
                (0..=dims.ctx)
                    .map(|_| rng.random_range(0..dims.vocab as u16))
                    .collect()
            })
            .collect()
    }

    /// Every gradient entry against a central difference of the loss, in
    /// f64. With h = 1e-5 the truncation error is O(h²·f''') ≈ 1e-10 and
    /// the round-off O(ε·L/h) ≈ 1e-11, so 1e-6 relative to the largest
    /// gradient entry of the tensor can only fail on a wrong derivative.
    #[test]
    fn backward_matches_finite_differences() {
        let dims = tiny();
        let p = random(dims, 5);
        let ws = windows(dims, 3, 6);
        let batch = Batch {
            windows: ws.iter().map(|w| w.as_slice()).collect(),
        };
        let scale = 1.0 / (3 * dims.ctx) as f64;
        let (_, cache) = p.forward(&batch, Some(scale));
        let grad = p.backward(&batch, &cache.unwrap());
        let names = dims.names();
        let h = 1e-5;
        for (ti, g) in grad.t.iter().enumerate() {
            let gmax = (0..g.nrows())
                .flat_map(|i| (0..g.ncols()).map(move |j| (i, j)))
                .fold(0.0f64, |m, (i, j)| m.max(g[(i, j)].abs()));
            assert!(gmax > 1e-4, "{}: gradient vanishes ({gmax:e})", names[ti]);
            for i in 0..g.nrows() {
                for j in 0..g.ncols() {
                    let mut q = p.clone();
                    q.t[ti][(i, j)] += h;
                    let up = q.loss_sum(&batch) * scale;
                    q.t[ti][(i, j)] -= 2.0 * h;
                    let down = q.loss_sum(&batch) * scale;
                    let fd = (up - down) / (2.0 * h);
                    assert!(
                        (fd - g[(i, j)]).abs() <= 1e-6 * gmax,
                        "{}[{i},{j}]: backward {:e}, finite difference {fd:e}",
                        names[ti],
                        g[(i, j)]
                    );
                }
            }
        }
    }

    /// exp_f32 against f64's exp over [−87, 88] and at the clamp: within
    /// 4 ulp (2^−21 relative: round-off of seven Horner steps and the
    /// split of ln 2), never subnormal, never infinite.
    #[test]
    fn fast_exp_is_accurate_and_stays_normal() {
        let mut worst = 0.0f64;
        for i in 0..=175_000 {
            let x = -87.0 + i as f64 * 1e-3;
            let got = exp_f32(x as f32) as f64;
            let want = (x as f32 as f64).exp();
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 4.0 * f32::EPSILON as f64 / 2.0, "{worst:e}");
        for x in [-1e30f32, -200.0, -87.5, f32::NEG_INFINITY] {
            let y = exp_f32(x);
            assert!(y.is_normal() && y < 2e-38, "{x}: {y:e}");
        }
        assert!(exp_f32(1e30).is_finite());
        assert_eq!(exp_f32(0.0), 1.0);
    }

    /// The loss is the mean −ln p: a model with all-zero weights and unit
    /// gains predicts the uniform distribution, ln V per character.
    #[test]
    fn uniform_model_costs_ln_vocab() {
        let dims = tiny();
        let p = Params::<f64>::zeros(dims);
        let ws = windows(dims, 2, 1);
        let batch = Batch {
            windows: ws.iter().map(|w| w.as_slice()).collect(),
        };
        let mean = p.loss_sum(&batch) / (2 * dims.ctx) as f64;
        assert!((mean - (dims.vocab as f64).ln()).abs() < 1e-12, "{mean}");
    }

    /// Causality: changing the last input character changes no earlier
    /// position's output distribution (exact equality in f64).
    #[test]
    fn attention_is_causal() {
        let dims = tiny();
        let p = random(dims, 8);
        let mut w = windows(dims, 1, 2).remove(0);
        // With grad_scale 1 the cache holds softmax − onehot per position;
        // w[ctx−1] is the input of position ctx−1 and the target of
        // position ctx−2, so positions 0…ctx−3 must not move at all.
        let logits = |w: &[u16]| {
            let batch = Batch { windows: vec![w] };
            let (_, c) = p.forward(&batch, Some(1.0));
            c.unwrap().dlogits
        };
        let a = logits(&w);
        w[dims.ctx - 1] = (w[dims.ctx - 1] + 1) % dims.vocab as u16;
        let b = logits(&w);
        for i in 0..dims.ctx - 2 {
            for r in 0..dims.vocab {
                assert_eq!(a[(r, i)], b[(r, i)], "position {i} sees the future");
            }
        }
        assert!((0..dims.vocab).any(|r| a[(r, dims.ctx - 1)] != b[(r, dims.ctx - 1)]));
    }
}
