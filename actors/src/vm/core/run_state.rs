//! QEMU's run state (`query-status`) read deliberately: each of QEMU's
//! words maps to what it means for the VM, not everything-else-is-paused.

/// What `query-status` says about the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// `running`.
    Running,
    /// Stopped by someone or something but resumable with `cont`: `paused`,
    /// `suspended` (guest S3), `io-error`, `watchdog`, `debug`, and the
    /// migration/snapshot states that end paused. QEMU's word is kept.
    Paused(String),
    /// The guest has not started: `prelaunch`, `inmigrate`. Corvus never
    /// passes `-S` or `-incoming`, so QEMU staying here is a failure.
    NotStarted(String),
    /// `guest-panicked`: the guest's kernel panicked and QEMU paused it.
    Panicked,
    /// `shutdown`: the guest powered off and QEMU is on its way out.
    ShuttingDown,
    /// `internal-error` and words this Corvus does not know: the guest
    /// cannot continue as far as Corvus can tell.
    Broken(String),
}

impl RunState {
    /// Reads QEMU's word (`running` is also given by the `running` flag).
    pub fn from_qemu(running: bool, status: &str) -> RunState {
        if running {
            return RunState::Running;
        }
        match status {
            "running" => RunState::Running,
            "paused" | "suspended" | "io-error" | "watchdog" | "debug" | "postmigrate"
            | "finish-migrate" | "save-vm" | "restore-vm" | "colo" => {
                RunState::Paused(status.to_owned())
            }
            "prelaunch" | "inmigrate" => RunState::NotStarted(status.to_owned()),
            "guest-panicked" => RunState::Panicked,
            "shutdown" => RunState::ShuttingDown,
            other => RunState::Broken(other.to_owned()),
        }
    }

    /// Whether QEMU may still move on by itself (a QMP client should ask again).
    pub fn is_transient(&self) -> bool {
        matches!(self, RunState::NotStarted(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_of_qemu_7_2_is_mapped_on_purpose() {
        assert_eq!(RunState::from_qemu(true, "running"), RunState::Running);
        assert_eq!(
            RunState::from_qemu(false, "paused"),
            RunState::Paused("paused".into())
        );
        assert_eq!(
            RunState::from_qemu(false, "suspended"),
            RunState::Paused("suspended".into())
        );
        assert_eq!(
            RunState::from_qemu(false, "prelaunch"),
            RunState::NotStarted("prelaunch".into())
        );
        assert_eq!(
            RunState::from_qemu(false, "inmigrate"),
            RunState::NotStarted("inmigrate".into())
        );
        assert_eq!(
            RunState::from_qemu(false, "guest-panicked"),
            RunState::Panicked
        );
        assert_eq!(
            RunState::from_qemu(false, "shutdown"),
            RunState::ShuttingDown
        );
        assert_eq!(
            RunState::from_qemu(false, "internal-error"),
            RunState::Broken("internal-error".into())
        );
        assert!(RunState::from_qemu(false, "prelaunch").is_transient());
        assert!(!RunState::from_qemu(false, "paused").is_transient());
    }
}
