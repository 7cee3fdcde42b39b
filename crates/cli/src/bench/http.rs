//! The one HTTP request the bench makes, to two local services (the
//! tracker's JSON API and the broker's Prometheus endpoint): a GET with
//! HTTP/1.0, so the answer is neither chunked nor kept alive. Not worth a
//! client library.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, Context};

/// The body of `GET http://{host}{path}` if the status is 200.
pub fn get(host: &str, path: &str, timeout: Duration) -> anyhow::Result<String> {
    let addr = host
        .to_socket_addrs()
        .with_context(|| format!("{host}: not an address"))?
        .next()
        .with_context(|| format!("{host}: no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to http://{host}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .with_context(|| format!("reading http://{host}{path}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("http://{host}{path}: no HTTP answer"))?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        bail!(
            "http://{host}{path}: {}",
            head.lines().next().unwrap_or("no status line")
        );
    }
    Ok(body.to_owned())
}
