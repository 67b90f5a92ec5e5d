//! The NoCloud seed: a small vfat volume labelled `CIDATA` holding
//! `meta-data`, `user-data` and (when given) `network-config`, built in
//! memory by the `fatfs` crate and written into the VM's runtime directory
//! at each start (`seed.img`, attached read-only). Built fresh every time
//! from the stored configuration, so it can never be stale; files carry
//! FAT's fixed epoch, so the same configuration makes the same bytes.

use super::config::Resolved;
use super::userdata::{meta_data, user_data};
use fatfs::{FileSystem, FormatVolumeOptions, FsOptions};
use std::io::{self, Cursor, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// cloud-init finds the seed by this label (it accepts either case).
const LABEL: [u8; 11] = *b"CIDATA     ";
const SECTOR: usize = 512;
/// Room for FAT12's tables, the root directory and cluster slack.
const OVERHEAD: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("Cannot build the cloud-init seed volume")]
    Build(#[source] io::Error),
    #[error("Cannot write the cloud-init seed {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The files of the seed, in the order they are written.
pub fn files(config: &Resolved) -> Vec<(&'static str, String)> {
    let mut files = vec![
        ("meta-data", meta_data(config)),
        ("user-data", user_data(config)),
    ];
    if let Some(network) = &config.network_config {
        files.push(("network-config", network.clone()));
    }
    files
}

/// The volume's bytes.
pub fn build(config: &Resolved) -> Result<Vec<u8>, SeedError> {
    let files = files(config);
    let payload: usize = files.iter().map(|(_, text)| text.len()).sum();
    let size = (payload * 2 + OVERHEAD).div_ceil(SECTOR) * SECTOR;
    let mut disk = Cursor::new(vec![0u8; size]);
    fatfs::format_volume(&mut disk, FormatVolumeOptions::new().volume_label(LABEL))
        .map_err(SeedError::Build)?;
    {
        let fs = FileSystem::new(&mut disk, FsOptions::new()).map_err(SeedError::Build)?;
        for (name, text) in &files {
            let mut file = fs.root_dir().create_file(name).map_err(SeedError::Build)?;
            file.write_all(text.as_bytes()).map_err(SeedError::Build)?;
            file.flush().map_err(SeedError::Build)?;
        }
        fs.unmount().map_err(SeedError::Build)?;
    }
    Ok(disk.into_inner())
}

/// Builds the seed and writes it to `path` (mode 0600). An existing file is
/// removed first and the new one created exclusively, so a symbolic link
/// planted there is never followed. Blocking: run it off the actor.
pub fn write(path: &Path, config: &Resolved) -> Result<(), SeedError> {
    let bytes = build(config)?;
    let failed = |source| SeedError::Write {
        path: path.to_owned(),
        source,
    };
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(failed(err)),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc_nofollow())
        .open(path)
        .map_err(failed)?;
    file.write_all(&bytes).map_err(failed)?;
    file.sync_all().map_err(failed)
}

fn libc_nofollow() -> i32 {
    nix::fcntl::OFlag::O_NOFOLLOW.bits()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn config(network: Option<&str>) -> Resolved {
        Resolved {
            user: "alice".into(),
            ssh_keys: vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq1k6Example alice@host".into()],
            hostname: "web".into(),
            user_data: None,
            network_config: network.map(str::to_owned),
            instance_id: "iid-corvus-1-0123456789abcdef".into(),
        }
    }

    fn read(image: Vec<u8>, name: &str) -> Option<String> {
        let fs = FileSystem::new(Cursor::new(image), FsOptions::new()).expect("a FAT volume");
        let mut text = String::new();
        fs.root_dir()
            .open_file(name)
            .ok()?
            .read_to_string(&mut text)
            .expect("read");
        Some(text)
    }

    #[test]
    fn the_seed_is_a_cidata_volume_with_the_nocloud_files() {
        let image = build(&config(Some("version: 2\n"))).expect("built");
        let fs = FileSystem::new(Cursor::new(image.clone()), FsOptions::new()).expect("fat");
        assert_eq!(fs.volume_label().trim_end(), "CIDATA");
        drop(fs);
        let meta = read(image.clone(), "meta-data").expect("meta-data");
        assert!(
            meta.contains("instance-id: iid-corvus-1-0123456789abcdef"),
            "{meta}"
        );
        let user = read(image.clone(), "user-data").expect("user-data");
        assert!(user.starts_with("#cloud-config\n"), "{user}");
        assert_eq!(
            read(image, "network-config").as_deref(),
            Some("version: 2\n")
        );
        let without = build(&config(None)).expect("built");
        assert_eq!(read(without, "network-config"), None);
    }

    #[test]
    fn the_same_configuration_makes_the_same_bytes() {
        assert_eq!(build(&config(None)).ok(), build(&config(None)).ok());
    }

    #[test]
    fn a_planted_link_is_replaced_not_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").expect("victim");
        let seed = dir.path().join("seed.img");
        std::os::unix::fs::symlink(&victim, &seed).expect("link");
        write(&seed, &config(None)).expect("written");
        assert_eq!(std::fs::read(&victim).expect("victim"), b"keep");
        assert!(!std::fs::symlink_metadata(&seed).expect("seed").is_symlink());
    }
}
