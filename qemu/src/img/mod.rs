//! qemu-img, the engine of Corvus's disks: every operation is a child
//! process run without blocking the caller's thread; a conversion reports
//! its progress and can be cancelled (its child is killed, and the caller
//! removes the partial file).
//!
//! Formats are always passed (`-f`, `-F`, `-O`) except where probing is
//! the point: reading what an import fetched, which is then checked (see
//! [`ImageInfo::external_files`]) before anything opens it again.

mod info;
mod progress;

pub use info::{ImageInfo, SnapshotInfo};
pub use progress::ProgressParser;

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// The most of qemu-img's stderr kept for an error message.
const STDERR_LIMIT: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ImgError {
    #[error("Cannot run {}", binary.display())]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("qemu-img {operation} failed ({status}): {stderr}")]
    Failed {
        operation: &'static str,
        status: ExitStatus,
        stderr: String,
    },
    #[error("qemu-img {operation} printed output Corvus cannot read")]
    Parse {
        operation: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("Cancelled")]
    Cancelled,
}

/// One `qemu-img snapshot` operation on a qcow2 file.
#[derive(Debug, Clone, Copy)]
pub enum SnapshotOp<'a> {
    Create(&'a str),
    Delete(&'a str),
    Revert(&'a str),
}

/// A qemu-img binary.
#[derive(Debug, Clone)]
pub struct QemuImg {
    binary: PathBuf,
}

impl Default for QemuImg {
    fn default() -> Self {
        QemuImg::new("qemu-img")
    }
}

impl QemuImg {
    pub fn new(binary: impl Into<PathBuf>) -> QemuImg {
        QemuImg {
            binary: binary.into(),
        }
    }

    /// `qemu-img info` of one image. `format: None` lets qemu-img probe,
    /// which only an import's first look at a fetched file should do.
    /// `-U`: a disk a running VM holds can still be described.
    pub async fn info(&self, path: &Path, format: Option<&str>) -> Result<ImageInfo, ImgError> {
        let out = self.run("info", info_args(path, format, false)).await?;
        info::parse_one(&out).map_err(|source| ImgError::Parse {
            operation: "info",
            source,
        })
    }

    /// `qemu-img info --backing-chain`: the image and every backing file, top first.
    pub async fn info_chain(
        &self,
        path: &Path,
        format: Option<&str>,
    ) -> Result<Vec<ImageInfo>, ImgError> {
        let out = self.run("info", info_args(path, format, true)).await?;
        info::parse_chain(&out).map_err(|source| ImgError::Parse {
            operation: "info",
            source,
        })
    }

    /// A new image of `size` bytes, or a thin qcow2 on `backing` (with
    /// the backing file's format written into its header).
    pub async fn create(
        &self,
        path: &Path,
        format: &str,
        size: Option<u64>,
        backing: Option<(&Path, &str)>,
    ) -> Result<(), ImgError> {
        let mut args: Vec<OsString> =
            vec!["create".into(), "-q".into(), "-f".into(), format.into()];
        if let Some((file, backing_format)) = backing {
            args.extend(["-b".into(), file.into(), "-F".into(), backing_format.into()]);
        }
        args.push(path.into());
        if let Some(size) = size {
            args.push(size.to_string().into());
        }
        self.run("create", args).await.map(drop)
    }

    /// Copies `source` (its whole backing chain) into a new `target`;
    /// `on_progress` gets fractions from 0 to 1. On cancellation the child
    /// is killed and `target` is left for the caller to remove.
    pub async fn convert(
        &self,
        source: (&Path, &str),
        target: (&Path, &str),
        mut on_progress: impl FnMut(f64) + Send,
        cancel: &CancellationToken,
    ) -> Result<(), ImgError> {
        let args: Vec<OsString> = vec![
            "convert".into(),
            "-p".into(),
            "-f".into(),
            source.1.into(),
            "-O".into(),
            target.1.into(),
            source.0.into(),
            target.0.into(),
        ];
        let mut child = self.spawn(args)?;
        let mut stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let stderr_task = tokio::spawn(read_limited(stderr));
        let mut parser = ProgressParser::default();
        let mut buffer = [0u8; 256];
        let status = loop {
            tokio::select! {
                _ = cancel.cancelled() => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    stderr_task.abort();
                    return Err(ImgError::Cancelled);
                }
                read = async {
                    match stdout.as_mut() {
                        Some(out) => out.read(&mut buffer).await,
                        None => std::future::pending().await,
                    }
                } => match read {
                    Ok(0) | Err(_) => stdout = None,
                    Ok(n) => if let Some(fraction) = parser.feed(&buffer[..n]) {
                        on_progress(fraction);
                    },
                },
                status = child.wait(), if stdout.is_none() => break status,
            }
        };
        let status = status.map_err(|source| self.spawn_error(source))?;
        let stderr = stderr_task.await.unwrap_or_default();
        check("convert", status, stderr).map(drop)
    }

    /// Changes the virtual size; a smaller size needs `shrink`.
    pub async fn resize(
        &self,
        path: &Path,
        format: &str,
        size: u64,
        shrink: bool,
    ) -> Result<(), ImgError> {
        let mut args: Vec<OsString> =
            vec!["resize".into(), "-q".into(), "-f".into(), format.into()];
        if shrink {
            args.push("--shrink".into());
        }
        args.push(path.into());
        args.push(size.to_string().into());
        self.run("resize", args).await.map(drop)
    }

    /// Creates, deletes or reverts to an internal snapshot of a qcow2.
    /// `qemu-img snapshot` has no `-f`; `--image-opts` names the driver
    /// instead, so the format is still never probed.
    pub async fn snapshot(&self, path: &Path, op: SnapshotOp<'_>) -> Result<(), ImgError> {
        let (flag, name) = match op {
            SnapshotOp::Create(name) => ("-c", name),
            SnapshotOp::Delete(name) => ("-d", name),
            SnapshotOp::Revert(name) => ("-a", name),
        };
        let mut image = b"driver=qcow2,file.driver=file,file.filename=".to_vec();
        image.extend(crate::cmdline::escape_commas(path.as_os_str().as_bytes()));
        let args: Vec<OsString> = vec![
            "snapshot".into(),
            "-q".into(),
            "--image-opts".into(),
            flag.into(),
            name.into(),
            OsString::from_vec(image),
        ];
        self.run("snapshot", args).await.map(drop)
    }

    fn spawn(&self, args: Vec<OsString>) -> Result<tokio::process::Child, ImgError> {
        Command::new(&self.binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A caller that gives up (a dropped task) must not leave qemu-img writing.
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| self.spawn_error(source))
    }

    fn spawn_error(&self, source: std::io::Error) -> ImgError {
        ImgError::Spawn {
            binary: self.binary.clone(),
            source,
        }
    }

    /// Runs to completion; returns stdout.
    async fn run(&self, operation: &'static str, args: Vec<OsString>) -> Result<Vec<u8>, ImgError> {
        let child = self.spawn(args)?;
        let output = child
            .wait_with_output()
            .await
            .map_err(|source| self.spawn_error(source))?;
        let mut stderr = output.stderr;
        stderr.truncate(STDERR_LIMIT);
        check(operation, output.status, stderr)?;
        Ok(output.stdout)
    }
}

fn info_args(path: &Path, format: Option<&str>, chain: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["info".into(), "--output=json".into(), "-U".into()];
    if chain {
        args.push("--backing-chain".into());
    }
    if let Some(format) = format {
        args.extend(["-f".into(), format.into()]);
    }
    args.push(path.into());
    args
}

fn check(operation: &'static str, status: ExitStatus, stderr: Vec<u8>) -> Result<(), ImgError> {
    if status.success() {
        return Ok(());
    }
    Err(ImgError::Failed {
        operation,
        status,
        stderr: String::from_utf8_lossy(&stderr).trim().to_owned(),
    })
}

async fn read_limited(stream: Option<tokio::process::ChildStderr>) -> Vec<u8> {
    let mut collected = Vec::new();
    if let Some(stream) = stream {
        let _ = stream
            .take(STDERR_LIMIT as u64)
            .read_to_end(&mut collected)
            .await;
    }
    collected
}
