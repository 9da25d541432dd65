//! A TCP proxy the test controls, between the gateway and RabbitMQ: `cut`
//! drops every open connection and refuses new ones; `blackhole` keeps
//! connections open but stops moving bytes (a stalled network or broker);
//! `restore` lets traffic through again.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Up,
    Cut,
    Blackhole,
}

pub struct Proxy {
    pub addr: SocketAddr,
    up: watch::Sender<Mode>,
    task: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let addr = listener.local_addr().expect("proxy addr");
        let (up, up_rx) = watch::channel(Mode::Up);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                match *up_rx.borrow() {
                    Mode::Up => {}
                    Mode::Cut => {
                        drop(client);
                        continue;
                    }
                    Mode::Blackhole => {
                        // Hold the socket, never answer, until cut or restored.
                        let mut rx = up_rx.clone();
                        tokio::spawn(async move {
                            let _hold = client;
                            until(&mut rx, |m| m != Mode::Blackhole).await;
                        });
                        continue;
                    }
                }
                let mut up_rx = up_rx.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = until(&mut up_rx, |m| m != Mode::Up) => {
                            let mode = *up_rx.borrow();
                            if mode == Mode::Blackhole {
                                // Stop moving bytes but keep both sockets open.
                                until(&mut up_rx, |m| m != Mode::Blackhole).await;
                            }
                        }
                    }
                });
            }
        });
        Proxy { addr, up, task }
    }

    /// Drops every proxied connection and refuses new ones.
    pub fn cut(&self) {
        self.up.send_replace(Mode::Cut);
    }

    /// Keeps connections open but moves no bytes.
    pub fn blackhole(&self) {
        self.up.send_replace(Mode::Blackhole);
    }

    /// Lets connections through again (a blackholed connection is closed
    /// then, as its stream is no longer coherent).
    pub fn restore(&self) {
        self.up.send_replace(Mode::Up);
    }
}

/// Waits until the mode satisfies `f` (or the proxy is gone).
async fn until(rx: &mut watch::Receiver<Mode>, f: impl Fn(Mode) -> bool) {
    let _ = rx.wait_for(|m| f(*m)).await.map(|_| ());
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
