//! Changing this process's environment.  The standard library marks it
//! unsafe because another thread could read the environment at the same
//! time; every postkit program is single-threaded, so that cannot happen.

/// Sets an environment variable (single-threaded programs only).
pub fn set_var(name: &str, value: &str) {
    // SAFETY: postkit programs run one thread; nothing reads the
    // environment concurrently.
    unsafe { std::env::set_var(name, value) };
}

/// Removes an environment variable (single-threaded programs only).
pub fn remove_var(name: &str) {
    // SAFETY: as for set_var: one thread, no concurrent reader.
    unsafe { std::env::remove_var(name) };
}
