//! A minimal etcd v3 client for `tinykv-bench`: the v3 JSON gateway
//! (`POST /v3/kv/put`, `POST /v3/kv/range`, keys and values in base64)
//! over one keep-alive HTTP/1.1 connection, one request at a time.
//!
//! Why the gateway and not the `etcd-client` crate: that crate brings
//! tonic, prost and hyper (and a protobuf build step) into a workspace whose
//! CI compile time is near its budget, for two calls. The gateway is served
//! on etcd's client port by default (3.4 and later), and speaks plain
//! HTTP/1.1 + JSON; `serde_json` is already in the workspace. The gateway
//! adds a hop inside etcd (HTTP → its own gRPC server), so etcd measured
//! this way is somewhat slower than through gRPC: the figures are a bound
//! from below on what etcd can do, and say so in the report.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Error;

/// Largest response header or body accepted.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// How long connecting or one request may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// One connection to an etcd member's client URL.
pub struct Gateway {
    /// `HOST:PORT`, for the Host header and messages.
    host: String,
    stream: TcpStream,
    /// Received and not yet consumed.
    buf: Vec<u8>,
}

/// `http://HOST:PORT` (or bare `HOST:PORT`, a trailing `/` allowed) →
/// `HOST:PORT`; anything else is a usage error.
pub fn parse_endpoint(endpoint: &str) -> Result<String, Error> {
    let rest = match endpoint.split_once("://") {
        None => endpoint,
        Some(("http", rest)) => rest,
        Some((scheme, _)) => {
            return Err(Error::Usage(format!(
                "etcd endpoint {endpoint:?}: only http:// is supported, not {scheme}://"
            )));
        }
    };
    let host = rest.strip_suffix('/').unwrap_or(rest);
    match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(host.to_string())
        }
        _ => Err(Error::Usage(format!(
            "etcd endpoint {endpoint:?} is not http://HOST:PORT"
        ))),
    }
}

impl Gateway {
    /// Connects to the member at `endpoint` (`http://HOST:PORT`).
    pub async fn connect(endpoint: &str) -> Result<Gateway, Error> {
        let host = parse_endpoint(endpoint)?;
        let stream = match tokio::time::timeout(TIMEOUT, TcpStream::connect(&host)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(Error::Net(format!("cannot connect to etcd at {host}: {e}"))),
            Err(_) => {
                return Err(Error::Net(format!(
                    "cannot connect to etcd at {host}: no answer within {TIMEOUT:?}"
                )));
            }
        };
        let _ = stream.set_nodelay(true);
        Ok(Gateway {
            host,
            stream,
            buf: Vec::new(),
        })
    }

    /// Puts `key` = `value`.
    pub async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), Error> {
        let body = format!(
            r#"{{"key":"{}","value":"{}"}}"#,
            base64_encode(key),
            base64_encode(value)
        );
        self.post("/v3/kv/put", &body).await.map(drop)
    }

    /// The value of `key`, `None` when absent (a linearizable read).
    pub async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let body = format!(r#"{{"key":"{}"}}"#, base64_encode(key));
        let reply = self.post("/v3/kv/range", &body).await?;
        let Some(kv) = reply.get("kvs").and_then(|kvs| kvs.get(0)) else {
            return Ok(None);
        };
        // An empty value is left out of the JSON.
        let value = kv.get("value").and_then(|v| v.as_str()).unwrap_or("");
        base64_decode(value)
            .map(Some)
            .ok_or_else(|| self.bad(format!("value {value:?} is not base64")))
    }

    fn bad(&self, what: String) -> Error {
        Error::Remote(format!("etcd at {}: {what}", self.host))
    }

    /// One request and its JSON reply; a non-200 status is an error with
    /// etcd's message.
    async fn post(&mut self, path: &str, body: &str) -> Result<serde_json::Value, Error> {
        match tokio::time::timeout(TIMEOUT, self.exchange(path, body)).await {
            Ok(reply) => reply,
            Err(_) => Err(Error::Net(format!(
                "etcd at {}: no reply to {path} within {TIMEOUT:?}",
                self.host
            ))),
        }
    }

    async fn exchange(&mut self, path: &str, body: &str) -> Result<serde_json::Value, Error> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| Error::Net(format!("etcd at {}: cannot send: {e}", self.host)))?;
        let head_end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| self.bad(format!("not an HTTP reply: {head:?}")))?;
        let (mut length, mut chunked) = (None, false);
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| self.bad(format!("bad Content-Length {value:?}")))?,
                );
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
        let body = match (chunked, length) {
            (true, _) => self.chunked_body().await?,
            (false, Some(n)) => self.take(n).await?,
            (false, None) => return Err(self.bad("reply has no length".into())),
        };
        if status != 200 {
            return Err(self.bad(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body).trim()
            )));
        }
        serde_json::from_slice(&body).map_err(|e| self.bad(format!("reply is not JSON: {e}")))
    }

    /// Reads more bytes; the end of the stream is an error here.
    async fn fill(&mut self) -> Result<(), Error> {
        if self.buf.len() > MAX_RESPONSE {
            return Err(self.bad("reply too large".into()));
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = self
            .stream
            .read(&mut chunk)
            .await
            .map_err(|e| Error::Net(format!("etcd at {}: {e}", self.host)))?;
        if n == 0 {
            return Err(Error::Net(format!(
                "etcd at {}: connection closed",
                self.host
            )));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// The next `n` bytes.
    async fn take(&mut self, n: usize) -> Result<Vec<u8>, Error> {
        if n > MAX_RESPONSE {
            return Err(self.bad(format!("reply of {n} bytes is too large")));
        }
        while self.buf.len() < n {
            self.fill().await?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// One `\r\n`-terminated line, without its end.
    async fn line(&mut self) -> Result<String, Error> {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..at]).into_owned();
                self.buf.drain(..at + 2);
                return Ok(line);
            }
            self.fill().await?;
        }
    }

    /// A `Transfer-Encoding: chunked` body.
    async fn chunked_body(&mut self) -> Result<Vec<u8>, Error> {
        let mut body = Vec::new();
        loop {
            let line = self.line().await?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| self.bad(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, up to an empty line.
                while !self.line().await?.is_empty() {}
                return Ok(body);
            }
            if body.len() + size > MAX_RESPONSE {
                return Err(self.bad("reply too large".into()));
            }
            body.extend(self.take(size).await?);
            self.line().await?;
        }
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (what the gateway's JSON uses for bytes).
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` if it is not.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=').as_bytes();
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = ALPHABET.iter().position(|&a| a == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_matches_known_values() {
        for (raw, enc) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"\xff\xfe\x00", "//4A"),
        ] {
            assert_eq!(base64_encode(raw), enc);
            assert_eq!(base64_decode(enc).unwrap(), raw);
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64_encode(&all)).unwrap(), all);
        assert!(base64_decode("Zm9v!").is_none());
        assert!(base64_decode("Z").is_none());
    }

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            parse_endpoint("http://127.0.0.1:2379").unwrap(),
            "127.0.0.1:2379"
        );
        assert_eq!(parse_endpoint("localhost:2379/").unwrap(), "localhost:2379");
        for bad in ["https://h:1", "http://h", "h:port", ":1", ""] {
            assert!(matches!(parse_endpoint(bad), Err(Error::Usage(_))), "{bad}");
        }
    }
}
