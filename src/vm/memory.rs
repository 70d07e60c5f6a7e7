//! Fresh output memory.
//!
//! A new output of tens of megabytes comes straight from the kernel (glibc maps allocations
//! above 32 MiB afresh every time), and its first write faults in every 4 KiB page: for
//! `2*a+48` over 10^7 f64 that was ~22 ms of a 31 ms evaluation, against 9.4 ms for copying the
//! same bytes into an existing buffer. Asking for transparent huge pages (as NumPy does for
//! arrays of 4 MiB and more) makes it one fault per 2 MiB.

/// Allocations from this size on are advised to use huge pages (NumPy's threshold).
pub const HUGE_PAGE_MIN: usize = 4 << 20;

/// Hints that the `bytes` bytes at `ptr`, not yet touched, should be backed by huge pages.
/// Only whole 4 KiB pages inside the range are advised; failure (no THP support) is harmless.
#[cfg(target_os = "linux")]
pub fn advise_huge_pages(ptr: *mut u8, bytes: usize) {
    const PAGE: usize = 4096;
    if bytes < HUGE_PAGE_MIN {
        return;
    }
    let start = (ptr as usize).next_multiple_of(PAGE);
    let end = (ptr as usize + bytes) / PAGE * PAGE;
    if end <= start {
        return;
    }
    // SAFETY: madvise only changes how the kernel backs pages of this process's own allocation
    // (whole pages inside it); MADV_HUGEPAGE never changes their contents.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
pub fn advise_huge_pages(_ptr: *mut u8, _bytes: usize) {}
