//! A response body, read as it arrives, without holding a buffer while nothing arrives.

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::net::TcpStream;

use super::chunked::{Chunk, Chunked};
use super::head::Framing;
use super::{Pool, READ_CHUNK};

/// A waiting body keeps a buffer this large at most; what it holds then is a partial line.
const KEPT_WHILE_WAITING: usize = 256;

/// The rest of a response: its connection, what was read past the head, and how it ends.
pub(crate) struct Body {
    conn: Option<TcpStream>,
    pub(super) buf: BytesMut,
    framing: Reading,
    /// Where the connection goes once the body is read to its end, if it may be reused.
    pool: Option<Arc<Pool>>,
}

enum Reading {
    Length(u64),
    Chunked(Chunked),
    UntilClose,
    Done,
}

impl Body {
    pub(super) fn new(conn: TcpStream, buf: BytesMut, framing: Framing, pool: Option<Arc<Pool>>) -> Self {
        let framing = match framing {
            Framing::Length(0) => Reading::Done,
            Framing::Length(n) => Reading::Length(n),
            Framing::Chunked => Reading::Chunked(Chunked::new()),
            Framing::UntilClose => Reading::UntilClose,
        };
        let mut body = Self {
            conn: Some(conn),
            buf,
            framing,
            pool,
        };
        if matches!(body.framing, Reading::Done) {
            body.finish();
        }
        body
    }

    /// The next piece of the body; `None` at its end.
    pub(crate) async fn next(&mut self) -> Option<io::Result<Bytes>> {
        loop {
            let piece = match &mut self.framing {
                Reading::Done => return None,
                Reading::Length(left) if !self.buf.is_empty() => {
                    let take = usize::try_from(*left).unwrap_or(usize::MAX).min(self.buf.len());
                    *left -= take as u64;
                    let data = self.buf.split_to(take).freeze();
                    if *left == 0 {
                        self.finish();
                    }
                    Some(data)
                }
                Reading::UntilClose if !self.buf.is_empty() => Some(self.buf.split().freeze()),
                Reading::Chunked(decoder) => match decoder.decode(&mut self.buf) {
                    Ok(Chunk::Data(data)) => Some(data),
                    Ok(Chunk::End) => {
                        self.finish();
                        return None;
                    }
                    Ok(Chunk::More) => None,
                    Err(e) => return Some(Err(self.fail(io::ErrorKind::InvalidData, e))),
                },
                Reading::Length(_) | Reading::UntilClose => None,
            };
            if let Some(data) = piece {
                return Some(Ok(data));
            }
            self.release_buffer();
            let conn = self.conn.as_mut()?;
            match read_some(conn, &mut self.buf).await {
                Ok(0) if matches!(self.framing, Reading::UntilClose) => {
                    self.framing = Reading::Done;
                    self.conn = None;
                    return None;
                }
                Ok(0) => {
                    return Some(Err(self.fail(
                        io::ErrorKind::UnexpectedEof,
                        "the model server closed the connection before the body ended".to_owned(),
                    )));
                }
                Ok(_) => {}
                Err(e) => return Some(Err(self.fail(e.kind(), format!("reading the body failed: {e}")))),
            }
        }
    }

    /// Reads the whole body.
    pub(crate) async fn collect(mut self) -> io::Result<Bytes> {
        let mut all = BytesMut::new();
        while let Some(piece) = self.next().await {
            all.extend_from_slice(&piece?);
        }
        Ok(all.freeze())
    }

    /// The body was read to its end: the connection may carry the next request.
    fn finish(&mut self) {
        self.framing = Reading::Done;
        let conn = self.conn.take();
        // Bytes past the body's end were not asked for: such a connection is not reused.
        if let (Some(conn), Some(pool), true) = (conn, self.pool.take(), self.buf.is_empty()) {
            pool.put(conn);
        }
        self.buf = BytesMut::new();
    }

    fn fail(&mut self, kind: io::ErrorKind, message: String) -> io::Error {
        self.framing = Reading::Done;
        self.conn = None;
        self.buf = BytesMut::new();
        io::Error::new(kind, message)
    }

    /// Before waiting on the socket: gives the read buffer back, keeping only the few bytes
    /// not yet decoded (a chunk's line break, part of a size line), so that a body waiting
    /// for its next piece holds no buffer. The pieces handed out keep their own bytes.
    fn release_buffer(&mut self) {
        release(&mut self.buf);
    }
}

/// Reads what the socket has into `buf`, waiting until it has something. The buffer grows only
/// once the socket is readable, so that a connection waiting on a slow model holds none.
pub(super) async fn read_some(conn: &mut TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    loop {
        conn.readable().await?;
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        match conn.try_read_buf(buf) {
            Ok(n) => return Ok(n),
            // The readiness was stale: wait again, without the buffer just taken.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => release(buf),
            Err(e) => return Err(e),
        }
    }
}

fn release(buf: &mut BytesMut) {
    if buf.is_empty() {
        *buf = BytesMut::new();
    } else if buf.capacity() > KEPT_WHILE_WAITING && buf.len() <= KEPT_WHILE_WAITING {
        *buf = BytesMut::from(&buf[..]);
    }
}
