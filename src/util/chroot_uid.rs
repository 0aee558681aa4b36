//! Entering a chroot jail and giving up root (Postfix's `chroot_uid()`):
//! group, supplementary groups, chroot, then user, in that order, so that no
//! step needs a privilege an earlier one gave up.
//!
//! Without root there is nothing to give up: when this process is not root,
//! a request for the user it already runs as is a no-op, and any other
//! request is ignored with one warning (rootless operation).

use std::ffi::CString;

use nix::unistd::{User, chdir, chroot, geteuid, initgroups, setgid, setuid};

/// Changes root to `root` and drops to `user`'s uid, gid and groups (each when given), in Postfix's order.
pub fn chroot_uid(root: Option<&str>, user: Option<&str>) -> Result<(), String> {
    if crate::util::msg::verbose() > 1 {
        crate::msg_info!(
            "chroot {} user {}",
            root.unwrap_or("(none)"),
            user.unwrap_or("(none)")
        );
    }
    let pw = match user {
        Some(name) => Some(
            User::from_name(name)
                .ok()
                .flatten()
                .ok_or_else(|| format!("unknown user: {name}"))?,
        ),
        None => None,
    };
    if !geteuid().is_root() {
        let same_user = pw.as_ref().is_none_or(|p| p.uid == geteuid());
        if root.is_some() || !same_user {
            crate::msg_warn!("not running as root: ignoring the request to chroot or change user");
        }
        return Ok(());
    }
    if let Some(p) = &pw {
        setgid(p.gid).map_err(|e| format!("setgid({}): {}", p.gid, crate::util::nix_text(e)))?;
        let cname =
            CString::new(p.name.clone()).map_err(|_| format!("unknown user: {}", p.name))?;
        initgroups(&cname, p.gid)
            .map_err(|e| format!("initgroups: {}", crate::util::nix_text(e)))?;
    }
    if let Some(dir) = root {
        chroot(dir).map_err(|e| format!("chroot({dir}): {}", crate::util::nix_text(e)))?;
        chdir("/").map_err(|e| format!("chdir(/): {}", crate::util::nix_text(e)))?;
    }
    if let Some(p) = &pw {
        setuid(p.uid).map_err(|e| format!("setuid({}): {}", p.uid, crate::util::nix_text(e)))?;
    }
    Ok(())
}
