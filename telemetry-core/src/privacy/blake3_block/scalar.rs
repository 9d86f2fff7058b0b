//! The one-block compression in general-purpose registers: the four
//! columns' chains run side by side on the scalar ALUs, where each
//! addition, xor and rotation takes one cycle.

use super::{BLOCK_LEN, FLAGS, IV, MSG_PERMUTATION};

/// The first 16 bytes of the keyed BLAKE3 hash of `input`, or `None` if
/// `input` is longer than one block.
#[inline]
pub(super) fn keyed_hash_16(key: &[u32; 8], input: &[u8]) -> Option<[u8; 16]> {
    if input.len() > BLOCK_LEN {
        return None;
    }
    let mut m = [0u32; 16];
    let mut chunks = input.chunks_exact(4);
    for (w, c) in m.iter_mut().zip(&mut chunks) {
        *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    let rest = chunks.remainder();
    if let Some(last) = m.get_mut(input.len() / 4) {
        let mut bytes = [0u8; 4];
        for (b, r) in bytes.iter_mut().zip(rest) {
            *b = *r;
        }
        *last = u32::from_le_bytes(bytes);
    }
    let [k0, k1, k2, k3, k4, k5, k6, k7] = *key;
    // The counter is 0 (the first chunk) and the block length is at most
    // 64, so the cast is exact.
    let mut s = [
        k0,
        k1,
        k2,
        k3,
        k4,
        k5,
        k6,
        k7,
        IV[0],
        IV[1],
        IV[2],
        IV[3],
        0,
        0,
        input.len() as u32,
        FLAGS,
    ];
    // Seven rounds, the message words permuted between them, written out:
    // as a loop (six rounds and a permutation, then the last round) the
    // hash took 58–59 ns, against 49–52 written out.
    round(&mut s, &m);
    let m = permute(&m);
    round(&mut s, &m);
    let m = permute(&m);
    round(&mut s, &m);
    let m = permute(&m);
    round(&mut s, &m);
    let m = permute(&m);
    round(&mut s, &m);
    let m = permute(&m);
    round(&mut s, &m);
    let m = permute(&m);
    round(&mut s, &m);
    let mut out = [0u8; 16];
    for (i, o) in out.chunks_exact_mut(4).enumerate() {
        o.copy_from_slice(&(s[i] ^ s[i + 8]).to_le_bytes());
    }
    Some(out)
}

/// One round: the columns, then the diagonals, each with two message words.
#[inline(always)]
fn round(s: &mut [u32; 16], m: &[u32; 16]) {
    g(s, [0, 4, 8, 12], m[0], m[1]);
    g(s, [1, 5, 9, 13], m[2], m[3]);
    g(s, [2, 6, 10, 14], m[4], m[5]);
    g(s, [3, 7, 11, 15], m[6], m[7]);
    g(s, [0, 5, 10, 15], m[8], m[9]);
    g(s, [1, 6, 11, 12], m[10], m[11]);
    g(s, [2, 7, 8, 13], m[12], m[13]);
    g(s, [3, 4, 9, 14], m[14], m[15]);
}

/// The quarter-round mixing function on the four state words at `i`.
#[inline(always)]
fn g(s: &mut [u32; 16], [a, b, c, d]: [usize; 4], x: u32, y: u32) {
    s[a] = s[a].wrapping_add(s[b]).wrapping_add(x);
    s[d] = (s[d] ^ s[a]).rotate_right(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_right(12);
    s[a] = s[a].wrapping_add(s[b]).wrapping_add(y);
    s[d] = (s[d] ^ s[a]).rotate_right(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_right(7);
}

/// The message word order of the next round.
#[inline(always)]
fn permute(m: &[u32; 16]) -> [u32; 16] {
    let mut next = [0u32; 16];
    for (n, &i) in next.iter_mut().zip(MSG_PERMUTATION.iter()) {
        *n = m[i];
    }
    next
}
