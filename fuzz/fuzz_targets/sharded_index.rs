//! Fuzz target: any bytes as a `*.safetensors.index.json` beside two valid
//! shards (`a.safetensors`, `b.safetensors`) and a subdirectory. The index
//! is parsed on its own, then the directory is opened as a checkpoint and
//! planned: shard names that escape the directory, name one shard two
//! ways, or place tensors in the wrong shard must all end as named
//! problems.
#![no_main]

use libfuzzer_sys::fuzz_target;
use specscope::load::{Checkpoint, DType, Index, TensorOut, write_safetensors};
use specscope::pipeline::{Selection, plan};
use std::path::PathBuf;
use std::sync::OnceLock;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("specscope-fuzz-{}-index", std::process::id()));
        std::fs::create_dir_all(d.join("sub")).expect("scratch directory");
        let v: Vec<f64> = (0..32).map(|i| (i as f64 - 15.5) / 16.0).collect();
        for (file, names) in [("a", ["x.weight", "y.weight"]), ("b", ["z.weight", "w"])] {
            let tensors: Vec<TensorOut> = names
                .iter()
                .map(|n| TensorOut::from_f64(n, DType::F32, &[8, 4], &v).expect("F32 encodes"))
                .collect();
            write_safetensors(&d.join(format!("{file}.safetensors")), &tensors, &[])
                .expect("shard written");
        }
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let d = dir();
    let index = d.join("model.safetensors.index.json");
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Index::parse(&index, text);
    }
    std::fs::write(&index, data).expect("index written");
    if let Ok(ck) = Checkpoint::open(d) {
        let _ = plan(&ck, &Selection::default());
    }
});
