//! In-memory checkpoints: tensors that already sit in memory (the arrays
//! of a Python process, buffers another program owns) analysed where they
//! are, without copying their bytes.
//!
//! Owns [`TensorBuffer`], the owner of one tensor's bytes, and
//! [`Checkpoint::from_buffers`], which lays the buffers out as one virtual
//! safetensors file: each tensor gets a byte range of its own in a virtual
//! address space, and the file reads a range from the buffer that holds it.
//! Everything downstream (plans, spectra, reports) sees an ordinary
//! [`Checkpoint`] with one file. Checks here are the header checks of a real
//! file: dtype, and bytes against shape; a bad tensor is recorded on the
//! tensor and the others stay usable. Must not copy or decode tensor data.

use super::checkpoint::{Checkpoint, Tensor, natural_cmp};
use super::dtype::DType;
use super::error::LoadError;
use super::file::{SafetensorsFile, TensorHeader};
use memmap2::Mmap;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::Path;

/// The owner of one in-memory tensor's bytes (little-endian, row-major,
/// no alignment needed). The bytes must stay valid and unchanged while
/// the checkpoint that holds the owner lives: the engine reads them from
/// several threads.
pub trait TensorBuffer: Send + Sync {
    fn bytes(&self) -> &[u8];
}

impl TensorBuffer for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

impl TensorBuffer for Box<[u8]> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

impl TensorBuffer for std::sync::Arc<[u8]> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

impl TensorBuffer for &'static [u8] {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// One tensor given to [`Checkpoint::from_buffers`].
pub struct BufferTensor {
    pub name: String,
    /// The element type, as a safetensors header names it (`F32`, `BF16`,
    /// `I64`, …): types that are not decoded are carried as in a file.
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Box<dyn TensorBuffer>,
}

impl fmt::Debug for BufferTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferTensor")
            .field("name", &self.name)
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .field("bytes", &self.data.bytes().len())
            .finish()
    }
}

/// The bytes behind a [`SafetensorsFile`]: a map of the file, or in-memory
/// buffers at virtual offsets.
pub(super) enum Backing {
    Mapped(Mmap),
    Buffers {
        /// Virtual start of each buffer, non-decreasing.
        starts: Vec<usize>,
        buffers: Vec<Box<dyn TensorBuffer>>,
    },
}

impl fmt::Debug for Backing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backing::Mapped(m) => write!(f, "Mapped({} bytes)", m.len()),
            Backing::Buffers { buffers, .. } => write!(f, "Buffers({})", buffers.len()),
        }
    }
}

impl Backing {
    /// The bytes of `range`: of the map, or of the one buffer holding it
    /// (a range is always one whole tensor).
    pub(super) fn slice(&self, range: Range<usize>) -> &[u8] {
        match self {
            Backing::Mapped(m) => &m[range],
            Backing::Buffers { .. } if range.is_empty() => &[],
            Backing::Buffers { starts, buffers } => {
                // The last buffer starting at or before the range: empty
                // buffers share their start with the next one and come
                // first, so a non-empty range finds the buffer holding it.
                let i = starts.partition_point(|&s| s <= range.start) - 1;
                let start = range.start - starts[i];
                &buffers[i].bytes()[start..start + range.len()]
            }
        }
    }

    /// The map, for page advice; None for buffers (nothing to release).
    pub(super) fn mapped(&self) -> Option<&Mmap> {
        match self {
            Backing::Mapped(m) => Some(m),
            Backing::Buffers { .. } => None,
        }
    }
}

impl Checkpoint {
    /// A checkpoint of tensors already in memory, read in place: no byte is
    /// copied. `root` names it in reports and messages (the path column of
    /// a file). `metadata` is the string metadata a file's header would
    /// carry (`step`, `tokens`, …).
    ///
    /// A tensor whose dtype is not decoded, whose byte count does not match
    /// its shape, or whose name was given before is recorded with the
    /// problem, as a file's bad tensor is; the others stay usable.
    pub fn from_buffers(
        root: &Path,
        tensors: Vec<BufferTensor>,
        metadata: BTreeMap<String, String>,
    ) -> Checkpoint {
        let mut headers = Vec::with_capacity(tensors.len());
        let mut starts = Vec::with_capacity(tensors.len());
        let mut buffers = Vec::with_capacity(tensors.len());
        let mut seen = HashSet::new();
        let mut at = 0usize;
        for t in tensors {
            let len = t.data.bytes().len();
            let problem = tensor_problem(root, &t, len, !seen.insert(t.name.clone()));
            headers.push(TensorHeader {
                name: t.name,
                dtype: t.dtype,
                shape: t.shape,
                bytes: at..at + len,
                problem,
            });
            starts.push(at);
            buffers.push(t.data);
            at += len;
        }
        let file = SafetensorsFile::from_backing(
            root,
            at as u64,
            Backing::Buffers { starts, buffers },
            headers,
            metadata,
        );
        let mut tensors: Vec<Tensor> = file
            .tensors
            .iter()
            .map(|h| Tensor {
                header: h.clone(),
                file: Some(0),
            })
            .collect();
        // Stable: of two tensors with one name, the first given comes first.
        tensors.sort_by(|a, b| natural_cmp(a.name(), b.name()));
        Checkpoint {
            root: root.to_path_buf(),
            files: vec![file],
            tensors,
            problems: Vec::new(),
            index_order: None,
        }
    }
}

/// What a file's header check would say of this tensor, if anything.
fn tensor_problem(root: &Path, t: &BufferTensor, len: usize, repeated: bool) -> Option<LoadError> {
    let bad = |reason: String| LoadError::BadTensor {
        path: root.to_path_buf(),
        tensor: t.name.clone(),
        reason,
    };
    if repeated {
        return Some(bad("given twice; the first is analysed".into()));
    }
    let numel = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let want = match (numel, t.dtype.bits()) {
        (None, _) => return Some(bad(format!("shape {:?} overflows", t.shape))),
        (Some(n), Some(bits)) => n.checked_mul(bits).map(|b| b.div_ceil(8)),
        (Some(_), None) => None,
    };
    if let Some(want) = want
        && want != len
    {
        return Some(bad(format!(
            "shape {:?} of dtype {} needs {want} bytes, but its buffer holds {len}",
            t.shape, t.dtype
        )));
    }
    (!t.dtype.is_supported()).then(|| LoadError::UnsupportedDtype {
        path: root.to_path_buf(),
        tensor: t.name.clone(),
        dtype: t.dtype.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Options, analyze};
    use crate::pipeline::Silent;

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn tensor(name: &str, dtype: &str, shape: &[usize], data: Vec<u8>) -> BufferTensor {
        BufferTensor {
            name: name.into(),
            dtype: DType::parse(dtype),
            shape: shape.to_vec(),
            data: Box::new(data),
        }
    }

    /// A seeded 33×17 matrix (awkward sizes) written to a file and given
    /// as a buffer: the same header and the same bytes, so every reported
    /// number must be equal, not close.
    #[test]
    fn buffers_analyse_like_the_same_file() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let values: Vec<f32> = (0..33 * 17).map(|_| rng.random::<f32>() - 0.5).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let raw = f32_bytes(&values);
        let out = crate::load::TensorOut::raw("layer.w", "F32", &[33, 17], raw.clone());
        crate::load::write_safetensors(&path, &[out], &[]).unwrap();

        let opts = Options::default();
        let from_file = analyze(&Checkpoint::open(&path).unwrap(), &opts, &Silent).unwrap();
        let ck = Checkpoint::from_buffers(
            Path::new("<memory>"),
            vec![
                tensor("layer.w", "F32", &[33, 17], raw),
                tensor("empty", "F32", &[0], Vec::new()),
            ],
            BTreeMap::new(),
        );
        let from_memory = analyze(&ck, &opts, &Silent).unwrap();
        let (a, b) = (&from_file.matrices[0], &from_memory.matrices[0]);
        assert_eq!(a.evals().unwrap(), b.evals().unwrap());
        assert_eq!(
            crate::report::LayerRow::from(a).alpha,
            crate::report::LayerRow::from(b).alpha
        );
    }

    #[test]
    fn reads_in_place() {
        static DATA: [u8; 24] = [0; 24];
        let ck = Checkpoint::from_buffers(
            Path::new("<memory>"),
            vec![
                tensor("a", "F32", &[0], Vec::new()),
                BufferTensor {
                    name: "b".into(),
                    dtype: DType::F32,
                    shape: vec![2, 3],
                    data: Box::new(&DATA[..]),
                },
            ],
            BTreeMap::new(),
        );
        let b = ck.tensors.iter().find(|t| t.name() == "b").unwrap();
        let bytes = ck.file_of(b).unwrap().tensor_bytes(&b.header);
        assert_eq!(bytes.as_ptr(), DATA.as_ptr());
        assert_eq!(bytes.len(), 24);
    }

    #[test]
    fn bad_tensors_are_named_and_the_rest_stays_usable() {
        let ck = Checkpoint::from_buffers(
            Path::new("<memory>"),
            vec![
                tensor("short", "F32", &[4, 4], vec![0; 60]),
                tensor("complex", "C64", &[2, 2], vec![0; 32]),
                tensor("ids", "I64", &[3], vec![0; 24]),
                tensor("ok", "F16", &[2, 2], vec![0; 8]),
                tensor("ok", "F16", &[2, 2], vec![0; 8]),
            ],
            BTreeMap::new(),
        );
        let problem = |i: usize| ck.tensors[i].problem().map(|p| p.to_string());
        let names: Vec<&str> = ck.tensors.iter().map(|t| t.name()).collect();
        assert_eq!(names, ["complex", "ids", "ok", "ok", "short"]);
        assert_eq!(
            problem(0).unwrap(),
            "<memory>: tensor `complex` has dtype C64; supported: F16, BF16, F32, F64"
        );
        assert!(problem(1).unwrap().contains("`ids` has dtype I64"));
        assert_eq!(problem(2), None);
        assert!(problem(3).unwrap().contains("`ok`: given twice"));
        assert_eq!(
            problem(4).unwrap(),
            "<memory>: tensor `short`: shape [4, 4] of dtype F32 needs 64 bytes, but its buffer holds 60"
        );
    }
}
