//! The VM state machine of DESIGN §3 as a pure function: no I/O here. The
//! VmActor calls `apply` for every operator command and performs the effect.

use corvus_protocol::VmState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Start,
    Stop,
    Pause,
    Reset,
}

impl Command {
    pub fn verb(self) -> &'static str {
        match self {
            Command::Start => "start",
            Command::Stop => "stop",
            Command::Pause => "pause",
            Command::Reset => "reset",
        }
    }
}

/// What the actor must do to carry out a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Start virtiofsd and QEMU; `starting` until QMP says running.
    Boot,
    /// QMP `cont`.
    Resume,
    /// QMP `stop`.
    Suspend,
    /// ACPI powerdown (after `cont` when paused), resent until the stop
    /// timeout, then SIGTERM and SIGKILL.
    Powerdown { resume_first: bool },
    /// The guest cannot have booted yet: ask QEMU itself to exit (SIGTERM).
    Terminate,
    /// SIGKILL at once; `stopped` when the process is gone.
    Kill,
    /// Nothing runs: clear the error and leftovers.
    Cleanup,
    /// The command is already satisfied.
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state the command leads to once its effect is done.
    pub next: VmState,
    pub effect: Effect,
}

/// Why a command is refused; `message` adds the way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Already,
    InProgress,
    UseReset,
    ResetFirst,
    NotRunning,
}

impl Refusal {
    pub fn message(self, vm: &str, state: VmState, command: Command) -> String {
        let verb = command.verb();
        match self {
            Refusal::Already => format!("VM '{vm}' is already {state}"),
            Refusal::InProgress => format!(
                "VM '{vm}' is {state}; wait for it to finish, or use `crv vm reset {vm}` to kill it"
            ),
            Refusal::UseReset => {
                format!("VM '{vm}' is already stopping; use `crv vm reset {vm}` to kill it now")
            }
            Refusal::ResetFirst => format!(
                "VM '{vm}' is in error; see `crv vm show {vm}`, then `crv vm reset {vm}` before you {verb} it"
            ),
            Refusal::NotRunning => match state {
                VmState::Paused => {
                    format!("VM '{vm}' is already paused; use `crv vm start {vm}` to resume it")
                }
                _ => format!("VM '{vm}' is {state}; only a running VM can be paused"),
            },
        }
    }
}

fn to(next: VmState, effect: Effect) -> Result<Transition, Refusal> {
    Ok(Transition { next, effect })
}

pub fn apply(state: VmState, command: Command) -> Result<Transition, Refusal> {
    use Command::*;
    use VmState::*;
    match (state, command) {
        (Stopped, Start) => to(Starting, Effect::Boot),
        (Stopped, Stop) => Err(Refusal::Already),
        (Stopped, Pause) => Err(Refusal::NotRunning),
        (Stopped, Reset) => to(Stopped, Effect::Nothing),

        (Starting, Start) => Err(Refusal::InProgress),
        (Starting, Stop) => to(Stopping, Effect::Terminate),
        (Starting, Pause) => Err(Refusal::NotRunning),
        (Starting, Reset) => to(Stopped, Effect::Kill),

        (Running, Start) => Err(Refusal::Already),
        (Running, Stop) => to(
            Stopping,
            Effect::Powerdown {
                resume_first: false,
            },
        ),
        (Running, Pause) => to(Paused, Effect::Suspend),
        (Running, Reset) => to(Stopped, Effect::Kill),

        (Paused, Start) => to(Running, Effect::Resume),
        (Paused, Stop) => to(Stopping, Effect::Powerdown { resume_first: true }),
        (Paused, Pause) => Err(Refusal::NotRunning),
        (Paused, Reset) => to(Stopped, Effect::Kill),

        (Stopping, Start) => Err(Refusal::InProgress),
        (Stopping, Stop) => Err(Refusal::UseReset),
        (Stopping, Pause) => Err(Refusal::NotRunning),
        (Stopping, Reset) => to(Stopped, Effect::Kill),

        (Error, Start) => Err(Refusal::ResetFirst),
        (Error, Stop) => Err(Refusal::ResetFirst),
        (Error, Pause) => Err(Refusal::NotRunning),
        (Error, Reset) => to(Stopped, Effect::Cleanup),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Command::*;
    use VmState::*;

    /// DESIGN §3's table, row by row: Ok(next) or the refusal.
    const TABLE: &[(VmState, [Result<VmState, Refusal>; 4])] = &[
        (
            Stopped,
            [
                Ok(Starting),
                Err(Refusal::Already),
                Err(Refusal::NotRunning),
                Ok(Stopped),
            ],
        ),
        (
            Starting,
            [
                Err(Refusal::InProgress),
                Ok(Stopping),
                Err(Refusal::NotRunning),
                Ok(Stopped),
            ],
        ),
        (
            Running,
            [Err(Refusal::Already), Ok(Stopping), Ok(Paused), Ok(Stopped)],
        ),
        (
            Paused,
            [
                Ok(Running),
                Ok(Stopping),
                Err(Refusal::NotRunning),
                Ok(Stopped),
            ],
        ),
        (
            Stopping,
            [
                Err(Refusal::InProgress),
                Err(Refusal::UseReset),
                Err(Refusal::NotRunning),
                Ok(Stopped),
            ],
        ),
        (
            Error,
            [
                Err(Refusal::ResetFirst),
                Err(Refusal::ResetFirst),
                Err(Refusal::NotRunning),
                Ok(Stopped),
            ],
        ),
    ];

    #[test]
    fn every_state_and_command_matches_the_design_table() {
        assert_eq!(
            TABLE.len(),
            VmState::ALL.len(),
            "the table covers every state"
        );
        for (state, row) in TABLE {
            for (command, expected) in [Start, Stop, Pause, Reset].into_iter().zip(row) {
                let got = apply(*state, command).map(|t| t.next);
                assert_eq!(&got, expected, "{state} + {command:?}");
            }
        }
    }

    #[test]
    fn effects_are_the_documented_ones() {
        assert_eq!(apply(Stopped, Start).unwrap().effect, Effect::Boot);
        assert_eq!(apply(Paused, Start).unwrap().effect, Effect::Resume);
        assert_eq!(apply(Running, Pause).unwrap().effect, Effect::Suspend);
        assert_eq!(
            apply(Paused, Stop).unwrap().effect,
            Effect::Powerdown { resume_first: true }
        );
        assert_eq!(
            apply(Running, Stop).unwrap().effect,
            Effect::Powerdown {
                resume_first: false
            }
        );
        assert_eq!(apply(Starting, Stop).unwrap().effect, Effect::Terminate);
        assert_eq!(apply(Stopped, Reset).unwrap().effect, Effect::Nothing);
        assert_eq!(apply(Error, Reset).unwrap().effect, Effect::Cleanup);
        for state in [Starting, Running, Paused, Stopping] {
            assert_eq!(apply(state, Reset).unwrap().effect, Effect::Kill, "{state}");
        }
    }

    #[test]
    fn refusals_name_the_state_and_the_way_out() {
        let message = Refusal::ResetFirst.message("web", Error, Start);
        assert!(
            message.contains("error") && message.contains("crv vm reset web"),
            "{message}"
        );
        let message = Refusal::NotRunning.message("web", Paused, Pause);
        assert!(message.contains("crv vm start web"), "{message}");
    }
}
