//! TUN devices (Linux): a network interface whose IP packets a process reads and writes as a
//! file. The IP-level link emulator of `mpquic run --real --netns` puts one between the client
//! and the server network namespaces on every scenario path, so any protocol's packets (our
//! QUIC, Linux MPTCP and TCP, another stack's binaries) cross the emulated links.
//!
//! [`open`] makes a device in this thread's network namespace; [`open_in`] makes it in another
//! one (see [`crate::netns::enter`]). The device is not persistent: it disappears when the
//! returned file is closed. The file is non-blocking, and each `read` returns one IP packet
//! (no packet-information header, `IFF_NO_PI`); each `write` injects one.
//!
//! ```no_run
//! use std::io::Read;
//! let mut tun = mpquic_io::tun::open("mpq0").unwrap();
//! // `ip link set mpq0 up` and an address, then:
//! let mut packet = [0u8; 65536];
//! let _ = tun.read(&mut packet);
//! ```

use std::fs::File;
use std::io;
use std::path::Path;

/// Longest interface name Linux takes (IFNAMSIZ less the terminating NUL).
pub const MAX_NAME_BYTES: usize = 15;

/// Whether this process can make TUN devices: `Err` says why not (no `/dev/net/tun`, or no
/// permission to open it).
pub fn available() -> Result<(), String> {
    match std::fs::OpenOptions::new().read(true).write(true).open("/dev/net/tun") {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err("/dev/net/tun is missing: load the `tun` kernel module (modprobe tun) or create the device node \
                 (mknod /dev/net/tun c 10 200)"
                .into())
        }
        Err(e) => Err(format!("opening /dev/net/tun: {e}")),
    }
}

/// Makes the TUN device `name` (at most [`MAX_NAME_BYTES`] bytes) in this thread's network
/// namespace, down and without address; it lives as long as the returned file.
#[cfg(target_os = "linux")]
pub fn open(name: &str) -> io::Result<File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    if name.is_empty() || name.len() > MAX_NAME_BYTES || name.bytes().any(|b| b == 0 || b == b'/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TUN device name {name:?}: 1 to {MAX_NAME_BYTES} bytes, no NUL or '/'"),
        ));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/net/tun")
        .map_err(|e| io::Error::new(e.kind(), format!("opening /dev/net/tun: {e}")))?;
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value of it.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    request.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: the file descriptor is open for the whole call and `request` is a valid `ifreq`
    // that TUNSETIFF reads (name, flags) and writes (the name the kernel chose) in place.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut request as *mut libc::ifreq) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("creating TUN device {name} (TUNSETIFF): {e}")));
    }
    Ok(file)
}

/// TUN devices exist on Linux only.
#[cfg(not(target_os = "linux"))]
pub fn open(name: &str) -> io::Result<File> {
    Err(io::Error::new(io::ErrorKind::Unsupported, format!("TUN device {name}: Linux only")))
}

/// Makes the TUN device `name` inside the network namespace whose file is `netns` (e.g.
/// [`crate::netns::named`]).
pub fn open_in(netns: &Path, name: &str) -> io::Result<File> {
    crate::netns::enter(netns, || open(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused_before_any_system_call() {
        for name in ["", "sixteen-bytes-xx", "a/b"] {
            let e = open(name).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{name:?}: {e}");
        }
    }
}
