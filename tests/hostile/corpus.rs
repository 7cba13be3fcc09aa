//! The seed corpus of the cargo-fuzz targets (`fuzz/corpus/<target>/`):
//! every byte-level case of the regression tests, a few valid inputs for
//! the fuzzer to mutate from, and a real `analyze` report. Written by
//!
//! ```text
//! cargo test --test hostile -- --ignored write_fuzz_corpus
//! ```
//!
//! (FIFOs, symlinks and devices are file-system cases, not bytes: the
//! regression tests and the generator cover them.)

use std::path::Path;

// Length field, header text padded to 8 bytes, data.
use super::generate::encode as st;

fn one(name: &str, dtype: &str, shape: &str, data_len: usize) -> Vec<u8> {
    st(
        &format!(
            r#"{{"{name}":{{"dtype":"{dtype}","shape":{shape},"data_offsets":[0,{data_len}]}}}}"#
        ),
        &vec![0x3c; data_len],
    )
}

fn checkpoint_file() -> Vec<(&'static str, Vec<u8>)> {
    let f32s = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| ((i as f32 * 0.37).sin()).to_le_bytes())
            .collect()
    };
    let valid = st(
        concat!(
            r#"{"__metadata__":{"format":"pt"},"#,
            r#""a.weight":{"dtype":"F32","shape":[4,6],"data_offsets":[0,96]},"#,
            r#""moe.experts.w":{"dtype":"F32","shape":[2,2,16],"data_offsets":[96,352]},"#,
            r#""conv.weight":{"dtype":"F32","shape":[2,2,3,3],"data_offsets":[352,496]},"#,
            r#""conv1d.weight":{"dtype":"F32","shape":[2,2,3],"data_offsets":[496,544]},"#,
            r#""b":{"dtype":"F32","shape":[4],"data_offsets":[544,560]},"#,
            r#""ids":{"dtype":"I64","shape":[2],"data_offsets":[560,576]}}"#
        ),
        &f32s(144),
    );
    let mut truncated = valid.clone();
    truncated.truncate(valid.len() - 100);
    let mut lying_len = valid.clone();
    lying_len[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut non_utf8 = valid.clone();
    non_utf8[12] = 0xFF;
    vec![
        ("valid-every-rule", valid),
        ("valid-f16", one("w.weight", "F16", "[4,4]", 32)),
        ("valid-bf16", one("w.weight", "BF16", "[4,4]", 32)),
        ("valid-f64", one("w.weight", "F64", "[4,4]", 128)),
        (
            "f32-2p31-squared-16-bytes",
            one("big.weight", "F32", "[2147483648,2147483648]", 16),
        ),
        (
            "f16-2p61-rows",
            one("tall.weight", "F16", "[2305843009213693952,1]", 16),
        ),
        (
            "bf16-1d-2p64-minus-1",
            one("b", "BF16", "[18446744073709551615]", 16),
        ),
        (
            "experts-2p24-tiny-header",
            one("moe.experts.w", "F32", "[16777216,1,1]", 16),
        ),
        (
            "experts-2p40-for-inspect",
            one("moe.experts.w", "F32", "[1099511627776,8,8]", 16),
        ),
        ("experts-1x1", one("moe.experts.w", "F32", "[64,1,1]", 256)),
        (
            "experts-over-the-cap-header-only",
            one("moe.experts.w", "F16", "[16385,1,16]", 16),
        ),
        (
            "conv-4225-positions",
            one("conv.weight", "F16", "[1,1,65,65]", 65 * 65 * 2),
        ),
        (
            "conv-2p40-positions",
            one("conv.weight", "F32", "[1,1,1048576,1048576]", 16),
        ),
        (
            "offsets-past-the-end",
            one("w.weight", "F32", "[4,4]", 64)[..60].to_vec(),
        ),
        (
            "offsets-u64-max",
            st(
                r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551615,18446744073709551615]}}"#,
                &[0; 8],
            ),
        ),
        (
            "offsets-overlap",
            st(
                r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}}"#,
                &[0; 24],
            ),
        ),
        (
            "duplicate-key",
            st(
                r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"a":{"dtype":"F32","shape":[4,1],"data_offsets":[0,16]}}"#,
                &[0; 16],
            ),
        ),
        ("dtype-unknown", one("w.weight", "Q4_K", "[4,4]", 32)),
        ("dtype-f8", one("w.weight", "F8_E4M3", "[4,4]", 16)),
        (
            "shape-negative",
            st(
                r#"{"w":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]}}"#,
                &[0; 16],
            ),
        ),
        (
            "nan-weights",
            st(
                r#"{"w.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#,
                &[0, 0, 0xC0, 0x7F, 0, 0, 0x80, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0],
            ),
        ),
        ("truncated", truncated),
        ("header-length-u64-max", lying_len),
        ("header-not-utf8", non_utf8),
        ("header-not-object", st("[1,2,3]", &[])),
        ("header-deep-nesting", st(&"[".repeat(4096), &[])),
        ("seven-bytes", vec![1, 0, 0, 0, 0, 0, 0]),
    ]
}

fn sharded_index() -> Vec<(&'static str, Vec<u8>)> {
    let idx = |map: &str| {
        format!(r#"{{"metadata":{{"total_size":256}},"weight_map":{map}}}"#).into_bytes()
    };
    vec![
        (
            "valid",
            idx(
                r#"{"x.weight":"a.safetensors","y.weight":"a.safetensors","z.weight":"b.safetensors","w":"b.safetensors"}"#,
            ),
        ),
        (
            "one-shard-two-names",
            idx(
                r#"{"x.weight":"a.safetensors","y.weight":"./a.safetensors","z.weight":"sub/../b.safetensors"}"#,
            ),
        ),
        (
            "wrong-shard",
            idx(
                r#"{"x.weight":"a.safetensors","y.weight":"a.safetensors","z.weight":"a.safetensors"}"#,
            ),
        ),
        (
            "missing-tensor",
            idx(r#"{"x.weight":"a.safetensors","ghost.weight":"b.safetensors"}"#),
        ),
        ("missing-shard", idx(r#"{"x.weight":"c.safetensors"}"#)),
        (
            "outside-relative",
            idx(r#"{"x.weight":"a.safetensors","p":"../../etc/passwd"}"#),
        ),
        (
            "outside-absolute",
            idx(r#"{"x.weight":"a.safetensors","p":"/etc/passwd","d":"/dev/zero"}"#),
        ),
        (
            "shard-is-a-directory",
            idx(r#"{"x.weight":"sub","y.weight":".","z.weight":""}"#),
        ),
        ("weight-map-not-object", br#"{"weight_map":[1,2]}"#.to_vec()),
        (
            "weight-map-not-string",
            br#"{"weight_map":{"x.weight":7}}"#.to_vec(),
        ),
        ("weight-map-empty", br#"{"weight_map":{}}"#.to_vec()),
        ("not-json", b"not json".to_vec()),
        (
            "not-utf8",
            b"{\"weight_map\":{\"x.weight\":\"a\xFF.safetensors\"}}".to_vec(),
        ),
    ]
}

fn check_config() -> Vec<(&'static str, Vec<u8>)> {
    let tiny =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tiny/specscope.toml"))
            .expect("fixtures/tiny/specscope.toml");
    vec![
        ("tiny-fixture", tiny),
        ("drift", b"[[rule]]\nname = \"d\"\nkind = \"drift\"\nmetric = \"log_norm\"\nabs = 0.001\nrel = 0.01\nmissing = \"skip\"\n".to_vec()),
        ("not-utf8-line-2", b"[[rule]]\nname = \"caf\xE9\"\n".to_vec()),
        ("not-toml", b"[[rule]\nname = ".to_vec()),
        ("unknown-key", b"[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"alpha\"\nmaxx = 1\n".to_vec()),
        ("bad-regex", b"[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"alpha\"\nselect = \"(\"\nmax = 1\n".to_vec()),
        ("duplicate-name", b"[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"alpha\"\nmax = 1\n[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"alpha\"\nmax = 2\n".to_vec()),
    ]
}

fn report_doc(scratch: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let model = scratch.join("m.safetensors");
    let v: Vec<f64> = (0..600)
        .map(|i| ((i * 37 % 101) as f64 - 50.0) / 50.0)
        .collect();
    crate::common::write(
        &model,
        &[
            (
                "enc.attn.q.weight",
                specscope::load::DType::F32,
                &[24, 20],
                v[..480].to_vec(),
            ),
            (
                "enc.mlp.up.weight",
                specscope::load::DType::F32,
                &[30, 20],
                v[..600].to_vec(),
            ),
        ],
    );
    let o = crate::common::specscope(&[
        "analyze",
        "--backend",
        "cpu",
        "--format",
        "json",
        "-q",
        model.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", crate::common::stderr(&o));
    // The scratch path differs per run; the seed should not.
    let report = String::from_utf8(o.stdout)
        .expect("a UTF-8 report")
        .replace(&format!("{}/", scratch.display()), "");
    vec![
        ("analyze-report", report.into_bytes()),
        ("minimal", br#"{"layers":[{"name":"a","alpha":3.0,"log_norm":1.0}],"summary":{"alpha":3.0}}"#.to_vec()),
        ("other-command", br#"{"command":"inspect","layers":[],"summary":{}}"#.to_vec()),
        ("layers-not-objects", br#"{"layers":[1,"x",null],"summary":{}}"#.to_vec()),
        ("no-summary", br#"{"layers":[]}"#.to_vec()),
        ("odd-values", br#"{"layers":[{"longname":"b","alpha":1e308,"log_norm":"NaN","N":-1,"M":1.5}],"summary":{"alpha":null}}"#.to_vec()),
        ("not-object", b"[]".to_vec()),
        ("not-json", b"{\"layers\":".to_vec()),
        ("not-utf8", b"{\"layers\":[{\"name\":\"\xFF\"}],\"summary\":{}}".to_vec()),
    ]
}

/// Writes every target's seeds under `fuzz/corpus/`.
pub fn write_all(scratch: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (target, seeds) in [
        ("checkpoint_file", checkpoint_file()),
        ("sharded_index", sharded_index()),
        ("check_config", check_config()),
        ("report_doc", report_doc(scratch)),
    ] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).expect("seed written");
        }
    }
}
