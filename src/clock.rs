//! Deadlines on tokio's clock, and times on the wall clock, that neither overflow nor panic.
//!
//! Delays come from the network (`Retry-After: 18446744073709551615` is a valid header) and
//! from settings; `Instant + Duration` panics when the sum does not fit, so every deadline the
//! crate sets goes through [`deadline`]. tokio has no fallible timer constructor either, hence
//! [`sleep_until`]. Every wall-clock time the crate computes from a delay goes through
//! [`wall_time`].

use std::time::{Duration, SystemTime};

use tokio::time::{Instant, Sleep};

/// About 30 years: tokio's own "never", as far as a deadline goes.
pub(crate) const FAR: Duration = Duration::from_secs(86400 * 365 * 30);

/// `from + delay`, or about 30 years from now when that does not fit in an `Instant`.
pub(crate) fn deadline(from: Instant, delay: Duration) -> Instant {
    from.checked_add(delay)
        .unwrap_or_else(|| Instant::now() + FAR)
}

/// The longest delay [`wall_time`] adds: 10,000 years. No HTTP-date is that far off; every
/// platform's `SystemTime` holds a time that far from now (Windows' ends in the year 30828).
const WALL_FAR: Duration = Duration::from_secs(86400 * 365 * 10_000);

/// `from + delay`, with a delay longer than [`WALL_FAR`] counted as that: a time far past any
/// schedule rather than none. `None` only when `from` itself is that close to the clock's end.
pub(crate) fn wall_time(from: SystemTime, delay: Duration) -> Option<SystemTime> {
    from.checked_add(delay.min(WALL_FAR))
}

/// tokio's `sleep_until`, or `None` where the runtime has no time driver (tokio panics there;
/// it has no fallible constructor, so the panic is caught).
pub(crate) fn sleep_until(at: Instant) -> Option<Sleep> {
    std::panic::catch_unwind(|| tokio::time::sleep_until(at)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_deadline_past_what_an_instant_holds_is_far_away_not_a_panic() {
        let now = Instant::now();
        assert_eq!(
            deadline(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert_eq!(deadline(now, Duration::MAX), now + FAR);
        assert_eq!(deadline(now, Duration::from_secs(u64::MAX)), now + FAR);
    }
}
