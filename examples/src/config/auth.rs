//! Per-registry credentials, matched to a URL the way npm does.
//!
//! npm keys credentials by the "nerf dart" of a registry: its URL without scheme, query or
//! credentials, `//host[:port]/path/` (`//127.0.0.1:4873/npm/:_authToken=…`). A request for
//! `https://host/npm/pkg/-/pkg-1.0.0.tgz` carries the credentials of the longest such prefix of
//! `//host/npm/pkg/-/pkg-1.0.0.tgz` that has any, cut at `/` boundaries; a URL on another host or
//! path gets none. The default port of the scheme is left out on both sides.
//!
//! Keys read: `:_authToken` (`Bearer`), `:_auth` (base64 `user:password`, `Basic`), and
//! `:username` with `:_password` (the password base64-encoded, `Basic`).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The credentials of every configured registry. [`fmt::Debug`] shows where, never what.
#[derive(Clone, Default)]
pub struct Auth {
    entries: Vec<(String, Credential)>,
    secrets: Vec<String>,
}

/// One registry's credentials.
#[derive(Clone, PartialEq, Eq)]
enum Credential {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic <base64 user:password>`.
    Basic(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.entries.iter().map(|(k, _)| k))
            .finish()
    }
}

/// The suffixes of per-registry credential keys.
pub const CREDENTIAL_SUFFIXES: [&str; 4] = [":_authToken", ":_auth", ":username", ":_password"];

impl Auth {
    /// Builds from `(key, value)` settings, highest precedence first (the first value of a key
    /// wins). Keys other than `//…:_authToken`, `:_auth`, `:username`, `:_password` are ignored.
    pub fn from_settings<'a>(settings: impl IntoIterator<Item = (&'a str, &'a str)>) -> Auth {
        #[derive(Default)]
        struct Parts {
            token: Option<String>,
            auth: Option<String>,
            username: Option<String>,
            password: Option<String>,
        }
        let mut parts: Vec<(String, Parts)> = Vec::new();
        for (key, value) in settings {
            let Some((nerf, field)) = split_credential_key(key) else {
                continue;
            };
            let nerf = normalize_nerf(nerf);
            let i = match parts.iter().position(|(k, _)| *k == nerf) {
                Some(i) => i,
                None => {
                    parts.push((nerf, Parts::default()));
                    parts.len() - 1
                }
            };
            let p = &mut parts[i].1;
            let slot = match field {
                ":_authToken" => &mut p.token,
                ":_auth" => &mut p.auth,
                ":username" => &mut p.username,
                _ => &mut p.password,
            };
            if slot.is_none() && !value.is_empty() {
                *slot = Some(value.to_string());
            }
        }
        let mut auth = Auth::default();
        for (nerf, p) in parts {
            let credential = if let Some(token) = p.token {
                auth.secrets.push(token.clone());
                Credential::Bearer(token)
            } else if let Some(basic) = p.auth {
                auth.secrets.push(basic.clone());
                if let Some(plain) = decode(&basic) {
                    auth.secrets
                        .extend(plain.split_once(':').map(|(_, pw)| pw.to_string()));
                }
                Credential::Basic(basic)
            } else if let (Some(user), Some(password)) = (p.username, p.password) {
                let plain = decode(&password).unwrap_or_else(|| password.clone());
                let basic = STANDARD.encode(format!("{user}:{plain}"));
                auth.secrets.extend([password, plain, basic.clone()]);
                Credential::Basic(basic)
            } else {
                continue;
            };
            auth.entries.push((nerf, credential));
        }
        auth.secrets.retain(|s| s.len() >= 4);
        auth.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        auth
    }

    /// Whether no credentials are configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `Authorization` header value for a request to `url`, if a registry whose nerf dart is
    /// a prefix of it has credentials (the longest wins).
    pub fn authorization(&self, url: &str) -> Option<String> {
        let target = nerf_of_url(url)?;
        self.entries
            .iter()
            .filter(|(nerf, _)| covers(nerf, &target))
            .max_by_key(|(nerf, _)| nerf.len())
            .map(|(_, c)| match c {
                Credential::Bearer(t) => format!("Bearer {t}"),
                Credential::Basic(b) => format!("Basic {b}"),
            })
    }

    /// `text` with every configured secret replaced by `***` (and any `user:password@` in a URL).
    pub fn redact(&self, text: &str) -> String {
        let mut out = redact_userinfo(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
}

/// Splits `//host/path/:_authToken` into the nerf dart and the field.
fn split_credential_key(key: &str) -> Option<(&str, &'static str)> {
    if !key.starts_with("//") {
        return None;
    }
    CREDENTIAL_SUFFIXES
        .into_iter()
        .find_map(|suffix| key.strip_suffix(suffix).map(|nerf| (nerf, suffix)))
}

/// A nerf dart as compared: lowercase host, no default port, no trailing `/`.
fn normalize_nerf(nerf: &str) -> String {
    let rest = nerf.trim_start_matches('/');
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.to_ascii_lowercase();
    let host = host
        .strip_suffix(":443")
        .or_else(|| host.strip_suffix(":80"))
        .unwrap_or(&host);
    format!("//{host}/{path}").trim_end_matches('/').to_string()
}

/// `//host[:port]/path` of a URL (scheme's default port dropped; no query, fragment or
/// credentials), or `None` if it is not an http(s) URL.
pub fn nerf_of_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = host.to_ascii_lowercase();
    let host = host.strip_suffix(default_port).unwrap_or(&host);
    Some(format!("//{host}/{path}").trim_end_matches('/').to_string())
}

/// The config key that would carry credentials for a registry at `registry_url`
/// (`//host/path/:_authToken`).
pub fn token_key(registry_url: &str) -> String {
    let nerf = nerf_of_url(registry_url).unwrap_or_else(|| registry_url.to_string());
    format!("{nerf}/:_authToken")
}

/// Whether nerf dart `prefix` covers `target` (equal, or a prefix ending at a `/`).
fn covers(prefix: &str, target: &str) -> bool {
    target == prefix
        || (target.starts_with(prefix) && target.as_bytes().get(prefix.len()) == Some(&b'/'))
}

fn decode(b64: &str) -> Option<String> {
    String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()
}

/// Replaces `user:password@` (or `user@`) after `://` with `***@`.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '/' | '`' | '\'' | '"' | ')'))
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// The HTTP client asks for every request, redirects included, so a token goes only where
/// npm would send it.
impl crate::http::Credentials for Auth {
    fn authorization(&self, url: &str) -> Option<String> {
        Auth::authorization(self, url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(settings: &[(&str, &str)]) -> Auth {
        Auth::from_settings(settings.iter().copied())
    }

    #[test]
    fn longest_matching_registry_path_wins() {
        let a = auth(&[
            ("//127.0.0.1:7/:_authToken", "host-token"),
            ("//127.0.0.1:7/private/:_authToken", "private-token"),
            ("registry", "http://127.0.0.1:7/"),
        ]);
        let get = |u: &str| a.authorization(u);
        assert_eq!(
            get("http://127.0.0.1:7/private/p/-/p-1.0.0.tgz").as_deref(),
            Some("Bearer private-token")
        );
        assert_eq!(
            get("http://127.0.0.1:7/privateer/p/-/p-1.0.0.tgz").as_deref(),
            Some("Bearer host-token")
        );
        assert_eq!(
            get("https://127.0.0.1:7/x").as_deref(),
            Some("Bearer host-token")
        );
        assert_eq!(get("http://127.0.0.1:8/x"), None);
        assert_eq!(get("http://127.0.0.10:7/x"), None);
        assert_eq!(get("ftp://127.0.0.1:7/x"), None);
    }

    #[test]
    fn default_ports_and_case() {
        let a = auth(&[("//Reg.Example:443/npm/:_authToken", "t")]);
        assert!(a.authorization("https://reg.example/npm/a.tgz").is_some());
        assert!(
            a.authorization("https://reg.example:443/npm/a.tgz")
                .is_some()
        );
        assert!(
            a.authorization("https://reg.example:8443/npm/a.tgz")
                .is_none()
        );
        assert!(a.authorization("https://reg.example/npmx/a.tgz").is_none());
    }

    #[test]
    fn basic_forms() {
        let user_pass = STANDARD.encode("alice:pw1234");
        let a = auth(&[
            ("//127.0.0.1:1/:_auth", user_pass.as_str()),
            ("//127.0.0.1:2/:username", "bob"),
            ("//127.0.0.1:2/:_password", &STANDARD.encode("hunter22")),
            ("//127.0.0.1:3/:username", "carol"),
        ]);
        assert_eq!(
            a.authorization("http://127.0.0.1:1/a.tgz"),
            Some(format!("Basic {user_pass}"))
        );
        assert_eq!(
            a.authorization("http://127.0.0.1:2/a.tgz"),
            Some(format!("Basic {}", STANDARD.encode("bob:hunter22")))
        );
        // A username without password carries nothing.
        assert_eq!(a.authorization("http://127.0.0.1:3/a.tgz"), None);
        let shown = format!("{a:?}");
        assert!(shown.contains("//127.0.0.1:1"), "{shown}");
        assert!(!shown.contains(&user_pass), "{shown}");
    }

    #[test]
    fn the_first_setting_wins() {
        let a = auth(&[
            ("//127.0.0.1:1/:_authToken", "from-flags"),
            ("//127.0.0.1:1/:_authToken", "from-file"),
        ]);
        assert_eq!(
            a.authorization("http://127.0.0.1:1/a").as_deref(),
            Some("Bearer from-flags")
        );
    }

    #[test]
    fn redacts_secrets_and_url_credentials() {
        let a = auth(&[
            ("//127.0.0.1:1/:_authToken", "tok-123456"),
            ("//127.0.0.1:2/:username", "bob"),
            ("//127.0.0.1:2/:_password", &STANDARD.encode("hunter22")),
        ]);
        assert_eq!(
            a.redact("bad token tok-123456 or hunter22"),
            "bad token *** or ***"
        );
        assert_eq!(
            a.redact("GET http://u:p@127.0.0.1:1/a.tgz: 401"),
            "GET http://***@127.0.0.1:1/a.tgz: 401"
        );
        assert_eq!(a.redact("http://127.0.0.1/a@b"), "http://127.0.0.1/a@b");
    }

    #[test]
    fn keys_for_messages() {
        assert_eq!(
            token_key("https://127.0.0.1:443/npm/"),
            "//127.0.0.1/npm/:_authToken"
        );
        assert_eq!(token_key("http://127.0.0.1:9"), "//127.0.0.1:9/:_authToken");
    }
}
