//! GPU engine benchmarks (median of repeated runs):
//!   - the Gram kernel in GFLOP/s (useful flops N·M², the lower triangle,
//!     counting a multiply-add as 2), timed from the end of the upload to
//!     the end of the pairwise sums;
//!   - the matrix-free Gram apply in GB/s (the weights are read twice per
//!     apply: 2·bytes / time, one Lanczos step including CGS2 and the
//!     read-back of its coefficients);
//!   - end-to-end `specscope analyze` wall time per backend on a generated
//!     bf16 checkpoint.
//!
//!   cargo bench --bench gpu              # sizes for the adapter found
//!   SPECSCOPE_BENCH_LARGE=1 cargo bench --bench gpu   # 7B shapes anywhere
//!
//! On a software adapter (lavapipe) the shapes shrink: it is the CPU, and
//! its figures say nothing about a GPU.

mod common;

use common::median;
use specscope::backend::{GpuContext, GpuOperator, GpuOptions, GramOperator};
use specscope::load::{DType, MatrixData, TensorOut, View, write_safetensors};
use std::time::Instant;

/// Seeded bf16 bytes, values uniform in ±0.02 (xorshift).
fn bf16_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    let mut out = Vec::with_capacity(2 * n);
    for _ in 0..n {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let x = ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.04;
        out.extend_from_slice(&half::bf16::from_f32(x).to_le_bytes());
    }
    out
}

fn main() {
    let ctx = match GpuContext::open(&GpuOptions {
        allow_software: true,
        ..Default::default()
    }) {
        Ok(c) => c,
        Err(e) => {
            println!("no GPU benchmark: {e}");
            return;
        }
    };
    let large = !ctx.adapter.software || std::env::var_os("SPECSCOPE_BENCH_LARGE").is_some();
    println!("[{}] subgroups: {}", ctx.adapter, ctx.subgroups());
    let shapes: &[(usize, usize, usize)] = if large {
        &[
            (4096, 4096, 5),
            (11008, 4096, 5),
            (4096, 11008, 5),
            (262144, 640, 3),
        ]
    } else {
        &[(1024, 1024, 3), (2752, 1024, 3), (1024, 2752, 3)]
    };
    println!(
        "{:>14}  {:>10}  {:>10}  {:>10}  {:>9}  {:>10}  {:>8}",
        "shape bf16", "upload ms", "gram ms", "read ms", "GFLOP/s", "apply ms", "GB/s"
    );
    for &(rows, cols, reps) in shapes {
        let bytes = bf16_bytes(rows * cols, 7);
        let data = MatrixData {
            bytes: &bytes,
            dtype: &DType::BF16,
            view: View::dense(0, rows, cols),
        };
        let (mut up, mut k, mut rb) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            let g = ctx.gram(&data, |_| {}).expect("gram");
            up.push(g.seconds.upload);
            k.push(g.seconds.kernel);
            rb.push(g.seconds.readback);
        }
        let (m, n) = (rows.min(cols) as f64, rows.max(cols) as f64);
        let kernel = median(k);
        let mut op = GpuOperator::new(&ctx, &data).expect("operator");
        op.reserve(2).unwrap();
        op.set_column(0, &vec![1.0 / m.sqrt(); m as usize]).unwrap();
        op.expand(0, 1).unwrap(); // warm-up: pipelines
        let mut ta = Vec::new();
        for _ in 0..(reps * 4) {
            let t = Instant::now();
            op.expand(0, 1).unwrap();
            ta.push(t.elapsed().as_secs_f64());
        }
        let apply = median(ta);
        println!(
            "{:>14}  {:>10.2}  {:>10.2}  {:>10.2}  {:>9.1}  {:>10.3}  {:>8.1}",
            format!("{rows}×{cols}"),
            median(up) * 1e3,
            kernel * 1e3,
            median(rb) * 1e3,
            n * m * m / kernel / 1e9,
            apply * 1e3,
            2.0 * op.weight_bytes() as f64 / apply / 1e9
        );
        drop(op);
        ctx.release_buffers();
    }
    end_to_end(large);
}

/// `specscope analyze` on a generated bf16 checkpoint, per backend.
fn end_to_end(large: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (d, f, blocks) = if large {
        (4096, 11008, 2)
    } else {
        (512, 1376, 2)
    };
    let mut tensors = Vec::new();
    for b in 0..blocks {
        for (name, r, c) in [
            ("q", d, d),
            ("k", d, d),
            ("v", d, d),
            ("o", d, d),
            ("gate", f, d),
            ("up", f, d),
            ("down", d, f),
        ] {
            tensors.push(TensorOut {
                name: format!("layers.{b}.{name}.weight"),
                dtype: DType::BF16,
                shape: vec![r, c],
                data: bf16_bytes(r * c, (b * 7 + r + c) as u64),
            });
        }
    }
    let path = dir.path().join("model.safetensors");
    write_safetensors(&path, &tensors, &[]).unwrap();
    drop(tensors);
    println!("\nanalyze, {blocks} blocks of a decoder with d = {d}, ffn = {f} (bf16), exact:");
    for backend in ["cpu", "gpu"] {
        let t = Instant::now();
        // SPECSCOPE_BIN: the binary when this bench runs away from its
        // build tree (scripts/gpu-bench.sh on the device machine).
        let bin = std::env::var("SPECSCOPE_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_specscope").to_string());
        let o = std::process::Command::new(bin)
            .args([
                "analyze",
                path.to_str().unwrap(),
                "--backend",
                backend,
                "-q",
                "--format",
                "json",
            ])
            .output()
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "  --backend {backend}: {secs:.2} s{}",
            if o.status.success() { "" } else { " (failed)" }
        );
    }
}
