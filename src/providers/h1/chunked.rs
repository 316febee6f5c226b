//! The chunked transfer coding (RFC 9112 §7.1), decoded from a read buffer in place:
//! whatever data the buffer holds comes out as one piece, so events that arrived in
//! one read go to the client in one write.

use bytes::{Buf, Bytes, BytesMut};

use crate::providers::joined::Joined;

/// A chunk-size line (with extensions) longer than this is refused.
const MAX_SIZE_LINE: usize = 4096;
/// Trailer fields (all of them) longer than this are refused.
const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ChunkError {
    #[error("invalid chunk size line in the upstream's answer")]
    Size,
    #[error("chunk size line longer than {MAX_SIZE_LINE} bytes in the upstream's answer")]
    SizeLine,
    #[error("chunk not followed by CRLF in the upstream's answer")]
    DataEnd,
    #[error("trailers longer than {MAX_TRAILERS} bytes in the upstream's answer")]
    Trailers,
}

#[derive(Debug)]
pub struct Chunked {
    state: State,
    trailers: usize,
}

impl Default for Chunked {
    fn default() -> Self {
        Chunked {
            state: State::Size,
            trailers: 0,
        }
    }
}

impl Chunked {
    /// The last chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes what `buf` holds (leaving an incomplete size line or CRLF for the next
    /// call, and anything after the end of the body untouched) and returns the data
    /// found, empty when there was none.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Bytes, ChunkError> {
        let mut out = Joined::default();
        loop {
            match self.state {
                State::Size => match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        buf.advance(n);
                        self.state = if size == 0 {
                            State::Trailer
                        } else {
                            State::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if buf.len() > MAX_SIZE_LINE => {
                        return Err(ChunkError::SizeLine);
                    }
                    Ok(httparse::Status::Partial) => break,
                    Err(_) => return Err(ChunkError::Size),
                },
                State::Data(left) => {
                    if buf.is_empty() {
                        break;
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    out.push(buf.split_to(take).freeze());
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd => {
                    if buf.len() < 2 {
                        if buf.first().is_some_and(|b| *b != b'\r') {
                            return Err(ChunkError::DataEnd);
                        }
                        break;
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(ChunkError::DataEnd);
                    }
                    buf.advance(2);
                    self.state = State::Size;
                }
                State::Trailer => match memchr::memmem::find(buf, b"\r\n") {
                    Some(0) => {
                        buf.advance(2);
                        self.state = State::Done;
                    }
                    Some(i) => {
                        self.trailers += i + 2;
                        if self.trailers > MAX_TRAILERS {
                            return Err(ChunkError::Trailers);
                        }
                        buf.advance(i + 2);
                    }
                    None if self.trailers + buf.len() > MAX_TRAILERS => {
                        return Err(ChunkError::Trailers);
                    }
                    None => break,
                },
                State::Done => break,
            }
        }
        Ok(out.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `wire` fed in pieces cut at `cuts`; the data, whether it ended, and
    /// what was left after the end.
    fn feed(wire: &[u8], cuts: &[usize]) -> Result<(Vec<u8>, bool, Vec<u8>), ChunkError> {
        let mut d = Chunked::default();
        let mut buf = BytesMut::new();
        let mut data = Vec::new();
        let mut at = 0;
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        points.sort_unstable();
        points.push(wire.len());
        for p in points {
            buf.extend_from_slice(&wire[at..p.max(at)]);
            at = p.max(at);
            data.extend_from_slice(&d.decode(&mut buf)?);
        }
        Ok((data, d.is_done(), buf.to_vec()))
    }

    fn encode(pieces: &[Vec<u8>], ext: bool) -> Vec<u8> {
        let mut w = Vec::new();
        for p in pieces.iter().filter(|p| !p.is_empty()) {
            w.extend_from_slice(format!("{:X}", p.len()).as_bytes());
            if ext {
                w.extend_from_slice(b";name=\"v\"");
            }
            w.extend_from_slice(b"\r\n");
            w.extend_from_slice(p);
            w.extend_from_slice(b"\r\n");
        }
        w.extend_from_slice(b"0\r\n");
        w
    }

    #[test]
    fn data_that_arrived_together_comes_out_as_one_piece() {
        let mut d = Chunked::default();
        let mut buf = BytesMut::from(&b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"[..]);
        assert_eq!(d.decode(&mut buf), Ok(Bytes::from_static(b"hello world")));
        assert!(d.is_done());
        assert!(buf.is_empty());
    }

    #[test]
    fn trailers_are_read_and_dropped_and_what_follows_the_end_stays() {
        let wire = b"3\r\nabc\r\n0\r\nx-usage: 1\r\nx-more: 2\r\n\r\nHTTP/1.1";
        assert_eq!(
            feed(wire, &[]),
            Ok((b"abc".to_vec(), true, b"HTTP/1.1".to_vec()))
        );
    }

    #[test]
    fn malformed_framing_is_refused() {
        let cases: &[(&[u8], ChunkError)] = &[
            (b"zz\r\n", ChunkError::Size),
            (b"3\r\nabcX\r\n", ChunkError::DataEnd),
            (b"3\r\nabc\rX", ChunkError::DataEnd),
            (b"FFFFFFFFFFFFFFFFFF\r\n", ChunkError::Size),
        ];
        for (wire, e) in cases {
            assert_eq!(feed(wire, &[]).map(|_| ()), Err(e.clone()), "{wire:?}");
        }
        let long_ext = format!("3;{}", "e".repeat(MAX_SIZE_LINE + 1));
        assert_eq!(
            feed(long_ext.as_bytes(), &[]).map(|_| ()),
            Err(ChunkError::SizeLine)
        );
        let mut trailers = b"0\r\n".to_vec();
        trailers.extend(std::iter::repeat_n(b"x: yyyyyyy\r\n".to_vec(), 2000).flatten());
        assert_eq!(feed(&trailers, &[]).map(|_| ()), Err(ChunkError::Trailers));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_split_of_the_wire_decodes_to_the_same_data(
            pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
            ext in any::<bool>(),
            tail in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let mut wire = encode(&pieces, ext);
            wire.extend_from_slice(b"\r\n");
            wire.extend_from_slice(&tail);
            let (data, done, left) = feed(&wire, &cuts).expect("valid framing");
            prop_assert_eq!(data, pieces.concat());
            prop_assert!(done);
            prop_assert_eq!(left, tail);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_stay_bounded(
            wire in proptest::collection::vec(any::<u8>(), 0..2048),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            if let Ok((data, _, _)) = feed(&wire, &cuts) {
                prop_assert!(data.len() <= wire.len());
            }
        }
    }
}
