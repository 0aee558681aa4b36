//! Appending whole lines to a log file that several processes write
//! (postlogd, and the master or a client writing straight into the file
//! when postlogd cannot take a record), so that the file holds whole lines
//! only:
//! * a write the file system takes only part of (disk full) has its cut
//!   line taken back;
//! * every writer appends under an exclusive flock on the file, so no
//!   writer appends to a line another is still writing, and a line cut
//!   short by a writer that was killed in the middle of a write (possible
//!   when the write spans pages) is found at the end of the file by the
//!   next writer, under the lock, and removed before it appends.
//!
//! The lock is only tried, a few times over a few milliseconds: a writer
//! never waits for a stopped process (the master must never block), and a
//! lock it cannot get does not stop it: anyone who can open the log can
//! flock it, so a writer that finds the lock held appends anyway (each
//! append is one O_APPEND write: whole lines stay whole) and only skips
//! the cut-line repair, which needs the lock; the caller is told, to warn.

use std::fs::File;
use std::io::{Seek, Write};
use std::os::unix::fs::FileExt;
use std::time::Duration;

use super::myflock::{LockOp, myflock};

/// Attempts at the writers' lock, LOCK_PAUSE apart.
const LOCK_TRIES: u32 = 50;
const LOCK_PAUSE: Duration = Duration::from_micros(100);

/// What an append under the writers' lock did.
#[derive(Debug)]
pub struct Appended {
    /// Bytes of the buffer now in the file (whole lines).
    pub written: usize,
    /// Why not all of it.
    pub error: Option<std::io::Error>,
    /// Bytes of a cut line removed from the end of the file first.
    pub removed: Option<u64>,
    /// The file's length when the lock was released (unknown when the lock
    /// could not be taken): a writer that finds the file at that length
    /// next time knows nobody else wrote, and need not look for a cut line.
    pub end: Option<u64>,
    /// Whether the writers' lock was held for this append.
    pub locked: bool,
}

/// Appends `buf` (whole lines) to `file` under the writers' lock, first
/// removing a line cut short at the end of the file (at most `max_line`
/// bytes after the last line end: anything longer is not a cut record and
/// is left alone).  `last_end` is the `end` of this writer's previous
/// append: when the file still has that length, the look at its tail is
/// skipped (postlogd's every batch would otherwise pay for it).
pub fn append_lines_locked(
    file: &File,
    buf: &[u8],
    max_line: usize,
    last_end: Option<u64>,
) -> Appended {
    let mut locked = false;
    for attempt in 0..LOCK_TRIES {
        match myflock(file, LockOp::Exclusive, false) {
            Ok(()) => {
                locked = true;
                break;
            }
            Err(nix::errno::Errno::EAGAIN) if attempt + 1 < LOCK_TRIES => {
                std::thread::sleep(LOCK_PAUSE)
            }
            // Held by someone who does not let go (perhaps not a writer at
            // all), or not lockable: append without it.
            Err(_) => break,
        }
    }
    if !locked {
        let (written, error) = if buf.is_empty() {
            (0, None)
        } else {
            append_lines(file, buf)
        };
        return Appended {
            written,
            error,
            removed: None,
            end: None,
            locked: false,
        };
    }
    // Only a file that seeks can hold a cut line (not /dev/stdout's pipe or
    // terminal).  The length by lseek, the cheapest question there is: this
    // runs once per batch.  (Writes append whatever the offset says.)
    let len = nix::unistd::lseek(file, 0, nix::unistd::Whence::SeekEnd)
        .ok()
        .map(|l| l as u64);
    let removed = match len {
        Some(len) if Some(len) != last_end => remove_cut_line(file, len, max_line),
        _ => None,
    };
    let (written, error) = if buf.is_empty() {
        (0, None)
    } else {
        append_lines(file, buf)
    };
    let _ = myflock(file, LockOp::Unlock, false);
    Appended {
        written,
        error,
        removed,
        end: len.map(|len| len - removed.unwrap_or(0) + written as u64),
        locked: true,
    }
}

/// Removes what follows the last line end of a file of `len` bytes when it
/// is at most `max_line` bytes long; how many bytes it removed.
fn remove_cut_line(file: &File, len: u64, max_line: usize) -> Option<u64> {
    if len == 0 {
        return None;
    }
    let tail_len = len.min(max_line as u64 + 1);
    let mut tail = vec![0u8; tail_len as usize];
    // The descriptor may be open for appending only; read through another.
    let reader = File::open(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(file)
    ))
    .ok()?;
    reader.read_exact_at(&mut tail, len - tail_len).ok()?;
    if tail.last().is_none_or(|b| *b == b'\n') {
        return None;
    }
    // No line end before it: not a record a writer cut; leave it alone.
    let keep = len - tail_len + tail.iter().rposition(|b| *b == b'\n')? as u64 + 1;
    file.set_len(keep).ok()?;
    Some(len - keep)
}

/// Appends `buf` (lines, each ending in a newline) to `file`, opened for
/// appending.  Returns how many bytes of `buf`, always whole lines unless
/// a cut could not be taken back, are now in the file, and the error that
/// stopped it before the end.
pub fn append_lines(mut file: &File, buf: &[u8]) -> (usize, Option<std::io::Error>) {
    let mut done = 0;
    while done < buf.len() {
        match file.write(&buf[done..]) {
            Ok(n) if n == buf.len() - done => return (buf.len(), None),
            Ok(n) if n > 0 => {
                let end = done + n;
                let whole = buf[..end]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |j| j + 1)
                    .max(done);
                if whole == end || take_back(file, (end - whole) as u64) {
                    if whole == done {
                        // Not one more whole line fits.
                        return (
                            done,
                            Some(std::io::Error::other(format!(
                                "only {n} of {} bytes written",
                                buf.len() - done
                            ))),
                        );
                    }
                    done = whole;
                } else {
                    done = end;
                }
            }
            Ok(_) => return (done, Some(std::io::Error::other("no bytes written"))),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Some(e)),
        }
    }
    (done, None)
}

/// Removes the last `cut` bytes this process just appended, unless someone
/// else appended since.
fn take_back(mut file: &File, cut: u64) -> bool {
    match (file.stream_position(), file.metadata()) {
        (Ok(end), Ok(meta)) if meta.len() == end && end >= cut => file.set_len(end - cut).is_ok(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(content: &[u8]) -> (Option<u64>, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, content).unwrap();
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let a = append_lines_locked(&f, b"", 4096, None);
        (a.removed, std::fs::read(&path).unwrap())
    }

    #[test]
    fn only_a_cut_line_is_removed() {
        assert_eq!(cut(b"one\ntwo\nthr"), (Some(3), b"one\ntwo\n".to_vec()));
        assert_eq!(cut(b"one\ntwo\n"), (None, b"one\ntwo\n".to_vec()));
        assert_eq!(cut(b""), (None, b"".to_vec()));
        // Not something a writer cut: no line end at all, or a tail longer
        // than any record.
        assert_eq!(cut(b"no line end"), (None, b"no line end".to_vec()));
        let mut long = b"one\n".to_vec();
        long.extend(vec![b'x'; 4097]);
        assert_eq!(cut(&long).0, None);
    }

    #[test]
    fn a_writer_that_knows_the_end_still_sees_another_writers_cut_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let a = append_lines_locked(&f, b"one\n", 4096, None);
        assert_eq!(a.end, Some(4));
        let a = append_lines_locked(&f, b"two\n", 4096, a.end);
        assert_eq!((a.end, a.removed), (Some(8), None));
        // Another writer died halfway through its line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"cu")
            .unwrap();
        let a = append_lines_locked(&f, b"three\n", 4096, a.end);
        assert_eq!((a.end, a.removed), (Some(14), Some(2)));
        assert_eq!(std::fs::read(&path).unwrap(), b"one\ntwo\nthree\n");
    }

    #[test]
    fn a_held_lock_is_waited_for_briefly_then_written_past() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let holder = std::fs::File::create(&path).unwrap();
        myflock(&holder, LockOp::Exclusive, false).unwrap();
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        // Anyone who can open the log can hold its lock: the line still
        // goes out (without the cut-line repair), and the caller is told.
        let a = append_lines_locked(&f, b"line\n", 4096, None);
        assert_eq!((a.written, a.error.is_none(), a.locked), (5, true, false));
        drop(holder);
        let a = append_lines_locked(&f, b"line\n", 4096, None);
        assert_eq!((a.written, a.error.is_none(), a.locked), (5, true, true));
        assert_eq!(std::fs::read(&path).unwrap(), b"line\nline\n");
    }

    #[test]
    fn whole_buffer_goes_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let (n, err) = append_lines(&f, b"one\ntwo\n");
        assert_eq!((n, err.is_none()), (8, true));
        assert_eq!(std::fs::read(&path).unwrap(), b"one\ntwo\n");
    }
}
