//! The last bytes of a log: QEMU's stderr for an error message, the serial
//! log for the console replay.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// At most the last `max` bytes of `path` (the whole file if shorter).
/// Blocking; use [`read_tail_async`] on a runtime thread.
pub fn read_tail(path: &Path, max: usize) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(start_offset(len, max)))?;
    let mut tail = Vec::new();
    // `take`: the writer may still be appending; stay within `max`.
    file.take(max as u64).read_to_end(&mut tail)?;
    Ok(tail)
}

pub async fn read_tail_async(path: &Path, max: usize) -> io::Result<Vec<u8>> {
    let mut file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    file.seek(SeekFrom::Start(start_offset(len, max))).await?;
    let mut tail = Vec::new();
    file.take(max as u64).read_to_end(&mut tail).await?;
    Ok(tail)
}

fn start_offset(len: u64, max: usize) -> u64 {
    len.saturating_sub(max as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_tail_is_the_last_bytes_or_everything() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        std::fs::write(&path, b"0123456789").expect("write");
        assert_eq!(read_tail(&path, 4).expect("tail"), b"6789");
        assert_eq!(read_tail(&path, 100).expect("tail"), b"0123456789");
        assert_eq!(read_tail(&path, 0).expect("tail"), b"");
        assert_eq!(read_tail_async(&path, 4).await.expect("tail"), b"6789");
        assert_eq!(
            read_tail_async(&path, 100).await.expect("tail"),
            b"0123456789"
        );
        let missing = read_tail(&dir.path().join("nope"), 4).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
