//! The one-block compression in vector registers, with AVX-512: the state's
//! four rows in one 128-bit register each, so one instruction does a step
//! of all four columns (then of all four diagonals), and every rotation is
//! one instruction (`vprold`). The message sits in two 256-bit registers,
//! and each half-round's words are picked from them with one permute, off
//! the chain of dependent steps. No 512-bit register is used: on Intel
//! cores those run slower for some microseconds after a pause, which the
//! timing in the parent module would see (it picked the scalar code in
//! four processes of six with an earlier 512-bit version).
//!
//! Only called where [`detected`] said the CPU has the instructions; the
//! parent module decides whether it is also the faster code there.

use std::arch::x86_64::{
    __m128i, __m256i, _mm_add_epi32, _mm_ror_epi32, _mm_set_epi32, _mm_shuffle_epi32,
    _mm_storeu_si128, _mm_xor_si128, _mm256_castsi256_si128, _mm256_extracti128_si256,
    _mm256_maskz_loadu_epi8, _mm256_permutex2var_epi32, _mm256_set_epi32, _mm256_setzero_si256,
};

use super::{BLOCK_LEN, FLAGS, IV, MSG_PERMUTATION};

/// Whether this CPU runs [`keyed_hash_16`]: AVX-512 Foundation, its 128-bit
/// forms (VL) and its byte-masked loads (BW).
pub(super) fn detected() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512bw")
}

/// For each of the seven rounds, the index in the original message of the
/// word each lane takes: for the columns, then for the diagonals, lanes
/// 0–3 their first words and 4–7 their second.
///
/// The diagonals are formed by turning the rows `a`, `c` and `d` and
/// leaving `b` in place (`b` is the last word a step writes, so the first
/// step of the next half reads it at once, without a shuffle between); lane
/// `j` then works on diagonal `j - 1`, and takes that diagonal's words.
const SCHEDULE: [[[i32; 8]; 2]; 7] = {
    let mut out = [[[0i32; 8]; 2]; 7];
    let mut order = [0usize; 16];
    let mut i = 0;
    while i < 16 {
        order[i] = i;
        i += 1;
    }
    let mut round = 0;
    while round < 7 {
        let mut lane = 0;
        while lane < 4 {
            let diagonal = (lane + 3) % 4;
            out[round][0][lane] = order[2 * lane] as i32;
            out[round][0][4 + lane] = order[2 * lane + 1] as i32;
            out[round][1][lane] = order[8 + 2 * diagonal] as i32;
            out[round][1][4 + lane] = order[8 + 2 * diagonal + 1] as i32;
            lane += 1;
        }
        let mut next = [0usize; 16];
        let mut k = 0;
        while k < 16 {
            next[k] = order[MSG_PERMUTATION[k]];
            k += 1;
        }
        order = next;
        round += 1;
    }
    out
};

/// The first 16 bytes of the keyed BLAKE3 hash of `input`, or `None` if
/// `input` is longer than one block.
#[target_feature(enable = "avx512f,avx512vl,avx512bw")]
pub(super) fn keyed_hash_16(key: &[u32; 8], input: &[u8]) -> Option<[u8; 16]> {
    if input.len() > BLOCK_LEN {
        return None;
    }
    // One bit per input byte; each load reads those bytes of its half
    // of the block and zeroes the rest.
    let mask = u64::MAX
        .checked_shr((BLOCK_LEN - input.len()) as u32)
        .unwrap_or(0);
    // SAFETY (both loads): the features are enabled on this function. A
    // masked load reads only the bytes whose mask bit is set: the first
    // `min(input.len(), 32)` bytes of `input`, then the first
    // `input.len() - 32` bytes of `input[32..]` when it is longer, all
    // inside `input`. AVX-512 does not access masked-out bytes and does
    // not fault on them, so a zero mask with a dangling pointer (an empty
    // input) or one past the end (an input of 32 bytes) reads nothing.
    let low = unsafe { _mm256_maskz_loadu_epi8(mask as u32, input.as_ptr().cast()) };
    let high = match input.get(32..) {
        Some(rest) => unsafe { _mm256_maskz_loadu_epi8((mask >> 32) as u32, rest.as_ptr().cast()) },
        None => _mm256_setzero_si256(),
    };
    let w = |i: usize| key[i] as i32;
    let mut a = _mm_set_epi32(w(3), w(2), w(1), w(0));
    let mut b = _mm_set_epi32(w(7), w(6), w(5), w(4));
    let mut c = _mm_set_epi32(IV[3] as i32, IV[2] as i32, IV[1] as i32, IV[0] as i32);
    // The counter is 0 (the first chunk) and the block length is at most
    // 64, so the cast is exact.
    let mut d = _mm_set_epi32(FLAGS as i32, input.len() as i32, 0, 0);
    for [columns, diagonals] in &SCHEDULE {
        g((&mut a, &mut b, &mut c, &mut d), pick(low, high, columns));
        // Diagonals: turn a right by one lane, c left by one, d by two.
        a = _mm_shuffle_epi32::<0x93>(a);
        c = _mm_shuffle_epi32::<0x39>(c);
        d = _mm_shuffle_epi32::<0x4E>(d);
        g((&mut a, &mut b, &mut c, &mut d), pick(low, high, diagonals));
        // And back to columns.
        a = _mm_shuffle_epi32::<0x39>(a);
        c = _mm_shuffle_epi32::<0x93>(c);
        d = _mm_shuffle_epi32::<0x4E>(d);
    }
    let mut out = [0u8; 16];
    // SAFETY: `out` is 16 writable bytes, and the store is unaligned.
    unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), _mm_xor_si128(a, c)) };
    Some(out)
}

/// The eight message words at `index` (0–15) of the block whose words
/// 0–7 are `low` and 8–15 `high`: one instruction.
#[target_feature(enable = "avx512f,avx512vl")]
#[inline]
fn pick(low: __m256i, high: __m256i, index: &[i32; 8]) -> __m256i {
    let [i0, i1, i2, i3, i4, i5, i6, i7] = *index;
    _mm256_permutex2var_epi32(low, _mm256_set_epi32(i7, i6, i5, i4, i3, i2, i1, i0), high)
}

/// The mixing function on four columns (or diagonals) at once, with their
/// message words as [`pick`] gives them: the first word of each in the low
/// half of `words`, the second in the high half.
#[target_feature(enable = "avx512f,avx512vl")]
#[inline]
fn g((a, b, c, d): (&mut __m128i, &mut __m128i, &mut __m128i, &mut __m128i), words: __m256i) {
    let (x, y) = (
        _mm256_castsi256_si128(words),
        _mm256_extracti128_si256::<1>(words),
    );
    // `a + x` first: it does not wait for `b`, the last word written.
    *a = _mm_add_epi32(_mm_add_epi32(*a, x), *b);
    *d = _mm_ror_epi32::<16>(_mm_xor_si128(*d, *a));
    *c = _mm_add_epi32(*c, *d);
    *b = _mm_ror_epi32::<12>(_mm_xor_si128(*b, *c));
    *a = _mm_add_epi32(_mm_add_epi32(*a, y), *b);
    *d = _mm_ror_epi32::<8>(_mm_xor_si128(*d, *a));
    *c = _mm_add_epi32(*c, *d);
    *b = _mm_ror_epi32::<7>(_mm_xor_si128(*b, *c));
}
