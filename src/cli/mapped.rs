//! The command line's only `unsafe` code: memory-mapping files and viewing mapped bytes as
//! typed slices.
//!
//! `eval` must work on files larger than memory, so inputs and the output are mapped instead
//! of read or written through buffers, and native, aligned input data is handed to the VM in
//! place. Both steps need `unsafe`; keeping them here, behind safe signatures whose
//! preconditions are checked at run time (alignment, length, valid bit patterns), means the
//! rest of the CLI is safe Rust.

use memmap2::{Mmap, MmapMut};
use num_complex::{Complex32, Complex64};
use std::fs::File;

/// Element types for which every bit pattern is a valid value, so that any bytes of the right
/// length and alignment may be viewed as them. `bool` is not one (only 0 and 1 are valid), so
/// boolean data is always decoded byte by byte instead.
pub trait Plain: Copy + sealed::Sealed {}

mod sealed {
    pub trait Sealed {}
}

macro_rules! plain {
    ($($t:ty),*) => { $(impl sealed::Sealed for $t {} impl Plain for $t {})* };
}
plain!(
    i8,
    i16,
    i32,
    i64,
    u8,
    u16,
    u32,
    u64,
    half::f16,
    f32,
    f64,
    Complex32,
    Complex64
);

/// Maps `file` read-only.
pub fn map_read(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: a mapping is only sound while nobody else truncates or writes the file: a
    // truncation turns reads into SIGBUS and a concurrent write changes bytes under a `&[u8]`.
    // Like NumPy's `np.load(mmap_mode='r')`, we assume input files are not modified while
    // `ndexpr eval` runs; this is documented in the README.
    unsafe { Mmap::map(file) }
}

/// Maps `file` (which this process has just created, and holds open) read-write.
pub fn map_write(file: &File) -> std::io::Result<MmapMut> {
    // SAFETY: as for `map_read`; the file is our own temporary, under a name nobody else uses,
    // so nobody else is expected to touch it.
    unsafe { MmapMut::map_mut(file) }
}

/// `bytes` viewed as `T`s, if they are aligned for `T` and a whole number of `T`s.
pub fn cast<T: Plain>(bytes: &[u8]) -> Option<&[T]> {
    // SAFETY: `T: Plain` has no invalid bit patterns and no padding, so any initialised bytes
    // are valid `T`s; `align_to` itself guarantees the middle part is aligned and in bounds.
    // We only accept the split when nothing falls outside the middle part.
    let (head, body, tail) = unsafe { bytes.align_to::<T>() };
    (head.is_empty() && tail.is_empty()).then_some(body)
}

/// `bytes` viewed as mutable `T`s, if they are aligned for `T` and a whole number of `T`s.
pub fn cast_mut<T: Plain>(bytes: &mut [u8]) -> Option<&mut [T]> {
    // SAFETY: as for `cast`; in addition every bit pattern written through `&mut [T]` is a valid
    // sequence of bytes, so the bytes stay valid for the `&mut [u8]` they came from.
    let (head, body, tail) = unsafe { bytes.align_to_mut::<T>() };
    (head.is_empty() && tail.is_empty()).then_some(body)
}

/// `bytes` set to zero, then viewed as `false` booleans (zero is `false`).
pub fn zeroed_bools(bytes: &mut [u8]) -> &mut [bool] {
    bytes.fill(0);
    // SAFETY: `bool` has size and alignment 1, so the whole slice is the middle part; every
    // byte is 0, a valid `bool`; values written through `&mut [bool]` (0 or 1) are valid `u8`s.
    let (head, body, tail) = unsafe { bytes.align_to_mut::<bool>() };
    debug_assert!(head.is_empty() && tail.is_empty());
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cast_checks_alignment_and_length() {
        let words = [1u64, 2, 3];
        let mut buf = [0u8; 40];
        let off = buf.as_ptr().align_offset(8);
        for (i, w) in words.iter().enumerate() {
            buf[off + 8 * i..off + 8 * i + 8].copy_from_slice(&w.to_ne_bytes());
        }
        assert_eq!(cast::<u64>(&buf[off..off + 24]).unwrap(), &words);
        assert!(cast::<u64>(&buf[off + 1..off + 9]).is_none(), "misaligned");
        assert!(
            cast::<u64>(&buf[off..off + 12]).is_none(),
            "not a whole number"
        );
        assert_eq!(cast_mut::<u32>(&mut buf[off..off + 8]).unwrap().len(), 2);
    }

    #[test]
    fn zeroed_bools_are_false() {
        let mut b = vec![7u8; 5];
        assert_eq!(zeroed_bools(&mut b), &[false; 5]);
    }
}
