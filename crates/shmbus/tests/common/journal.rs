//! Self-checking journal messages: the length, type tag and every payload byte of message `seq`
//! are derived from `seq`, so a reader can tell a correct message from a torn, stale, shifted or
//! corrupted one without being told what was written. Plus a small deterministic PRNG.

/// SplitMix64's finaliser: a well-mixed 64-bit hash of `x`.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Shortest payload [`payload`] makes.
pub const MIN_LEN: usize = 8;
/// Longest payload [`payload`] makes.
pub const MAX_LEN: usize = 120;

/// Payload length of message `seq`: 8..=120 bytes.
pub fn payload_len(seq: u64) -> usize {
    MIN_LEN + (mix(seq) % (MAX_LEN - MIN_LEN + 1) as u64) as usize
}

/// Type tag of message `seq`.
pub fn msg_type(seq: u64) -> u16 {
    (mix(seq ^ 0x5555) % 1000) as u16
}

/// Fills `out` with the payload of message `seq`: its first 8 bytes are `seq`, the rest a hash
/// stream seeded by `seq`.
pub fn payload_into(seq: u64, out: &mut Vec<u8>) {
    out.clear();
    let len = payload_len(seq);
    out.extend_from_slice(&seq.to_le_bytes());
    let mut state = mix(seq.wrapping_mul(31));
    while out.len() < len {
        state = mix(state);
        let take = (len - out.len()).min(8);
        out.extend_from_slice(&state.to_le_bytes()[..take]);
    }
}

/// The payload of message `seq`.
pub fn payload(seq: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(MAX_LEN);
    payload_into(seq, &mut v);
    v
}

/// Whether (`seq`, `ty`, `bytes`) is exactly the message [`payload`] makes for `seq`.
pub fn is_valid(seq: u64, ty: u16, bytes: &[u8]) -> bool {
    if ty != msg_type(seq) || bytes.len() != payload_len(seq) {
        return false;
    }
    let mut want = [0u8; MAX_LEN];
    want[..8].copy_from_slice(&seq.to_le_bytes());
    let mut state = mix(seq.wrapping_mul(31));
    let mut at = 8;
    while at < bytes.len() {
        state = mix(state);
        let take = (bytes.len() - at).min(8);
        want[at..at + take].copy_from_slice(&state.to_le_bytes()[..take]);
        at += take;
    }
    want[..bytes.len()] == *bytes
}

/// A deterministic pseudo-random generator (SplitMix64): the same seed gives the same test.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..hi` (`lo < hi`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
}
