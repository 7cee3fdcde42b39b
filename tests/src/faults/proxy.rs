//! A TCP proxy on loopback, in the test process, between clients (an
//! adapter) and the broker; it can cut the network.
//!
//! A cut behaves like a real one, not like a closed socket: the
//! connections open at that moment go silent in both directions (bytes are
//! read and dropped, nothing is closed towards either side), so only the
//! AMQP heartbeat can tell the client its connection is dead; and new
//! connections are refused (accepted and closed at once). When the network
//! comes back, the silenced connections are closed and new ones are
//! forwarded again.
//!
//! Threads and blocking sockets: a handful of connections, and no tokio
//! networking needed.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

struct Conn {
    client: TcpStream,
    server: TcpStream,
    /// Cut off: nothing is forwarded any more.
    severed: Arc<AtomicBool>,
    /// The client closed its side.
    client_gone: Arc<AtomicBool>,
}

#[derive(Default)]
struct State {
    cut: bool,
    conns: Vec<Conn>,
    refused: usize,
}

struct Shared {
    upstream: SocketAddr,
    state: Mutex<State>,
    stopping: AtomicBool,
}

/// What a cut did, told when the network comes back.
#[derive(Debug, Clone, Copy)]
pub struct CutReport {
    /// Connections open when the cut began.
    pub severed: usize,
    /// Of those, connections the client had not closed by the end of the
    /// cut: it did not notice its connection was dead.
    pub still_held_by_client: usize,
    /// Connections refused during the cut.
    pub refused: usize,
}

/// The proxy; stops (closing every connection) on drop.
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listener");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            upstream,
            state: Mutex::new(State::default()),
            stopping: AtomicBool::new(false),
        });
        let s = shared.clone();
        let accept = std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.stopping.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(client) = client {
                    s.admit(client);
                }
            }
        });
        Proxy {
            port,
            shared,
            accept: Some(accept),
        }
    }

    /// `url` (an `amqp://` URL of the upstream) through the proxy.
    pub fn url_for(&self, url: &str) -> String {
        url.replace(
            &format!("127.0.0.1:{}", self.shared.upstream.port()),
            &format!("127.0.0.1:{}", self.port),
        )
    }

    /// Cuts the network: every open connection goes silent, new ones are
    /// refused.
    pub fn cut(&self) {
        let mut st = self.shared.state.lock().unwrap();
        st.cut = true;
        st.refused = 0;
        for c in &st.conns {
            c.severed.store(true, Ordering::SeqCst);
        }
    }

    /// The network is back: the silenced connections are closed, new ones
    /// are forwarded.
    pub fn restore(&self) -> CutReport {
        let mut st = self.shared.state.lock().unwrap();
        st.cut = false;
        let (severed, live): (Vec<Conn>, Vec<Conn>) = std::mem::take(&mut st.conns)
            .into_iter()
            .partition(|c| c.severed.load(Ordering::SeqCst));
        st.conns = live;
        let report = CutReport {
            severed: severed.len(),
            still_held_by_client: severed
                .iter()
                .filter(|c| !c.client_gone.load(Ordering::SeqCst))
                .count(),
            refused: st.refused,
        };
        for c in severed {
            c.close();
        }
        report
    }
}

impl Shared {
    fn admit(&self, client: TcpStream) {
        let mut st = self.state.lock().unwrap();
        if st.cut {
            st.refused += 1;
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        let Ok(server) = TcpStream::connect(self.upstream) else {
            let _ = client.shutdown(Shutdown::Both);
            return;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let conn = Conn {
            client,
            server,
            severed: Arc::new(AtomicBool::new(false)),
            client_gone: Arc::new(AtomicBool::new(false)),
        };
        let (Ok(c1), Ok(c2), Ok(s1), Ok(s2)) = (
            conn.client.try_clone(),
            conn.client.try_clone(),
            conn.server.try_clone(),
            conn.server.try_clone(),
        ) else {
            conn.close();
            return;
        };
        let (sev1, sev2) = (conn.severed.clone(), conn.severed.clone());
        let gone = conn.client_gone.clone();
        std::thread::spawn(move || pump(c1, s1, &sev1, Some(&gone)));
        std::thread::spawn(move || pump(s2, c2, &sev2, None));
        // Forget connections both of whose sides are closed.
        st.conns.retain(|c| !c.client_gone.load(Ordering::SeqCst));
        st.conns.push(conn);
    }
}

impl Conn {
    fn close(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }
}

/// Copies `from` to `to` until `from` ends; once `severed`, reads and drops
/// everything and closes nothing (a cut network says nothing).
fn pump(mut from: TcpStream, mut to: TcpStream, severed: &AtomicBool, gone: Option<&AtomicBool>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => {
                if let Some(g) = gone {
                    g.store(true, Ordering::SeqCst);
                }
                if !severed.load(Ordering::SeqCst) {
                    let _ = to.shutdown(Shutdown::Both);
                    let _ = from.shutdown(Shutdown::Both);
                }
                return;
            }
            Ok(n) => {
                if severed.load(Ordering::SeqCst) {
                    continue;
                }
                if to.write_all(&buf[..n]).is_err() {
                    let _ = from.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees `stopping`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
        for c in std::mem::take(&mut self.shared.state.lock().unwrap().conns) {
            c.close();
        }
    }
}
