//! The QEMU command line of a VM (DESIGN §5), built by a pure function: same
//! definition, same paths, same arguments; no I/O, nothing checked on disk.
//! QEMU itself reports missing files on its stderr (`VmPaths::qemu_log`);
//! combinations QEMU would refuse are caught earlier by [`validate`].

mod blockdev;
mod drives;
mod guest;
mod nics;
mod opts;
mod read;
mod shares;
mod validate;

#[cfg(test)]
mod tests;

use crate::accel::Accel;
use crate::hotplug::{PortAllocator, Props, hotplug_port};
use crate::paths::VmPaths;
use corvus_protocol::{DisplayKind, VmInfo};
use opts::{Args, Opts};
use std::ffi::OsString;

pub use blockdev::{DriveImages, ImageLayer};
pub use nics::managed_tap;
pub(crate) use opts::escape_commas;
pub use read::runtime_dir_of;
pub use validate::{InvalidVm, MAX_PFLASH_UNITS, check_drive, check_kernel_boot, validate};

/// The text that identifies a VM's QEMU among all processes: it is the
/// `process=` of `-name`, so it shows in `/proc/PID/cmdline` (and, cut to 15
/// bytes, as the thread name in `ps`). [`crate::ProcessHandle::adopt`] looks
/// for it after a daemon restart.
pub fn process_marker(vm_id: i64) -> String {
    format!("corvus-vm-{vm_id}")
}

/// The arguments after the QEMU binary. `images` holds the image chain of
/// every drive on a Corvus disk (the daemon resolves them at each start).
///
/// Choices worth knowing:
/// - `-cpu` takes the VM's `cpu_model` verbatim (so `host,-vmx` style feature
///   lists work); the default depends on the accelerator.
/// - No `-no-reboot`: a guest reboot stays a reboot, and a guest poweroff
///   makes QEMU exit anyway.
/// - The display is `-display none` in both modes: the daemon never opens a
///   local window; SPICE is served on its socket independently.
/// - Every pluggable device sits on a PCIe root port of its own, and the
///   VM gets `hotplug_slots` empty ones, so that devices can be added and
///   removed while it runs ([`crate::hotplug`]).
/// - The serial log is truncated at each QEMU start (`logappend=off`): the
///   console replay shows this boot, not an unbounded history.
pub fn build(vm: &VmInfo, images: &DriveImages, paths: &VmPaths, accel: Accel) -> Vec<OsString> {
    let mut args = Args::default();
    machine(&mut args, vm, accel);
    args.flag("-nodefaults");
    args.flag("-no-user-config");
    control_channels(&mut args, paths);
    display(&mut args, vm, paths);
    kernel(&mut args, vm);
    let mut ports = PortAllocator::default();
    drives::add(&mut args, &vm.drives, images, &mut ports);
    nics::add(&mut args, &vm.network_interfaces, &mut ports);
    shares::add(&mut args, vm, paths);
    guest::add(&mut args, vm, paths, &mut ports);
    for n in 0..vm.hotplug_slots {
        args.pair("-device", render(&ports.next(&hotplug_port(n))));
    }
    args.into_vec()
}

fn machine(args: &mut Args, vm: &VmInfo, accel: Accel) {
    // `guest=` rather than a bare first value: a name containing `=` would
    // otherwise be parsed as a key.
    args.pair(
        "-name",
        Opts::new("")
            .set("guest", &vm.name)
            .set("process", process_marker(vm.id)),
    );
    args.pair("-machine", Opts::new("q35").set("accel", accel.as_str()));
    let cpu = non_empty(&vm.cpu_model).unwrap_or(accel.default_cpu_model());
    args.pair("-cpu", cpu);
    args.pair("-m", vm.ram_mb.to_string());
    args.pair("-smp", vm.cpu_count.to_string());
}

fn control_channels(args: &mut Args, paths: &VmPaths) {
    // ISA pvpanic: the ICH9 LPC bridge of q35 provides the ISA bus, and the
    // guest's pvpanic driver turns a kernel panic into GUEST_PANICKED.
    args.pair("-device", "pvpanic");
    let server_socket = |id: &str, path: &std::path::Path| {
        Opts::new("socket")
            .set("id", id)
            .set("path", path)
            .set("server", "on")
            .set("wait", "off")
    };
    args.pair("-chardev", server_socket("qmp", &paths.qmp));
    args.pair("-mon", "chardev=qmp,mode=control");
    args.pair("-chardev", server_socket("hmp", &paths.monitor));
    args.pair("-mon", "chardev=hmp,mode=readline");
    args.pair(
        "-chardev",
        server_socket("serial0", &paths.serial)
            .set("logfile", &paths.serial_log)
            .set("logappend", "off"),
    );
    args.pair("-serial", "chardev:serial0");
}

fn display(args: &mut Args, vm: &VmInfo, paths: &VmPaths) {
    args.pair("-display", "none");
    match vm.display {
        DisplayKind::None => {}
        DisplayKind::Spice => {
            args.pair(
                "-spice",
                Opts::new("")
                    .set("unix", "on")
                    .set("addr", &paths.spice)
                    .set("disable-ticketing", "on"),
            );
            args.pair("-device", "virtio-vga");
            // The vdagent channel gives clipboard sharing and resizing.
            args.pair("-device", "virtio-serial-pci,id=vser0");
            args.pair("-chardev", "spicevmc,id=vdagent,name=vdagent");
            args.pair(
                "-device",
                "virtserialport,bus=vser0.0,chardev=vdagent,name=com.redhat.spice.0",
            );
        }
    }
}

/// `-kernel`, `-initrd` and `-append` values are not comma-separated option
/// lists, so they go through as they are.
fn kernel(args: &mut Args, vm: &VmInfo) {
    if let Some(kernel) = non_empty(&vm.kernel) {
        args.pair("-kernel", kernel);
    }
    if let Some(initrd) = non_empty(&vm.initrd) {
        args.pair("-initrd", initrd);
    }
    if let Some(cmdline) = non_empty(&vm.cmdline) {
        args.pair("-append", cmdline);
    }
}

/// A device description as a `-device` option string.
fn opts_of(props: &Props) -> Opts {
    props
        .properties
        .iter()
        .fold(Opts::new(props.driver), |opts, (key, value)| {
            opts.set(key, value)
        })
}

fn render(props: &Props) -> OsString {
    opts_of(props).into()
}

/// An empty text field means "not set" (how `crv vm edit` clears one).
fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|text| !text.is_empty())
}
