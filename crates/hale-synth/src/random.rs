//! The deterministic random source behind every generated value.
//!
//! Every stream is a [`ChaCha8Rng`] whose 32-byte key is built from the
//! configured seed, a domain tag naming what the stream is for, and an index
//! (a patient number, a site number, ...). Keying ChaCha directly with these
//! structured bytes is sound because ChaCha is a pseudo-random function of its
//! key: related keys still give unrelated streams. This makes each patient's
//! records a pure function of `(seed, index)`, so patients can be generated in
//! any order and on any number of threads.
//!
//! Byte-identical output across platforms needs more than a portable generator.
//! The helpers here therefore draw integers only as `u32`/`u64` (never `usize`,
//! whose sampling differs between 32- and 64-bit targets) and compute with
//! `f64` using only addition, multiplication, division and `round`, which
//! IEEE 754 defines exactly. Transcendental functions such as `ln` or `cos`
//! are avoided because their last bit differs between math libraries.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Names the purpose of a random stream so that streams for different
/// purposes never coincide even when their indexes do.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Domain {
    /// The stream that generates one patient's records.
    Patient = 1,
    /// The stream that describes one care site (Organization and Location).
    Site = 2,
    /// The stream that describes one clinician (Practitioner and PractitionerRole).
    Clinician = 3,
    /// The stream that describes one payer Organization.
    Payer = 4,
    /// The stream for seed-wide constants such as identifier permutations.
    Constants = 5,
}

/// A deterministic random source with the sampling helpers the generator needs.
pub(crate) struct Random {
    rng: ChaCha8Rng,
}

impl Random {
    /// Returns the stream for `(seed, domain, index)`.
    pub(crate) fn new(seed: u64, domain: Domain, index: u64) -> Self {
        let mut key = [0u8; 32];
        key[0..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&(domain as u64).to_le_bytes());
        key[16..24].copy_from_slice(&index.to_le_bytes());
        // The last eight bytes spell the crate's name so that a stream of
        // another Hale component keyed the same way could never coincide.
        key[24..32].copy_from_slice(b"halesynt");
        Self {
            rng: ChaCha8Rng::from_seed(key),
        }
    }

    /// Returns a random lowercase, hyphenated version-4 UUID, which is a valid
    /// FHIR id (36 characters of `[a-f0-9-]`).
    pub(crate) fn uuid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    }

    /// Returns a uniformly distributed integer in `low..high`.
    pub(crate) fn below(&mut self, low: u32, high: u32) -> u32 {
        debug_assert!(low < high, "empty range {low}..{high}");
        self.rng.random_range(low..high)
    }

    /// Returns a uniformly distributed integer in `low..high`.
    pub(crate) fn below_u64(&mut self, low: u64, high: u64) -> u64 {
        debug_assert!(low < high, "empty range {low}..{high}");
        self.rng.random_range(low..high)
    }

    /// Returns a uniformly distributed integer in `low..high` for signed
    /// quantities such as day offsets.
    pub(crate) fn between(&mut self, low: i64, high: i64) -> i64 {
        debug_assert!(low < high, "empty range {low}..{high}");
        self.rng.random_range(low..high)
    }

    /// Returns `true` with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    /// Returns a uniformly distributed float in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// Returns an approximately normal sample with the given mean and standard
    /// deviation, truncated to `mean ± 3 sd`.
    ///
    /// The sample is the Irwin–Hall sum of four uniforms, rescaled to unit
    /// variance. It is close enough to a Gaussian for synthetic vital signs and
    /// lab values, and unlike Box–Muller it needs no `ln` or `cos`, which keeps
    /// the output identical on every platform.
    pub(crate) fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        // The sum of four U(0, 1) has mean 2 and variance 4/12, so multiplying
        // by the square root of 3 gives unit variance.
        const SQRT_3: f64 = 1.732_050_807_568_877_2;
        let sum = self.unit() + self.unit() + self.unit() + self.unit();
        mean + sd * ((sum - 2.0) * SQRT_3).clamp(-3.0, 3.0)
    }

    /// Returns a uniformly chosen element of a non-empty slice.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let len = u32::try_from(items.len()).expect("tables are small");
        &items[self.below(0, len) as usize]
    }

    /// Returns an element chosen with probability proportional to `weight`,
    /// among the elements for which `weight` is non-zero, or `None` if every
    /// weight is zero.
    pub(crate) fn pick_weighted<'a, T>(
        &mut self,
        items: &'a [T],
        weight: impl Fn(&T) -> u32,
    ) -> Option<&'a T> {
        let total: u32 = items.iter().map(&weight).sum();
        if total == 0 {
            return None;
        }
        let mut ticket = self.below(0, total);
        for item in items {
            let w = weight(item);
            if ticket < w {
                return Some(item);
            }
            ticket -= w;
        }
        unreachable!("the ticket is below the total weight")
    }

    /// Returns a string of `len` random decimal digits.
    pub(crate) fn digits(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b'0' + self.below(0, 10) as u8))
            .collect()
    }
}

/// Rounds `value` to `decimals` decimal places.
///
/// The result is the `f64` nearest to the rounded decimal, which `serde_json`
/// prints in its shortest form (for example `74.72`).
pub(crate) fn round_to(value: f64, decimals: u32) -> f64 {
    let scale = f64::from(10u32.pow(decimals));
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_domain_and_index() {
        let a = Random::new(1, Domain::Patient, 0).uuid();
        let b = Random::new(1, Domain::Site, 0).uuid();
        let c = Random::new(1, Domain::Patient, 1).uuid();
        let d = Random::new(2, Domain::Patient, 0).uuid();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_eq!(a, Random::new(1, Domain::Patient, 0).uuid());
    }

    #[test]
    fn uuid_is_a_fhir_id() {
        let id = Random::new(7, Domain::Patient, 7).uuid();
        assert_eq!(id.len(), 36);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-')
        );
        assert_eq!(&id[14..15], "4", "version nibble");
    }

    #[test]
    fn normal_stays_within_three_sd() {
        let mut random = Random::new(3, Domain::Patient, 3);
        for _ in 0..10_000 {
            let x = random.normal(10.0, 2.0);
            assert!((4.0..=16.0).contains(&x), "{x}");
        }
    }

    #[test]
    fn weighted_pick_skips_zero_weights() {
        let mut random = Random::new(3, Domain::Patient, 4);
        let items = [(1, 0), (2, 5), (3, 0)];
        for _ in 0..100 {
            assert_eq!(random.pick_weighted(&items, |i| i.1).map(|i| i.0), Some(2));
        }
        assert!(random.pick_weighted(&items, |_| 0).is_none());
    }

    #[test]
    fn round_to_prints_short() {
        assert_eq!(
            serde_json::json!(round_to(74.718_2, 2)).to_string(),
            "74.72"
        );
        assert_eq!(serde_json::json!(round_to(36.849_9, 1)).to_string(), "36.8");
    }
}
