//! The client against a raw TCP upstream that writes exactly the bytes each case needs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// An upstream answering each request on a connection with the next of `answers`
/// (cycling), counting connections accepted and requests read. `close_after`: the
/// connection is closed (silently) after that many answers.
struct Upstream {
    uri: http::Uri,
    accepted: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

async fn upstream(answers: Vec<&'static [u8]>, close_after: Option<usize>) -> Upstream {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (a, r) = (accepted.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            a.fetch_add(1, Ordering::SeqCst);
            let (answers, r) = (answers.clone(), r.clone());
            tokio::spawn(serve(s, answers, close_after, r));
        }
    });
    Upstream {
        uri: format!("http://127.0.0.1:{port}/v1/messages?beta=true")
            .parse()
            .expect("uri"),
        accepted,
        requests,
    }
}

async fn serve(
    mut s: TcpStream,
    answers: Vec<&'static [u8]>,
    close_after: Option<usize>,
    requests: Arc<AtomicUsize>,
) {
    let mut buf = Vec::new();
    let mut served = 0;
    loop {
        // One request: the head, then content-length bytes.
        let end = loop {
            if let Some(i) = memchr::memmem::find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + len {
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..end + len);
        requests.fetch_add(1, Ordering::SeqCst);
        let answer = answers[served % answers.len()];
        if s.write_all(answer).await.is_err() {
            return;
        }
        served += 1;
        if close_after == Some(served) {
            return;
        }
    }
}

async fn call(u: &Upstream) -> Result<(u16, Bytes), String> {
    let resp = post(
        &u.uri,
        &HeaderMap::new(),
        &Bytes::from_static(b"{}"),
        Duration::from_secs(5),
    )
    .await?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

const SIZED: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";
const CHUNKED: &[u8] =
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nevent:\r\n5\r\n ping\r\n0\r\n\r\n";

#[tokio::test(flavor = "current_thread")]
async fn sized_and_chunked_answers_are_read_and_the_connection_is_reused() {
    let u = upstream(vec![SIZED, CHUNKED], None).await;
    for _ in 0..3 {
        assert_eq!(
            call(&u).await,
            Ok((200, Bytes::from_static(b"{\"ok\":true}")))
        );
        assert_eq!(
            call(&u).await,
            Ok((200, Bytes::from_static(b"event: ping")))
        );
    }
    assert_eq!(u.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(u.requests.load(Ordering::SeqCst), 6);
}

#[tokio::test(flavor = "current_thread")]
async fn an_answer_that_says_close_is_not_reused() {
    let u = upstream(
        vec![b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nhi"],
        Some(1),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(call(&u).await, Ok((200, Bytes::from_static(b"hi"))));
    }
    assert_eq!(u.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn a_pooled_connection_the_upstream_closed_is_retried_on_a_new_one() {
    // Keep-alive promised, then the connection is closed after each answer.
    let u = upstream(vec![SIZED], Some(1)).await;
    for _ in 0..3 {
        assert_eq!(
            call(&u).await,
            Ok((200, Bytes::from_static(b"{\"ok\":true}")))
        );
    }
    assert_eq!(u.accepted.load(Ordering::SeqCst), 3);
    assert_eq!(
        u.requests.load(Ordering::SeqCst),
        3,
        "no request was sent twice"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn informational_answers_are_skipped() {
    let u = upstream(
        vec![b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 1\r\n\r\nx"],
        None,
    )
    .await;
    assert_eq!(call(&u).await, Ok((201, Bytes::from_static(b"x"))));
}

#[tokio::test(flavor = "current_thread")]
async fn a_body_cut_short_is_an_error_and_not_reused() {
    let u = upstream(
        vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"],
        Some(1),
    )
    .await;
    let e = call(&u).await.expect_err("short body");
    assert!(e.contains("before its answer ended"), "{e}");
    let u = upstream(
        vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n"],
        Some(1),
    )
    .await;
    assert!(call(&u).await.is_err());
}

#[tokio::test(flavor = "current_thread")]
async fn a_body_to_close_ends_with_the_connection() {
    let u = upstream(vec![b"HTTP/1.1 200 OK\r\n\r\nuntil the end"], Some(1)).await;
    assert_eq!(
        call(&u).await,
        Ok((200, Bytes::from_static(b"until the end")))
    );
    assert_eq!(
        call(&u).await,
        Ok((200, Bytes::from_static(b"until the end")))
    );
    assert_eq!(u.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_body_dropped_before_its_end_closes_its_connection() {
    let u = upstream(vec![SIZED], None).await;
    let resp = post(
        &u.uri,
        &HeaderMap::new(),
        &Bytes::new(),
        Duration::from_secs(5),
    )
    .await
    .expect("answer");
    drop(resp);
    assert_eq!(call(&u).await.map(|r| r.0), Ok(200));
    assert_eq!(u.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn garbage_and_refusals_are_errors_that_say_so() {
    let u = upstream(vec![b"SSH-2.0-OpenSSH\r\n\r\n"], None).await;
    let e = call(&u).await.expect_err("garbage");
    assert!(e.contains("invalid response head"), "{e}");
    let e = post(
        &"ftp://127.0.0.1/".parse().expect("uri"),
        &HeaderMap::new(),
        &Bytes::new(),
        Duration::from_secs(1),
    )
    .await
    .expect_err("scheme");
    assert!(e.contains("http://"), "{e}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_chunked_stream_arriving_in_pieces_is_handed_on_as_it_comes() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let uri: http::Uri = format!("http://{}/s", l.local_addr().expect("addr"))
        .parse()
        .expect("uri");
    let (go_tx, mut go_rx) = tokio::sync::mpsc::channel::<()>(1);
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.expect("accept");
        let mut b = [0u8; 4096];
        let _ = s.read(&mut b).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\none,\r\n")
            .await;
        go_rx.recv().await;
        let _ = s.write_all(b"3\r\ntwo\r\n0\r\n\r\n").await;
    });
    let resp = post(
        &uri,
        &HeaderMap::new(),
        &Bytes::new(),
        Duration::from_secs(5),
    )
    .await
    .expect("answer");
    let mut body = resp.into_body();
    let first = body.frame().await.expect("frame").expect("ok");
    assert_eq!(first.into_data().ok(), Some(Bytes::from_static(b"one,")));
    go_tx.send(()).await.expect("go");
    let second = body.frame().await.expect("frame").expect("ok");
    assert_eq!(second.into_data().ok(), Some(Bytes::from_static(b"two")));
    assert!(body.frame().await.is_none());
    assert!(http_body::Body::is_end_stream(&body));
}

#[tokio::test(flavor = "current_thread")]
async fn an_answer_sent_before_the_upstream_read_a_large_body_is_still_read() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let uri: http::Uri = format!("http://{}/v1/messages", l.local_addr().expect("addr"))
        .parse()
        .expect("uri");
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.expect("accept");
        let mut b = [0u8; 1024];
        let _ = s.read(&mut b).await;
        let _ = s
            .write_all(b"HTTP/1.1 413 Payload Too Large\r\nconnection: close\r\ncontent-length: 8\r\n\r\ntoo big!")
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Closed with most of the body unread: the client's write fails (reset).
    });
    let body = Bytes::from(vec![b'x'; 64 * 1024 * 1024]);
    let resp = post(&uri, &HeaderMap::new(), &body, Duration::from_secs(5))
        .await
        .expect("the 413 is the answer");
    assert_eq!(resp.status().as_u16(), 413);
    let got = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(got, Bytes::from_static(b"too big!"));
}
