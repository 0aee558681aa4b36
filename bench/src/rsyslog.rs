//! A private rsyslogd (Debian's package), the peer a user would pick for a
//! local log sink: imuxsock on a socket of its own with rate limiting off,
//! omfile writing each message as it came (`%rawmsg%`), as postlogd does.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

pub struct Rsyslog {
    pub dir: tempfile::TempDir,
    child: Child,
}

pub fn available() -> bool {
    Path::new(RSYSLOGD).exists()
}

impl Rsyslog {
    pub fn start() -> Result<Rsyslog, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let d = dir.path().display().to_string();
        let conf = format!(
            "global(workDirectory=\"{d}\")\n\
             module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
             input(type=\"imuxsock\" Socket=\"{d}/sock\" RateLimit.Interval=\"0\")\n\
             template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n\
             *.* action(type=\"omfile\" file=\"{d}/log\" template=\"raw\")\n"
        );
        std::fs::write(dir.path().join("rsyslog.conf"), conf).map_err(|e| e.to_string())?;
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(dir.path().join("rsyslog.conf"))
            .arg("-i")
            .arg(dir.path().join("pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{RSYSLOGD}: {e}"))?;
        let r = Rsyslog { dir, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !r.socket().exists() {
            if Instant::now() > deadline {
                return Err("rsyslogd did not create its socket".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(r)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
