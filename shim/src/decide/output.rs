//! Whether the host reads its archiver's output (docs/DESIGN.md,
//! "Conversion" 2): a child whose stdout or stderr, at its exec, is a pipe
//! or socket that is not the host's own stdout or stderr writes to
//! something the host reads — to EOF, and only then waits (rustc, Python's
//! `subprocess.run(capture_output=True)`), acting on what it read after
//! the archiver ended. A handoff at that wait would lose what the host does
//! with it, and save nothing (the archiver has ended). Pure.

/// What kind of file an fd is, from its `st_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A pipe or a FIFO: someone reads the other end.
    Pipe,
    Socket,
    /// A regular file, a terminal, `/dev/null`…: not captured output.
    Other,
}

impl Kind {
    pub fn of_mode(mode: u32) -> Kind {
        match mode & libc::S_IFMT {
            libc::S_IFIFO => Kind::Pipe,
            libc::S_IFSOCK => Kind::Socket,
            _ => Kind::Other,
        }
    }
}

/// An fd of a process: closed, or the file it is open on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Not open (or closed by the exec: close-on-exec).
    Closed,
    Open {
        dev: u64,
        ino: u64,
        kind: Kind,
    },
}

/// fds 1 and 2 of a process; `None` where it could not be told.
pub type Outputs = [Option<Stream>; 2];

/// Why the host is not handed off at its wait for a child with `child`'s
/// stdout and stderr, the host having `host` now; `None`: nothing captured.
pub fn captured(child: &Outputs, host: &Outputs) -> Option<&'static str> {
    let own = |dev: u64, ino: u64| {
        host.iter().any(
            |h| matches!(h, Some(Stream::Open { dev: d, ino: i, .. }) if *d == dev && *i == ino),
        )
    };
    let mut unknown = false;
    for stream in child {
        match stream {
            None => unknown = true,
            Some(Stream::Open { dev, ino, kind }) if *kind != Kind::Other && !own(*dev, *ino) => {
                return Some("the host reads the archiver's output through a pipe");
            }
            Some(_) => {}
        }
    }
    // Nothing tells whether the host reads it: as if it did (no handoff
    // is the real call, untouched).
    unknown.then_some(
        "the archiver's stdout and stderr could not be told (it has ended): \
         the host may read its output through a pipe",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dev: u64, ino: u64, kind: Kind) -> Option<Stream> {
        Some(Stream::Open { dev, ino, kind })
    }

    #[test]
    fn kinds() {
        assert_eq!(Kind::of_mode(libc::S_IFIFO | 0o600), Kind::Pipe);
        assert_eq!(Kind::of_mode(libc::S_IFSOCK | 0o777), Kind::Socket);
        assert_eq!(Kind::of_mode(libc::S_IFREG | 0o644), Kind::Other);
        assert_eq!(Kind::of_mode(libc::S_IFCHR | 0o620), Kind::Other);
    }

    #[test]
    fn captured_output() {
        let tty = open(5, 1, Kind::Other);
        let host_pipe = open(12, 100, Kind::Pipe);
        let host: Outputs = [host_pipe, tty];
        // inherited: the host's own stdout and stderr, even on a pipe
        assert_eq!(captured(&[host_pipe, tty], &host), None);
        // ar's stderr on the host's stdout (2>&1 onto it)
        assert_eq!(captured(&[host_pipe, host_pipe], &host), None);
        // files, terminals, closed fds are not read back by the host
        let file = open(8, 7, Kind::Other);
        assert_eq!(captured(&[file, Some(Stream::Closed)], &host), None);
        // a pipe of its own, on stdout or on stderr alone
        let capture = open(12, 200, Kind::Pipe);
        assert!(captured(&[capture, tty], &host).is_some_and(|r| r.contains("through a pipe")));
        assert!(captured(&[tty, capture], &host).is_some());
        // a socket pair likewise
        assert!(captured(&[open(9, 3, Kind::Socket), tty], &host).is_some());
        // the same pipe as the host's own, but on another device: not it
        assert!(captured(&[open(13, 100, Kind::Pipe), tty], &host).is_some());
        // a host whose own stdout is closed cannot own the child's pipe
        let closed: Outputs = [Some(Stream::Closed), Some(Stream::Closed)];
        assert!(captured(&[host_pipe, tty], &closed).is_some());
        // cannot tell: no handoff
        assert!(captured(&[None, tty], &host).is_some_and(|r| r.contains("could not be told")));
        assert!(captured(&[tty, None], &host).is_some());
    }
}
