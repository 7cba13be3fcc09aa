//! The HTML report: self-contained (no request leaves the page), one table
//! row per matrix, the figures and the extra sections present; then the
//! same page in headless Chromium, driven over the DevTools protocol on a
//! pipe (`--remote-debugging-pipe`: no port, no websocket), asserting no
//! console error or uncaught exception, the row count, that sorting and
//! filtering work, that no network request other than the page itself is
//! made, and saving a screenshot under `target/`.
//!
//! Without a Chromium binary the browser test prints why it skips, unless
//! `SPECSCOPE_REQUIRE_BROWSER=1` (CI), where it fails.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Renders the tiny model's report with attached snapshot and validation
/// tables; returns the HTML path and the number of matrices.
fn render(dir: &Path) -> (PathBuf, usize) {
    let attach = dir.join("compare.json");
    std::fs::write(
        &attach,
        serde_json::to_string(&json!({
            "command": "compare",
            "snapshots": [
                {"step": 10, "k_star": 3, "density": 0.05, "alpha": 4.1},
                {"step": 100, "k_star": 7, "density": 0.11, "alpha": 3.2},
                {"step": 1000, "k_star": 15, "density": 0.23, "alpha": 2.6}
            ],
            "validation": {"rows": [
                {"quantity": "rho", "estimated": 0.97, "true": 1.0},
                {"quantity": "b", "estimated": 1.52, "true": 1.5}
            ]}
        }))
        .unwrap(),
    )
    .unwrap();
    let html = dir.join("report.html");
    let o = specscope(&[
        "report",
        fixture("tiny/model.safetensors").to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
        "--attach",
        attach.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let a = specscope(&[
        "analyze",
        fixture("tiny/model.safetensors").to_str().unwrap(),
        "--format",
        "json",
        "-q",
    ]);
    let n = json(&a)["layers"].as_array().unwrap().len();
    (html, n)
}

#[test]
fn report_is_self_contained_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let (html, n) = render(dir.path());
    let page = std::fs::read_to_string(&html).unwrap();
    // Nothing to fetch: no external script, stylesheet, image or font,
    // and the only URL is the SVG namespace (an identifier, never fetched).
    for bad in [
        "<script src",
        "<link rel=\"stylesheet\"",
        "<img",
        "@import",
        "url(",
        "@font-face",
    ] {
        assert!(!page.contains(bad), "page contains {bad}");
    }
    let urls: Vec<&str> = page
        .match_indices("http")
        .map(|(i, _)| &page[i..(i + 40).min(page.len())])
        .collect();
    assert!(
        urls.iter()
            .all(|u| u.starts_with("http://www.w3.org/2000/svg")),
        "{urls:?}"
    );
    // One row per matrix in the per-matrix table.
    let table = &page[page
        .find(r#"<table class="sortable" id="layers">"#)
        .unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(
        table.matches("<tr>").count(),
        n + 1,
        "header + one row per matrix"
    );
    // Four inline figures per matrix: ESD, rank plot, and the predicted
    // pruning and quantization curves.
    assert_eq!(page.matches("<svg ").count(), 4 * n);
    for caption in [
        "rank plot",
        "predicted pruning curve",
        "predicted quantization curve",
    ] {
        let tag = format!("<figcaption>{caption}</figcaption>");
        assert_eq!(page.matches(&tag).count(), n, "{caption}");
    }
    // The attached tables.
    assert!(page.contains(r#"id="compare--snapshots""#));
    assert!(page.contains(r#"id="compare--validation-rows""#));
    // A JSON report with saved eigenvalues gives the same figures.
    let rep = dir.path().join("tiny.json");
    let eigs = dir.path().join("eigs");
    let o = specscope(&[
        "analyze",
        fixture("tiny/model.safetensors").to_str().unwrap(),
        "--format",
        "json",
        "-q",
        "-o",
        rep.to_str().unwrap(),
        "--save-eigs",
        eigs.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let html2 = dir.path().join("from-json.html");
    let o = specscope(&[
        "report",
        rep.to_str().unwrap(),
        "--eigs",
        eigs.to_str().unwrap(),
        "-o",
        html2.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page2 = std::fs::read_to_string(&html2).unwrap();
    let svgs = |p: &str| -> Vec<String> {
        p.match_indices("<svg ")
            .map(|(i, _)| p[i..i + p[i..].find("</svg>").unwrap()].to_string())
            .collect()
    };
    // Except the quantization curves: a JSON report holds no weights, so
    // those say what they need instead.
    let (a, b) = (svgs(&page), svgs(&page2));
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if i % 4 == 3 {
            assert!(
                x.contains("N·M·σ_q²"),
                "figure {i}: a curve from the checkpoint"
            );
            assert!(y.contains("needs the weights"), "figure {i}: {y}");
        } else {
            assert_eq!(x, y, "figure {i} from .npy differs from the analysis'");
        }
    }
    // Without eigenvalues: the table, and a note instead of figures.
    let html3 = dir.path().join("no-figs.html");
    let o = specscope(&[
        "report",
        rep.to_str().unwrap(),
        "-o",
        html3.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let page3 = std::fs::read_to_string(&html3).unwrap();
    assert_eq!(page3.matches("<svg ").count(), 0);
    assert!(page3.contains("a JSON report holds no eigenvalues"));
    // --max-figures caps the matrices drawn: four figures each.
    let html4 = dir.path().join("capped.html");
    let o = specscope(&[
        "report",
        rep.to_str().unwrap(),
        "--eigs",
        eigs.to_str().unwrap(),
        "--max-figures",
        "2",
        "-o",
        html4.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let page4 = std::fs::read_to_string(&html4).unwrap();
    assert_eq!(page4.matches("<svg ").count(), 8);
    assert!(page4.contains("the first 2 matrices only (--max-figures)"));
}

#[test]
fn report_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.html");
    let o = specscope(&[
        "report",
        "/no/such/model.safetensors",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no such file or directory"),
        "{}",
        stderr(&o)
    );
    let bad = dir.path().join("x.json");
    std::fs::write(&bad, "[1, 2]").unwrap();
    let o = specscope(&["report", bad.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not a specscope analyze report"),
        "{}",
        stderr(&o)
    );
    let o = specscope(&[
        "report",
        fixture("tiny/model.safetensors").to_str().unwrap(),
        "-q",
        "-o",
        out.to_str().unwrap(),
        "--attach",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("holds no table"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
}

/// A Chromium binary: `$SPECSCOPE_CHROMIUM`, else the first of the usual
/// names on `$PATH`.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SPECSCOPE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// [`chromium`], or `None` after printing `SKIPPED:` and why (a failure
/// with SPECSCOPE_REQUIRE_BROWSER=1, as in CI).
fn browser() -> Option<PathBuf> {
    let bin = chromium();
    if bin.is_none() {
        let why =
            "no Chromium found (install the Debian package `chromium`, or set SPECSCOPE_CHROMIUM)";
        if std::env::var("SPECSCOPE_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("SPECSCOPE_REQUIRE_BROWSER=1 but {why}");
        }
        eprintln!("SKIPPED: {why}");
    }
    bin
}

#[test]
fn report_renders_in_headless_chromium() {
    let Some(bin) = browser() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (html, n) = render(dir.path());
    let url = format!("file://{}", html.canonicalize().unwrap().display());
    let profile = dir.path().join("profile");
    let mut b = cdp::Browser::launch(&bin, &profile).expect("Chromium starts");

    let target = b.call(None, "Target.createTarget", json!({"url": "about:blank"}));
    let target_id = target["targetId"].as_str().unwrap().to_string();
    let attached = b.call(
        None,
        "Target.attachToTarget",
        json!({"targetId": target_id, "flatten": true}),
    );
    let s = attached["sessionId"].as_str().unwrap().to_string();
    let s = Some(s.as_str());
    for domain in ["Runtime", "Log", "Page", "Network"] {
        b.call(s, &format!("{domain}.enable"), json!({}));
    }
    b.call(
        s,
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": 1500, "deviceScaleFactor": 1, "mobile": false}),
    );
    b.call(s, "Page.navigate", json!({"url": url}));
    b.wait_event(s, "Page.loadEventFired");

    let eval = |b: &mut cdp::Browser, expr: &str| -> Value {
        let r = b.call(
            s,
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    };
    let rows = eval(
        &mut b,
        "document.querySelectorAll('#layers tbody tr').length",
    );
    assert_eq!(rows, json!(n), "table rows");
    let figures = eval(&mut b, "document.querySelectorAll('#figures svg').length");
    assert_eq!(figures, json!(4 * n));
    let snapshot_rows = eval(
        &mut b,
        "document.querySelectorAll('#table-compare--snapshots tbody tr').length",
    );
    assert_eq!(snapshot_rows, json!(3));
    // Sorting: click the alpha header once (ascending), then again.
    let sort = r#"(function () {
        var th = Array.prototype.filter.call(document.querySelectorAll('#layers th'),
            function (t) { return t.textContent === 'alpha'; })[0];
        var col = Array.prototype.indexOf.call(th.parentNode.children, th);
        th.click();
        var up = Array.prototype.map.call(document.querySelectorAll('#layers tbody tr'),
            function (r) { return parseFloat(r.cells[col].getAttribute('data-v')); });
        th.click();
        var down = Array.prototype.map.call(document.querySelectorAll('#layers tbody tr'),
            function (r) { return parseFloat(r.cells[col].getAttribute('data-v')); });
        return [up, down, th.getAttribute('aria-sort')];
    })()"#;
    let v = eval(&mut b, sort);
    let col = |i: usize| -> Vec<f64> {
        v[i].as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (up, down) = (col(0), col(1));
    assert_eq!(up.len(), n);
    assert!(up.windows(2).all(|w| w[0] <= w[1]), "ascending: {up:?}");
    assert!(
        down.windows(2).all(|w| w[0] >= w[1]),
        "descending: {down:?}"
    );
    assert!(
        up.first() != up.last(),
        "alphas differ, so the sort is visible"
    );
    assert_eq!(v[2], json!("descending"));
    // Filtering by substring.
    let shown = eval(
        &mut b,
        r#"(function () {
            var f = document.getElementById('filter');
            f.value = 'moe.experts';
            f.dispatchEvent(new Event('input'));
            var n = Array.prototype.filter.call(document.querySelectorAll('#layers tbody tr'),
                function (r) { return r.style.display !== 'none'; }).length;
            f.value = '';
            f.dispatchEvent(new Event('input'));
            return n;
        })()"#,
    );
    assert_eq!(shown, json!(4));
    // At 1400 px the tables fit their containers (no horizontal scroll),
    // the status and warning columns are in view, and the name column
    // sticks; "all columns" shows the hidden ones (the table may then
    // scroll) and hides them again.
    b.call(
        s,
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1400, "height": 1500, "deviceScaleFactor": 1, "mobile": false}),
    );
    let fit = eval(
        &mut b,
        r#"(function () {
            var over = [];
            Array.prototype.forEach.call(document.querySelectorAll('.scroll'), function (d) {
                if (d.scrollWidth > d.clientWidth) {
                    over.push(d.firstElementChild.id + ': ' + d.scrollWidth + ' > ' + d.clientWidth);
                }
            });
            var right = function (c) {
                return document.querySelector('#layers th[data-col="' + c + '"]').getBoundingClientRect().right;
            };
            var name = getComputedStyle(document.querySelector('#layers td.name')).position;
            return [over, right('status') <= window.innerWidth, right('warning') <= window.innerWidth,
                    name, document.documentElement.scrollWidth <= window.innerWidth];
        })()"#,
    );
    assert_eq!(fit[0], json!([]), "tables overflow at 1400 px");
    assert_eq!(fit[1], json!(true), "status column out of view");
    assert_eq!(fit[2], json!(true), "warning column out of view");
    assert_eq!(fit[3], json!("sticky"), "name column");
    assert_eq!(fit[4], json!(true), "the page scrolls sideways");
    let toggled = eval(
        &mut b,
        r#"(function () {
            var visible = function () {
                return Array.prototype.filter.call(document.querySelectorAll('#layers th.x'),
                    function (t) { return t.offsetWidth > 0; }).length;
            };
            var hidden = visible();
            var btn = document.getElementById('toggle-columns');
            btn.click();
            var shown = visible();
            btn.click();
            return [hidden, shown, document.querySelectorAll('#layers th.x').length, visible()];
        })()"#,
    );
    assert_eq!(toggled[0], json!(0), "extra columns start hidden");
    assert_eq!(toggled[1], toggled[2], "all columns shows every one");
    assert!(toggled[2].as_u64().unwrap() > 10, "{toggled}");
    assert_eq!(toggled[3], json!(0), "and hides them again");
    // The matrices table names its k_* as the fitter's.
    let k = eval(
        &mut b,
        r#"document.querySelector('#layers th[data-col="k_star"]').textContent"#,
    );
    assert_eq!(k, json!("k_star (fitter, this snapshot)"));
    // Back to the top, sorted by layer id, for the screenshot.
    eval(
        &mut b,
        "document.querySelector('#layers th').click(); window.scrollTo(0, 0); true",
    );
    let shot = b.call(s, "Page.captureScreenshot", json!({"format": "png"}));
    let png = base64_decode(shot["data"].as_str().unwrap());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    std::fs::write(&out, &png).unwrap();
    eprintln!("screenshot: {}", out.display());

    // The error collection works: a deliberate console.error is seen…
    eval(
        &mut b,
        "console.error('specscope probe'); setTimeout(function () { throw new Error('specscope probe thrown'); }, 0); true",
    );
    b.drain(std::time::Duration::from_millis(500));
    let errors = b.errors();
    for probe in [
        "console.\"error\": \"specscope probe\"",
        "specscope probe thrown",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(probe)),
            "the probe `{probe}` was not captured: {errors:?}"
        );
    }
    // …and nothing else was.
    let others: Vec<&String> = errors
        .iter()
        .filter(|e| !e.contains("specscope probe"))
        .collect();
    assert!(others.is_empty(), "console errors: {others:?}");
    // The only request is the page itself (data: URLs never hit the network).
    let requests: Vec<&String> = b
        .requests
        .iter()
        .filter(|u| !u.starts_with("data:"))
        .collect();
    assert_eq!(requests, [&url], "requests made by the page");
    b.close();
}

/// A snapshot series' page (a `simulate` run: the matrices, the series
/// figures, and every table of `compare` and `validate`) at 1400 px: no
/// table overflows its container; a wide table (compare's dynamics) shows
/// its first columns and an "all columns" button, and the series table
/// labels its k_* as the series source.
#[test]
fn series_report_fits_1400_px() {
    let Some(bin) = browser() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    simulate_linear(&run, 64, 200, 2);
    let html = dir.path().join("run.html");
    let o = specscope(&[
        "report",
        run.to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
        "--quiet",
        "--backend",
        "cpu",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("k_<wbr>star (series source)"),
        "series k_* label"
    );
    assert!(
        page.contains(r#"data-table="table-compare--dynamics""#),
        "dynamics toggle"
    );
    let url = format!("file://{}", html.canonicalize().unwrap().display());
    let mut b = cdp::Browser::launch(&bin, &dir.path().join("profile")).expect("Chromium starts");
    let target = b.call(None, "Target.createTarget", json!({"url": "about:blank"}));
    let attached = b.call(
        None,
        "Target.attachToTarget",
        json!({"targetId": target["targetId"], "flatten": true}),
    );
    let s = attached["sessionId"].as_str().unwrap().to_string();
    let s = Some(s.as_str());
    for domain in ["Runtime", "Page"] {
        b.call(s, &format!("{domain}.enable"), json!({}));
    }
    b.call(
        s,
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1400, "height": 1500, "deviceScaleFactor": 1, "mobile": false}),
    );
    b.call(s, "Page.navigate", json!({"url": url}));
    b.wait_event(s, "Page.loadEventFired");
    let r = b.call(
        s,
        "Runtime.evaluate",
        json!({"expression": r#"(function () {
            var tables = 0, over = [];
            Array.prototype.forEach.call(document.querySelectorAll('.scroll'), function (d) {
                tables++;
                if (d.scrollWidth > d.clientWidth) {
                    over.push(d.firstElementChild.id + ': ' + d.scrollWidth + ' > ' + d.clientWidth);
                }
            });
            return [tables, over];
        })()"#, "returnByValue": true}),
    );
    let v = &r["result"]["value"];
    assert!(v[0].as_u64().unwrap() >= 10, "{r}");
    assert_eq!(v[1], json!([]), "tables overflow at 1400 px");
    b.close();
}

/// Standard base64 (RFC 4648) with padding, as DevTools sends images.
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().filter(|&&c| c == b'=').count();
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= if c == b'=' { 0 } else { val(c) } << (18 - 6 * i);
        }
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..3 - pad]);
    }
    out
}

#[test]
fn base64_round_trip() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("aGk="), b"hi");
    assert_eq!(base64_decode("YWJj"), b"abc");
}

/// A minimal Chrome DevTools Protocol client over `--remote-debugging-pipe`:
/// Chromium reads NUL-terminated JSON commands on fd 3 and writes replies
/// and events on fd 4.
mod cdp {
    use serde_json::{Value, json};
    use std::io::{BufRead, BufReader, Write};
    use std::os::fd::FromRawFd;
    use std::os::unix::process::CommandExt;
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
    use std::time::{Duration, Instant};

    /// How long any one reply or event may take.
    const TIMEOUT: Duration = Duration::from_secs(60);

    pub struct Browser {
        child: Child,
        to: std::fs::File,
        from: Receiver<Value>,
        next_id: u64,
        /// Events seen so far (console errors, exceptions, log entries).
        events: Vec<Value>,
        /// URLs of every network request the page made.
        pub requests: Vec<String>,
    }

    fn pipe() -> (i32, i32) {
        let mut fds = [0i32; 2];
        // SAFETY: fds has room for the two descriptors pipe2 writes.
        let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
        (fds[0], fds[1])
    }

    impl Browser {
        pub fn launch(bin: &Path, profile: &Path) -> std::io::Result<Browser> {
            // Browser reads commands from (cmd_r → fd 3), writes to (evt_w → fd 4).
            let (cmd_r, cmd_w) = pipe();
            let (evt_r, evt_w) = pipe();
            let mut cmd = Command::new(bin);
            cmd.args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--remote-debugging-pipe",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
            // SAFETY: only async-signal-safe calls (fcntl, dup2) between
            // fork and exec. The ends are first moved above 10 so that
            // placing one on 3 cannot clobber the other; dup2 clears
            // close-on-exec on 3 and 4.
            unsafe {
                cmd.pre_exec(move || {
                    let r = libc::fcntl(cmd_r, libc::F_DUPFD_CLOEXEC, 10);
                    let w = libc::fcntl(evt_w, libc::F_DUPFD_CLOEXEC, 10);
                    if r < 0 || w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let child = cmd.spawn()?;
            // SAFETY: the parent owns these descriptors from pipe2 and
            // closes the child's ends once.
            let (to, from_file) = unsafe {
                libc::close(cmd_r);
                libc::close(evt_w);
                (
                    std::fs::File::from_raw_fd(cmd_w),
                    std::fs::File::from_raw_fd(evt_r),
                )
            };
            let (tx, rx) = channel();
            std::thread::spawn(move || {
                let mut r = BufReader::new(from_file);
                loop {
                    let mut buf = Vec::new();
                    match r.read_until(0, &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            if buf.last() == Some(&0) {
                                buf.pop();
                            }
                            match serde_json::from_slice::<Value>(&buf) {
                                Ok(v) => {
                                    if tx.send(v).is_err() {
                                        break;
                                    }
                                }
                                Err(e) => panic!("DevTools sent non-JSON ({e})"),
                            }
                        }
                    }
                }
            });
            Ok(Browser {
                child,
                to,
                from: rx,
                next_id: 1,
                events: Vec::new(),
                requests: Vec::new(),
            })
        }

        fn record(&mut self, msg: Value) {
            if msg.get("method").and_then(Value::as_str) == Some("Network.requestWillBeSent")
                && let Some(u) = msg.pointer("/params/request/url").and_then(Value::as_str)
            {
                self.requests.push(u.to_string());
            }
            self.events.push(msg);
        }

        fn recv(&mut self, deadline: Instant) -> Value {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.from.recv_timeout(left) {
                Ok(v) => v,
                Err(RecvTimeoutError::Timeout) => panic!("Chromium did not answer in {TIMEOUT:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("Chromium closed the pipe"),
            }
        }

        /// Sends a command and returns its `result`.
        pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
            let id = self.next_id;
            self.next_id += 1;
            let mut msg = json!({"id": id, "method": method, "params": params});
            if let Some(s) = session {
                msg["sessionId"] = json!(s);
            }
            let mut bytes = serde_json::to_vec(&msg).unwrap();
            bytes.push(0);
            self.to.write_all(&bytes).expect("write to Chromium");
            let deadline = Instant::now() + TIMEOUT;
            loop {
                let v = self.recv(deadline);
                if v.get("id").and_then(Value::as_u64) == Some(id) {
                    if let Some(e) = v.get("error") {
                        panic!("{method} failed: {e}");
                    }
                    return v["result"].clone();
                }
                self.record(v);
            }
        }

        /// Waits for an event of `method` on `session`.
        pub fn wait_event(&mut self, session: Option<&str>, method: &str) {
            if self.events.iter().any(|e| {
                e["method"] == method && e.get("sessionId").and_then(Value::as_str) == session
            }) {
                return;
            }
            let deadline = Instant::now() + TIMEOUT;
            loop {
                let v = self.recv(deadline);
                let hit =
                    v["method"] == method && v.get("sessionId").and_then(Value::as_str) == session;
                self.record(v);
                if hit {
                    return;
                }
            }
        }

        /// Takes in whatever arrives within `d`.
        pub fn drain(&mut self, d: Duration) {
            let until = Instant::now() + d;
            while let Ok(v) = self
                .from
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                self.record(v);
            }
        }

        /// Console errors and assertions, uncaught exceptions, and log
        /// entries at level error, as text.
        pub fn errors(&self) -> Vec<String> {
            let mut out = Vec::new();
            for e in &self.events {
                let p = &e["params"];
                match e["method"].as_str() {
                    Some("Runtime.consoleAPICalled")
                        if matches!(p["type"].as_str(), Some("error" | "assert")) =>
                    {
                        let args: Vec<String> = p["args"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|a| {
                                a.get("value")
                                    .map_or_else(|| a.to_string(), |v| v.to_string())
                            })
                            .collect();
                        out.push(format!("console.{}: {}", p["type"], args.join(" ")));
                    }
                    Some("Runtime.exceptionThrown") => {
                        out.push(format!("exception: {}", p["exceptionDetails"]));
                    }
                    Some("Log.entryAdded") if p["entry"]["level"] == "error" => {
                        out.push(format!("log: {}", p["entry"]["text"]));
                    }
                    _ => {}
                }
            }
            out
        }

        pub fn close(mut self) {
            let id = self.next_id;
            let msg = json!({"id": id, "method": "Browser.close", "params": {}});
            let mut bytes = serde_json::to_vec(&msg).unwrap();
            bytes.push(0);
            let _ = self.to.write_all(&bytes);
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Drop for Browser {
        fn drop(&mut self) {
            // A failed assertion must not leave Chromium running.
            if let Ok(None) = self.child.try_wait() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// `report RUN --overlap 4` on a `simulate` run adds the four overlap heat
/// maps (previous and init, left and right), each captioned, and the
/// comparison's overlap table; without the flag there are none; on a
/// single checkpoint the flag is refused (exit 2) before any analysis.
#[test]
fn series_report_draws_overlap_heat_maps() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    simulate_linear(&run, 32, 60, 4);
    let page = |extra: &[&str]| {
        let html = dir.path().join("page.html");
        let mut args = vec![
            "report",
            run.to_str().unwrap(),
            "-o",
            html.to_str().unwrap(),
            "-q",
            "--backend",
            "cpu",
        ];
        args.extend_from_slice(extra);
        let o = specscope(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        std::fs::read_to_string(&html).unwrap()
    };
    let with = page(&["--overlap", "4"]);
    let captions: Vec<&str> = with
        .split("<figcaption>")
        .skip(1)
        .filter_map(|c| c.split("</figcaption>").next())
        .filter(|c| c.contains("singular subspace overlap"))
        .collect();
    assert_eq!(captions.len(), 4, "{captions:?}");
    for (c, (side, against)) in captions.iter().zip([
        ("left", "the previous snapshot"),
        ("right", "the previous snapshot"),
        ("left", "the init"),
        ("right", "the init"),
    ]) {
        assert!(
            c.starts_with(&format!(
                "top-4 {side} singular subspace overlap with {against}"
            )),
            "{c}"
        );
        // Only the maps against the previous snapshot have grey cells
        // (the first snapshot's).
        assert_eq!(
            c.contains("grey: no value"),
            against.contains("previous"),
            "{c}"
        );
    }
    assert!(with.contains(r#"id="table-compare--overlap""#));
    let without = page(&[]);
    assert!(!without.contains("singular subspace overlap"));
    assert!(!without.contains(r#"id="table-compare--overlap""#));
    // A single checkpoint is no series.
    let snap = std::fs::read_dir(run.join("snapshots"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let o = specscope(&[
        "report",
        snap.to_str().unwrap(),
        "--overlap",
        "4",
        "-o",
        dir.path().join("x.html").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--overlap is for a snapshot series"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("x.html").exists());
}
