//! The truncation guard: checkpoints are read through memory maps, and a
//! file truncated by another process while it is mapped makes the next
//! read of a vanished page raise SIGBUS, which kills the process without a
//! word. [`install`] sets a SIGBUS handler that looks the faulting address
//! up among the maps [`SafetensorsFile`](super::SafetensorsFile) registers
//! here, prints which file changed under the run, and exits with code 2
//! (an error: nothing of this run is reported, since every later read of
//! that file would fault too). A fault outside those maps gets the default
//! action, as before.
//!
//! The registry is a fixed array of atomics, the only state a signal
//! handler may read; a registration that finds it full is simply not
//! guarded (the handler then falls back to the default action).

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Maps guarded at once (files open at the same time).
const SLOTS: usize = 1024;

struct Slot {
    start: AtomicUsize,
    len: AtomicUsize,
    /// The path's bytes (owned by the `Registration`, cleared from the
    /// slot before they are freed), and their length.
    path: AtomicPtr<u8>,
    path_len: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    path: AtomicPtr::new(std::ptr::null_mut()),
    path_len: AtomicUsize::new(0),
};

static REGISTRY: [Slot; SLOTS] = [EMPTY; SLOTS];

/// A registered map (its slot and the path bytes the slot points to);
/// dropping it unregisters the range, then frees the bytes.
#[derive(Debug)]
pub(crate) struct Registration(Option<(usize, Box<[u8]>)>);

impl Registration {
    /// Nothing registered (data that is not a map).
    pub(crate) fn none() -> Registration {
        Registration(None)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some((i, _)) = &self.0 {
            let s = &REGISTRY[*i];
            s.len.store(0, Ordering::SeqCst);
            s.path.store(std::ptr::null_mut(), Ordering::SeqCst);
            s.path_len.store(0, Ordering::SeqCst);
            s.start.store(0, Ordering::SeqCst);
        }
    }
}

/// Registers the map `[start, start + len)` of the file `path`.
pub(crate) fn register(start: *const u8, len: usize, path: &std::path::Path) -> Registration {
    if len == 0 {
        return Registration(None);
    }
    let mut text = path.display().to_string().into_bytes().into_boxed_slice();
    for (i, s) in REGISTRY.iter().enumerate() {
        if s.start
            .compare_exchange(0, start as usize, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            s.path.store(text.as_mut_ptr(), Ordering::SeqCst);
            s.path_len.store(text.len(), Ordering::SeqCst);
            s.len.store(len, Ordering::SeqCst);
            return Registration(Some((i, text)));
        }
    }
    Registration(None)
}

/// Installs the SIGBUS handler (a no-op off Unix). Call it once, early;
/// the CLI does.
pub fn install() {
    #[cfg(unix)]
    // SAFETY: `on_sigbus` only reads atomics, calls write(2) and _exit(2),
    // all async-signal-safe; the sigaction struct is zeroed and then filled
    // in as sigaction(2) documents.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigbus as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
    }
}

#[cfg(unix)]
extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    for s in &REGISTRY {
        let (start, len) = (s.start.load(Ordering::SeqCst), s.len.load(Ordering::SeqCst));
        if start == 0 || addr < start || addr >= start + len {
            continue;
        }
        let path = s.path.load(Ordering::SeqCst);
        let n = s.path_len.load(Ordering::SeqCst);
        let write = |b: &[u8]| {
            // SAFETY: writing a live buffer to stderr.
            unsafe { libc::write(2, b.as_ptr().cast(), b.len()) };
        };
        write(b"specscope: error: ");
        if !path.is_null() {
            // SAFETY: the path's bytes, alive while the map is registered.
            write(unsafe { std::slice::from_raw_parts(path, n) });
        }
        write(
            b": the file shrank while it was being read (truncated or replaced by another process); the run is abandoned\n",
        );
        // SAFETY: _exit is async-signal-safe and does not return.
        unsafe { libc::_exit(2) };
    }
    // Not one of ours: the default action, on the fault's retry.
    // SAFETY: resetting a signal's disposition.
    unsafe { libc::signal(libc::SIGBUS, libc::SIG_DFL) };
}
