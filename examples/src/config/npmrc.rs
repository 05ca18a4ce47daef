//! Reading one `.npmrc` (npm's `ini` dialect) into `key = value` entries, with `${VAR}` expanded.
//!
//! - `key=value` per line; `;` and `#` start a comment line; `[section]` headers are ignored.
//! - A value in double quotes is a JSON string (so `ca="-----BEGIN…\n…"` holds newlines); in
//!   single quotes it is taken as is; otherwise it ends at an unescaped `;` or `#`.
//! - `key[]=value` lines add to a list (`ca[]=…` for several certificates).
//! - `${NAME}` in keys and values is replaced by the environment variable `NAME`; `${NAME?}` by
//!   nothing when it is unset; `\${NAME}` stays literal. An unset `${NAME}` stays as written, with
//!   a warning (as pnpm does).

use super::Env;

/// One setting of a config file or of the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, as written (after expansion): `registry`, `//host/:_authToken`, …
    pub key: String,
    /// The value(s): one, or several for `key[]=` lines.
    pub value: Value,
    /// 1-based line in the file (0 for the environment).
    pub line: usize,
}

impl std::fmt::Debug for Entry {
    /// Never shows a value: it may be a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// A setting's value.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// `key=value`.
    One(String),
    /// `key[]=a`, `key[]=b`.
    List(Vec<String>),
}

impl std::fmt::Debug for Value {
    /// The shape only: a value may be a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::One(s) => write!(f, "One(<{} chars>)", s.len()),
            Value::List(v) => write!(f, "List(<{} values>)", v.len()),
        }
    }
}

impl Value {
    /// The value as one string (the last of a list).
    pub fn as_str(&self) -> &str {
        match self {
            Value::One(s) => s,
            Value::List(v) => v.last().map_or("", String::as_str),
        }
    }

    /// The value as a list (one value is a list of one).
    pub fn to_list(&self) -> Vec<String> {
        match self {
            Value::One(s) => vec![s.clone()],
            Value::List(v) => v.clone(),
        }
    }
}

/// Parses `.npmrc` text. Later lines win over earlier ones for the same key. Warnings (unset
/// variables) are pushed to `warnings` with `origin` and the line.
pub fn parse(text: &str, env: &Env, origin: &str, warnings: &mut Vec<String>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with([';', '#', '[']) {
            continue;
        }
        let (raw_key, raw_value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (line, "true"),
        };
        let mut warn = |name: &str| {
            warnings.push(format!(
                "{origin}:{}: ${{{name}}} is not set in the environment",
                i + 1
            ))
        };
        let key = expand(&unquote(raw_key), env, &mut warn);
        let value = expand(&unquote(raw_value), env, &mut warn);
        let (key, is_list) = match key.strip_suffix("[]") {
            Some(k) => (k.to_string(), true),
            None => (key, false),
        };
        let existing = out.iter().position(|e| e.key == key);
        let value = match (is_list, existing.map(|p| out.remove(p))) {
            (true, Some(Entry { value: old, .. })) => {
                let mut list = old.to_list();
                list.push(value);
                Value::List(list)
            }
            (true, None) => Value::List(vec![value]),
            (false, _) => Value::One(value),
        };
        out.push(Entry {
            key,
            value,
            line: i + 1,
        });
    }
    out
}

/// `ini`'s value rules: JSON for double quotes, verbatim for single quotes, else up to an
/// unescaped `;` or `#`.
fn unquote(raw: &str) -> String {
    if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
        if let Ok(s) = serde_json::from_str::<String>(raw) {
            return s;
        }
        return raw[1..raw.len() - 1].to_string();
    }
    if raw.len() >= 2 && raw.starts_with('\'') && raw.ends_with('\'') {
        return raw[1..raw.len() - 1].to_string();
    }
    let mut out = String::new();
    let mut escaped = false;
    for c in raw.chars() {
        if escaped {
            if !matches!(c, '\\' | ';' | '#') {
                out.push('\\');
            }
            out.push(c);
            escaped = false;
        } else if c == ';' || c == '#' {
            break;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    if escaped {
        out.push('\\');
    }
    out.trim().to_string()
}

/// Replaces `${NAME}` and `${NAME?}`; calls `unset` for a `${NAME}` not in `env`.
pub fn expand(text: &str, env: &Env, unset: &mut dyn FnMut(&str)) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let backslashes = rest[..start].len() - rest[..start].trim_end_matches('\\').len();
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        let inner = &rest[start + 2..start + 2 + len];
        let end = start + 3 + len;
        let (name, optional) = match inner.strip_suffix('?') {
            Some(n) => (n, true),
            None => (inner, false),
        };
        let valid = !name.is_empty() && !name.contains(['$', '{', '}', '?']);
        out.push_str(&rest[..start - backslashes]);
        out.push_str(&"\\".repeat(backslashes / 2));
        if !valid || backslashes % 2 == 1 {
            out.push_str(&rest[start..end]);
        } else {
            match env.get(name) {
                Some(v) => out.push_str(v),
                None if optional => {}
                None => {
                    unset(name);
                    out.push_str(&rest[start..end]);
                }
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env::from_pairs([("TOKEN", "s3cret"), ("EMPTY", "")])
    }

    #[test]
    fn expands_variables() {
        let mut unset = Vec::new();
        let mut note = |n: &str| unset.push(n.to_string());
        let e = env();
        assert_eq!(expand("a${TOKEN}b", &e, &mut note), "as3cretb");
        assert_eq!(expand("${MISSING?}x", &e, &mut note), "x");
        assert_eq!(expand("${MISSING}", &e, &mut note), "${MISSING}");
        assert_eq!(expand("\\${TOKEN}", &e, &mut note), "${TOKEN}");
        assert_eq!(expand("\\\\${TOKEN}", &e, &mut note), "\\s3cret");
        assert_eq!(expand("${EMPTY}|${}", &e, &mut note), "|${}");
        assert_eq!(unset, ["MISSING"]);
    }

    #[test]
    fn parses_the_ini_dialect() {
        let text = "\
; comment
# comment
[section]
registry = http://127.0.0.1:1/ ; trailing comment
//127.0.0.1:1/:_authToken=${TOKEN}
ca[]=\"-----BEGIN CERTIFICATE-----\\nAAA\\n-----END CERTIFICATE-----\"
ca[]='second'
strict-ssl
quoted='a;b#c'
escaped=a\\;b
registry=http://127.0.0.1:2/
";
        let mut warnings = Vec::new();
        let entries = parse(text, &env(), "x/.npmrc", &mut warnings);
        let get = |k: &str| entries.iter().find(|e| e.key == k).map(|e| e.value.clone());
        assert_eq!(
            get("registry"),
            Some(Value::One("http://127.0.0.1:2/".into()))
        );
        assert_eq!(
            get("//127.0.0.1:1/:_authToken"),
            Some(Value::One("s3cret".into()))
        );
        assert_eq!(
            get("ca"),
            Some(Value::List(vec![
                "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----".into(),
                "second".into()
            ]))
        );
        assert_eq!(get("strict-ssl"), Some(Value::One("true".into())));
        assert_eq!(get("quoted"), Some(Value::One("a;b#c".into())));
        assert_eq!(get("escaped"), Some(Value::One("a;b".into())));
        assert!(warnings.is_empty(), "{warnings:?}");

        parse("_authToken=${NOPE}\n", &env(), "x/.npmrc", &mut warnings);
        assert_eq!(
            warnings,
            ["x/.npmrc:1: ${NOPE} is not set in the environment"]
        );
        // Debug never shows values.
        assert!(!format!("{entries:?}").contains("s3cret"));
    }
}
