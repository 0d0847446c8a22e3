//! Exponential backoff with full jitter, for a retryable error without a server delay.
//!
//! Before retry `n` (1 for the first), the wait is drawn uniformly from
//! `[0, min(base × 2^(n-1), max_wait)]` ("full jitter"): clients that failed together spread
//! out instead of coming back together, and the ceiling still grows exponentially.
//!
//! Randomness comes from SplitMix64 over one atomic counter shared by every clone of a policy,
//! so that the request sessions tower's `Retry` runs on clones of the policy never draw the same
//! sequence. Each policy is seeded from the standard library's per-process random hash keys.
//! This is not cryptographic randomness, and does not need to be.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// SplitMix64's increment (2^64 / φ, odd): the counter visits every `u64` before it repeats.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

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

/// A random source shared by every clone.
#[derive(Clone)]
pub(crate) struct Jitter {
    state: Arc<AtomicU64>,
}

impl Jitter {
    /// A source seeded from the process's random hash keys, the clock and a counter.
    pub(crate) fn new() -> Self {
        static CREATED: AtomicU64 = AtomicU64::new(0);
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(CREATED.fetch_add(1, Ordering::Relaxed));
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        hasher.write_u128(since_epoch.as_nanos());
        Self::with_seed(hasher.finish())
    }

    pub(crate) fn with_seed(seed: u64) -> Self {
        Self {
            state: Arc::new(AtomicU64::new(seed)),
        }
    }

    /// The next 64 random bits. Distinct states give distinct outputs (the mix is a bijection),
    /// so no two draws from one source, by any clone, are the same until 2^64 draws.
    pub(crate) fn next_u64(&self) -> u64 {
        let state = self
            .state
            .fetch_add(GOLDEN_GAMMA, Ordering::Relaxed)
            .wrapping_add(GOLDEN_GAMMA);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A wait drawn uniformly from `[0, ceiling]`, to the nanosecond.
    pub(crate) fn up_to(&self, ceiling: Duration) -> Duration {
        let max = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        // Multiply-high maps 64 random bits onto [0, max] without a division.
        let nanos = ((u128::from(self.next_u64()) * (u128::from(max) + 1)) >> 64) as u64;
        Duration::from_nanos(nanos)
    }
}

impl std::fmt::Debug for Jitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Jitter")
    }
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
        let jitter = Jitter::new();
        for ceiling in [
            Duration::ZERO,
            Duration::from_nanos(1),
            3 * SECOND,
            Duration::MAX,
        ] {
            for _ in 0..1000 {
                assert!(jitter.up_to(ceiling) <= ceiling);
            }
        }
        assert_eq!(jitter.up_to(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn draws_spread_over_the_whole_range() {
        // Deterministic seed: this checks the mapping, not luck.
        let jitter = Jitter::with_seed(7);
        let ceiling = 12 * SECOND;
        let mut quarters = [0u32; 4];
        for _ in 0..4000 {
            let draw = jitter.up_to(ceiling);
            let quarter = (draw.as_nanos() * 4 / (ceiling.as_nanos() + 1)) as usize;
            quarters[quarter] += 1;
        }
        for count in quarters {
            assert!((800..1200).contains(&count), "{quarters:?}");
        }
    }

    #[test]
    fn clones_share_one_sequence_and_never_repeat_each_other() {
        let jitter = Jitter::new();
        let clones: Vec<Jitter> = (0..8).map(|_| jitter.clone()).collect();
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            for clone in &clones {
                assert!(seen.insert(clone.next_u64()), "a repeated draw");
            }
        }
    }

    #[test]
    fn separate_sources_are_seeded_apart() {
        let draws: HashSet<u64> = (0..64).map(|_| Jitter::new().next_u64()).collect();
        assert_eq!(draws.len(), 64);
    }
}
