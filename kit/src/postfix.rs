//! A private instance of Debian's real Postfix (its master and postlogd) in
//! a temporary directory, for the benchmark and the compatibility tests.
//! Nothing under /etc/postfix is touched.  Needs root and the postfix
//! package.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::procs::find_process;

pub const POSTFIX_MASTER: &str = "/usr/lib/postfix/sbin/master";
pub const POSTFIX_POSTLOGD: &str = "/usr/lib/postfix/sbin/postlogd";

/// Compiles a C service `src` into `exe` against Debian's Postfix
/// libraries (libpostfix-master, -global, -util: a service on Postfix's
/// own skeletons), with `defines` (`-DNAME=VALUE`) on the command line.
pub fn build_c_service(src: &Path, exe: &Path, defines: &[String]) -> Result<(), String> {
    let out = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(exe)
        .arg(src)
        .args(defines)
        .args([
            "-L/usr/lib/postfix",
            "-Wl,-rpath,/usr/lib/postfix",
            "-lpostfix-master",
            "-lpostfix-global",
            "-lpostfix-util",
        ])
        .output()
        .map_err(|e| format!("gcc: {e}"))?;
    if !out.status.success() {
        return Err(format!("gcc: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

/// Whether this machine can run a private Postfix.
pub fn available() -> bool {
    Path::new(POSTFIX_MASTER).exists() && nix::unistd::geteuid().is_root()
}

pub struct PostfixInstance {
    pub dir: tempfile::TempDir,
    master: Option<Child>,
}

impl PostfixInstance {
    /// D/etc (main.cf, master.cf with the postlog service), D/spool,
    /// D/data, the log in D/maillog.  With `postlogd` given, master.cf's
    /// `postlogd` is that program (through daemon_directory).
    pub fn new(postlogd: Option<&Path>, extra_main_cf: &str) -> Result<PostfixInstance, String> {
        let programs: Vec<(&str, &Path)> = postlogd.map(|p| ("postlogd", p)).into_iter().collect();
        Self::build(&programs, "", extra_main_cf)
    }

    /// The same with more master.cf services, whose commands are
    /// `programs` (name, program) in a daemon_directory of the instance's
    /// own, beside Debian's postlogd.
    pub fn with_services(
        master_cf: &str,
        programs: &[(&str, &Path)],
        extra_main_cf: &str,
    ) -> Result<PostfixInstance, String> {
        let mut all = programs.to_vec();
        if !all.iter().any(|(n, _)| *n == "postlogd") {
            all.push(("postlogd", Path::new(POSTFIX_POSTLOGD)));
        }
        Self::build(&all, master_cf, extra_main_cf)
    }

    fn build(
        programs: &[(&str, &Path)],
        extra_master_cf: &str,
        extra_main_cf: &str,
    ) -> Result<PostfixInstance, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        for sub in ["etc", "spool", "data", "libexec"] {
            std::fs::create_dir_all(d.join(sub)).map_err(|e| e.to_string())?;
        }
        let postfix = nix::unistd::User::from_name("postfix")
            .ok()
            .flatten()
            .ok_or("no postfix account")?;
        nix::unistd::chown(&d.join("data"), Some(postfix.uid), Some(postfix.gid))
            .map_err(|e| e.to_string())?;
        let main_cf = format!(
            "compatibility_level = 3.6\nqueue_directory = {d}/spool\ndata_directory = {d}/data\n\
             maillog_file = {d}/maillog\nmaillog_file_prefixes = {d}\ninet_interfaces = loopback-only\n{extra_main_cf}",
            d = d.display()
        );
        std::fs::write(d.join("etc/main.cf"), &main_cf).map_err(|e| e.to_string())?;
        std::fs::write(
            d.join("etc/master.cf"),
            format!("postlog   unix-dgram n  -       n       -       1       postlogd\n{extra_master_cf}"),
        )
        .map_err(|e| e.to_string())?;
        let out = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(d.join("etc"))
            .arg("check")
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "postfix check: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        for (name, program) in programs {
            std::os::unix::fs::symlink(program, d.join("libexec").join(name))
                .map_err(|e| e.to_string())?;
        }
        if !programs.is_empty() {
            std::fs::write(
                d.join("etc/main.cf"),
                format!("{main_cf}daemon_directory = {}/libexec\n", d.display()),
            )
            .map_err(|e| e.to_string())?;
        }
        // Postfix re-reads a main.cf changed within the last second.
        let _ = Command::new("touch")
            .args(["-d", "1 hour ago"])
            .arg(d.join("etc/main.cf"))
            .status();
        Ok(PostfixInstance { dir, master: None })
    }

    pub fn etc(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("maillog")
    }

    pub fn socket_path(&self) -> PathBuf {
        self.dir.path().join("spool/public/postlog")
    }

    pub fn master_pid(&self) -> Option<i32> {
        self.master.as_ref().map(|m| m.id() as i32)
    }

    /// Starts Postfix's master in the foreground (`-d`) and waits for the
    /// postlog socket.
    pub fn start(&mut self) -> Result<(), String> {
        let child = Command::new(POSTFIX_MASTER)
            .arg("-c")
            .arg(self.etc())
            .arg("-d")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        self.master = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.socket_path().exists() {
            if Instant::now() > deadline {
                return Err("Postfix's master did not create its postlog socket".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Stops the master as `postfix stop` does (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut m) = self.master.take() {
            crate::procs::terminate(&mut m);
        }
    }

    pub fn send(&self, data: &[u8]) -> std::io::Result<()> {
        let c = UnixDatagram::unbound()?;
        c.send_to(data, self.socket_path()).map(|_| ())
    }

    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.log_path()).unwrap_or_default()).into()
    }

    /// The argv of this instance's running postlogd, if one runs.
    pub fn postlogd_argv(&self) -> Option<Vec<String>> {
        find_process("postlogd", &self.etc().display().to_string()).map(|(_, argv)| argv)
    }

    pub fn postlogd_pid(&self) -> Option<i32> {
        find_process("postlogd", &self.etc().display().to_string()).map(|(pid, _)| pid)
    }
}

impl Drop for PostfixInstance {
    fn drop(&mut self) {
        self.stop();
    }
}
