//! Checked size arithmetic for every number a header decides: element
//! counts, byte counts, matrices per tensor and kernel positions per
//! matrix. A header's numbers are untrusted until these functions have
//! checked them (and the file parser has compared the byte count with the
//! file's real size); nothing is allocated from them before. Every product
//! the tensor → matrix rules form later is a factor of a validated element
//! count, so it cannot overflow. Owns no I/O and no rules beyond the
//! plausibility limits below.

use super::matrix::is_conv1d;

/// Most matrices one tensor may plan (stacked experts). The largest
/// expert stacks in released models hold 384 experts; every planned matrix
/// costs a few KiB of report whatever its size.
pub const MAX_MATRICES_PER_TENSOR: usize = 16_384;

/// Fewest elements each matrix of an expert stack must hold: a stack of
/// 1×1 or 2×3 "experts" is not a weight tensor, and without this floor a
/// 1 MiB file could plan half a million matrices.
pub const MIN_EXPERT_ELEMENTS: usize = 16;

/// Most kernel positions (views) one pooled convolution may have: a
/// 64×64 kernel. Each position is one eigen-problem pooled into one
/// spectrum.
pub const MAX_VIEWS_PER_MATRIX: usize = 4_096;

/// Why a header's sizes are refused. The message is the reason only; the
/// caller adds the file and the tensor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("shape {} has more than 2^64 elements", fmt_shape(.shape))]
    ElementsOverflow { shape: Vec<usize> },

    #[error("shape {} of {bits}-bit elements needs more than 2^64 bytes", fmt_shape(.shape))]
    BytesOverflow { shape: Vec<usize>, bits: usize },

    #[error(
        "shape {} plans {experts} expert matrices, more than the {max} one tensor may hold",
        fmt_shape(.shape),
        max = MAX_MATRICES_PER_TENSOR
    )]
    TooManyMatrices { shape: Vec<usize>, experts: usize },

    #[error(
        "shape {} plans {experts} expert matrices of {rows}×{cols}; each matrix of an expert stack must hold at least {min} elements",
        fmt_shape(.shape),
        min = MIN_EXPERT_ELEMENTS
    )]
    TinyExperts {
        shape: Vec<usize>,
        experts: usize,
        rows: usize,
        cols: usize,
    },

    #[error(
        "shape {} plans {views} kernel positions per matrix, more than the {max} allowed (a 64×64 kernel)",
        fmt_shape(.shape),
        max = MAX_VIEWS_PER_MATRIX
    )]
    TooManyViews { shape: Vec<usize>, views: usize },
}

/// A shape for a message: in full up to 8 axes, else the first 8 and a
/// count, so that a header with a million axes does not make a megabyte
/// message.
fn fmt_shape(shape: &[usize]) -> String {
    const SHOWN: usize = 8;
    if shape.len() <= SHOWN {
        format!("{shape:?}")
    } else {
        let head: Vec<String> = shape[..SHOWN].iter().map(|d| d.to_string()).collect();
        format!("[{}, … {} axes in all]", head.join(", "), shape.len())
    }
}

/// The number of elements of `shape` (1 for a scalar).
pub fn numel(shape: &[usize]) -> Result<usize, SizeError> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| SizeError::ElementsOverflow {
            shape: shape.to_vec(),
        })
}

/// Bytes that `shape` of `bits`-bit elements occupies (rounded up to whole
/// bytes for sub-byte types).
pub fn byte_len(shape: &[usize], bits: usize) -> Result<usize, SizeError> {
    let n = numel(shape)?;
    n.checked_mul(bits)
        .map(|b| b.div_ceil(8))
        .ok_or_else(|| SizeError::BytesOverflow {
            shape: shape.to_vec(),
            bits,
        })
}

/// How many matrices, and views per matrix, the tensor → matrix rules can
/// make of a tensor named `name` of `shape`, under either convolution
/// mode (the larger count of the two). Refuses a shape whose element count
/// overflows or whose plan is implausible (see the limits above). A 0-D or
/// 1-D tensor, or one with an empty axis, plans nothing: `(0, 0)`.
pub fn plan_counts(name: &str, shape: &[usize]) -> Result<(usize, usize), SizeError> {
    let n = numel(shape)?;
    if shape.len() < 2 || n == 0 {
        return Ok((0, 0));
    }
    match shape.len() {
        2 => Ok((1, 1)),
        3 if !is_conv1d(name, shape) => {
            let (experts, rows, cols) = (shape[0], shape[1], shape[2]);
            if experts > MAX_MATRICES_PER_TENSOR {
                return Err(SizeError::TooManyMatrices {
                    shape: shape.to_vec(),
                    experts,
                });
            }
            // rows·cols divides a validated count: no overflow.
            if experts > 1 && rows * cols < MIN_EXPERT_ELEMENTS {
                return Err(SizeError::TinyExperts {
                    shape: shape.to_vec(),
                    experts,
                    rows,
                    cols,
                });
            }
            Ok((experts, 1))
        }
        _ => {
            let views: usize = shape[2..].iter().product();
            if views > MAX_VIEWS_PER_MATRIX {
                return Err(SizeError::TooManyViews {
                    shape: shape.to_vec(),
                    views,
                });
            }
            Ok((1, views))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_that_overflow_are_refused() {
        // 2^62 elements fit; 2^62 · 32 bits do not.
        let s = [1usize << 31, 1 << 31];
        assert_eq!(numel(&s), Ok(1 << 62));
        assert!(matches!(
            byte_len(&s, 32),
            Err(SizeError::BytesOverflow { .. })
        ));
        assert!(matches!(
            byte_len(&[1 << 61, 1], 16),
            Err(SizeError::BytesOverflow { .. })
        ));
        assert!(matches!(
            byte_len(&[usize::MAX], 16),
            Err(SizeError::BytesOverflow { .. })
        ));
        assert!(matches!(
            numel(&[1 << 40, 1 << 40]),
            Err(SizeError::ElementsOverflow { .. })
        ));
        assert_eq!(byte_len(&[3, 5], 4), Ok(8));
        assert_eq!(byte_len(&[], 32), Ok(4));
    }

    #[test]
    fn plans_are_counted_and_absurd_ones_refused() {
        assert_eq!(plan_counts("b", &[7]), Ok((0, 0)));
        assert_eq!(plan_counts("w", &[0, 7]), Ok((0, 0)));
        assert_eq!(plan_counts("w", &[1, 1]), Ok((1, 1)));
        assert_eq!(plan_counts("moe.experts.w", &[4, 64, 32]), Ok((4, 1)));
        assert_eq!(plan_counts("c", &[2, 3, 4]), Ok((1, 4)));
        assert_eq!(plan_counts("conv", &[16, 8, 3, 3]), Ok((1, 9)));
        assert_eq!(plan_counts("moe.experts.w", &[1, 1, 1]), Ok((1, 1)));
        assert!(matches!(
            plan_counts("moe.experts.w", &[1 << 24, 1, 1]),
            Err(SizeError::TooManyMatrices { .. })
        ));
        assert!(matches!(
            plan_counts("moe.experts.w", &[64, 1, 1]),
            Err(SizeError::TinyExperts { .. })
        ));
        assert!(matches!(
            plan_counts("conv", &[1, 1, 1 << 20, 1 << 20]),
            Err(SizeError::TooManyViews { .. })
        ));
        let long = vec![1usize; 1000];
        let msg = numel(&[usize::MAX, 2])
            .unwrap_err()
            .to_string()
            .replace(&usize::MAX.to_string(), "MAX");
        assert_eq!(msg, "shape [MAX, 2] has more than 2^64 elements");
        assert!(fmt_shape(&long).ends_with("… 1000 axes in all]"));
    }
}
