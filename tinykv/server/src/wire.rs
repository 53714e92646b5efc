//! The wire protocol: length-prefixed frames over one TCP connection, each
//! request tagged with an id so many calls are in flight at once
//! (pipelined, answered in any order); the server answers a burst of
//! requests with one `write` system call ([`Outbox`]).
//!
//! ```text
//! frame   = len:u32le payload[len]            (len ≤ MAX_FRAME)
//! request = id:u64le mlen:u8 method[mlen] args     (method "Service.Method")
//! reply   = id:u64le 0 reply | id:u64le 1 error-text
//! ```
//!
//! `args` and `reply` are the bincode encodings of the labrpc RPC types
//! ([`labrpc::encode`]), so the TCP server and the simulation share every
//! message type and method name. Parsing never panics: a malformed frame is
//! an error the caller turns into a closed connection.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

/// Largest frame either side accepts: a maximal value or scan plus room.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Appends a request frame to `buf`.
pub fn put_request(buf: &mut Vec<u8>, id: u64, method: &str, args: &[u8]) {
    let method = &method.as_bytes()[..method.len().min(255)];
    let len = 8 + 1 + method.len() + args.len();
    buf.reserve(4 + len);
    buf.extend_from_slice(&(len as u32).to_le_bytes());
    buf.extend_from_slice(&id.to_le_bytes());
    buf.push(method.len() as u8);
    buf.extend_from_slice(method);
    buf.extend_from_slice(args);
}

/// Appends a reply frame to `buf`: the encoded reply, or why there is none.
pub fn put_reply(buf: &mut Vec<u8>, id: u64, reply: Result<&[u8], &str>) {
    let (status, body) = match reply {
        Ok(body) => (0u8, body),
        Err(text) => (1u8, text.as_bytes()),
    };
    let len = 8 + 1 + body.len();
    buf.reserve(4 + len);
    buf.extend_from_slice(&(len as u32).to_le_bytes());
    buf.extend_from_slice(&id.to_le_bytes());
    buf.push(status);
    buf.extend_from_slice(body);
}

/// A parsed request frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// The caller's tag, echoed in the reply.
    pub id: u64,
    /// `"Service.Method"`.
    pub method: &'a str,
    /// The encoded arguments.
    pub args: &'a [u8],
}

fn id_of(frame: &[u8]) -> Result<(u64, &[u8]), String> {
    match frame.split_first_chunk::<8>() {
        Some((id, rest)) => Ok((u64::from_le_bytes(*id), rest)),
        None => Err(format!("frame of {} bytes has no id", frame.len())),
    }
}

/// Parses a request frame's payload.
pub fn parse_request(frame: &[u8]) -> Result<Request<'_>, String> {
    let (id, rest) = id_of(frame)?;
    let (&mlen, rest) = rest.split_first().ok_or("request has no method")?;
    if rest.len() < mlen as usize {
        return Err("request's method name is cut short".into());
    }
    let (method, args) = rest.split_at(mlen as usize);
    let method = std::str::from_utf8(method).map_err(|_| "method name is not UTF-8")?;
    Ok(Request { id, method, args })
}

/// Parses a reply frame's payload: its id and the encoded reply or the
/// server's error text.
pub fn parse_reply(frame: &[u8]) -> Result<(u64, Result<&[u8], String>), String> {
    let (id, rest) = id_of(frame)?;
    match rest.split_first() {
        Some((0, body)) => Ok((id, Ok(body))),
        Some((1, text)) => Ok((id, Err(String::from_utf8_lossy(text).into_owned()))),
        Some((status, _)) => Err(format!("reply status {status} is neither 0 nor 1")),
        None => Err("reply has no status".into()),
    }
}

/// The receiving side of a connection: reads as much as the socket has
/// into one buffer and hands out the frames in it without copying them, so
/// a burst of pipelined frames costs one `read` system call.
pub struct FrameReader<R> {
    read: R,
    buf: Vec<u8>,
    /// `buf[start..end]` is received and not yet handed out.
    start: usize,
    end: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader on `read` with a buffer of `capacity` bytes (it grows for a
    /// larger frame).
    pub fn new(read: R, capacity: usize) -> FrameReader<R> {
        FrameReader {
            read,
            buf: vec![0; capacity.max(4)],
            start: 0,
            end: 0,
        }
    }

    /// The length of the whole frame at the front of the buffer, if there
    /// is one: `Ok(Some(payload length))`; `Ok(None)` when more bytes are
    /// needed; an error for a frame over [`MAX_FRAME`].
    fn front(&self) -> std::io::Result<Option<usize>> {
        let avail = &self.buf[self.start..self.end];
        let Some(len) = avail.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > MAX_FRAME {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("frame of {len} bytes exceeds the limit of {MAX_FRAME}"),
            ));
        }
        Ok((avail.len() - 4 >= len).then_some(len))
    }

    /// True when a whole frame is buffered: the next [`next`](Self::next)
    /// needs no system call.
    pub fn has_frame(&self) -> bool {
        matches!(self.front(), Ok(Some(_)))
    }

    /// The next frame's payload. `Ok(None)` on a clean end of the stream
    /// between frames; a frame over [`MAX_FRAME`] or a stream cut inside a
    /// frame is an error.
    pub async fn next(&mut self) -> std::io::Result<Option<&[u8]>> {
        loop {
            if let Some(len) = self.front()? {
                let at = self.start + 4;
                self.start = at + len;
                if self.start == self.end {
                    (self.start, self.end) = (0, 0);
                }
                return Ok(Some(&self.buf[at..at + len]));
            }
            // Room for the whole frame (or at least its length) after the
            // bytes already here: move them to the front, grow if needed.
            let need = match self.buf[self.start..self.end].first_chunk::<4>() {
                Some(len) => 4 + u32::from_le_bytes(*len) as usize,
                None => 4,
            };
            if self.end == self.buf.len() || self.buf.len() - self.start < need {
                self.buf.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
                if self.buf.len() < need {
                    self.buf.resize(need, 0);
                }
            }
            let n = self.read.read(&mut self.buf[self.end..]).await?;
            if n == 0 {
                if self.start == self.end {
                    return Ok(None);
                }
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.end += n;
        }
    }
}

/// The sending side of a connection, shared by everyone who sends on it.
///
/// A sender writes its frames straight to the socket with a non-blocking
/// write while nothing is queued — no task hop, no wake-up. What the
/// socket does not take at once is queued, and a flusher task writes the
/// queue (everything queued by then in one write) as the socket drains;
/// frames queued behind it keep their order. A write never awaits while a
/// sender holds the lock, so a cancelled caller cannot leave half a frame.
///
/// A sender that expects company (other calls are in flight, so other
/// senders are about to run) can [`gather`](Outbox::gather) instead: the
/// first one queues its frames, lets every other ready task run once, and
/// then writes what all of them queued meanwhile in one system call.
pub struct Outbox {
    half: OwnedWriteHalf,
    queue: Mutex<Queue>,
    queued: Notify,
}

struct Queue {
    bytes: Vec<u8>,
    /// The socket failed: drop everything from now on.
    broken: bool,
}

impl Outbox {
    /// An outbox on `half`, with its flusher task spawned.
    pub fn new(half: OwnedWriteHalf) -> Arc<Outbox> {
        let outbox = Arc::new(Outbox {
            half,
            queue: Mutex::new(Queue {
                bytes: Vec::new(),
                broken: false,
            }),
            queued: Notify::new(),
        });
        tokio::spawn(outbox.clone().flush());
        outbox
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends whole frames (`bytes` must hold only complete frames); false
    /// once the connection is broken.
    pub fn send(&self, bytes: &[u8]) -> bool {
        let mut queue = self.queue();
        if queue.broken {
            return false;
        }
        if !queue.bytes.is_empty() {
            queue.bytes.extend_from_slice(bytes);
            return true;
        }
        let written = match self.half.try_write(bytes) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(_) => {
                queue.broken = true;
                return false;
            }
        };
        if written < bytes.len() {
            queue.bytes.extend_from_slice(&bytes[written..]);
            self.queued.notify_one();
        }
        true
    }

    /// Sends whole frames like [`send`](Outbox::send), but when nothing is
    /// queued yet, first yields once so that the senders ready to run right
    /// now add theirs, then writes them all at once. Costs a pass through
    /// the scheduler; worth it only when other senders are about to send
    /// (e.g. pipelined callers woken by one burst of replies). False once
    /// the connection is broken. Cancel-safe: dropped while yielding, it
    /// still writes what it gathered.
    pub async fn gather(&self, bytes: &[u8]) -> bool {
        {
            let mut queue = self.queue();
            if queue.broken {
                return false;
            }
            let lead = queue.bytes.is_empty();
            queue.bytes.extend_from_slice(bytes);
            if !lead {
                // A gatherer or the flusher writes them.
                return true;
            }
        }
        struct Lead<'a>(&'a Outbox);
        impl Drop for Lead<'_> {
            fn drop(&mut self) {
                self.0.write_gathered();
            }
        }
        let lead = Lead(self);
        tokio::task::yield_now().await;
        drop(lead);
        !self.queue().broken
    }

    /// Writes what a gatherer queued; the flusher takes over any rest.
    fn write_gathered(&self) {
        let mut queue = self.queue();
        if queue.broken || queue.bytes.is_empty() {
            return;
        }
        match self.half.try_write(&queue.bytes) {
            Ok(n) => {
                queue.bytes.drain(..n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                queue.broken = true;
                queue.bytes = Vec::new();
                return;
            }
        }
        if !queue.bytes.is_empty() {
            self.queued.notify_one();
        }
    }

    /// Writes the queue whenever there is one, until the socket fails or
    /// every other handle on the outbox is gone.
    async fn flush(self: Arc<Outbox>) {
        loop {
            let queued = self.queued.notified();
            if Arc::strong_count(&self) == 1 {
                return;
            }
            if self.queue().bytes.is_empty() {
                // Wake up now and then to notice the owners are gone.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), queued).await;
                continue;
            }
            if self.half.writable().await.is_err() {
                self.queue().broken = true;
                return;
            }
            let mut queue = self.queue();
            match self.half.try_write(&queue.bytes) {
                Ok(n) => {
                    queue.bytes.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    queue.broken = true;
                    queue.bytes = Vec::new();
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        put_request(&mut buf, 7, "TinyKv.RawGet", b"args");
        assert_eq!(&buf[..4], &(buf.len() as u32 - 4).to_le_bytes());
        let req = parse_request(&buf[4..]).unwrap();
        assert_eq!(
            req,
            Request {
                id: 7,
                method: "TinyKv.RawGet",
                args: b"args"
            }
        );
        buf.clear();
        put_reply(&mut buf, 9, Err("no such method"));
        assert_eq!(
            parse_reply(&buf[4..]).unwrap(),
            (9, Err("no such method".to_string()))
        );
        buf.clear();
        put_reply(&mut buf, u64::MAX, Ok(b""));
        assert_eq!(parse_reply(&buf[4..]).unwrap(), (u64::MAX, Ok(&b""[..])));
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert!(parse_request(b"").is_err());
        assert!(parse_request(&[0; 8]).is_err());
        let mut cut = 1u64.to_le_bytes().to_vec();
        cut.push(5);
        cut.extend_from_slice(b"abc");
        assert!(parse_request(&cut).is_err());
        let mut bad_utf8 = 1u64.to_le_bytes().to_vec();
        bad_utf8.extend_from_slice(&[1, 0xff]);
        assert!(parse_request(&bad_utf8).is_err());
        let mut status = 1u64.to_le_bytes().to_vec();
        status.push(2);
        assert!(parse_reply(&status).is_err());
        assert!(parse_reply(&[1, 2, 3]).is_err());
    }

    #[tokio::test]
    async fn frame_reader_limits_and_eof() {
        async fn frames(bytes: &[u8], capacity: usize) -> std::io::Result<Vec<Vec<u8>>> {
            let mut reader = FrameReader::new(bytes, capacity);
            let mut got = Vec::new();
            while let Some(frame) = reader.next().await? {
                got.push(frame.to_vec());
            }
            Ok(got)
        }
        assert!(frames(b"", 16).await.unwrap().is_empty());
        assert!(frames(&[3, 0], 16).await.is_err());
        let huge = ((MAX_FRAME + 1) as u32).to_le_bytes();
        assert!(frames(&huge, 16).await.is_err());
        assert!(frames(&[3, 0, 0, 0, 1, 2], 16).await.is_err());
        assert_eq!(frames(&[2, 0, 0, 0, 1, 2], 16).await.unwrap(), [vec![1, 2]]);
        // Many frames, some larger than the buffer, some split across
        // reads, an empty one: all come out whole and in order.
        let mut stream = Vec::new();
        let payloads: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; usize::from(i) * 3]).collect();
        for p in &payloads {
            stream.extend_from_slice(&(p.len() as u32).to_le_bytes());
            stream.extend_from_slice(p);
        }
        for capacity in [1, 7, 64, 4096] {
            assert_eq!(frames(&stream, capacity).await.unwrap(), payloads);
        }
    }

    #[tokio::test]
    async fn frame_reader_knows_when_a_frame_is_buffered() {
        let stream = [1u8, 0, 0, 0, 9, 2, 0, 0, 0, 8];
        let mut reader = FrameReader::new(&stream[..], 64);
        assert!(!reader.has_frame());
        assert_eq!(reader.next().await.unwrap(), Some(&[9u8][..]));
        // The first read took the whole stream, the second frame is
        // only cut short by one byte missing: not whole.
        assert!(!reader.has_frame());
        assert!(reader.next().await.is_err());
        let mut whole = stream.to_vec();
        whole.push(7);
        let mut reader2 = FrameReader::new(&whole[..], 64);
        assert_eq!(reader2.next().await.unwrap(), Some(&[9u8][..]));
        assert!(reader2.has_frame());
        assert_eq!(reader2.next().await.unwrap(), Some(&[8u8, 7][..]));
        assert!(!reader2.has_frame());
    }
}
