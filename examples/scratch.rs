use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::tridiag;
use faer::{Mat, Par};
use std::time::Instant;
fn med(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
fn main() {
    for n in [384usize, 768, 1536] {
        let a = specscope::synth::gaussian(n, n, 1.0, &mut specscope::synth::rng(1));
        let g = &a * a.transpose();
        let par = Par::Seq;
        let (mut tt, mut tf) = (vec![], vec![]);
        for _ in 0..7 {
            let mut t = g.clone();
            let bs = faer::linalg::qr::no_pivoting::factor::recommended_block_size::<f64>(n, n);
            let mut h = Mat::<f64>::zeros(bs, n - 1);
            let mut buf = MemBuffer::new(tridiag::tridiag_in_place_scratch::<f64>(
                n,
                par,
                Default::default(),
            ));
            let t0 = Instant::now();
            tridiag::tridiag_in_place(
                t.as_mut(),
                h.as_mut(),
                par,
                MemStack::new(&mut buf),
                Default::default(),
            );
            tt.push(t0.elapsed().as_secs_f64() * 1e3);
            let t2 = Instant::now();
            let e = specscope::spectrum::eigenvalues_desc(g.as_ref(), par).unwrap();
            tf.push(t2.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(e);
        }
        println!(
            "n={n}: tridiag {:.1} ms, full evals {:.1} ms",
            med(tt),
            med(tf)
        );
    }
}
