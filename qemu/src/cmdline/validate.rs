//! Definitions QEMU would refuse, caught before starting it with a message
//! that says what to change. [`super::build`] does not call this (it stays
//! infallible); the daemon calls [`validate`] before a start and
//! [`check_drive`] when a drive is added.

use corvus_protocol::{DriveInterface, DriveMedia, VmInfo};

/// q35 maps two flash chips: firmware code (unit 0) and variables (unit 1).
pub const MAX_PFLASH_UNITS: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidVm {
    /// QEMU's IDE hard disk cannot be read-only ("Block node is read-only");
    /// libvirt refuses the same.
    #[error(
        "A read-only {interface} disk is not possible: use the virtio, scsi or nvme interface, or media cdrom"
    )]
    ReadOnlyIdeDisk { interface: DriveInterface },
    #[error("At most {MAX_PFLASH_UNITS} pflash drives (firmware code and variables) are possible")]
    TooManyPflash,
    #[error("--initrd needs --kernel: an initrd is only used with direct kernel boot")]
    InitrdWithoutKernel,
    #[error("--cmdline needs --kernel: the command line is only used with direct kernel boot")]
    CmdlineWithoutKernel,
}

/// Whether a drive with these settings can be attached at all.
pub fn check_drive(
    interface: DriveInterface,
    media: DriveMedia,
    read_only: bool,
) -> Result<(), InvalidVm> {
    match (interface, media, read_only) {
        (DriveInterface::Ide | DriveInterface::Sata, DriveMedia::Disk, true) => {
            Err(InvalidVm::ReadOnlyIdeDisk { interface })
        }
        _ => Ok(()),
    }
}

/// Everything [`check_drive`] checks for each drive, plus the combinations
/// that only make sense for a whole VM.
pub fn validate(vm: &VmInfo) -> Result<(), InvalidVm> {
    for drive in &vm.drives {
        check_drive(drive.interface, drive.media, drive.read_only)?;
    }
    let pflash = vm
        .drives
        .iter()
        .filter(|drive| drive.interface == DriveInterface::Pflash)
        .count();
    if pflash > MAX_PFLASH_UNITS {
        return Err(InvalidVm::TooManyPflash);
    }
    check_kernel_boot(
        vm.kernel.as_deref(),
        vm.initrd.as_deref(),
        vm.cmdline.as_deref(),
    )
}

/// An initrd or a kernel command line only means something with a kernel
/// (empty text counts as unset). The one home of this rule: the daemon
/// calls it when a definition is created or edited, and [`validate`] at
/// every start.
pub fn check_kernel_boot(
    kernel: Option<&str>,
    initrd: Option<&str>,
    cmdline: Option<&str>,
) -> Result<(), InvalidVm> {
    let set = |value: Option<&str>| value.is_some_and(|text| !text.is_empty());
    if !set(kernel) {
        if set(initrd) {
            return Err(InvalidVm::InitrdWithoutKernel);
        }
        if set(cmdline) {
            return Err(InvalidVm::CmdlineWithoutKernel);
        }
    }
    Ok(())
}
