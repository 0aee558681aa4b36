//! Acting as another user for a moment (Postfix's `set_eugid`): the
//! effective uid and gid change, the real ones stay root, so the process
//! can switch back.  The master creates service endpoints this way, as
//! mail_owner, in directories mail_owner owns: a file made by mail_owner
//! is mail_owner's from the start, so root never changes an owner or mode
//! by a path that mail_owner could swap for a symbolic link.

use nix::unistd::{Gid, Uid, getegid, geteuid, getgroups, setegid, seteuid, setgroups};

/// The effective ids before a switch; restored on drop.
pub struct EffectiveIds {
    uid: Uid,
    gid: Gid,
    /// The supplementary groups, when they were replaced.
    groups: Option<Vec<Gid>>,
}

/// Switches the effective gid then uid to `uid`/`gid` until the guard is
/// dropped.  The error is Postfix's text.
pub fn set_eugid(uid: u32, gid: u32) -> Result<EffectiveIds, String> {
    let mut saved = EffectiveIds {
        uid: geteuid(),
        gid: getegid(),
        groups: None,
    };
    // Root's supplementary groups would still open what their group may:
    // mail_owner's group alone, as Postfix's set_eugid does.
    if saved.uid.is_root() {
        let groups = getgroups().map_err(|e| format!("getgroups: {}", crate::util::nix_text(e)))?;
        setgroups(&[Gid::from_raw(gid)])
            .map_err(|e| format!("setgroups(1, {gid}): {}", crate::util::nix_text(e)))?;
        saved.groups = Some(groups);
    }
    // The group first: once the uid is not root it cannot be changed.
    // (On an error, dropping `saved` puts back what was changed.)
    setegid(Gid::from_raw(gid))
        .map_err(|e| format!("setegid({gid}): {}", crate::util::nix_text(e)))?;
    seteuid(Uid::from_raw(uid))
        .map_err(|e| format!("seteuid({uid}): {}", crate::util::nix_text(e)))?;
    Ok(saved)
}

impl Drop for EffectiveIds {
    fn drop(&mut self) {
        // Root again first, so that the gid can be restored.
        if seteuid(self.uid).is_err()
            || setegid(self.gid).is_err()
            || self.groups.as_ref().is_some_and(|g| setgroups(g).is_err())
        {
            crate::util::msg::fatal("set_eugid: cannot restore the effective user and group IDs");
        }
    }
}
