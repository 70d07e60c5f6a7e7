//! ndexpr's own thread pool: built lazily, rebuilt when the thread count changes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// 0 until first read: then the default (cores, or `NDEXPR_NUM_THREADS`).
static NUM_THREADS: AtomicUsize = AtomicUsize::new(0);
static POOL: Mutex<Option<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(None);

fn default_threads() -> usize {
    if let Some(n) = std::env::var("NDEXPR_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return n;
    }
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The number of threads an evaluation may use (default: the number of cores; the environment
/// variable `NDEXPR_NUM_THREADS` overrides it).
pub fn num_threads() -> usize {
    match NUM_THREADS.load(Ordering::Relaxed) {
        0 => {
            let n = default_threads();
            // Another thread may have set it meanwhile: keep theirs.
            match NUM_THREADS.compare_exchange(0, n, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => n,
                Err(current) => current,
            }
        }
        n => n,
    }
}

/// Sets the number of threads evaluations may use (at least 1; 0 restores the default) and
/// returns the previous value.
pub fn set_num_threads(n: usize) -> usize {
    let new = if n == 0 { default_threads() } else { n };
    let previous = num_threads();
    NUM_THREADS.store(new, Ordering::Relaxed);
    previous
}

/// The pool with `threads` workers (built on first use, rebuilt when the count changes), or
/// `None` if rayon cannot start threads (the caller then runs on its own thread).
pub(crate) fn pool(threads: usize) -> Option<Arc<rayon::ThreadPool>> {
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((n, pool)) = guard.as_ref() {
        if *n == threads {
            return Some(pool.clone());
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("ndexpr-{i}"))
        .build()
        .ok()?;
    let pool = Arc::new(pool);
    *guard = Some((threads, pool.clone()));
    Some(pool)
}
