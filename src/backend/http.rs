//! Just enough HTTP/1.1 for the game's requests to the stand-in: one
//! request per connection (every answer says `Connection: close`), every
//! part bounded in size and time, nothing trusted.

use std::fmt;
use std::io::{self, Read, Write};
use std::time::Instant;

use super::codec::percent_decode;

/// Longest request line plus headers.
pub(crate) const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Longest request body (a whole player state with its circuits fits many
/// times over).
pub(crate) const MAX_BODY_BYTES: usize = 8 << 20;
/// Most headers in one request.
const MAX_HEADERS: usize = 100;

/// A request as the responder needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ... as sent (upper case by the standard).
    pub method: String,
    /// The path, percent-decoded, without the query.
    pub path: String,
    /// The query's `key=value` pairs in order, decoded.
    pub query: Vec<(String, String)>,
    /// The query as sent (for the log).
    pub raw_query: String,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The body (after chunked decoding).
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of query key `key` (case-insensitive key).
    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The path's non-empty segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.path.split('/').filter(|s| !s.is_empty())
    }

    /// Builds a request from a target such as `/maps?page=2` (for tests and
    /// for the parser).
    pub fn new(method: &str, target: &str, body: &[u8]) -> Request {
        let (path, raw_query) = match target.split_once('?') {
            Some((p, q)) => (p, q),
            None => (target, ""),
        };
        let query = raw_query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (percent_decode(k, true), percent_decode(v, true))
            })
            .collect();
        Request {
            method: method.to_string(),
            path: percent_decode(path, false),
            query,
            raw_query: raw_query.to_string(),
            headers: Vec::new(),
            body: body.to_vec(),
        }
    }
}

/// Why a request could not be read.
#[derive(Debug)]
pub(crate) enum HttpError {
    /// The connection failed or timed out.
    Io(io::Error),
    /// The peer closed before sending a whole request.
    Closed,
    /// A part was larger than its limit.
    TooLarge {
        /// Which part.
        what: &'static str,
        /// Its limit in bytes.
        max: usize,
    },
    /// The request took longer than the deadline in all.
    TooSlow,
    /// Not HTTP as we read it.
    Malformed(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Io(e) => write!(f, "connection error: {e}"),
            HttpError::Closed => write!(f, "the connection closed mid-request"),
            HttpError::TooLarge { what, max } => {
                write!(f, "the request's {what} is over {max} bytes")
            }
            HttpError::TooSlow => write!(f, "the request did not arrive in time"),
            HttpError::Malformed(why) => write!(f, "not a request this server reads: {why}"),
        }
    }
}

/// Reads one request, giving up at `deadline` (checked between reads; the
/// stream's own read timeout bounds each read).
pub(crate) fn read_request(
    stream: &mut impl Read,
    deadline: Instant,
) -> Result<Request, HttpError> {
    let mut buf: Vec<u8> = Vec::with_capacity(2048);
    let head_end = loop {
        let found = find(&buf, b"\r\n\r\n");
        if found.unwrap_or(buf.len()) > MAX_HEAD_BYTES {
            return Err(HttpError::TooLarge {
                what: "head",
                max: MAX_HEAD_BYTES,
            });
        }
        if let Some(at) = found {
            break at;
        }
        fill(stream, &mut buf, deadline)?;
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| HttpError::Malformed("the head is not UTF-8".into()))?;
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && t.starts_with('/') => (m, t, v),
        _ => return Err(HttpError::Malformed(format!("request line {line:?}"))),
    };
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed(format!("version {version:?}")));
    }
    let mut req = Request::new(method, target, &[]);
    for l in lines {
        if req.headers.len() == MAX_HEADERS {
            return Err(HttpError::TooLarge {
                what: "header count",
                max: MAX_HEADERS,
            });
        }
        let (name, value) = l
            .split_once(':')
            .ok_or_else(|| HttpError::Malformed(format!("header line {l:?}")))?;
        req.headers
            .push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let chunked = header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let length = match header("content-length") {
        Some(v) => Some(
            v.parse::<usize>()
                .map_err(|_| HttpError::Malformed(format!("Content-Length {v:?}")))?,
        ),
        None => None,
    };
    let mut rest = buf.split_off(head_end + 4);
    req.body = if chunked {
        read_chunked(stream, rest, deadline)?
    } else {
        let n = length.unwrap_or(0);
        if n > MAX_BODY_BYTES {
            return Err(HttpError::TooLarge {
                what: "body",
                max: MAX_BODY_BYTES,
            });
        }
        while rest.len() < n {
            fill(stream, &mut rest, deadline)?;
        }
        rest.truncate(n);
        rest
    };
    Ok(req)
}

/// Decodes a chunked body whose first bytes are in `buf`.
fn read_chunked(
    stream: &mut impl Read,
    mut buf: Vec<u8>,
    deadline: Instant,
) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = loop {
            if let Some(i) = find(&buf[at..], b"\r\n") {
                break at + i;
            }
            if buf.len() - at > 1024 {
                return Err(HttpError::Malformed("a chunk size line is too long".into()));
            }
            fill(stream, &mut buf, deadline)?;
        };
        let line = std::str::from_utf8(&buf[at..line_end]).unwrap_or_default();
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpError::Malformed(format!("chunk size {size_text:?}")))?;
        if body.len().saturating_add(size) > MAX_BODY_BYTES {
            return Err(HttpError::TooLarge {
                what: "body",
                max: MAX_BODY_BYTES,
            });
        }
        at = line_end + 2;
        if size == 0 {
            // Trailers are not read: the answer closes the connection.
            return Ok(body);
        }
        while buf.len() < at + size + 2 {
            fill(stream, &mut buf, deadline)?;
        }
        body.extend_from_slice(&buf[at..at + size]);
        if &buf[at + size..at + size + 2] != b"\r\n" {
            return Err(HttpError::Malformed("a chunk does not end in CRLF".into()));
        }
        at += size + 2;
    }
}

/// Reads what is there into `buf` (at most 64 KiB at a time).
fn fill(stream: &mut impl Read, buf: &mut Vec<u8>, deadline: Instant) -> Result<(), HttpError> {
    if Instant::now() > deadline {
        return Err(HttpError::TooSlow);
    }
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Err(HttpError::Closed),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HttpError::Io(e)),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Writes a whole answer and flushes it.
pub(crate) fn write_response(
    stream: &mut impl Write,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        _ => "Other",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\nCache-Control: no-store\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn read(bytes: &[u8]) -> Result<Request, HttpError> {
        read_request(&mut &bytes[..], Instant::now() + Duration::from_secs(5))
    }

    #[test]
    fn a_request_with_query_and_body_is_read() {
        let r = read(
            b"POST /v2/state/player?full=true&name=a%20b+c HTTP/1.1\r\nHost: x\r\n\
              Content-Length: 7\r\n\r\n{\"a\":1}trailing",
        )
        .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/v2/state/player");
        assert_eq!(r.query_value("FULL"), Some("true"));
        assert_eq!(r.query_value("name"), Some("a b c"));
        assert_eq!(r.raw_query, "full=true&name=a%20b+c");
        assert_eq!(r.body, b"{\"a\":1}");
        assert_eq!(r.segments().collect::<Vec<_>>(), ["v2", "state", "player"]);
    }

    #[test]
    fn a_chunked_body_is_decoded() {
        let r = read(b"PUT /s HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n")
            .unwrap();
        assert_eq!(r.body, b"Wikipedia");
    }

    #[test]
    fn bad_and_oversized_requests_are_refused() {
        let big = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_HEAD_BYTES + 10));
        assert!(matches!(
            read(big.as_bytes()),
            Err(HttpError::TooLarge { what: "head", .. })
        ));
        let huge_body = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        assert!(matches!(
            read(huge_body.as_bytes()),
            Err(HttpError::TooLarge { what: "body", .. })
        ));
        let huge_chunk = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n";
        assert!(matches!(
            read(huge_chunk),
            Err(HttpError::TooLarge { what: "body", .. })
        ));
        for bad in [
            &b"GET\r\n\r\n"[..],
            b"GET http://x/ HTTP/1.1\r\n\r\n",
            b"GET / SPDY/3\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            assert!(matches!(read(bad), Err(HttpError::Malformed(_))), "{bad:?}");
        }
        assert!(matches!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort"),
            Err(HttpError::Closed)
        ));
        assert!(matches!(read(b"GET / HT"), Err(HttpError::Closed)));
    }

    #[test]
    fn a_request_past_its_deadline_is_dropped() {
        let past = Instant::now() - Duration::from_millis(1);
        assert!(matches!(
            read_request(&mut &b"GET / HTTP/1.1\r\n"[..], past),
            Err(HttpError::TooSlow)
        ));
    }

    #[test]
    fn answers_close_the_connection_and_state_their_length() {
        let mut out = Vec::new();
        write_response(&mut out, 200, "application/json", b"{}").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Length: 2\r\n"), "{text}");
        assert!(text.contains("Connection: close\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n{}"), "{text}");
    }
}
