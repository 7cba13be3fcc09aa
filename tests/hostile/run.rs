//! Running the built binary on one input with a timeout and measuring it
//! (exit code, signal, peak RSS from `wait4`), judging a run against the
//! targets, and tallying a whole generated set on a few threads.

use super::generate::Case;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The commands every generated case goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Analyze,
    Inspect,
}

impl Cmd {
    pub fn args(self, path: &OsStr) -> Vec<&OsStr> {
        let fixed: &[&'static str] = match self {
            Cmd::Analyze => &["analyze", "--backend", "cpu", "--format", "json", "-q"],
            Cmd::Inspect => &["inspect", "--format", "json"],
        };
        let mut a: Vec<&OsStr> = fixed.iter().map(OsStr::new).collect();
        a.push(path);
        a
    }
}

/// One finished (or killed) run.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// Peak resident set of the child, KiB (`ru_maxrss`).
    pub rss_kib: u64,
    pub secs: f64,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn panicked(&self) -> bool {
        self.code == Some(101) || self.stderr.contains("panicked")
    }
}

/// GNU time, when installed: it forks the binary from its own small
/// process, so the peak RSS it reports is the binary's own. Without it
/// the peak comes from `wait4` on the binary directly, which on Linux also
/// counts this test process's peak (a child's memory before `exec` is its
/// parent's): an upper bound, said so in the printout.
pub fn gnu_time() -> Option<&'static Path> {
    let p = Path::new("/usr/bin/time");
    (p.is_file() && std::env::var_os("SPECSCOPE_HOSTILE_NO_TIME").is_none()).then_some(p)
}

/// Runs the binary with `args`, stdout and stderr to files in `scratch`,
/// killing its process group after `timeout`.
pub fn run_bin(args: &[&OsStr], scratch: &Path, timeout: Duration) -> Run {
    use std::os::unix::process::CommandExt;
    let tag = format!("{:?}", std::thread::current().id())
        .replace(|c: char| !c.is_ascii_alphanumeric(), "");
    let file = |what: &str| scratch.join(format!("{what}-{tag}"));
    let (out, err, rss) = (file("stdout"), file("stderr"), file("rss"));
    let bin = env!("CARGO_BIN_EXE_specscope");
    let mut cmd = match gnu_time() {
        Some(time) => {
            let mut c = Command::new(time);
            c.arg("-f").arg("rss=%M").arg("-o").arg(&rss).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let child = cmd
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(File::create(&out).expect("scratch stdout"))
        .stderr(File::create(&err).expect("scratch stderr"))
        .process_group(0)
        .spawn()
        .expect("the specscope binary starts");
    let pid = child.id() as libc::pid_t;
    let start = Instant::now();
    let (status, usage, timed_out) = reap(pid, timeout);
    drop(child);
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    let mut run = Run {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        signal: (libc::WIFSIGNALED(status) && !timed_out).then(|| libc::WTERMSIG(status)),
        timed_out,
        rss_kib: usage.ru_maxrss.max(0) as u64,
        secs: start.elapsed().as_secs_f64(),
        stdout: read(&out),
        stderr: read(&err),
    };
    if gnu_time().is_some() && !timed_out {
        let report = read(&rss);
        for line in report.lines() {
            if let Some(k) = line.strip_prefix("rss=") {
                run.rss_kib = k.trim().parse().unwrap_or(run.rss_kib);
            }
            if let Some(s) = line.strip_prefix("Command terminated by signal ") {
                run.signal = s.trim().parse().ok();
                run.code = None;
            }
        }
    }
    run
}

/// Waits for `pid` (a process group leader), killing the group with
/// SIGKILL after `timeout`. The child is reaped with `wait4`.
fn reap(pid: libc::pid_t, timeout: Duration) -> (i32, libc::rusage, bool) {
    let start = Instant::now();
    let mut timed_out = false;
    loop {
        let mut status = 0;
        // SAFETY: rusage is plain old data; all-zero is a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let flags = if timed_out { 0 } else { libc::WNOHANG };
        // SAFETY: `pid` is this process's child, not yet reaped (its
        // `Child` handle is never waited on); both pointers are valid.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if r == pid {
            return (status, usage, timed_out);
        }
        assert_eq!(r, 0, "wait4: {}", std::io::Error::last_os_error());
        if start.elapsed() > timeout {
            timed_out = true;
            // SAFETY: signals the process group this test started.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// What is wrong with one run: a panic, a hang, a signal, an exit code
/// other than 0, 2 or 3 (2 with no message), a diagnostic that does not name `named` (the
/// input, or for a directory something inside it), a failed tensor whose
/// reason does not name it, or a JSON report that disagrees with the exit
/// code. Empty when the run meets every target.
pub fn faults(cmd: Cmd, named: &Path, r: &Run) -> Vec<String> {
    let mut f = Vec::new();
    if r.timed_out {
        return vec!["hang".into()];
    }
    if let Some(s) = r.signal {
        f.push(format!("signal {s}"));
    }
    if r.panicked() {
        f.push("panic".into());
    }
    match r.code {
        Some(0 | 2 | 3) | None => {}
        Some(c) => f.push(format!("exit {c}")),
    }
    let name = named.display().to_string();
    for line in r.stderr.lines().filter(|l| l.starts_with("specscope: ")) {
        if !line.contains(&name) {
            f.push(format!("unnamed: {line}"));
        }
    }
    if let Some(c @ (0 | 3)) = r.code {
        match serde_json::from_str::<serde_json::Value>(&r.stdout) {
            Ok(rep) => f.extend(report_faults(cmd, c, &rep, &name)),
            Err(e) => f.push(format!("exit {c} without a JSON report: {e}")),
        }
    }
    if r.code == Some(2) && !r.stderr.contains("specscope: ") {
        f.push("exit 2 without a message".into());
    }
    f
}

/// The JSON report against the exit code and the naming rules.
fn report_faults(cmd: Cmd, code: i32, rep: &serde_json::Value, name: &str) -> Vec<String> {
    let mut f = Vec::new();
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    match cmd {
        Cmd::Analyze => {
            let s = &rep["summary"];
            let failed = n(&s["failed"]) + n(&s["tensors_failed"]);
            if n(&s["analysed"]) == 0 || (code == 0) != (failed == 0) {
                f.push(format!("exit {code} but summary {s}"));
            }
            for sk in rep["skipped"].as_array().into_iter().flatten() {
                let (t, why) = (
                    sk["tensor"].as_str().unwrap_or(""),
                    sk["reason"].as_str().unwrap_or(""),
                );
                if sk["failed"] == true && !(why.contains(name) && why.contains(&format!("`{t}`")))
                {
                    f.push(format!("failed tensor `{t}` not named: {why}"));
                }
            }
        }
        Cmd::Inspect => {
            let rows = rep["tensors"].as_array().cloned().unwrap_or_default();
            let bad = rows.iter().any(|t| t["rule"] == "failed")
                || !rep["problems"].as_array().is_none_or(Vec::is_empty);
            if (code == 3) != bad {
                f.push(format!(
                    "inspect exit {code} but failed rows/problems: {bad}"
                ));
            }
            let max_row = rows.iter().map(|t| n(&t["params"])).max().unwrap_or(0);
            if n(&rep["total_params"]) < max_row {
                f.push("total_params wrapped".into());
            }
            for t in rows.iter().filter(|t| t["rule"] == "failed") {
                let (tn, note) = (
                    t["name"].as_str().unwrap_or(""),
                    t["note"].as_str().unwrap_or(""),
                );
                if !(note.contains(name) && note.contains(&format!("`{tn}`"))) {
                    f.push(format!("failed tensor `{tn}` not named: {note}"));
                }
            }
        }
    }
    f
}

/// Counts over a generated set.
#[derive(Debug, Default)]
pub struct Tally {
    pub runs: usize,
    pub cases: usize,
    pub by_kind: std::collections::BTreeMap<&'static str, usize>,
    pub exits: std::collections::BTreeMap<(String, String), usize>,
    pub panics: usize,
    pub hangs: usize,
    pub signals: usize,
    pub peak_rss_kib: u64,
    pub peak_rss_case: PathBuf,
    /// The peak over inputs under 1 MiB, the ones the RSS target is for.
    pub peak_rss_small_kib: u64,
    pub slowest: f64,
    pub slowest_case: PathBuf,
    pub max_input: u64,
    /// `(case, kind, command, what)` for every fault.
    pub faults: Vec<(PathBuf, &'static str, String, String)>,
}

impl Tally {
    fn add(&mut self, case: &Case, cmd: Cmd, r: &Run) {
        self.runs += 1;
        let code = match (r.code, r.signal, r.timed_out) {
            (_, _, true) => "hang".to_string(),
            (Some(c), _, _) => c.to_string(),
            (None, Some(s), _) => format!("signal {s}"),
            _ => "?".into(),
        };
        *self
            .exits
            .entry((format!("{cmd:?}").to_lowercase(), code))
            .or_default() += 1;
        self.panics += r.panicked() as usize;
        self.hangs += r.timed_out as usize;
        self.signals += r.signal.is_some() as usize;
        if case.bytes < 1 << 20 {
            self.peak_rss_small_kib = self.peak_rss_small_kib.max(r.rss_kib);
        }
        if r.rss_kib > self.peak_rss_kib {
            self.peak_rss_kib = r.rss_kib;
            self.peak_rss_case = case.path.clone();
        }
        if r.secs > self.slowest {
            self.slowest = r.secs;
            self.slowest_case = case.path.clone();
        }
        for what in faults(cmd, &case.named, r) {
            self.faults
                .push((case.path.clone(), case.kind, format!("{cmd:?}"), what));
        }
    }

    pub fn print(&self) {
        eprintln!(
            "hostile inputs: {} cases ({} runs), largest input {} bytes",
            self.cases, self.runs, self.max_input
        );
        for (kind, n) in &self.by_kind {
            eprintln!("  case kind {kind:<22} {n}");
        }
        for ((cmd, code), n) in &self.exits {
            eprintln!("  {cmd:<8} exit {code:<9} {n}");
        }
        eprintln!(
            "  panics {}  hangs {}  signals {}  faults {}",
            self.panics,
            self.hangs,
            self.signals,
            self.faults.len()
        );
        let how = if gnu_time().is_some() {
            "GNU time"
        } else {
            "wait4, an upper bound"
        };
        let mib = |k: u64| k as f64 / 1024.0;
        eprintln!(
            "  peak RSS {:.1} MiB for inputs under 1 MiB, {:.1} MiB for all ({how}; {}), slowest run {:.2} s ({})",
            mib(self.peak_rss_small_kib),
            mib(self.peak_rss_kib),
            self.peak_rss_case.display(),
            self.slowest,
            self.slowest_case.display()
        );
    }
}

/// Runs both commands on every case, on `threads` threads.
pub fn run_all(cases: &[Case], timeout: Duration, threads: usize) -> Tally {
    let next = AtomicUsize::new(0);
    let tally = Mutex::new(Tally {
        cases: cases.len(),
        ..Tally::default()
    });
    for c in cases {
        let mut t = tally.lock().unwrap();
        *t.by_kind.entry(c.kind).or_default() += 1;
        t.max_input = t.max_input.max(c.bytes);
    }
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let scratch = tempfile::tempdir().expect("scratch directory");
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    for cmd in [Cmd::Analyze, Cmd::Inspect] {
                        let path: OsString = case.path.clone().into_os_string();
                        let r = run_bin(&cmd.args(&path), scratch.path(), timeout);
                        tally.lock().unwrap().add(case, cmd, &r);
                    }
                }
            });
        }
    });
    tally.into_inner().unwrap()
}
