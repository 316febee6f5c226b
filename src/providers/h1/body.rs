//! The answer's body, read from the upstream connection by whoever polls it (the
//! client's own connection task): no task in between, and everything one read brought
//! goes on as one frame. Once the body has ended cleanly the connection goes back to
//! the pool; a body dropped earlier closes it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};

use super::chunked::Chunked;
use super::conn::{Conn, Target};
use super::pool::{self, Pool};
use super::wire::Framing;

/// Read buffer reserved when the buffer runs low.
const READ_CHUNK: usize = 16 * 1024;

enum Reading {
    Length(u64),
    Chunked(Chunked),
    Close,
    Done,
}

/// Where the connection goes when the body has been read.
pub struct Return {
    pub pool: Pool,
    pub target: Target,
}

pub struct ResponseBody {
    conn: Option<Conn>,
    buf: BytesMut,
    reading: Reading,
    /// `None`: the connection is closed after this body.
    back: Option<Return>,
}

impl ResponseBody {
    /// `buf`: what was read after the response head.
    pub fn new(conn: Conn, buf: BytesMut, framing: Framing, back: Option<Return>) -> Self {
        let reading = match framing {
            Framing::Empty | Framing::Length(0) => Reading::Done,
            Framing::Length(n) => Reading::Length(n),
            Framing::Chunked => Reading::Chunked(Chunked::default()),
            Framing::Close => Reading::Close,
        };
        let mut b = ResponseBody {
            conn: Some(conn),
            buf,
            reading,
            back,
        };
        b.settle();
        b
    }

    /// What the buffer holds, decoded; `None` when it holds nothing to hand on.
    fn take_buffered(&mut self) -> io::Result<Option<Bytes>> {
        let data = match &mut self.reading {
            Reading::Length(left) => {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(self.buf.len());
                *left -= n as u64;
                self.buf.split_to(n).freeze()
            }
            Reading::Chunked(c) => c
                .decode(&mut self.buf)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
            Reading::Close => self.buf.split().freeze(),
            Reading::Done => Bytes::new(),
        };
        self.settle();
        Ok((!data.is_empty()).then_some(data))
    }

    /// Marks the end once the framing says so, and hands a clean connection back.
    fn settle(&mut self) {
        let ended = match &self.reading {
            Reading::Length(0) => true,
            Reading::Chunked(c) => c.is_done(),
            Reading::Done => true,
            _ => false,
        };
        if !ended {
            return;
        }
        self.reading = Reading::Done;
        let conn = self.conn.take();
        // Bytes after the end of the answer: the connection is out of step.
        if let (Some(conn), Some(back), true) = (conn, self.back.take(), self.buf.is_empty()) {
            pool::put(&back.pool, &back.target, conn);
        }
        self.buf = BytesMut::new();
    }

    fn fail(&mut self, e: io::Error) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        self.conn = None;
        self.reading = Reading::Done;
        Poll::Ready(Some(Err(e)))
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("buffered", &self.buf.len())
            .field("done", &matches!(self.reading, Reading::Done))
            .finish_non_exhaustive()
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        let this = self.get_mut();
        loop {
            match this.take_buffered() {
                Ok(Some(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(None) => {}
                Err(e) => return this.fail(e),
            }
            if matches!(this.reading, Reading::Done) {
                return Poll::Ready(None);
            }
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            if this.buf.capacity() - this.buf.len() < 1024 {
                this.buf.reserve(READ_CHUNK);
            }
            match ready!(tokio_util::io::poll_read_buf(
                Pin::new(conn),
                cx,
                &mut this.buf
            )) {
                Ok(0) if matches!(this.reading, Reading::Close) => {
                    this.conn = None;
                    this.reading = Reading::Done;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    return this.fail(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the upstream closed the connection before its answer ended",
                    ));
                }
                Ok(_) => {}
                Err(e) => return this.fail(e),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.reading, Reading::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match self.reading {
            Reading::Length(n) => SizeHint::with_exact(n),
            Reading::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}
