//! The progress bar: matrices and bytes done, with an ETA, on stderr.
//! Hidden when stderr is not a terminal or with `--quiet`.

use crate::pipeline::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Bar {
    bar: ProgressBar,
    matrices: u64,
    done: AtomicU64,
}

impl Bar {
    pub fn new(matrices: usize, bytes: u64, quiet: bool) -> Bar {
        let target = if quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(Some(bytes), target);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {binary_bytes}/{binary_total_bytes} {msg} [{elapsed} < {eta}]",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_message(format!("0/{matrices} matrices"));
        Bar {
            bar,
            matrices: matrices as u64,
            done: AtomicU64::new(0),
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn matrix_done(&self, _name: &str, bytes: u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.bar.inc(bytes);
        self.bar
            .set_message(format!("{done}/{} matrices", self.matrices));
    }
}
