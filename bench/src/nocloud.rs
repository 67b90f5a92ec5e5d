//! The bare baseline's NoCloud seed of figure 12, made by hand as a user
//! would, but built the way the daemon builds its own (a vfat volume
//! labelled `CIDATA`, written by `fatfs`), with the same `meta-data` and
//! `#cloud-config` content, so both guests do the same first-boot work.

use anyhow::Context as _;
use fatfs::{FileSystem, FormatVolumeOptions, FsOptions};
use std::io::{Cursor, Write};
use std::path::Path;

/// What cloud-init is told: the same user, key and hostname on both sides.
pub struct Seed<'a> {
    pub instance_id: &'a str,
    pub hostname: &'a str,
    pub user: &'a str,
    pub ssh_key: &'a str,
}

impl Seed<'_> {
    fn meta_data(&self) -> String {
        format!(
            "instance-id: {}\nlocal-hostname: {}\n",
            self.instance_id, self.hostname
        )
    }

    fn user_data(&self) -> String {
        format!(
            "#cloud-config\nhostname: {host}\npreserve_hostname: false\nusers:\n  - name: {user}\n    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n    shell: /bin/bash\n    lock_passwd: true\n    ssh_authorized_keys:\n      - \"{key}\"\nssh_pwauth: false\n",
            host = self.hostname,
            user = self.user,
            key = self.ssh_key.trim(),
        )
    }

    /// Writes the volume to `path`.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let files = [
            ("meta-data", self.meta_data()),
            ("user-data", self.user_data()),
        ];
        let mut disk = Cursor::new(vec![0u8; 1 << 21]);
        fatfs::format_volume(
            &mut disk,
            FormatVolumeOptions::new().volume_label(*b"CIDATA     "),
        )
        .context("Cannot format the seed volume")?;
        {
            let fs =
                FileSystem::new(&mut disk, FsOptions::new()).context("Cannot open the seed")?;
            for (name, text) in &files {
                let mut file = fs.root_dir().create_file(name)?;
                file.write_all(text.as_bytes())?;
                file.flush()?;
            }
            fs.unmount().context("Cannot close the seed")?;
        }
        std::fs::write(path, disk.into_inner())
            .with_context(|| format!("Cannot write {}", path.display()))
    }
}
