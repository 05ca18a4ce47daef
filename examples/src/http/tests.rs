//! Loopback tests of the client against tiny scripted servers (std threads, raw sockets).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use super::*;

/// What the scripted server does after writing its reply bytes.
enum After {
    KeepOpen,
    Close,
    Stall,
}

type Handler = dyn Fn(&str) -> (Vec<u8>, After) + Send + Sync;

/// Starts a server on 127.0.0.1; returns its base URL and a connection counter.
fn serve(
    handler: impl Fn(&str) -> (Vec<u8>, After) + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let handler: Arc<Handler> = Arc::new(handler);
    let counter = conns.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let handler = handler.clone();
            thread::spawn(move || connection(stream, &*handler));
        }
    });
    (format!("http://{addr}"), conns)
}

fn connection(stream: TcpStream, handler: &Handler) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                break;
            }
        }
        let (bytes, after) = handler(&path);
        if writer.write_all(&bytes).is_err() {
            return;
        }
        match after {
            After::KeepOpen => {}
            After::Close => return,
            After::Stall => {
                thread::sleep(Duration::from_secs(5));
                return;
            }
        }
    }
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn run<T>(fut: impl Future<Output = T>) -> T {
    smol::block_on(async {
        timeout::timeout(Duration::from_secs(20), fut)
            .await
            .expect("test timed out")
    })
}

/// A client with short timeouts that reads no proxy variables from the process.
fn client() -> HttpClient {
    HttpClient::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(5))
        .env(Arc::new(|_| None))
        .build()
}

#[test]
fn reuses_keep_alive_connections() {
    let (base, conns) = serve(|p| (ok(p), After::KeepOpen));
    let client = client();
    run(async {
        for i in 0..3 {
            let resp = client.get(&format!("{base}/x{i}")).await.unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.content_length(), Some(3));
            assert_eq!(resp.bytes().await.unwrap(), format!("/x{i}").as_bytes());
        }
    });
    assert_eq!(conns.load(Ordering::SeqCst), 1);
    assert_eq!(client.idle_connections(), 1);
}

#[test]
fn http10_close_delimited_and_chunked_bodies() {
    let (base, conns) = serve(|p| {
        match p {
        "/old" => (b"HTTP/1.0 200 OK\r\n\r\nhello, 1.0".to_vec(), After::Close),
        _ => (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                .to_vec(),
            After::KeepOpen,
        ),
    }
    });
    let client = client();
    run(async {
        for _ in 0..2 {
            let resp = client.get(&format!("{base}/old")).await.unwrap();
            assert_eq!(resp.content_length(), None);
            assert_eq!(resp.bytes().await.unwrap(), b"hello, 1.0");
        }
        let mut resp = client.get(&format!("{base}/chunked")).await.unwrap();
        let mut seen = Vec::new();
        while let Some(c) = resp.chunk().await.unwrap() {
            seen.extend_from_slice(&c);
        }
        assert_eq!(seen, b"abcde");
    });
    assert_eq!(conns.load(Ordering::SeqCst), 3);
}

#[test]
fn server_closing_an_idle_connection_is_retried() {
    // Keep-alive is announced but the server closes after every reply.
    let (base, conns) = serve(|p| (ok(p), After::Close));
    let client = client();
    run(async {
        for _ in 0..3 {
            let resp = client.get(&format!("{base}/a")).await.unwrap();
            assert_eq!(resp.bytes().await.unwrap(), b"/a");
            smol::Timer::after(Duration::from_millis(20)).await;
        }
    });
    assert_eq!(conns.load(Ordering::SeqCst), 3);
}

#[test]
fn follows_redirects_and_bounds_them() {
    let (base, _) = serve(|p| match p {
        "/start" => (
            b"HTTP/1.1 302 Found\r\nLocation: /final\r\nContent-Length: 0\r\n\r\n".to_vec(),
            After::KeepOpen,
        ),
        "/loop" => (
            b"HTTP/1.1 301 Moved\r\nLocation: loop\r\nContent-Length: 0\r\n\r\n".to_vec(),
            After::KeepOpen,
        ),
        p => (ok(p), After::KeepOpen),
    });
    let client = client();
    run(async {
        let resp = client.get(&format!("{base}/start")).await.unwrap();
        assert!(resp.url().ends_with("/final"));
        assert_eq!(resp.bytes().await.unwrap(), b"/final");

        let err = client.get(&format!("{base}/loop")).await.unwrap_err();
        assert!(
            matches!(err.kind(), HttpErrorKind::TooManyRedirects(5)),
            "{err}"
        );
        assert!(!err.is_transient());
    });
}

#[test]
fn statuses_are_errors_that_name_the_url() {
    let (base, conns) = serve(|p| {
        let status = if p == "/missing" {
            "404 Not Found"
        } else {
            "503 Service Unavailable"
        };
        let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 4\r\n\r\nnope");
        (reply.into_bytes(), After::KeepOpen)
    });
    let client = client();
    run(async {
        let err = client.get(&format!("{base}/missing")).await.unwrap_err();
        assert_eq!(err.status(), Some(404));
        assert!(!err.is_transient());
        assert_eq!(
            err.to_string(),
            format!("GET {base}/missing: HTTP status 404 Not Found")
        );

        let err = client.get(&format!("{base}/busy")).await.unwrap_err();
        assert_eq!(err.status(), Some(503));
        assert!(err.is_transient());
    });
    // Small error bodies are drained, so the connection was reused.
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

#[test]
fn truncated_body_is_detected() {
    let (base, _) = serve(|_| {
        let mut reply = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec();
        reply.extend_from_slice(&[7; 10]);
        (reply, After::Close)
    });
    let client = client();
    run(async {
        let resp = client.get(&format!("{base}/t")).await.unwrap();
        let err = resp.bytes().await.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                HttpErrorKind::Truncated {
                    received: 10,
                    expected: Some(100)
                }
            ),
            "{err:?}"
        );
        assert!(err.is_transient());
        assert!(
            err.to_string().contains("received 10 of 100 bytes"),
            "{err}"
        );
    });
}

#[test]
fn stalls_time_out() {
    let (base, _) = serve(|p| match p {
        "/head" => (Vec::new(), After::Stall),
        _ => (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc".to_vec(),
            After::Stall,
        ),
    });
    let client = HttpClient::builder()
        .read_timeout(Duration::from_millis(300))
        .env(Arc::new(|_| None))
        .build();
    run(async {
        let err = client.get(&format!("{base}/head")).await.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                HttpErrorKind::Timeout {
                    phase: Phase::Headers,
                    ..
                }
            ),
            "{err:?}"
        );
        let mut resp = client.get(&format!("{base}/body")).await.unwrap();
        assert_eq!(&resp.chunk().await.unwrap().unwrap()[..], b"abc");
        let err = resp.chunk().await.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                HttpErrorKind::Timeout {
                    phase: Phase::Body,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.is_transient());
    });
}

#[test]
fn connect_errors_and_bad_urls() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = client();
    run(async {
        let err = client
            .get(&format!("http://127.0.0.1:{port}/x"))
            .await
            .unwrap_err();
        assert!(matches!(err.kind(), HttpErrorKind::Connect(_)), "{err:?}");
        assert!(err.is_transient());

        let err = client.get("ftp://127.0.0.1/x").await.unwrap_err();
        assert!(
            matches!(err.kind(), HttpErrorKind::InvalidUrl(_)),
            "{err:?}"
        );
        assert!(!err.is_transient());
    });
}

#[test]
fn for_each_chunk_streams_and_propagates_callback_errors() {
    let (base, _) = serve(|_| (ok("0123456789"), After::KeepOpen));
    let client = client();
    run(async {
        let mut seen = Vec::new();
        let resp = client.get(&format!("{base}/s")).await.unwrap();
        let n = resp
            .for_each_chunk(|c| {
                seen.extend_from_slice(c);
                Ok::<_, HttpError>(())
            })
            .await
            .unwrap();
        assert_eq!((n, seen.as_slice()), (10, &b"0123456789"[..]));

        #[derive(Debug)]
        enum MyErr {
            Http,
            Full,
        }
        impl From<HttpError> for MyErr {
            fn from(_: HttpError) -> Self {
                MyErr::Http
            }
        }
        let resp = client.get(&format!("{base}/s")).await.unwrap();
        let err = resp.for_each_chunk(|_| Err(MyErr::Full)).await.unwrap_err();
        assert!(matches!(err, MyErr::Full));
        let _ = MyErr::Http;
    });
}

/// Starts a server that records every request head and answers with `reply(path)`.
fn recording(
    reply: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static,
) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    let reply = Arc::new(reply);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (seen, reply) = (seen.clone(), reply.clone());
            thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push_str(&line);
                    }
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    seen.lock().unwrap().push(head);
                    if writer.write_all(&reply(&path)).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), heads)
}

/// A token for URLs under one prefix only.
struct TokenFor(String);

impl Credentials for TokenFor {
    fn authorization(&self, url: &str) -> Option<String> {
        url.starts_with(&self.0).then(|| "Bearer t0ken".to_string())
    }
}

#[test]
fn credentials_are_asked_again_after_a_redirect_to_another_host() {
    let (other, other_heads) = recording(ok);
    let target = format!("{other}/elsewhere.tgz");
    let (registry, registry_heads) = recording(move |_| {
        format!("HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n")
            .into_bytes()
    });
    let client = HttpClient::builder()
        .credentials(Arc::new(TokenFor(registry.clone())))
        .env(Arc::new(|_| None))
        .build();
    run(async {
        let resp = client.get(&format!("{registry}/a.tgz")).await.unwrap();
        assert_eq!(resp.bytes().await.unwrap(), b"/elsewhere.tgz");
    });
    let has_token = |h: &String| {
        h.to_ascii_lowercase()
            .contains("authorization: bearer t0ken")
    };
    let registry_heads = registry_heads.lock().unwrap();
    let other_heads = other_heads.lock().unwrap();
    assert_eq!(registry_heads.len(), 1);
    assert!(has_token(&registry_heads[0]), "{registry_heads:?}");
    assert_eq!(other_heads.len(), 1);
    assert!(!has_token(&other_heads[0]), "{other_heads:?}");
}
