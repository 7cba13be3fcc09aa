//! The CPU Gram operator: G formed once in f64 (`spectrum::gram_lower`,
//! N·M² work, M² memory: never more than the matrix itself), then applied
//! as a dense symmetric matvec. Every vector operation is f64.

use super::{BackendError, GramOperator, Step};
use crate::load::MatrixData;
use crate::spectrum::{SpectrumError, gram_lower};
use faer::{Mat, Par};

pub struct CpuOperator {
    /// The full symmetric Gram (both triangles).
    g: Mat<f64>,
    frob2: f64,
    /// Basis columns.
    q: Vec<Vec<f64>>,
    par: Par,
}

impl CpuOperator {
    pub fn new(data: &MatrixData, par: Par) -> Result<CpuOperator, SpectrumError> {
        let lower = gram_lower(data, par, |_| {})?;
        Ok(CpuOperator::from_lower(lower, par))
    }

    /// From the lower triangle of a Gram.
    pub fn from_lower(mut g: Mat<f64>, par: Par) -> CpuOperator {
        let n = g.nrows();
        for j in 0..n {
            for i in 0..j {
                g[(i, j)] = g[(j, i)];
            }
        }
        let frob2 = (0..n).map(|i| g[(i, i)]).sum();
        CpuOperator {
            g,
            frob2,
            q: Vec::new(),
            par,
        }
    }

    fn apply(&self, x: &[f64]) -> Vec<f64> {
        let n = self.dim();
        let xv = faer::ColRef::from_slice(x);
        let mut y = faer::Col::<f64>::zeros(n);
        faer::linalg::matmul::matmul(
            y.as_mut(),
            faer::Accum::Replace,
            self.g.as_ref(),
            xv,
            1.0,
            self.par,
        );
        y.iter().copied().collect()
    }

    /// w ⟂ q_0..q_{cols−1}, twice; returns the summed coefficients.
    fn cgs2(&self, w: &mut [f64], cols: usize) -> Vec<f64> {
        let mut total = vec![0.0; cols];
        for _ in 0..2 {
            let h: Vec<f64> = self.q[..cols].iter().map(|q| dot(q, w)).collect();
            for (q, &hj) in self.q[..cols].iter().zip(&h) {
                for (wi, qi) in w.iter_mut().zip(q) {
                    *wi -= hj * qi;
                }
            }
            for (t, hj) in total.iter_mut().zip(&h) {
                *t += hj;
            }
        }
        total
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalized(mut w: Vec<f64>, norm: f64) -> Vec<f64> {
    if norm > 0.0 {
        w.iter_mut().for_each(|v| *v /= norm);
    } else {
        w.iter_mut().for_each(|v| *v = 0.0);
    }
    w
}

impl GramOperator for CpuOperator {
    fn dim(&self) -> usize {
        self.g.nrows()
    }
    fn frob2(&self) -> f64 {
        self.frob2
    }
    fn unit_roundoff(&self) -> f64 {
        f64::EPSILON / 2.0
    }
    fn reserve(&mut self, cols: usize) -> Result<(), BackendError> {
        self.q.resize(cols.max(self.q.len()), vec![0.0; self.dim()]);
        Ok(())
    }
    fn set_column(&mut self, col: usize, x: &[f64]) -> Result<(), BackendError> {
        self.q[col].copy_from_slice(x);
        Ok(())
    }
    fn column(&mut self, col: usize) -> Result<Vec<f64>, BackendError> {
        Ok(self.q[col].clone())
    }
    fn expand(&mut self, src: usize, cols: usize) -> Result<Step, BackendError> {
        let mut w = self.apply(&self.q[src]);
        let coeffs = self.cgs2(&mut w, cols);
        let norm = dot(&w, &w).sqrt();
        self.q[cols] = normalized(w, norm);
        Ok(Step { coeffs, norm })
    }
    fn orthonormalize(&mut self, col: usize) -> Result<f64, BackendError> {
        let mut w = self.q[col].clone();
        self.cgs2(&mut w, col);
        let norm = dot(&w, &w).sqrt();
        self.q[col] = normalized(w, norm);
        Ok(norm)
    }
    fn rotate(&mut self, s: &[f64], m: usize, k: usize) -> Result<(), BackendError> {
        let n = self.dim();
        let out: Vec<Vec<f64>> = (0..k)
            .map(|c| {
                let mut v = vec![0.0; n];
                for j in 0..m {
                    let sj = s[j + c * m];
                    for (vi, qi) in v.iter_mut().zip(&self.q[j]) {
                        *vi += sj * qi;
                    }
                }
                v
            })
            .collect();
        for (c, v) in out.into_iter().enumerate() {
            self.q[c] = v;
        }
        Ok(())
    }
}
