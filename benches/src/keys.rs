//! Realistic keys: npm tarball URLs of about 60 bytes, half of them scoped.

/// `n` distinct tarball URLs such as
/// `https://registry.example.test/@scope/pkg-123/-/pkg-123-1.2.3.tgz`.
pub fn tarball_urls(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let (major, minor, patch) = (i % 7, (i / 7) % 13, i % 29);
            if i % 2 == 0 {
                format!(
                    "https://registry.example.test/@scope{}/pkg-{i}/-/pkg-{i}-{major}.{minor}.{patch}.tgz",
                    i % 17
                )
            } else {
                format!(
                    "https://registry.example.test/package-{i}/-/package-{i}-{major}.{minor}.{patch}.tgz"
                )
            }
        })
        .collect()
}

/// A fixed pseudo-random permutation of `0..n` (same seed, same order in every variant), so a
/// benchmark that cycles through the keys does not walk memory in insertion order.
pub fn shuffled_order(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    fastrand::Rng::with_seed(0x5eed).shuffle(&mut order);
    order
}

/// Cycles through `keys` in [`shuffled_order`]: the access pattern of the `hit` and `join` groups.
#[derive(Debug)]
pub struct Cycle<'a> {
    keys: &'a [String],
    order: Vec<usize>,
    at: usize,
}

impl<'a> Cycle<'a> {
    /// Starts cycling through `keys`.
    pub fn new(keys: &'a [String]) -> Self {
        Cycle {
            keys,
            order: shuffled_order(keys.len()),
            at: 0,
        }
    }

    /// The next key.
    #[inline]
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> &'a String {
        let key = &self.keys[self.order[self.at]];
        self.at += 1;
        if self.at == self.order.len() {
            self.at = 0;
        }
        key
    }
}
