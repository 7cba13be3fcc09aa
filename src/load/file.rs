//! One memory-mapped `.safetensors` file: header parsing and per-tensor
//! validation.
//!
//! The header is parsed with the `safetensors` crate. When the crate rejects
//! it for a reason that concerns single tensors (a bad offset, a size that
//! does not match the shape, an unknown dtype, a truncated data section),
//! the header is parsed again tensor by tensor so that the good tensors are
//! still analysed and each bad one gets its own message. Only a header that
//! cannot be read at all fails the whole file. Either way every tensor's
//! sizes then go through [`super::size`] against the file's real length
//! before anything uses them. Only regular files are opened, and opening
//! never blocks.

use super::dtype::DType;
use super::error::LoadError;
use super::memory::Backing;
use super::size;
use memmap2::Mmap;
use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Header size limit of the safetensors format (100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// One tensor entry of a header.
#[derive(Debug, Clone)]
pub struct TensorHeader {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Byte range inside the file (absolute, not relative to the data section).
    pub bytes: Range<usize>,
    /// Why this tensor cannot be read, when it cannot.
    pub problem: Option<LoadError>,
}

impl TensorHeader {
    /// The element count the shape declares; `usize::MAX` when it
    /// overflows (such a tensor carries a problem).
    pub fn numel(&self) -> usize {
        size::numel(&self.shape).unwrap_or(usize::MAX)
    }
}

/// What a non-regular file is, for messages.
fn file_kind(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "FIFO";
        }
        if t.is_socket() {
            return "socket";
        }
        if t.is_block_device() {
            return "block device";
        }
        if t.is_char_device() {
            return "character device";
        }
    }
    if t.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

/// Checks that `path` (symlinks followed) is a regular file, naming what
/// it is otherwise. Returns its length.
pub(crate) fn check_regular(path: &Path) -> Result<u64, LoadError> {
    let meta = std::fs::metadata(path).map_err(|e| LoadError::stat(path, &e))?;
    if !meta.is_file() {
        return Err(LoadError::NotRegular {
            path: path.to_path_buf(),
            kind: file_kind(meta.file_type()),
        });
    }
    Ok(meta.len())
}

/// Opens `path` for reading if it is a regular file. The type is checked
/// before opening and again on the open handle, and the open is
/// non-blocking, so a FIFO (even one swapped in between) never blocks.
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64), LoadError> {
    check_regular(path)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file = opts.open(path).map_err(|e| LoadError::stat(path, &e))?;
    let meta = file.metadata().map_err(|e| LoadError::io(path, &e))?;
    if !meta.is_file() {
        return Err(LoadError::NotRegular {
            path: path.to_path_buf(),
            kind: file_kind(meta.file_type()),
        });
    }
    Ok((file, meta.len()))
}

/// Reads a small regular text file whole (an index), refusing one over
/// `limit` bytes before reading it.
pub(crate) fn read_text(path: &Path, limit: u64) -> Result<String, LoadError> {
    use std::io::Read;
    let (file, len) = open_regular(path)?;
    if len > limit {
        return Err(LoadError::Io {
            path: path.to_path_buf(),
            message: format!("{len} bytes, over the {limit}-byte limit for this file"),
        });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| LoadError::io(path, &e))?;
    String::from_utf8(bytes).map_err(|e| LoadError::Io {
        path: path.to_path_buf(),
        message: format!("not UTF-8 text: {e}"),
    })
}

/// A mapped safetensors file and its parsed header.
#[derive(Debug)]
pub struct SafetensorsFile {
    pub path: PathBuf,
    pub len: u64,
    /// The map's entry in the truncation guard (dropped before the map).
    _guard: super::guard::Registration,
    data: Backing,
    pub tensors: Vec<TensorHeader>,
    /// String metadata of the header (`__metadata__`), sorted by key.
    pub metadata: BTreeMap<String, String>,
}

impl SafetensorsFile {
    /// Maps `path` and parses its header. Errors only when the header itself
    /// is unreadable; per-tensor problems are recorded on the tensors.
    pub fn open(path: &Path) -> Result<SafetensorsFile, LoadError> {
        let (file, len) = open_regular(path)?;
        let not_st = |reason: String| LoadError::NotSafetensors {
            path: path.to_path_buf(),
            reason,
        };
        if len < 8 {
            return Err(not_st(format!(
                "the file has {len} bytes, fewer than the 8-byte header-length field"
            )));
        }
        // SAFETY: the map is read-only and private to this process. A file
        // truncated by another process while mapped raises SIGBUS on the
        // next read of a vanished page; the truncation guard (`guard`)
        // turns that into an error naming the file.
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| LoadError::io(path, &e))?;
        let guard = super::guard::register(mmap.as_ptr(), mmap.len(), path);
        let n = u64::from_le_bytes(mmap[..8].try_into().unwrap());
        if n > len - 8 {
            return Err(not_st(format!(
                "the header-length field says {n} bytes, but only {} bytes follow it (truncated file, or not safetensors)",
                len - 8
            )));
        }
        if n > MAX_HEADER {
            return Err(not_st(format!(
                "header of {n} bytes exceeds the format's 100 MB limit"
            )));
        }
        let header_end = 8 + n as usize;
        let text = std::str::from_utf8(&mmap[8..header_end])
            .map_err(|e| not_st(format!("header is not UTF-8 text: {e}")))?;

        let (tensors, metadata) = match safetensors::SafeTensors::read_metadata(&mmap[..]) {
            Ok((_, meta)) => {
                let mut tensors: Vec<TensorHeader> = meta
                    .tensors()
                    .into_iter()
                    .map(|(name, info)| TensorHeader {
                        name,
                        dtype: DType::from_safetensors(info.dtype),
                        shape: info.shape.clone(),
                        bytes: header_end + info.data_offsets.0..header_end + info.data_offsets.1,
                        problem: None,
                    })
                    .collect();
                tensors.sort_by_key(|t| t.bytes.start);
                let metadata = meta
                    .metadata()
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                (tensors, metadata)
            }
            Err(_) => {
                let value: serde_json::Value = serde_json::from_str(text)
                    .map_err(|e| not_st(format!("header is not valid JSON: {e}")))?;
                lenient_parse(path, &value, header_end, len as usize)?
            }
        };
        let mut out = SafetensorsFile {
            path: path.to_path_buf(),
            len,
            _guard: guard,
            data: Backing::Mapped(mmap),
            tensors,
            metadata,
        };
        let data_len = (len - header_end as u64) as usize;
        for t in &mut out.tensors {
            if t.problem.is_none() {
                t.problem = check_tensor(path, t, header_end, data_len);
            }
        }
        Ok(out)
    }

    /// A file whose bytes are in-memory buffers (`memory`): `tensors`
    /// carry virtual byte ranges into `data`.
    pub(super) fn from_backing(
        path: &Path,
        len: u64,
        data: Backing,
        tensors: Vec<TensorHeader>,
        metadata: BTreeMap<String, String>,
    ) -> SafetensorsFile {
        SafetensorsFile {
            path: path.to_path_buf(),
            len,
            _guard: super::guard::Registration::none(),
            data,
            tensors,
            metadata,
        }
    }

    /// The bytes of a tensor. Only call for tensors without a problem.
    pub fn tensor_bytes(&self, t: &TensorHeader) -> &[u8] {
        self.data.slice(t.bytes.clone())
    }

    /// Tells the kernel the pages of `range` are no longer needed, so that
    /// analysing a checkpoint far larger than memory keeps a small resident
    /// set. The data stays readable: pages are read again from the file.
    pub fn release(&self, range: Range<usize>) {
        #[cfg(unix)]
        {
            // In-memory buffers (`memory`) have no pages to give back.
            let Some(m) = self.data.mapped() else { return };
            if range.end > range.start && range.end <= m.len() {
                // SAFETY: the map is a read-only, file-backed mapping, so
                // MADV_DONTNEED only drops clean pages; later reads fault them
                // in again from the file with the same contents.
                let _ = unsafe {
                    m.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        range.start,
                        range.end - range.start,
                    )
                };
            }
        }
    }
}

/// The one validation every tensor passes, whichever parser read it: its
/// byte range lies inside the data section, the byte count its shape and
/// dtype need (checked arithmetic) equals that range, its dtype decodes,
/// and the matrices it would plan are plausible. The first failure is the
/// tensor's problem.
fn check_tensor(
    path: &Path,
    t: &TensorHeader,
    header_end: usize,
    data_len: usize,
) -> Option<LoadError> {
    let bad = |reason: String| {
        Some(LoadError::BadTensor {
            path: path.to_path_buf(),
            tensor: t.name.clone(),
            reason,
        })
    };
    let (s, e) = (
        t.bytes.start.saturating_sub(header_end),
        t.bytes.end.saturating_sub(header_end),
    );
    if t.bytes.start < header_end || s > e || e > data_len {
        return bad(format!(
            "data_offsets [{s}, {e}] lie outside the data section ({data_len} bytes)"
        ));
    }
    let need = match t.dtype.bits() {
        Some(bits) => size::byte_len(&t.shape, bits).map(Some),
        None => size::numel(&t.shape).map(|_| None),
    };
    match need {
        Err(err) => {
            return bad(format!(
                "{err}; data_offsets [{s}, {e}] give {} bytes",
                e - s
            ));
        }
        Ok(Some(want)) if want != e - s => {
            return bad(format!(
                "shape {:?} of dtype {} needs {want} bytes, but data_offsets [{s}, {e}] give {} bytes",
                t.shape,
                t.dtype,
                e - s
            ));
        }
        Ok(_) => {}
    }
    if !t.dtype.is_supported() {
        return Some(LoadError::UnsupportedDtype {
            path: path.to_path_buf(),
            tensor: t.name.clone(),
            dtype: t.dtype.to_string(),
        });
    }
    if let Err(err) = size::plan_counts(&t.name, &t.shape) {
        return bad(err.to_string());
    }
    None
}

/// Parses a header the crate rejected, one tensor at a time.
fn lenient_parse(
    path: &Path,
    value: &serde_json::Value,
    header_end: usize,
    file_len: usize,
) -> Result<(Vec<TensorHeader>, BTreeMap<String, String>), LoadError> {
    let obj = value.as_object().ok_or_else(|| LoadError::NotSafetensors {
        path: path.to_path_buf(),
        reason: "header is JSON but not an object".into(),
    })?;
    let data_len = file_len - header_end;
    let mut metadata = BTreeMap::new();
    let mut tensors = Vec::new();
    for (name, entry) in obj {
        if name == "__metadata__" {
            if let Some(m) = entry.as_object() {
                for (k, v) in m {
                    if let Some(s) = v.as_str() {
                        metadata.insert(k.clone(), s.to_string());
                    }
                }
            }
            continue;
        }
        let bad = |reason: String| LoadError::BadTensor {
            path: path.to_path_buf(),
            tensor: name.clone(),
            reason,
        };
        let dtype = entry
            .get("dtype")
            .and_then(|d| d.as_str())
            .map(DType::parse);
        let shape: Option<Vec<usize>> =
            entry.get("shape").and_then(|s| s.as_array()).and_then(|a| {
                a.iter()
                    .map(|x| x.as_u64().and_then(|v| usize::try_from(v).ok()))
                    .collect()
            });
        let offsets: Option<Vec<usize>> = entry
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_u64().and_then(|v| usize::try_from(v).ok()))
                    .collect()
            });
        let complete = dtype.is_some() && shape.is_some();
        let mut t = TensorHeader {
            name: name.clone(),
            dtype: dtype.unwrap_or(DType::Other {
                name: "?".into(),
                bits: None,
            }),
            shape: shape.unwrap_or_default(),
            bytes: 0..0,
            problem: None,
        };
        let (true, Some(offsets)) = (complete, offsets) else {
            t.problem = Some(bad(
                "header entry lacks a valid `dtype`, `shape` (non-negative integers) or `data_offsets`".into(),
            ));
            tensors.push(t);
            continue;
        };
        if offsets.len() != 2 || offsets[0] > offsets[1] {
            t.problem = Some(bad(format!(
                "data_offsets {offsets:?} are not an increasing pair"
            )));
            tensors.push(t);
            continue;
        }
        let (s, e) = (offsets[0], offsets[1]);
        if e > data_len {
            t.problem = Some(bad(format!(
                "data_offsets [{s}, {e}] run past the end of the data section ({data_len} bytes): the file is truncated or the header lies"
            )));
        } else {
            t.bytes = header_end + s..header_end + e;
            t.problem = check_tensor(path, &t, header_end, data_len);
        }
        tensors.push(t);
    }
    // Overlaps among otherwise sound tensors: both sides are suspect.
    tensors.sort_by_key(|t| (t.bytes.start, t.bytes.end));
    let sound: Vec<usize> = (0..tensors.len())
        .filter(|&i| tensors[i].problem.is_none())
        .collect();
    let mut overlaps = Vec::new();
    let mut reach: Option<usize> = None; // the sound tensor reaching furthest so far
    for &i in &sound {
        if tensors[i].bytes.is_empty() {
            continue;
        }
        if let Some(r) = reach {
            if tensors[i].bytes.start < tensors[r].bytes.end {
                overlaps.push((r, i));
            }
            if tensors[i].bytes.end > tensors[r].bytes.end {
                reach = Some(i);
            }
        } else {
            reach = Some(i);
        }
    }
    for (i, j) in overlaps {
        let (ni, nj) = (tensors[i].name.clone(), tensors[j].name.clone());
        let (ri, rj) = (tensors[i].bytes.clone(), tensors[j].bytes.clone());
        for (k, other, r) in [(i, &nj, &rj), (j, &ni, &ri)] {
            let me = tensors[k].bytes.clone();
            let tensor = tensors[k].name.clone();
            tensors[k].problem.get_or_insert(LoadError::BadTensor {
                path: path.to_path_buf(),
                tensor,
                reason: format!(
                    "data bytes [{}, {}) overlap those of tensor `{other}` [{}, {})",
                    me.start - header_end,
                    me.end - header_end,
                    r.start - header_end,
                    r.end - header_end
                ),
            });
        }
    }
    Ok((tensors, metadata))
}
