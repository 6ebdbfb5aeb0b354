//! HTTP/1.1 on the wire, as little of it as a load generator needs: each
//! request encoded once as bytes and written again and again on a keep-alive
//! connection; each response framed by its `Content-Length`.
//!
//! Doing less per request than a full client keeps the generator cheap, so
//! that the server under test, not the generator, sets the pace.

use bytes::{BufMut, Bytes, BytesMut};

/// The most response headers read; the servers measured send a handful.
const MAX_HEADERS: usize = 32;

/// A request to send, encoded once.
///
/// ```
/// use keygate_loadtest::wire::Request;
///
/// let request = Request::get("/public").header("authorization", "Bearer sk_x");
/// let bytes = request.encode("127.0.0.1:8080");
/// assert_eq!(
///     &bytes[..],
///     b"GET /public HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nauthorization: Bearer sk_x\r\n\r\n"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct Request {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Request {
    /// A `GET` of `path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: "GET",
            path: path.into(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A `POST` of `body` (JSON) to `path`.
    pub fn post_json(path: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self {
            method: "POST",
            path: path.into(),
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: body.into(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The bytes to write for each request to `host`.
    pub fn encode(&self, host: &str) -> Bytes {
        let mut out = BytesMut::with_capacity(128 + self.body.len());
        out.put_slice(self.method.as_bytes());
        out.put_u8(b' ');
        out.put_slice(self.path.as_bytes());
        out.put_slice(b" HTTP/1.1\r\nhost: ");
        out.put_slice(host.as_bytes());
        out.put_slice(b"\r\n");
        for (name, value) in &self.headers {
            out.put_slice(name.as_bytes());
            out.put_slice(b": ");
            out.put_slice(value.as_bytes());
            out.put_slice(b"\r\n");
        }
        if !self.body.is_empty() {
            out.put_slice(format!("content-length: {}\r\n", self.body.len()).as_bytes());
        }
        out.put_slice(b"\r\n");
        out.put_slice(&self.body);
        out.freeze()
    }
}

/// A complete response found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Its status code.
    pub status: u16,
    /// Its length in bytes, head and body.
    pub len: usize,
}

/// Why a response could not be framed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// Not a well-formed HTTP/1.1 response head.
    #[error("malformed response head: {0}")]
    Malformed(String),
    /// No `Content-Length`: the servers measured always send one.
    #[error("response without a valid content-length (chunked bodies are not supported)")]
    NoLength,
}

/// Frames the response at the start of `buf`: `Ok(None)` while it is still
/// incomplete.
///
/// ```
/// use keygate_loadtest::wire::{Frame, frame_response};
///
/// let response = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloHTTP/1.1 ...";
/// assert_eq!(frame_response(response), Ok(Some(Frame { status: 200, len: 43 })));
/// assert_eq!(frame_response(&response[..40]), Ok(None));
/// ```
pub fn frame_response(buf: &[u8]) -> Result<Option<Frame>, WireError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(buf) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(WireError::Malformed(error.to_string())),
    };
    let status = response
        .code
        .ok_or_else(|| WireError::Malformed("no status code".to_owned()))?;
    let body = response
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case("content-length"))
        .and_then(|header| std::str::from_utf8(header.value).ok())
        .and_then(|value| value.trim().parse::<usize>().ok())
        .ok_or(WireError::NoLength)?;
    let len = head.checked_add(body).ok_or(WireError::NoLength)?;
    Ok((buf.len() >= len).then_some(Frame { status, len }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OK: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

    #[test]
    fn frames_a_whole_response_and_waits_for_a_partial_one() {
        assert_eq!(
            frame_response(OK),
            Ok(Some(Frame {
                status: 200,
                len: OK.len()
            }))
        );
        assert_eq!(frame_response(&OK[..OK.len() - 1]), Ok(None));
        assert_eq!(frame_response(b""), Ok(None));
    }

    #[test]
    fn refuses_what_it_cannot_frame() {
        assert_eq!(
            frame_response(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"),
            Err(WireError::NoLength)
        );
        assert_eq!(
            frame_response(b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n"),
            Err(WireError::NoLength)
        );
        assert!(matches!(
            frame_response(b"SMTP ready\r\n\r\n"),
            Err(WireError::Malformed(_))
        ));
    }

    #[test]
    fn encodes_a_post_with_its_length() {
        let bytes = Request::post_json("/v", r#"{"value":"k"}"#).encode("h");
        assert_eq!(
            &bytes[..],
            b"POST /v HTTP/1.1\r\nhost: h\r\ncontent-type: application/json\r\n\
              content-length: 13\r\n\r\n{\"value\":\"k\"}"
        );
    }

    proptest! {
        // However a stream of back-to-back responses is cut into reads, the
        // framer finds each response whole, and only once it is whole.
        #[test]
        fn frames_responses_across_any_read_boundaries(
            bodies in proptest::collection::vec("[a-z]{0,40}", 1..6),
            cuts in proptest::collection::vec(1usize..64, 1..40),
        ) {
            let mut stream = Vec::new();
            for body in &bodies {
                stream.extend_from_slice(
                    format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len()).as_bytes(),
                );
            }
            let mut buf = Vec::new();
            let mut offset = 0;
            let mut framed = Vec::new();
            let mut cuts = cuts.into_iter().cycle();
            while offset < stream.len() {
                let take = cuts.next().unwrap_or(1).min(stream.len() - offset);
                buf.extend_from_slice(&stream[offset..offset + take]);
                offset += take;
                while let Some(frame) = frame_response(&buf).unwrap() {
                    let head = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    framed.push(String::from_utf8(buf[head..frame.len].to_vec()).unwrap());
                    buf.drain(..frame.len);
                }
            }
            prop_assert!(buf.is_empty());
            prop_assert_eq!(framed, bodies);
        }
    }
}
