//! Structured values drawn from fuzz input bytes. Reading past the end
//! gives zeros, so every input decodes to something.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Doubles worth trying more often than random bits give them.
const SPECIAL_DOUBLES: [f64; 20] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    0.1,
    1e-6,
    1.5e-7,
    1e21,
    1e20,
    f64::MAX,
    f64::MIN,
    f64::MIN_POSITIVE,
    5e-324,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::EPSILON,
    // The file reader's first stand-in for non-finite doubles.
    f64::from_bits(0x7fe0_5eed_0000_0000),
    9007199254740993.0,
];

/// A folder of this thread's own under the temporary directory, for the
/// targets that need real files (set `TMPDIR` to a tmpfs such as
/// `/dev/shm` for speed: the consent store fsyncs every save).
pub(crate) fn scratch_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static DIR: PathBuf = std::env::temp_dir().join(format!(
            "telemetry-fuzz-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
    }
    let dir = DIR.with(PathBuf::clone);
    let created = std::fs::create_dir_all(&dir);
    assert!(created.is_ok(), "{}: {created:?}", dir.display());
    dir
}

/// A cursor over fuzz input.
pub(crate) struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.data.split_at(n.min(self.data.len()));
        self.data = tail;
        head
    }

    pub(crate) fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    pub(crate) fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    pub(crate) fn u64(&mut self) -> u64 {
        let mut buf = [0u8; 8];
        let got = self.take(8);
        buf[..got.len()].copy_from_slice(got);
        u64::from_le_bytes(buf)
    }

    pub(crate) fn u128(&mut self) -> u128 {
        (u128::from(self.u64()) << 64) | u128::from(self.u64())
    }

    /// A double: a special value, or any bits. NaNs are the canonical NaN
    /// when `canonical_nan` (a NaN's payload and sign do not survive JSON).
    pub(crate) fn f64(&mut self, canonical_nan: bool) -> f64 {
        let selector = self.u8();
        let v = if selector < 0x80 {
            SPECIAL_DOUBLES[usize::from(selector) % SPECIAL_DOUBLES.len()]
        } else {
            f64::from_bits(self.u64())
        };
        if canonical_nan && v.is_nan() {
            f64::NAN
        } else {
            v
        }
    }

    /// A string of up to `max` bytes (lossy UTF-8).
    pub(crate) fn string(&mut self, max: usize) -> String {
        let len = usize::from(self.u8()) % (max + 1);
        String::from_utf8_lossy(self.take(len)).into_owned()
    }

    /// The rest of the input.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }
}
