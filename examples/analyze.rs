//! The library API in a few lines: open a checkpoint, analyse every weight
//! matrix on the CPU, print α and the density per matrix.
//!
//!     cargo run --release --example analyze -- fixtures/tiny/model.safetensors

use specscope::analysis::{Options, analyze};
use specscope::load::Checkpoint;
use specscope::pipeline::Silent;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fixtures/tiny/model.safetensors".into());
    let ck = Checkpoint::open(path.as_ref())?;
    let analysis = analyze(&ck, &Options::default(), &Silent)?;
    println!(
        "{:<32} {:>9} {:>8} {:>8}",
        "matrix", "N×M", "alpha", "density"
    );
    for m in &analysis.matrices {
        let show = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.3}"));
        println!(
            "{:<32} {:>9} {:>8} {:>8}",
            m.name(),
            format!("{}×{}", m.n(), m.m()),
            show(m.alpha()),
            show(m.density()),
        );
        if let Err(e) = &m.spectrum {
            eprintln!("{}: {e}", m.name());
        }
    }
    Ok(())
}
