//! The exit codes: the contract documented in README.md and `--help`, with their numbers
//! written here and nowhere else.

/// How a `jetlike` process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Every task succeeded on every host (or the subcommand did its job).
    Ok,
    /// A task failed on some host, or the controller hit a runtime error.
    TaskFailed,
    /// Bad flags or arguments.
    Usage,
    /// Invalid playbook, inventory, template or policy violation: nothing was run.
    Invalid,
    /// Some host was unreachable, and no task failed.
    Unreachable,
    /// Interrupted (a signal): in-flight work finished, nothing new started.
    Interrupted,
}

impl ExitCode {
    /// The process exit status.
    pub const fn code(self) -> i32 {
        match self {
            ExitCode::Ok => 0,
            ExitCode::TaskFailed => 1,
            ExitCode::Usage => 2,
            ExitCode::Invalid => 3,
            ExitCode::Unreachable => 4,
            ExitCode::Interrupted => 130,
        }
    }

    /// The code whose number is `code`; `None` for a number this contract does not define.
    pub fn from_code(code: i32) -> Option<ExitCode> {
        [
            ExitCode::Ok,
            ExitCode::TaskFailed,
            ExitCode::Usage,
            ExitCode::Invalid,
            ExitCode::Unreachable,
            ExitCode::Interrupted,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::ExitCode;

    #[test]
    fn codes_round_trip() {
        for code in [0, 1, 2, 3, 4, 130] {
            assert_eq!(ExitCode::from_code(code).map(ExitCode::code), Some(code));
        }
        assert_eq!(ExitCode::from_code(5), None);
    }
}
