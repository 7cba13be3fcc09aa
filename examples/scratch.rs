use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::tridiag;
use faer::{Mat, Par};
use specscope::load::*;
use specscope::pipeline::{self, Selection};
use std::time::Instant;
fn main() {
    let ck = Checkpoint::open(std::path::Path::new(
        ".cache/checkpoints/minilm/model.safetensors",
    ))
    .unwrap();
    let plan = pipeline::plan(&ck, &Selection::default());
    let (mut tg, mut tt, mut te, mut tf) = (0.0, 0.0, 0.0, 0.0);
    for job in &plan.jobs {
        let t = &ck.tensors[job.tensor];
        let f = ck.file_of(t).unwrap();
        let data = MatrixData {
            bytes: f.tensor_bytes(&t.header),
            dtype: &t.header.dtype,
            view: job.spec.views[0],
        };
        let t0 = Instant::now();
        let g = specscope::spectrum::gram_lower(&data, Par::Seq, |_| {}).unwrap();
        let t1 = Instant::now();
        let n = g.nrows();
        let mut tr = Mat::<f64>::zeros(n, n);
        tr.copy_from_triangular_lower(&g);
        let bs = faer::linalg::qr::no_pivoting::factor::recommended_block_size::<f64>(n, n);
        let mut h = Mat::<f64>::zeros(bs, n.max(2) - 1);
        let mut buf = MemBuffer::new(tridiag::tridiag_in_place_scratch::<f64>(
            n,
            Par::Seq,
            Default::default(),
        ));
        let t2 = Instant::now();
        tridiag::tridiag_in_place(
            tr.as_mut(),
            h.as_mut(),
            Par::Seq,
            MemStack::new(&mut buf),
            Default::default(),
        );
        let t3 = Instant::now();
        let e = specscope::spectrum::eigenvalues_desc(g.as_ref(), Par::Seq).unwrap();
        let t4 = Instant::now();
        let m = specscope::fit::layer_metrics(&e, n, 0.0);
        let t5 = Instant::now();
        std::hint::black_box(m);
        tg += (t1 - t0).as_secs_f64();
        tt += (t3 - t2).as_secs_f64();
        te += (t4 - t3).as_secs_f64();
        tf += (t5 - t4).as_secs_f64();
    }
    println!(
        "gram {:.0} ms, tridiag {:.0} ms, full eig {:.0} ms, metrics {:.0} ms",
        tg * 1e3,
        tt * 1e3,
        te * 1e3,
        tf * 1e3
    );
}
