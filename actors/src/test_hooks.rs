//! Fault injection for the supervision tests, compiled into debug builds
//! only: `CORVUS_TEST_PANIC=<vm name>:<verb>` (e.g. `web:vm show`) makes
//! that VM's actor panic when it receives that command while the VM runs.

#[cfg(debug_assertions)]
pub fn panic_if_requested(vm: &str, verb: &str, running: bool) {
    let Ok(spec) = std::env::var("CORVUS_TEST_PANIC") else {
        return;
    };
    if running && spec.split_once(':') == Some((vm, verb)) {
        panic!("CORVUS_TEST_PANIC: {vm} on `{verb}`");
    }
}

#[cfg(not(debug_assertions))]
pub fn panic_if_requested(_vm: &str, _verb: &str, _running: bool) {}
