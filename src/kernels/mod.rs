//! Elementwise kernels: one function per (operation, dtype, operand form), looked up once per
//! instruction when a program is prepared, then called once per block.

use crate::bytecode::Op;
use crate::types::DType;

/// Computes `n` elements of an instruction.
///
/// `dst` points to `n` elements of the instruction's output dtype. `args[k]` points to `n`
/// elements of operand `k`'s dtype, or to a single element when bit `k` of the scalar mask the
/// kernel was looked up with is set (that operand is broadcast). `dst` may be equal to any
/// `args[k]` (in-place update) but must not otherwise overlap them. Unused `args` are ignored.
///
/// # Safety
/// The pointers must be valid for those reads and writes and aligned for their dtypes.
pub type KernelFn = unsafe fn(n: usize, dst: *mut u8, args: &[*const u8; 3]);

/// The kernel for `op` with operand dtype `ty` and output dtype `out` (see
/// [`crate::bytecode::Instr`]), or `None` when ndexpr has no such loop.
pub fn lookup(op: Op, ty: DType, out: DType, scalar_mask: u8) -> Option<KernelFn> {
    let _ = (op, ty, out, scalar_mask);
    unimplemented!("kernels::lookup")
}

/// Runs the kernel of `op` on one element (constant folding uses this, so folded constants
/// have the bits the VM would compute). `None` when there is no such kernel.
pub fn eval_scalar(
    op: Op,
    ty: DType,
    out: DType,
    args: &[crate::types::Scalar],
) -> Option<crate::types::Scalar> {
    let _ = (op, ty, out, args);
    unimplemented!("kernels::eval_scalar")
}
