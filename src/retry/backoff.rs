//! Exponential backoff with full jitter, for a retryable error without a server delay.
//!
//! Before retry `n` (1 for the first), the wait is drawn uniformly from
//! `[0, min(base × 2^(n-1), max_wait)]` ("full jitter"): clients that failed together spread
//! out instead of coming back together, and the ceiling still grows exponentially. The draws
//! come from `fastrand`'s per-thread generator (not cryptographic, and need not be).

use std::time::Duration;

/// The longest wait before retry `retry` (1-based): `min(base × 2^(retry-1), max_wait)`,
/// without overflow.
pub(crate) fn ceiling(base: Duration, max_wait: Duration, retry: u32) -> Duration {
    let doublings = retry.saturating_sub(1);
    let factor = 1u32.checked_shl(doublings).unwrap_or(0);
    let ceiling = if factor == 0 {
        None
    } else {
        base.checked_mul(factor)
    };
    ceiling.map_or(max_wait, |ceiling| ceiling.min(max_wait))
}

/// A wait drawn uniformly from `[0, ceiling]`, to the nanosecond.
pub(crate) fn full_jitter(ceiling: Duration) -> Duration {
    let max = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(..=max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn ceiling_doubles_from_the_base_up_to_the_cap() {
        let base = 3 * SECOND;
        let cap = 180 * SECOND;
        let ceilings: Vec<u64> = (1..=8)
            .map(|retry| ceiling(base, cap, retry).as_secs())
            .collect();
        assert_eq!(ceilings, [3, 6, 12, 24, 48, 96, 180, 180]);
        assert_eq!(
            ceiling(base, cap, 0),
            base,
            "retry 0 is treated as the first"
        );
        assert_eq!(ceiling(base, cap, u32::MAX), cap, "no overflow");
        assert_eq!(ceiling(Duration::MAX, cap, 40), cap, "no overflow");
        assert_eq!(
            ceiling(base, SECOND, 1),
            SECOND,
            "the cap binds the first retry"
        );
    }

    #[test]
    fn draws_stay_inside_their_bounds() {
        for ceiling in [
            Duration::ZERO,
            Duration::from_nanos(1),
            3 * SECOND,
            Duration::MAX,
        ] {
            for _ in 0..1000 {
                assert!(full_jitter(ceiling) <= ceiling);
            }
        }
        assert_eq!(full_jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn draws_spread_over_the_whole_range() {
        // Deterministic seed for this thread's generator: this checks the mapping, not luck.
        fastrand::seed(7);
        let ceiling = 12 * SECOND;
        let mut quarters = [0u32; 4];
        for _ in 0..4000 {
            let draw = full_jitter(ceiling);
            let quarter = (draw.as_nanos() * 4 / (ceiling.as_nanos() + 1)) as usize;
            quarters[quarter] += 1;
        }
        for count in quarters {
            assert!((800..1200).contains(&count), "{quarters:?}");
        }
    }

    #[test]
    fn successive_draws_do_not_repeat() {
        // Every policy (and every clone tower's `Retry` makes) draws from the same per-thread
        // generator, so sessions that failed together never draw the same sequence.
        let draws: HashSet<Duration> = (0..8000).map(|_| full_jitter(Duration::MAX)).collect();
        assert_eq!(draws.len(), 8000);
    }
}
