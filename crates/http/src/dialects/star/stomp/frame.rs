//! STOMP 1.0–1.2 frames: `COMMAND\n`, `name:value\n` headers, a blank line, the body
//! and a NUL. Hand-written (no maintained crate fits; see README): several frames may
//! share one WebSocket message, a frame may span messages, and bare end-of-lines
//! between frames are heart-beats.

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub command: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Frame {
    /// A frame with no body.
    pub fn new(command: &str) -> Self {
        Self { command: command.to_owned(), headers: Vec::new(), body: Vec::new() }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of a header (STOMP: the first occurrence wins).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Wire form. Header values are escaped except in CONNECTED (as 1.2 requires).
    pub fn encode(&self) -> Vec<u8> {
        let escape = self.command != "CONNECTED";
        let mut out = Vec::with_capacity(self.body.len() + 64);
        out.extend_from_slice(self.command.as_bytes());
        out.push(b'\n');
        for (name, value) in &self.headers {
            push_escaped(&mut out, name, escape);
            out.push(b':');
            push_escaped(&mut out, value, escape);
            out.push(b'\n');
        }
        if !self.body.is_empty() && self.get("content-length").is_none() {
            out.extend_from_slice(format!("content-length:{}\n", self.body.len()).as_bytes());
        }
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out.push(0);
        out
    }
}

fn push_escaped(out: &mut Vec<u8>, text: &str, escape: bool) {
    if !escape {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    for c in text.chars() {
        match c {
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            ':' => out.extend_from_slice(b"\\c"),
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
}

fn unescape(raw: &str, escaped: bool) -> Result<String, String> {
    if !escaped {
        return Ok(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('c') => out.push(':'),
            other => {
                return Err(format!("invalid escape `\\{}` in a header", other.map(String::from).unwrap_or_default()));
            }
        }
    }
    Ok(out)
}

/// What the decoder found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Frame(Frame),
    HeartBeat,
}

/// Largest frame accepted (headers and body).
pub const MAX_FRAME: usize = 1024 * 1024;

/// Incremental decoder: feed bytes, take items.
#[derive(Debug, Default)]
pub struct Decoder {
    buffer: Vec<u8>,
}

impl Decoder {
    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete item, `Ok(None)` when more bytes are needed, or an error for a
    /// malformed or oversize frame.
    pub fn next_item(&mut self) -> Result<Option<Item>, String> {
        if self.buffer.first() == Some(&b'\n') {
            self.buffer.remove(0);
            return Ok(Some(Item::HeartBeat));
        }
        if self.buffer.starts_with(b"\r\n") {
            self.buffer.drain(..2);
            return Ok(Some(Item::HeartBeat));
        }
        let Some(head_end) =
            find(&self.buffer, b"\n\n").map(|i| (i, 2)).or_else(|| find(&self.buffer, b"\r\n\r\n").map(|i| (i, 4)))
        else {
            return if self.buffer.len() > MAX_FRAME { Err("frame too large".into()) } else { Ok(None) };
        };
        let (head_len, sep) = head_end;
        let head = std::str::from_utf8(&self.buffer[..head_len]).map_err(|_| "headers are not UTF-8".to_owned())?;
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let command = lines.next().unwrap_or_default().to_owned();
        if command.is_empty() || !command.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("invalid command `{command}`"));
        }
        let escaped = command != "CONNECT" && command != "CONNECTED";
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line.split_once(':').ok_or_else(|| format!("invalid header line `{line}`"))?;
            headers.push((unescape(name, escaped)?, unescape(value, escaped)?));
        }
        let body_start = head_len + sep;
        let length = headers.iter().find(|(n, _)| n == "content-length").map(|(_, v)| v.parse::<usize>());
        let (body_end, frame_end) = match length {
            Some(Ok(n)) => {
                if n > MAX_FRAME {
                    return Err("frame too large".into());
                }
                if self.buffer.len() < body_start + n + 1 {
                    return Ok(None);
                }
                if self.buffer[body_start + n] != 0 {
                    return Err("frame body longer than its content-length".into());
                }
                (body_start + n, body_start + n + 1)
            }
            Some(Err(_)) => return Err("invalid content-length".into()),
            None => match self.buffer[body_start..].iter().position(|b| *b == 0) {
                Some(at) => (body_start + at, body_start + at + 1),
                None if self.buffer.len() > MAX_FRAME => return Err("frame too large".into()),
                None => return Ok(None),
            },
        };
        let body = self.buffer[body_start..body_end].to_vec();
        self.buffer.drain(..frame_end);
        Ok(Some(Item::Frame(Frame { command, headers, body })))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Vec<Item> {
        let mut d = Decoder::default();
        d.push(bytes);
        std::iter::from_fn(|| d.next_item().unwrap()).collect()
    }

    #[test]
    fn frames_round_trip_with_escaped_headers() {
        let frame =
            Frame::new("MESSAGE").header("destination", "/user/topic/result").header("odd", "a:b\nc\\d").body("{}");
        let items = decode_all(&frame.encode());
        assert_eq!(items, vec![Item::Frame(frame.clone().header("content-length", "2"))]);
    }

    #[test]
    fn several_frames_heart_beats_and_partial_input() {
        let mut d = Decoder::default();
        d.push(b"\nCONNECT\naccept-version:1.2\nAuthorization:Bearer a:b\n\n\0\r\nSEND\ndestination:/app/x\ncontent-length:3\n\na\0b");
        assert_eq!(d.next_item().unwrap(), Some(Item::HeartBeat));
        let Some(Item::Frame(connect)) = d.next_item().unwrap() else { panic!() };
        assert_eq!(connect.get("Authorization"), Some("Bearer a:b"), "CONNECT headers are not unescaped");
        assert_eq!(d.next_item().unwrap(), Some(Item::HeartBeat));
        assert_eq!(d.next_item().unwrap(), None, "body incomplete");
        d.push(b"\0");
        let Some(Item::Frame(send)) = d.next_item().unwrap() else { panic!() };
        assert_eq!(send.body, b"a\0b", "content-length allows NUL in bodies");
    }

    #[test]
    fn malformed_frames_are_errors() {
        for bad in
            [&b"send\n\n\0"[..], b"SEND\nno-colon\n\n\0", b"SEND\ncontent-length:x\n\n\0", b"SEND\nbad:\\q\n\n\0"]
        {
            let mut d = Decoder::default();
            d.push(bad);
            assert!(d.next_item().is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
