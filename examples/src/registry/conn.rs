//! One HTTP/1.1 connection of the mock registry: read request heads, answer them (keep-alive).

use std::borrow::Cow;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use smol::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use smol::net::TcpStream;
use smol::{Timer, future};

use super::Shared;
use super::answer::{Answer, decide};
use super::fault::Fault;

/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Largest request body read (and discarded).
const MAX_BODY: u64 = 64 * 1024;
/// Requests served on one connection before it is closed.
const MAX_REQUESTS_PER_CONNECTION: usize = 100_000;

/// A parsed request head.
#[derive(Debug)]
struct Head {
    method: String,
    path: String,
    close: bool,
    body: u64,
    authorization: Option<String>,
}

/// Whether the connection may serve another request.
enum Next {
    KeepAlive,
    Close,
}

/// Serve HTTP/1.1 requests on `io` (the TCP connection `tcp`, or TLS over it) until the client
/// closes, an error, a fault or a limit.
pub(crate) async fn serve<S>(io: S, tcp: TcpStream, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (reader, mut writer) = smol::io::split(io);
    let mut reader = BufReader::new(reader);
    for _ in 0..MAX_REQUESTS_PER_CONNECTION {
        let idle = shared.limits.idle_timeout;
        let head = future::or(read_head(&mut reader), async {
            Timer::after(idle).await;
            Err(io::ErrorKind::TimedOut.into())
        })
        .await;
        let head = match head {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(_) => {
                let _ = respond_text(&mut writer, 400, "bad request\n", true, None).await;
                return;
            }
        };
        if head.body > MAX_BODY {
            let _ = respond_text(&mut writer, 413, "request body too large\n", true, None).await;
            return;
        }
        if head.body > 0 {
            let mut sink = Vec::new();
            let read = (&mut reader).take(head.body).read_to_end(&mut sink).await;
            if read.map_or(true, |n| n as u64 != head.body) {
                return;
            }
        }
        if shared.served.fetch_add(1, Ordering::Relaxed) >= shared.limits.max_requests {
            let _ = respond_text(&mut writer, 503, "request limit reached\n", true, None).await;
            return;
        }
        match respond(&head, &mut writer, &tcp, &shared).await {
            Ok(Next::KeepAlive) if !head.close => {}
            _ => return,
        }
    }
}

/// Read one request head; `Ok(None)` when the client closed between requests.
async fn read_head<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> io::Result<Option<Head>> {
    let mut head: Vec<u8> = Vec::new();
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        let old = head.len();
        head.extend_from_slice(buf);
        let from = old.saturating_sub(3);
        if let Some(pos) = head[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            let end = from + pos + 4;
            reader.consume(end - old);
            head.truncate(end);
            return parse_head(&head).map(Some);
        }
        let n = buf.len();
        reader.consume(n);
        if head.len() > MAX_HEAD {
            return Err(io::ErrorKind::InvalidData.into());
        }
    }
}

fn parse_head(bytes: &[u8]) -> io::Result<Head> {
    let invalid = || io::Error::from(io::ErrorKind::InvalidData);
    let text = std::str::from_utf8(bytes).map_err(|_| invalid())?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next().ok_or_else(invalid)?.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let mut close = version == "HTTP/1.0";
    let mut body = 0;
    let mut authorization = None;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(invalid)?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            let value = value.to_ascii_lowercase();
            if value.contains("close") {
                close = true;
            } else if value.contains("keep-alive") {
                close = false;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            body = value.parse().map_err(|_| invalid())?;
        } else if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(invalid());
        }
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Ok(Head {
        method: method.to_owned(),
        path: decode_path(path),
        close,
        body,
        authorization,
    })
}

/// Decode the escapes npm clients use in scoped names (`%40` for `@`, `%2F` for `/`).
pub(crate) fn decode_path(path: &str) -> String {
    if !path.contains('%') {
        return path.to_owned();
    }
    path.replace("%40", "@")
        .replace("%2F", "/")
        .replace("%2f", "/")
}

async fn respond<W: AsyncWrite + Unpin>(
    head: &Head,
    writer: &mut W,
    stream: &TcpStream,
    shared: &Shared,
) -> io::Result<Next> {
    shared.counters.request(&head.path);
    let _active = shared.counters.active();
    let answer = decide(
        &head.method,
        &head.path,
        head.authorization.as_deref(),
        shared,
    )
    .await;
    let (body, fault, head_only) = match answer {
        Answer::Text {
            code,
            body,
            retry_after,
            authenticate,
        } => {
            let mut extra = String::new();
            if let Some(secs) = retry_after {
                extra.push_str(&format!("Retry-After: {secs}\r\n"));
            }
            if authenticate {
                extra.push_str("WWW-Authenticate: Bearer\r\n");
            }
            respond_text(writer, code, &body, head.close, Some(&extra)).await?;
            return Ok(Next::KeepAlive);
        }
        Answer::File {
            body,
            fault,
            head_only,
        } => (body, fault, head_only),
    };
    let shaping = shared.shaping();
    let head_bytes = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        if head.close {
            "Connection: close\r\n"
        } else {
            ""
        }
    );
    writer.write_all(head_bytes.as_bytes()).await?;
    if head_only {
        writer.flush().await?;
        return Ok(Next::KeepAlive);
    }
    send_body(
        &body,
        fault,
        writer,
        shared,
        shaping.chunk,
        shaping.bandwidth,
    )
    .await?;
    match fault {
        Some(Fault::Reset { .. }) => {
            // SO_LINGER 0: closing the socket now sends a RST instead of a FIN.
            let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
            Ok(Next::Close)
        }
        Some(Fault::Truncate { .. }) => {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            Ok(Next::Close)
        }
        _ => Ok(Next::KeepAlive),
    }
}

/// Write `body` through the shared link, applying a body fault.
async fn send_body<W: AsyncWrite + Unpin>(
    body: &[u8],
    fault: Option<Fault>,
    writer: &mut W,
    shared: &Shared,
    chunk: usize,
    bandwidth: Option<u64>,
) -> io::Result<()> {
    let chunk = chunk.max(1);
    let limit = match fault {
        Some(Fault::Reset { after } | Fault::Truncate { after }) => after.min(body.len()),
        _ => body.len(),
    };
    let mut stall = match fault {
        Some(Fault::Stall { after, duration }) => Some((after.min(body.len()), duration)),
        _ => None,
    };
    let mut sent = 0;
    loop {
        if let Some((at, duration)) = stall {
            if sent >= at {
                writer.flush().await?;
                match duration {
                    Some(d) => {
                        Timer::after(d).await;
                    }
                    None => future::pending::<()>().await,
                }
                stall = None;
            }
        }
        if sent >= limit {
            break;
        }
        let mut end = (sent + chunk).min(limit);
        if let Some((at, _)) = stall {
            if at > sent {
                end = end.min(at);
            }
        }
        let piece: Cow<'_, [u8]> = if fault == Some(Fault::Corrupt) {
            Cow::Owned(corrupt(&body[sent..end], sent, body.len()))
        } else {
            Cow::Borrowed(&body[sent..end])
        };
        shared.link.transmit(piece.len(), bandwidth).await;
        // Counted before the write, as the HTTP/2 path does: a client that has read these bytes
        // must find them counted, and this task may be descheduled right after the write.
        shared.counters.sent(piece.len());
        writer.write_all(&piece).await?;
        sent = end;
    }
    writer.flush().await
}

/// Flip the bytes at every 4096th offset and the last one (same length, different content).
pub(crate) fn corrupt(piece: &[u8], offset: usize, total: usize) -> Vec<u8> {
    let mut out = piece.to_vec();
    for (i, byte) in out.iter_mut().enumerate() {
        let at = offset + i;
        if at % 4096 == 0 || at + 1 == total {
            *byte ^= 0x5a;
        }
    }
    out
}

async fn respond_text<W: AsyncWrite + Unpin>(
    writer: &mut W,
    code: u16,
    body: &str,
    close: bool,
    extra_headers: Option<&str>,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}{}\r\n",
        reason(code),
        body.len(),
        extra_headers.unwrap_or_default(),
        if close { "Connection: close\r\n" } else { "" }
    );
    writer.write_all(head.as_bytes()).await?;
    writer.write_all(body.as_bytes()).await?;
    writer.flush().await
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}
