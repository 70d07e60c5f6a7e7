//! Broadcasting and the iteration plan: which axes to walk, in which order, and how the operands
//! step along them.
//!
//! Strides here are in **bytes** (ndarray's element strides times the element size), so one plan
//! serves operands of different dtypes. Operand 0 is always the output.

use crate::error::{Error, ErrorKind, Result};

/// Formats a shape as Python prints a tuple: `()`, `(5,)`, `(3, 4)`.
pub fn shape_str(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// NumPy's broadcasting rule over named shapes (zero-size axes included: a 0 meets only 0 or 1).
///
/// The error names every operand and its shape:
/// `operands could not be broadcast together: a has shape (3, 4), b has shape (5,)`.
pub fn broadcast_shapes(operands: &[(&str, &[usize])]) -> Result<Vec<usize>> {
    let ndim = operands.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; ndim];
    for (axis, slot) in out.iter_mut().enumerate() {
        let mut d = 1usize;
        for (_, shape) in operands {
            // Right-aligned: operand axis `axis - (ndim - len)`.
            let pad = ndim - shape.len();
            if axis < pad {
                continue;
            }
            let dim = shape[axis - pad];
            if dim == 1 {
                continue;
            }
            if d == 1 {
                d = dim;
            } else if d != dim {
                let parts: Vec<String> = operands
                    .iter()
                    .map(|(n, s)| format!("{n} has shape {}", shape_str(s)))
                    .collect();
                return Err(Error::new(
                    ErrorKind::Shape,
                    format!(
                        "operands could not be broadcast together: {}",
                        parts.join(", ")
                    ),
                ));
            }
        }
        *slot = d;
    }
    Ok(out)
}

/// The element strides of a contiguous array of `shape`, in C order or in Fortran order (a
/// length-0 axis steps as a length-1 one, so every stride stays nonzero).
pub fn contiguous_strides(shape: &[usize], fortran: bool) -> Vec<isize> {
    let mut acc = 1isize;
    let mut step = |&d: &usize| {
        let s = acc;
        acc *= d.max(1) as isize;
        s
    };
    if fortran {
        shape.iter().map(step).collect()
    } else {
        let mut s: Vec<isize> = shape.iter().rev().map(&mut step).collect();
        s.reverse();
        s
    }
}

/// The strides (same unit as `strides`) of an operand of `shape` broadcast to `out_shape`, which
/// must be a valid broadcast of it: stride 0 along the axes it is repeated over.
pub fn broadcast_strides(shape: &[usize], strides: &[isize], out_shape: &[usize]) -> Vec<isize> {
    let pad = out_shape.len() - shape.len();
    (0..out_shape.len())
        .map(|axis| {
            if axis < pad {
                0
            } else {
                let k = axis - pad;
                if shape[k] == 1 && out_shape[axis] != 1 {
                    0
                } else if out_shape[axis] == 1 {
                    // A length-1 axis is never stepped along; 0 keeps merging simple.
                    0
                } else {
                    strides[k]
                }
            }
        })
        .collect()
}

/// How to walk the elements: outer axes by an index counter, the inner (merged) axis in blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Lengths of the outer axes, outermost first (may be empty).
    pub outer: Vec<usize>,
    /// `outer_strides[op][axis]`: byte stride of operand `op` along outer axis `axis`.
    pub outer_strides: Vec<Vec<isize>>,
    /// Length of the innermost axis (1 for a 0-d evaluation; 0 for an empty one).
    pub inner: usize,
    /// Byte stride of each operand along the inner axis.
    pub inner_strides: Vec<isize>,
}

impl Plan {
    /// Builds the plan for `shape`, given each operand's byte strides already broadcast to it
    /// (`strides[0]` is the output). Axes of length 1 are dropped, the others ordered to follow
    /// the output's memory order (largest |stride| outermost; a stable sort, so ties keep C
    /// order), then neighbours that are contiguous for every operand are merged (NumPy's
    /// iterator coalescing).
    pub fn new(shape: &[usize], strides: &[Vec<isize>]) -> Plan {
        Plan::ordered(shape, strides, &strides[0])
    }

    /// As [`Plan::new`], with the axes ordered by the magnitudes of `key` (byte strides of some
    /// operand, or any ranking of the axes) instead of the output's strides.
    pub fn ordered(shape: &[usize], strides: &[Vec<isize>], key: &[isize]) -> Plan {
        let nops = strides.len();
        if shape.contains(&0) {
            return Plan {
                outer: Vec::new(),
                outer_strides: vec![Vec::new(); nops],
                inner: 0,
                inner_strides: vec![0; nops],
            };
        }
        // At most one axis longer than 1 (1-d operands, the common case from Python): nothing
        // to order or merge, and the general path's vectors would be most of the plan's cost.
        let mut long = (0..shape.len()).filter(|&a| shape[a] != 1);
        if let (first, None) = (long.next(), long.next()) {
            let (inner, inner_strides) = match first {
                Some(a) => (shape[a], strides.iter().map(|st| st[a]).collect()),
                None => (1, vec![0; nops]),
            };
            return Plan {
                outer: Vec::new(),
                outer_strides: vec![Vec::new(); nops],
                inner,
                inner_strides,
            };
        }
        let mut axes: Vec<usize> = (0..shape.len()).filter(|&a| shape[a] != 1).collect();
        axes.sort_by_key(|&a| std::cmp::Reverse(key[a].unsigned_abs()));

        // Merge from the innermost outwards. Each entry: (length, per-operand stride).
        let mut merged: Vec<(usize, Vec<isize>)> = Vec::new();
        for &a in axes.iter().rev() {
            let s: Vec<isize> = strides.iter().map(|st| st[a]).collect();
            if let Some((len, inner_s)) = merged.last_mut() {
                let contiguous = s
                    .iter()
                    .zip(inner_s.iter())
                    .all(|(&outer, &inner)| outer == inner * *len as isize);
                if contiguous {
                    *len *= shape[a];
                    continue;
                }
            }
            merged.push((shape[a], s));
        }
        merged.reverse(); // outermost first
        let (inner, inner_strides) = merged.pop().unwrap_or((1, vec![0; nops]));
        let outer: Vec<usize> = merged.iter().map(|(l, _)| *l).collect();
        let outer_strides = (0..nops)
            .map(|op| merged.iter().map(|(_, s)| s[op]).collect())
            .collect();
        Plan {
            outer,
            outer_strides,
            inner,
            inner_strides,
        }
    }

    /// Number of rows (iterations of the outer axes).
    pub fn rows(&self) -> usize {
        if self.inner == 0 {
            0
        } else {
            self.outer.iter().product()
        }
    }

    /// Total number of elements.
    pub fn len(&self) -> usize {
        self.rows() * self.inner
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Blocks of `block` elements per row (the last one may be short).
    pub fn blocks_per_row(&self, block: usize) -> usize {
        self.inner.div_ceil(block)
    }

    /// Number of work units (blocks) in all.
    pub fn units(&self, block: usize) -> usize {
        self.rows() * self.blocks_per_row(block)
    }

    /// Byte offsets of the first element of `row` for each operand, written into `offsets`.
    pub fn row_offsets(&self, mut row: usize, offsets: &mut [isize]) {
        offsets.iter_mut().for_each(|o| *o = 0);
        for axis in (0..self.outer.len()).rev() {
            let len = self.outer[axis];
            let idx = (row % len) as isize;
            row /= len;
            for (op, o) in offsets.iter_mut().enumerate() {
                *o += idx * self.outer_strides[op][axis];
            }
        }
    }
}

/// The byte range `[lo, hi)` an operand's elements occupy (empty operands: `None`).
pub fn byte_range(
    ptr: usize,
    shape: &[usize],
    strides: &[isize],
    size: usize,
) -> Option<(usize, usize)> {
    if shape.contains(&0) {
        return None;
    }
    let (mut lo, mut hi) = (ptr as isize, ptr as isize);
    for (&d, &s) in shape.iter().zip(strides) {
        let span = (d as isize - 1) * s;
        if span < 0 {
            lo += span;
        } else {
            hi += span;
        }
    }
    Some((lo as usize, hi as usize + size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_rules() {
        assert_eq!(
            broadcast_shapes(&[("a", &[2, 0, 3]), ("b", &[3])]).unwrap(),
            vec![2, 0, 3]
        );
        assert_eq!(
            broadcast_shapes(&[("a", &[2, 1, 3]), ("b", &[4, 1])]).unwrap(),
            vec![2, 4, 3]
        );
        assert_eq!(
            broadcast_shapes(&[("a", &[]), ("b", &[0])]).unwrap(),
            vec![0]
        );
        let e = broadcast_shapes(&[("a", &[2, 0, 3]), ("b", &[5])]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Shape);
        let e = broadcast_shapes(&[("a", &[3, 4]), ("b", &[5])]).unwrap_err();
        assert_eq!(
            e.message(),
            "operands could not be broadcast together: a has shape (3, 4), b has shape (5,)"
        );
        let e = broadcast_shapes(&[("a", &[0]), ("b", &[5])]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Shape);
    }

    #[test]
    fn merges_contiguous_axes() {
        // C-contiguous (2, 3, 4) f64 output and input: one axis of 24.
        let s = vec![96, 32, 8];
        let p = Plan::new(&[2, 3, 4], &[s.clone(), s]);
        assert_eq!(p.inner, 24);
        assert!(p.outer.is_empty());
        // Input sliced with step 2 along the last axis: no merge for the inner axis.
        let p = Plan::new(&[2, 3, 4], &[vec![96, 32, 8], vec![192, 64, 16]]);
        assert_eq!((p.inner, p.outer.clone()), (24, vec![]));
        let p = Plan::new(&[2, 3, 4], &[vec![96, 32, 8], vec![256, 64, 16]]);
        assert_eq!((p.inner, p.outer.clone()), (12, vec![2]));
        // Fortran output: axis 0 is innermost.
        let p = Plan::new(&[3, 4], &[vec![8, 24], vec![8, 24]]);
        assert_eq!(p.inner, 12);
        // Broadcast input along rows.
        let p = Plan::new(&[3, 4], &[vec![32, 8], vec![0, 8]]);
        assert_eq!((p.inner, p.outer.clone()), (4, vec![3]));
        let mut off = [0isize; 2];
        p.row_offsets(2, &mut off);
        assert_eq!(off, [64, 0]);
    }

    #[test]
    fn zero_d_and_empty() {
        let p = Plan::new(&[], &[vec![], vec![]]);
        assert_eq!((p.inner, p.rows(), p.len()), (1, 1, 1));
        let p = Plan::new(&[3, 0], &[vec![0, 8], vec![0, 8]]);
        assert_eq!(p.len(), 0);
        assert_eq!(p.units(1024), 0);
    }

    #[test]
    fn ranges() {
        assert_eq!(byte_range(1000, &[3], &[-8], 8), Some((984, 1008)));
        assert_eq!(byte_range(1000, &[2, 3], &[24, 8], 8), Some((1000, 1048)));
        assert_eq!(byte_range(1000, &[0, 3], &[24, 8], 8), None);
    }
}
