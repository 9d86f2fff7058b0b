//! Keyed BLAKE3 of an input that fits in one 64-byte block, computed in
//! general-purpose registers.
//!
//! The output is the `blake3` crate's `keyed_hash`, bit for bit (the tests
//! compare every length from 0 to 64 under several keys); longer inputs go
//! to the crate. The reason this exists: a hashed field is almost always
//! short (an e-mail address, an account id, a number), and for one block
//! the crate runs a single compression in vector registers. Its rounds are
//! one long dependency chain, and on the machine the benchmarks run on
//! (an AMD EPYC whose simple vector operations take two cycles) that chain
//! took 95 ns for a 15-byte input with the crate's AVX-512 code, 112 ns
//! with its SSE4.1 code, and 49–54 ns here, where the same chain's additions,
//! xors and rotations take one cycle each. The crate's features cannot pick
//! a backend for small inputs alone (they apply to every user of the crate
//! in a build), so the one-block case is written out here, from the
//! function's specification. `docs/performance.md` ("One block of BLAKE3
//! in general-purpose registers") has the measurements.

/// Bytes in one BLAKE3 block: the longest input hashed here.
pub(crate) const BLOCK_LEN: usize = 64;

/// The first four words of BLAKE3's initialisation vector (those of
/// SHA-256); the key takes the place of the first eight words of state.
const IV: [u32; 4] = [0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A];

/// Domain flags of a keyed hash whose whole input is one block: the first
/// and last block of the only chunk, which is the root.
const FLAGS: u32 = CHUNK_START | CHUNK_END | ROOT | KEYED_HASH;
const CHUNK_START: u32 = 1 << 0;
const CHUNK_END: u32 = 1 << 1;
const ROOT: u32 = 1 << 3;
const KEYED_HASH: u32 = 1 << 4;

/// A key as the compression reads it: eight little-endian words.
pub(crate) fn key_words(key: &[u8; 32]) -> [u32; 8] {
    let mut words = [0u32; 8];
    for (w, c) in words.iter_mut().zip(key.chunks_exact(4)) {
        *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    words
}

/// The first 16 bytes of the keyed BLAKE3 hash of `input`, or `None` if
/// `input` is longer than one block.
#[inline]
pub(crate) fn keyed_hash_16(key: &[u32; 8], input: &[u8]) -> Option<[u8; 16]> {
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
    const ORDER: [usize; 16] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
    let mut next = [0u32; 16];
    for (n, &i) in next.iter_mut().zip(ORDER.iter()) {
        *n = m[i];
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_hash(key: &[u8; 32], input: &[u8]) -> [u8; 16] {
        let mut out = [0u8; 16];
        out.copy_from_slice(&blake3::keyed_hash(key, input).as_bytes()[..16]);
        out
    }

    #[test]
    fn equals_the_crate_for_every_length_of_one_block() {
        let mut keys = vec![[0u8; 32], [0xFF; 32]];
        keys.extend((0u8..8).map(|i| *blake3::hash(&[i]).as_bytes()));
        for key in &keys {
            let words = key_words(key);
            for len in 0..=BLOCK_LEN {
                for seed in 0u8..4 {
                    let input: Vec<u8> = (0..len)
                        .map(|i| {
                            (i as u8)
                                .wrapping_mul(37)
                                .wrapping_add(seed.wrapping_mul(101))
                        })
                        .collect();
                    assert_eq!(
                        keyed_hash_16(&words, &input),
                        Some(crate_hash(key, &input)),
                        "length {len}, seed {seed}"
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn equals_the_crate_for_any_key_and_short_input(
            key in proptest::array::uniform32(proptest::num::u8::ANY),
            input in proptest::collection::vec(proptest::num::u8::ANY, 0..=BLOCK_LEN),
        ) {
            proptest::prop_assert_eq!(
                keyed_hash_16(&key_words(&key), &input),
                Some(crate_hash(&key, &input))
            );
        }
    }

    #[test]
    fn longer_inputs_are_left_to_the_crate() {
        let words = key_words(&[1; 32]);
        assert_eq!(keyed_hash_16(&words, &[0; BLOCK_LEN + 1]), None);
        assert!(keyed_hash_16(&words, &[0; BLOCK_LEN]).is_some());
    }

    #[test]
    fn trailing_zero_bytes_are_not_padding() {
        // The block length is part of the state: "a" and "a\0" differ.
        let words = key_words(&[2; 32]);
        assert_ne!(keyed_hash_16(&words, b"a"), keyed_hash_16(&words, b"a\0"));
        assert_ne!(keyed_hash_16(&words, b""), keyed_hash_16(&words, b"\0"));
    }
}
