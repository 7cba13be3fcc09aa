//! Fuzz target: any bytes as a `.safetensors` file. The file is opened as
//! a checkpoint, planned under both presets and both convolution modes,
//! and every view of every planned matrix is decoded in full, so a header
//! whose sizes got past validation shows up as an out-of-range read or an
//! absurd allocation, not only as a parser panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use specscope::load::{Checkpoint, ConvMode, MatrixData};
use specscope::pipeline::{Preset, Selection, plan};

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!(
        "specscope-fuzz-{}-checkpoint.safetensors",
        std::process::id()
    ));
    std::fs::write(&path, data).expect("scratch file written");
    let Ok(ck) = Checkpoint::open(&path) else {
        return;
    };
    for (preset, conv) in [
        (Preset::Default, ConvMode::Pooled),
        (Preset::Default, ConvMode::Unfold),
        (Preset::Weightwatcher, ConvMode::Pooled),
    ] {
        let sel = Selection {
            preset,
            conv,
            ..Selection::default()
        };
        let plan = plan(&ck, &sel);
        for job in &plan.jobs {
            let t = &ck.tensors[job.tensor];
            let file = ck.file_of(t).expect("a planned tensor has a file");
            for view in &job.spec.views {
                let m = MatrixData {
                    bytes: file.tensor_bytes(&t.header),
                    dtype: &t.header.dtype,
                    view: *view,
                };
                let mut rows = vec![0.0; view.rows * view.cols];
                m.read_rows(0, view.rows, &mut rows);
            }
        }
    }
});
