//! The block loop: runs a program's body over the blocks of a [`Plan`], with its registers as
//! 64-byte-aligned block buffers owned by the running thread.

use super::plan::Plan;
use super::RawArray;
use crate::bytecode::{
    Dest, Instr, Link, Op, Operand, Program, ScalarInit, MAX_LINKS, MAX_LINK_OPERANDS,
};
use crate::error::{Error, ErrorKind, Result};
use crate::kernels::chain::Chain;
use crate::kernels::math::small_int_exponent;
use crate::kernels::KernelFn;
use crate::types::{DType, Scalar};
use std::mem::MaybeUninit;

/// How kernels are found: [`crate::kernels::lookup`] by default; one level's table
/// ([`crate::kernels::lookup_for`]) or a test's own table otherwise.
pub use crate::kernels::Lookup;

/// Elements per block.
///
/// Measured with `tests/vm_block_size.rs` (release, one thread, 1M-element f64 operands, the
/// tests' simple auto-vectorised kernels; best of 30), ns per element for `2*a+48` / `a*b+c` /
/// `a[::2]*b+c`, on this 2-core machine while it was shared (load average ~5, so single runs
/// vary by up to 2x; these are typical of three sweeps):
/// B=256: 0.37-0.68 / 0.72-0.90 / 1.1-1.5; B=512: 0.43-0.71 / 0.81-1.4 / 1.6-2.3;
/// B=1024: 0.41-1.0 / 1.2-3.2 / 3.1-5.0; B=2048..8192: 1.0-1.6 / 1.8-2.5 / 2.7-5.0.
/// Blocks of 2048 and more are clearly slower (three f64 inputs + a register + the output
/// block no longer fit L1 together); 256 and 512 are the best and close. 512 is chosen over
/// 256 to halve the per-block overhead (kernel calls, pointer setup) for the real kernels and
/// longer programs, at 4 KiB per f64 register. Re-measure on a quiet machine with the real
/// kernels.
pub const BLOCK: usize = 512;

/// Elements per block of an elementwise evaluation whose operands outgrow the caches
/// ([`MEMORY_BYTES`]).
///
/// The block loop runs one instruction over a block before the next, so each input is read in
/// bursts of a block; the hardware prefetcher runs only so far ahead of each stream, and with
/// 4 KiB bursts it no longer keeps up: the inputs' misses then wait for memory at the start of
/// every burst. With 1 KiB bursts the prefetched lines are there. Measured (`ndexpr bench
/// 2*a+3*b-c`, 10^7 f64, into an existing output, one thread, medians while other builds ran):
/// blocks of 64 / 128 / 192 / 256 / 384 / 512 elements 19.1 / 16.7 / 18.9 / 24.6 / 27.5 / 33 ms
/// (a fused loop compiled for the expression: ~14 ms); two threads, `sqrt(a**2+b**2)` 16.0-17.3
/// against 25.5-26.1 ms, `2*a+48` 10.0-13.9 against 14.4-15.5. In cache the longer blocks still
/// win (less per-block overhead: `2*a+3*b-c` at 10^5, 3.2 MB, 0.072-0.078 against 0.082 ms).
pub const MEMORY_BLOCK: usize = 128;

/// Bytes of operands (inputs and output together) from which an elementwise evaluation that
/// does little work per byte (its [`instr_cost`]s add up to at most 3 per array operand) uses
/// [`MEMORY_BLOCK`]: this machine's L3 (32 MiB). Short blocks help only while the data comes
/// from memory; from L3 the prefetcher keeps up with the longer bursts, and the longer blocks
/// halve the per-block overhead. Evaluated again and again on the same arrays (the data stays
/// in L3), from Python, µs per call with 1 / 2 threads, blocks of 128 against 512: `a*b+c` at
/// 2.4e5 (7.7 MB) 162 / 86 against 110 / 64, `where(a>b,a,b)` 145 / 76 against 106 / 62; at
/// 10^6 (32 MB) `a*b+c` 1118 / 417 against 872 / 281. (With the caches flushed between calls,
/// as `ndexpr bench` does, the short blocks won from ~9.6 MB: `2*a+3*b-c` at 3x10^5 0.33
/// against 0.38-0.44 ms; from memory is what they are for.)
pub const MEMORY_BYTES: usize = 32 << 20;

/// The block length for `program` over `inputs` writing `out_bytes`: [`MEMORY_BLOCK`] when its
/// operands take more than [`MEMORY_BYTES`] and its instructions cost little per byte (short
/// blocks pay their per-instruction overhead four times as often: `a**3+4*a**2-2*a+1` ran 20 %
/// slower in them), else [`BLOCK`].
pub(super) fn auto_block(program: &Program, out_bytes: usize, inputs: &[RawArray]) -> usize {
    let bytes = out_bytes
        + inputs
            .iter()
            .map(|i| i.shape.iter().product::<usize>() * i.size)
            .sum::<usize>();
    let cost: usize = program.body.iter().map(instr_cost).sum();
    if bytes > MEMORY_BYTES && cost <= 3 * (1 + inputs.len()) {
        MEMORY_BLOCK
    } else {
        BLOCK
    }
}

/// 16-byte aligned storage for one scalar slot (the largest dtype, complex128, is 16 bytes).
#[derive(Clone, Copy, Default)]
#[repr(C, align(16))]
pub struct Slot(pub [u8; 16]);

/// 64-byte aligned chunk: block buffers are `Vec<Chunk>` so they start on a cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Chunk([u8; 64]);

/// A block buffer, left uninitialised: every register is written by its defining instruction
/// and every gather buffer by its gather before anything reads them, block by block, and only
/// through raw pointers. Zero-filling cost the naive evaluation a full extra pass over each
/// temporary, which NumPy's temporaries do not pay (so the baseline was unfairly slow).
fn aligned_buffer(bytes: usize) -> Vec<MaybeUninit<Chunk>> {
    let n = bytes.div_ceil(64).max(1);
    let mut v: Vec<MaybeUninit<Chunk>> = Vec::with_capacity(n);
    // Only full-size buffers (the naive evaluation's temporaries) are this large: give them
    // huge pages as NumPy gives its temporaries.
    super::memory::advise_huge_pages(v.as_mut_ptr() as *mut u8, n * 64);
    // SAFETY: the capacity is n, and MaybeUninit elements need no initialisation.
    unsafe { v.set_len(n) };
    v
}

fn internal(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Internal, msg)
}

/// The dtype instruction `instr` reads its operand `k` as.
fn operand_dtype(instr: &Instr, k: usize) -> DType {
    if instr.op == Op::Where && k == 0 {
        DType::Bool
    } else {
        instr.ty
    }
}

/// Checks that a program is well formed, so that running it cannot read or write out of bounds
/// (a compiler bug becomes an `Internal` error, not undefined behaviour).
pub fn validate(program: &Program) -> Result<()> {
    let slot_dtype = |s: u16| -> Result<DType> {
        program
            .scalars
            .get(s as usize)
            .map(|init| match init {
                ScalarInit::Var(v) => program
                    .scalar_vars
                    .get(*v as usize)
                    .map(|sv| sv.dtype)
                    .ok_or_else(|| internal(format!("scalar slot s{s} reads a missing variable"))),
                other => Ok(other.dtype(program)),
            })
            .ok_or_else(|| internal(format!("scalar slot s{s} out of range")))?
    };
    let check_instr = |instr: &Instr, body: bool| -> Result<()> {
        let arity = instr.op.arity();
        if instr.op == Op::Fused {
            let ok = body
                && instr.args.len() <= MAX_LINK_OPERANDS
                && instr.links.len() <= MAX_LINKS
                && instr.out == instr.ty
                && matches!(instr.ty, DType::F32 | DType::F64)
                && Link::is_valid_chain(&instr.links, instr.args.len());
            if !ok {
                return Err(internal("invalid fused instruction"));
            }
        } else if instr.args.len() < arity || arity > 3 || !instr.links.is_empty() {
            return Err(internal(format!(
                "instruction {} has {} operands, needs {arity}",
                instr.op.name(),
                instr.args.len()
            )));
        }
        for (k, a) in instr.operands().iter().enumerate() {
            let want = operand_dtype(instr, k);
            let ok = match *a {
                Operand::Reg(r) => {
                    body && program
                        .registers
                        .get(r as usize)
                        .is_some_and(|d| d.size() >= want.size())
                }
                Operand::Input(i) => {
                    body && program
                        .inputs
                        .get(i as usize)
                        .is_some_and(|inp| inp.dtype == want)
                }
                Operand::Scalar(s) => slot_dtype(s)?.size() >= want.size(),
            };
            if !ok {
                return Err(internal(format!(
                    "instruction {} has an invalid operand {a:?}",
                    instr.op.name()
                )));
            }
        }
        let ok = match instr.dst {
            Dest::Reg(r) => {
                body && program
                    .registers
                    .get(r as usize)
                    .is_some_and(|d| d.size() >= instr.out.size())
            }
            Dest::Scalar(s) => !body && (s as usize) < program.scalars.len(),
        };
        if !ok {
            return Err(internal(format!(
                "instruction {} has an invalid destination {:?}",
                instr.op.name(),
                instr.dst
            )));
        }
        Ok(())
    };
    for instr in &program.prologue {
        check_instr(instr, false)?;
    }
    for instr in &program.body {
        check_instr(instr, true)?;
    }
    for sub in &program.reductions {
        let ok = sub.program.reduce.is_some_and(|r| r.axis.is_none())
            && matches!(program.scalars.get(sub.slot as usize),
                Some(ScalarInit::Computed(d)) if *d == sub.program.result_dtype);
        if !ok {
            return Err(internal(format!(
                "reduction pass into s{} is invalid",
                sub.slot
            )));
        }
    }
    // A reduction program's result register holds the values it folds (of the reduction's
    // accumulation dtype), not the result.
    let values_dtype = program.reduce.map_or(program.result_dtype, |r| r.ty);
    match program.body.last() {
        Some(last) if last.dst == Dest::Reg(program.result) && last.out == values_dtype => Ok(()),
        _ => Err(internal(
            "the last body instruction must write the result register",
        )),
    }
}

fn find(lookup: Lookup, instr: &Instr, mask: u8) -> Result<KernelFn> {
    lookup(instr.op, instr.ty, instr.out, mask).ok_or_else(|| {
        internal(format!(
            "no kernel for {}.{}->{} (scalar mask {mask:#b})",
            instr.op.name(),
            instr.ty.short_name(),
            instr.out.short_name()
        ))
    })
}

/// A body instruction's kernel, and which of its operands are inputs broadcast along the inner
/// axis (stride 0) that it reads as scalars (no gather) for this evaluation.
#[derive(Clone, Copy)]
pub struct BodyKernel {
    pub kernel: KernelFn,
    /// Bit k: operand k is an input read as a scalar (its block's first element).
    pub bcast: u8,
}

/// Kernels of the body, looked up once per evaluation with each instruction's scalar mask.
/// Inputs with `scalar_inputs[i]` (constant along every block) are read through the scalar form
/// of the kernel when the table has it, else gathered like any strided input.
pub(crate) fn body_kernels(
    program: &Program,
    lookup: Lookup,
    scalar_inputs: &[bool],
) -> Result<Vec<BodyKernel>> {
    program
        .body
        .iter()
        .map(|instr| {
            let base = instr.scalar_mask();
            let extra = instr
                .operands()
                .iter()
                .enumerate()
                .fold(0u8, |m, (k, a)| match *a {
                    Operand::Input(i) if scalar_inputs.get(i as usize) == Some(&true) => m | 1 << k,
                    _ => m,
                });
            if extra != 0 {
                if let Some(kernel) = lookup(instr.op, instr.ty, instr.out, base | extra) {
                    return Ok(BodyKernel {
                        kernel,
                        bcast: extra,
                    });
                }
            }
            Ok(BodyKernel {
                kernel: find(lookup, instr, base)?,
                bcast: 0,
            })
        })
        .collect()
}

/// Whether blocks span several rows (short inner axis): every operand is then gathered and the
/// output scattered, so that a block still holds `block` elements.
pub fn is_flat(plan: &Plan, block: usize) -> bool {
    plan.rows() > 1 && plan.inner < block / 4
}

/// Whether any of `n` signed integers of dtype `ty` at `ptr` is negative.
///
/// # Safety
/// `ptr` must address `n` readable elements of `ty`.
pub(crate) unsafe fn any_negative(ty: DType, ptr: *const u8, n: usize) -> bool {
    unsafe fn neg<T: Copy + PartialOrd + Default>(ptr: *const u8, n: usize) -> bool {
        // SAFETY: per the caller's contract.
        let xs = unsafe { std::slice::from_raw_parts(ptr as *const T, n) };
        xs.iter().fold(false, |acc, &x| acc | (x < T::default()))
    }
    // SAFETY: forwarded contract.
    unsafe {
        match ty {
            DType::I8 => neg::<i8>(ptr, n),
            DType::I16 => neg::<i16>(ptr, n),
            DType::I32 => neg::<i32>(ptr, n),
            DType::I64 => neg::<i64>(ptr, n),
            _ => false,
        }
    }
}

/// The error NumPy raises for an integer to a negative integer power.
pub(crate) fn negative_power_error() -> crate::error::Error {
    crate::error::Error::new(
        crate::error::ErrorKind::Value,
        "Integers to negative integer powers are not allowed.",
    )
}

/// Runs the prologue once over the scalar slots (which hold constants and scalar variables
/// already). Each instruction runs with n = 1 through its all-vector kernel form (mask 0): a
/// one-element vector is the slot itself, and that form exists for every loop.
pub(crate) fn run_prologue(program: &Program, slots: &mut [Slot], lookup: Lookup) -> Result<()> {
    for instr in &program.prologue {
        let kernel = find(lookup, instr, 0)?;
        let mut args = [std::ptr::null::<u8>(); 3];
        for (k, a) in instr.args.iter().take(instr.op.arity()).enumerate() {
            let Operand::Scalar(s) = *a else {
                return Err(internal("a prologue instruction reads a block operand"));
            };
            args[k] = slots[s as usize].0.as_ptr();
        }
        // SAFETY: args[1] is a slot holding one element of `ty`.
        if instr.op == Op::Power && unsafe { any_negative(instr.ty, args[1], 1) } {
            return Err(negative_power_error());
        }
        let Dest::Scalar(d) = instr.dst else {
            return Err(internal("a prologue instruction writes a register"));
        };
        // Distinct slots cannot overlap; the same slot as an operand is the allowed in-place case.
        let dst = slots[d as usize].0.as_mut_ptr();
        // SAFETY: `validate` checked every slot index; each slot is 16 bytes, 16-byte aligned,
        // enough for one element of any dtype; n = 1.
        unsafe { kernel(1, dst, &args) };
    }
    Ok(())
}

/// Everything the block loop needs, shared read-only by the threads of one evaluation.
pub(crate) struct Job<'a> {
    pub(crate) program: &'a Program,
    pub(crate) kernels: &'a [BodyKernel],
    pub(crate) slots: &'a [Slot],
    pub(crate) plan: &'a Plan,
    /// Operand 0: the output (written); 1..: the program's array inputs, in program order.
    pub(crate) bases: Vec<*mut u8>,
    /// Element size of each operand.
    pub(crate) sizes: &'a [usize],
    pub(crate) block: usize,
    /// Write contiguous output blocks with non-temporal stores (large outputs only).
    pub(crate) stream: bool,
    /// Set when an integer `**` met a negative exponent, which NumPy refuses at run time; the
    /// kernel itself cannot fail, so the block loop checks and reports through this flag.
    pub(crate) negative_power: std::sync::atomic::AtomicBool,
    /// For reduction programs: where each block's values go instead of the output (operand 0
    /// then only orders the walk and locates output elements or flat indices).
    pub(crate) sink: Option<&'a dyn super::reduce::Reducer>,
    /// For reduction programs whose body only copies input `i`: its block is the values.
    pub(crate) direct: Option<usize>,
    /// For reduction programs whose body ends with a multiply: the sink folds the products of
    /// its two operands itself ([`Reducer::block_products`](super::reduce::Reducer)), and the
    /// body runs without that instruction.
    pub(crate) products: bool,
    /// For reductions over an outer axis: the order the blocks are run in (the work items are
    /// then the sweep's items, not single blocks).
    pub(crate) sweep: Option<Sweep>,
}

/// The order of a reduction over an outer axis of the plan (the "reduced" axis, of `count`
/// rows, with `before` rows of the plan's outer axes above it and `after` below): every output
/// element's values lie in the same column of consecutive rows, so a work item takes a span of
/// blocks of one group of rows (fixed outer indices other than the reduced one) and runs it
/// for every row of one chunk of the reduced axis in turn, adding each block into an
/// accumulator row. An item owns its accumulators, so items run on any thread in any order,
/// and each accumulator sees its rows in order: the result does not depend on the threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sweep {
    /// Blocks per row of the plan.
    pub(crate) bpr: usize,
    pub(crate) before: usize,
    pub(crate) count: usize,
    pub(crate) after: usize,
    /// Rows of the reduced axis per chunk, and the number of chunks.
    pub(crate) chunk: usize,
    pub(crate) chunks: usize,
    /// Blocks per item, and the number of items per row group and chunk.
    pub(crate) span: usize,
    pub(crate) spans: usize,
}

impl Sweep {
    /// Number of row groups (combinations of the outer indices other than the reduced one).
    pub(crate) fn groups(&self) -> usize {
        self.before * self.after
    }

    pub(crate) fn items(&self) -> usize {
        self.chunks * self.groups() * self.spans
    }

    /// The blocks (units) of item `item`, in the order they run: row by row of its chunk of
    /// the reduced axis, its span of blocks along each.
    pub(crate) fn units_of(&self, item: usize) -> impl Iterator<Item = usize> {
        let s = item % self.spans;
        let rest = item / self.spans;
        let g = rest % self.groups();
        let q = rest / self.groups();
        let (b, a) = (g / self.after, g % self.after);
        let (count, after, bpr) = (self.count, self.after, self.bpr);
        let blocks = s * self.span..((s + 1) * self.span).min(bpr);
        (q * self.chunk..((q + 1) * self.chunk).min(count)).flat_map(move |r| {
            let row = (b * count + r) * after + a;
            blocks.clone().map(move |blk| row * bpr + blk)
        })
    }

    /// Where unit `unit` is: its row group, its row along the reduced axis, its block in the row.
    pub(crate) fn locate(&self, unit: usize) -> (usize, usize, usize) {
        let (row, blk) = (unit / self.bpr, unit % self.bpr);
        let a = row % self.after;
        let t = row / self.after;
        let (b, r) = (t / self.count, t % self.count);
        (b * self.after + a, r, blk)
    }
}

// SAFETY: the raw pointers address the caller's arrays, which outlive the evaluation; threads
// write disjoint blocks of the output and only read the inputs and the slots.
unsafe impl Sync for Job<'_> {}
unsafe impl Send for Job<'_> {}

/// Copies `bytes` bytes from `src` to `dst` with non-temporal stores where `dst` is 16-byte
/// aligned, so a large output's lines are not first read into the cache (read-for-ownership)
/// and do not evict the inputs.
///
/// # Safety
/// `src` readable and `dst` writable for `bytes` bytes, not overlapping.
unsafe fn stream_store(dst: *mut u8, src: *const u8, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_stream_si128};
        let head = ((dst as usize).wrapping_neg() & 15).min(bytes);
        // SAFETY: the caller's ranges; head <= bytes.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, head) };
        let mut i = head;
        while i + 16 <= bytes {
            // SAFETY: i + 16 <= bytes; dst + i is 16-byte aligned (after the head); SSE2 is
            // part of x86-64.
            unsafe {
                let v = _mm_loadu_si128(src.add(i) as *const __m128i);
                _mm_stream_si128(dst.add(i) as *mut __m128i, v);
            }
            i += 16;
        }
        // SAFETY: the tail, i <= bytes.
        unsafe { std::ptr::copy_nonoverlapping(src.add(i), dst.add(i), bytes - i) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: the caller's ranges.
    unsafe {
        std::ptr::copy_nonoverlapping(src, dst, bytes)
    };
}

/// Output size from which contiguous output blocks are written with non-temporal stores:
/// 16 MiB, half this machine's 32 MiB L3, where the output cannot stay in cache anyway.
/// Measured, `ndexpr bench` at 10^7 f64 (80 MB output), machine loaded, medians of four runs:
/// into an existing buffer (`inplace`) `2*a+48` 12.7 ms streaming against 17.2 ms with plain
/// stores (copy: 11 ms), `a*b+c` 24.4 against 28.4 ms. A new output does not stream (see
/// `run_new`).
pub const STREAM_MIN: usize = 16 << 20;

/// Whether `program` writes a large output best with non-temporal stores: not when its body is
/// one fused chain (below), nor one costly instruction (a transcendental function; a power by
/// a constant integer of at most 15, which [`crate::kernels::math::powi`] multiplies out,
/// counts as cheap). Such a body runs over whole row spans straight into the output
/// ([`Job::single_pass`]), and streaming would send it through the block loop and the result
/// register, for stores that do not hold up a compute-bound loop. `ndexpr bench` at 10^7 into
/// `out=`, 2 threads, ms, plain / streaming stores: `arctan2(a,b)` 8.5 / 9.7-10.3, `tanh(a)`
/// 11.2 / 12.3-12.7, float32 `tanh(a)` 3.4-3.5 / 4.1-4.3. Longer bodies go through the block
/// loop either way, and streaming served them (`exp(-a)*log1p(b)` 23.5-23.9 / 19.0-22.5,
/// `sin(a)**2+cos(b)**2` 18.6-19.2 / 16.3-17.2, and `2*a+3*b-c` as three instructions, before
/// chains, 11.1-12.7 / 8.4-9.2), as it serves cheap one-instruction bodies (`2*a+48`).
fn streams_well(program: &Program) -> bool {
    let small_int_constant = |a: &Operand| match *a {
        Operand::Scalar(s) => match program.scalars.get(s as usize) {
            Some(ScalarInit::Const(c)) => match *c {
                Scalar::F64(v) => small_int_exponent(v).is_some(),
                Scalar::F32(v) => small_int_exponent(v as f64).is_some(),
                Scalar::C64(_) | Scalar::C128(_) => false,
                _ => true,
            },
            _ => false,
        },
        _ => false,
    };
    match program.body.as_slice() {
        // A fused chain over whole row spans with plain stores beat streaming it through the
        // result register (10^7 into `out=`, 2 threads, ms, plain / streaming):
        // `where(a>b,a,b)` 5.6 / 7.0 (float32 2.6 / 4.0), `2*a+3*b-c` 7.0 / 9.3 (3.4 / 4.7),
        // `sqrt(a**2+b**2)` 7.0 / 7.3 (2.7 / 4.0).
        [i] if i.op == Op::Fused => false,
        [i] => {
            (instr_cost(i) <= 4 || (i.op == Op::Power && small_int_constant(&i.args[1])))
                && !one_pass_beats_streaming()
        }
        _ => true,
    }
}

/// Whether plain stores over whole row spans ([`Job::single_pass`]) beat streaming for a cheap
/// one-instruction body: so on Intel's cores, not on AMD's. From Python, 10^7 into `out=`
/// (NumPy's `empty_like`), 2 threads, ms, plain / streaming: on a 2-core Intel Xeon (AVX-512,
/// 2 MiB L2) `2*a+48` 6.1-6.5 / 7.9-8.2 (float32 1.6 / 2.3), `a*b+c` 9.1-9.6 / 11.8-11.9
/// (3.5 / 4.6-5.0), `a - mean(a)` 8.4-8.5 / 8.7-9.9 (2.75 / 3.1); on a 2-core AMD EPYC (Zen
/// 4), `ndexpr bench` into an existing buffer, `2*a+48` 17.2 / 12.7 and `a*b+c` 28.4 / 24.4
/// (see [`STREAM_MIN`]). Longer bodies stream on both (Intel: `exp(-a)*log1p(b)` 22.5 / 19.0,
/// float32 `sin(a)**2+cos(b)**2` 7.5 / 6.5).
fn one_pass_beats_streaming() -> bool {
    static INTEL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INTEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            // The vendor string is in ebx, edx, ecx of leaf 0.
            let id = std::arch::x86_64::__cpuid(0);
            [id.ebx, id.edx, id.ecx] == [0x756e_6547, 0x4965_6e69, 0x6c65_746e]
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}

/// Whether `program`'s output of `bytes` bytes is streamed (`NDEXPR_STREAM=0|1` overrides, for
/// measurements).
pub(crate) fn stream_output(program: &Program, bytes: usize, opts: &super::RunOptions) -> bool {
    static FORCED: std::sync::OnceLock<Option<bool>> = std::sync::OnceLock::new();
    let forced = FORCED.get_or_init(|| match std::env::var("NDEXPR_STREAM").as_deref() {
        Ok("1") => Some(true),
        Ok("0") => Some(false),
        _ => None,
    });
    forced.unwrap_or_else(|| bytes >= opts.stream_min && streams_well(program))
}

/// Orders this thread's non-temporal stores before anything that follows (the join).
fn stream_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of x86-64; a fence has no other effect.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

/// Copies `n` elements of `size` bytes from a strided source into a contiguous buffer.
///
/// # Safety
/// `src + i*stride` must be readable for `size` bytes for every `i < n`, `dst` writable for
/// `n*size` bytes, and the two must not overlap.
unsafe fn gather(dst: *mut u8, src: *const u8, stride: isize, n: usize, size: usize) {
    unsafe fn g<T: Copy>(dst: *mut u8, src: *const u8, stride: isize, n: usize) {
        let d = dst as *mut T;
        if stride == 0 {
            // SAFETY: per the caller's contract.
            let v = unsafe { (src as *const T).read_unaligned() };
            for i in 0..n {
                unsafe { d.add(i).write_unaligned(v) };
            }
        } else {
            for i in 0..n {
                // SAFETY: per the caller's contract.
                unsafe {
                    d.add(i).write_unaligned(
                        (src.offset(i as isize * stride) as *const T).read_unaligned(),
                    )
                };
            }
        }
    }
    // SAFETY: forwarded contract; the element type only fixes the copy width.
    unsafe {
        match size {
            1 => g::<u8>(dst, src, stride, n),
            2 => g::<u16>(dst, src, stride, n),
            4 => g::<u32>(dst, src, stride, n),
            8 => g::<u64>(dst, src, stride, n),
            _ => g::<[u64; 2]>(dst, src, stride, n),
        }
    }
}

/// Copies `n` contiguous elements of `size` bytes to a strided destination.
///
/// # Safety
/// `dst + i*stride` must be writable for `size` bytes for every `i < n`, `src` readable for
/// `n*size` bytes, and the two must not overlap.
unsafe fn scatter(dst: *mut u8, stride: isize, src: *const u8, n: usize, size: usize) {
    unsafe fn s<T: Copy>(dst: *mut u8, stride: isize, src: *const u8, n: usize) {
        let from = src as *const T;
        for i in 0..n {
            // SAFETY: per the caller's contract.
            unsafe {
                (dst.offset(i as isize * stride) as *mut T)
                    .write_unaligned(from.add(i).read_unaligned())
            };
        }
    }
    // SAFETY: forwarded contract.
    unsafe {
        match size {
            1 => s::<u8>(dst, stride, src, n),
            2 => s::<u16>(dst, stride, src, n),
            4 => s::<u32>(dst, stride, src, n),
            8 => s::<u64>(dst, stride, src, n),
            _ => s::<[u64; 2]>(dst, stride, src, n),
        }
    }
}

/// Per-thread block buffers: registers and gather buffers, carved from one arena per run and
/// thread.
#[derive(Default)]
struct Buffers {
    arena: Vec<MaybeUninit<Chunk>>,
    reg_ptrs: Vec<*mut u8>,
    /// Null for inputs read in place.
    gather_ptrs: Vec<*mut u8>,
}

/// [`Buffers`] in use by a run, handed back to the thread when it ends.
struct Scratch {
    bufs: Buffers,
}

/// Arenas up to this size are kept by their thread for its next run: at 1,000 elements an
/// evaluation is a few microseconds, and allocating and freeing its block buffers (with the
/// pointer tables) each time was a tenth of it. 256 KiB holds 32 registers of 512 complex128.
const KEEP_ARENA: usize = 256 << 10;

thread_local! {
    /// The buffers of this thread's last run (taken while a run uses them, so a nested run on
    /// the same thread simply allocates its own).
    static KEPT: std::cell::Cell<Option<Buffers>> = const { std::cell::Cell::new(None) };
}

impl Scratch {
    /// Buffers of `regs` and `gathers` bytes each (`None`: no gather buffer), 64-byte aligned.
    fn new(
        regs: impl Iterator<Item = usize>,
        gathers: impl Iterator<Item = Option<usize>>,
    ) -> Scratch {
        let mut s = KEPT
            .try_with(|k| k.take())
            .ok()
            .flatten()
            .unwrap_or_default();
        // Offsets (in chunks) first, then pointers once the arena has its final size.
        s.reg_ptrs.clear();
        s.gather_ptrs.clear();
        let mut chunks = 0usize;
        for bytes in regs {
            s.reg_ptrs.push(chunks as *mut u8);
            chunks += bytes.div_ceil(64).max(1);
        }
        for bytes in gathers {
            s.gather_ptrs.push(match bytes {
                Some(bytes) => {
                    let at = chunks;
                    chunks += bytes.div_ceil(64).max(1);
                    // Offset + 1, so that a gather buffer at offset 0 is not taken for null.
                    (at + 1) as *mut u8
                }
                None => std::ptr::null_mut(),
            });
        }
        if s.arena.len() < chunks {
            s.arena = aligned_buffer(chunks * 64);
        }
        let base = s.arena.as_mut_ptr() as *mut u8;
        for p in &mut s.reg_ptrs {
            // SAFETY: every offset is below `chunks` <= the arena's length in chunks.
            *p = unsafe { base.add(*p as usize * 64) };
        }
        for p in &mut s.gather_ptrs {
            if !p.is_null() {
                // SAFETY: as above.
                *p = unsafe { base.add((*p as usize - 1) * 64) };
            }
        }
        Scratch { bufs: s }
    }
}

impl std::ops::Deref for Scratch {
    type Target = Buffers;
    fn deref(&self) -> &Buffers {
        &self.bufs
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.bufs.arena.len() * 64 <= KEEP_ARENA {
            let bufs = std::mem::take(&mut self.bufs);
            // The larger of this run's and a nested run's buffers is kept; `try_with`: during
            // thread exit the slot may be gone, and the buffers are simply freed.
            let _ = KEPT.try_with(|k| {
                let keep = match k.take() {
                    Some(other) if other.arena.len() > bufs.arena.len() => other,
                    _ => bufs,
                };
                k.set(Some(keep));
            });
        }
    }
}

/// The outer-axes index of a row and each operand's byte offset to it, advanced incrementally.
struct RowCursor {
    idx: Vec<usize>,
    offsets: Vec<isize>,
}

impl RowCursor {
    fn new(plan: &Plan, row: usize) -> RowCursor {
        let mut offsets = vec![0; plan.inner_strides.len()];
        plan.row_offsets(row, &mut offsets);
        let mut idx = vec![0; plan.outer.len()];
        let mut r = row;
        for axis in (0..plan.outer.len()).rev() {
            idx[axis] = r % plan.outer[axis];
            r /= plan.outer[axis];
        }
        RowCursor { idx, offsets }
    }

    /// Moves to the next row (wrapping to row 0 after the last, harmlessly).
    fn advance(&mut self, plan: &Plan) {
        for axis in (0..plan.outer.len()).rev() {
            self.idx[axis] += 1;
            for (op, o) in self.offsets.iter_mut().enumerate() {
                *o += plan.outer_strides[op][axis];
            }
            if self.idx[axis] < plan.outer[axis] {
                return;
            }
            for (op, o) in self.offsets.iter_mut().enumerate() {
                *o -= plan.outer_strides[op][axis] * plan.outer[axis] as isize;
            }
            self.idx[axis] = 0;
        }
    }
}

impl Job<'_> {
    /// Whether blocks span several rows (short inner axis): every operand is then gathered and
    /// the output scattered, so that a block still holds `block` elements.
    pub(crate) fn flat(&self) -> bool {
        is_flat(self.plan, self.block)
    }

    /// Whether input `i` needs a gather buffer: strided along the inner axis and not read as a
    /// scalar by every instruction that reads it.
    /// Per-element cost (in [`instr_cost`] units) of reaching strided operands: an operand
    /// whose consecutive elements lie a cache line or more apart costs a line per element
    /// (measured: `2*a+48` on `--shape 400x600 --step 20`, 10 ns/element against 0.5
    /// contiguous), a shorter stride a fraction of one.
    fn access_cost(&self) -> usize {
        self.plan
            .inner_strides
            .iter()
            .zip(self.sizes)
            .map(|(&stride, &size)| match stride.unsigned_abs() {
                0 => 0,
                s if s == size => 0,
                s if s >= 64 => 16,
                _ => 2,
            })
            .sum()
    }

    fn needs_gather(&self, i: usize, flat: bool) -> bool {
        let op = i + 1;
        let stride = self.plan.inner_strides[op];
        if flat {
            return true;
        }
        if stride == self.sizes[op] as isize {
            return false;
        }
        let vector_use = self
            .program
            .body
            .iter()
            .zip(self.kernels)
            .any(|(instr, k)| {
                instr
                    .operands()
                    .iter()
                    .enumerate()
                    .any(|(j, a)| *a == Operand::Input(i as u16) && k.bcast & (1 << j) == 0)
            });
        stride != 0 || vector_use
    }

    /// Number of work units (blocks, or a sweep's items).
    pub(crate) fn units(&self) -> usize {
        if let Some(sweep) = &self.sweep {
            sweep.items()
        } else if self.flat() {
            self.plan.len().div_ceil(self.block)
        } else {
            self.plan.units(self.block)
        }
    }

    fn scratch(&self, flat: bool) -> Scratch {
        // A block never holds more elements than the whole run (1,000 from Python, say).
        let b = self.block.min(self.plan.len()).max(1);
        Scratch::new(
            self.program.registers.iter().map(|d| b * d.size()),
            (1..self.bases.len())
                .map(|op| self.needs_gather(op - 1, flat).then(|| b * self.sizes[op])),
        )
    }

    /// Hands block `unit`'s values to the reduction: the input itself ([`Job::direct`]), the
    /// factors of the last multiply ([`Job::products`]), or the result register.
    ///
    /// # Safety
    /// As [`Job::run_body`]; `segments` as [`Reducer::block`](super::reduce::Reducer) wants
    /// them; this unit is this thread's.
    #[allow(clippy::too_many_arguments)]
    unsafe fn sink_block(
        &self,
        sink: &dyn super::reduce::Reducer,
        unit: usize,
        n: usize,
        inputs: &[*const u8],
        firsts: &[*const u8],
        scratch: &Scratch,
        segments: &[(*mut u8, usize)],
    ) {
        if let Some(i) = self.direct {
            // SAFETY: the input's block holds the n values.
            return unsafe { sink.block(unit, inputs[i], n, segments) };
        }
        let result = scratch.reg_ptrs[self.program.result as usize];
        // SAFETY: the caller's contract; with `products` the last instruction is not run.
        unsafe { self.run_body(n, inputs, firsts, result, scratch) };
        if self.products {
            let [x, y] = self.factors(inputs, firsts, scratch);
            // SAFETY: each factor addresses the n values (or the one value) the multiply
            // would have read.
            unsafe { sink.block_products(unit, x, y, n, segments) }
        } else {
            // SAFETY: the result register holds the block's n values.
            unsafe { sink.block(unit, result, n, segments) }
        }
    }

    /// The operand addresses of body instruction `instr` (registers, input blocks, scalar
    /// slots; a broadcast input's first element), as many as it has.
    fn operands<const N: usize>(
        &self,
        instr: &Instr,
        bk: &BodyKernel,
        inputs: &[*const u8],
        firsts: &[*const u8],
        scratch: &Scratch,
    ) -> [*const u8; N] {
        let mut args = [std::ptr::null::<u8>(); N];
        for (k, a) in instr.operands().iter().enumerate().take(N) {
            args[k] = match *a {
                Operand::Reg(r) => scratch.reg_ptrs[r as usize],
                Operand::Input(i) if bk.bcast & (1 << k) != 0 => firsts[i as usize],
                Operand::Input(i) => inputs[i as usize],
                Operand::Scalar(s) => self.slots[s as usize].0.as_ptr(),
            };
        }
        args
    }

    /// With [`Job::products`]: the two factors of the body's last instruction (a multiply),
    /// after [`Job::run_body`] ran the others, each with whether it is one value.
    fn factors(
        &self,
        inputs: &[*const u8],
        firsts: &[*const u8],
        scratch: &Scratch,
    ) -> [(*const u8, bool); 2] {
        let (instr, bk) = (
            self.program.body.last().expect("a body is not empty"),
            self.kernels.last().expect("one kernel per instruction"),
        );
        let args: [*const u8; 3] = self.operands(instr, bk, inputs, firsts, scratch);
        let one =
            |k: usize| matches!(instr.args[k], Operand::Scalar(_)) || bk.bcast & (1 << k) != 0;
        [(args[0], one(0)), (args[1], one(1))]
    }

    /// Runs the body over one block of `n` elements. `inputs[i]` points to n contiguous elements
    /// of input i (unless only read as a scalar), `firsts[i]` to its first element in the block;
    /// `out` is where the last instruction writes (the output block or the result register).
    ///
    /// # Safety
    /// `inputs` and `out` must be valid for n elements of their dtypes, `n <= block` (any n for
    /// a one-instruction body that writes `out`: see [`Job::single_pass`]); `out` is either
    /// disjoint from every input block or equal to it (exact alias).
    unsafe fn run_body(
        &self,
        n: usize,
        inputs: &[*const u8],
        firsts: &[*const u8],
        out: *mut u8,
        scratch: &Scratch,
    ) {
        let last = self.program.body.len() - 1;
        let count = if self.products { last } else { last + 1 };
        for (j, (instr, bk)) in self
            .program
            .body
            .iter()
            .zip(self.kernels)
            .enumerate()
            .take(count)
        {
            let dst = if j == last {
                out
            } else {
                match instr.dst {
                    Dest::Reg(r) => scratch.reg_ptrs[r as usize],
                    Dest::Scalar(_) => unreachable!("validated: body writes registers"),
                }
            };
            if instr.op == Op::Fused {
                let chain = Chain {
                    links: &instr.links,
                    operands: self.operands(instr, bk, inputs, firsts, scratch),
                    scalars: instr.scalar_mask() | bk.bcast,
                };
                let args = [&chain as *const Chain<'_> as *const u8; 3];
                // SAFETY: the chain kernel reads its links and operands from `chain` (valid
                // links, checked by `validate`); the operands and `dst` are as for any kernel
                // (see below).
                unsafe { (bk.kernel)(n, dst, &args) };
                continue;
            }
            let args = self.operands(instr, bk, inputs, firsts, scratch);
            if instr.op == Op::Power && instr.ty.kind() == crate::types::Kind::Signed {
                let count = if instr.scalar_mask() & 2 != 0 || bk.bcast & 2 != 0 {
                    1
                } else {
                    n
                };
                // SAFETY: args[1] addresses `count` exponents of dtype `ty` (as for the kernel).
                if unsafe { any_negative(instr.ty, args[1], count) } {
                    self.negative_power
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            // SAFETY: every pointer addresses n elements of the dtype the kernel was looked up
            // for (validated program; register buffers hold `block` elements of their widest
            // dtype; inputs per this function's contract; slots hold one element, read as
            // scalars per the mask); buffers are 64-byte aligned, array blocks aligned for
            // their element type.
            unsafe { (bk.kernel)(n, dst, &args) };
        }
    }

    /// Runs blocks `units` on the calling thread.
    pub(crate) fn run_units(&self, units: std::ops::Range<usize>) {
        let mut once = Some(units);
        self.run_claimed(&mut || once.take());
    }

    /// Runs the ranges of blocks `claim` hands out until it returns `None`, on the calling
    /// thread, with block buffers allocated once for all of them.
    pub(crate) fn run_claimed(&self, claim: &mut dyn FnMut() -> Option<std::ops::Range<usize>>) {
        // A worker that wakes after the others finished allocates nothing.
        let Some(first) = claim() else { return };
        let flat = self.flat();
        let scratch = self.scratch(flat);
        let single = !flat && self.single_pass(&scratch);
        let mut next = Some(first);
        while let Some(units) = next.take().or_else(&mut *claim) {
            if units.is_empty() {
                continue;
            }
            if let Some(sweep) = &self.sweep {
                for item in units {
                    self.run_rows(sweep.units_of(item), &scratch);
                }
            } else if single {
                self.run_spans(units, &scratch);
            } else if flat {
                self.run_flat(units, &scratch);
            } else {
                self.run_rows(units, &scratch);
            }
        }
        if self.stream {
            stream_fence();
        }
    }

    /// Whether the body can run over whole row spans instead of block by block: one
    /// instruction (so no register holds a temporary: blocks exist to keep temporaries in
    /// cache), writing straight into a contiguous output (no streaming stores, no reduction),
    /// every array input read in place (contiguous or broadcast along the rows, no gather).
    /// `a*b+c` (one `multiply_add`), `2*a+48`, `tanh(a)` then pay the block loop's per-block
    /// work (~40 ns: addresses, operands, the kernel's prologue) once per span. From Python,
    /// 2.4e5 elements in L3, µs per call with 1 / 2 threads: `a*b+c` 110 / 64 -> 89 / 54,
    /// `2*a+48` 54 / 35 -> 48 / 30.
    fn single_pass(&self, scratch: &Scratch) -> bool {
        self.program.body.len() == 1
            && self.sink.is_none()
            && !self.products
            && !self.stream
            && self.sweep.is_none()
            && self.plan.inner_strides[0] == self.sizes[0] as isize
            && scratch.gather_ptrs.iter().all(|g| g.is_null())
    }

    /// [`Job::single_pass`] bodies over the blocks `units`: each run of blocks inside one row
    /// is one kernel call.
    fn run_spans(&self, units: std::ops::Range<usize>, scratch: &Scratch) {
        let plan = self.plan;
        let b = self.block;
        let nops = self.bases.len();
        let bpr = plan.blocks_per_row(b);
        let mut offsets = vec![0isize; nops];
        let mut inputs: Vec<*const u8> = vec![std::ptr::null(); nops - 1];
        let mut unit = units.start;
        while unit < units.end {
            let row = unit / bpr;
            let end_unit = units.end.min((row + 1) * bpr);
            plan.row_offsets(row, &mut offsets);
            let start = (unit - row * bpr) * b;
            let n = ((end_unit - row * bpr) * b).min(plan.inner) - start;
            // SAFETY: as in `run_rows`: elements start..start+n of the row lie inside every
            // operand (the plan was built from their shapes and strides).
            let base = |op: usize| {
                self.bases[op]
                    .wrapping_offset(offsets[op] + start as isize * plan.inner_strides[op])
            };
            for (i, input) in inputs.iter_mut().enumerate() {
                *input = base(i + 1);
            }
            // SAFETY: the one instruction writes the n contiguous output elements of the span
            // and reads n contiguous elements of each input (or the first, if broadcast), read
            // in place; it touches no register, so n may exceed the block length.
            unsafe { self.run_body(n, &inputs, &inputs, base(0), scratch) };
            unit = end_unit;
        }
    }

    /// Blocks along the plan's rows (each block inside one row).
    fn run_rows(&self, units: impl Iterator<Item = usize>, scratch: &Scratch) {
        let plan = self.plan;
        let b = self.block;
        let nops = self.bases.len();
        let out_size = self.sizes[0];
        let out_contiguous = plan.inner_strides[0] == out_size as isize;
        let result_ptr = scratch.reg_ptrs[self.program.result as usize];

        let bpr = plan.blocks_per_row(b);
        let mut offsets = vec![0isize; nops];
        let mut current_row = usize::MAX;
        let mut inputs: Vec<*const u8> = vec![std::ptr::null(); nops - 1];
        let mut firsts: Vec<*const u8> = vec![std::ptr::null(); nops - 1];
        for unit in units {
            let (row, blk) = (unit / bpr, unit % bpr);
            if row != current_row {
                plan.row_offsets(row, &mut offsets);
                current_row = row;
            }
            let start = blk * b;
            let n = b.min(plan.inner - start);
            // SAFETY: `offsets` plus `start * inner_stride` addresses element (row, start) of
            // each operand, inside its allocation because the plan was built from its shape
            // and strides; the n elements of the block stay inside it for the same reason.
            // (Wrapping: a reduction's operand 0 may be a pseudo-array at address 0.)
            let base = |op: usize| {
                self.bases[op]
                    .wrapping_offset(offsets[op] + start as isize * plan.inner_strides[op])
            };
            for (i, input) in inputs.iter_mut().enumerate() {
                let op = i + 1;
                let p = base(op);
                firsts[i] = p;
                let g = scratch.gather_ptrs[i];
                if g.is_null() {
                    *input = p;
                } else {
                    // SAFETY: the source block is inside the input (see above); the gather
                    // buffer holds `b >= n` elements and is private to this thread.
                    unsafe { gather(g, p, plan.inner_strides[op], n, self.sizes[op]) };
                    *input = g;
                }
            }
            if let Some(sink) = self.sink {
                // SAFETY: as below, into the result register.
                unsafe {
                    self.sink_block(sink, unit, n, &inputs, &firsts, scratch, &[(base(0), n)])
                };
                continue;
            }
            let out_block = base(0);
            // The result goes straight into a contiguous output block. An input read in place
            // is either disjoint from the output or exactly the same elements (partial overlap
            // was ruled out before running), which kernels allow.
            let dst = if out_contiguous && !self.stream {
                out_block
            } else {
                result_ptr
            };
            // SAFETY: see above; n <= b.
            unsafe { self.run_body(n, &inputs, &firsts, dst, scratch) };
            if out_contiguous && self.stream {
                // SAFETY: the register holds n results; the output block holds n elements and
                // is disjoint from the register.
                unsafe { stream_store(out_block, result_ptr, n * out_size) };
            } else if !out_contiguous {
                // SAFETY: the result register holds n elements of the output dtype; the output
                // block is inside the output and disjoint from the register.
                unsafe { scatter(out_block, plan.inner_strides[0], result_ptr, n, out_size) };
            }
        }
    }

    /// Blocks over the flattened iteration space (for short inner axes): each block gathers its
    /// elements row segment by row segment, and scatters the result the same way.
    fn run_flat(&self, units: std::ops::Range<usize>, scratch: &Scratch) {
        let plan = self.plan;
        let b = self.block;
        let nops = self.bases.len();
        let total = plan.len();
        let inner = plan.inner;
        let out_size = self.sizes[0];
        let result_ptr = scratch.reg_ptrs[self.program.result as usize];
        let inputs: Vec<*const u8> = scratch
            .gather_ptrs
            .iter()
            .map(|&p| p as *const u8)
            .collect();
        let mut out_segs: Vec<(*mut u8, usize)> = Vec::new();

        let first = units.start * b;
        let mut cursor = RowCursor::new(plan, first / inner);
        let mut col = first % inner;
        for unit in units {
            let start = unit * b;
            let n = b.min(total - start);
            out_segs.clear();
            let mut done = 0;
            while done < n {
                let m = (inner - col).min(n - done);
                // SAFETY: (cursor row, col..col+m) is inside the iteration space, so each
                // operand's segment lies inside its allocation; gather buffers hold b >= done+m
                // elements.
                let seg = |op: usize| {
                    self.bases[op]
                        .wrapping_offset(cursor.offsets[op] + col as isize * plan.inner_strides[op])
                };
                for op in 1..nops {
                    let size = self.sizes[op];
                    // SAFETY: see above.
                    unsafe {
                        gather(
                            scratch.gather_ptrs[op - 1].add(done * size),
                            seg(op),
                            plan.inner_strides[op],
                            m,
                            size,
                        )
                    };
                }
                out_segs.push((seg(0), m));
                done += m;
                col += m;
                if col == inner {
                    col = 0;
                    cursor.advance(plan);
                }
            }
            if let Some(sink) = self.sink {
                // SAFETY: as below.
                unsafe { self.sink_block(sink, unit, n, &inputs, &inputs, scratch, &out_segs) };
                continue;
            }
            // SAFETY: every input is a gather buffer of n elements; the result register holds
            // b >= n elements and is disjoint from them.
            unsafe { self.run_body(n, &inputs, &inputs, result_ptr, scratch) };
            let mut k = 0;
            for &(p, m) in &out_segs {
                // SAFETY: each segment is inside the output (see above); the register holds the
                // n = sum of m results.
                unsafe {
                    scatter(
                        p,
                        plan.inner_strides[0],
                        result_ptr.add(k * out_size),
                        m,
                        out_size,
                    )
                };
                k += m;
            }
        }
    }
}

/// Relative cost per element of an instruction, in units of one cheap arithmetic pass over a
/// block in L1 (about 0.25 ns per element here). Measured with `ndexpr bench EXPR --size 65536
/// --threads 1` (std libm at the time): `2*a+48` 0.5 ns/element for two instructions, `sin(a)`
/// 9 ns, so a transcendental function is ~36 cheap ones; divisions and `sqrt` ~4.
pub fn instr_cost(instr: &Instr) -> usize {
    if instr.op != Op::Fused {
        return op_cost(instr.op);
    }
    instr
        .links
        .iter()
        .map(|link| match *link {
            Link::Load(_) | Link::Select { .. } | Link::Product { .. } | Link::Keep => 1,
            Link::Unary(op) | Link::Binary { op, .. } | Link::Merge { op, .. } => op_cost(op),
        })
        .sum()
}

/// [`instr_cost`] of one operation.
fn op_cost(op: Op) -> usize {
    use Op::*;
    match op {
        Exp | Exp2 | Expm1 | Log | Log2 | Log10 | Log1p | Sin | Cos | Tan | Arcsin | Arccos
        | Arctan | Sinh | Cosh | Tanh | Arcsinh | Arccosh | Arctanh | Arctan2 | Hypot | Power
        | Cbrt | Fmod | Nextafter => 32,
        TrueDivide | FloorDivide | Remainder | Sqrt => 4,
        _ => 1,
    }
}

/// Work (elements × [`instr_cost`]) from which an evaluation uses the pool's workers while
/// they are awake (spinning after a recent job, see [`super::threads`]): a job reaches them in
/// well under a microsecond, but each thread's share must still be several microseconds of
/// work. `2*a+48` into `out=` from Python, µs per call with 1 / 2 threads, workers awake
/// (idle machine, medians): 16K elements 5.0 / 6.0, 24K 7.8 / 7.5, 48K 14.6 / 8.6, 120K
/// 34.5 / 19.7 (`2*a+48` was two instructions then; fused into one `multiply_add`, 2^16 units
/// is `2*a+48` from 64K elements).
pub const PARALLEL_WORK: usize = 1 << 16;

/// Work from which an evaluation wakes sleeping workers. Waking one takes 20-100 µs on these
/// (virtual) machines (measured with rayon's pool: median 23 µs right after the previous call,
/// 62 µs after 1 ms idle, 106 µs after 10 ms); the caller does not wait for it (it starts on
/// the blocks at once and a late worker finds less left), it pays only the wake-up call: with
/// workers that never spin (`NDEXPR_SPIN_US=0`) `2*a+48` took 16 / 19 µs at 40K elements
/// (1 / 2 threads), 26 / 20 at 60K, 48 / 28 at 120K. Below this much work the evaluation stays
/// on the calling thread and lets the workers sleep.
pub const WAKE_WORK: usize = 1 << 17;

/// Claims each thread's share is cut into: a thread takes its own share front to back (the
/// same thread gets the same part of the arrays call after call, which stays in its L2), and a
/// thread that runs out takes claims from the back of another's share (a late or slow worker).
const CLAIMS_PER_THREAD: usize = 8;

/// Runs `job` (on up to `threads` threads when its work reaches `min_work`, and
/// [`WAKE_WORK`] if the workers sleep); an integer raised to a negative power found while
/// running is NumPy's error, reported once every block ran. Every block is computed the same
/// way whichever thread takes it, so results do not depend on the thread count.
pub(crate) fn run_job(job: Job<'_>, threads: usize, min_work: usize) -> Result<()> {
    spread(&job, threads, min_work);
    if job.negative_power.into_inner() {
        return Err(negative_power_error());
    }
    Ok(())
}

fn spread(job: &Job<'_>, threads: usize, min_work: usize) {
    let units = job.units();
    if units == 0 {
        return;
    }
    let per_elem: usize = job
        .program
        .body
        .iter()
        .map(instr_cost)
        .sum::<usize>()
        .max(1)
        + job.access_cost();
    let work = job.plan.len().saturating_mul(per_elem);
    let threads = threads.min(units);
    if threads <= 1 || work < min_work {
        return job.run_units(0..units);
    }
    let Some(pool) = super::threads::pool(threads) else {
        return job.run_units(0..units);
    };
    if work < WAKE_WORK.max(min_work) && !pool.is_awake() {
        return job.run_units(0..units);
    }
    let shares = Shares::new(units, threads);
    pool.run(&|me| job.run_claimed(&mut || shares.claim(me)));
}

/// The blocks of a job cut into claims, each thread's share a run of claims: its owner takes
/// them from the front, the others steal from the back once their own share is done.
struct Shares {
    units: usize,
    claims: usize,
    /// Per thread: the next claim to take from the front (high 32 bits), one past the last
    /// (low 32 bits).
    ranges: Vec<std::sync::atomic::AtomicU64>,
}

impl Shares {
    fn new(units: usize, threads: usize) -> Shares {
        let claims = units.min(threads * CLAIMS_PER_THREAD);
        let ranges = (0..threads)
            .map(|t| {
                let (lo, hi) = (t * claims / threads, (t + 1) * claims / threads);
                std::sync::atomic::AtomicU64::new(((lo as u64) << 32) | hi as u64)
            })
            .collect();
        Shares {
            units,
            claims,
            ranges,
        }
    }

    /// The blocks of claim `k`.
    fn blocks(&self, k: usize) -> std::ops::Range<usize> {
        let at = |k: usize| (k as u128 * self.units as u128 / self.claims as u128) as usize;
        at(k)..at(k + 1)
    }

    /// The next claim for thread `me`: its own front, else another's back; `None` when all
    /// are taken.
    fn claim(&self, me: usize) -> Option<std::ops::Range<usize>> {
        use std::sync::atomic::Ordering::Relaxed;
        let take = |t: usize, front: bool| loop {
            let r = self.ranges[t].load(Relaxed);
            let (lo, hi) = (r >> 32, r & 0xffff_ffff);
            if lo >= hi {
                return None;
            }
            let (next, k) = if front {
                (((lo + 1) << 32) | hi, lo)
            } else {
                ((lo << 32) | (hi - 1), hi - 1)
            };
            if self.ranges[t]
                .compare_exchange_weak(r, next, Relaxed, Relaxed)
                .is_ok()
            {
                return Some(k as usize);
            }
        };
        let n = self.ranges.len();
        take(me, true)
            .or_else(|| (1..n).find_map(|d| take((me + d) % n, false)))
            .map(|k| self.blocks(k))
    }
}

#[cfg(test)]
mod tests {
    use super::Shares;

    #[test]
    fn one_costly_instruction_does_not_stream() {
        use crate::{DType, Expr, Signature};
        let sig = Signature::new()
            .array("a", DType::F64)
            .array("b", DType::F64)
            .array("c", DType::F64);
        let streams = |src: &str| super::streams_well(Expr::compile(src, &sig).unwrap().program());
        // One cheap instruction: as the vendor's cores prefer.
        for cheap in ["2*a+48", "a*b+c", "sqrt(a)", "a**3", "a**-2.0"] {
            assert_eq!(
                streams(cheap),
                !super::one_pass_beats_streaming(),
                "{cheap}"
            );
        }
        for longer in ["sin(a)**2+cos(b)**2", "exp(-a)*log1p(b)"] {
            assert!(streams(longer), "{longer}");
        }
        for dear in [
            "tanh(a)",
            "arctan2(a,b)",
            "exp(a)",
            "a**2.5",
            "a**b",
            "a**16",
            // One fused chain.
            "2*a+3*b-c",
            "a**3+4*a**2-2*a+1",
            "where(a>b,a,b)",
            "sqrt(a**2+b**2)",
        ] {
            assert!(!streams(dear), "{dear}");
        }
    }

    #[test]
    fn shares_hand_out_every_block_once() {
        for units in [1, 2, 7, 15, 16, 17, 100, 1001] {
            for threads in [1, 2, 3, 8] {
                // Owners take their fronts in order; `order` mixes which thread asks next,
                // including threads that only ever steal.
                for order in [0usize, 1, 7] {
                    let shares = Shares::new(units, threads);
                    let mut seen = vec![0u8; units];
                    let mut last_own = vec![None::<usize>; threads];
                    let mut k = 0usize;
                    let mut idle = 0;
                    while idle < threads {
                        let me = (k * order + k / 3) % threads;
                        k += 1;
                        match shares.claim(me) {
                            Some(r) => {
                                idle = 0;
                                assert!(!r.is_empty() && r.end <= units);
                                let own = threads == 1 || {
                                    let c = (r.start * shares.claims).div_ceil(units);
                                    (me * shares.claims / threads
                                        ..(me + 1) * shares.claims / threads)
                                        .contains(&c)
                                };
                                if own {
                                    assert!(last_own[me].is_none_or(|e| e <= r.start));
                                    last_own[me] = Some(r.end);
                                }
                                for u in r {
                                    seen[u] += 1;
                                }
                            }
                            None => idle += 1,
                        }
                    }
                    assert!(seen.iter().all(|&s| s == 1), "{units} {threads} {order}");
                }
            }
        }
    }
}
