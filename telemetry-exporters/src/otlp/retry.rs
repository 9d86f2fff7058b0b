//! The retry policy both transports share, run on the export worker's
//! thread: attempts within the signal's timeout and the batch's deadline,
//! exponential backoff with full jitter (or what the server asked for with
//! `Retry-After`), and a consent check before every attempt (a batch a
//! revocation made stale is not sent).

use std::time::{Duration, Instant};

use telemetry_core::export::{Batch, ExportError, ExportErrorKind};

use super::config::SignalConfig;

const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The outcome counters a transport keeps.
#[derive(Debug, Default)]
pub(crate) struct Attempts {
    pub(crate) retries: u64,
}

/// Why one attempt failed.
pub(crate) struct Failure {
    /// Whether another attempt may succeed (connection errors, timeouts,
    /// 429/502/503/504, gRPC `UNAVAILABLE` and the like).
    pub(crate) retryable: bool,
    /// How long the server asked us to wait.
    pub(crate) retry_after: Option<Duration>,
    /// What happened, naming the URL but never a header value.
    pub(crate) message: String,
}

/// Makes attempts until one succeeds, the failure is not retryable, the
/// deadline (the earlier of the signal's timeout and the batch's deadline)
/// would pass, or the batch goes stale. `attempt` gets the time it may take.
pub(crate) fn run(
    cfg: &SignalConfig,
    batch: &Batch<'_>,
    attempts: &mut Attempts,
    mut attempt: impl FnMut(Duration) -> Result<(), Failure>,
) -> Result<(), ExportError> {
    let timeout_at = Instant::now() + cfg.timeout;
    let deadline = batch.deadline().map_or(timeout_at, |d| d.min(timeout_at));
    let mut backoff = INITIAL_BACKOFF;
    loop {
        if !batch.is_current() {
            return Err(ExportError::stale());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ExportError::new(
                ExportErrorKind::Timeout,
                format!(
                    "no success from {} in time (timeout {:?})",
                    cfg.url, cfg.timeout
                ),
            ));
        }
        let failure = match attempt(left) {
            Ok(()) => return Ok(()),
            Err(f) => f,
        };
        if !failure.retryable {
            return Err(ExportError::new(
                ExportErrorKind::Unavailable,
                failure.message,
            ));
        }
        let wait = failure.retry_after.unwrap_or_else(|| jitter(backoff));
        if wait >= deadline.saturating_duration_since(Instant::now()) {
            return Err(ExportError::new(
                ExportErrorKind::Unavailable,
                failure.message,
            ));
        }
        attempts.retries += 1;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        std::thread::sleep(wait);
    }
}

/// A random wait in `0..max` (full jitter).
pub(crate) fn jitter(max: Duration) -> Duration {
    let nanos = max.as_nanos() as u64;
    if nanos == 0 {
        return max;
    }
    let r = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    Duration::from_nanos(r % nanos)
}
