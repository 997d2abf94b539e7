//! Asking the CPU to fetch memory before a loop needs it.
//!
//! A fan-out touches each recipient's member entry and connection state once per event, 100 ms
//! apart at light load: by then every system call in between has pushed them out of the cache,
//! and each one costs a miss the loop waits for. Fetching the next recipients' state while the
//! current one's system call runs hides those misses.

/// Start fetching the cache line holding `value` (a hint: it never faults and never changes
/// what the program does).
#[inline(always)]
pub fn prefetch<T>(value: *const T) {
    // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has (it is in the target's
    // baseline), and a prefetch never dereferences its address in the language's sense: any
    // address, even an invalid one, is allowed.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(value.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
