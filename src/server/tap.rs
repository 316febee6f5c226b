//! Watching an answer's body on its way out without changing it: the usage record
//! (src/server/usage_tap.rs) and the signatures an account issued (affinity.rs) are
//! read from the bytes as they pass, frame by frame.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header;

/// What looks at the bytes.
pub trait Watch: Send + Unpin + 'static {
    fn chunk(&mut self, chunk: &Bytes);
    /// Once: the body ended, failed, or the client went away before its end.
    fn end(self);
}

/// `resp` with `watch` on its body.
pub fn tap(resp: Response, watch: impl Watch) -> Response {
    let (mut parts, body) = resp.into_parts();
    // A stream body has no size of its own: keep the length clients read a sized body by.
    if let Some(n) = http_body::Body::size_hint(&body).exact()
        && !parts.headers.contains_key(header::CONTENT_LENGTH)
    {
        parts.headers.insert(header::CONTENT_LENGTH, n.into());
    }
    Response::from_parts(
        parts,
        Body::new(Tapped {
            inner: body,
            watch: Some(watch),
        }),
    )
}

struct Tapped<W: Watch> {
    inner: Body,
    watch: Option<W>,
}

impl<W: Watch> http_body::Body for Tapped<W> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(w), Some(chunk)) = (&mut self.watch, frame.data_ref()) {
                    w.chunk(chunk);
                }
            }
            Poll::Ready(Some(Err(_))) | Poll::Ready(None) => {
                if let Some(w) = self.watch.take() {
                    w.end();
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl<W: Watch> Drop for Tapped<W> {
    fn drop(&mut self) {
        if let Some(w) = self.watch.take() {
            w.end();
        }
    }
}
