//! `disk import`: a local file or an http(s) URL, compressed or not, made
//! a managed disk. A plain local file is converted by qemu-img straight
//! from where it is (its checksum read beside the conversion); anything
//! else is first fetched into the disk directory, checked against its
//! checksum, and kept as it is when it already has the asked format.
//!
//! What was fetched is probed once, here, and checked before anything
//! opens it again: only raw and qcow2, and no qcow2 that names other host
//! files (a backing file, an external data file) unless `--flatten`.

use super::error::{DiskError, human_size};
use super::fetch::{self, Source};
use super::files::{self, NewFile};
use super::job::Reporter;
use super::ops::record;
use super::show::info_of;
use super::{Change, Env, Outcome};
use corvus_protocol::{DiskFormat, ImportSpec, Response};
use corvus_qemu::ImageInfo;
use corvus_storage::NewDisk;
use std::path::Path;

pub async fn run(env: Env, spec: ImportSpec, reporter: Reporter) -> Outcome {
    let expected = spec.sha256.as_deref().map(checksum).transpose()?;
    let source = Source::parse(&spec.source)?;
    files::ensure_dir(&env.dir).await?;
    let (file, format, virtual_size) = match (&source, source.compression()) {
        (Source::Local(path), None) => {
            let size = tokio::fs::metadata(path)
                .await
                .map_err(DiskError::io(format!("cannot read {}", path.display())))?
                .len();
            files::require_space(&env.dir, size).await?;
            let probe = probe(&env, path, size, &spec).await?;
            // The hash stops reading when the import ends early.
            let stop_hashing = reporter.cancel.child_token();
            let _stop_on_exit = stop_hashing.clone().drop_guard();
            let hashing = expected
                .as_ref()
                .map(|_| tokio::spawn(fetch::hash_file(path.clone(), stop_hashing.clone())));
            let target = convert(&env, path, &probe.format, size, spec.format, &reporter).await?;
            if let (Some(expected), Some(hashing)) = (expected, hashing) {
                let actual = hashing.await.map_err(|err| {
                    DiskError::io("hashing")(std::io::Error::other(err.to_string()))
                })??;
                verify(&expected, &actual)?;
            }
            (target, spec.format, probe.virtual_size)
        }
        _ => {
            let staged = NewFile::claim(&env.dir, spec.format.as_str()).await?;
            let fetched = fetch::fetch(&source, staged, &reporter, &env.dir).await?;
            if let Some(expected) = &expected {
                verify(expected, &fetched.sha256)?;
            }
            let size = tokio::fs::metadata(&fetched.file.path)
                .await
                .map_err(DiskError::io("cannot read the fetched file"))?
                .len();
            let probe = probe(&env, &fetched.file.path, size, &spec).await?;
            if probe.format == spec.format.as_str() && probe.external_files().is_empty() {
                (fetched.file, spec.format, probe.virtual_size)
            } else {
                let target = convert(
                    &env,
                    &fetched.file.path,
                    &probe.format,
                    size,
                    spec.format,
                    &reporter,
                )
                .await?;
                (target, spec.format, probe.virtual_size)
            }
        }
    };
    // A conversion keeps the virtual size the probe read.
    let new = NewDisk {
        name: spec.name,
        path: file.path_text(),
        format,
        virtual_size,
        backing_disk_id: None,
        managed: true,
    };
    let disk = record(&env, new, Some(file)).await?;
    let mut catalog = env.catalog.clone();
    catalog.insert(disk.clone());
    let info = info_of(&catalog, &disk, &[], None).await;
    Ok((vec![Change::Added(disk)], Response::Disk(Box::new(info))))
}

/// `--sha256`: 64 hex digits, in either case.
fn checksum(text: &str) -> Result<String, DiskError> {
    let lower = text.trim().to_ascii_lowercase();
    if lower.len() != 64 || !lower.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DiskError::Invalid(format!(
            "--sha256 must be 64 hexadecimal digits, got '{text}'"
        )));
    }
    Ok(lower)
}

fn verify(expected: &str, actual: &str) -> Result<(), DiskError> {
    if expected != actual {
        return Err(DiskError::Checksum {
            expected: expected.to_owned(),
            actual: actual.to_owned(),
        });
    }
    Ok(())
}

/// qemu-img's reading of what was fetched, and the refusals.
async fn probe(
    env: &Env,
    path: &Path,
    size: u64,
    spec: &ImportSpec,
) -> Result<ImageInfo, DiskError> {
    let info = env
        .img
        .info(path, None)
        .await
        .map_err(DiskError::img("qemu-img cannot read the source"))?;
    match info.format.parse::<DiskFormat>() {
        Ok(DiskFormat::Raw) if size == 0 || !size.is_multiple_of(512) => {
            return Err(DiskError::Source(format!(
                "the source is not a disk image: no image format qemu-img knows, and {size} bytes is not a whole number of 512-byte sectors"
            )));
        }
        Ok(_) => {}
        Err(_) => {
            return Err(DiskError::Source(format!(
                "the source is a {} image; Corvus imports raw and qcow2 images (convert it with `qemu-img convert -O qcow2` first)",
                info.format
            )));
        }
    }
    let external = info.external_files();
    if !external.is_empty() && !spec.flatten {
        return Err(DiskError::Source(format!(
            "the qcow2 image names other host files ({}): a crafted image reads host files that way, so it is refused; if you trust it, --flatten copies its whole chain into the new disk",
            external.join(", ")
        )));
    }
    Ok(info)
}

/// qemu-img convert into a new claimed file, with progress in bytes of
/// the source.
async fn convert(
    env: &Env,
    source: &Path,
    source_format: &str,
    size: u64,
    format: DiskFormat,
    reporter: &Reporter,
) -> Result<NewFile, DiskError> {
    let target = NewFile::claim(&env.dir, format.as_str()).await?;
    reporter.report("converting", 0, Some(size));
    let progress = reporter.clone();
    env.img
        .convert(
            (source, source_format),
            (&target.path, format.as_str()),
            move |fraction| {
                progress.report("converting", (fraction * size as f64) as u64, Some(size))
            },
            &reporter.cancel,
        )
        .await
        .map_err(DiskError::img(format!(
            "cannot convert the source ({}) to {format}",
            human_size(size)
        )))?;
    Ok(target)
}
