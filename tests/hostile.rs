//! Hostile input, through the built binary.
//!
//! One regression test per malformed-input class that mutation fuzzing
//! found (each asserting the exit code and that the message names the file
//! and the tensor), and a generator of malformed files and directories
//! (`generated_hostile_inputs`, cases in `hostile/gen.rs`) whose every case
//! is run through `analyze --backend cpu` and `inspect` with a timeout,
//! counting panics, hangs, signals and peak RSS.
//!
//! The normal suite generates 300 cases. The full run (about 20 minutes
//! on 2 cores with the debug binary):
//!
//! ```text
//! SPECSCOPE_HOSTILE_CASES=10000 cargo test --test hostile generated -- --nocapture
//! ```
//!
//! Targets: 0 panics, 0 hangs, 0 signals; peak RSS ≤ 256 MiB for every
//! input under 1 MiB; every diagnostic names the file, and every failed
//! tensor's reason names the tensor; exit codes 0 (everything analysed),
//! 2 (nothing analysed), 3 (partial).
#![cfg(unix)]

mod common;
#[path = "hostile/corpus.rs"]
mod corpus;
#[path = "hostile/gen.rs"]
mod generate;
#[path = "hostile/run.rs"]
mod run;

use common::{values, write, write_raw};
use run::{Cmd, run_bin};
use specscope::load::{Checkpoint, DType, OpenOptions};
use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

/// Generous for the debug binary on a loaded 2-core machine; a hang is
/// forever.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `cmd` on `path` in `scratch`, asserting that the run meets the
/// targets ([`run::faults`]) with every diagnostic naming `path`.
fn sure(cmd: Cmd, path: &Path, scratch: &Path) -> run::Run {
    sure_named(cmd, path, path, scratch)
}

/// [`sure`] where the diagnostics must name `named` (a directory holding
/// the files they are about).
fn sure_named(cmd: Cmd, path: &Path, named: &Path, scratch: &Path) -> run::Run {
    let r = run_bin(&cmd.args(path.as_os_str()), scratch, TIMEOUT);
    let f = run::faults(cmd, named, &r);
    assert!(
        f.is_empty(),
        "{cmd:?} {}: {f:?}\n{}",
        path.display(),
        r.stderr
    );
    r
}

fn good(dir: &Path, name: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    write(&p, &[("good.weight", DType::F32, &[8, 6], values(48, 7))]);
    p
}

/// One tensor `name` of `dtype` and `shape` whose data section holds
/// `data_len` bytes, whatever the shape needs.
fn lying(path: &Path, name: &str, dtype: &str, shape: &str, data_len: usize) {
    let header = format!(
        r#"{{"{name}":{{"dtype":"{dtype}","shape":{shape},"data_offsets":[0,{data_len}]}}}}"#
    );
    write_raw(path, &header, &vec![0u8; data_len]);
}

#[test]
fn byte_count_overflow_is_the_tensors_error_and_good_files_survive() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scratch = tempfile::tempdir().unwrap();
    good(d, "a.safetensors");
    // Element counts 2^62 and 2^61 fit in 64 bits; their byte counts do not.
    lying(
        &d.join("b.safetensors"),
        "big.weight",
        "F32",
        "[2147483648,2147483648]",
        16,
    );
    lying(
        &d.join("c.safetensors"),
        "tall.weight",
        "F16",
        "[2305843009213693952,1]",
        16,
    );
    let r = sure(Cmd::Analyze, d, scratch.path());
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    let rep: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rep["layers"][0]["name"], "good");
    assert_eq!(rep["summary"]["analysed"], 1);
    let b = format!(
        "{}: tensor `big.weight`: shape [2147483648, 2147483648] of 32-bit elements needs more than 2^64 bytes; data_offsets [0, 16] give 16 bytes",
        d.join("b.safetensors").display()
    );
    let c = format!(
        "{}: tensor `tall.weight`: shape [2305843009213693952, 1] of 16-bit elements needs more than 2^64 bytes",
        d.join("c.safetensors").display()
    );
    assert!(
        r.stderr.contains(&b) && r.stderr.contains(&c),
        "{}",
        r.stderr
    );
    let r = sure(Cmd::Inspect, d, scratch.path());
    assert_eq!(r.code, Some(3));
    // The other commands that analyse: no panic; check and report name the
    // tensor. (predict analyses the good matrix and exits 0 without a word
    // about the bad ones: its own reporting, pinned here as measured.)
    let rules = scratch.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"a\"\nkind = \"range\"\nmetric = \"alpha\"\nmax = 1e9\n",
    )
    .unwrap();
    let html = scratch.path().join("r.html");
    for args in [
        vec!["predict", "--backend", "cpu", "--rank", "2"],
        vec!["report", "--backend", "cpu", "-o", html.to_str().unwrap()],
        vec!["check", "--backend", "cpu", "-c", rules.to_str().unwrap()],
    ] {
        let mut a: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        a.push(d.as_os_str());
        let r = run_bin(&a, scratch.path(), TIMEOUT);
        assert!(
            !r.panicked() && !r.timed_out && r.signal.is_none(),
            "{args:?}: {}",
            r.stderr
        );
        if args[0] == "predict" {
            assert_eq!(r.code, Some(0), "{}", r.stderr);
            assert!(r.stdout.contains("good "), "{}", r.stdout);
        } else {
            assert!(
                r.stderr.contains("tensor `big.weight`"),
                "{args:?}: {}",
                r.stderr
            );
            assert!(matches!(r.code, Some(0 | 1 | 3)), "{args:?}: {:?}", r.code);
        }
    }
    // compare takes each file as a snapshot: files of different models are
    // refused up front, naming the tensors that differ (the bad one among
    // them); no panic either way.
    let a: Vec<&OsStr> = vec![
        OsStr::new("compare"),
        OsStr::new("--backend"),
        OsStr::new("cpu"),
        d.as_os_str(),
    ];
    let r = run_bin(&a, scratch.path(), TIMEOUT);
    assert!(
        !r.panicked() && !r.timed_out && r.signal.is_none(),
        "{}",
        r.stderr
    );
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr.contains("`big.weight`") || r.stderr.contains("`tall.weight`"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_lone_tensor_of_overflowing_byte_count_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tall.safetensors");
    lying(&p, "tall.weight", "F16", "[2305843009213693952,1]", 16);
    let r = sure(Cmd::Analyze, &p, dir.path());
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr
            .contains(&format!("{}: tensor `tall.weight`: shape", p.display())),
        "{}",
        r.stderr
    );
}

#[test]
fn a_tiny_header_cannot_plan_millions_of_matrices() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path();
    // A few hundred bytes asking for 2^24 experts, and 2^40 for inspect.
    for (file, shape, needs) in [
        ("e24.safetensors", "[16777216,1,1]", "needs 67108864 bytes"),
        (
            "e40.safetensors",
            "[1099511627776,8,8]",
            "needs 281474976710656 bytes",
        ),
    ] {
        let p = dir.path().join(file);
        lying(&p, "moe.experts.w", "F32", shape, 16);
        for cmd in [Cmd::Analyze, Cmd::Inspect] {
            let r = sure(cmd, &p, scratch);
            assert_eq!(r.code, Some(if cmd == Cmd::Analyze { 2 } else { 3 }));
            let msg = format!(
                "{}: tensor `moe.experts.w`: shape {}",
                p.display(),
                &shape.replace(',', ", ")
            );
            assert!(
                r.stderr.contains(&msg) || r.stdout.contains(&msg),
                "{}",
                r.stderr
            );
            assert!(r.stderr.contains(needs) || r.stdout.contains(needs));
            // target: ≤ 64 MiB for a header of a few hundred bytes
            assert!(r.rss_kib <= 64 * 1024, "{cmd:?} {file}: {} KiB", r.rss_kib);
        }
        if file == "e40.safetensors" {
            let r = sure(Cmd::Inspect, &p, scratch);
            let rep: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            assert_eq!(rep["tensors"][0]["rule"], "failed");
            assert_eq!(rep["tensors"][0]["matrices"], 0);
            assert_eq!(rep["matrices"], 0);
        }
    }
}

#[test]
fn plans_the_file_could_hold_but_no_model_has_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    good(d, "a.safetensors");
    // Data present and of the right size; the plan is what is absurd.
    lying(
        &d.join("b.safetensors"),
        "moe.experts.w",
        "F16",
        "[16385,1,16]",
        16385 * 32,
    );
    lying(
        &d.join("c.safetensors"),
        "moe.experts.v",
        "F32",
        "[64,1,1]",
        256,
    );
    lying(
        &d.join("d.safetensors"),
        "conv.weight",
        "F16",
        "[1,1,65,65]",
        65 * 65 * 2,
    );
    let r = sure(Cmd::Analyze, d, d);
    assert_eq!(r.code, Some(3));
    for (file, msg) in [
        (
            "b",
            "tensor `moe.experts.w`: shape [16385, 1, 16] plans 16385 expert matrices, more than the 16384 one tensor may hold",
        ),
        (
            "c",
            "tensor `moe.experts.v`: shape [64, 1, 1] plans 64 expert matrices of 1×1; each matrix of an expert stack must hold at least 16 elements",
        ),
        (
            "d",
            "tensor `conv.weight`: shape [1, 1, 65, 65] plans 4225 kernel positions per matrix, more than the 4096 allowed",
        ),
    ] {
        let want = format!("{}: {msg}", d.join(format!("{file}.safetensors")).display());
        assert!(r.stderr.contains(&want), "{want}\n{}", r.stderr);
    }
}

#[test]
fn an_overflowing_1d_tensor_is_refused_and_the_parameter_total_does_not_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    let max = u64::MAX;
    let header = format!(
        r#"{{"a":{{"dtype":"BF16","shape":[{max}],"data_offsets":[0,8]}},"b":{{"dtype":"BF16","shape":[{max}],"data_offsets":[8,16]}},"w.weight":{{"dtype":"F32","shape":[4,4],"data_offsets":[16,80]}}}}"#
    );
    let mut data = vec![0u8; 16];
    data.extend(values(16, 3).iter().flat_map(|v| (*v as f32).to_le_bytes()));
    write_raw(&p, &header, &data);
    let r = sure(Cmd::Analyze, &p, dir.path());
    assert_eq!(
        r.code,
        Some(3),
        "a 1-D tensor the header lies about is a failure, not a skip"
    );
    for t in ["a", "b"] {
        let msg = format!(
            "{}: tensor `{t}`: shape [{max}] of 16-bit elements needs more than 2^64 bytes",
            p.display()
        );
        assert!(r.stderr.contains(&msg), "{}", r.stderr);
    }
    let r = sure(Cmd::Inspect, &p, dir.path());
    assert_eq!(r.code, Some(3));
    let rep: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    // Two rows of 2^64 − 1 and one of 16: the total saturates.
    assert_eq!(rep["total_params"].as_u64(), Some(u64::MAX));
}

#[test]
fn a_fifo_or_device_given_as_path_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["m.safetensors", "m.safetensors.index.json"] {
        let p = dir.path().join(name);
        generate::mkfifo(&p);
        for cmd in [Cmd::Analyze, Cmd::Inspect] {
            let r = sure(cmd, &p, dir.path());
            assert_eq!(r.code, Some(2));
            let msg = format!("{}: is a FIFO, not a regular file", p.display());
            assert!(r.stderr.contains(&msg), "{}", r.stderr);
        }
    }
    let r = sure(Cmd::Analyze, Path::new("/dev/null"), dir.path());
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr
            .contains("/dev/null: is a character device, not a regular file")
    );
}

#[test]
fn unusable_entries_of_a_directory_are_each_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    good(d, "a.safetensors");
    let link = |target: &str, name: &str| std::os::unix::fs::symlink(target, d.join(name)).unwrap();
    link("nowhere.safetensors", "dangling.safetensors");
    link("loop2.safetensors", "loop1.safetensors");
    link("loop1.safetensors", "loop2.safetensors");
    link("self.safetensors", "self.safetensors");
    link("a.safetensors", "alias.safetensors");
    generate::mkfifo(&d.join("fifo.safetensors"));
    std::fs::create_dir(d.join("sub.safetensors")).unwrap();
    for cmd in [Cmd::Analyze, Cmd::Inspect] {
        let r = sure(cmd, d, d);
        assert_eq!(r.code, Some(3), "{}", r.stderr);
        for (name, what) in [
            (
                "dangling",
                "dangling symlink (its target `nowhere.safetensors` does not resolve)",
            ),
            ("loop1", "symlink loop"),
            ("loop2", "symlink loop"),
            ("self", "symlink loop"),
            ("fifo", "is a FIFO, not a regular file"),
            ("sub", "is a directory, not a regular file"),
        ] {
            let msg = format!(
                "{}: {what}",
                d.join(format!("{name}.safetensors")).display()
            );
            assert!(r.stderr.contains(&msg), "{cmd:?}: {msg}\n{}", r.stderr);
        }
        // The alias is the same file: read once, no false duplicate.
        assert!(!r.stderr.contains("also present"), "{}", r.stderr);
    }
    let r = sure(Cmd::Analyze, d, d);
    let rep: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rep["summary"]["analysed"], 1);
    // Nothing usable at all: exit 2, still each entry named.
    let only = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("gone", only.path().join("x.safetensors")).unwrap();
    let r = sure(Cmd::Analyze, only.path(), d);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains(&format!(
        "{}: dangling symlink",
        only.path().join("x.safetensors").display()
    )));
}

/// Two shards `a` (x, y) and `b` (z) and the index `map` beside them.
fn sharded(dir: &Path, map: &str) -> std::path::PathBuf {
    write(
        &dir.join("a.safetensors"),
        &[
            ("x.weight", DType::F32, &[8, 4], values(32, 1)),
            ("y.weight", DType::F32, &[8, 4], values(32, 2)),
        ],
    );
    write(
        &dir.join("b.safetensors"),
        &[("z.weight", DType::F32, &[8, 4], values(32, 3))],
    );
    let index = dir.join("model.safetensors.index.json");
    std::fs::write(&index, format!(r#"{{"metadata":{{}},"weight_map":{map}}}"#)).unwrap();
    index
}

#[test]
fn one_shard_named_two_ways_is_opened_once() {
    let dir = tempfile::tempdir().unwrap();
    sharded(
        dir.path(),
        r#"{"x.weight":"a.safetensors","y.weight":"./a.safetensors","z.weight":"sub/../b.safetensors"}"#,
    );
    let r = sure(Cmd::Analyze, dir.path(), dir.path());
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(!r.stderr.contains("also present"), "{}", r.stderr);
    let rep: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rep["input"]["files"].as_array().unwrap().len(), 2);
    assert_eq!(rep["summary"]["analysed"], 3);
}

#[test]
fn a_weight_map_that_misplaces_or_invents_a_tensor_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let index = sharded(
        dir.path(),
        r#"{"x.weight":"a.safetensors","y.weight":"a.safetensors","z.weight":"a.safetensors","ghost.weight":"b.safetensors"}"#,
    );
    let r = sure(Cmd::Analyze, dir.path(), dir.path());
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    let misplaced = format!(
        "{}: tensor `z.weight`: the index places it in `a.safetensors`, but it is in {}",
        index.display(),
        dir.path().join("b.safetensors").display()
    );
    let ghost = format!(
        "{}: tensor `ghost.weight`: the index places it in `b.safetensors`, which does not hold it",
        index.display()
    );
    assert!(
        r.stderr.contains(&misplaced) && r.stderr.contains(&ghost),
        "{}",
        r.stderr
    );
    // The misplaced tensor is still readable and analysed.
    let rep: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rep["summary"]["analysed"], 3);
}

#[test]
fn index_entries_outside_the_directory_are_not_opened() {
    let outer = tempfile::tempdir().unwrap();
    let d = outer.path().join("ck");
    std::fs::create_dir(&d).unwrap();
    good(outer.path(), "outside.safetensors");
    std::fs::create_dir(d.join("sub")).unwrap();
    let index = sharded(
        &d,
        r#"{"x.weight":"a.safetensors","y.weight":"a.safetensors","z.weight":"b.safetensors","good.weight":"../outside.safetensors","p":"../../../../../../etc/passwd","q":"/etc/passwd","s":"sub"}"#,
    );
    let r = sure_named(Cmd::Analyze, &index, &d, outer.path());
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    for (shard, t) in [
        ("../outside.safetensors", "good.weight"),
        ("../../../../../../etc/passwd", "p"),
        ("/etc/passwd", "q"),
    ] {
        let msg = format!(
            "{}: index names shard `{shard}` (holding tensor `{t}` and 0 more), which lies outside the index's directory; it is not opened",
            index.display()
        );
        assert!(r.stderr.contains(&msg), "{msg}\n{}", r.stderr);
    }
    assert!(r.stderr.contains(&format!(
        "{}: is a directory, not a regular file",
        d.join("sub").display()
    )));
    let rep: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rep["summary"]["analysed"], 3, "only x, y and z");
    assert_eq!(rep["input"]["files"].as_array().unwrap().len(), 2);
    // The explicit option opens the outside shard (and still not /etc/passwd
    // as a checkpoint: it is no safetensors file).
    let ck = Checkpoint::open_with(
        &index,
        &OpenOptions {
            allow_outside: true,
        },
    )
    .unwrap();
    let t = ck
        .tensors
        .iter()
        .find(|t| t.name() == "good.weight")
        .unwrap();
    assert!(t.problem().is_none(), "{:?}", t.problem());
    let ck = Checkpoint::open(&index).unwrap();
    let t = ck
        .tensors
        .iter()
        .find(|t| t.name() == "good.weight")
        .unwrap();
    assert!(t.problem().unwrap().to_string().contains("outside"));
    // The command line: SPECSCOPE_ALLOW_OUTSIDE_SHARDS=1 opens it too.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_specscope"))
        .args(["analyze", "--backend", "cpu", "--format", "json", "-q"])
        .arg(&index)
        .env(OpenOptions::ALLOW_OUTSIDE_VAR, "1")
        .output()
        .unwrap();
    let rep: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rep["summary"]["analysed"], 4, "x, y, z and good");
}

#[test]
fn a_check_config_that_is_not_utf8_gets_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let model = good(dir.path(), "m.safetensors");
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, b"[[rule]]\nname = \"caf\xE9\"\n").unwrap();
    let a: Vec<&OsStr> = vec![
        OsStr::new("check"),
        OsStr::new("-c"),
        rules.as_os_str(),
        model.as_os_str(),
    ];
    let r = run_bin(&a, dir.path(), TIMEOUT);
    assert_eq!(r.code, Some(2));
    let msg = format!("{}:2:12: not UTF-8: invalid byte 0xE9", rules.display());
    assert!(r.stderr.contains(&msg), "{}", r.stderr);
}

/// The generator: `SPECSCOPE_HOSTILE_CASES` cases (default 300), each run
/// through `analyze` and `inspect` on `SPECSCOPE_HOSTILE_THREADS` threads
/// (default 2); the counts are printed and held to the
/// targets in the module doc.
#[test]
fn generated_hostile_inputs() {
    let n: usize = std::env::var("SPECSCOPE_HOSTILE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let root = tempfile::tempdir().unwrap();
    let cases = generate::cases(root.path(), n, 0x5eed_cafe);
    let threads = std::env::var("SPECSCOPE_HOSTILE_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let tally = run::run_all(&cases, TIMEOUT, threads);
    tally.print();
    let kept = if tally.faults.is_empty() {
        None
    } else {
        Some(root.keep())
    };
    let mut distinct: Vec<_> = tally.faults.iter().collect();
    distinct.dedup_by(|a, b| a.3 == b.3);
    assert!(
        tally.faults.is_empty(),
        "{} faults (cases kept in {:?}); first distinct: {:#?}",
        tally.faults.len(),
        kept,
        &distinct[..distinct.len().min(12)]
    );
    // target: peak RSS ≤ 256 MiB for inputs under 1 MiB (a directory of
    // several generated files can be a little larger; its peak is printed)
    assert!(
        tally.peak_rss_small_kib <= 256 * 1024,
        "peak RSS {} KiB",
        tally.peak_rss_small_kib
    );
}

/// Writes the cargo-fuzz seed corpus (`fuzz/corpus/`); run by hand.
#[test]
#[ignore = "writes fuzz/corpus/ in the source tree"]
fn write_fuzz_corpus() {
    let scratch = tempfile::tempdir().unwrap();
    corpus::write_all(scratch.path());
}
