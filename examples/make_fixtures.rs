//! Writes the small checkpoint bundled in `fixtures/tiny/` (the README's
//! default input): a toy transformer-ish model that exercises every
//! tensor → matrix rule and every decoded dtype, with known spectra.
//!
//!   cargo run --release --example make_fixtures
//!
//! Deterministic: the same file, byte for byte, on every run.

use specscope::load::{DType, TensorOut, write_safetensors};
use specscope::synth::{power_law, rng, row_major, with_spectrum};

fn main() -> anyhow::Result<()> {
    let mut r = rng(20261128);
    let mut tensors = Vec::new();
    let mut mat = |name: &str, dtype: DType, m: usize, n: usize, b: f64, noise: f64| {
        let mu = power_law(m.min(n), b, 4.0);
        let w = with_spectrum(m, n, &mu, noise, &mut r);
        TensorOut::from_f64(name, dtype, &[m, n], &row_major(&w)).expect("a float tensor")
    };
    tensors.push(mat("embed.weight", DType::F32, 512, 64, 1.2, 0.01));
    for (i, b) in [(0, 1.5), (1, 2.0)] {
        tensors.push(mat(
            &format!("blocks.{i}.attn.qkv.weight"),
            DType::BF16,
            192,
            64,
            b,
            0.02,
        ));
        tensors.push(mat(
            &format!("blocks.{i}.attn.out.weight"),
            DType::F32,
            64,
            64,
            b,
            0.02,
        ));
        tensors.push(mat(
            &format!("blocks.{i}.mlp.up.weight"),
            DType::F16,
            256,
            64,
            b + 0.5,
            0.02,
        ));
        tensors.push(mat(
            &format!("blocks.{i}.mlp.down.weight"),
            DType::F32,
            64,
            256,
            b + 0.5,
            0.02,
        ));
        tensors.push(
            TensorOut::from_f64(
                &format!("blocks.{i}.norm.weight"),
                DType::F32,
                &[64],
                &[1.0; 64],
            )
            .expect("a float tensor"),
        );
        tensors.push(
            TensorOut::from_f64(
                &format!("blocks.{i}.mlp.up.bias"),
                DType::F32,
                &[256],
                &[0.0; 256],
            )
            .expect("a float tensor"),
        );
    }
    // A 3×3 convolution [out, in, kh, kw] and a stack of 4 experts [E, out, in].
    let conv = with_spectrum(32, 16 * 9, &power_law(32, 1.0, 1.0), 0.01, &mut r);
    tensors.push(
        TensorOut::from_f64(
            "stem.conv.weight",
            DType::F32,
            &[32, 16, 3, 3],
            &row_major(&conv),
        )
        .expect("a float tensor"),
    );
    let mut experts = Vec::new();
    for _ in 0..4 {
        experts.extend(row_major(&with_spectrum(
            64,
            32,
            &power_law(32, 1.8, 2.0),
            0.01,
            &mut r,
        )));
    }
    tensors.push(
        TensorOut::from_f64("moe.experts.weight", DType::F32, &[4, 64, 32], &experts)
            .expect("a float tensor"),
    );
    // Position ids: an integer tensor, listed and skipped.
    let ids: Vec<u8> = (0..64i64).flat_map(|i| i.to_le_bytes()).collect();
    tensors.push(TensorOut::raw("position_ids", "I64", &[1, 64], ids));
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tiny/model.safetensors");
    write_safetensors(
        &path,
        &tensors,
        &[
            ("format", "pt".to_string()),
            ("generator", "examples/make_fixtures.rs".to_string()),
        ],
    )?;
    println!("wrote {} ({} tensors)", path.display(), tensors.len());
    Ok(())
}
