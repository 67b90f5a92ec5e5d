//! Which accelerator QEMU runs with: KVM when the host allows it, else TCG.

use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::str::FromStr;

const KVM_DEVICE: &str = "/dev/kvm";

/// The accelerator a VM actually runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }

    /// The `-cpu` model when the VM names none: `host` passes the real CPU
    /// through under KVM; TCG cannot do that, and `max` is its closest match.
    pub fn default_cpu_model(self) -> &'static str {
        match self {
            Accel::Kvm => "host",
            Accel::Tcg => "max",
        }
    }
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Opens `/dev/kvm` read-write, which is what QEMU itself needs; existing
/// is not enough (permissions, a module that failed to initialise).
fn open_kvm() -> io::Result<()> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(KVM_DEVICE)
        .map(drop)
}

/// Whether QEMU could use KVM. Blocks for one `open(2)` on a device node,
/// which does not wait on anything; call it at daemon start.
pub fn kvm_usable() -> bool {
    open_kvm().is_ok()
}

/// The daemon's `--accel` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AccelChoice {
    /// KVM when usable, else TCG.
    #[default]
    Auto,
    Kvm,
    Tcg,
}

#[derive(Debug, thiserror::Error)]
pub enum AccelError {
    #[error("KVM was requested but {KVM_DEVICE} cannot be opened read-write")]
    KvmUnusable(#[source] io::Error),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid accelerator '{0}': expected one of auto, kvm, tcg")]
pub struct ParseAccelError(pub String);

impl AccelChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            AccelChoice::Auto => "auto",
            AccelChoice::Kvm => "kvm",
            AccelChoice::Tcg => "tcg",
        }
    }

    /// Decides once, at daemon start. An explicit `kvm` that cannot work is an
    /// error rather than a silent fallback: the operator asked for speed.
    pub fn resolve(self) -> Result<Accel, AccelError> {
        match self {
            AccelChoice::Auto => Ok(if kvm_usable() { Accel::Kvm } else { Accel::Tcg }),
            AccelChoice::Kvm => open_kvm()
                .map(|()| Accel::Kvm)
                .map_err(AccelError::KvmUnusable),
            AccelChoice::Tcg => Ok(Accel::Tcg),
        }
    }
}

impl fmt::Display for AccelChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccelChoice {
    type Err = ParseAccelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(AccelChoice::Auto),
            "kvm" => Ok(AccelChoice::Kvm),
            "tcg" => Ok(AccelChoice::Tcg),
            other => Err(ParseAccelError(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_print_back() {
        for choice in [AccelChoice::Auto, AccelChoice::Kvm, AccelChoice::Tcg] {
            assert_eq!(choice.to_string().parse::<AccelChoice>(), Ok(choice));
        }
        let err = "hvf".parse::<AccelChoice>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid accelerator 'hvf': expected one of auto, kvm, tcg"
        );
    }

    #[test]
    fn tcg_always_resolves_and_auto_agrees_with_the_probe() {
        assert_eq!(AccelChoice::Tcg.resolve().ok(), Some(Accel::Tcg));
        let auto = AccelChoice::Auto.resolve().ok();
        let expected = if kvm_usable() { Accel::Kvm } else { Accel::Tcg };
        assert_eq!(auto, Some(expected));
        assert_eq!(AccelChoice::Kvm.resolve().is_ok(), kvm_usable());
    }

    #[test]
    fn accelerators_print_as_qemu_spells_them() {
        assert_eq!(Accel::Kvm.to_string(), "kvm");
        assert_eq!(Accel::Tcg.to_string(), "tcg");
        assert_eq!(Accel::Kvm.default_cpu_model(), "host");
        assert_eq!(Accel::Tcg.default_cpu_model(), "max");
    }
}
