//! A read-only view of a directory for one child process, for virtiofsd
//! builds that have no read-only option.

use rustix::mount::{MountFlags, MountPropagationFlags, mount_bind, mount_change, mount_remount};
use rustix::thread::{UnshareFlags, unshare_unsafe};
use std::ffi::CString;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes the child start in its own mount namespace where `dir` is a
/// read-only bind mount of itself. The host's mounts are untouched (the new
/// namespace is made private first, so nothing propagates back).
pub(super) fn run_with_readonly_dir(command: &mut Command, dir: &str) -> io::Result<()> {
    let dir = CString::new(dir).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "share path contains a NUL byte",
        )
    })?;
    let hook = move || -> io::Result<()> {
        // SAFETY: NEWNS only touches this process's mount table; the hazard
        // `unshare_unsafe` warns about is FILES, which is not requested.
        unsafe { unshare_unsafe(UnshareFlags::NEWNS) }?;
        mount_change(
            c"/",
            MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
        )?;
        mount_bind(dir.as_c_str(), dir.as_c_str())?;
        mount_remount(dir.as_c_str(), MountFlags::BIND | MountFlags::RDONLY, c"")?;
        Ok(())
    };
    // SAFETY: the hook runs between fork and exec, where only
    // async-signal-safe work is allowed: it makes raw syscalls on a CString
    // allocated before the fork, and neither allocates nor takes locks.
    unsafe { command.pre_exec(hook) };
    Ok(())
}
