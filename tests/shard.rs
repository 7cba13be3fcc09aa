//! Sharded runs end to end: parts written by `--shard`, by the Slurm and
//! Kubernetes variables, and by the container commands of
//! docs/k8s-indexed-job.yaml, merged into the report a single process
//! writes (byte for byte, the backend's thread count aside); and every
//! error of `merge` (exit 2, naming the unit, option, file or input).

mod common;

use common::{checkpoint, fixture, specscope, stderr, write};
use serde_json::Value;
use specscope::load::DType;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("shard-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
}

/// Runs with extra environment variables.
fn specscope_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_specscope"));
    c.args(args);
    for v in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_MAX",
        "SLURM_ARRAY_TASK_STEP",
        "JOB_COMPLETION_INDEX",
        "SPECSCOPE_SHARDS",
    ] {
        c.env_remove(v);
    }
    c.envs(env.iter().copied());
    c.output().expect("the specscope binary runs")
}

/// `command` over N shards (`--shard I/N`) into `dir`, then merged.
fn sharded(command: &[&str], n: usize, dir: &Path, merge_extra: &[&str]) -> Output {
    let out = format!("{}/", dir.display());
    for i in 0..n {
        let shard = format!("{i}/{n}");
        let mut args = command.to_vec();
        args.extend(["--shard", &shard, "-o", &out, "-q"]);
        ok(&specscope(&args));
    }
    let mut args = vec!["merge".to_string()];
    args.extend(parts(dir).iter().map(|p| p.display().to_string()));
    args.extend(merge_extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    specscope(&args)
}

fn parts(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

fn tiny() -> PathBuf {
    fixture("tiny/model.safetensors")
}

#[test]
fn merged_analyze_is_the_whole_run_in_every_format() {
    let dir = scratch("analyze");
    let t = tiny();
    for format in ["json", "table", "csv"] {
        let whole = specscope(&["analyze", s(&t), "--format", format, "--threads", "2"]);
        ok(&whole);
        let out = dir.join(format);
        let merged = sharded(
            &["analyze", s(&t), "--format", format, "--threads", "2"],
            3,
            &out,
            &[],
        );
        ok(&merged);
        assert_eq!(
            String::from_utf8_lossy(&whole.stdout),
            String::from_utf8_lossy(&merged.stdout),
            "{format}"
        );
    }
}

/// More shards than matrices (some parts empty, every matrix alone in a
/// process that may solve it with several threads), a Diffract null per
/// matrix, an init snapshot's σ, and a matrix that fails (NaN weights):
/// still the whole run's bytes, apart from the backend's thread count.
#[test]
fn nulls_init_sigma_failures_and_empty_parts_survive_the_merge() {
    let dir = scratch("hard");
    let ck = dir.join("model.safetensors");
    let init = dir.join("init.safetensors");
    let mut bad = common::values(40 * 24, 3);
    bad[17] = f64::NAN;
    write(
        &ck,
        &[
            (
                "a.weight",
                DType::F32,
                &[48, 32],
                common::values(48 * 32, 1),
            ),
            (
                "b.weight",
                DType::F16,
                &[24, 40],
                common::values(24 * 40, 2),
            ),
            ("c.weight", DType::F32, &[40, 24], bad),
            (
                "d.weight",
                DType::F64,
                &[64, 16],
                common::values(64 * 16, 4),
            ),
        ],
    );
    // The init lacks d.weight: its σ falls back to the median (a note).
    write(
        &init,
        &[
            (
                "a.weight",
                DType::F32,
                &[48, 32],
                common::values(48 * 32, 11),
            ),
            (
                "b.weight",
                DType::F16,
                &[24, 40],
                common::values(24 * 40, 12),
            ),
            (
                "c.weight",
                DType::F32,
                &[40, 24],
                common::values(40 * 24, 13),
            ),
        ],
    );
    let args = [
        "analyze",
        s(&ck),
        "--format",
        "json",
        "--init",
        s(&init),
        "--diffract-tpl",
        "--diffract",
    ];
    let whole = specscope(&[&args[..], &["--threads", "1"]].concat());
    assert_eq!(whole.status.code(), Some(3), "{}", stderr(&whole));
    let out = format!("{}/", dir.join("parts").display());
    let mut partial = 0;
    for i in 0..6 {
        let shard = format!("{i}/6");
        let o = specscope(
            &[
                &args[..],
                &["--shard", &shard, "-o", &out, "--threads", "3"],
            ]
            .concat(),
        );
        // Exit 3 from the shard that holds the failing matrix only.
        assert!(matches!(o.status.code(), Some(0 | 3)), "{}", stderr(&o));
        partial += usize::from(o.status.code() == Some(3));
    }
    assert_eq!(partial, 1);
    let mut margs = vec!["merge".to_string()];
    margs.extend(
        parts(&dir.join("parts"))
            .iter()
            .map(|p| p.display().to_string()),
    );
    let margs: Vec<&str> = margs.iter().map(String::as_str).collect();
    let merged = specscope(&margs);
    assert_eq!(merged.status.code(), Some(3), "{}", stderr(&merged));
    // The same failures and notes (the merge opens no GPU, so it says
    // nothing of one).
    let messages = |o: &Output| -> Vec<String> {
        stderr(o)
            .lines()
            .filter(|l| !l.contains("GPU adapter"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(messages(&whole), messages(&merged));
    assert_eq!(messages(&merged).len(), 2, "{:?}", messages(&merged));
    let strip = |o: &Output| {
        let mut v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(v["backend"]["threads"].as_u64().is_some());
        v["backend"]["threads"] = Value::Null;
        serde_json::to_string_pretty(&v).unwrap()
    };
    let (w, m) = (strip(&whole), strip(&merged));
    assert!(
        w.contains("non-finite") && w.contains("\"noise_source\": \"init\""),
        "{w}"
    );
    assert_eq!(w, m);
}

#[test]
fn merged_predict_is_the_whole_run() {
    let dir = scratch("predict");
    let t = tiny();
    for request in [
        &["--bits", "4"][..],
        &["--rank", "3", "--bits", "3", "--granularity", "tensor"],
    ] {
        let args = [&["predict", s(&t), "--format", "json"][..], request].concat();
        let whole = specscope(&args);
        ok(&whole);
        let merged = sharded(&args, 4, &dir.join(request.join("")), &[]);
        ok(&merged);
        assert_eq!(whole.stdout, merged.stdout, "{request:?}");
    }
    let o = specscope(&[
        "predict",
        s(&t),
        "--bits",
        "4",
        "--verify",
        "--shard",
        "0/2",
        "-o",
        "x/",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--verify is not available with --shard"),
        "{}",
        stderr(&o)
    );
}

/// A `simulate` run directory sharded by snapshot: its init, losses and
/// mode matching are used by the merge as by the single run.
#[test]
fn merged_compare_is_the_whole_run() {
    let dir = scratch("compare");
    let run = dir.join("run");
    common::simulate_linear(&run, 48, 200, 3);
    let whole = specscope(&["compare", s(&run), "--format", "json", "-q"]);
    ok(&whole);
    let merged = sharded(
        &["compare", s(&run), "--format", "json"],
        3,
        &dir.join("parts"),
        &[],
    );
    ok(&merged);
    assert_eq!(whole.stdout, merged.stdout);
    let v: Value = serde_json::from_slice(&merged.stdout).unwrap();
    assert!(
        !v["modes"].as_array().unwrap().is_empty(),
        "modes were matched"
    );
}

/// A merged analyze report is an `analyze --format json` file: `check`
/// gives the same verdict on it as on the single run's report, and
/// `report` draws it.
#[test]
fn check_and_report_read_a_merged_report() {
    let dir = scratch("check");
    let t = tiny();
    let whole = specscope(&["analyze", s(&t), "--format", "json"]);
    ok(&whole);
    let merged = sharded(
        &["analyze", s(&t), "--format", "json"],
        2,
        &dir.join("p"),
        &[],
    );
    ok(&merged);
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"alpha\"\nkind = \"range\"\nmetric = \"alpha\"\nmin = 2.0\nmax = 6.0\n\n\
         [[rule]]\nname = \"mean\"\nkind = \"range\"\nscope = \"model\"\nmetric = \"alpha\"\nmin = 1\n",
    )
    .unwrap();
    let verdict = |name: &str, o: &Output| {
        let rep = dir.join(name);
        std::fs::write(&rep, &o.stdout).unwrap();
        let c = specscope(&["check", s(&rep), "-c", s(&rules), "--format", "json"]);
        assert!(matches!(c.status.code(), Some(0 | 1)), "{}", stderr(&c));
        let text = String::from_utf8_lossy(&c.stdout).replace(s(&rep), "REPORT");
        (c.status.code(), text)
    };
    let (code, text) = verdict("merged.json", &merged);
    assert_eq!((code, text.clone()), verdict("whole.json", &whole));
    assert!(text.contains("\"violations\""), "{text}");
    let html = dir.join("r.html");
    ok(&specscope(&[
        "report",
        s(&dir.join("merged.json")),
        "-o",
        s(&html),
    ]));
    assert!(std::fs::read_to_string(&html).unwrap().contains("<html"));
}

#[test]
fn slurm_and_indexed_job_variables_pick_the_shard() {
    let dir = scratch("env");
    let t = tiny();
    let a = ["analyze", s(&t), "--format", "json", "-q", "-o"];
    let out = format!("{}/", dir.display());
    // --array=2-5: task 4 is shard 2 of 4.
    let o = specscope_env(
        &[&a[..], &[&out]].concat(),
        &[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "2"),
            ("SLURM_ARRAY_TASK_MAX", "5"),
        ],
    );
    ok(&o);
    assert!(dir.join("analyze-part-2-of-4.json").is_file());
    let o = specscope_env(
        &[&a[..], &[&out]].concat(),
        &[("JOB_COMPLETION_INDEX", "1"), ("SPECSCOPE_SHARDS", "3")],
    );
    ok(&o);
    assert!(dir.join("analyze-part-1-of-3.json").is_file());
    let o = specscope_env(
        &[&a[..], &[&out, "--shard-count", "2"]].concat(),
        &[("JOB_COMPLETION_INDEX", "1")],
    );
    ok(&o);
    assert!(dir.join("analyze-part-1-of-2.json").is_file());
    // An index without a count, a list array: errors naming the variable.
    let o = specscope_env(
        &[&a[..], &[&out]].concat(),
        &[("JOB_COMPLETION_INDEX", "1")],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--shard-count N or set SPECSCOPE_SHARDS"),
        "{}",
        stderr(&o)
    );
    let o = specscope_env(
        &[&a[..], &[&out]].concat(),
        &[
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "7"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("SLURM_ARRAY_TASK_ID=7"),
        "{}",
        stderr(&o)
    );
    // --no-shard: a whole run inside an array task.
    let o = specscope_env(
        &["analyze", s(&t), "--format", "json", "-q", "--no-shard"],
        &[
            ("SLURM_ARRAY_TASK_ID", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ],
    );
    ok(&o);
    assert!(common::json(&o)["layers"].is_array());
    // A shard needs somewhere to write its part.
    let o = specscope(&["analyze", s(&t), "--shard", "0/2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("give -o FILE"), "{}", stderr(&o));
}

#[test]
fn a_finished_shard_is_not_rerun_unless_forced() {
    let dir = scratch("rerun");
    let t = tiny();
    let part = dir.join("p.json");
    let a = [
        "analyze",
        s(&t),
        "--format",
        "json",
        "--shard",
        "1/2",
        "-o",
        s(&part),
    ];
    ok(&specscope(&a));
    let before = std::fs::metadata(&part).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let o = specscope(&a);
    ok(&o);
    assert!(
        stderr(&o).contains("already written by this shard"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::metadata(&part).unwrap().modified().unwrap(),
        before
    );
    let o = specscope(&[&a[..], &["--force"]].concat());
    ok(&o);
    assert_ne!(
        std::fs::metadata(&part).unwrap().modified().unwrap(),
        before
    );
    // Another run's part in the way: an error, not an overwrite.
    let o = specscope(&[&a[..], &["--method", "slq"]].concat());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("a part of another run"),
        "{}",
        stderr(&o)
    );
    // The part was written whole: no temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["p.json"]);
}

/// Writes the parts of a 3-way tiny run into `dir` and returns them.
fn three_parts(dir: &Path, extra: &[&str]) -> Vec<PathBuf> {
    let t = tiny();
    let out = format!("{}/", dir.display());
    for i in 0..3 {
        let shard = format!("{i}/3");
        let a = [
            "analyze",
            s(&t),
            "--format",
            "json",
            "-q",
            "--shard",
            &shard,
            "-o",
            &out,
        ];
        ok(&specscope(&[&a[..], extra].concat()));
    }
    parts(dir)
}

fn merge_err(parts: &[&Path]) -> String {
    let mut args = vec!["merge"];
    args.extend(parts.iter().map(|p| s(p)));
    let o = specscope(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    stderr(&o)
}

#[test]
fn merge_errors_name_the_unit_option_or_input() {
    let dir = scratch("errors");
    let p = three_parts(&dir.join("a"), &[]);
    // A missing part: its first matrix by name, and its shard.
    let e = merge_err(&[&p[0], &p[2]]);
    assert!(
        e.contains("matrix 2 `blocks.0.mlp.down` is in no part")
            && e.contains("shard 1/3, whose part is missing"),
        "{e}"
    );
    // A duplicated part.
    let e = merge_err(&[&p[0], &p[1], &p[2], &p[1]]);
    assert!(
        e.contains("is in more than one part") && e.contains("analyze-part-1-of-3.json"),
        "{e}"
    );
    // A part of the same run with another option.
    let q = three_parts(&dir.join("b"), &["--method", "slq"]);
    let e = merge_err(&[&p[0], &q[1], &p[2]]);
    assert!(
        e.contains("disagree on option `method`: ")
            && e.contains("\"auto\"")
            && e.contains("\"slq\""),
        "{e}"
    );
    // Another shard count.
    let r = dir.join("c");
    ok(&specscope(&[
        "analyze",
        s(&tiny()),
        "--shard",
        "0/2",
        "-o",
        &format!("{}/", r.display()),
        "-q",
    ]));
    let e = merge_err(&[&p[0], &parts(&r)[0]]);
    assert!(
        e.contains("disagree on the shard count") && e.contains("has 3") && e.contains("has 2"),
        "{e}"
    );
    // Another command.
    let d = dir.join("d");
    ok(&specscope(&[
        "predict",
        s(&tiny()),
        "--bits",
        "4",
        "--shard",
        "1/3",
        "-o",
        &format!("{}/", d.display()),
        "-q",
    ]));
    let e = merge_err(&[&p[0], &parts(&d)[0], &p[2]]);
    assert!(e.contains("disagree on the command"), "{e}");
    // Another checkpoint.
    let other = dir.join("other.safetensors");
    std::fs::copy(tiny(), &other).unwrap();
    let o = specscope(&[
        "analyze",
        s(&other),
        "--shard",
        "1/3",
        "-o",
        s(&dir.join("o.json")),
        "-q",
    ]);
    ok(&o);
    let e = merge_err(&[&p[0], &dir.join("o.json"), &p[2]]);
    assert!(
        e.contains("disagree on the inputs") && e.contains("other.safetensors"),
        "{e}"
    );
    // Not a part, and a part of another build.
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "{\"layers\": []}").unwrap();
    let e = merge_err(&[&p[0], &junk]);
    assert!(e.contains("junk.json: not a specscope part"), "{e}");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&p[1]).unwrap()).unwrap();
    v["manifest"]["tool"] = "specscope 0.0.1".into();
    let old = dir.join("old.json");
    std::fs::write(&old, v.to_string()).unwrap();
    let e = merge_err(&[&p[0], &old, &p[2]]);
    assert!(
        e.contains("disagree on the tool") && e.contains("specscope 0.0.1"),
        "{e}"
    );
    // A unit the run does not have.
    let mut v: Value = serde_json::from_slice(&std::fs::read(&p[1]).unwrap()).unwrap();
    v["matrices"][0]["name"] = "no.such.weight".into();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, v.to_string()).unwrap();
    let e = merge_err(&[&p[0], &bad, &p[2]]);
    assert!(
        e.contains("bad.json: matrix") && e.contains("`no.such.weight` is not a unit of this run"),
        "{e}"
    );
}

#[test]
fn a_checkpoint_changed_since_the_shards_is_an_error() {
    let dir = scratch("changed");
    let ck = dir.join("m.safetensors");
    write(&ck, &[("w", DType::F32, &[8, 6], common::values(48, 1))]);
    let out = format!("{}/", dir.join("p").display());
    for i in 0..2 {
        ok(&specscope(&[
            "analyze",
            s(&ck),
            "--shard",
            &format!("{i}/2"),
            "-o",
            &out,
            "-q",
        ]));
    }
    write(&ck, &[("w", DType::F32, &[6, 8], common::values(48, 1))]);
    let p = parts(&dir.join("p"));
    let e = merge_err(&[&p[0], &p[1]]);
    assert!(
        e.contains("m.safetensors: changed since the parts were written")
            && e.contains("header hash"),
        "{e}"
    );
}

/// The container commands of docs/k8s-indexed-job.yaml, run as
/// Kubernetes would: each `completions` index with JOB_COMPLETION_INDEX
/// set, /data and /parts mapped to local directories, `specscope` on PATH.
#[test]
fn the_kubernetes_indexed_job_manifest_runs_and_merges() {
    let yaml = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/k8s-indexed-job.yaml"),
    )
    .unwrap();
    let commands: Vec<Vec<String>> = yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("command: "))
        .map(|c| serde_json::from_str(c).expect("command: a JSON-style list"))
        .collect();
    assert_eq!(commands.len(), 2, "the shard and merge commands");
    let field = |key: &str| -> usize {
        yaml.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{key}`"))
    };
    let completions = field("completions:");
    assert_eq!(field("parallelism:"), completions);
    assert!(yaml.contains("completionMode: Indexed"));
    let shard = &commands[0];
    let count = shard
        .iter()
        .position(|a| a == "--shard-count")
        .map(|i| &shard[i + 1]);
    assert_eq!(
        count.map(String::as_str),
        Some(completions.to_string().as_str())
    );
    for mount in ["mountPath: /data", "mountPath: /parts"] {
        assert!(yaml.contains(mount), "{mount}");
    }
    let dir = scratch("k8s");
    let data = fixture("tiny");
    let local = |a: &str| {
        a.replace("/data/", &format!("{}/", data.display()))
            .replace("/parts/", &format!("{}/", dir.display()))
    };
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_specscope"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |cmd: &[String], index: Option<usize>| {
        let mut c = Command::new(local(&cmd[0]));
        c.args(cmd[1..].iter().map(|a| local(a)));
        c.env("PATH", &path).env_remove("SLURM_ARRAY_TASK_ID");
        if let Some(i) = index {
            c.env("JOB_COMPLETION_INDEX", i.to_string());
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{cmd:?}: {}", stderr(&o));
    };
    for i in 0..completions {
        run(shard, Some(i));
    }
    assert_eq!(parts(&dir).len(), completions);
    run(&commands[1], None);
    let merged = std::fs::read(dir.join("report.json")).unwrap();
    let whole = specscope(&[
        "analyze",
        s(&data.join("model.safetensors")),
        "--format",
        "json",
    ]);
    ok(&whole);
    assert_eq!(
        String::from_utf8_lossy(&whole.stdout),
        String::from_utf8_lossy(&merged)
    );
}

/// MiniLM (all-MiniLM-L6-v2, F32) in three shards: the merged JSON is the
/// single run's, byte for byte.
#[test]
fn minilm_sharded_three_ways_is_the_whole_run() {
    let Some(ck) = checkpoint("minilm/model.safetensors") else {
        return;
    };
    let dir = scratch("minilm");
    let a = ["analyze", s(&ck), "--format", "json", "--threads", "2"];
    let whole = specscope(&a);
    ok(&whole);
    let merged = sharded(&a, 3, &dir, &[]);
    ok(&merged);
    assert_eq!(
        String::from_utf8_lossy(&whole.stdout),
        String::from_utf8_lossy(&merged.stdout)
    );
}

/// Every file of a directory, by name, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// `--save-eigs` and `--plots` given to the merge write the files the
/// single run writes, byte for byte; a shard refuses them and says so.
#[test]
fn the_merge_writes_the_eigenvalues_and_figures_of_the_whole_run() {
    let dir = scratch("files");
    let t = tiny();
    let d = |n: &str| dir.join(n).display().to_string();
    ok(&specscope(&[
        "analyze",
        s(&t),
        "-q",
        "--save-eigs",
        &d("we"),
        "--plots",
        &d("wp"),
        "-o",
        &d("w.txt"),
    ]));
    let merged = sharded(
        &["analyze", s(&t)],
        3,
        &dir.join("parts"),
        &[
            "--save-eigs",
            &d("me"),
            "--plots",
            &d("mp"),
            "-o",
            &d("m.txt"),
        ],
    );
    ok(&merged);
    assert_eq!(
        std::fs::read(d("w.txt")).unwrap(),
        std::fs::read(d("m.txt")).unwrap()
    );
    let (we, wp) = (files(&dir.join("we")), files(&dir.join("wp")));
    let npy = we.iter().filter(|(n, _)| n.ends_with(".npy")).count();
    assert!(
        npy == 14 && wp.len() >= 14,
        "{} eigenvalue files, {} figures",
        npy,
        wp.len()
    );
    assert!(we == files(&dir.join("me")), "the .npy files differ");
    assert!(wp == files(&dir.join("mp")), "the figures differ");
    let p = ["predict", s(&t), "--bits", "4"];
    ok(&specscope(
        &[&p[..], &["-q", "--plots", &d("pw"), "-o", &d("pw.txt")]].concat(),
    ));
    let merged = sharded(
        &p,
        2,
        &dir.join("pparts"),
        &["--plots", &d("pm"), "-o", &d("pm.txt")],
    );
    ok(&merged);
    assert_eq!(
        std::fs::read(d("pw.txt")).unwrap(),
        std::fs::read(d("pm.txt")).unwrap()
    );
    assert!(
        files(&dir.join("pw")) == files(&dir.join("pm")),
        "predict's figures differ"
    );
    let o = specscope(&[
        "analyze",
        s(&t),
        "--shard",
        "0/2",
        "-o",
        &d("x/"),
        "--plots",
        &d("p"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("give it to `specscope merge`"),
        "{}",
        stderr(&o)
    );
}

/// A real Slurm cluster: scripts/slurm-test.sh starts munged, slurmctld and
/// slurmd on this machine, runs `sbatch --array=0-3` shards of MiniLM and a
/// dependent merge job, and compares the merged report with the
/// single-process run byte for byte. It needs root and Debian's apt (it
/// installs slurm-wlm and munge when missing), so it runs only when
/// `SPECSCOPE_SLURM=1` or `SPECSCOPE_REQUIRE_SLURM=1` (CI) is set; the
/// latter turns a cluster that cannot start (exit 2) into a failure.
#[test]
fn slurm_array_job_merges_to_the_single_run() {
    let flag = |k: &str| std::env::var(k).is_ok_and(|v| v == "1");
    let required = flag("SPECSCOPE_REQUIRE_SLURM");
    if !required && !flag("SPECSCOPE_SLURM") {
        eprintln!("SKIPPED: the Slurm cluster test runs with SPECSCOPE_SLURM=1 (root, apt)");
        return;
    }
    let Some(ck) = checkpoint("minilm/model.safetensors") else {
        return;
    };
    let root = ck.parent().unwrap().parent().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-test.sh");
    let o = Command::new("bash")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_specscope"))
        .env("SPECSCOPE_CHECKPOINTS", root)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if o.status.code() == Some(2) && !required {
        eprintln!("SKIPPED: the Slurm cluster could not be set up:\n{text}");
        return;
    }
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("byte-identical to the single run"), "{text}");
}
