//! Bringing an import's source in: a local file or an http(s) download,
//! hashed (SHA-256) as fetched, decompressed on the fly (.xz, .gz, .zst)
//! and written to a claimed file in the disk directory.

use super::error::DiskError;
use super::files::NewFile;
use super::job::Reporter;
use async_compression::tokio::bufread::{GzipDecoder, XzDecoder, ZstdDecoder};
use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWriteExt, BufReader, ReadBuf};

/// Reads of this size keep the copy loop's overhead out of the figures.
const BUFFER: usize = 1 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A server that sends nothing for this long has stalled.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Where an import reads from.
#[derive(Debug, Clone)]
pub enum Source {
    Local(PathBuf),
    Url(reqwest::Url),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Xz,
    Zstd,
}

impl Source {
    pub fn parse(text: &str) -> Result<Source, DiskError> {
        if text.starts_with("http://") || text.starts_with("https://") {
            return reqwest::Url::parse(text)
                .map(Source::Url)
                .map_err(|err| DiskError::Invalid(format!("'{text}' is not a valid URL: {err}")));
        }
        if text.starts_with('/') {
            return Ok(Source::Local(PathBuf::from(text)));
        }
        Err(DiskError::Invalid(format!(
            "'{text}' is neither an absolute path nor an http:// or https:// URL"
        )))
    }

    /// Compression, from the name's suffix (what distributions publish).
    pub fn compression(&self) -> Option<Compression> {
        let name = match self {
            Source::Local(path) => path.to_string_lossy().into_owned(),
            Source::Url(url) => url.path().to_owned(),
        };
        if name.ends_with(".gz") {
            Some(Compression::Gzip)
        } else if name.ends_with(".xz") {
            Some(Compression::Xz)
        } else if name.ends_with(".zst") {
            Some(Compression::Zstd)
        } else {
            None
        }
    }
}

/// The SHA-256 and length of what was read, shared with the reader.
#[derive(Default)]
struct Tally {
    hasher: Sha256,
    bytes: u64,
}

/// Passes bytes through, hashing and counting them and reporting progress.
struct Hashing<R> {
    inner: R,
    tally: Arc<Mutex<Tally>>,
    reporter: Reporter,
    total: Option<u64>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Hashing<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            let new = &buf.filled()[before..];
            if !new.is_empty() {
                let bytes = match self.tally.lock() {
                    Ok(mut tally) => {
                        tally.hasher.update(new);
                        tally.bytes += new.len() as u64;
                        tally.bytes
                    }
                    Err(_) => 0,
                };
                self.reporter.report("fetching", bytes, self.total);
            }
        }
        polled
    }
}

/// What a fetch left: the staged file, and the source's digest and size.
pub struct Fetched {
    pub file: NewFile,
    pub sha256: String,
}

/// Fetches `source` into `file`, decompressing on the way.
pub async fn fetch(
    source: &Source,
    file: NewFile,
    reporter: &Reporter,
    dir: &std::path::Path,
) -> Result<Fetched, DiskError> {
    let (reader, total) = open(source).await?;
    // The compressed size is all that is known up front; a decompressed
    // image that outgrows the space ends in a write error.
    if let Some(total) = total {
        super::files::require_space(dir, total).await?;
    }
    let tally = Arc::new(Mutex::new(Tally::default()));
    let hashing = Hashing {
        inner: reader,
        tally: tally.clone(),
        reporter: reporter.clone(),
        total,
    };
    let raw = BufReader::with_capacity(BUFFER, hashing);
    let mut decoded: Pin<Box<dyn AsyncRead + Send>> = match source.compression() {
        None => Box::pin(raw),
        Some(Compression::Gzip) => {
            let mut decoder = GzipDecoder::new(raw);
            decoder.multiple_members(true);
            Box::pin(decoder)
        }
        Some(Compression::Xz) => {
            let mut decoder = XzDecoder::new(raw);
            decoder.multiple_members(true);
            Box::pin(decoder)
        }
        Some(Compression::Zstd) => {
            let mut decoder = ZstdDecoder::new(raw);
            decoder.multiple_members(true);
            Box::pin(decoder)
        }
    };
    let mut out = tokio::fs::OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&file.path)
        .await
        .map_err(DiskError::io(format!(
            "cannot open {}",
            file.path.display()
        )))?;
    let mut buffer = vec![0u8; BUFFER];
    loop {
        let read = tokio::select! {
            _ = reporter.cancel.cancelled() => return Err(DiskError::Cancelled),
            read = tokio::io::AsyncReadExt::read(&mut decoded, &mut buffer) => read,
        };
        let n = read.map_err(|err| read_error(source, err))?;
        if n == 0 {
            break;
        }
        out.write_all(&buffer[..n])
            .await
            .map_err(DiskError::io("cannot write the new disk file"))?;
    }
    out.sync_all()
        .await
        .map_err(DiskError::io("cannot write the new disk file"))?;
    let tally = std::mem::take(&mut *tally.lock().map_err(|_| DiskError::Cancelled)?);
    if let Some(total) = total
        && tally.bytes != total
    {
        return Err(DiskError::Source(format!(
            "the download of {} ended after {} of {total} bytes",
            describe(source),
            tally.bytes
        )));
    }
    Ok(Fetched {
        file,
        sha256: hex::encode(tally.hasher.finalize()),
    })
}

/// The SHA-256 of a local file, read off the caller's thread; it stops
/// reading once `cancel` is cancelled.
pub async fn hash_file(
    path: PathBuf,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<String, DiskError> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; BUFFER];
        loop {
            if cancel.is_cancelled() {
                return Err(std::io::Error::from(std::io::ErrorKind::Interrupted));
            }
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
        Ok(hex::encode(hasher.finalize()))
    })
    .await
    .map_err(|err| DiskError::io("hashing")(std::io::Error::other(err.to_string())))?
    .map_err(DiskError::io("cannot read the source to hash it"))
}

type Reader = Pin<Box<dyn AsyncRead + Send>>;

async fn open(source: &Source) -> Result<(Reader, Option<u64>), DiskError> {
    match source {
        Source::Local(path) => {
            let file = tokio::fs::File::open(path)
                .await
                .map_err(DiskError::io(format!("cannot read {}", path.display())))?;
            let meta = file
                .metadata()
                .await
                .map_err(DiskError::io(format!("cannot read {}", path.display())))?;
            if !meta.is_file() {
                return Err(DiskError::Invalid(format!(
                    "{} is not a regular file",
                    path.display()
                )));
            }
            Ok((Box::pin(file), Some(meta.len())))
        }
        Source::Url(url) => {
            let client = reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .build()
                .map_err(|err| DiskError::Source(format!("cannot set up an HTTP client: {err}")))?;
            let response =
                client.get(url.clone()).send().await.map_err(|err| {
                    DiskError::Source(format!("cannot reach {url}: {}", chain(&err)))
                })?;
            let status = response.status();
            if !status.is_success() {
                return Err(DiskError::Source(format!(
                    "{url} answered HTTP {status}; check the URL"
                )));
            }
            let length = response.content_length();
            let stream = response.bytes_stream().map_err(|err| {
                std::io::Error::new(std::io::ErrorKind::ConnectionAborted, chain(&err))
            });
            Ok((Box::pin(tokio_util::io::StreamReader::new(stream)), length))
        }
    }
}

fn describe(source: &Source) -> String {
    match source {
        Source::Local(path) => path.display().to_string(),
        Source::Url(url) => url.to_string(),
    }
}

/// A read that failed: the network, the file, or a decoder that met data
/// that is not what the name's suffix promised.
fn read_error(source: &Source, err: std::io::Error) -> DiskError {
    let what = match (err.kind(), source.compression()) {
        (std::io::ErrorKind::ConnectionAborted, _) => "the download broke off",
        (_, Some(Compression::Gzip)) => "the source is not a valid gzip stream",
        (_, Some(Compression::Xz)) => "the source is not a valid xz stream",
        (_, Some(Compression::Zstd)) => "the source is not a valid zstd stream",
        (_, None) => "reading the source failed",
    };
    DiskError::Source(format!("{what} ({}): {err}", describe(source)))
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_paths_or_http_urls_and_suffixes_name_the_compression() {
        assert!(matches!(Source::parse("/srv/a.raw"), Ok(Source::Local(_))));
        assert!(matches!(
            Source::parse("https://example.org/a.qcow2"),
            Ok(Source::Url(_))
        ));
        for bad in [
            "a.raw",
            "ftp://example.org/a",
            "file:///etc/passwd",
            "http://",
        ] {
            assert!(Source::parse(bad).is_err(), "{bad}");
        }
        let compression = |text: &str| Source::parse(text).unwrap().compression();
        assert_eq!(compression("/a.raw.xz"), Some(Compression::Xz));
        assert_eq!(compression("/a.img.gz"), Some(Compression::Gzip));
        assert_eq!(compression("/a.qcow2.zst"), Some(Compression::Zstd));
        assert_eq!(compression("/a.qcow2"), None);
        assert_eq!(
            compression("https://example.org/a.raw.xz?token=1.gz"),
            Some(Compression::Xz),
            "the query is not part of the name"
        );
    }
}
