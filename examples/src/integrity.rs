//! Subresource Integrity (SRI) strings as npm and pnpm write them (`sha512-<base64>`), and a
//! streaming verifier.
//!
//! A string may hold several space-separated hashes (`sha1-… sha512-…`); [`Integrity::parse`]
//! keeps the strongest one it knows (sha512 > sha384 > sha256 > sha1) and ignores unknown
//! algorithms and options (`?opt`), as the SRI spec asks.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// A hash algorithm of an SRI string, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// SHA-1 (old npm lockfiles).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512 (what npm publishes today).
    Sha512,
}

impl Algorithm {
    /// The SRI prefix, also used as the cache directory name: `sha512`, `sha1`, ….
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha384 => 48,
            Algorithm::Sha512 => 64,
        }
    }

    fn from_name(name: &str) -> Option<Algorithm> {
        Some(match name {
            "sha1" => Algorithm::Sha1,
            "sha256" => Algorithm::Sha256,
            "sha384" => Algorithm::Sha384,
            "sha512" => Algorithm::Sha512,
            _ => return None,
        })
    }
}

/// One parsed SRI hash: algorithm and digest bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Integrity {
    algorithm: Algorithm,
    digest: Vec<u8>,
}

/// Why an SRI string could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntegrityError {
    /// No `algo-base64` entry with a supported algorithm.
    NoSupportedHash(String),
    /// The base64 part is invalid or has the wrong length for its algorithm.
    BadDigest(String),
}

impl fmt::Display for IntegrityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntegrityError::NoSupportedHash(s) => write!(
                f,
                "integrity `{s}` has no sha512, sha384, sha256 or sha1 hash"
            ),
            IntegrityError::BadDigest(s) => write!(f, "integrity `{s}` has a malformed digest"),
        }
    }
}

impl std::error::Error for IntegrityError {}

impl Integrity {
    /// Parses an SRI string, keeping the strongest supported hash.
    pub fn parse(sri: &str) -> Result<Integrity, IntegrityError> {
        let mut best: Option<Integrity> = None;
        for token in sri.split_ascii_whitespace() {
            let Some((algo, rest)) = token.split_once('-') else {
                continue;
            };
            let Some(algorithm) = Algorithm::from_name(&algo.to_ascii_lowercase()) else {
                continue;
            };
            if best.as_ref().is_some_and(|b| b.algorithm >= algorithm) {
                continue;
            }
            let b64 = rest.split('?').next().unwrap_or_default();
            let digest = STANDARD
                .decode(b64)
                .ok()
                .filter(|d| d.len() == algorithm.digest_len())
                .ok_or_else(|| IntegrityError::BadDigest(token.to_string()))?;
            best = Some(Integrity { algorithm, digest });
        }
        best.ok_or_else(|| IntegrityError::NoSupportedHash(sri.trim().to_string()))
    }

    /// The integrity a cache file name gives: the algorithm's name (`sha512`) and the digest in
    /// hex. `None` if either is not one.
    pub fn from_hex(algorithm: &str, hex: &str) -> Option<Integrity> {
        let algorithm = Algorithm::from_name(algorithm)?;
        let digest = hex::decode(hex)
            .ok()
            .filter(|d| d.len() == algorithm.digest_len())?;
        Some(Integrity { algorithm, digest })
    }

    /// Computes the integrity of `bytes` with `algorithm`.
    pub fn compute(algorithm: Algorithm, bytes: &[u8]) -> Integrity {
        let mut hasher = Hasher::new(algorithm);
        hasher.update(bytes);
        hasher.finish()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The raw digest.
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    /// The digest in lowercase hex (used for cache file names).
    pub fn hex(&self) -> String {
        hex::encode(&self.digest)
    }

    /// A verifier to feed the content to.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            expected: self.clone(),
            hasher: Hasher::new(self.algorithm),
            bytes: 0,
        }
    }
}

impl fmt::Display for Integrity {
    /// The canonical SRI form, `sha512-<base64>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.algorithm.name(),
            STANDARD.encode(&self.digest)
        )
    }
}

/// An incremental hash of one of the supported algorithms.
#[derive(Clone)]
pub struct Hasher(HasherInner);

#[derive(Clone)]
enum HasherInner {
    Sha1(Sha1),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Hasher").field(&self.algorithm()).finish()
    }
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algorithm: Algorithm) -> Hasher {
        Hasher(match algorithm {
            Algorithm::Sha1 => HasherInner::Sha1(Sha1::new()),
            Algorithm::Sha256 => HasherInner::Sha256(Sha256::new()),
            Algorithm::Sha384 => HasherInner::Sha384(Sha384::new()),
            Algorithm::Sha512 => HasherInner::Sha512(Sha512::new()),
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self.0 {
            HasherInner::Sha1(_) => Algorithm::Sha1,
            HasherInner::Sha256(_) => Algorithm::Sha256,
            HasherInner::Sha384(_) => Algorithm::Sha384,
            HasherInner::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            HasherInner::Sha1(h) => h.update(bytes),
            HasherInner::Sha256(h) => h.update(bytes),
            HasherInner::Sha384(h) => h.update(bytes),
            HasherInner::Sha512(h) => h.update(bytes),
        }
    }

    /// The integrity of everything fed.
    pub fn finish(self) -> Integrity {
        let algorithm = self.algorithm();
        let digest = match self.0 {
            HasherInner::Sha1(h) => h.finalize().to_vec(),
            HasherInner::Sha256(h) => h.finalize().to_vec(),
            HasherInner::Sha384(h) => h.finalize().to_vec(),
            HasherInner::Sha512(h) => h.finalize().to_vec(),
        };
        Integrity { algorithm, digest }
    }
}

/// Checks streamed content against an expected [`Integrity`].
#[derive(Debug, Clone)]
pub struct Verifier {
    expected: Integrity,
    hasher: Hasher,
    bytes: u64,
}

/// The content did not match the expected integrity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What the lockfile says.
    pub expected: Integrity,
    /// What the bytes hash to.
    pub actual: Integrity,
    /// How many bytes were hashed.
    pub bytes: u64,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "integrity mismatch: expected {}, got {} ({} bytes)",
            self.expected, self.actual, self.bytes
        )
    }
}

impl std::error::Error for Mismatch {}

impl Verifier {
    /// Feeds the next piece of content.
    pub fn update(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len() as u64;
        self.hasher.update(bytes);
    }

    /// Bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Compares the hash of everything fed with the expected one.
    pub fn finish(self) -> Result<Integrity, Mismatch> {
        let actual = self.hasher.finish();
        if actual == self.expected {
            Ok(actual)
        } else {
            Err(Mismatch {
                expected: self.expected,
                actual,
                bytes: self.bytes,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // printf 'hello' | openssl dgst -sha512 -binary | base64 (and -sha1).
    const HELLO_512: &str = "sha512-m3HSJL1i83hdltRq0+o9czGb+8KJDKra4t/3JRlnPKcjI8PZm6XBHXx6zG4UuMXaDEZjR1wuXDre9G9zvN7AQw==";
    const HELLO_1: &str = "sha1-qvTGHdzF6KLavt4PO0gs2a6pQ00=";

    #[test]
    fn parses_and_round_trips() {
        let i = Integrity::parse(HELLO_512).unwrap();
        assert_eq!(i.algorithm(), Algorithm::Sha512);
        assert_eq!(i.digest().len(), 64);
        assert_eq!(i.to_string(), HELLO_512);
        assert_eq!(Integrity::compute(Algorithm::Sha512, b"hello"), i);
        assert_eq!(
            Integrity::compute(Algorithm::Sha1, b"hello"),
            Integrity::parse(HELLO_1).unwrap()
        );
    }

    #[test]
    fn picks_the_strongest_of_several() {
        let both = format!("{HELLO_1} {HELLO_512}?opt foo-bar");
        assert_eq!(
            Integrity::parse(&both).unwrap().algorithm(),
            Algorithm::Sha512
        );
        let reversed = format!("  {HELLO_512}\t{HELLO_1} ");
        assert_eq!(
            Integrity::parse(&reversed).unwrap().algorithm(),
            Algorithm::Sha512
        );
    }

    #[test]
    fn rejects_unusable_strings() {
        assert!(matches!(
            Integrity::parse("md5-abc"),
            Err(IntegrityError::NoSupportedHash(_))
        ));
        assert!(matches!(
            Integrity::parse(""),
            Err(IntegrityError::NoSupportedHash(_))
        ));
        assert!(matches!(
            Integrity::parse("sha512-not*base64"),
            Err(IntegrityError::BadDigest(_))
        ));
        // Valid base64, wrong length for sha512.
        assert!(matches!(
            Integrity::parse(HELLO_1.replace("sha1", "sha512").as_str()),
            Err(IntegrityError::BadDigest(_))
        ));
    }

    #[test]
    fn verifies_streams() {
        let i = Integrity::parse(HELLO_512).unwrap();
        let mut v = i.verifier();
        v.update(b"hel");
        v.update(b"lo");
        assert_eq!(v.bytes(), 5);
        assert_eq!(v.finish().unwrap(), i);

        let mut v = i.verifier();
        v.update(b"hellO");
        let err = v.finish().unwrap_err();
        assert_eq!(err.bytes, 5);
        assert!(
            err.to_string()
                .starts_with("integrity mismatch: expected sha512-m3HSJL1i")
        );
    }
}
