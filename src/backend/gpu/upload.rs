//! How a matrix goes to the GPU: its orientation, the shader's DTYPE, the
//! split of its long side into blocks that each fit one storage binding,
//! the bytes of each block (raw where possible: F16/BF16 stay 2 bytes per
//! weight), and the host-side f64 ‖W‖²_F every GPU result is checked
//! against.

use crate::backend::BackendError;
use crate::load::{DType, MatrixData};
use rayon::prelude::*;
use std::borrow::Cow;
use std::ops::Range;

/// Where the weights of one block lie in its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Block {
    /// Range of the long side (rows of A, the tall orientation).
    pub k0: usize,
    pub k1: usize,
    /// Row length of the block as stored.
    pub ld: usize,
}

impl Block {
    pub fn len(&self) -> usize {
        self.k1 - self.k0
    }
}

#[derive(Debug, Clone)]
pub(super) struct UploadPlan {
    /// The stored matrix is tall (rows ≥ cols): A = W, rows contiguous
    /// (LAYOUT 0). Else A = Wᵀ and the long side is contiguous (LAYOUT 1).
    pub tall: bool,
    /// Side of the Gram.
    pub m: usize,
    /// Long side.
    pub long: usize,
    /// Shader DTYPE: 0 F32 (F64 is converted to F32 on the host), 1 F16, 2 BF16.
    pub dtype: u32,
    /// Bytes per element on the GPU.
    pub elem: usize,
    pub blocks: Vec<Block>,
}

impl UploadPlan {
    pub fn layout(&self) -> u32 {
        if self.tall { 0 } else { 1 }
    }

    /// Bytes of a block's buffer (a multiple of 4).
    pub fn block_bytes(&self, b: &Block) -> u64 {
        ((b.len() * self.m * self.elem) as u64).next_multiple_of(4)
    }

    pub fn max_block_bytes(&self) -> u64 {
        self.blocks
            .iter()
            .map(|b| self.block_bytes(b))
            .max()
            .unwrap_or(4)
    }
}

/// Splits the long side into blocks of at most `max_binding` bytes.
pub(super) fn plan(data: &MatrixData, max_binding: u64) -> Result<UploadPlan, BackendError> {
    let v = data.view;
    let (tall, long, m) = v.sides();
    let (dtype, elem) = match data.dtype {
        DType::F16 => (1, 2),
        DType::BF16 => (2, 2),
        _ => (0, 4),
    };
    let row_bytes = (m * elem) as u64;
    let per_block = (max_binding / row_bytes.max(1)) as usize;
    if per_block == 0 {
        return Err(BackendError::TooLarge {
            what: format!("one {m}-element row of the weights"),
            bytes: row_bytes,
            limit: max_binding,
            limit_name: "max_storage_buffer_binding_size",
        });
    }
    // Keep blocks even in length so 16-bit data never needs a half word
    // between blocks; the last block may be odd.
    let per_block = if per_block >= 2 && per_block < long {
        per_block & !1
    } else {
        per_block
    };
    let mut blocks = Vec::new();
    let mut k0 = 0;
    while k0 < long {
        let k1 = (k0 + per_block).min(long);
        let whole = k0 == 0 && k1 == long;
        // A whole wide matrix is used as stored (row length N); a split
        // one is gathered column block by column block (row length k1−k0).
        let ld = if tall {
            m
        } else if whole {
            long
        } else {
            k1 - k0
        };
        blocks.push(Block { k0, k1, ld });
        k0 = k1;
    }
    Ok(UploadPlan {
        tall,
        m,
        long,
        dtype,
        elem,
        blocks,
    })
}

/// The bytes of one block, and the tensor byte range they came from when
/// they are a plain slice of it (so its pages can be released).
pub(super) fn block_bytes<'a>(
    data: &'a MatrixData,
    plan: &UploadPlan,
    b: &Block,
) -> (Cow<'a, [u8]>, Option<Range<usize>>) {
    let v = data.view;
    let size = data.dtype.size().expect("planned dtypes decode");
    let dense = v.col_stride == 1 && v.row_stride == v.cols;
    let native = *data.dtype != DType::F64;
    let whole = b.k0 == 0 && b.k1 == plan.long;
    let padded = plan.block_bytes(b) as usize;
    if dense && native && (plan.tall || whole) {
        // Rows k0..k1 of a tall matrix, or the whole wide one: contiguous.
        let start = (v.offset + b.k0 * v.cols) * size;
        let end = start + b.len() * plan.m * size;
        let raw = &data.bytes[start..end];
        let bytes = if raw.len() == padded {
            Cow::Borrowed(raw)
        } else {
            let mut o = raw.to_vec();
            o.resize(padded, 0);
            Cow::Owned(o)
        };
        return (bytes, Some(start..end));
    }
    // Gather: a tall block keeps W's rows k0..k1; a wide one takes W's
    // columns k0..k1 of every row.
    let (r, c) = if plan.tall {
        (b.k0..b.k1, 0..v.cols)
    } else if whole {
        (0..v.rows, 0..v.cols)
    } else {
        (0..v.rows, b.k0..b.k1)
    };
    let mut out = Vec::with_capacity(padded);
    for i in r {
        for j in c.clone() {
            let e = (v.offset + i * v.row_stride + j * v.col_stride) * size;
            let src = &data.bytes[e..e + size];
            if native {
                out.extend_from_slice(src);
            } else {
                let x = f64::from_le_bytes(src.try_into().unwrap()) as f32;
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
    out.resize(padded, 0);
    (Cow::Owned(out), None)
}

/// ‖W‖²_F in f64 on the host, and the count of non-finite weights. Rows in
/// parallel blocks of ~1M elements.
pub fn host_frob2(data: &MatrixData) -> (f64, usize) {
    let v = data.view;
    if v.rows == 0 || v.cols == 0 {
        return (0.0, 0);
    }
    let per = ((1usize << 20) / v.cols).max(1);
    let blocks = v.rows.div_ceil(per);
    (0..blocks)
        .into_par_iter()
        .map(|bi| {
            let r0 = bi * per;
            let r1 = (r0 + per).min(v.rows);
            let mut buf = vec![0.0f64; (r1 - r0) * v.cols];
            let bad = data.read_rows(r0, r1, &mut buf);
            (buf.iter().map(|x| x * x).sum::<f64>(), bad)
        })
        .reduce(|| (0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}
