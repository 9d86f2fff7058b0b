//! Adding to a counter cell that only the current thread writes (a
//! thread's drop counts): a plain load and store, no locked instruction,
//! with the cell's address in a register of its own.
//!
//! Why the address matters: recent Intel cores (Golden Cove, as in
//! Sapphire Rapids) hand an addition of a constant to a memory cell on to
//! the next one at no cost when the address is a register plus a constant,
//! and take about eight cycles when it also has an index register. A cell
//! picked by a number known only at run time (a counter's category)
//! compiles to the indexed form, so back-to-back counts to it, such as a
//! run of refused counter adds, each waited on the last: 1.9–2.0 ns a
//! count in a loop on this machine, against 0.27 ns with the address
//! computed first (`inc qword ptr [reg + reg*8]` against `lea` then `inc
//! qword ptr [reg]`, in a loop of each). The compiler folds the computation
//! back into the addressing mode unless it cannot see through the pointer,
//! so the pointer goes through an empty `asm!` block, which emits no
//! instruction.
//!
//! Metric cells do not use it: a recorded counter add measured 23.2–23.4 ns
//! with the plain form and 24.2–24.6 with this one (a recorded add is not
//! a run of additions to one cell, and the extra address computation
//! costs more than it saves there).

use std::sync::atomic::{AtomicU64, Ordering};

/// Adds `v` (wrapping) to `cell`, which only this thread writes: other
/// threads may read it at any time and see the old or the new value, never
/// a torn one.
#[inline(always)]
pub(crate) fn add(cell: &AtomicU64, v: u64) {
    let cell = through_register(cell);
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(v),
        Ordering::Relaxed,
    );
}

/// `cell`, by a pointer the compiler cannot see through (see the module
/// documentation).
#[inline(always)]
fn through_register(cell: &AtomicU64) -> &AtomicU64 {
    // Miri runs no `asm!`: there the pointer is plain (its speed is not
    // what Miri checks).
    #[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(miri)))]
    {
        let mut p: *const AtomicU64 = cell;
        // SAFETY: the block is empty: it reads and writes no memory and
        // hands `p` back unchanged (`pure`, `nomem`). The compiler only
        // loses sight of where `p` came from.
        #[allow(
            clippy::pointers_in_nomem_asm_block,
            reason = "the pointer is passed through, never read or written in the block"
        )]
        unsafe {
            std::arch::asm!("/* {0} */", inout(reg) p, options(pure, nomem, nostack, preserves_flags));
            // SAFETY: `p` is `cell`, a reference valid for the returned
            // lifetime.
            &*p
        }
    }
    #[cfg(not(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(miri))))]
    cell
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_wrapping_to_the_cell_it_is_given_only() {
        let cells: [AtomicU64; 4] = std::array::from_fn(|i| AtomicU64::new(i as u64));
        add(&cells[2], 5);
        add(&cells[3], u64::MAX);
        let now: Vec<u64> = cells.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!(now, [0, 1, 7, 2]);
    }
}
