//! The configuration `postkit -c DIR start-fg` writes when DIR has no
//! main.cf: everything under DIR, the log service in master.cf, and no root
//! needed (mail_owner is the user running it).

use std::path::Path;

/// Writes DIR/main.cf and DIR/master.cf when main.cf is missing; returns
/// what it did.
pub fn ensure(config_dir: &str) -> Result<Option<String>, String> {
    let dir = Path::new(config_dir);
    if dir.join("main.cf").exists() {
        return Ok(None);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {config_dir}: {e}"))?;
    let abs = std::fs::canonicalize(dir).map_err(|e| format!("{config_dir}: {e}"))?;
    let abs = abs.display().to_string();
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the postkit executable: {e}"))?;
    let exe_dir = exe
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| ".".into());
    let uid = nix::unistd::geteuid();
    let accounts = if uid.is_root() {
        // Root runs Postfix's privilege separation: it needs Postfix's accounts.
        if nix::unistd::User::from_name("postfix")
            .ok()
            .flatten()
            .is_none()
        {
            return Err("running as root needs the postfix account (install Debian's postfix package), or run postkit as an ordinary user".into());
        }
        "mail_owner = postfix\nsetgid_group = postdrop\n".to_string()
    } else {
        let user = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .ok_or("cannot find the current user in the password file")?;
        let group = nix::unistd::Group::from_gid(user.gid)
            .ok()
            .flatten()
            .map(|g| g.name)
            .unwrap_or_else(|| user.name.clone());
        format!("mail_owner = {}\nsetgid_group = {group}\n", user.name)
    };
    let main_cf = format!(
        "# Written by postkit for an instance that lives in this directory.\n\
         compatibility_level = 3.6\n\
         queue_directory = {abs}/queue\n\
         data_directory = {abs}/data\n\
         daemon_directory = {exe_dir}\n\
         command_directory = {exe_dir}\n\
         {accounts}\
         maillog_file = {abs}/maillog\n\
         maillog_file_prefixes = {abs}, /dev/stdout\n\
         inet_interfaces = loopback-only\n"
    );
    let master_cf = "# service type  private unpriv  chroot  wakeup  maxproc command\n\
                     postlog   unix-dgram n  -       n       -       1       postlogd\n";
    std::fs::write(dir.join("main.cf"), main_cf)
        .map_err(|e| format!("write {config_dir}/main.cf: {e}"))?;
    if !dir.join("master.cf").exists() {
        std::fs::write(dir.join("master.cf"), master_cf)
            .map_err(|e| format!("write {config_dir}/master.cf: {e}"))?;
    }
    Ok(Some(format!(
        "wrote a default configuration to {abs} (main.cf, master.cf): queue {abs}/queue, log {abs}/maillog"
    )))
}
