//! Ancillary data (control messages, `cmsg(3)`): writing the per-packet options we send with
//! (UDP_SEGMENT, IP_TOS / IPV6_TCLASS, IP_PKTINFO / IPV6_PKTINFO) and reading those the kernel
//! attaches to received datagrams.

use std::{mem, ptr};

/// Bytes of control buffer per message: room for a GSO size, an ECN codepoint and an IPv6
/// packet-info structure, each with its header and padding, with margin.
pub(crate) const CONTROL_LEN: usize = 128;

/// A control buffer aligned for `cmsghdr`.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub(crate) struct ControlBuffer(pub(crate) [u8; CONTROL_LEN]);

impl ControlBuffer {
    pub(crate) const ZERO: Self = Self([0; CONTROL_LEN]);
}

/// Appends control messages to a `msghdr` whose `msg_control` points at a zeroed
/// [`ControlBuffer`].
pub(crate) struct Writer<'a> {
    hdr: &'a mut libc::msghdr,
    cmsg: *mut libc::cmsghdr,
    len: usize,
}

impl<'a> Writer<'a> {
    /// Starts writing.
    ///
    /// # Safety
    /// `hdr.msg_control` must point to a zeroed buffer of `hdr.msg_controllen` bytes, aligned
    /// for `cmsghdr`, that outlives the writer.
    pub(crate) unsafe fn new(hdr: &'a mut libc::msghdr) -> Self {
        // SAFETY: the caller guarantees msg_control/msg_controllen describe a valid buffer.
        let cmsg = unsafe { libc::CMSG_FIRSTHDR(hdr) };
        Self { hdr, cmsg, len: 0 }
    }

    /// Appends one control message carrying `value`. Panics if the buffer is too small, which
    /// is a bug in [`CONTROL_LEN`], not a runtime condition.
    // msg_controllen is a usize with glibc and a u32 with musl: the cast is for the latter.
    #[allow(clippy::unnecessary_cast)]
    pub(crate) fn push<T: Copy>(&mut self, level: libc::c_int, ty: libc::c_int, value: T) {
        let data_len = mem::size_of::<T>() as libc::c_uint;
        // SAFETY: CMSG_SPACE is a pure computation.
        let space = unsafe { libc::CMSG_SPACE(data_len) } as usize;
        assert!(
            !self.cmsg.is_null() && self.len + space <= self.hdr.msg_controllen as usize,
            "control buffer too small"
        );
        // SAFETY: `cmsg` is non-null and points into the control buffer with at least `space`
        // bytes left (checked above); the buffer is aligned for cmsghdr; the data is written
        // unaligned because CMSG_DATA need not be aligned for T.
        unsafe {
            (*self.cmsg).cmsg_level = level;
            (*self.cmsg).cmsg_type = ty;
            (*self.cmsg).cmsg_len = libc::CMSG_LEN(data_len) as _;
            ptr::write_unaligned(libc::CMSG_DATA(self.cmsg) as *mut T, value);
        }
        self.len += space;
        // SAFETY: hdr describes the buffer and the current header was just filled in; the rest
        // of the buffer is zeroed, so the next header's length reads as 0.
        self.cmsg = unsafe { libc::CMSG_NXTHDR(self.hdr, self.cmsg) };
    }

    /// Sets the control length to what was written (0 when nothing was, as the kernel wants).
    pub(crate) fn finish(self) {
        self.hdr.msg_controllen = self.len as _;
        if self.len == 0 {
            self.hdr.msg_control = ptr::null_mut();
        }
    }
}

/// One received control message.
pub(crate) struct Message<'a> {
    pub(crate) level: libc::c_int,
    pub(crate) ty: libc::c_int,
    pub(crate) data: &'a [u8],
}

impl Message<'_> {
    /// The data as a `T`, if it is at least that long.
    pub(crate) fn read<T: Copy>(&self) -> Option<T> {
        if self.data.len() < mem::size_of::<T>() {
            return None;
        }
        // SAFETY: the slice holds at least size_of::<T>() bytes; T is Copy plain data (ints and
        // C structs), so any bit pattern is valid; the read is unaligned.
        Some(unsafe { ptr::read_unaligned(self.data.as_ptr() as *const T) })
    }

    /// An integer option, whether the kernel wrote one byte (IP_TOS) or an int (IPV6_TCLASS).
    pub(crate) fn read_int(&self) -> Option<i64> {
        match self.data.len() {
            1 => Some(i64::from(self.data[0])),
            2 => self.read::<u16>().map(i64::from),
            n if n >= 4 => self.read::<i32>().map(i64::from),
            _ => None,
        }
    }
}

/// Calls `f` for each control message of a received `msghdr`.
///
/// # Safety
/// `hdr` must come from a successful `recvmsg`/`recvmmsg`: `msg_control` points to a buffer of
/// at least `msg_controllen` bytes filled in by the kernel.
// msg_controllen is a usize with glibc and a u32 with musl: the cast is for the latter.
#[allow(clippy::unnecessary_cast)]
pub(crate) unsafe fn for_each(hdr: &libc::msghdr, mut f: impl FnMut(Message<'_>)) {
    if hdr.msg_control.is_null() || hdr.msg_controllen == 0 {
        return;
    }
    let end = hdr.msg_control as usize + hdr.msg_controllen as usize;
    // SAFETY: guaranteed by the caller.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(hdr) };
    while !cmsg.is_null() {
        // SAFETY: CMSG_FIRSTHDR/NXTHDR return headers that lie inside the buffer.
        let (level, ty, len) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type, (*cmsg).cmsg_len as usize) };
        // SAFETY: pure computation on the header pointer.
        let data = unsafe { libc::CMSG_DATA(cmsg) };
        let header_len = data as usize - cmsg as usize;
        let data_len = len.saturating_sub(header_len).min(end.saturating_sub(data as usize));
        // SAFETY: `data..data + data_len` lies inside the control buffer (clamped to `end`).
        let slice = unsafe { std::slice::from_raw_parts(data, data_len) };
        f(Message { level, ty, data: slice });
        // SAFETY: as above; returns null past the end.
        cmsg = unsafe { libc::CMSG_NXTHDR(hdr, cmsg) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back() {
        let mut buf = ControlBuffer::ZERO;
        // SAFETY: zeroed msghdr is valid.
        let mut hdr: libc::msghdr = unsafe { mem::zeroed() };
        hdr.msg_control = buf.0.as_mut_ptr().cast();
        hdr.msg_controllen = CONTROL_LEN as _;
        // SAFETY: buf is zeroed, aligned and outlives the writer.
        let mut w = unsafe { Writer::new(&mut hdr) };
        w.push(libc::SOL_UDP, libc::UDP_SEGMENT, 1200u16);
        w.push(libc::IPPROTO_IP, libc::IP_TOS, 2i32);
        w.finish();
        let mut seen = Vec::new();
        // SAFETY: hdr describes buf as written above.
        unsafe { for_each(&hdr, |m| seen.push((m.level, m.ty, m.read_int()))) };
        assert_eq!(
            seen,
            vec![(libc::SOL_UDP, libc::UDP_SEGMENT, Some(1200)), (libc::IPPROTO_IP, libc::IP_TOS, Some(2))]
        );
    }
}
