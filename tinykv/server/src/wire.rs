//! The wire protocol: length-prefixed frames over one TCP connection, each
//! request tagged with an id so many calls are in flight at once
//! (pipelined, answered in any order) and a writer can coalesce every
//! frame that is ready into one `write` system call.
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

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedReceiver;

/// Largest frame either side accepts: a maximal value or scan plus room.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Coalesced writes stop growing at this size and go out.
const WRITE_BATCH: usize = 256 * 1024;

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

/// Reads one frame's payload into `buf`. `Ok(false)` on a clean end of the
/// stream between frames; a frame over [`MAX_FRAME`] or a stream cut inside
/// a frame is an error.
pub async fn read_frame(
    r: &mut (impl AsyncRead + Unpin),
    buf: &mut Vec<u8>,
) -> std::io::Result<bool> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut len[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(false);
            }
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the limit of {MAX_FRAME}"),
        ));
    }
    buf.clear();
    buf.resize(len, 0);
    r.read_exact(buf).await?;
    Ok(true)
}

/// Writes the frames sent on `frames` until every sender is gone or the
/// peer stops reading. Whatever is queued when the writer wakes goes out in
/// one `write` call, so a burst of replies (or of pipelined requests) costs
/// one system call rather than one each.
pub async fn write_frames(mut w: impl AsyncWrite + Unpin, mut frames: UnboundedReceiver<Vec<u8>>) {
    let mut buf = Vec::with_capacity(WRITE_BATCH);
    while let Some(first) = frames.recv().await {
        buf.clear();
        buf.extend_from_slice(&first);
        while buf.len() < WRITE_BATCH {
            match frames.try_recv() {
                Ok(frame) => buf.extend_from_slice(&frame),
                Err(_) => break,
            }
        }
        if w.write_all(&buf).await.is_err() {
            return;
        }
    }
    let _ = w.shutdown().await;
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
    async fn read_frame_limits_and_eof() {
        let mut buf = Vec::new();
        let mut empty: &[u8] = b"";
        assert!(!read_frame(&mut empty, &mut buf).await.unwrap());
        let mut half: &[u8] = &[3, 0];
        assert!(read_frame(&mut half, &mut buf).await.is_err());
        let huge = ((MAX_FRAME + 1) as u32).to_le_bytes();
        let mut huge: &[u8] = &huge;
        assert!(read_frame(&mut huge, &mut buf).await.is_err());
        let mut short: &[u8] = &[3, 0, 0, 0, 1, 2];
        assert!(read_frame(&mut short, &mut buf).await.is_err());
        let mut ok: &[u8] = &[2, 0, 0, 0, 1, 2, 9];
        assert!(read_frame(&mut ok, &mut buf).await.unwrap());
        assert_eq!(buf, [1, 2]);
    }
}
