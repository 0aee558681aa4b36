//! A private copy of Debian's stock Postfix configuration (main.cf and
//! master.cf as the package installed them), run by postkit's master: the
//! host an administrator has.  Only what must be private changes: the
//! queue and data directories, the log file, the mailbox directory, and
//! the SMTP service's address (a free loopback port, never port 25).
//! Needs root and the postfix package.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A configuration directory D: D/main.cf, D/master.cf, D/queue, D/data,
/// D/maillog, mailboxes in D/mail.
pub struct StockHost {
    pub dir: tempfile::TempDir,
    /// The SMTP service's loopback port.
    pub port: u16,
}

/// The stock file: the one the package installed in /etc/postfix, else the
/// package's template.
fn stock(name: &str, template: &str) -> String {
    std::fs::read_to_string(Path::new("/etc/postfix").join(name))
        .or_else(|_| std::fs::read_to_string(Path::new("/usr/share/postfix").join(template)))
        .unwrap_or_else(|e| panic!("no stock {name}: {e}"))
}

impl StockHost {
    /// The stock configuration; `postscreen` uncomments Debian's
    /// postscreen lines (postscreen on the SMTP address, `smtpd pass`,
    /// dnsblog, tlsproxy) and comments out the plain smtpd one.
    pub fn new(postscreen: bool) -> StockHost {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = crate::free_port();
        let mut master_cf = String::new();
        for line in stock("master.cf", "master.cf.dist").lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let smtpd = fields.len() >= 8 && fields[0] == "smtp" && fields[1] == "inet";
            let rewritten = match fields.first().copied() {
                Some("smtp") if smtpd && fields[7] == "smtpd" && !postscreen => {
                    line.replacen("smtp ", &format!("127.0.0.1:{port} "), 1)
                }
                Some("smtp") if smtpd && fields[7] == "smtpd" => format!("#{line}"),
                Some("#smtp") if postscreen && line.contains("postscreen") => {
                    line[1..].replacen("smtp ", &format!("127.0.0.1:{port} "), 1)
                }
                Some("#smtpd" | "#dnsblog" | "#tlsproxy") if postscreen => line[1..].to_string(),
                _ => line.to_string(),
            };
            master_cf.push_str(&rewritten);
            master_cf.push('\n');
        }
        assert!(
            master_cf.contains(&format!("127.0.0.1:{port} ")),
            "no SMTP service in the stock master.cf"
        );
        let main_cf = format!(
            "{}\n# Private to this test.\nqueue_directory = {d}/queue\ndata_directory = {d}/data\n\
             maillog_file = {d}/maillog\nmaillog_file_prefixes = {d}\nmail_spool_directory = {d}/mail\n",
            stock("main.cf", "main.cf.debian"),
            d = d.display()
        );
        std::fs::write(d.join("main.cf"), main_cf).unwrap();
        std::fs::write(d.join("master.cf"), master_cf).unwrap();
        std::fs::create_dir_all(d.join("mail")).unwrap();
        std::fs::set_permissions(d.join("mail"), std::fs::Permissions::from_mode(0o1777)).unwrap();
        // What Debian's start-up does for chrooted services: the files
        // they read, copied into the queue directory.
        std::fs::create_dir_all(d.join("queue/etc")).unwrap();
        for f in [
            "services",
            "hosts",
            "resolv.conf",
            "nsswitch.conf",
            "localtime",
            "host.conf",
        ] {
            let _ = std::fs::copy(Path::new("/etc").join(f), d.join("queue/etc").join(f));
        }
        // Postfix's own `postfix check` makes the queue's directories.
        let out = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(d)
            .arg("check")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postfix check: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        StockHost { dir, port }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `postkit -c D VERB`: exit code, stdout, stderr.
    pub fn postkit(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(crate::postkit_exe())
            .arg("-c")
            .arg(self.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("maillog")).unwrap_or_default()
    }

    /// What `user`'s mailbox holds.
    pub fn mailbox(&self, user: &str) -> String {
        std::fs::read_to_string(self.path().join("mail").join(user)).unwrap_or_default()
    }

    /// Sends one message over SMTP with Python's smtplib, a real client.
    pub fn smtp_send(&self, to: &str, subject: &str) -> Result<(), String> {
        let script = "import smtplib, sys\n\
            s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=60)\n\
            s.ehlo('client.example')\n\
            s.sendmail('tester@localhost', [sys.argv[2]], 'Subject: %s\\r\\n\\r\\nsent over SMTP\\r\\n' % sys.argv[3])\n\
            s.quit()\n";
        let out = Command::new("/usr/bin/python3")
            .args(["-c", script, &self.port.to_string(), to, subject])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Gives one message to Postfix's sendmail for this configuration.
    pub fn sendmail(&self, to: &str, subject: &str) {
        use std::io::Write;
        let mut child = Command::new("/usr/sbin/sendmail")
            .arg("-C")
            .arg(self.path())
            .arg(to)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("Subject: {subject}\n\ngiven to sendmail\n").as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    }

    /// Waits up to 60 s for `cond`.
    pub fn wait_for(&self, cond: impl Fn(&StockHost) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\nlog (end):\n{}",
                crate::procs::tail(&self.log())
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Processes of this configuration: the master (its command line
    /// names D) and every child it started (MAIL_CONFIG=D in their
    /// environment).
    pub fn processes(&self) -> Vec<(i32, String)> {
        let marker = format!("MAIL_CONFIG={}", self.path().display());
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let env = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            let cmd = std::fs::read_to_string(entry.path().join("cmdline"))
                .unwrap_or_default()
                .replace('\0', " ");
            if env.split(|b| *b == 0).any(|v| v == marker.as_bytes())
                || cmd.contains(&format!(" -c {} ", self.path().display()))
            {
                found.push((pid, cmd));
            }
        }
        found
    }
}

impl Drop for StockHost {
    fn drop(&mut self) {
        let _ = self.postkit(&["stop"]);
        for (pid, _) in self.processes() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}
