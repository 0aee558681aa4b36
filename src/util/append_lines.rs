//! Appending whole lines to a file that may be full.  A write the file
//! system takes only part of would leave a line cut short, and the next
//! record would run into it; instead the cut part is taken back (unless
//! another writer appended since), so that the file holds whole lines only.

use std::fs::File;
use std::io::{Seek, Write};

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
