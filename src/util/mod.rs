//! Building blocks that know nothing of mail: configuration syntax and
//! tokens, macro expansion, safe file opening and editing, locks, acting
//! as another user, wake-up triggers, the watchdog and diagnostics.

pub mod mac_expand;
pub mod msg;
pub mod msg_logger;
pub mod msg_output;
pub mod msg_syslog;
pub mod printable;
pub mod readlline;
pub mod split_nameval;

/// The text C's `%m` prints for an I/O error (`strerror(errno)`).
pub fn errno_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix_text(nix::errno::Errno::from_raw(code)),
        None => e.to_string(),
    }
}

/// The same for a nix error: the C library's own text (nix's table says
/// "Try again" where glibc says "Resource temporarily unavailable").
pub fn nix_text(e: nix::errno::Errno) -> String {
    let text = std::io::Error::from_raw_os_error(e as i32).to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
pub mod append_lines;
pub mod attr;
pub mod chroot_uid;
pub mod dict;
pub mod edit_file;
pub mod exec_on_crash;
pub mod extpar;
pub mod getopt;
pub mod host_port;
pub mod htable_order;
pub mod inet_addr_local;
pub mod inet_proto;
pub mod myflock;
pub mod mystrtok;
pub mod safe_env;
pub mod safe_open;
pub mod set_eugid;
pub mod sig;
pub mod trigger;
pub mod watchdog;
