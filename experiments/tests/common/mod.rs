//! Helpers shared by the experiments' integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A fresh, empty directory under the system temp dir, unique per test and process; removed
/// when the guard is dropped, except while a test is failing (panicking), so that what a failed
/// test left can be read. The path is printed then.
pub fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("mpquic-exp-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    TempDir(dir)
}

/// See [`temp_dir`].
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept for the failing test: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The path of a shipped scenario file.
pub fn scenario_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name)
}

/// The `mpquic` binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_mpquic");

/// An `mpquic server` process, killed when dropped.
pub struct Server {
    /// The process.
    pub child: std::process::Child,
    /// The certificate it made, to pass as the client's `--ca`.
    pub ca: PathBuf,
    /// The port it listens on (on every address).
    pub port: u16,
}

/// Stops `child` with SIGTERM (a server then removes its certificate files itself), SIGKILL
/// if it lingers for 3 s. Returns whether it exited by itself, with status 0.
pub fn terminate(child: &mut std::process::Child) -> bool {
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    for _ in 0..100 {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

impl Server {
    /// Stops the server ([`terminate`]); returns whether it exited by itself, with status 0.
    pub fn stop(&mut self) -> bool {
        terminate(&mut self.child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.stop() {
            // Killed: what it wrote is still there.
            let _ = std::fs::remove_file(&self.ca);
            let _ = std::fs::remove_file(self.ca.to_string_lossy().replace("-cert.pem", "-key.pem"));
        }
    }
}

/// A UDP port free on `ip` now (nothing stops another process from taking it before it is used).
pub fn free_port_on(ip: &str) -> u16 {
    std::net::UdpSocket::bind((ip, 0)).unwrap().local_addr().unwrap().port()
}

/// Waits until `log` contains every one of `needles` (the process writes it); panics with the
/// log if `child` exits first or 10 s pass.
pub fn wait_for_output(child: &mut std::process::Child, log: &std::path::Path, needles: &[&str]) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = std::fs::read_to_string(log).unwrap_or_default();
        if needles.iter().all(|n| out.contains(n)) {
            return out;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{} exited early ({status}): {out}", log.display());
        }
        assert!(std::time::Instant::now() < deadline, "{} never said {needles:?}: {out}", log.display());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// An `mpquic server` serving `root` on the same free port on each of `ips`, with `extra`
/// arguments.
pub fn start_server_on(root: &std::path::Path, ips: &[&str], extra: &[&str]) -> Server {
    let port = free_port_on(ips[0]);
    let log = root.with_extension("server.log");
    let mut child = std::process::Command::new(BIN)
        .arg("server")
        .args(ips.iter().flat_map(|ip| ["--listen".to_string(), format!("{ip}:{port}")]))
        .arg("--root")
        .arg(root)
        .args(extra)
        .stdout(std::process::Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("server starts");
    let out = wait_for_output(&mut child, &log, &["--ca ", "serving"]);
    let i = out.find("--ca ").unwrap();
    let ca = out[i + 5..].split_whitespace().next().unwrap().to_string();
    Server { child, ca: PathBuf::from(ca), port }
}

/// `len` pseudo-random bytes (xorshift) from `seed`.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The client's per-path table: (path ID, bytes received) for each row.
pub fn path_rows(stdout: &str) -> Vec<(u32, u64)> {
    let Some(i) = stdout.find("paths to ") else { return Vec::new() };
    stdout[i..]
        .lines()
        .skip(2)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            Some((cols.first()?.parse().ok()?, cols.get(4)?.parse().ok()?))
        })
        .collect()
}

/// For a test that cannot run in this environment (no root, no network namespaces, no IPv6, a
/// kernel without the feature): prints why, so that a pass is never mistaken for a run, and
/// fails when `CI=true`, since CI has all of these and a skip there hides a broken set-up.
pub fn skip_unless_ci(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("cannot run under CI=true, where it must: {why}");
    }
    eprintln!("skipped: {why}");
}
