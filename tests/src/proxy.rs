//! A TCP proxy on 127.0.0.1 that a test can cut and restore: a network
//! partition between one process and a real server, with the server still
//! up for everyone else.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Forwards connections from its port to `127.0.0.1:<target>` until cut.
#[derive(Debug)]
pub struct TcpProxy {
    /// The port to connect to instead of the target's.
    pub port: u16,
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    cut: AtomicBool,
    closed: AtomicBool,
    streams: Mutex<Vec<TcpStream>>,
}

fn pump(mut from: TcpStream, mut to: TcpStream, state: &State) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if state.cut.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

impl TcpProxy {
    /// Starts a proxy to `127.0.0.1:<target>` on a free port.
    pub fn start(target: u16) -> std::io::Result<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(State::default());
        let s = Arc::clone(&state);
        std::thread::spawn(move || {
            for incoming in listener.incoming() {
                if s.closed.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = incoming else { continue };
                if s.cut.load(Ordering::SeqCst) {
                    // A partition: the connection goes nowhere.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect_timeout(
                    &([127, 0, 0, 1], target).into(),
                    Duration::from_secs(2),
                ) else {
                    continue;
                };
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                if let Ok(mut streams) = s.streams.lock() {
                    streams.extend(client.try_clone());
                    streams.extend(server.try_clone());
                }
                let (a, b) = (Arc::clone(&s), Arc::clone(&s));
                std::thread::spawn(move || pump(client, server, &a));
                std::thread::spawn(move || pump(s2, c2, &b));
            }
        });
        Ok(TcpProxy { port, state })
    }

    /// Cuts every connection and refuses new ones.
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        if let Ok(mut streams) = self.state.streams.lock() {
            for s in streams.drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.state.closed.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees `closed`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}
