//! Fuzz target: any bytes as a `specscope.toml` rules file: the UTF-8
//! check (which positions the first bad byte) and the parser and
//! validator. Every error must carry a position inside the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use specscope::check::config::{parse, utf8};

fuzz_target!(|data: &[u8]| {
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    let text = match utf8("c.toml", data) {
        Ok(t) => t,
        Err(e) => {
            assert!(e.line >= 1 && e.line <= lines, "{e}");
            return;
        }
    };
    if let Err(e) = parse("c.toml", &text) {
        assert!(e.line <= lines, "{e}");
    }
});
