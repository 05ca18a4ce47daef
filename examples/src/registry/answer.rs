//! What the mock registry answers to one request, whatever the protocol: the shared decision
//! (counting, latency, injected faults, authorization, the file) before any byte is written.

use std::sync::Arc;

use smol::Timer;

use super::Shared;
use super::fault::Fault;

/// The answer to one request.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A short text body with this status.
    Text {
        code: u16,
        body: String,
        /// `Retry-After` seconds to send.
        retry_after: Option<u64>,
        /// Send `WWW-Authenticate` (a 401).
        authenticate: bool,
    },
    /// The file at the path, with a body fault to apply while sending it.
    File {
        body: Arc<[u8]>,
        fault: Option<Fault>,
        /// A `HEAD` request: the head only.
        head_only: bool,
    },
}

impl Answer {
    fn text(code: u16, body: impl Into<String>) -> Answer {
        Answer::Text {
            code,
            body: body.into(),
            retry_after: None,
            authenticate: false,
        }
    }
}

/// Decides the answer to `method path` (the request is already counted): waits the shaped
/// latency and any injected delay on the way.
pub(crate) async fn decide(
    method: &str,
    path: &str,
    authorization: Option<&str>,
    shared: &Shared,
) -> Answer {
    if let Some(expected) = &shared.options.authorization {
        if authorization != Some(expected.as_str()) {
            shared.counters.auth(false);
            return Answer::Text {
                code: 401,
                body: "authorization required\n".into(),
                retry_after: None,
                authenticate: true,
            };
        }
        shared.counters.auth(true);
    }
    let fault = shared.faults.take(path);
    if fault.is_some() {
        shared.counters.fault();
    }
    let shaping = shared.shaping();
    if !shaping.latency.is_zero() {
        Timer::after(shaping.latency).await;
    }
    if let Some(Fault::Delay(delay)) = fault {
        Timer::after(delay).await;
    }
    if method != "GET" && method != "HEAD" {
        return Answer::text(405, "method not allowed\n");
    }
    match fault {
        Some(Fault::Status(code)) => return Answer::text(code, format!("injected fault {code}\n")),
        Some(Fault::RetryAfter { status, seconds }) => {
            return Answer::Text {
                code: status,
                body: format!("injected fault {status}, retry after {seconds} s\n"),
                retry_after: Some(seconds),
                authenticate: false,
            };
        }
        _ => {}
    }
    match shared.file(path) {
        Some(body) => Answer::File {
            body,
            fault,
            head_only: method == "HEAD",
        },
        None => Answer::text(404, "{\"error\":\"Not found\"}\n"),
    }
}
