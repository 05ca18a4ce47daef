//! One HTTP/2 connection of the mock registry (TLS with ALPN `h2`), served by hyper: the same
//! answers, faults and shaping as over HTTP/1.1, one stream per request.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::rc::Weak;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite, Stream, future, stream};
use http_body_util::StreamBody;
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Request, Response};
use smol::{LocalExecutor, Timer};
use smol_hyper::rt::{FuturesIo, SmolTimer};

use super::Shared;
use super::answer::{Answer, decide};
use super::conn::{corrupt, decode_path};
use super::fault::Fault;

/// Streams the server lets a client open at once on one connection.
pub const MAX_CONCURRENT_STREAMS: u32 = 100;

type Chunks = Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, io::Error>> + Send>>;
type Body = StreamBody<Chunks>;

/// Runs hyper's stream tasks on the registry thread's executor. Weak, so that the tasks it
/// spawned do not keep the executor (and with it every connection) alive after shutdown.
#[derive(Clone)]
pub(crate) struct LocalExec(pub(crate) Weak<LocalExecutor<'static>>);

impl<F: Future + 'static> hyper::rt::Executor<F> for LocalExec {
    fn execute(&self, fut: F) {
        if let Some(ex) = self.0.upgrade() {
            ex.spawn(async move {
                fut.await;
            })
            .detach();
        }
    }
}

/// Serves HTTP/2 on `io` until the client closes the connection or it breaks.
pub(crate) async fn serve<S>(io: S, shared: Arc<Shared>, exec: LocalExec)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(respond(req, shared).await) }
    });
    let _ = hyper::server::conn::http2::Builder::new(exec)
        .timer(SmolTimer::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .serve_connection(FuturesIo::new(io), service)
        .await;
}

/// Counts a response as active until dropped (with the body stream that carries it).
struct Active(Arc<Shared>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.counters.end_active();
    }
}

async fn respond(req: Request<Incoming>, shared: Arc<Shared>) -> Response<Body> {
    let path = decode_path(req.uri().path());
    shared.counters.request(&path);
    shared.counters.begin_active();
    let active = Active(shared.clone());
    if shared
        .served
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        >= shared.limits.max_requests
    {
        return text(503, "request limit reached\n".into(), None, false);
    }
    let authorization = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match decide(req.method().as_str(), &path, authorization, &shared).await {
        Answer::Text {
            code,
            body,
            retry_after,
            authenticate,
        } => text(code, body, retry_after, authenticate),
        Answer::File {
            body,
            fault,
            head_only,
        } => {
            let length = body.len();
            let chunks: Chunks = if head_only {
                Box::pin(stream::empty())
            } else {
                file_chunks(body, fault, shared.clone(), active)
            };
            Response::builder()
                .status(200)
                .header(hyper::header::CONTENT_TYPE, "application/octet-stream")
                .header(hyper::header::CONTENT_LENGTH, length)
                .body(StreamBody::new(chunks))
                .unwrap_or_else(|_| text(500, "bad response\n".into(), None, false))
        }
    }
}

fn text(code: u16, body: String, retry_after: Option<u64>, authenticate: bool) -> Response<Body> {
    let mut builder = Response::builder()
        .status(code)
        .header(hyper::header::CONTENT_TYPE, "text/plain");
    if let Some(secs) = retry_after {
        builder = builder.header(hyper::header::RETRY_AFTER, secs);
    }
    if authenticate {
        builder = builder.header(hyper::header::WWW_AUTHENTICATE, "Bearer");
    }
    let chunks: Chunks = Box::pin(stream::once(Ok(Frame::data(Bytes::from(body)))));
    builder
        .body(StreamBody::new(chunks))
        .unwrap_or_else(|_| Response::new(StreamBody::new(Box::pin(stream::empty()) as Chunks)))
}

/// Where a file's body is while it is being sent.
struct Sending {
    body: Arc<[u8]>,
    sent: usize,
    /// Bytes sent before the body ends (early for `Truncate`) or breaks (`Reset`).
    limit: usize,
    stall: Option<(usize, Option<Duration>)>,
    fault: Option<Fault>,
    shared: Arc<Shared>,
    done: bool,
    _active: Active,
}

/// The body in shaped chunks, with the fault applied: `Reset` resets the stream, `Truncate`
/// ends it short of its `Content-Length`, `Stall` pauses, `Corrupt` flips bytes.
fn file_chunks(
    body: Arc<[u8]>,
    fault: Option<Fault>,
    shared: Arc<Shared>,
    active: Active,
) -> Chunks {
    let len = body.len();
    let state = Sending {
        limit: match fault {
            Some(Fault::Reset { after } | Fault::Truncate { after }) => after.min(len),
            _ => len,
        },
        stall: match fault {
            Some(Fault::Stall { after, duration }) => Some((after.min(len), duration)),
            _ => None,
        },
        body,
        sent: 0,
        fault,
        shared,
        done: false,
        _active: active,
    };
    Box::pin(stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        if let Some((at, duration)) = s.stall
            && s.sent >= at
        {
            match duration {
                Some(d) => {
                    Timer::after(d).await;
                }
                None => future::pending::<()>().await,
            }
            s.stall = None;
        }
        if s.sent >= s.limit {
            s.done = true;
            return match s.fault {
                Some(Fault::Reset { .. }) => Some((Err(io::Error::other("injected reset")), s)),
                _ => None,
            };
        }
        let shaping = s.shared.shaping();
        let mut end = (s.sent + shaping.chunk.max(1)).min(s.limit);
        if let Some((at, _)) = s.stall
            && at > s.sent
        {
            end = end.min(at);
        }
        let piece = if s.fault == Some(Fault::Corrupt) {
            Bytes::from(corrupt(&s.body[s.sent..end], s.sent, s.body.len()))
        } else {
            Bytes::copy_from_slice(&s.body[s.sent..end])
        };
        s.shared.link.transmit(piece.len(), shaping.bandwidth).await;
        s.shared.counters.sent(piece.len());
        s.sent = end;
        Some((Ok(Frame::data(piece)), s))
    }))
}
