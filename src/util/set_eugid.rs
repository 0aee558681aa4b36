//! Acting as another user for a moment (Postfix's `set_eugid`): the
//! effective uid and gid change, the real ones stay root, so the process
//! can switch back.  The master creates service endpoints this way, as
//! mail_owner, in directories mail_owner owns: a file made by mail_owner
//! is mail_owner's from the start, so root never changes an owner or mode
//! by a path that mail_owner could swap for a symbolic link.

use nix::unistd::{Gid, Uid, getegid, geteuid, setegid, seteuid};

/// The effective ids before a switch; restored on drop.
pub struct EffectiveIds {
    uid: Uid,
    gid: Gid,
}

/// Switches the effective gid then uid to `uid`/`gid` until the guard is
/// dropped.  The error is Postfix's text.
pub fn set_eugid(uid: u32, gid: u32) -> Result<EffectiveIds, String> {
    let saved = EffectiveIds {
        uid: geteuid(),
        gid: getegid(),
    };
    // The group first: once the uid is not root it cannot be changed.
    setegid(Gid::from_raw(gid))
        .map_err(|e| format!("setegid({gid}): {}", crate::util::nix_text(e)))?;
    if let Err(e) = seteuid(Uid::from_raw(uid)) {
        let _ = setegid(saved.gid);
        return Err(format!("seteuid({uid}): {}", crate::util::nix_text(e)));
    }
    Ok(saved)
}

impl Drop for EffectiveIds {
    fn drop(&mut self) {
        // Root again first, so that the gid can be restored.
        if seteuid(self.uid).is_err() || setegid(self.gid).is_err() {
            crate::util::msg::fatal("set_eugid: cannot restore the effective user and group IDs");
        }
    }
}
