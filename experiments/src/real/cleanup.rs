//! Everything a `--netns` run makes outside its own memory (network namespaces, and with them
//! their TUN devices and routes; child processes of external peers and their log files) is
//! registered here, so that it is removed on every exit: normally by its owner, on an error by
//! its owner's `Drop`, and on Ctrl-C (SIGINT), SIGTERM or SIGHUP by a handler thread that kills
//! the registered child process groups, deletes the registered namespaces and files and exits
//! with status 130.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// Set by the handler when a signal arrived: from then on the handler owns the exit status.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether SIGINT, SIGTERM or SIGHUP arrived; the handler is then removing everything and exits
/// with status 130, so an error the main thread meets meanwhile (a child it waited for was just
/// killed) is a consequence, not a failure to report.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Namespaces alive now.
static NAMESPACES: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Process groups of child processes alive now.
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// Temporary files that exist now.
static FILES: Mutex<Vec<std::path::PathBuf>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Records namespace `name` as made by this process.
pub(super) fn add_namespace(name: &str) {
    lock(&NAMESPACES).push(name.to_owned());
}

/// Deletes namespace `name` (and with it every device and route in it) and forgets it.
pub(super) fn delete_namespace(name: &str) -> Result<(), String> {
    lock(&NAMESPACES).retain(|n| n != name);
    let out = Command::new("ip").args(["netns", "del", name]).output().map_err(|e| format!("running ip: {e}"))?;
    // Gone already is deleted: the signal handler and the namespace's owner may both delete it.
    if out.status.success() || !std::path::Path::new("/run/netns").join(name).exists() {
        Ok(())
    } else {
        Err(format!("ip netns del {name}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Records the process group `pgid` (a child started in a group of its own).
pub(super) fn add_group(pgid: i32) {
    lock(&GROUPS).push(pgid);
}

/// Kills process group `pgid` (SIGKILL) and forgets it.
pub(super) fn kill_group(pgid: i32) {
    lock(&GROUPS).retain(|g| *g != pgid);
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
}

/// Records `path` as a temporary file of this process.
pub(super) fn add_file(path: &std::path::Path) {
    lock(&FILES).push(path.to_owned());
}

/// Deletes temporary file `path` and forgets it.
pub(super) fn remove_file(path: &std::path::Path) {
    lock(&FILES).retain(|p| p != path);
    let _ = std::fs::remove_file(path);
}

/// Installs (once per process) the handler of SIGINT, SIGTERM and SIGHUP that removes
/// everything registered and exits with status 130.
pub(super) fn install_interrupt_handler() -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("mpquic-cleanup".into())
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        Ok(r) => r,
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("starting the signal handler's runtime: {e}")));
                            return;
                        }
                    };
                    runtime.block_on(async move {
                        use tokio::signal::unix::{signal, SignalKind};
                        let streams = [SignalKind::interrupt(), SignalKind::terminate(), SignalKind::hangup()]
                            .map(|k| signal(k).map_err(|e| format!("installing a signal handler: {e}")));
                        let [Ok(mut int), Ok(mut term), Ok(mut hup)] = streams else {
                            let why = streams.into_iter().find_map(Result::err).unwrap_or_default();
                            let _ = ready_tx.send(Err(why));
                            return;
                        };
                        let _ = ready_tx.send(Ok(()));
                        let name = tokio::select! {
                            _ = int.recv() => "SIGINT",
                            _ = term.recv() => "SIGTERM",
                            _ = hup.recv() => "SIGHUP",
                        };
                        INTERRUPTED.store(true, Ordering::SeqCst);
                        let removed = remove_all();
                        eprintln!("interrupted ({name}): removed {removed}");
                        std::process::exit(130);
                    });
                })
                .map_err(|e| format!("starting the signal handler thread: {e}"))?;
            ready_rx.recv().unwrap_or_else(|_| Err("the signal handler thread ended".into()))
        })
        .clone()
}

/// Kills every registered child group and deletes every registered namespace and file; says
/// what.
fn remove_all() -> String {
    let groups = std::mem::take(&mut *lock(&GROUPS));
    for g in &groups {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(*g), nix::sys::signal::Signal::SIGKILL);
    }
    let files = std::mem::take(&mut *lock(&FILES));
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
    let names = lock(&NAMESPACES).clone();
    let mut failed = Vec::new();
    for n in &names {
        if let Err(e) = delete_namespace(n) {
            failed.push(e);
        }
    }
    let mut said = format!(
        "{} network namespace(s) [{}], {} child process group(s), {} temporary file(s)",
        names.len(),
        names.join(", "),
        groups.len(),
        files.len()
    );
    if !failed.is_empty() {
        said.push_str(&format!("; failed: {}", failed.join("; ")));
    }
    said
}
