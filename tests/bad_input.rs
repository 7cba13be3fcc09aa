//! Malformed input: every case gets a clear message naming the file (and
//! the tensor), no panic, the right exit code, and the good tensors of the
//! same checkpoint are still analysed.

mod common;

use common::*;
use specscope::load::DType;
use std::path::Path;

const ERROR: i32 = 2;
const PARTIAL: i32 = 3;

fn analyze_json(path: &Path) -> std::process::Output {
    specscope(&[
        "analyze",
        path.to_str().unwrap(),
        "--format",
        "json",
        "--quiet",
    ])
}

fn assert_no_panic(o: &std::process::Output) {
    let err = stderr(o);
    assert!(!err.contains("panicked"), "panic: {err}");
}

/// The names of the analysed rows, and the failed ones.
fn rows(o: &std::process::Output) -> (Vec<String>, Vec<String>) {
    let v = json(o);
    let layers = v["layers"].as_array().unwrap();
    let pick = |ok: bool| {
        layers
            .iter()
            .filter(|l| l["has_esd"].as_bool().unwrap() == ok)
            .map(|l| l["name"].as_str().unwrap().to_string())
            .collect()
    };
    (pick(true), pick(false))
}

/// A good 8×4 f32 tensor's header entry and bytes, at data offset `at`.
fn good(name: &str, at: usize) -> (String, Vec<u8>) {
    let v = values(32, at as u64 + 1);
    let bytes: Vec<u8> = v.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect();
    (
        format!(
            r#""{name}":{{"dtype":"F32","shape":[8,4],"data_offsets":[{at},{}]}}"#,
            at + 128
        ),
        bytes,
    )
}

#[test]
fn missing_path() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nope.safetensors");
    let o = analyze_json(&p);
    assert_eq!(o.status.code(), Some(ERROR));
    assert!(
        stderr(&o).contains(&format!("{}: no such file or directory", p.display())),
        "{}",
        stderr(&o)
    );
    assert_no_panic(&o);
}

#[test]
fn empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let o = analyze_json(dir.path());
    assert_eq!(o.status.code(), Some(ERROR));
    assert!(
        stderr(&o).contains("holds no *.safetensors file"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains(&dir.path().display().to_string()));
    assert_no_panic(&o);
}

#[test]
fn not_a_safetensors_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.safetensors");
    std::fs::write(&p, "this is a text file, not a checkpoint\n").unwrap();
    let o = analyze_json(&p);
    assert_eq!(o.status.code(), Some(ERROR));
    assert!(
        stderr(&o).contains(&format!("{}: not a valid safetensors file", p.display())),
        "{}",
        stderr(&o)
    );
    assert_no_panic(&o);
    // Too short even for the length field.
    std::fs::write(&p, b"abc").unwrap();
    let o = analyze_json(&p);
    assert_eq!(o.status.code(), Some(ERROR));
    assert!(
        stderr(&o).contains("fewer than the 8-byte header-length field"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn header_length_past_end_of_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.safetensors");
    let mut bytes = 1000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{\"a\":1}");
    std::fs::write(&p, bytes).unwrap();
    let o = analyze_json(&p);
    assert_eq!(o.status.code(), Some(ERROR));
    let err = stderr(&o);
    assert!(
        err.contains(&p.display().to_string())
            && err.contains("says 1000 bytes, but only 7 bytes follow"),
        "{err}"
    );
    assert_no_panic(&o);
}

#[test]
fn header_not_json() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.safetensors");
    write_raw(&p, "{\"w\": {\"dtype\": \"F32\", oops", &[0; 16]);
    let o = analyze_json(&p);
    assert_eq!(o.status.code(), Some(ERROR));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}: ", p.display())) && err.contains("header is not valid JSON"),
        "{err}"
    );
    assert_no_panic(&o);
}

#[test]
fn overlapping_offsets_fail_both_tensors_only() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.safetensors");
    let (g, gb) = good("good.weight", 0);
    // a: [128, 256), b: [192, 320): they overlap.
    let header = format!(
        r#"{{{g},"a.weight":{{"dtype":"F32","shape":[8,4],"data_offsets":[128,256]}},"b.weight":{{"dtype":"F32","shape":[8,4],"data_offsets":[192,320]}}}}"#
    );
    let mut data = gb;
    data.extend(vec![0u8; 192]);
    write_raw(&p, &header, &data);
    let o = analyze_json(&p);
    assert_eq!(o.status.code(), Some(PARTIAL));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}: tensor `a.weight`", p.display()))
            && err.contains("overlap those of tensor `b.weight`"),
        "{err}"
    );
    assert!(err.contains("tensor `b.weight`"), "{err}");
    assert_eq!(rows(&o).0, vec!["good"]);
    assert_no_panic(&o);
}

#[test]
fn offsets_outside_the_file_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    // A valid two-tensor file, then cut in the middle of the second tensor.
    let p = dir.path().join("model.safetensors");
    write(
        &p,
        &[
            ("a", DType::F32, &[16, 8], values(128, 1)),
            ("b", DType::F32, &[16, 8], values(128, 2)),
        ],
    );
    let full = std::fs::read(&p).unwrap();
    std::fs::write(&p, &full[..full.len() - 100]).unwrap();
    let o = analyze_json(&p);
    assert_eq!(o.status.code(), Some(PARTIAL));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}: tensor `b`", p.display()))
            && err.contains("run past the end of the data section"),
        "{err}"
    );
    assert!(err.contains("truncated"), "{err}");
    assert_eq!(rows(&o).0, vec!["a"]);
    assert_no_panic(&o);

    // An intact file whose header points a tensor far past its data.
    let q = dir.path().join("liar.safetensors");
    let (g, gb) = good("good", 0);
    let header =
        format!(r#"{{{g},"far":{{"dtype":"F32","shape":[8,4],"data_offsets":[128,100000]}}}}"#);
    let mut data = gb;
    data.extend(vec![0u8; 128]);
    write_raw(&q, &header, &data);
    let o = analyze_json(&q);
    assert_eq!(o.status.code(), Some(PARTIAL));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}: tensor `far`", q.display()))
            && err.contains("run past the end of the data section"),
        "{err}"
    );
    assert_eq!(rows(&o).0, vec!["good"]);
    assert_no_panic(&o);
}

#[test]
fn shape_times_dtype_differs_from_byte_length() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.safetensors");
    let (g, gb) = good("good", 0);
    let header =
        format!(r#"{{{g},"liar":{{"dtype":"F32","shape":[4,4],"data_offsets":[128,160]}}}}"#);
    let mut data = gb;
    data.extend(vec![0u8; 32]);
    write_raw(&p, &header, &data);
    let o = analyze_json(&p);
    assert_eq!(o.status.code(), Some(PARTIAL));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{}: tensor `liar`: shape [4, 4] of dtype F32 needs 64 bytes, but data_offsets [128, 160] give 32 bytes",
            p.display()
        )),
        "{err}"
    );
    assert_eq!(rows(&o).0, vec!["good"]);
    assert_no_panic(&o);
}

#[test]
fn unsupported_float_dtype_fails_integer_dtype_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.safetensors");
    let (g, gb) = good("good", 0);
    let header = format!(
        r#"{{{g},"fp8.weight":{{"dtype":"F8_E4M3","shape":[4,4],"data_offsets":[128,144]}},"ids":{{"dtype":"I64","shape":[1,2],"data_offsets":[144,160]}}}}"#
    );
    let mut data = gb;
    data.extend(vec![0u8; 32]);
    write_raw(&p, &header, &data);
    let o = analyze_json(&p);
    assert_eq!(o.status.code(), Some(PARTIAL));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{}: tensor `fp8.weight` has dtype F8_E4M3; supported: F16, BF16, F32, F64",
            p.display()
        )),
        "{err}"
    );
    assert!(
        !err.contains("`ids`"),
        "integer tensors are skipped quietly: {err}"
    );
    let v = json(&o);
    let skipped = v["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["tensor"] == "ids" && s["failed"] == false)
    );
    assert!(
        skipped
            .iter()
            .any(|s| s["tensor"] == "fp8.weight" && s["failed"] == true)
    );
    assert_no_panic(&o);

    // Without the F8 tensor the same file is a clean run.
    let q = dir.path().join("ok.safetensors");
    let ids: Vec<u8> = [0i64, 1].iter().flat_map(|i| i.to_le_bytes()).collect();
    specscope::load::write_safetensors(
        &q,
        &[
            specscope::load::TensorOut::from_f64("good", DType::F32, &[8, 4], &values(32, 1))
                .expect("a float tensor"),
            specscope::load::TensorOut::raw("ids", "I64", &[1, 2], ids),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(analyze_json(&q).status.code(), Some(0));
}

#[test]
fn nan_weights_fail_that_matrix_only() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.safetensors");
    let mut bad = values(64, 3);
    bad[17] = f64::NAN;
    bad[40] = f64::INFINITY;
    write(
        &p,
        &[
            ("bad.weight", DType::BF16, &[16, 4], bad),
            ("fine.weight", DType::F16, &[16, 4], values(64, 4)),
        ],
    );
    let o = analyze_json(&p);
    assert_eq!(o.status.code(), Some(PARTIAL));
    let (ok, failed) = rows(&o);
    assert_eq!(
        (ok, failed),
        (vec!["fine".to_string()], vec!["bad".to_string()])
    );
    let v = json(&o);
    let bad_row = &v["layers"][0];
    assert_eq!(bad_row["status"], "failed");
    let msg = bad_row["error"].as_str().unwrap();
    assert!(
        msg.contains("tensor `bad.weight`") && msg.contains("2 non-finite values"),
        "{msg}"
    );
    assert!(msg.contains(&p.display().to_string()), "{msg}");
    assert!(stderr(&o).contains("2 non-finite values"));
    assert_no_panic(&o);

    // Nothing analysable at all: still a report, but exit 2.
    let q = dir.path().join("only-bad.safetensors");
    let mut v = values(64, 5);
    v[0] = f64::NAN;
    write(&q, &[("w", DType::F32, &[16, 4], v)]);
    let o = analyze_json(&q);
    assert_eq!(o.status.code(), Some(ERROR));
    assert_eq!(json(&o)["summary"]["failed"], 1);
}

#[test]
fn index_naming_a_missing_shard() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("model-00001-of-00002.safetensors"),
        &[
            ("a.weight", DType::F32, &[8, 4], values(32, 1)),
            ("b.weight", DType::F32, &[8, 4], values(32, 2)),
        ],
    );
    let index = dir.path().join("model.safetensors.index.json");
    std::fs::write(
        &index,
        r#"{"metadata":{},"weight_map":{"a.weight":"model-00001-of-00002.safetensors","b.weight":"model-00001-of-00002.safetensors","c.weight":"model-00002-of-00002.safetensors","d.weight":"model-00002-of-00002.safetensors"}}"#,
    )
    .unwrap();
    let o = analyze_json(dir.path());
    assert_eq!(o.status.code(), Some(PARTIAL));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{}: index names shard `model-00002-of-00002.safetensors` (holding tensor `c.weight` and 1 more), which does not exist",
            index.display()
        )),
        "{err}"
    );
    let (ok, _) = rows(&o);
    assert_eq!(ok, vec!["a", "b"]);
    let skipped = json(&o)["skipped"].as_array().unwrap().clone();
    let lost: Vec<_> = skipped
        .iter()
        .filter(|s| s["failed"] == true)
        .map(|s| s["tensor"].as_str().unwrap())
        .collect();
    assert_eq!(
        lost,
        vec!["c.weight", "d.weight"],
        "every tensor the index promised is accounted for"
    );
    assert_no_panic(&o);
}

#[test]
fn a_bad_file_in_a_directory_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("a.safetensors"),
        &[("w", DType::F32, &[8, 4], values(32, 1))],
    );
    std::fs::write(dir.path().join("b.safetensors"), b"garbage!garbage!").unwrap();
    let o = analyze_json(dir.path());
    assert_eq!(o.status.code(), Some(PARTIAL));
    assert!(
        stderr(&o).contains("b.safetensors: not a valid safetensors file"),
        "{}",
        stderr(&o)
    );
    assert_eq!(rows(&o).0, vec!["w"]);
}

#[test]
fn bad_arguments() {
    let o = specscope(&["analyze", "x", "--include", "("]);
    assert_eq!(o.status.code(), Some(ERROR));
    assert!(
        stderr(&o).contains("--include `(` is not a valid regex"),
        "{}",
        stderr(&o)
    );
    let o = specscope(&["analyze", "x", "--threads", "0"]);
    assert_eq!(o.status.code(), Some(ERROR));
    let o = specscope(&[
        "analyze",
        fixture("tiny/model.safetensors").to_str().unwrap(),
        "--include",
        "nothing-matches",
    ]);
    assert_eq!(o.status.code(), Some(ERROR));
    assert!(
        stderr(&o).contains("no weight matrix found"),
        "{}",
        stderr(&o)
    );
}

/// A file truncated by another process while it is analysed: the mapped
/// pages vanish and the next read raises SIGBUS. The truncation guard turns
/// that into exit 2 and a message naming the file, never a silent signal.
#[test]
#[cfg(unix)]
fn a_file_truncated_during_the_run_is_named() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.safetensors");
    // 96 matrices of 512×256 with Diffract's columns: about 0.75 s on one
    // thread, so the truncation at 150 ms lands mid-run.
    let t: Vec<(String, Vec<f64>)> = (0..96)
        .map(|i| (format!("w{i:02}"), values(512 * 256, i as u64)))
        .collect();
    let tensors: Vec<(&str, DType, &[usize], Vec<f64>)> = t
        .iter()
        .map(|(n, v)| (n.as_str(), DType::F32, &[512usize, 256][..], v.clone()))
        .collect();
    write(&p, &tensors);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_specscope"))
        .args([
            "analyze",
            "--backend",
            "cpu",
            "--threads",
            "1",
            "-q",
            "--diffract",
        ])
        .arg(&p)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    let mut child = child;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before the truncation: give it more matrices"
    );
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(4096)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.signal(), None, "killed by a signal: {err}");
    assert_eq!(o.status.code(), Some(ERROR), "{err}");
    assert!(
        err.contains(&format!(
            "{}: the file shrank while it was being read",
            p.display()
        )),
        "{err}"
    );
}
