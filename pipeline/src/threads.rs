//! Starting threads where the system may refuse them: one error that says so and names the
//! limit, instead of the standard library's panic.

use std::thread::{Scope, ScopedJoinHandle};

/// How many processes and threads this user may run at once (`ulimit -u`), in words.
pub fn process_limit() -> String {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the struct it is given.
    let known = unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &raw mut limit) } == 0;
    match known && limit.rlim_cur != libc::RLIM_INFINITY {
        true => format!("this user may run at most {} processes and threads at once (ulimit -u)", limit.rlim_cur),
        false => "the system refused it".to_string(),
    }
}

/// The error of a thread the system would not start (`what` it was for).
pub fn cannot_start(what: &str, error: &std::io::Error) -> anyhow::Error {
    anyhow::anyhow!("cannot start a thread for {what} ({error}): {}", process_limit())
}

/// [`Scope::spawn`], with an error instead of a panic when the system starts no thread.
pub fn spawn_scoped<'scope, T: Send + 'scope>(
    scope: &'scope Scope<'scope, '_>,
    what: &str,
    f: impl FnOnce() -> T + Send + 'scope,
) -> anyhow::Result<ScopedJoinHandle<'scope, T>> {
    std::thread::Builder::new().spawn_scoped(scope, f).map_err(|e| cannot_start(what, &e))
}
