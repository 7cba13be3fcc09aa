//! The three models and their full-batch gradient steps, in f64 with
//! sequential faer matmuls (deterministic, bit for bit, for a seed).
//!
//! - `linear`: W (K×D), trained on the population loss ½‖(W−W*)Σ^(1/2)‖²_F,
//!   whose gradient is (W−W*)Σ.
//! - `deep-linear`: W₂ (K×H)·W₁ (H×D), same population loss on the product;
//!   ∇W₂ = G·W₁ᵀ, ∇W₁ = W₂ᵀ·G with G = (W₂W₁ − W*)Σ.
//! - `mlp`: W₂·relu(W₁x), no biases, mean ½‖f(x) − y‖² over a fixed sample
//!   set; its test loss is measured on a separate sample set.
//!
//! Owns the weights, the forward/backward passes, the losses of a set of
//! weights and the model's effective linear map. Knows nothing of files.

use super::task::Task;
use super::{ModelKind, SimConfig, stream_seed};
use crate::synth;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};

/// A fixed sample set: inputs (n×D) and teacher outputs (n×K), one per row.
#[derive(Debug, Clone)]
pub struct Samples {
    pub x: Mat<f64>,
    pub y: Mat<f64>,
}

/// A model's weights, named as in the snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct Net {
    pub kind: ModelKind,
    /// `weight` (linear) or `layers.0.weight`, `layers.1.weight`; PyTorch
    /// layout: out_features × in_features.
    pub names: Vec<String>,
    pub layers: Vec<Mat<f64>>,
}

/// dst = lhs·rhs, sequential.
fn mm(dst: &mut Mat<f64>, lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>, alpha: f64) {
    matmul(dst.as_mut(), Accum::Replace, lhs, rhs, alpha, Par::Seq);
}

/// ⟨a, b⟩ = Σ a_ij·b_ij.
fn dot(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    let mut s = 0.0;
    for j in 0..a.ncols() {
        let (ca, cb) = (a.col(j), b.col(j));
        for i in 0..a.nrows() {
            s += ca[i] * cb[i];
        }
    }
    s
}

impl Net {
    /// Small random init: every entry N(0, init_scale²/fan_in).
    pub fn init(cfg: &SimConfig) -> Net {
        let mut rng = synth::rng(stream_seed(cfg.seed, 1));
        let (d, k, h, s) = (cfg.dim, cfg.outputs, cfg.hidden, cfg.init_scale);
        let g = |rows: usize, cols: usize, rng: &mut _| {
            synth::gaussian(rows, cols, s / (cols as f64).sqrt(), rng)
        };
        match cfg.model {
            ModelKind::Linear => Net {
                kind: cfg.model,
                names: vec!["weight".into()],
                layers: vec![g(k, d, &mut rng)],
            },
            ModelKind::DeepLinear | ModelKind::Mlp => {
                let w1 = g(h, d, &mut rng);
                let w2 = g(k, h, &mut rng);
                Net {
                    kind: cfg.model,
                    names: vec!["layers.0.weight".into(), "layers.1.weight".into()],
                    layers: vec![w1, w2],
                }
            }
        }
    }

    /// The effective linear map x ↦ W_eff·x (K×D): W, W₂W₁, or for the MLP
    /// ½·W₂W₁, which is exactly its best linear predictor under Gaussian
    /// inputs (Stein: E[relu(hᵀx)·x] = ½·Σh for x ~ N(0, Σ)).
    pub fn effective(&self) -> Mat<f64> {
        match self.kind {
            ModelKind::Linear => self.layers[0].clone(),
            ModelKind::DeepLinear | ModelKind::Mlp => {
                let alpha = if self.kind == ModelKind::Mlp {
                    0.5
                } else {
                    1.0
                };
                let mut p = Mat::zeros(self.layers[1].nrows(), self.layers[0].ncols());
                mm(
                    &mut p,
                    self.layers[1].as_ref(),
                    self.layers[0].as_ref(),
                    alpha,
                );
                p
            }
        }
    }

    /// Test loss: exact population loss for the linear models, the mean
    /// over `test` for the MLP.
    pub fn test_loss(&self, task: &Task, test: Option<&Samples>) -> f64 {
        match self.kind {
            ModelKind::Linear => task.population_loss(self.layers[0].as_ref()),
            ModelKind::DeepLinear => task.population_loss(self.effective().as_ref()),
            ModelKind::Mlp => mlp_loss(
                &self.layers[0],
                &self.layers[1],
                test.expect("the MLP's test loss needs a test set"),
            ),
        }
    }
}

/// ½·mean‖W₂·relu(W₁x) − y‖² over a sample set.
pub(crate) fn mlp_loss(w1: &Mat<f64>, w2: &Mat<f64>, s: &Samples) -> f64 {
    let n = s.x.nrows();
    let mut z = Mat::<f64>::zeros(n, w1.nrows());
    mm(&mut z, s.x.as_ref(), w1.transpose(), 1.0);
    relu_in_place(&mut z);
    let mut r = Mat::<f64>::zeros(n, w2.nrows());
    mm(&mut r, z.as_ref(), w2.transpose(), 1.0);
    r -= &s.y;
    0.5 * r.squared_norm_l2() / n as f64
}

fn relu_in_place(z: &mut Mat<f64>) {
    for j in 0..z.ncols() {
        for x in z.col_mut(j).iter_mut() {
            if *x < 0.0 {
                *x = 0.0;
            }
        }
    }
}

/// One model's trainer: the weights, the training data and scratch
/// buffers reused across steps.
pub(crate) struct Trainer<'a> {
    pub net: Net,
    task: &'a Task,
    train: Option<&'a Samples>,
    lr: f64,
    err: Mat<f64>,
    grad: Mat<f64>,
    g1: Mat<f64>,
    g2: Mat<f64>,
    z: Mat<f64>,
    act: Mat<f64>,
}

impl<'a> Trainer<'a> {
    pub fn new(net: Net, task: &'a Task, train: Option<&'a Samples>, lr: f64) -> Trainer<'a> {
        let (k, d) = (task.outputs(), task.dim());
        let z = Mat::zeros(0, 0);
        let mut t = Trainer {
            err: Mat::zeros(k, d),
            grad: Mat::zeros(k, d),
            g1: Mat::zeros(0, 0),
            g2: Mat::zeros(0, 0),
            act: z.clone(),
            z,
            net,
            task,
            train,
            lr,
        };
        if t.net.layers.len() == 2 {
            t.g1 = Mat::zeros(t.net.layers[0].nrows(), t.net.layers[0].ncols());
            t.g2 = Mat::zeros(t.net.layers[1].nrows(), t.net.layers[1].ncols());
        }
        if let Some(s) = train {
            let (n, h) = (s.x.nrows(), t.net.layers[0].nrows());
            t.z = Mat::zeros(n, h);
            t.act = Mat::zeros(n, h);
            t.err = Mat::zeros(n, k);
        }
        t
    }

    /// One gradient step on the training loss; returns that loss at the
    /// weights before the step.
    pub fn step(&mut self) -> f64 {
        match self.net.kind {
            ModelKind::Linear => self.step_linear(),
            ModelKind::DeepLinear => self.step_deep_linear(),
            ModelKind::Mlp => self.step_mlp(),
        }
    }

    /// The training loss at the current weights, without stepping.
    pub fn train_loss(&self) -> f64 {
        match self.net.kind {
            ModelKind::Mlp => mlp_loss(
                &self.net.layers[0],
                &self.net.layers[1],
                self.train.expect("MLP trainer has samples"),
            ),
            _ => self.net.test_loss(self.task, None),
        }
    }

    fn step_linear(&mut self) -> f64 {
        let w = &mut self.net.layers[0];
        self.err.copy_from(&*w);
        self.err -= &self.task.w_star;
        mm(
            &mut self.grad,
            self.err.as_ref(),
            self.task.sigma.as_ref(),
            1.0,
        );
        let loss = 0.5 * dot(&self.err, &self.grad);
        *w -= &self.grad * faer::Scale(self.lr);
        loss
    }

    fn step_deep_linear(&mut self) -> f64 {
        let (w1, w2) = (&self.net.layers[0], &self.net.layers[1]);
        mm(&mut self.err, w2.as_ref(), w1.as_ref(), 1.0);
        self.err -= &self.task.w_star;
        mm(
            &mut self.grad,
            self.err.as_ref(),
            self.task.sigma.as_ref(),
            1.0,
        );
        let loss = 0.5 * dot(&self.err, &self.grad);
        mm(&mut self.g2, self.grad.as_ref(), w1.transpose(), 1.0);
        mm(&mut self.g1, w2.transpose(), self.grad.as_ref(), 1.0);
        let lr = self.lr;
        self.net.layers[0] -= &self.g1 * faer::Scale(lr);
        self.net.layers[1] -= &self.g2 * faer::Scale(lr);
        loss
    }

    fn step_mlp(&mut self) -> f64 {
        let s = self.train.expect("MLP trainer has samples");
        let n = s.x.nrows() as f64;
        let (w1, w2) = (&self.net.layers[0], &self.net.layers[1]);
        // Forward: z = X·W₁ᵀ, act = relu(z), err = act·W₂ᵀ − Y.
        mm(&mut self.z, s.x.as_ref(), w1.transpose(), 1.0);
        self.act.copy_from(&self.z);
        relu_in_place(&mut self.act);
        mm(&mut self.err, self.act.as_ref(), w2.transpose(), 1.0);
        self.err -= &s.y;
        let loss = 0.5 * self.err.squared_norm_l2() / n;
        // Backward: ∇W₂ = errᵀ·act/n; δ = (err·W₂) ⊙ 1[z > 0]; ∇W₁ = δᵀ·X/n.
        mm(
            &mut self.g2,
            self.err.transpose(),
            self.act.as_ref(),
            1.0 / n,
        );
        // Reuse `act` for δ.
        mm(&mut self.act, self.err.as_ref(), w2.as_ref(), 1.0);
        for j in 0..self.act.ncols() {
            let zc = self.z.col(j);
            let mut dc = self.act.col_mut(j);
            for i in 0..zc.nrows() {
                if zc[i] <= 0.0 {
                    dc[i] = 0.0;
                }
            }
        }
        mm(&mut self.g1, self.act.transpose(), s.x.as_ref(), 1.0 / n);
        let lr = self.lr;
        self.net.layers[0] -= &self.g1 * faer::Scale(lr);
        self.net.layers[1] -= &self.g2 * faer::Scale(lr);
        loss
    }
}

/// The MLP's fixed train and test sets (independent seeded streams).
pub(crate) fn mlp_samples(cfg: &SimConfig, task: &Task) -> (Samples, Samples) {
    let mut r_train = synth::rng(stream_seed(cfg.seed, 2));
    let mut r_test = synth::rng(stream_seed(cfg.seed, 3));
    let (x, y) = task.sample(cfg.train_samples, &mut r_train);
    let train = Samples { x, y };
    let (x, y) = task.sample(cfg.test_samples, &mut r_test);
    (train, Samples { x, y })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(model: ModelKind) -> SimConfig {
        SimConfig {
            dim: 13,
            outputs: 9,
            hidden: 11,
            train_samples: 50,
            test_samples: 7,
            init_scale: 0.7,
            ..SimConfig::defaults(model, 2.2, 1.3)
        }
    }

    /// The MLP's effective map ½·W₂W₁ against a Monte-Carlo estimate of
    /// E[f(x)·xᵀ] (which equals ½·W₂W₁·Σ by Stein's lemma), entry by entry
    /// within 5 standard errors of the sample mean.
    #[test]
    fn mlp_effective_map_is_the_gaussian_linear_part() {
        let cfg = SimConfig {
            init_scale: 1.0,
            ..cfg(ModelKind::Mlp)
        };
        let task = Task::new(&cfg);
        let net = Net::init(&cfg);
        let n = 40_000;
        let (x, _) = task.sample(n, &mut synth::rng(17));
        let mut z = &x * net.layers[0].transpose();
        relu_in_place(&mut z);
        let f = &z * net.layers[1].transpose();
        let expected = net.effective() * &task.sigma;
        for (i, j) in [(0, 0), (8, 12), (4, 7), (2, 1)] {
            let prod: Vec<f64> = (0..n).map(|s| f[(s, i)] * x[(s, j)]).collect();
            let mean = prod.iter().sum::<f64>() / n as f64;
            let var = prod.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let se = (var / n as f64).sqrt();
            let e = expected[(i, j)];
            assert!(
                (mean - e).abs() < 5.0 * se,
                "({i},{j}): {mean} vs {e} ± {se}"
            );
        }
    }

    /// Central finite differences of the training loss against the
    /// analytic gradient of every model, entry by entry. Tolerance 1e-6
    /// relative: the O(h²) truncation error with h = 1e-5 is ~1e-10 and
    /// f64 cancellation ~ε·L/h ~ 1e-11; a wrong term is off by O(1).
    #[test]
    fn gradients_match_finite_differences() {
        for model in [ModelKind::Linear, ModelKind::DeepLinear, ModelKind::Mlp] {
            let cfg = cfg(model);
            let task = Task::new(&cfg);
            let (train, _) = mlp_samples(&cfg, &task);
            let train = (model == ModelKind::Mlp).then_some(&train);
            let net = Net::init(&cfg);
            // A step with lr = 1 moves the weights by exactly −∇L.
            let mut t = Trainer::new(net.clone(), &task, train, 1.0);
            t.step();
            let h = 1e-5;
            for (l, w) in net.layers.iter().enumerate() {
                let grad = w - &t.net.layers[l];
                for (i, j) in [(0, 0), (w.nrows() - 1, w.ncols() - 1), (3, 5), (7, 2)] {
                    let f = |delta: f64| {
                        let mut p = net.clone();
                        p.layers[l][(i, j)] += delta;
                        Trainer::new(p, &task, train, 1.0).train_loss()
                    };
                    let fd = (f(h) - f(-h)) / (2.0 * h);
                    let g = grad[(i, j)];
                    assert!(
                        (fd - g).abs() <= 1e-6 * g.abs().max(1e-3),
                        "{model:?} layer {l} ({i},{j}): fd {fd} vs {g}"
                    );
                }
            }
        }
    }
}
