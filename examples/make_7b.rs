//! Writes a checkpoint shaped like a 7B decoder, in bf16, for the GPU
//! benchmark: `blocks` blocks of q, k, v, o (d×d), gate and up (ffn×d) and
//! down (d×ffn), one safetensors file per block. Values are seeded
//! uniform noise (±0.02): the shapes and bytes are what the benchmark needs.
//!
//!   cargo run --release --example make_7b -- DIR [BLOCKS] [D] [FFN]
//!
//! Defaults: 32 blocks, d = 4096, ffn = 11008 (224 matrices, 12.9 GB).

use rayon::prelude::*;
use specscope::load::{DType, TensorOut, write_safetensors};
use std::path::PathBuf;

fn bf16_noise(n: usize, seed: u64) -> Vec<u8> {
    const CHUNK: usize = 1 << 20;
    let mut out = vec![0u8; 2 * n];
    out.par_chunks_mut(2 * CHUNK)
        .enumerate()
        .for_each(|(ci, dst)| {
            let mut s = (seed ^ (ci as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
            for b in dst.chunks_exact_mut(2) {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let x = ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.04;
                b.copy_from_slice(&half::bf16::from_f32(x).to_le_bytes());
            }
        });
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().expect("usage: make_7b DIR [BLOCKS] [D] [FFN]"));
    let num = |i: usize, d: usize| args.get(i).map_or(d, |s| s.parse().expect("a number"));
    let (blocks, d, ffn) = (num(1, 32), num(2, 4096), num(3, 11008));
    std::fs::create_dir_all(&dir).unwrap();
    for b in 0..blocks {
        let tensors: Vec<TensorOut> = [
            ("self_attn.q_proj", d, d),
            ("self_attn.k_proj", d, d),
            ("self_attn.v_proj", d, d),
            ("self_attn.o_proj", d, d),
            ("mlp.gate_proj", ffn, d),
            ("mlp.up_proj", ffn, d),
            ("mlp.down_proj", d, ffn),
        ]
        .iter()
        .enumerate()
        .map(|(i, &(name, r, c))| TensorOut {
            name: format!("model.layers.{b}.{name}.weight"),
            dtype: DType::BF16,
            shape: vec![r, c],
            data: bf16_noise(r * c, (b * 16 + i) as u64 + 1),
        })
        .collect();
        let path = dir.join(format!("model-{b:05}.safetensors"));
        write_safetensors(&path, &tensors, &[]).unwrap();
        eprintln!("{}", path.display());
    }
}
