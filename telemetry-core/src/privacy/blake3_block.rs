//! Keyed BLAKE3 of an input that fits in one 64-byte block, in our own
//! code, with the faster of two implementations on the CPU it runs on.
//!
//! The output is the `blake3` crate's `keyed_hash`, bit for bit (the tests
//! compare every length from 0 to 64 under several keys, for both
//! implementations); longer inputs go to the crate. The reason this exists:
//! a hashed field is almost always short (an e-mail address, an account
//! id, a number), and one block is a single compression, seven rounds of
//! one long dependency chain. How fast that chain runs depends on the CPU
//! more than on the code:
//!
//! - on an AMD EPYC whose simple vector operations take two cycles, the
//!   crate's vector code took 95 ns for a 15-byte input and [`scalar`]
//!   code, whose additions, xors and rotations take one cycle, 49–54 ns;
//! - on an Intel Xeon (Sapphire Rapids), where both take one cycle, the
//!   scalar code (whose sixteen words of state and sixteen of message do
//!   not fit in fifteen registers) took 70–83 ns, the crate 59–67 ns, and
//!   [`avx512`] code, one instruction a rotation and the message permuted
//!   off the chain, 44–45 ns.
//!
//! The crate's features cannot pick a backend for small inputs alone (they
//! apply to every user of the crate in a build), and whether vector steps
//! take one cycle or two is not something the CPU reports. So the first
//! time a key is derived, [`choose`] times both, one hash at a time (as
//! capture runs them: one per value, other work around it), and keeps the
//! faster for the life of the process. That takes about 40 µs once
//! (about 115 µs when it is the process's first feature detection). The
//! choice changes only speed, never a hash. `docs/performance.md` ("One block of BLAKE3
//! in general-purpose registers" and "One block of BLAKE3 on the CPU it
//! runs on") has the measurements.

use std::sync::atomic::{AtomicU8, Ordering};

#[cfg(target_arch = "x86_64")]
mod avx512;
mod scalar;

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

/// Where each message word of a round comes from in the round before.
const MSG_PERMUTATION: [usize; 16] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];

/// A key as the compression reads it: eight little-endian words.
pub(crate) fn key_words(key: &[u8; 32]) -> [u32; 8] {
    let mut words = [0u32; 8];
    for (w, c) in words.iter_mut().zip(key.chunks_exact(4)) {
        *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    words
}

/// Which implementation hashes one block in this process.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Backend {
    /// [`scalar`]: general-purpose registers, on every CPU.
    Scalar = 1,
    /// [`avx512`]: vector registers. Only ever chosen after
    /// `avx512::detected()` returned true.
    #[cfg(target_arch = "x86_64")]
    Avx512 = 2,
}

/// The chosen [`Backend`] as its number; [`UNDECIDED`] until [`choose`]
/// ran (the scalar code is used until then).
static CHOSEN: AtomicU8 = AtomicU8::new(UNDECIDED);

/// `CHOSEN` before the choice.
const UNDECIDED: u8 = 0;

/// `CHOSEN` once the AVX-512 code was chosen.
#[cfg(target_arch = "x86_64")]
const AVX512: u8 = Backend::Avx512 as u8;

/// The first 16 bytes of the keyed BLAKE3 hash of `input`, or `None` if
/// `input` is longer than one block.
#[inline]
pub(crate) fn keyed_hash_16(key: &[u32; 8], input: &[u8]) -> Option<[u8; 16]> {
    #[cfg(target_arch = "x86_64")]
    if CHOSEN.load(Ordering::Relaxed) == AVX512 {
        debug_assert!(
            avx512::detected(),
            "AVX-512 code chosen on a CPU without it"
        );
        // SAFETY: `AVX512` is stored in `CHOSEN` only by `choose` (its one
        // store, never undone), with what `measure` returned, and `measure`
        // returns `Avx512` only after `avx512::detected()` found the
        // features the function enables on this CPU.
        return unsafe { avx512::keyed_hash_16(key, input) };
    }
    scalar::keyed_hash_16(key, input)
}

/// Picks, once per process, the faster [`Backend`] on this CPU, and
/// returns it. Later calls return the first choice.
pub(crate) fn choose() -> Backend {
    match CHOSEN.load(Ordering::Relaxed) {
        UNDECIDED => {}
        #[cfg(target_arch = "x86_64")]
        AVX512 => return Backend::Avx512,
        _ => return Backend::Scalar,
    }
    let chosen = measure();
    // Two threads deriving their first keys at once may both measure; the
    // first choice stored is kept, so a process never switches.
    match CHOSEN.compare_exchange(
        UNDECIDED,
        chosen as u8,
        Ordering::Relaxed,
        Ordering::Relaxed,
    ) {
        Ok(_) => chosen,
        Err(_) => choose(),
    }
}

/// Rounds of the timing; the fastest round of each backend counts, so
/// that an interruption in one round does not decide.
#[cfg(target_arch = "x86_64")]
const ROUNDS: usize = 7;

/// Untimed rounds of the vector code before the timed ones.
#[cfg(target_arch = "x86_64")]
const WARM_UP: usize = 8;

/// Hashes per round.
#[cfg(target_arch = "x86_64")]
const CHAIN: usize = 24;

/// Times both backends hashing a 19-byte value (an e-mail address's
/// length) one hash at a time, rounds interleaved, and returns the faster.
fn measure() -> Backend {
    #[cfg(target_arch = "x86_64")]
    if avx512::detected() {
        let key = key_words(&[0x5A; 32]);
        let (mut scalar_best, mut vector_best) = (u128::MAX, u128::MAX);
        // Untimed first: an Intel core powers up the upper half of its
        // vector units at their first use after a pause, and runs wide
        // instructions slower for some microseconds meanwhile.
        for _ in 0..WARM_UP {
            // SAFETY: `avx512::detected()` found the features it enables.
            time_chain(|v| unsafe { avx512::keyed_hash_16(&key, v) });
        }
        for _ in 0..ROUNDS {
            scalar_best = scalar_best.min(time_chain(|v| scalar::keyed_hash_16(&key, v)));
            // SAFETY: `avx512::detected()` found the features it enables.
            vector_best =
                vector_best.min(time_chain(|v| unsafe { avx512::keyed_hash_16(&key, v) }));
        }
        if vector_best < scalar_best {
            return Backend::Avx512;
        }
    }
    Backend::Scalar
}

/// Nanoseconds for [`CHAIN`] hashes by `hash`, one at a time: a fence
/// after each lets none start before the one before it finished, as
/// capture's hashes run (one per value, other work around it), so what is
/// timed is each hash's chain, not how well the core overlaps them.
#[cfg(target_arch = "x86_64")]
fn time_chain(hash: impl Fn(&[u8]) -> Option<[u8; 16]>) -> u128 {
    let value = b"someone@example.com";
    let start = std::time::Instant::now();
    for _ in 0..CHAIN {
        std::hint::black_box(hash(std::hint::black_box(value)));
        // SAFETY: `lfence` is SSE2, which every x86-64 CPU has; it only
        // orders instructions.
        unsafe { std::arch::x86_64::_mm_lfence() };
    }
    start.elapsed().as_nanos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_hash(key: &[u8; 32], input: &[u8]) -> [u8; 16] {
        let mut out = [0u8; 16];
        out.copy_from_slice(&blake3::keyed_hash(key, input).as_bytes()[..16]);
        out
    }

    type Hash = fn(&[u32; 8], &[u8]) -> Option<[u8; 16]>;

    /// The AVX-512 code, behind the check `choose` makes.
    #[cfg(target_arch = "x86_64")]
    fn avx512_checked(key: &[u32; 8], input: &[u8]) -> Option<[u8; 16]> {
        assert!(avx512::detected());
        // SAFETY: the features were just detected.
        unsafe { avx512::keyed_hash_16(key, input) }
    }

    /// Every implementation this CPU can run, by name, the choice made
    /// first (so that "chosen" is the code the choice picked, whichever
    /// test runs first).
    fn backends() -> Vec<(&'static str, Hash)> {
        choose();
        let mut all: Vec<(&'static str, Hash)> = vec![("scalar", scalar::keyed_hash_16)];
        #[cfg(target_arch = "x86_64")]
        if avx512::detected() {
            all.push(("avx512", avx512_checked));
        } else {
            eprintln!("this CPU has no AVX-512 (F, VL, BW): its code is not tested here");
        }
        all.push(("chosen", keyed_hash_16));
        all
    }

    #[test]
    fn equals_the_crate_for_every_length_of_one_block() {
        let mut keys = vec![[0u8; 32], [0xFF; 32]];
        keys.extend((0u8..8).map(|i| *blake3::hash(&[i]).as_bytes()));
        for (name, hash) in backends() {
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
                            hash(&words, &input),
                            Some(crate_hash(key, &input)),
                            "{name}: length {len}, seed {seed}"
                        );
                    }
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
            for (name, hash) in backends() {
                proptest::prop_assert_eq!(
                    hash(&key_words(&key), &input),
                    Some(crate_hash(&key, &input)),
                    "{}", name
                );
            }
        }
    }

    #[test]
    fn a_block_read_from_the_end_of_its_buffer_reads_nothing_past_it() {
        // Every input is a prefix of a longer buffer of non-zero bytes: a
        // load that read one byte past the input would hash that byte, and
        // differ from the crate. Inputs that end where their allocation
        // ends (length 0: a dangling pointer) must not fault either.
        let buffer = [0xA5u8; 2 * BLOCK_LEN];
        for len in 0..=BLOCK_LEN {
            let key = [len as u8; 32];
            let prefix = &buffer[..len];
            let mut alone: Vec<u8> = prefix.to_vec();
            alone.shrink_to_fit();
            for (name, hash) in backends() {
                for input in [prefix, &alone[..]] {
                    assert_eq!(
                        hash(&key_words(&key), input),
                        Some(crate_hash(&key, input)),
                        "{name}: length {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn longer_inputs_are_left_to_the_crate() {
        let words = key_words(&[1; 32]);
        for (name, hash) in backends() {
            assert_eq!(hash(&words, &[0; BLOCK_LEN + 1]), None, "{name}");
            assert!(hash(&words, &[0; BLOCK_LEN]).is_some(), "{name}");
        }
    }

    #[test]
    fn trailing_zero_bytes_are_not_padding() {
        // The block length is part of the state: "a" and "a\0" differ.
        let words = key_words(&[2; 32]);
        for (name, hash) in backends() {
            assert_ne!(hash(&words, b"a"), hash(&words, b"a\0"), "{name}");
            assert_ne!(hash(&words, b""), hash(&words, b"\0"), "{name}");
        }
    }

    #[test]
    fn the_choice_is_made_once_and_only_for_code_the_cpu_runs() {
        let first = choose();
        assert_eq!(CHOSEN.load(Ordering::Relaxed), first as u8);
        for _ in 0..3 {
            assert_eq!(choose(), first, "a process never switches");
        }
        #[cfg(target_arch = "x86_64")]
        if !avx512::detected() {
            assert_eq!(first, Backend::Scalar);
        }
        #[cfg(not(target_arch = "x86_64"))]
        assert_eq!(first, Backend::Scalar);
    }
}
