//! The baseline of a round trip: an echo server in a process of its own,
//! with the daemon's kind of runtime (tokio, multi-threaded), that sends
//! back whatever bytes it reads. The client sends the very frame of a ping
//! through the same codec as the daemon's client, so the difference between
//! the two is what the daemon does with a request.

use anyhow::{Context as _, bail};
use corvus_protocol::{ClientMessage, Connection, Request};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// The hidden `echo-server` command.
pub fn serve(socket: &Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("Cannot start a runtime")?;
    runtime.block_on(async {
        let listener = UnixListener::bind(socket)
            .with_context(|| format!("Cannot bind {}", socket.display()))?;
        loop {
            let (mut stream, _) = listener.accept().await.context("accept failed")?;
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 64 * 1024];
                loop {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buffer[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    })
}

/// An echo server process of the benchmark's own; killed when dropped.
pub struct EchoServer {
    child: Child,
    socket: PathBuf,
}

impl EchoServer {
    pub async fn start(dir: &Path) -> anyhow::Result<EchoServer> {
        std::fs::create_dir_all(dir).with_context(|| format!("Cannot create {}", dir.display()))?;
        let socket = dir.join("echo.sock");
        let exe = std::env::current_exe().context("Cannot find this program's path")?;
        let child = Command::new(exe)
            .arg("echo-server")
            .arg("--socket")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .context("Cannot start the echo server")?;
        let mut server = EchoServer { child, socket };
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&server.socket).await.is_err() {
            if let Some(status) = server.child.try_wait().ok().flatten() {
                bail!("the echo server exited: {status}");
            }
            if Instant::now() > deadline {
                bail!("the echo server did not listen within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn connect(&self) -> anyhow::Result<EchoClient> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .context("Cannot connect to the echo server")?;
        Ok(EchoClient {
            conn: Connection::new(stream),
        })
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct EchoClient {
    conn: Connection<UnixStream, ClientMessage, ClientMessage>,
}

impl EchoClient {
    /// One round trip of a ping frame.
    pub async fn round_trip(&mut self) -> anyhow::Result<()> {
        self.conn
            .send(ClientMessage::Request(Request::Ping))
            .await
            .context("Cannot send to the echo server")?;
        match self.conn.recv().await.context("No echo")? {
            Some(ClientMessage::Request(Request::Ping)) => Ok(()),
            other => bail!("the echo server sent back {other:?}"),
        }
    }
}
