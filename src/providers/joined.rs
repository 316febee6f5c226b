//! Pieces of bytes that go out in one write: one piece is handed on as it is (no copy),
//! several are joined. Used for decoded upstream chunks and translated stream events.

use bytes::{Bytes, BytesMut};

#[derive(Default)]
pub enum Joined {
    #[default]
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Joined {
    pub fn all(parts: Vec<Bytes>) -> Bytes {
        let mut j = Joined::default();
        for p in parts {
            j.push(p);
        }
        j.into_bytes()
    }

    pub fn push(&mut self, b: Bytes) {
        if b.is_empty() {
            return;
        }
        *self = match std::mem::take(self) {
            Joined::Empty => Joined::One(b),
            Joined::One(first) => {
                let mut m = BytesMut::with_capacity(2 * (first.len() + b.len()));
                m.extend_from_slice(&first);
                m.extend_from_slice(&b);
                Joined::Many(m)
            }
            Joined::Many(mut m) => {
                m.extend_from_slice(&b);
                Joined::Many(m)
            }
        };
    }

    pub fn into_bytes(self) -> Bytes {
        match self {
            Joined::Empty => Bytes::new(),
            Joined::One(b) => b,
            Joined::Many(m) => m.freeze(),
        }
    }
}
