//! Running the few helper programs we use off the start path (mkfs.ext4, resize2fs, btrfs).

use std::process::{Command, Stdio};

use crate::error::Error;

/// Run `program args...`, return its stdout; a failure carries the command line and stderr.
pub fn run<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) -> Result<String, Error> {
    run_accepting(program, args, &[0])
}

/// Like [`run`], also accepting the exit codes in `ok` (e2fsck exits 1 after fixing things).
pub fn run_accepting<S: AsRef<std::ffi::OsStr>>(
    program: &str,
    args: &[S],
    ok: &[i32],
) -> Result<String, Error> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let line = std::iter::once(program.to_owned())
        .chain(
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned()),
        )
        .collect::<Vec<_>>()
        .join(" ");
    let out = cmd.output().map_err(|source| Error::Spawn {
        command: line.clone(),
        source,
    })?;
    if !out.status.code().is_some_and(|code| ok.contains(&code)) {
        return Err(Error::Command {
            command: line,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
