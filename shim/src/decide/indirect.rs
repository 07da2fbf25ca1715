//! Inputs named indirectly (docs/DESIGN.md, "Conversion" 4): the words of
//! `@FILE` response files and the file operands of MRI scripts. Pure: the
//! files' contents come through a reader passed in; what cannot be read or
//! understood is an error, and the caller does not convert.

use crate::decide::plan::FileAction;

/// At most this many response files are read for one command line (nested
/// ones included): libiberty gives up on deeper recursion too.
pub const MAX_RESPONSE_FILES: usize = 32;

/// Where a response file's word goes, byte by byte: a `Vec`, or a fixed
/// buffer (`Fixed`: heap-free, for a child between fork and exec).
pub trait WordSink {
    fn push(&mut self, c: u8);
}

impl WordSink for Vec<u8> {
    fn push(&mut self, c: u8) {
        Vec::push(self, c);
    }
}

/// A word in a buffer of `N` bytes; `overflow` once one did not fit.
pub struct Fixed<const N: usize> {
    buf: [u8; N],
    len: usize,
    pub overflow: bool,
}

impl<const N: usize> Fixed<N> {
    pub fn new() -> Fixed<N> {
        Fixed {
            buf: [0; N],
            len: 0,
            overflow: false,
        }
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    /// Holds `bytes` alone (overflow when they do not fit).
    pub fn set(&mut self, bytes: &[u8]) {
        self.clear();
        bytes.iter().for_each(|&c| self.push(c));
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> Default for Fixed<N> {
    fn default() -> Self {
        Fixed::new()
    }
}

impl<const N: usize> WordSink for Fixed<N> {
    fn push(&mut self, c: u8) {
        match self.buf.get_mut(self.len) {
            Some(at) => {
                *at = c;
                self.len += 1;
            }
            None => self.overflow = true,
        }
    }
}

/// The words of a response file, as libiberty's `buildargv` splits them:
/// whitespace separates; single and double quotes group; a backslash
/// escapes the next character everywhere, inside quotes too.
pub fn response_words(text: &[u8]) -> Vec<Vec<u8>> {
    let mut words = Vec::new();
    let mut rest = text;
    loop {
        let mut word = Vec::new();
        match next_word(rest, &mut word) {
            Some(after) => {
                words.push(word);
                rest = after;
            }
            None => return words,
        }
    }
}

/// The next word of a response file's `text` (`response_words`' rules)
/// into `sink`, and what follows it; None when only whitespace is left.
pub fn next_word<'t>(text: &'t [u8], sink: &mut impl WordSink) -> Option<&'t [u8]> {
    let start = text
        .iter()
        .position(|&c| !c.is_ascii_whitespace() && c != 0x0b)?;
    Some(one_word(text.get(start..).unwrap_or_default(), sink))
}

/// One word from the start of `text` (not whitespace) into `sink`, and
/// what follows it.
fn one_word<'t>(text: &'t [u8], word: &mut impl WordSink) -> &'t [u8] {
    let (mut squote, mut dquote, mut escaped) = (false, false, false);
    for (i, &c) in text.iter().enumerate() {
        let space = c.is_ascii_whitespace() || c == 0x0b;
        if space && !squote && !dquote && !escaped {
            return text.get(i..).unwrap_or_default();
        }
        if escaped {
            escaped = false;
            word.push(c);
        } else if c == b'\\' {
            escaped = true;
        } else if squote {
            if c == b'\'' {
                squote = false;
            } else {
                word.push(c);
            }
        } else if dquote {
            if c == b'"' {
                dquote = false;
            } else {
                word.push(c);
            }
        } else if c == b'\'' {
            squote = true;
        } else if c == b'"' {
            dquote = true;
        } else {
            word.push(c);
        }
    }
    &[]
}

/// A command line with its response files expanded.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expanded {
    /// The arguments as the archiver sees them after `expandargv`.
    pub args: Vec<Vec<u8>>,
    /// The response files read (as named, without the `@`).
    pub files: Vec<Vec<u8>>,
}

/// `args` with every `@FILE` replaced by FILE's words, recursively (as
/// libiberty's `expandargv`, which GNU ar and llvm-ar use). `read` gives a
/// file's contents, or why it cannot.
pub fn expand(
    args: &[Vec<u8>],
    read: &mut impl FnMut(&[u8]) -> Result<Vec<u8>, String>,
) -> Result<Expanded, String> {
    let mut out = Expanded::default();
    let mut pending: Vec<Vec<u8>> = args.iter().rev().cloned().collect();
    while let Some(arg) = pending.pop() {
        let Some(file) = arg.strip_prefix(b"@") else {
            out.args.push(arg);
            continue;
        };
        if out.files.len() >= MAX_RESPONSE_FILES {
            return Err(format!("more than {MAX_RESPONSE_FILES} response files"));
        }
        let text = read(file)?;
        out.files.push(file.to_vec());
        pending.extend(response_words(&text).into_iter().rev());
    }
    Ok(out)
}

/// What an MRI script (binutils arlex.l / arparse.y) names.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MriScript {
    /// Every operand of every command: archives, members, files.
    pub operands: Vec<Vec<u8>>,
    /// A `SAVE` command is there: the script writes an archive.
    pub saves: bool,
}

const MRI_COMMANDS: [&[u8]; 16] = [
    b"ADDLIB",
    b"ADDMOD",
    b"CLEAR",
    b"CREATE",
    b"CREATETHIN",
    b"DELETE",
    b"DIRECTORY",
    b"END",
    b"EXTRACT",
    b"FULLDIR",
    b"HELP",
    b"LIST",
    b"OPEN",
    b"REPLACE",
    b"SAVE",
    b"VERBOSE",
];

/// The words of one MRI line: separated by blanks, commas and parentheses;
/// `*` or `;` starts a comment. GNU ar has no quoting here (a `"` is part
/// of a name).
fn mri_words(line: &[u8]) -> Vec<Vec<u8>> {
    let end = line
        .iter()
        .position(|&c| c == b'*' || c == b';')
        .unwrap_or(line.len());
    line.get(..end)
        .unwrap_or_default()
        .split(|&c| c.is_ascii_whitespace() || matches!(c, b',' | b'(' | b')'))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_vec())
        .collect()
}

/// The operands of an MRI script, or why it is not understood. Every word
/// after a command is taken as a path: protecting a member name that is no
/// file costs nothing.
pub fn mri_script(text: &[u8]) -> Result<MriScript, String> {
    let mut script = MriScript::default();
    let mut continued = false;
    for line in text.split(|&b| b == b'\n') {
        let mut words = mri_words(line);
        let next_continues = words.last().is_some_and(|w| w == b"+");
        if next_continues {
            words.pop();
        }
        let mut words = words.into_iter();
        if !continued {
            let Some(command) = words.next() else {
                continue;
            };
            let upper = command.to_ascii_uppercase();
            if !MRI_COMMANDS.contains(&upper.as_slice()) {
                return Err(format!(
                    "MRI command {} not understood",
                    String::from_utf8_lossy(&command)
                ));
            }
            script.saves |= upper == b"SAVE";
        }
        script.operands.extend(words);
        continued = next_continues;
    }
    Ok(script)
}

/// Where a spawn's file actions leave the archiver's stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StdinSource {
    /// This process's fd, inherited (or `dup2`'d onto 0).
    HostFd(i32),
    /// Opened by the file actions, by this path (relative: to the host's
    /// working directory, no `chdir` came before).
    Path(Vec<u8>),
    Closed,
    /// Not followed (an fd the actions themselves opened, a relative open
    /// after a `chdir`).
    Unknown,
}

/// The archiver's stdin after `actions`, replayed in order.
pub fn stdin_source(actions: &[FileAction]) -> StdinSource {
    let mut source = StdinSource::HostFd(0);
    let mut touched: Vec<i32> = Vec::new(); // fds the actions changed
    let mut moved = false;
    for action in actions {
        match action {
            FileAction::Open { fd: 0, path, .. } => {
                source = if path.first() == Some(&b'/') || !moved {
                    StdinSource::Path(path.clone())
                } else {
                    StdinSource::Unknown
                };
            }
            FileAction::Dup2 { fd, newfd: 0 } if *fd != 0 => {
                source = if touched.contains(fd) {
                    StdinSource::Unknown
                } else {
                    StdinSource::HostFd(*fd)
                };
            }
            FileAction::Close(0) => source = StdinSource::Closed,
            FileAction::Closefrom(low) if *low <= 0 => source = StdinSource::Closed,
            FileAction::Chdir(_) | FileAction::Fchdir(_) => moved = true,
            _ => {}
        }
        match action {
            FileAction::Open { fd, .. } | FileAction::Close(fd) => touched.push(*fd),
            FileAction::Dup2 { newfd, .. } => touched.push(*newfd),
            FileAction::Closefrom(low) => touched.extend(*low..(*low).saturating_add(1024)),
            _ => {}
        }
    }
    source
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The heap-free reading (`next_word` into a `Fixed`, as a forked child
    /// does) gives the words `response_words` gives, and says when one
    /// does not fit.
    #[test]
    fn words_in_a_fixed_buffer_are_the_same_words() {
        let text = b"  -c 'a b.c' -o \"out dir/x.o\"\n\tq\\ r  ";
        let mut fixed = Vec::new();
        let mut rest = &text[..];
        let mut word = Fixed::<64>::new();
        while let Some(after) = next_word(rest, &mut word) {
            assert!(!word.overflow);
            fixed.push(word.bytes().to_vec());
            word.clear();
            rest = after;
        }
        assert_eq!(fixed, response_words(text));
        assert_eq!(fixed[3], b"out dir/x.o");
        assert_eq!(fixed[4], b"q r");
        let mut small = Fixed::<4>::new();
        next_word(b"abcdef", &mut small);
        assert!(small.overflow);
        assert_eq!(small.bytes(), b"abcd");
    }

    fn words(text: &str) -> Vec<String> {
        response_words(text.as_bytes())
            .into_iter()
            .map(|w| String::from_utf8(w).unwrap())
            .collect()
    }

    #[test]
    fn response_file_quoting() {
        assert_eq!(words("a.o  b.o\n\tc.o\r\n"), ["a.o", "b.o", "c.o"]);
        assert_eq!(
            words("'with space.o' \"dq space.o\""),
            ["with space.o", "dq space.o"]
        );
        assert_eq!(words(r"back\ slash.o a\\b.o"), ["back slash.o", r"a\b.o"]);
        assert_eq!(words(r#"'it"s.o' "it's.o""#), ["it\"s.o", "it's.o"]);
        assert_eq!(words(r#"'a\'b.o' "c\"d.o""#), ["a'b.o", "c\"d.o"]);
        assert_eq!(words("x'y z'w.o"), ["xy zw.o"]);
        assert_eq!(words("'' b"), ["", "b"]);
        assert_eq!(words("  \n "), Vec::<String>::new());
        assert_eq!(words("'unclosed quote"), ["unclosed quote"]);
        assert_eq!(words(r"trailing\"), ["trailing"]);
    }

    #[test]
    fn nested_response_files_expand_in_place() {
        let mut read = |f: &[u8]| -> Result<Vec<u8>, String> {
            match f {
                b"outer" => Ok(b"rcs lib.a @inner last.o".to_vec()),
                b"inner" => Ok(b"'a b.o' c.o".to_vec()),
                _ => Err("no such file".into()),
            }
        };
        let args: Vec<Vec<u8>> = vec![b"@outer".to_vec(), b"z.o".to_vec()];
        let e = expand(&args, &mut read).unwrap();
        let got: Vec<&[u8]> = e.args.iter().map(|a| a.as_slice()).collect();
        assert_eq!(
            got,
            [&b"rcs"[..], b"lib.a", b"a b.o", b"c.o", b"last.o", b"z.o"]
        );
        assert_eq!(e.files, [b"outer".to_vec(), b"inner".to_vec()]);
        assert!(expand(&[b"@missing".to_vec()], &mut read).is_err());
    }

    #[test]
    fn response_file_loops_are_bounded() {
        let mut read = |_: &[u8]| -> Result<Vec<u8>, String> { Ok(b"@self".to_vec()) };
        assert!(expand(&[b"@self".to_vec()], &mut read).is_err());
    }

    #[test]
    fn mri_operands() {
        let text = b"* a comment\ncreate lib.a\nADDMOD a.o, b.o\n\
                     ADDLIB other.a (m1.o m2.o)\nADDMOD x.o +\n  y.o\nSAVE ; done\nEND\n";
        let s = mri_script(text).unwrap();
        let ops: Vec<String> = s
            .operands
            .iter()
            .map(|w| String::from_utf8(w.clone()).unwrap())
            .collect();
        assert_eq!(
            ops,
            ["lib.a", "a.o", "b.o", "other.a", "m1.o", "m2.o", "x.o", "y.o"]
        );
        assert!(s.saves);
        let list = mri_script(b"OPEN lib.a\nLIST\nEND\n").unwrap();
        assert!(!list.saves);
        assert!(mri_script(b"CREATE lib.a\nFROBNICATE x\n").is_err());
    }

    #[test]
    fn stdin_after_file_actions() {
        use StdinSource::*;
        assert_eq!(stdin_source(&[]), HostFd(0));
        let open = |fd, p: &str| FileAction::Open {
            fd,
            path: p.as_bytes().to_vec(),
            oflag: 0,
            mode: 0,
        };
        assert_eq!(stdin_source(&[open(0, "s.mri")]), Path(b"s.mri".to_vec()));
        assert_eq!(
            stdin_source(&[FileAction::Chdir(b"/t".to_vec()), open(0, "s.mri")]),
            Unknown
        );
        assert_eq!(
            stdin_source(&[FileAction::Dup2 { fd: 5, newfd: 0 }, FileAction::Close(5)]),
            HostFd(5)
        );
        assert_eq!(
            stdin_source(&[open(7, "/s"), FileAction::Dup2 { fd: 7, newfd: 0 }]),
            Unknown
        );
        assert_eq!(stdin_source(&[FileAction::Close(0)]), Closed);
        assert_eq!(stdin_source(&[FileAction::Closefrom(0)]), Closed);
        assert_eq!(stdin_source(&[FileAction::Closefrom(3)]), HostFd(0));
    }
}
