//! Enum options (`--interface`, `--format`, `--restart`, …) read through the
//! protocol's own enums, so a wrong word is a usage error (exit 2) that
//! lists the valid ones, and help and shell completions offer them.

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::ErrorKind;
use corvus_protocol::TextEnum;
use std::ffi::OsStr;
use std::marker::PhantomData;

#[derive(Debug)]
pub struct Words<T>(PhantomData<T>);

impl<T> Clone for Words<T> {
    fn clone(&self) -> Self {
        Words(PhantomData)
    }
}

/// The value parser of an option that takes one of `T`'s words.
pub fn words<T: TextEnum>() -> Words<T> {
    Words(PhantomData)
}

impl<T: TextEnum> TypedValueParser for Words<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let option = arg.map(|arg| format!("{arg}: ")).unwrap_or_default();
        let text = value.to_str().ok_or_else(|| {
            clap::Error::raw(ErrorKind::InvalidUtf8, format!("{option}not UTF-8\n")).with_cmd(cmd)
        })?;
        text.parse::<T>().map_err(|err| {
            clap::Error::raw(ErrorKind::InvalidValue, format!("{option}{err}\n")).with_cmd(cmd)
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(T::NAMES.iter().copied().map(PossibleValue::new)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use corvus_protocol::DriveInterface;

    #[derive(Debug, Parser)]
    struct Probe {
        #[arg(long, value_parser = words::<DriveInterface>())]
        interface: DriveInterface,
    }

    #[test]
    fn a_valid_word_is_the_enum_and_a_wrong_one_a_usage_error() {
        let probe = Probe::try_parse_from(["probe", "--interface", "nvme"]).expect("parses");
        assert_eq!(probe.interface, DriveInterface::Nvme);
        let err = Probe::try_parse_from(["probe", "--interface", "floppy"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let text = err.to_string();
        assert!(
            text.contains("expected one of virtio, ide, sata, scsi, nvme, pflash"),
            "{text}"
        );
        assert!(text.contains("--interface"), "{text}");
    }
}
