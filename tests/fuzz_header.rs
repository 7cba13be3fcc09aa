//! Property test of the header parser and the whole analyse path: any
//! byte-level damage to a valid file (truncation, overwritten bytes, a
//! rewritten header length) yields errors or partial results, never a
//! panic, and every tensor is either analysed or accounted for.

use proptest::prelude::*;
use specscope::load::{Checkpoint, DType, TensorOut, write_safetensors};
use specscope::pipeline::{self, RunOptions, Selection, Silent};

fn valid_file() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    let v: Vec<f64> = (0..96)
        .map(|i| ((i * 37 % 17) as f64 - 8.0) / 8.0)
        .collect();
    write_safetensors(
        &p,
        &[
            TensorOut::from_f64("a.weight", DType::F32, &[8, 6], &v[..48]).expect("a float tensor"),
            TensorOut::from_f64("b.weight", DType::BF16, &[6, 8], &v[..48])
                .expect("a float tensor"),
            TensorOut::from_f64("c", DType::F16, &[2, 3, 4], &v[..24]).expect("a float tensor"),
            TensorOut::from_f64("d", DType::F64, &[2, 2, 2, 3], &v[..24]).expect("a float tensor"),
        ],
        &[],
    )
    .unwrap();
    std::fs::read(p).unwrap()
}

fn analyse(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    std::fs::write(&p, bytes).unwrap();
    let Ok(ck) = Checkpoint::open(&p) else { return };
    let plan = pipeline::plan(&ck, &Selection::default());
    let out = pipeline::run(
        &ck,
        &plan,
        &RunOptions {
            threads: 1,
            ..RunOptions::default()
        },
        &Silent,
    );
    assert_eq!(out.len(), plan.jobs.len());
    // Every tensor is a job, a skip, or carried a problem.
    for t in &ck.tensors {
        let planned = plan
            .jobs
            .iter()
            .any(|j| ck.tensors[j.tensor].name() == t.name())
            || plan.skipped.iter().any(|s| s.tensor == t.name());
        assert!(planned, "tensor `{}` vanished", t.name());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn truncation_never_panics(cut in 0usize..1200) {
        let f = valid_file();
        analyse(&f[..cut.min(f.len())]);
    }

    #[test]
    fn overwritten_bytes_never_panic(edits in proptest::collection::vec((0usize..1200, any::<u8>()), 1..8)) {
        let mut f = valid_file();
        for (at, b) in edits {
            let n = f.len();
            f[at % n] = b;
        }
        analyse(&f);
    }

    #[test]
    fn lying_header_length_never_panics(n in any::<u64>()) {
        let mut f = valid_file();
        f[..8].copy_from_slice(&n.to_le_bytes());
        analyse(&f);
    }

    #[test]
    fn arbitrary_headers_never_panic(header in "[{}\\[\\]\":,a-zA-Z0-9_. -]{0,200}", data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut f = (header.len() as u64).to_le_bytes().to_vec();
        f.extend_from_slice(header.as_bytes());
        f.extend_from_slice(&data);
        analyse(&f);
    }
}
