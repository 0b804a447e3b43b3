//! Champion/challenger routing: a table swapped atomically as a whole, and a portable hash.
//!
//! # The assignment rule (reproducible in any language)
//!
//! For a request key `k` (bytes; UTF-8 for strings) and the route's experiment salt `s`:
//!
//! ```text
//! h = FNV-1a-64 over the bytes  s ‖ 0x00 ‖ k
//!     (offset basis 0xcbf29ce484222325, prime 0x00000100000001b3, per byte: h ^= b; h *= prime)
//! h = mix(h), where mix is the SplitMix64 finaliser:
//!     h ^= h >> 30; h *= 0xbf58476d1ce4e5b9; h ^= h >> 27; h *= 0x94d049bb133111eb; h ^= h >> 31
//! bucket    = ((h >> 32) * 10000) >> 32          -- an integer in [0, 10000)
//! threshold = round(challenger_share * 10000)     -- round half away from zero
//! arm       = challenger if bucket < threshold else champion
//! ```
//!
//! All arithmetic is on unsigned 64-bit integers with wrap-around. The same key always gets the
//! same arm while the salt and share are unchanged (sticky), and raising the share only moves
//! champion keys to the challenger, never the reverse. Without a key the caller supplies a
//! uniformly random `u64` that replaces `h` (the bucket formula is the same), so this module
//! never draws randomness itself.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::codec::{Reader, Writer};
use crate::error::{CoreError, Result};

/// Share resolution: shares are honoured to 1/BUCKETS (0.01 %).
pub const BUCKETS: u64 = 10_000;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const MAGIC: &[u8; 4] = b"LWRT";
const VERSION: u16 = 1;

/// Which side of an experiment served a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arm {
    Champion,
    Challenger,
}

impl Arm {
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Champion => "champion",
            Arm::Challenger => "challenger",
        }
    }
}

/// The route of one model type.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRoute {
    pub champion: String,
    pub challenger: Option<String>,
    /// Fraction of traffic sent to the challenger, in `[0, 1]`.
    pub challenger_share: f64,
    /// Experiment salt: a new salt reshuffles which keys land on the challenger.
    pub salt: String,
}

impl ModelRoute {
    fn validate(&self, model_type: &str) -> Result<()> {
        let field = |f: &str| format!("routes[{}].{f}", crate::ingest::excerpt(model_type));
        if self.champion.is_empty() {
            return Err(CoreError::invalid(field("champion"), "must not be empty"));
        }
        if !(0.0..=1.0).contains(&self.challenger_share) {
            return Err(CoreError::invalid(
                field("challenger_share"),
                format!("must be in [0, 1], got {}", self.challenger_share),
            ));
        }
        match &self.challenger {
            Some(c) if c.is_empty() => {
                Err(CoreError::invalid(field("challenger"), "must not be empty when set"))
            }
            Some(c) if *c == self.champion => {
                Err(CoreError::invalid(field("challenger"), "must differ from the champion"))
            }
            None if self.challenger_share > 0.0 => {
                Err(CoreError::invalid(field("challenger_share"), "is positive but there is no challenger"))
            }
            _ => Ok(()),
        }
    }

    /// Buckets (out of [`BUCKETS`]) that go to the challenger.
    pub fn threshold(&self) -> u64 {
        if self.challenger.is_none() {
            return 0;
        }
        (self.challenger_share * BUCKETS as f64).round() as u64
    }

    /// Arm for a bucket in `[0, BUCKETS)`.
    pub fn arm_for_bucket(&self, bucket: u64) -> Arm {
        if bucket < self.threshold() {
            Arm::Challenger
        } else {
            Arm::Champion
        }
    }

    pub fn model_for(&self, arm: Arm) -> &str {
        match (arm, &self.challenger) {
            (Arm::Challenger, Some(c)) => c,
            _ => &self.champion,
        }
    }
}

/// A complete routing table; replaced as a whole, never edited in place.
#[derive(Clone, Debug, PartialEq)]
pub struct RoutingTable {
    pub generation: u64,
    pub routes: BTreeMap<String, ModelRoute>,
}

impl RoutingTable {
    /// Validates every route (model types non-empty, shares in range, ids consistent).
    pub fn new(generation: u64, routes: BTreeMap<String, ModelRoute>) -> Result<Self> {
        for (model_type, route) in &routes {
            if model_type.is_empty() {
                return Err(CoreError::invalid("routes", "model type must not be empty"));
            }
            route.validate(model_type)?;
        }
        Ok(RoutingTable { generation, routes })
    }

    pub fn empty() -> Self {
        RoutingTable { generation: 0, routes: BTreeMap::new() }
    }

    pub fn route(&self, model_type: &str) -> Result<&ModelRoute> {
        self.routes.get(model_type).ok_or_else(|| CoreError::UnknownModelType(model_type.to_owned()))
    }

    /// Deterministic assignment of `key` (see the module docs for the exact rule).
    pub fn decide(&self, model_type: &str, key: &[u8]) -> Result<(Arm, &str)> {
        let route = self.route(model_type)?;
        let arm = route.arm_for_bucket(bucket(&route.salt, key));
        Ok((arm, route.model_for(arm)))
    }

    /// Assignment for a request without a key, from a caller-supplied uniform `u64`.
    pub fn decide_random(&self, model_type: &str, random: u64) -> Result<(Arm, &str)> {
        let route = self.route(model_type)?;
        let arm = route.arm_for_bucket(bucket_of_hash(random));
        Ok((arm, route.model_for(arm)))
    }

    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::with_header(MAGIC, VERSION);
        w.u64(self.generation);
        w.len(self.routes.len())?;
        for (model_type, r) in &self.routes {
            w.str(model_type)?;
            w.str(&r.champion)?;
            w.str(r.challenger.as_deref().unwrap_or(""))?;
            w.f64(r.challenger_share);
            w.str(&r.salt)?;
        }
        Ok(w.finish())
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let (mut r, _version) = Reader::with_header(bytes, MAGIC, VERSION)?;
        let generation = r.u64()?;
        let n = r.len(4 * 4 + 8)?;
        let mut routes = BTreeMap::new();
        for _ in 0..n {
            let model_type = r.str()?.to_owned();
            let champion = r.str()?.to_owned();
            let challenger = Some(r.str()?.to_owned()).filter(|c| !c.is_empty());
            let challenger_share = r.f64()?;
            let salt = r.str()?.to_owned();
            routes.insert(model_type, ModelRoute { champion, challenger, challenger_share, salt });
        }
        r.finish()?;
        RoutingTable::new(generation, routes).map_err(|e| CoreError::Codec(e.to_string()))
    }
}

/// FNV-1a-64 over `salt ‖ 0x00 ‖ key`, then the SplitMix64 finaliser.
pub fn hash(salt: &str, key: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    for &b in salt.as_bytes().iter().chain(std::iter::once(&0u8)).chain(key) {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    mix(h)
}

fn mix(mut h: u64) -> u64 {
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

fn bucket_of_hash(h: u64) -> u64 {
    ((h >> 32) * BUCKETS) >> 32
}

/// The bucket in `[0, BUCKETS)` of a key under a salt.
pub fn bucket(salt: &str, key: &[u8]) -> u64 {
    bucket_of_hash(hash(salt, key))
}

/// Holds the table in force and swaps it atomically; readers never see a half-applied table.
pub struct Router {
    current: RwLock<Arc<RoutingTable>>,
}

impl Default for Router {
    fn default() -> Self {
        Router { current: RwLock::new(Arc::new(RoutingTable::empty())) }
    }
}

impl Router {
    pub fn new(table: RoutingTable) -> Self {
        Router { current: RwLock::new(Arc::new(table)) }
    }

    /// The table in force (a cheap `Arc` clone).
    pub fn current(&self) -> Arc<RoutingTable> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Installs `table` unless it is stale: a lower generation is refused, and so is the same
    /// generation with different content (the same table again is accepted: pushes are
    /// idempotent). Returns whether the table in force changed.
    pub fn swap(&self, table: RoutingTable) -> Result<bool> {
        let mut guard = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let current = guard.generation;
        if table.generation < current || (table.generation == current && **guard != table && current != 0) {
            return Err(CoreError::StaleGeneration { current, offered: table.generation });
        }
        let changed = **guard != table;
        *guard = Arc::new(table);
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(generation: u64, share: f64) -> RoutingTable {
        let mut routes = BTreeMap::new();
        routes.insert(
            "doc".to_owned(),
            ModelRoute {
                champion: "doc_1.0.0".into(),
                challenger: Some("doc_1.0.1".into()),
                challenger_share: share,
                salt: "exp-1".into(),
            },
        );
        RoutingTable::new(generation, routes).unwrap()
    }

    #[test]
    fn hash_is_pinned() {
        // Pinned values: any change here breaks cross-language reproducibility.
        assert_eq!(hash("", b""), mix(0xaf63_bd4c_8601_b7df));
        assert_eq!(bucket("exp-1", b"user-42"), bucket("exp-1", b"user-42"));
        assert_ne!(hash("a", b"b"), hash("ab", b""));
    }

    #[test]
    fn split_is_honoured_and_sticky() {
        let t = table(1, 0.1);
        let n = 200_000;
        let challenger = (0..n)
            .filter(|i| t.decide("doc", format!("k{i}").as_bytes()).unwrap().0 == Arm::Challenger)
            .count();
        let share = challenger as f64 / n as f64;
        assert!((share - 0.1).abs() < 0.004, "share {share}");
        let first = t.decide("doc", b"abc").unwrap();
        for _ in 0..10 {
            assert_eq!(t.decide("doc", b"abc").unwrap(), first);
        }
    }

    #[test]
    fn raising_share_only_moves_champion_keys() {
        let lo = table(1, 0.1);
        let hi = table(2, 0.5);
        for i in 0..10_000 {
            let k = format!("k{i}");
            if lo.decide("doc", k.as_bytes()).unwrap().0 == Arm::Challenger {
                assert_eq!(hi.decide("doc", k.as_bytes()).unwrap().0, Arm::Challenger);
            }
        }
    }

    #[test]
    fn stale_generations_are_refused() {
        let r = Router::new(table(5, 0.1));
        assert_eq!(r.swap(table(4, 0.1)), Err(CoreError::StaleGeneration { current: 5, offered: 4 }));
        assert!(r.swap(table(5, 0.2)).is_err());
        assert_eq!(r.swap(table(5, 0.1)), Ok(false));
        assert_eq!(r.swap(table(6, 0.2)), Ok(true));
        assert_eq!(r.current().generation, 6);
    }

    #[test]
    fn unknown_and_invalid() {
        let t = table(1, 0.1);
        assert_eq!(t.decide("nope", b"k"), Err(CoreError::UnknownModelType("nope".into())));
        let mut routes = BTreeMap::new();
        routes.insert(
            "doc".to_owned(),
            ModelRoute { champion: "a".into(), challenger: None, challenger_share: 0.5, salt: String::new() },
        );
        assert!(matches!(RoutingTable::new(1, routes), Err(CoreError::InvalidInput { .. })));
    }

    #[test]
    fn codec_round_trip() {
        let t = table(9, 0.25);
        let bytes = t.encode().unwrap();
        assert_eq!(RoutingTable::decode(&bytes).unwrap(), t);
        assert!(RoutingTable::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
