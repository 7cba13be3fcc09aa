//! What a Python caller analyses: a path, or arrays already in memory.
//!
//! Arrays arrive as C-contiguous numpy arrays (the Python layer turns
//! torch tensors, DLPack and buffer-protocol objects into numpy views
//! first, copying nothing where the layout allows). Their bytes are read
//! in place through `__array_interface__`: each array becomes a
//! [`TensorBuffer`] that keeps the array alive and points at its data, and
//! the buffers become a `Checkpoint` through the load layer's
//! `Checkpoint::from_buffers`. No f32 (or any) data is copied.

use crate::SpecscopeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use specscope::load::{BufferTensor, Checkpoint, DType, LoadError, TensorBuffer, TensorOut};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A source as the Python layer hands it over.
pub enum Source {
    Path(PathBuf),
    /// Name, numpy array, and a dtype that overrides the array's own
    /// (`BF16` for 16-bit words that hold bfloat16 values).
    Arrays(Vec<(String, Py<PyAny>, Option<String>)>),
}

impl Source {
    /// A path (str or `os.PathLike`), or a list of (name, array, dtype or
    /// None) tuples.
    pub fn of(ob: &Bound<'_, PyAny>) -> PyResult<Source> {
        if let Ok(p) = ob.extract::<PathBuf>() {
            return Ok(Source::Path(p));
        }
        Ok(Source::Arrays(ob.extract()?))
    }
}

/// The name an in-memory checkpoint goes by in reports and messages.
pub const MEMORY_ROOT: &str = "<memory>";

/// One array's bytes, read in place. The array object is kept alive, so
/// its data stays allocated: numpy frees an array's data only with the
/// array, and refuses to resize one that is referenced.
struct ArrayBuffer {
    address: usize,
    len: usize,
    _owner: Py<PyAny>,
}

impl TensorBuffer for ArrayBuffer {
    fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `address` and `len` come from the array's
        // `__array_interface__` (data pointer, C-contiguous, `len` = its
        // byte size), and `_owner` keeps the array, and with it the
        // allocation, alive for as long as this buffer exists. The caller
        // is told not to write the arrays while the engine reads them.
        unsafe { std::slice::from_raw_parts(self.address as *const u8, self.len) }
    }
}

/// The safetensors dtype of a numpy type string (`<f4`, `|u1`, …), when
/// the format has one. Big-endian data is refused: the decoder reads
/// little-endian bytes.
fn dtype_of(typestr: &str) -> Result<&'static str, String> {
    let (order, kind) = typestr.split_at(1);
    if order == ">" {
        return Err(format!(
            "big-endian data ({typestr}); convert with .astype('<{kind}')"
        ));
    }
    Ok(match kind {
        "f2" => "F16",
        "f4" => "F32",
        "f8" => "F64",
        "i1" => "I8",
        "i2" => "I16",
        "i4" => "I32",
        "i8" => "I64",
        "u1" => "U8",
        "u2" => "U16",
        "u4" => "U32",
        "u8" => "U64",
        "b1" => "BOOL",
        "c8" => "C64",
        _ => {
            return Err(format!(
                "numpy type {typestr} is not a tensor type safetensors knows"
            ));
        }
    })
}

/// Name, dtype, shape and (address, bytes) of one array.
struct ArrayView {
    dtype: DType,
    shape: Vec<usize>,
    address: usize,
    len: usize,
}

fn view_of(name: &str, array: &Bound<'_, PyAny>, dtype: Option<&str>) -> PyResult<ArrayView> {
    let bad = |why: String| SpecscopeError::new_err(format!("tensor `{name}`: {why}"));
    let iface = array
        .getattr("__array_interface__")
        .map_err(|_| bad("not a numpy array".into()))?;
    let iface = iface.cast::<PyDict>()?;
    let get = |k: &str| -> PyResult<Bound<'_, PyAny>> {
        iface
            .get_item(k)?
            .ok_or_else(|| bad(format!("__array_interface__ lacks `{k}`")))
    };
    if !get("strides").map(|s| s.is_none()).unwrap_or(true) {
        return Err(bad("not C-contiguous".into()));
    }
    let typestr: String = get("typestr")?.extract()?;
    let shape: Vec<usize> = get("shape")?.extract()?;
    let data = get("data")?;
    let data = data.cast::<PyTuple>()?;
    let address: usize = data.get_item(0)?.extract()?;
    // Bytes per element: the type string's digits (`<f4` → 4).
    let item = typestr.get(2..).and_then(|d| d.parse::<usize>().ok());
    let (dtype, item) = match (dtype, item) {
        (Some(d), Some(item)) => {
            let d = DType::parse(d);
            if d.size().is_some_and(|s| s != item) {
                return Err(bad(format!(
                    "given as {d}, but its elements have {item} bytes ({typestr})"
                )));
            }
            (d, item)
        }
        (Some(d), None) => {
            return Err(bad(format!("given as {d}, but its elements are {typestr}")));
        }
        (None, item) => {
            let d = DType::parse(dtype_of(&typestr).map_err(bad)?);
            (d, item.unwrap_or(0))
        }
    };
    let len = shape.iter().product::<usize>() * item;
    Ok(ArrayView {
        dtype,
        shape,
        address,
        len,
    })
}

/// The checkpoint of a source: the file(s) at a path, or the arrays read
/// in place. An array that cannot be read at all (not an array, not
/// contiguous, an unknown type) is an error naming it; one of a type the
/// engine does not decode is recorded on the tensor, as in a file.
pub fn checkpoint(py: Python<'_>, source: &Source) -> PyResult<Checkpoint> {
    match source {
        Source::Path(p) => {
            let p = p.clone();
            py.detach(|| Checkpoint::open(&p))
                .map_err(|e| SpecscopeError::new_err(e.to_string()))
        }
        Source::Arrays(arrays) => {
            let mut tensors = Vec::with_capacity(arrays.len());
            for (name, array, dtype) in arrays {
                let v = view_of(name, array.bind(py), dtype.as_deref())?;
                tensors.push(BufferTensor {
                    name: name.clone(),
                    dtype: v.dtype,
                    shape: v.shape,
                    data: Box::new(ArrayBuffer {
                        address: v.address,
                        len: v.len,
                        _owner: array.clone_ref(py),
                    }),
                });
            }
            Ok(Checkpoint::from_buffers(
                Path::new(MEMORY_ROOT),
                tensors,
                BTreeMap::new(),
            ))
        }
    }
}

/// Where the checkpoint reads each tensor from: (name, address), for
/// checking that nothing was copied.
pub fn addresses(ck: &Checkpoint) -> Vec<(String, usize)> {
    ck.tensors
        .iter()
        .filter(|t| t.problem().is_none())
        .filter_map(|t| {
            let f = ck.file_of(t)?;
            Some((
                t.name().to_string(),
                f.tensor_bytes(&t.header).as_ptr() as usize,
            ))
        })
        .collect()
}

/// Writes arrays as one safetensors file with string metadata (a
/// snapshot for `compare`). This copies, once, into the file's bytes.
pub fn write_snapshot(
    py: Python<'_>,
    path: &Path,
    arrays: &Source,
    metadata: &BTreeMap<String, String>,
) -> PyResult<()> {
    let ck = checkpoint(py, arrays)?;
    // Types the engine does not decode are written as they are; a tensor
    // whose bytes do not fit its shape is not written at all.
    let unwritable = ck
        .tensors
        .iter()
        .filter_map(|t| t.problem())
        .find(|p| !matches!(p, LoadError::UnsupportedDtype { .. }));
    if let Some(p) = unwritable {
        return Err(SpecscopeError::new_err(p.to_string()));
    }
    let meta: Vec<(&str, String)> = metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    py.detach(|| {
        let tensors: Vec<TensorOut> = ck
            .tensors
            .iter()
            .map(|t| {
                let bytes = ck.file_of(t).map(|f| f.tensor_bytes(&t.header).to_vec());
                TensorOut::raw(
                    t.name(),
                    &t.header.dtype.to_string(),
                    &t.header.shape,
                    bytes.unwrap_or_default(),
                )
            })
            .collect();
        specscope::load::write_safetensors(path, &tensors, &meta)
    })
    .map_err(|e| SpecscopeError::new_err(format!("{}: {e}", path.display())))
}
