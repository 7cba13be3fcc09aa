//! Memory stays bounded however large the checkpoint: the peak resident set
//! of `specscope analyze` must stay below the largest tensor in f32 plus
//! 512 MiB. Mapped file pages count, so the test uses a checkpoint (1.7 GB)
//! much larger than that bound (1.18 GB): it fails if pages of finished
//! tensors are kept, or if a tensor is ever materialised whole in f64.
//! Includes the 262144×640 embedding of a large vocabulary.

use std::io::Write;
use std::process::Command;

const EMBED: (usize, usize) = (262_144, 640);
const LAYER: (usize, usize) = (65_536, 256);
const LAYERS: usize = 16;

/// Streams a safetensors file of F32 tensors with pseudo-random values,
/// without holding it in memory.
fn write_big(path: &std::path::Path, tensors: &[(String, usize, usize)]) {
    let mut header = String::from("{");
    let mut at = 0usize;
    for (i, (name, r, c)) in tensors.iter().enumerate() {
        let len = r * c * 4;
        if i > 0 {
            header.push(',');
        }
        header.push_str(&format!(
            r#""{name}":{{"dtype":"F32","shape":[{r},{c}],"data_offsets":[{at},{}]}}"#,
            at + len
        ));
        at += len;
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut f = std::io::BufWriter::with_capacity(1 << 22, std::fs::File::create(path).unwrap());
    f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    let mut s = 0x2545F4914F6CDD1Du64;
    let mut chunk = vec![0u8; 1 << 22];
    for (_, r, c) in tensors {
        let mut left = r * c * 4;
        while left > 0 {
            let n = left.min(chunk.len());
            for w in chunk[..n].chunks_exact_mut(4) {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let v = ((s >> 40) as f32) / (1u32 << 24) as f32 - 0.5;
                w.copy_from_slice(&v.to_le_bytes());
            }
            f.write_all(&chunk[..n]).unwrap();
            left -= n;
        }
    }
    f.flush().unwrap();
}

/// Runs the binary and returns (exit code, peak RSS in bytes) of that
/// child alone (wait4's rusage).
#[allow(clippy::zombie_processes)] // reaped by wait4 below, which also yields its rusage
fn run_measured(args: &[&str]) -> (i32, u64) {
    let child = Command::new(env!("CARGO_BIN_EXE_specscope"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: plain syscall on our own child's pid with valid out-pointers.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t);
    assert!(libc::WIFEXITED(status));
    (libc::WEXITSTATUS(status), usage.ru_maxrss as u64 * 1024)
}

#[test]
fn peak_memory_stays_below_largest_tensor_plus_512_mib() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.safetensors");
    let mut tensors = vec![("embed.weight".to_string(), EMBED.0, EMBED.1)];
    tensors.extend((0..LAYERS).map(|i| (format!("layers.{i}.weight"), LAYER.0, LAYER.1)));
    write_big(&path, &tensors);
    let file = std::fs::metadata(&path).unwrap().len();
    let bound = (EMBED.0 * EMBED.1 * 4) as u64 + (512 << 20);
    assert!(
        file > bound,
        "the checkpoint ({file} B) must exceed the bound ({bound} B) for the test to mean anything"
    );
    let (code, peak) = run_measured(&[
        "analyze",
        path.to_str().unwrap(),
        "--format",
        "json",
        "--quiet",
    ]);
    eprintln!(
        "checkpoint {:.0} MiB, bound {:.0} MiB, peak RSS {:.0} MiB",
        file as f64 / 1048576.0,
        bound as f64 / 1048576.0,
        peak as f64 / 1048576.0
    );
    assert_eq!(code, 0);
    assert!(peak < bound, "peak RSS {peak} B ≥ bound {bound} B");
}
