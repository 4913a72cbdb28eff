//! Container logs in docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2024-01-01T00:00:00.000000000Z"}`.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Appends output to the log, split into lines (a partial line is kept until its newline
/// or the end of the stream).
pub struct LogWriter {
    path: PathBuf,
    file: File,
    partial: [Vec<u8>; 2],
}

impl LogWriter {
    pub fn open(path: &Path) -> Result<LogWriter> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| Error::Write {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// `stream`: 0 stdout, 1 stderr.
    pub fn write(&mut self, stream: usize, data: &[u8]) -> Result<()> {
        let buf = &mut self.partial[stream];
        buf.extend_from_slice(data);
        let mut out = Vec::new();
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            encode(&mut out, stream, &line)?;
        }
        // Very long lines are cut like docker's 16k chunks.
        if buf.len() >= 16 * 1024 {
            let line: Vec<u8> = std::mem::take(buf);
            encode(&mut out, stream, &line)?;
        }
        self.file.write_all(&out).map_err(|source| Error::Write {
            path: self.path.clone(),
            source,
        })
    }

    /// Write what is left of partial lines.
    pub fn flush(&mut self) -> Result<()> {
        let mut out = Vec::new();
        for stream in 0..2 {
            let line = std::mem::take(&mut self.partial[stream]);
            if !line.is_empty() {
                encode(&mut out, stream, &line)?;
            }
        }
        self.file.write_all(&out).map_err(|source| Error::Write {
            path: self.path.clone(),
            source,
        })
    }
}

fn encode(out: &mut Vec<u8>, stream: usize, line: &[u8]) -> Result<()> {
    let e = LogEntry {
        log: String::from_utf8_lossy(line).into_owned(),
        stream: if stream == 0 { "stdout" } else { "stderr" }.into(),
        time: crate::record::now(),
    };
    serde_json::to_writer(&mut *out, &e).map_err(|source| Error::Serialize {
        what: "log entry",
        source,
    })?;
    out.push(b'\n');
    Ok(())
}

/// Reads a log file from the start, or follows it.
pub struct LogReader {
    path: PathBuf,
    reader: BufReader<File>,
    pending: String,
}

impl LogReader {
    pub fn open(path: &Path) -> Result<LogReader> {
        let file = File::open(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(LogReader {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
            pending: String::new(),
        })
    }

    /// The entries written so far (complete lines only); later calls continue from there.
    pub fn read_available(&mut self) -> Result<Vec<LogEntry>> {
        let mut out = Vec::new();
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|source| Error::Read {
                    path: self.path.clone(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            self.pending.push_str(&line);
            if !self.pending.ends_with('\n') {
                break;
            }
            let full = std::mem::take(&mut self.pending);
            // A torn or foreign line is skipped, not fatal.
            if let Ok(e) = serde_json::from_str::<LogEntry>(full.trim_end()) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Skip to the end (for `logs -f --tail 0`).
    pub fn seek_end(&mut self) -> Result<()> {
        self.reader
            .seek(SeekFrom::End(0))
            .map(|_| ())
            .map_err(|source| Error::Read {
                path: self.path.clone(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let dir = std::env::temp_dir().join(format!("berth-test-logs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("log");
        let mut w = LogWriter::open(&p).unwrap();
        w.write(0, b"hel").unwrap();
        w.write(1, b"err\n").unwrap();
        w.write(0, b"lo\nrest").unwrap();
        w.flush().unwrap();
        let mut r = LogReader::open(&p).unwrap();
        let e = r.read_available().unwrap();
        let got: Vec<(&str, &str)> = e
            .iter()
            .map(|e| (e.stream.as_str(), e.log.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("stderr", "err\n"),
                ("stdout", "hello\n"),
                ("stdout", "rest")
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
