//! Checks on definitions, before anything is written. Pure functions here;
//! the few checks that look at the filesystem are in `files`.

use corvus_protocol::text::{escaped_char, first_control};
use corvus_protocol::{
    DriveInterface, DriveMedia, DriveSpec, NicSpec, NicType, ShareSpec, VmChanges, VmSpec,
    WireError,
};

pub const CPUS: std::ops::RangeInclusive<u32> = 1..=256;
pub const RAM_MB: std::ops::RangeInclusive<u64> = 16..=4_194_304;
const STOP_TIMEOUT: std::ops::RangeInclusive<u32> = 1..=86_400;
const MAX_RESTARTS: std::ops::RangeInclusive<u32> = 0..=1000;
const RESTART_WINDOW: std::ops::RangeInclusive<u32> = 1..=86_400;
/// Each slot is a PCIe root port on q35's root bus, which has 32 slots
/// shared with the built-in devices and the VM's own devices.
const HOTPLUG_SLOTS: std::ops::RangeInclusive<u32> = 0..=16;
const NAME_MAX: usize = 64;
/// virtio-fs limits a tag to 36 bytes.
const TAG_MAX: usize = 36;
/// Linux interface names are at most 15 bytes.
const IFNAME_MAX: usize = 15;
const TEXT_MAX: usize = 4096;

type Check = Result<(), WireError>;

fn invalid(message: String) -> Check {
    Err(WireError::invalid(message))
}

/// A definition QEMU would refuse, refused before anything is written.
pub fn definition(err: corvus_qemu::InvalidVm) -> WireError {
    WireError::invalid(err.to_string())
}

/// The whole VM as it would be after a change: the checks QEMU's command
/// line needs (read-only IDE disks, pflash units, kernel boot), at
/// definition time rather than at the next start.
pub fn whole(vm: &corvus_protocol::VmInfo) -> Check {
    corvus_qemu::cmdline::validate(vm).map_err(definition)
}

fn in_range<T: PartialOrd + std::fmt::Display>(
    what: &str,
    value: T,
    range: &std::ops::RangeInclusive<T>,
) -> Check {
    if range.contains(&value) {
        Ok(())
    } else {
        invalid(format!(
            "{what} must be between {} and {}, got {value}",
            range.start(),
            range.end()
        ))
    }
}

/// VM names: 1–64 ASCII letters, digits, `-`, `_`, `.`; never all digits
/// (so that a name can never be read as an id) and never starting with `-`
/// (so that it can never be read as an option).
pub fn name(name: &str) -> Check {
    if name.is_empty() || name.len() > NAME_MAX {
        return invalid(format!(
            "VM name must be 1 to {NAME_MAX} characters, got {}",
            name.chars().count()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return invalid(format!(
            "VM name '{name}' contains '{bad}': use ASCII letters, digits, '-', '_' and '.'"
        ));
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return invalid(format!(
            "VM name '{name}' is all digits, which would read as an id: add a letter"
        ));
    }
    if name.starts_with('-') {
        return invalid(format!(
            "VM name '{name}' starts with '-', which would read as an option"
        ));
    }
    Ok(())
}

fn text(what: &str, value: Option<&str>) -> Check {
    match value {
        Some(v) if v.len() > TEXT_MAX => invalid(format!("{what} is longer than {TEXT_MAX} bytes")),
        Some(v) if v.contains('\0') => invalid(format!("{what} contains a NUL byte")),
        _ => Ok(()),
    }
}

fn cpu_model(model: Option<&str>) -> Check {
    let Some(model) = model.filter(|m| !m.is_empty()) else {
        return Ok(());
    };
    // QEMU reads `-cpu model,feature=on`, so commas and '=' are legitimate here.
    if model.len() > 128
        || !model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,=+".contains(c))
    {
        return invalid(format!(
            "CPU model '{model}' is not a QEMU CPU model (see `qemu-system-x86_64 -cpu help`)"
        ));
    }
    Ok(())
}

fn absolute(what: &str, path: &str) -> Check {
    if path.is_empty() {
        return invalid(format!("{what} path is empty"));
    }
    if !path.starts_with('/') {
        return invalid(format!(
            "{what} path '{path}' is relative: pass an absolute path, e.g. \"$PWD/{path}\""
        ));
    }
    if path.contains('\0') {
        return invalid(format!("{what} path contains a NUL byte"));
    }
    Ok(())
}

/// The direct-kernel-boot trio after an edit or at creation.
pub fn kernel_boot(kernel: Option<&str>, initrd: Option<&str>, cmdline: Option<&str>) -> Check {
    corvus_qemu::cmdline::check_kernel_boot(kernel, initrd, cmdline).map_err(definition)?;
    if let Some(k) = kernel.filter(|k| !k.is_empty()) {
        absolute("kernel", k)?;
    }
    if let Some(i) = initrd.filter(|i| !i.is_empty()) {
        absolute("initrd", i)?;
    }
    text("kernel command line", cmdline)
}

/// A description is a one-line label shown in `vm show`: terminal controls
/// (escape sequences, carriage returns, bidirectional overrides) could
/// rewrite an operator's terminal, and tabs and newlines would break the
/// layout, so all of them are refused.
fn description(value: Option<&str>) -> Check {
    let Some(value) = value else { return Ok(()) };
    text("description", Some(value))?;
    match first_control(value) {
        Some((position, c)) => invalid(format!(
            "description contains the control character {} (U+{:04X}) at position {position}: use printable text on one line",
            escaped_char(c),
            c as u32
        )),
        None => Ok(()),
    }
}

pub fn spec(spec: &VmSpec) -> Check {
    name(&spec.name)?;
    in_range("--cpus", spec.cpu_count, &CPUS)?;
    in_range("--ram (MiB)", spec.ram_mb, &RAM_MB)?;
    description(spec.description.as_deref())?;
    cpu_model(spec.cpu_model.as_deref())?;
    if let Some(t) = spec.stop_timeout_secs {
        in_range("--stop-timeout (seconds)", t, &STOP_TIMEOUT)?;
    }
    if let Some(m) = spec.max_restarts {
        in_range("--max-restarts", m, &MAX_RESTARTS)?;
    }
    if let Some(w) = spec.restart_window_secs {
        in_range("--restart-window (seconds)", w, &RESTART_WINDOW)?;
    }
    if let Some(slots) = spec.hotplug_slots {
        in_range("--hotplug-slots", slots, &HOTPLUG_SLOTS)?;
    }
    kernel_boot(
        spec.kernel.as_deref(),
        spec.initrd.as_deref(),
        spec.cmdline.as_deref(),
    )
}

/// Checks the fields an edit sets; the kernel trio is checked by the caller
/// on the merged result, since an edit may set only one of them.
pub fn changes(changes: &VmChanges) -> Check {
    if changes.is_empty() {
        return invalid(
            "nothing to change: pass at least one option (see `crv vm edit --help`)".into(),
        );
    }
    if let Some(c) = changes.cpu_count {
        in_range("--cpus", c, &CPUS)?;
    }
    if let Some(r) = changes.ram_mb {
        in_range("--ram (MiB)", r, &RAM_MB)?;
    }
    description(changes.description.as_deref())?;
    cpu_model(changes.cpu_model.as_deref())?;
    if let Some(t) = changes.stop_timeout_secs {
        in_range("--stop-timeout (seconds)", t, &STOP_TIMEOUT)?;
    }
    if let Some(m) = changes.max_restarts {
        in_range("--max-restarts", m, &MAX_RESTARTS)?;
    }
    if let Some(w) = changes.restart_window_secs {
        in_range("--restart-window (seconds)", w, &RESTART_WINDOW)?;
    }
    if let Some(slots) = changes.hotplug_slots {
        in_range("--hotplug-slots", slots, &HOTPLUG_SLOTS)?;
    }
    Ok(())
}

pub fn drive(drive: &DriveSpec) -> Check {
    absolute("drive", &drive.file_path)?;
    let can_be_cdrom = matches!(
        drive.interface,
        DriveInterface::Ide | DriveInterface::Sata | DriveInterface::Scsi
    );
    if drive.media == DriveMedia::Cdrom && !can_be_cdrom {
        return invalid(format!(
            "a {} drive cannot be a cdrom: use --interface sata, ide or scsi for --media cdrom",
            drive.interface
        ));
    }
    Ok(())
}

pub fn nic(nic: &NicSpec) -> Check {
    let device = nic.host_device.as_deref().filter(|d| !d.is_empty());
    match (nic.nic_type, device) {
        (NicType::User, Some(d)) => invalid(format!(
            "a user network has no host device, got --host-device {d}"
        )),
        (NicType::User | NicType::Tap, None) => Ok(()),
        (NicType::Tap | NicType::Bridge, Some(d)) => ifname(d),
        (NicType::Bridge, None) => {
            invalid("a bridge network needs --host-device BRIDGE (e.g. br0)".into())
        }
        (NicType::Vde, Some(d)) => absolute("VDE switch socket", d),
        (NicType::Vde, None) => {
            invalid("a vde network needs --host-device with the switch's socket directory".into())
        }
        (NicType::Network, Some(d)) => invalid(format!(
            "a managed network NIC has no host device, got --host-device {d}"
        )),
        (NicType::Network, None) if nic.network.is_none() => {
            invalid("a network NIC needs --network NAME (see `crv network list`)".into())
        }
        (NicType::Network, None) => Ok(()),
    }?;
    if nic.nic_type != NicType::Network && (nic.network.is_some() || nic.ip_address.is_some()) {
        return invalid(format!(
            "--network and --ip are for NICs on a managed network, not --type {}",
            nic.nic_type
        ));
    }
    if let Some(mac) = &nic.mac_address {
        parse_mac(mac)?;
    }
    crate::cloud::forwards::check_nic(nic)?;
    Ok(())
}

fn ifname(name: &str) -> Check {
    if name.len() > IFNAME_MAX
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return invalid(format!(
            "'{name}' is not a network interface name: up to {IFNAME_MAX} ASCII letters, digits, '-', '_', '.'"
        ));
    }
    Ok(())
}

/// Parses `xx:xx:xx:xx:xx:xx` into its lower-case form; refuses multicast
/// and all-zero addresses, which no NIC may use.
pub fn parse_mac(mac: &str) -> Result<String, WireError> {
    let octets: Vec<u8> = mac
        .split(':')
        .map(|part| {
            if part.len() == 2 {
                u8::from_str_radix(part, 16).ok()
            } else {
                None
            }
        })
        .collect::<Option<_>>()
        .filter(|o: &Vec<u8>| o.len() == 6)
        .ok_or_else(|| {
            WireError::invalid(format!(
                "MAC address '{mac}' is malformed: expected six hex pairs like 52:54:00:12:34:56"
            ))
        })?;
    if octets[0] & 1 == 1 {
        return Err(WireError::invalid(format!(
            "MAC address '{mac}' is multicast (lowest bit of the first octet set): a NIC needs a unicast address"
        )));
    }
    if octets.iter().all(|o| *o == 0) {
        return Err(WireError::invalid(format!(
            "MAC address '{mac}' is all zeros"
        )));
    }
    Ok(mac.to_ascii_lowercase())
}

pub fn share(share: &ShareSpec) -> Check {
    absolute("share", &share.path)?;
    let tag = &share.tag;
    if tag.is_empty()
        || tag.len() > TAG_MAX
        || !tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return invalid(format!(
            "share tag '{tag}' must be 1 to {TAG_MAX} ASCII letters, digits, '-', '_' or '.'"
        ));
    }
    Ok(())
}

/// The checks that look at the filesystem (through tokio, off the actor's thread).
pub mod files {
    use super::Check;
    use corvus_protocol::WireError;

    pub async fn existing_file(what: &str, path: Option<&str>) -> Check {
        let Some(path) = path.filter(|p| !p.is_empty()) else {
            return Ok(());
        };
        match tokio::fs::metadata(path).await {
            Ok(meta) if meta.is_file() => Ok(()),
            Ok(_) => Err(WireError::invalid(format!(
                "{what} '{path}' is not a regular file"
            ))),
            Err(err) => Err(WireError::invalid(format!(
                "{what} '{path}' cannot be read: {err}"
            ))),
        }
    }

    pub async fn existing_dir(path: &str) -> Check {
        match tokio::fs::metadata(path).await {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(WireError::invalid(format!(
                "share path '{path}' is not a directory"
            ))),
            Err(err) => Err(WireError::invalid(format!(
                "share path '{path}' is not an existing directory: {err}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_refuse_control_characters_naming_the_first() {
        assert!(description(Some("web server, rack 4 — ünïcode is fine")).is_ok());
        assert!(description(Some("")).is_ok());
        let err = description(Some("ok\x1b[31mred")).unwrap_err();
        assert_eq!(err.kind, corvus_protocol::ErrorKind::InvalidArgument);
        assert_eq!(
            err.message,
            "description contains the control character \\x1b (U+001B) at position 3: use printable text on one line"
        );
        for refused in [
            "two\nlines",
            "a\ttab",
            "back\rover",
            "bidi\u{202e}gnp.exe",
            "c1\u{9b}",
        ] {
            assert!(description(Some(refused)).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn names_follow_the_documented_rules() {
        for good in ["web", "web-1", "a.b_c", "x", "1a", &"n".repeat(64)] {
            assert!(name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "123",
            "web 1",
            "wéb",
            "日本",
            "a/b",
            "-x",
            "a,b",
            &"n".repeat(65),
        ] {
            assert!(name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn macs_must_be_unicast_and_well_formed() {
        assert_eq!(parse_mac("52:54:00:AB:cd:01").unwrap(), "52:54:00:ab:cd:01");
        for bad in [
            "52:54:00:ab:cd",
            "52-54-00-ab-cd-01",
            "01:00:5e:00:00:01",
            "00:00:00:00:00:00",
            "52:54:00:ab:cd:0g",
            "525:4:00:ab:cd:01",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn initrd_and_cmdline_need_a_kernel() {
        assert!(kernel_boot(None, Some("/i"), None).is_err());
        assert!(kernel_boot(None, None, Some("console=ttyS0")).is_err());
        assert!(kernel_boot(Some("/k"), Some("/i"), Some("quiet")).is_ok());
        assert!(kernel_boot(Some("k"), None, None).is_err());
    }

    #[test]
    fn drive_paths_must_be_absolute_but_may_hold_commas_and_spaces() {
        let mut d = DriveSpec {
            file_path: "/tmp/a, b/disk.img".into(),
            interface: DriveInterface::Virtio,
            format: corvus_protocol::DriveFormat::Raw,
            media: DriveMedia::Disk,
            read_only: false,
            cache: None,
            discard: false,
            disk: None,
        };
        assert!(drive(&d).is_ok());
        d.file_path = "disk.img".into();
        let err = drive(&d).unwrap_err();
        assert!(err.message.contains("absolute"), "{}", err.message);
        d.file_path = "/x.iso".into();
        d.media = DriveMedia::Cdrom;
        assert!(drive(&d).is_err(), "virtio cannot be a cdrom");
        d.interface = DriveInterface::Sata;
        assert!(drive(&d).is_ok());
    }
}
