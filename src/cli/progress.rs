//! The progress bar: matrices and bytes done, with an ETA, on stderr.
//! Hidden when stderr is not a terminal or with `--quiet`. One `Bar`
//! serves a series of runs (a `compare` of many snapshots): each run draws
//! a fresh bar and clears it when done.

use crate::pipeline::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Bar {
    visible: bool,
    bar: Mutex<Option<ProgressBar>>,
    matrices: AtomicU64,
    done: AtomicU64,
}

impl Bar {
    pub fn new(quiet: bool) -> Bar {
        Bar {
            visible: !quiet && std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
            matrices: AtomicU64::new(0),
            done: AtomicU64::new(0),
        }
    }

    fn with(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            f(b);
        }
    }
}

impl Progress for Bar {
    fn start(&self, matrices: usize, bytes: u64) {
        self.matrices.store(matrices as u64, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        if !self.visible {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {binary_bytes}/{binary_total_bytes} {msg} [{elapsed} < {eta}]",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_message(format!("0/{matrices} matrices"));
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
    }

    fn matrix_done(&self, _name: &str, bytes: u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let total = self.matrices.load(Ordering::Relaxed);
        self.with(|b| {
            b.inc(bytes);
            b.set_message(format!("{done}/{total} matrices"));
        });
    }

    fn finish(&self) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            b.finish_and_clear();
        }
    }
}
