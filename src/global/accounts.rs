//! The account checks of `mail_params_init()`: mail_owner, setgid_group and
//! default_privs must exist, be unprivileged and not share IDs, so that
//! privilege separation means something.

use nix::unistd::{Group, User};

/// The account names main.cf gives.
#[derive(Debug, Clone, Copy)]
pub struct AccountNames<'a> {
    /// `mail_owner`.
    pub mail_owner: &'a str,
    /// `setgid_group`.
    pub setgid_group: &'a str,
    /// `default_privs`.
    pub default_privs: &'a str,
}

/// Checks the accounts as Postfix's `mail_params_init()` does; the error is
/// Postfix's fatal text, naming `cfg_dir/main.cf`.
pub fn check_accounts(cfg_dir: &str, p: AccountNames<'_>) -> Result<(), String> {
    let file = format!("file {cfg_dir}/main.cf");
    let user = |param: &str, name: &str| -> Result<User, String> {
        let u = User::from_name(name)
            .ok()
            .flatten()
            .ok_or_else(|| format!("{file}: parameter {param}: unknown user name value: {name}"))?;
        if u.uid.is_root() {
            return Err(format!(
                "{file}: parameter {param}: user {name} has privileged user ID"
            ));
        }
        if u.gid.as_raw() == 0 {
            return Err(format!(
                "{file}: parameter {param}: user {name} has privileged group ID"
            ));
        }
        Ok(u)
    };
    let default = user("default_privs", p.default_privs)?;
    let owner = user("mail_owner", p.mail_owner)?;
    if let Ok(Some(other)) = User::from_uid(owner.uid)
        && other.name != p.mail_owner
    {
        return Err(format!(
            "{file}: parameter mail_owner: user {} has same user ID as {}",
            p.mail_owner, other.name
        ));
    }
    let group = Group::from_name(p.setgid_group)
        .ok()
        .flatten()
        .ok_or_else(|| {
            format!(
                "{file}: parameter setgid_group: unknown group name: {}",
                p.setgid_group
            )
        })?;
    if group.gid.as_raw() == 0 {
        return Err(format!(
            "{file}: parameter setgid_group: group {} has privileged group ID",
            p.setgid_group
        ));
    }
    if p.default_privs == p.mail_owner {
        return Err(format!(
            "{file}: parameters default_privs and mail_owner specify the same user {}",
            p.default_privs
        ));
    }
    if default.uid == owner.uid {
        return Err(format!(
            "{file}: parameters default_privs and mail_owner: users {} and {} have the same user ID: {}",
            p.default_privs, p.mail_owner, owner.uid
        ));
    }
    if default.gid == owner.gid {
        return Err(format!(
            "{file}: parameters default_privs and mail_owner: users {} and {} have the same group ID: {}",
            p.default_privs, p.mail_owner, owner.gid
        ));
    }
    for (param, u, name) in [
        ("default_privs", &default, p.default_privs),
        ("mail_owner", &owner, p.mail_owner),
    ] {
        if u.gid == group.gid {
            return Err(format!(
                "{file}: parameters {param} and setgid_group: user {name} and group {} have the same group ID: {}",
                p.setgid_group, group.gid
            ));
        }
    }
    Ok(())
}
