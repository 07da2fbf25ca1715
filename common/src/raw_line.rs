//! A line for stderr built without a heap: a fixed buffer that truncates
//! instead of allocating, written with a raw `write` syscall (libc's `write`
//! is one of our own hooks). For where nothing may allocate: the preload's
//! constructor and the core's last steps once the host's memory is released.

pub struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Line::new()
    }
}

impl Line {
    pub fn new() -> Self {
        Line {
            buf: [0; 512],
            len: 0,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let room = self.buf.len() - self.len;
        let n = bytes.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    pub fn push_number(&mut self, mut n: u32) {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// To stderr; a failure is ignored (there is nowhere else to say it).
    pub fn write_to_stderr(&self) {
        let line = self.as_bytes();
        // SAFETY: write of a buffer we own to fd 2.
        unsafe { libc::syscall(libc::SYS_write, 2, line.as_ptr(), line.len()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_truncation() {
        let mut l = Line::new();
        l.push(b"pid ");
        l.push_number(0);
        l.push(b" ");
        l.push_number(u32::MAX);
        assert_eq!(l.as_bytes(), b"pid 0 4294967295");
        l.push(&[b'x'; 600]);
        assert_eq!(l.as_bytes().len(), 512);
    }
}
