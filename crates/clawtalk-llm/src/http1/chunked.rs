//! The `Transfer-Encoding: chunked` body framing (RFC 9112 §7.1), decoded in place.
//!
//! Model servers stream their SSE bodies chunked. The decoder hands out each chunk's data as
//! it arrives (a chunk may span reads, and a read may hold many chunks) without copying: the
//! data is split off the read buffer.

use bytes::{Buf, Bytes, BytesMut};

/// Longest chunk-size or trailer line accepted; real ones are a few bytes.
const MAX_LINE: usize = 4 * 1024;

/// What the buffer yielded.
#[derive(Debug, PartialEq)]
pub(crate) enum Chunk {
    /// Body data.
    Data(Bytes),
    /// The buffer holds no complete piece: read more.
    More,
    /// The last chunk and its trailers have been read: the body is complete.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// Expecting the line break after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
    Done,
}

/// A chunked body decoder.
#[derive(Debug)]
pub(crate) struct Chunked {
    state: State,
}

impl Chunked {
    pub(crate) fn new() -> Self {
        Self { state: State::Size }
    }

    /// Takes the next piece of the body out of `buf`.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Chunk, String> {
        loop {
            match self.state {
                State::Size => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Chunk::More);
                    };
                    let size = parse_size(&line)?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Chunk::More);
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let data = buf.split_to(take).freeze();
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    return Ok(Chunk::Data(data));
                }
                State::DataEnd => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Chunk::More);
                    };
                    if !line.is_empty() {
                        return Err("a chunk is longer than its size line says".to_owned());
                    }
                    self.state = State::Size;
                }
                State::Trailers => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Chunk::More);
                    };
                    // Trailer fields carry nothing a chat answer needs; skip them.
                    if line.is_empty() {
                        self.state = State::Done;
                    }
                }
                State::Done => return Ok(Chunk::End),
            }
        }
    }
}

/// One line without its line break (CRLF, or a bare LF as lenient parsers accept), or `None`
/// when the buffer holds no complete line yet.
fn take_line(buf: &mut BytesMut) -> Result<Option<Bytes>, String> {
    let Some(lf) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > MAX_LINE {
            return Err(format!("a chunked-body line is longer than {MAX_LINE} bytes"));
        }
        return Ok(None);
    };
    if lf > MAX_LINE {
        return Err(format!("a chunked-body line is longer than {MAX_LINE} bytes"));
    }
    let mut line = buf.split_to(lf);
    buf.advance(1);
    if line.last() == Some(&b'\r') {
        line.truncate(lf - 1);
    }
    Ok(Some(line.freeze()))
}

/// The hexadecimal size before any `;extension`.
fn parse_size(line: &[u8]) -> Result<u64, String> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let digits = digits.trim_ascii();
    let bad = || {
        format!(
            "the chunk size {:?} is not a hexadecimal number",
            String::from_utf8_lossy(&line[..line.len().min(40)])
        )
    };
    if digits.is_empty() || digits.len() > 15 {
        return Err(bad());
    }
    let text = std::str::from_utf8(digits).map_err(|_| bad())?;
    u64::from_str_radix(text, 16).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` to a decoder in pieces of `step` bytes and returns the body.
    fn decode_in_steps(wire: &[u8], step: usize) -> Result<(Vec<u8>, bool), String> {
        let mut d = Chunked::new();
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        for piece in wire.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                match d.decode(&mut buf)? {
                    Chunk::Data(b) => body.extend_from_slice(&b),
                    Chunk::More => break,
                    Chunk::End => return Ok((body, true)),
                }
            }
        }
        Ok((body, false))
    }

    #[test]
    fn decodes_a_body_split_at_every_possible_place() {
        let wire =
            b"6\r\ndata: \r\n18;name=value\r\n{\"choices\":[]}\n\ndata: [D\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for step in 1..=wire.len() {
            let (body, ended) = decode_in_steps(wire, step).unwrap();
            assert_eq!(body, b"data: {\"choices\":[]}\n\ndata: [D", "step {step}");
            assert!(ended, "step {step}");
        }
    }

    #[test]
    fn upper_case_sizes_and_bare_line_feeds_are_accepted() {
        let (body, ended) = decode_in_steps(b"A\nabcdefghij\n0\n\n", 3).unwrap();
        assert_eq!(body, b"abcdefghij");
        assert!(ended);
    }

    #[test]
    fn a_cut_body_does_not_end() {
        let (body, ended) = decode_in_steps(b"5\r\nhel", 100).unwrap();
        assert_eq!(body, b"hel");
        assert!(!ended);
    }

    #[test]
    fn malformed_framing_is_an_error_that_says_what_was_wrong() {
        let err = decode_in_steps(b"zz\r\n", 10).unwrap_err();
        assert!(err.contains("not a hexadecimal number"), "{err}");
        let err = decode_in_steps(b"2\r\nabc\r\n", 10).unwrap_err();
        assert!(err.contains("longer than its size"), "{err}");
        let err = decode_in_steps(b"ffffffffffffffffff\r\n", 100).unwrap_err();
        assert!(err.contains("hexadecimal"), "{err}");
        let err = decode_in_steps(&vec![b'1'; MAX_LINE + 2], MAX_LINE + 2).unwrap_err();
        assert!(err.contains("longer than"), "{err}");
    }
}
