//! The retry policy both transports share: attempts within the signal's
//! timeout, exponential backoff with full jitter (or what the server asked
//! for with `Retry-After`), and the errors that end the attempts.

use std::time::{Duration, Instant};

use telemetry_core::{ExportError, ExportErrorKind};

use super::config::SignalConfig;

const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The outcome counters a transport keeps.
#[derive(Debug, Default)]
pub(crate) struct Attempts {
    pub(crate) retries: u64,
}

/// The attempts of one export: its deadline and the current backoff.
pub(crate) struct Retry<'c> {
    cfg: &'c SignalConfig,
    deadline: Instant,
    backoff: Duration,
}

impl<'c> Retry<'c> {
    /// Starts the attempts of one export, due within `cfg.timeout`.
    pub(crate) fn new(cfg: &'c SignalConfig) -> Self {
        Retry {
            cfg,
            deadline: Instant::now() + cfg.timeout,
            backoff: INITIAL_BACKOFF,
        }
    }

    /// The time left for the next attempt, or the timeout error.
    pub(crate) fn left(&self) -> Result<Duration, ExportError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ExportError::new(
                ExportErrorKind::Timeout,
                format!(
                    "no success from {} within {:?}",
                    self.cfg.url, self.cfg.timeout
                ),
            ));
        }
        Ok(left)
    }

    /// After a failed attempt: how long to wait before the next one, or the
    /// error to give up with (not retryable, or the wait would pass the
    /// deadline). Counts the retry.
    pub(crate) fn wait(
        &mut self,
        retryable: bool,
        retry_after: Option<Duration>,
        message: String,
        attempts: &mut Attempts,
    ) -> Result<Duration, ExportError> {
        if !retryable {
            return Err(ExportError::new(ExportErrorKind::Unavailable, message));
        }
        let wait = retry_after.unwrap_or_else(|| jitter(self.backoff));
        if wait >= self.deadline.saturating_duration_since(Instant::now()) {
            return Err(ExportError::new(ExportErrorKind::Unavailable, message));
        }
        attempts.retries += 1;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        Ok(wait)
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
