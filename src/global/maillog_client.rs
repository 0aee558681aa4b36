//! Choosing where a program logs (Postfix's `maillog_client`): to postlogd's
//! socket when `maillog_file` is set, else to syslog.  Before main.cf is
//! read, the `POSTLOG_SERVICE` and `POSTLOG_HOSTNAME` variables a parent
//! exported decide, so that a daemon logs correctly from its first line.

use std::io::Write;

use crate::util::msg;
use crate::util::msg_logger::{Fallback, PostlogClient};
use crate::util::msg_output::{MsgOutput, Slot};
use crate::util::msg_syslog::{SyslogClient, facility_code};

use super::mail_params::MailParams;

/// Whether a program may write the log file itself when postlogd cannot be
/// reached (the master, postlog, the control command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackMode {
    /// Records postlogd cannot take are lost, as in Postfix's daemons.
    None,
    /// Records postlogd cannot take are appended to maillog_file directly.
    LogWriter,
    /// The log service itself: its records always go to maillog_file
    /// directly, never through the postlog socket (its own: a blocking send
    /// to its own full socket would wait for itself forever).
    WriterOnly,
}

/// `<syslog_name>/<name>`: `MAIL_LOGTAG` (or `postfix`) before main.cf is read.
pub fn mail_task(name: &str, params: Option<&MailParams>) -> String {
    let prefix = match params {
        Some(p) => p.syslog_name.clone(),
        None => std::env::var("MAIL_LOGTAG")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "postfix".into()),
    };
    format!("{prefix}/{name}")
}

/// Logging from the environment alone, before main.cf is read.  The log
/// service itself (`writer_only`) never uses the postlog socket: syslog
/// until main.cf names the file.
pub fn init_from_env(tag: &str, writer_only: bool) {
    msg::set_tag(tag);
    match std::env::var("POSTLOG_SERVICE") {
        Ok(path) if !path.is_empty() && !writer_only => {
            let host = std::env::var("POSTLOG_HOSTNAME").unwrap_or_else(|_| "amnesiac".into());
            set_syslog(None);
            set_postlog(Some(PostlogClient::new(path, &host, None)));
        }
        _ => {
            set_postlog(None);
            set_syslog(Some(SyslogClient::new(facility_code("mail").unwrap_or(2))));
        }
    }
}

/// Checks `maillog_file` against `maillog_file_prefixes`; the error is
/// Postfix's fatal text.
pub fn check_prefix(params: &MailParams) -> Result<(), String> {
    let file = &params.maillog_file;
    // The path as it resolves, not as it is spelled: `DIR/../elsewhere`
    // must not pass for a file under DIR.
    let normal = normalize_path(file);
    let ok = params
        .maillog_file_prefixes
        .split([',', ' ', '\t', '\n', '\r'])
        .filter(|p| !p.is_empty())
        .any(|p| file.starts_with(p) && normal.starts_with(&normalize_path(p)));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "maillog_file value '{file}' does not match any prefix in maillog_file_prefixes"
        ))
    }
}

/// `path` with `.`, `..` and repeated slashes resolved by name alone (no
/// look at the file system); a trailing slash is kept, so that a prefix
/// `/var/log/` still means the directory.
pub fn normalize_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let mut out = String::new();
    if path.starts_with('/') {
        out.push('/');
    }
    out.push_str(&parts.join("/"));
    if path.ends_with('/') && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Opens maillog_file as every log writer does: through `safe_open` (no
/// symbolic or hard link tricks), and only a file that belongs to root,
/// mail_owner or the user running this program: a file that another user
/// planted at the log's name (in a world-writable directory, say, right
/// after a rotation) is refused, not adopted.
pub fn open_logfile(path: &str, mode: u32, mail_owner: &str) -> Result<std::fs::File, String> {
    use std::os::unix::fs::MetadataExt;
    let f = crate::util::safe_open::safe_open(std::path::Path::new(path), false, true, mode)?;
    let uid = f
        .metadata()
        .map_err(|e| format!("cannot fstat file: {}", crate::util::errno_text(&e)))?
        .uid();
    let owner = nix::unistd::User::from_name(mail_owner)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw());
    if uid == 0 || uid == nix::unistd::geteuid().as_raw() || Some(uid) == owner {
        Ok(f)
    } else {
        Err(format!(
            "file is owned by uid {uid}, not by root or {mail_owner}"
        ))
    }
}

/// The postlog socket's path.
pub fn postlog_path(params: &MailParams) -> String {
    format!(
        "{}/public/{}",
        params.queue_directory, params.postlog_service_name
    )
}

/// Where the log writers' fallback appends: the file by its name (opened
/// for each record, so that a rotated file is followed), or a descriptor
/// opened once (postlogd's, opened before it dropped privileges: after
/// that it could not open a root-owned 0600 file by name).
pub enum LogTarget {
    /// maillog_file by name, the mode it is created with, and mail_owner.
    Path(String, u32, String),
    /// An open descriptor, and the file's name for messages.
    File(std::fs::File, String),
}

/// Appends a formatted record straight to the log file.  A record that
/// cannot be written goes to stderr, and the next record that can be
/// written is followed by a count of those lost, so none is lost silently.
pub fn logwriter_fallback(target: LogTarget) -> Fallback {
    let mut lost: u64 = 0;
    Box::new(move |rec: &[u8]| {
        let path = match &target {
            LogTarget::Path(p, _, _) | LogTarget::File(_, p) => p.as_str(),
        };
        let mut line = rec.to_vec();
        line.push(b'\n');
        // Notes of this writer's own carry this record's header.
        let header_end = rec
            .windows(3)
            .position(|w| w == b"]: ")
            .map_or(0, |i| i + 3);
        if lost > 0 {
            line.extend_from_slice(&rec[..header_end]);
            line.extend_from_slice(
                format!("warning: {lost} earlier record(s) could not be written to {path}\n")
                    .as_bytes(),
            );
        }
        // Under the writers' lock, after removing a line that a killed
        // postlogd may have cut short (records are at most DGRAM_BUF_SIZE bytes).
        let append = |f: &std::fs::File| {
            let a = crate::util::append_lines::append_lines_locked(
                f,
                &line,
                super::mail_proto::DGRAM_BUF_SIZE,
                None,
            );
            // A cut record this writer removed is said, as postlogd says it.
            if let Some(cut) = a.removed {
                let mut note = rec[..header_end].to_vec();
                note.extend_from_slice(
                    format!("warning: {}\n", cut_record_note(path, cut)).as_bytes(),
                );
                let _ = crate::util::append_lines::append_lines_locked(
                    f,
                    &note,
                    super::mail_proto::DGRAM_BUF_SIZE,
                    None,
                );
            }
            (a.written, a.error.map(|e| crate::util::errno_text(&e)))
        };
        let (written, why) = match &target {
            LogTarget::File(f, _) => append(f),
            LogTarget::Path(p, mode, owner) => match open_logfile(p, *mode, owner) {
                Ok(f) => append(&f),
                Err(why) => (0, Some(why)),
            },
        };
        if written == line.len() {
            lost = 0;
        } else if written <= rec.len() {
            lost += 1;
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "logfile '{path}' write error: {}",
                why.unwrap_or_default()
            );
            let _ = err.write_all(&line[..rec.len() + 1]);
        }
    })
}

/// The log writers' fallback for maillog_file as main.cf names it.
fn file_fallback(params: &MailParams) -> Fallback {
    logwriter_fallback(LogTarget::Path(
        params.maillog_file.clone(),
        params.maillog_file_permissions,
        params.mail_owner.clone(),
    ))
}

/// Logging as main.cf says.  Exports the postlog variables for children.
pub fn init(tag: &str, params: &MailParams, fallback: FallbackMode) -> Result<(), String> {
    msg::set_tag(tag);
    if params.maillog_file.is_empty() {
        set_postlog(None);
        set_syslog(Some(SyslogClient::new(
            facility_code(&params.syslog_facility).unwrap_or(2),
        )));
        crate::util::safe_env::remove_var("POSTLOG_SERVICE");
        crate::util::safe_env::remove_var("POSTLOG_HOSTNAME");
        return Ok(());
    }
    check_prefix(params)?;
    let path = postlog_path(params);
    let to_file = || file_fallback(params);
    if fallback == FallbackMode::WriterOnly {
        set_syslog(None);
        set_postlog(Some(PostlogClient::fallback_only(
            &params.myhostname,
            to_file(),
        )));
        return Ok(());
    }
    let fb = match fallback {
        FallbackMode::LogWriter => Some(to_file()),
        FallbackMode::None | FallbackMode::WriterOnly => None,
    };
    crate::util::safe_env::set_var("POSTLOG_SERVICE", &path);
    crate::util::safe_env::set_var("POSTLOG_HOSTNAME", &params.myhostname);
    set_syslog(None);
    set_postlog(Some(PostlogClient::new(path, &params.myhostname, fb)));
    Ok(())
}

/// Where a program's own records go, by the phase it is in: the one
/// setting of the postlog client that changes while a program runs.
pub enum LogPolicy {
    /// A master starting: nobody reads the log socket yet, and a record
    /// sent there would die with the master if it could not start, so
    /// records go straight into the file.
    Starting,
    /// A master serving: to the log socket without ever waiting, into the
    /// file when the socket is full.
    Serving,
    /// A master stopping: the log service is gone, records go into the file.
    Stopping,
    /// The log service itself: never its own socket (a blocking send to
    /// its own full socket would wait for itself forever); into the file,
    /// through the descriptor it opened before dropping privileges.
    LogWriter(Fallback),
}

/// Sets where this program's records go from now on (see LogPolicy).
pub fn set_policy(policy: LogPolicy) {
    with_postlog(|p| match policy {
        LogPolicy::Starting => {
            p.set_nonblocking();
            p.use_fallback_only();
        }
        LogPolicy::Serving => {
            p.set_nonblocking();
            p.use_socket();
        }
        LogPolicy::Stopping => p.use_fallback_only(),
        LogPolicy::LogWriter(fallback) => p.set_fallback_only(fallback),
    });
}

/// The warning for a record a writer that died left cut short at the end
/// of the log file, which the next writer removed (see append_lines).
pub fn cut_record_note(path: &str, cut: u64) -> String {
    format!("logfile '{path}': removed {cut} bytes of a record cut short by a writer that died")
}

/// One record under `tag`, where this configuration logs (postlogd's
/// socket without waiting, else straight into the file; or syslog): how
/// the control command records start, reload and stop, as postfix-script
/// does, without changing where its own messages go.
pub fn log_once(params: &MailParams, tag: &str, level: msg::Level, text: &str) {
    if params.maillog_file.is_empty() {
        SyslogClient::new(facility_code(&params.syslog_facility).unwrap_or(2))
            .send(tag, level, text);
        return;
    }
    if check_prefix(params).is_err() {
        return;
    }
    let fallback = file_fallback(params);
    let mut client = PostlogClient::new(postlog_path(params), &params.myhostname, Some(fallback));
    client.set_nonblocking();
    client.send(tag, level, &crate::util::printable::printable(text, '?'));
}

/// One record of this program's, straight into maillog_file (never
/// through the socket): what the master writes for a log service that
/// cannot write it.
pub fn append_direct(params: &MailParams, text: &str) {
    if params.maillog_file.is_empty() || check_prefix(params).is_err() {
        return;
    }
    let rec = crate::util::msg_logger::format_record(
        &chrono::Local::now(),
        &params.myhostname,
        &msg::tag(),
        std::process::id(),
        msg::Level::Info,
        crate::util::printable::printable(text, '?').as_bytes(),
    );
    let mut fallback = file_fallback(params);
    fallback(&rec);
}

/// Appends postlog datagrams to maillog_file as postlogd writes them (one
/// line each, control characters as `?`): for the master at its stop,
/// with what the log socket still held when the log service was gone.
pub fn append_postlog_records(params: &MailParams, records: &[Vec<u8>]) {
    if records.is_empty() || params.maillog_file.is_empty() || check_prefix(params).is_err() {
        return;
    }
    let mut fallback = file_fallback(params);
    for r in records {
        let mut line = Vec::with_capacity(r.len() + 1);
        crate::postlogd::sanitize_into(&mut line, r);
        line.push(b'\n');
        fallback(&line);
    }
}

/// Switches syslog output on (with a client) or off.
pub fn set_syslog(client: Option<SyslogClient>) {
    msg::set_output(
        Slot::Syslog,
        client.map(|c| Box::new(c) as Box<dyn MsgOutput>),
    );
}

/// Switches postlog output on (with a client) or off.
pub fn set_postlog(client: Option<PostlogClient>) {
    msg::set_output(
        Slot::Postlog,
        client.map(|c| Box::new(c) as Box<dyn MsgOutput>),
    );
}

/// Runs `f` on the postlog client, if one is active.
pub fn with_postlog<R>(f: impl FnOnce(&mut PostlogClient) -> R) -> Option<R> {
    msg::with_output(Slot::Postlog, f)
}

#[cfg(test)]
mod path_tests {
    use super::normalize_path;

    #[test]
    fn paths_are_compared_as_they_resolve() {
        assert_eq!(normalize_path("/a/b/../../c/maillog"), "/c/maillog");
        assert_eq!(normalize_path("/a//b/./maillog"), "/a/b/maillog");
        assert_eq!(normalize_path("/var/log/"), "/var/log/");
        assert_eq!(normalize_path("/../x"), "/x");
    }
}
