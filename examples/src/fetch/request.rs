//! [`Request`]: the scheduler's key, carrying what a download needs.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::integrity::Integrity;

/// One tarball to download: the scheduler's key.
///
/// Equality and hashing use the URL only, so two packages served by the same URL share one
/// download, and the integrity and size ride along with the key instead of in a side table.
/// Cheap to clone.
#[derive(Clone)]
pub struct Request(Arc<Inner>);

struct Inner {
    url: String,
    package: String,
    integrity: Option<Integrity>,
    size: Option<u64>,
}

impl Request {
    /// A request for `package` (`name@version`) at `url`, to be checked against `integrity`;
    /// `size` when known in advance (it sizes the progress bar before the response says).
    pub fn new(
        package: impl Into<String>,
        url: impl Into<String>,
        integrity: Option<Integrity>,
        size: Option<u64>,
    ) -> Request {
        Request(Arc::new(Inner {
            url: url.into(),
            package: package.into(),
            integrity,
            size,
        }))
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.0.url
    }

    /// The package key (`name@version`), for messages.
    pub fn package(&self) -> &str {
        &self.0.package
    }

    /// The expected integrity, if the lockfile gives one.
    pub fn integrity(&self) -> Option<&Integrity> {
        self.0.integrity.as_ref()
    }

    /// The expected size in bytes, if known.
    pub fn size(&self) -> Option<u64> {
        self.0.size
    }
}

impl PartialEq for Request {
    fn eq(&self, other: &Self) -> bool {
        self.0.url == other.0.url
    }
}

impl Eq for Request {}

impl Hash for Request {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.url.hash(state);
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Request").field(&self.0.package).finish()
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.package)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn identity_is_the_url() {
        let a = Request::new("a@1.0.0", "http://127.0.0.1:1/a.tgz", None, None);
        let b = Request::new("alias@1.0.0", "http://127.0.0.1:1/a.tgz", None, Some(3));
        let c = Request::new("a@1.0.0", "http://127.0.0.1:1/c.tgz", None, None);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let set: HashSet<Request> = [a, b, c].into_iter().collect();
        assert_eq!(set.len(), 2);
    }
}
