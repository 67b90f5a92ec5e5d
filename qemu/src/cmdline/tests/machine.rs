//! Identity, machine, control channels, display and kernel.

use super::*;
use crate::cmdline::process_marker;

#[test]
fn a_minimal_vm_has_exactly_the_fixed_arguments() {
    let expected = [
        "-name",
        "guest=web,process=corvus-vm-7",
        "-machine",
        "q35,accel=kvm",
        "-cpu",
        "host",
        "-m",
        "512",
        "-smp",
        "2",
        "-nodefaults",
        "-no-user-config",
        "-device",
        "pvpanic",
        "-chardev",
        "socket,id=qmp,path=/run/corvus/7/qmp.sock,server=on,wait=off",
        "-mon",
        "chardev=qmp,mode=control",
        "-chardev",
        "socket,id=hmp,path=/run/corvus/7/monitor.sock,server=on,wait=off",
        "-mon",
        "chardev=hmp,mode=readline",
        "-chardev",
        "socket,id=serial0,path=/run/corvus/7/serial.sock,server=on,wait=off,logfile=/run/corvus/7/serial.log,logappend=off",
        "-serial",
        "chardev:serial0",
        "-display",
        "none",
    ];
    assert_eq!(args(&vm()), expected);
}

#[test]
fn cpu_defaults_follow_the_accelerator_and_a_model_is_taken_verbatim() {
    let mut vm = vm();
    let tcg = build_text(&vm, "/r", Accel::Tcg);
    assert_eq!(values(&tcg, "-machine"), ["q35,accel=tcg"]);
    assert_eq!(values(&tcg, "-cpu"), ["max"]);
    assert_eq!(values(&args(&vm), "-cpu"), ["host"]);

    vm.cpu_model = Some("qemu64,+ssse3".into());
    assert_eq!(
        values(&build_text(&vm, "/r", Accel::Tcg), "-cpu"),
        ["qemu64,+ssse3"]
    );
    vm.cpu_model = Some(String::new());
    assert_eq!(values(&args(&vm), "-cpu"), ["host"]);
}

#[test]
fn the_name_is_escaped_and_the_marker_stays_its_own_option() {
    let mut vm = vm();
    vm.name = "a,process=evil".into();
    assert_eq!(
        values(&args(&vm), "-name"),
        ["guest=a,,process=evil,process=corvus-vm-7"]
    );
    assert_eq!(process_marker(42), "corvus-vm-42");
}

#[test]
fn spice_adds_the_socket_the_gpu_and_the_agent_channel() {
    let mut vm = vm();
    vm.display = DisplayKind::Spice;
    let args = args(&vm);
    assert_eq!(values(&args, "-display"), ["none"]);
    assert_eq!(
        values(&args, "-spice"),
        ["unix=on,addr=/run/corvus/7/spice.sock,disable-ticketing=on"]
    );
    let devices = values(&args, "-device");
    assert!(devices.contains(&"virtio-vga"), "{devices:?}");
    assert!(devices.contains(&"virtio-serial-pci,id=vser0"));
    assert!(
        devices.contains(&"virtserialport,bus=vser0.0,chardev=vdagent,name=com.redhat.spice.0")
    );
    assert!(values(&args, "-chardev").contains(&"spicevmc,id=vdagent,name=vdagent"));
}

#[test]
fn display_none_has_no_gpu_and_no_spice() {
    let args = args(&vm());
    assert!(values(&args, "-spice").is_empty());
    assert!(!values(&args, "-device").iter().any(|d| d.contains("vga")));
}

#[test]
fn direct_kernel_boot_passes_values_unescaped() {
    let mut vm = vm();
    vm.kernel = Some("/boot/vmlinuz,x".into());
    vm.initrd = Some("/boot/initrd img".into());
    vm.cmdline = Some("console=ttyS0,115200 quiet".into());
    let args = args(&vm);
    assert_eq!(values(&args, "-kernel"), ["/boot/vmlinuz,x"]);
    assert_eq!(values(&args, "-initrd"), ["/boot/initrd img"]);
    assert_eq!(values(&args, "-append"), ["console=ttyS0,115200 quiet"]);

    vm.initrd = Some(String::new());
    vm.cmdline = None;
    let args = self::args(&vm);
    assert!(values(&args, "-initrd").is_empty() && values(&args, "-append").is_empty());
}

#[test]
fn socket_paths_with_commas_are_escaped() {
    let args = build_text(&vm(), "/tmp/a,b c", Accel::Kvm);
    assert_eq!(
        values(&args, "-chardev")[0],
        "socket,id=qmp,path=/tmp/a,,b c/7/qmp.sock,server=on,wait=off"
    );
    assert!(
        values(&args, "-chardev")[2].ends_with("logfile=/tmp/a,,b c/7/serial.log,logappend=off")
    );
}
