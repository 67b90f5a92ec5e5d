//! `qemu-img info --output=json` read with serde: only the fields Corvus
//! uses, so a newer qemu-img's additions never break the parse.

use serde::Deserialize;

/// One image of `qemu-img info` (with `--backing-chain`, one per layer,
/// the top first).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImageInfo {
    pub filename: String,
    pub format: String,
    pub virtual_size: u64,
    /// Bytes allocated on the host; absent for some protocols.
    pub actual_size: Option<u64>,
    /// The backing file as the header names it.
    pub backing_filename: Option<String>,
    /// The backing file resolved against the image's directory.
    pub full_backing_filename: Option<String>,
    /// The backing file's format as the header names it; absent when
    /// the header leaves it to probing.
    pub backing_filename_format: Option<String>,
    #[serde(default)]
    pub snapshots: Vec<SnapshotInfo>,
    #[serde(default)]
    pub dirty_flag: bool,
    pub format_specific: Option<FormatSpecific>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FormatSpecific {
    pub data: Option<FormatData>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FormatData {
    /// A qcow2 whose data lives in another file.
    pub data_file: Option<String>,
}

impl ImageInfo {
    /// Host files that opening this image would read besides itself: a
    /// backing file, a qcow2 external data file. A crafted image names
    /// `/etc/shadow` here; an import refuses such images.
    pub fn external_files(&self) -> Vec<&str> {
        let data_file = self
            .format_specific
            .as_ref()
            .and_then(|specific| specific.data.as_ref())
            .and_then(|data| data.data_file.as_deref());
        self.backing_filename
            .as_deref()
            .into_iter()
            .chain(data_file)
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SnapshotInfo {
    pub id: String,
    pub name: String,
    pub date_sec: i64,
    #[serde(default)]
    pub vm_state_size: u64,
}

/// Reads `qemu-img info --output=json` of one image.
pub fn parse_one(json: &[u8]) -> Result<ImageInfo, serde_json::Error> {
    serde_json::from_slice(json)
}

/// Reads `qemu-img info --output=json --backing-chain`: an array, top first.
pub fn parse_chain(json: &[u8]) -> Result<Vec<ImageInfo>, serde_json::Error> {
    serde_json::from_slice(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from qemu-img 7.2's output for an overlay with a snapshot.
    const CHAIN: &str = r#"[
        {"backing-filename-format": "qcow2",
         "snapshots": [{"icount": 0, "vm-clock-nsec": 0, "name": "s1", "date-sec": 1796599084,
                        "date-nsec": 539143000, "vm-clock-sec": 0, "id": "1", "vm-state-size": 0}],
         "virtual-size": 67108864, "filename": "ov.qcow2", "cluster-size": 65536,
         "format": "qcow2", "actual-size": 208896,
         "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "corrupt": false}},
         "full-backing-filename": "/d/base.qcow2", "backing-filename": "base.qcow2",
         "dirty-flag": false},
        {"virtual-size": 67108864, "filename": "/d/base.qcow2", "cluster-size": 65536,
         "format": "raw", "actual-size": 200704, "dirty-flag": false}
    ]"#;

    #[test]
    fn a_chain_reads_top_first_with_backing_and_snapshots() {
        let chain = parse_chain(CHAIN.as_bytes()).unwrap();
        assert_eq!(chain.len(), 2);
        let top = &chain[0];
        assert_eq!(top.format, "qcow2");
        assert_eq!(top.virtual_size, 64 << 20);
        assert_eq!(top.actual_size, Some(208896));
        assert_eq!(top.backing_filename.as_deref(), Some("base.qcow2"));
        assert_eq!(top.full_backing_filename.as_deref(), Some("/d/base.qcow2"));
        assert_eq!(top.backing_filename_format.as_deref(), Some("qcow2"));
        assert_eq!(top.snapshots[0].name, "s1");
        assert_eq!(top.snapshots[0].date_sec, 1796599084);
        assert_eq!(top.external_files(), vec!["base.qcow2"]);
        assert_eq!(chain[1].backing_filename, None);
        assert!(chain[1].external_files().is_empty());
        assert!(chain[1].snapshots.is_empty());
    }

    #[test]
    fn a_raw_image_has_no_backing() {
        let raw = parse_one(
            br#"{"virtual-size": 1024, "filename": "junk", "format": "raw", "actual-size": 0, "dirty-flag": false}"#,
        )
        .unwrap();
        assert_eq!(raw.format, "raw");
        assert_eq!(raw.backing_filename, None);
    }

    #[test]
    fn an_external_data_file_counts_as_a_host_file() {
        let info = parse_one(
            br#"{"virtual-size": 1024, "filename": "x", "format": "qcow2",
                 "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "data-file": "/etc/shadow"}}}"#,
        )
        .unwrap();
        assert_eq!(info.external_files(), vec!["/etc/shadow"]);
    }
}
