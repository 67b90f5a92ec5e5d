//! A small HTTP/1.1 file server on 127.0.0.1 inside the test process, for
//! imports: whole files, HTTP errors, and connections that break off.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a path is served.
#[derive(Clone)]
pub enum Serve {
    /// 200 with Content-Length and the whole body.
    Whole(Vec<u8>),
    /// 200 announcing the whole length, then half the body, then a close.
    DropHalfway(Vec<u8>),
    /// 200 announcing the whole length, then half the body, then silence
    /// until the server stops (at most a minute).
    StallHalfway(Vec<u8>),
}

pub struct FileServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FileServer {
    pub fn start(files: Vec<(&str, Serve)>) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let files: Arc<HashMap<String, Serve>> = Arc::new(
            files
                .into_iter()
                .map(|(path, serve)| (path.to_owned(), serve))
                .collect(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let files = files.clone();
                let stopping = stopping.clone();
                std::thread::spawn(move || serve(stream, &files, &stopping));
            }
        });
        FileServer {
            port,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut stream: TcpStream, files: &HashMap<String, Serve>, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(clone) => clone,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" || header == "\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (body, cut, stall) = match files.get(path) {
        Some(Serve::Whole(body)) => (body, body.len(), false),
        Some(Serve::DropHalfway(body)) => (body, body.len() / 2, false),
        Some(Serve::StallHalfway(body)) => (body, body.len() / 2, true),
        None => {
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
            );
            return;
        }
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if stream.write_all(head.as_bytes()).is_err() || stream.write_all(&body[..cut]).is_err() {
        return;
    }
    let _ = stream.flush();
    if stall {
        let until = Instant::now() + Duration::from_secs(60);
        while !stop.load(Ordering::SeqCst) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
