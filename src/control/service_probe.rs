//! The parameters a postkit service declares, asked of the service itself
//! for `postkit check`: a program built on postkit's skeletons reads its
//! own `-o` settings and main.cf as at a start, then prints the names of
//! its parameters and exits (see `PARAMETER_PROBE_ENV`).  So a bad `-o`
//! value of a service is caught before `start`, with the service's own
//! (Postfix's) text, and a setting that the service declares is not
//! reported as unused.
//!
//! Why root may ask: the program is one the master runs as root at every
//! start anyway, and check runs it with less: as mail_owner (with
//! mail_owner's group alone), an empty environment but MAIL_CONFIG, no
//! descriptors but its stdio, in `/`, for at most a few seconds.  Only
//! programs that carry postkit's skeleton (its probe variable's name is in
//! the file) are asked; Postfix's own daemons are never run by check.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::global::mail_params::MailParams;
use crate::master::master_ent::MasterEnt;
use crate::master::master_queue::owner_ids;
use crate::server::mail_server::PARAMETER_PROBE_ENV;

/// How long a service may take to answer.
const PROBE_TIME: Duration = Duration::from_secs(10);

/// What is read of a service's answer (its parameter names, or its fatal
/// text).
const MAX_OUTPUT: usize = 64 << 10;

/// Larger files are not searched (no service is this big).
const MAX_PROGRAM: u64 = 512 << 20;

/// What the services said.
#[derive(Debug, Default)]
pub struct Probed {
    /// Parameter names some service declares.
    pub declared: HashSet<String>,
    /// A service refused its settings: master.cf's place and its text.
    pub problems: Vec<String>,
    /// A service could not be asked (not a fault of the configuration).
    pub unasked: Vec<String>,
}

/// Asks every postkit service of master.cf.
pub fn probe_services(config_dir: &str, ents: &[MasterEnt], params: &MailParams) -> Probed {
    let mut out = Probed::default();
    let mut is_ours: HashMap<String, bool> = HashMap::new();
    let owner = owner_ids(params);
    for ent in ents {
        let ours = *is_ours
            .entry(ent.path.clone())
            .or_insert_with(|| carries_skeleton(Path::new(&ent.path)));
        if !ours {
            continue;
        }
        let place = format!(
            "{config_dir}/master.cf: line {}: service {}",
            ent.line, ent.ext_name
        );
        match ask(config_dir, ent, owner) {
            Ok(names) => out.declared.extend(names),
            Err(Refusal::Settings(text)) => out.problems.push(format!("{place}: {text}")),
            Err(Refusal::Unasked(why)) => out
                .unasked
                .push(format!("{place}: its parameters are not checked: {why}")),
        }
    }
    out
}

/// Whether a program file holds postkit's skeleton.  Only a regular file
/// is read (opened without waiting: a fifo put in its place must not hang
/// `check`), at most MAX_PROGRAM bytes.
fn carries_skeleton(path: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    else {
        return false;
    };
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut bytes = Vec::new();
    if f.take(MAX_PROGRAM).read_to_end(&mut bytes).is_err() {
        return false;
    }
    let needle = PARAMETER_PROBE_ENV.as_bytes();
    bytes.windows(needle.len()).any(|w| w == needle)
}

enum Refusal {
    /// The service's fatal text about its settings.
    Settings(String),
    /// It could not be run or did not answer.
    Unasked(String),
}

/// Runs one service in probe mode; the names it declares.
fn ask(
    config_dir: &str,
    ent: &MasterEnt,
    owner: Option<(u32, u32)>,
) -> Result<Vec<String>, Refusal> {
    let mut cmd = Command::new(&ent.path);
    cmd.arg0(&ent.argv[0])
        .args(&ent.argv[1..])
        .env_clear()
        .env("MAIL_CONFIG", config_dir)
        .env(PARAMETER_PROBE_ENV, "1")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some((uid, gid)) = owner {
        // (std drops root's supplementary groups when it sets the uid.)
        cmd.uid(uid).gid(gid);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Refusal::Unasked(crate::util::errno_text(&e)))?;
    let deadline = Instant::now() + PROBE_TIME;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Refusal::Unasked("no answer".into()));
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| Refusal::Unasked(crate::util::errno_text(&e)))?;
    // What it wrote, read without waiting and bounded: a process it left
    // behind may hold the pipes open and keep writing.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    if status.success() {
        return Ok(String::from_utf8_lossy(&stdout)
            .lines()
            .map(str::to_string)
            .collect());
    }
    let stderr = String::from_utf8_lossy(&stderr);
    let fatal = stderr
        .lines()
        .find_map(|l| l.split_once("fatal: ").map(|(_, t)| t.to_string()))
        .unwrap_or_else(|| format!("exit status {}", status.code().unwrap_or(-1)));
    // mail_owner may not read what root can (a main.cf of mode 600): not
    // the service's verdict on its settings.
    if fatal.contains("Permission denied") {
        return Err(Refusal::Unasked(fatal));
    }
    Err(Refusal::Settings(fatal))
}

/// At most MAX_OUTPUT bytes of what a pipe holds now.
fn drain(pipe: Option<impl Read + std::os::fd::AsFd>) -> Vec<u8> {
    let mut out = Vec::new();
    let Some(mut pipe) = pipe else {
        return out;
    };
    crate::server::stream_accept::set_non_blocking(&pipe);
    let mut buf = [0u8; 4096];
    while out.len() < MAX_OUTPUT {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n.min(MAX_OUTPUT - out.len())]),
        }
    }
    out
}
