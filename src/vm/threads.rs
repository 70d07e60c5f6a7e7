//! ndexpr's own thread pool: workers that spin for a while after each job before they sleep.
//!
//! Why not rayon's pool: a rayon worker goes to sleep a few microseconds after its last task,
//! and waking a sleeping thread costs 20-100 µs on these (virtual) machines, more than the whole
//! evaluation of 10⁵ elements. OpenMP runtimes (numexpr's, numba's) keep their workers spinning
//! between parallel regions for the same reason. Here a worker spins (with `yield_now`, so a
//! runnable thread of another program gets the core) for [`spin_time`] after its last job, then
//! sleeps on a condition variable. A caller never waits for a sleeping worker: it publishes the
//! job, wakes the sleepers, and works at once; a worker that arrives late finds less (or
//! nothing) left to take, and the caller waits only for workers that joined.
//!
//! One job runs at a time: a second thread that evaluates meanwhile runs its job alone (both
//! cores are busy anyway), so evaluations from many threads at once stay safe.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// 0 until first read: then the default (cores, or `NDEXPR_NUM_THREADS`).
static NUM_THREADS: AtomicUsize = AtomicUsize::new(0);
static POOL: Mutex<Option<Arc<Pool>>> = Mutex::new(None);

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

/// How long an idle worker keeps spinning before it sleeps: `NDEXPR_SPIN_US` microseconds
/// (0: sleep at once, for machines where an idle core should stay idle), default 1 ms — a
/// loop of evaluations finds its workers awake, while a program that evaluates once in a while
/// pays at most a millisecond of one core per evaluation.
pub fn spin_time() -> Duration {
    static SPIN_US: AtomicU64 = AtomicU64::new(u64::MAX);
    let mut us = SPIN_US.load(Ordering::Relaxed);
    if us == u64::MAX {
        us = std::env::var("NDEXPR_SPIN_US")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(1000)
            .min(u64::MAX - 1);
        SPIN_US.store(us, Ordering::Relaxed);
    }
    Duration::from_micros(us)
}

/// The pool with `threads - 1` workers beside the caller (built on first use, rebuilt when the
/// count changes), or `None` if a thread cannot be started (the caller then works alone).
pub(crate) fn pool(threads: usize) -> Option<Arc<Pool>> {
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(pool) = guard.as_ref() {
        if pool.threads == threads {
            return Some(pool.clone());
        }
    }
    // The old pool's workers stop when its last user drops it.
    *guard = None;
    let pool = Arc::new(Pool::new(threads, spin_time())?);
    *guard = Some(pool.clone());
    Some(pool)
}

/// `state` packs the number of workers inside the current job (low 32 bits), whether the job
/// still admits workers (bit 32) and the job's number (the bits above).
const COUNT: u64 = (1 << 32) - 1;
const OPEN: u64 = 1 << 32;
const EPOCH: u64 = 1 << 33;

fn epoch(state: u64) -> u64 {
    state >> 33
}

pub(crate) struct Pool {
    threads: usize,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Held by the thread whose job the pool runs.
    busy: AtomicBool,
}

struct Shared {
    state: AtomicU64,
    /// The current job's task, on its caller's stack: valid while a worker is counted in
    /// `state`, because the caller waits for that count to fall to 0 before it returns.
    task: AtomicPtr<Task<'static>>,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    shutdown: AtomicBool,
    spin: Duration,
}

struct Task<'a> {
    body: &'a (dyn Fn(usize) + Sync),
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Pool {
    fn new(threads: usize, spin: Duration) -> Option<Pool> {
        let shared = Arc::new(Shared {
            state: AtomicU64::new(0),
            task: AtomicPtr::new(std::ptr::null_mut()),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
            spin,
        });
        let mut pool = Pool {
            threads,
            shared,
            workers: Vec::with_capacity(threads.saturating_sub(1)),
            busy: AtomicBool::new(false),
        };
        for me in 1..threads {
            let shared = pool.shared.clone();
            let handle = std::thread::Builder::new()
                .name(format!("ndexpr-{me}"))
                .spawn(move || shared.work(me))
                .ok()?;
            pool.workers.push(handle);
        }
        Some(pool)
    }

    /// Whether every worker is awake (spinning or working): a job published now starts on all
    /// threads within a microsecond.
    pub(crate) fn is_awake(&self) -> bool {
        self.shared.sleepers.load(Ordering::Relaxed) == 0
    }

    /// Runs `body(0)` on the calling thread and `body(i)` on each worker `i` (1..threads) that
    /// joins before `body(0)` returns; returns once every joined worker is done. `body` must be
    /// correct whichever workers join (the caller alone included): it hands out the work
    /// itself. A panic in any of them is resumed here, after every worker left the job.
    pub(crate) fn run(&self, body: &(dyn Fn(usize) + Sync)) {
        if self
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            // Another thread's job is running: this one runs alone.
            return body(0);
        }
        let shared = &*self.shared;
        let task = Task {
            body,
            panic: Mutex::new(None),
        };
        // The lifetime is erased only for the pointer's type: see `Shared::task`.
        let ptr = &task as *const Task<'_> as *mut Task<'static>;
        shared.task.store(ptr, Ordering::Relaxed);
        // Publishes the task (release) and opens the job; SeqCst pairs with a worker's
        // `sleepers` increment so that either it sees this job or this sees it asleep.
        shared.state.fetch_add(EPOCH | OPEN, Ordering::SeqCst);
        if shared.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            shared.wake.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| body(0)));
        shared.state.fetch_and(!OPEN, Ordering::AcqRel);
        // A worker inside the job is finishing its last claim (a few blocks): wait without
        // PAUSE (see `Shared::work`), yielding if it takes long (the worker was preempted).
        let mut rounds = 0u32;
        while shared.state.load(Ordering::Acquire) & COUNT != 0 {
            rounds = rounds.saturating_add(1);
            if rounds >= 4096 {
                std::thread::yield_now();
            }
        }
        shared.task.store(std::ptr::null_mut(), Ordering::Relaxed);
        self.busy.store(false, Ordering::Release);
        if let Err(p) = mine {
            resume_unwind(p);
        }
        let worker_panic = task.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(p) = worker_panic {
            resume_unwind(p);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        {
            let _guard = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Shared {
    /// Worker `me`'s loop: join each new job while it is open, spin while idle, then sleep.
    fn work(&self, me: usize) {
        // The pool starts at job 0, so a job published before this thread got going is new
        // to it.
        let mut seen = 0;
        let mut idle_since = Instant::now();
        let mut rounds = 0u32;
        loop {
            if self.shutdown.load(Ordering::Relaxed) {
                return;
            }
            let s = self.state.load(Ordering::Acquire);
            if epoch(s) != seen {
                if s & OPEN == 0 || s & COUNT == COUNT {
                    // Closed before this worker came: nothing to do.
                    seen = epoch(s);
                    continue;
                }
                if self
                    .state
                    .compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    seen = epoch(s);
                    // SAFETY: the job is open and counts this worker, so its caller has not
                    // returned (it waits for the count to fall to 0) and the task it published
                    // before opening the job (acquired with the state) is alive.
                    let task = unsafe { &*self.task.load(Ordering::Relaxed) };
                    if let Err(p) = catch_unwind(AssertUnwindSafe(|| (task.body)(me))) {
                        *task.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
                    }
                    self.state.fetch_sub(1, Ordering::Release);
                    idle_since = Instant::now();
                    rounds = 0;
                }
                continue;
            }
            // No `spin_loop()` (x86's PAUSE) here: hypervisors take a vCPU that runs PAUSE in
            // a loop for one waiting on a lock and deschedule it (pause-loop exiting). Spinning
            // with PAUSE, a fresh worker joined one job in sixty for the first ~20 ms here
            // (400 evaluations of `2*a+48` at 2.4e5 ran single-threaded: 56 µs instead of 30).
            rounds = rounds.wrapping_add(1);
            if !rounds.is_multiple_of(64) {
                continue;
            }
            if idle_since.elapsed() < self.spin {
                std::thread::yield_now();
                continue;
            }
            let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            while epoch(self.state.load(Ordering::SeqCst)) == seen
                && !self.shutdown.load(Ordering::SeqCst)
            {
                guard = self.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
            }
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            drop(guard);
            idle_since = Instant::now();
            rounds = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `jobs` jobs of `items` items each on `pool`, every item claimed from a shared
    /// counter; checks each item ran exactly once.
    fn run_jobs(pool: &Pool, jobs: usize, items: usize) {
        for _ in 0..jobs {
            let next = AtomicUsize::new(0);
            let done: Vec<AtomicUsize> = (0..items).map(|_| AtomicUsize::new(0)).collect();
            pool.run(&|_| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items {
                    break;
                }
                done[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(done.iter().all(|d| d.load(Ordering::Relaxed) == 1));
        }
    }

    #[test]
    fn every_item_runs_once_with_awake_and_sleeping_workers() {
        for threads in [1, 2, 3, 5] {
            for spin in [Duration::ZERO, Duration::from_millis(50)] {
                let pool = Pool::new(threads, spin).unwrap();
                run_jobs(&pool, 300, 1);
                run_jobs(&pool, 300, 1000);
            }
        }
    }

    #[test]
    fn awake_workers_join_the_next_job() {
        let pool = Pool::new(2, Duration::from_secs(10)).unwrap();
        // Each job waits (up to 2 s, for a loaded machine) until the spinning worker joined.
        let joined: usize = (0..20)
            .map(|_| {
                let seen = AtomicBool::new(false);
                pool.run(&|me| {
                    if me == 1 {
                        seen.store(true, Ordering::Relaxed);
                    }
                    let t = Instant::now();
                    while !seen.load(Ordering::Relaxed) && t.elapsed() < Duration::from_secs(2) {
                        std::hint::spin_loop();
                    }
                });
                seen.load(Ordering::Relaxed) as usize
            })
            .sum();
        assert_eq!(joined, 20);
        assert!(pool.is_awake());
    }

    #[test]
    fn jobs_from_many_threads_at_once() {
        let pool = Pool::new(3, Duration::from_millis(1)).unwrap();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| run_jobs(&pool, 200, 257));
            }
        });
    }

    #[test]
    fn a_panic_in_a_worker_reaches_the_caller_after_the_job() {
        let pool = Pool::new(2, Duration::from_secs(10)).unwrap();
        for _ in 0..10 {
            let caller_done = AtomicBool::new(false);
            let r = catch_unwind(AssertUnwindSafe(|| {
                pool.run(&|me| {
                    if me == 1 {
                        panic!("worker");
                    }
                    // Keep the job open until the worker joined (it spins: well within 1 s).
                    let t = Instant::now();
                    while pool.shared.state.load(Ordering::Relaxed) & COUNT == 0
                        && t.elapsed() < Duration::from_secs(1)
                    {
                        std::hint::spin_loop();
                    }
                    caller_done.store(true, Ordering::Relaxed);
                })
            }));
            assert!(caller_done.load(Ordering::Relaxed));
            if let Err(p) = r {
                assert_eq!(p.downcast_ref::<&str>(), Some(&"worker"));
            }
        }
        let r = catch_unwind(AssertUnwindSafe(|| pool.run(&|_| panic!("everyone"))));
        assert!(r.is_err());
        // The pool still works.
        run_jobs(&pool, 10, 100);
    }
}
