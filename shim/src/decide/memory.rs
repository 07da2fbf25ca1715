//! Which of the host's memory a conversion may release before its execve,
//! and how to share it between two threads: pure decisions over the text of
//! `/proc/self/maps` and numbers (`forbid(unsafe_code)`, as all of `decide/`).
//! `takeover::release` reads the facts and does the releasing.

/// Below this many bytes to release, a helper thread is not worth starting.
pub const MIN_BYTES: usize = 64 << 20;

/// At most this many ranges per thread (the largest mappings first).
pub const CAPACITY: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Range {
    pub start: usize,
    pub end: usize,
}

impl Range {
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    fn overlaps(&self, other: &Range) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// One line of `/proc/self/maps`: the range, if the mapping is private,
/// anonymous and writable (no file behind it, or the `[heap]`). Shared
/// mappings (a child may see them), file mappings and the kernel's special
/// ones (`[stack]`, `[vvar]`, …) are never released.
pub fn releasable(line: &str) -> Option<Range> {
    let mut fields = line.split_ascii_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let perms = fields.next()?;
    let _offset = fields.next()?;
    let _device = fields.next()?;
    let inode = fields.next()?;
    let name = fields.next();
    if perms != "rw-p" || inode != "0" || !matches!(name, None | Some("[heap]")) {
        return None;
    }
    let range = Range {
        start: usize::from_str_radix(start, 16).ok()?,
        end: usize::from_str_radix(end, 16).ok()?,
    };
    (range.start < range.end).then_some(range)
}

/// `range` without the parts `keep` covers (widened to whole pages): the
/// kernel merges neighbouring anonymous mappings, so what must stay may
/// share one mapping with what may go.
pub fn subtract(range: Range, keep: &[Range], page: usize) -> Vec<Range> {
    let mut pieces = vec![range];
    for k in keep {
        let k = Range {
            start: k.start / page * page,
            end: k.end.div_ceil(page) * page,
        };
        pieces = pieces
            .into_iter()
            .flat_map(|p| {
                if !p.overlaps(&k) {
                    return vec![p];
                }
                let mut left = Vec::new();
                if p.start < k.start {
                    left.push(Range {
                        start: p.start,
                        end: k.start,
                    });
                }
                if k.end < p.end {
                    left.push(Range {
                        start: k.end,
                        end: p.end,
                    });
                }
                left
            })
            .collect();
    }
    pieces
}

/// The ranges to release: the releasable mappings without `keep`, the
/// largest first, at most `2 * CAPACITY` of them.
pub fn plan(maps: &str, keep: &[Range], page: usize) -> Vec<Range> {
    let mut out: Vec<Range> = maps
        .lines()
        .filter_map(releasable)
        .flat_map(|r| subtract(r, keep, page))
        .collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.len()));
    out.truncate(2 * CAPACITY);
    out
}

/// Two shares of (nearly) equal bytes, cut on page boundaries: a single
/// huge mapping is split in the middle.
pub fn split(ranges: &[Range], page: usize) -> [Vec<Range>; 2] {
    let total: usize = ranges.iter().map(Range::len).sum();
    let half = total / 2 / page * page;
    let (mut first, mut second) = (Vec::new(), Vec::new());
    let mut taken = 0;
    for r in ranges {
        if taken >= half {
            second.push(*r);
        } else if taken + r.len() <= half {
            first.push(*r);
            taken += r.len();
        } else {
            let cut = r.start + (half - taken);
            first.push(Range {
                start: r.start,
                end: cut,
            });
            second.push(Range {
                start: cut,
                end: r.end,
            });
            taken = half;
        }
    }
    [first, second]
}

/// Why the memory is left to the execve alone, if it is.
pub fn refusal(threads: usize, cpus: usize, bytes: usize) -> Option<String> {
    if threads != 1 {
        Some(format!(
            "{threads} threads: another one could still read the memory"
        ))
    } else if cpus < 2 {
        Some("one CPU: nothing to gain".into())
    } else if bytes < MIN_BYTES {
        Some(format!("{} MiB: not worth a thread", bytes >> 20))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d1c0a00000-55d1c0a02000 r--p 00000000 08:01 1234  /usr/bin/ld-legacy
55d1c0a02000-55d1c0a03000 rw-p 00002000 08:01 1234  /usr/bin/ld-legacy
55d1c1000000-55d1c5000000 rw-p 00000000 00:00 0     [heap]
7f0000000000-7f0040000000 rw-p 00000000 00:00 0
7f0040000000-7f0040001000 ---p 00000000 00:00 0
7f0050000000-7f0050100000 rw-s 00000000 00:01 77    /dev/zero (deleted)
7f0060000000-7f0060021000 rw-p 00000000 00:00 0
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0     [stack]
7ffd00100000-7ffd00102000 r--p 00000000 00:00 0     [vvar]
";

    fn r(start: usize, end: usize) -> Range {
        Range { start, end }
    }

    #[test]
    fn only_private_anonymous_writable_mappings() {
        let got: Vec<Range> = MAPS.lines().filter_map(releasable).collect();
        assert_eq!(
            got,
            vec![
                r(0x55d1c1000000, 0x55d1c5000000),
                r(0x7f0000000000, 0x7f0040000000),
                r(0x7f0060000000, 0x7f0060021000),
            ]
        );
        assert_eq!(releasable("garbage"), None);
        assert_eq!(releasable("2000-1000 rw-p 0 00:00 0"), None);
    }

    #[test]
    fn kept_pages_are_cut_out_and_the_largest_come_first() {
        let keep = [
            r(0x7f0060000010, 0x7f0060000020),
            r(0x7f0000001000, 0x7f0000001001),
        ];
        assert_eq!(
            plan(MAPS, &keep, 4096),
            vec![
                r(0x7f0000002000, 0x7f0040000000),
                r(0x55d1c1000000, 0x55d1c5000000),
                r(0x7f0060001000, 0x7f0060021000),
                r(0x7f0000000000, 0x7f0000001000),
            ]
        );
    }

    #[test]
    fn subtracting_keeps_what_is_outside() {
        let big = r(0x10000, 0x20000);
        assert_eq!(subtract(big, &[], 4096), vec![big]);
        assert_eq!(
            subtract(big, &[r(0, 0x10000)], 4096),
            vec![big],
            "touching is not overlapping"
        );
        assert_eq!(subtract(big, &[r(0x8000, 0x30000)], 4096), vec![]);
        assert_eq!(
            subtract(big, &[r(0x12001, 0x12002), r(0x1f000, 0x1f001)], 4096),
            vec![r(0x10000, 0x12000), r(0x13000, 0x1f000)]
        );
    }

    #[test]
    fn shares_are_halves_cut_on_pages() {
        let one = [r(0x10000, 0x10000 + 10 * 4096)];
        let [a, b] = split(&one, 4096);
        assert_eq!(a, vec![r(0x10000, 0x10000 + 5 * 4096)]);
        assert_eq!(b, vec![r(0x10000 + 5 * 4096, 0x10000 + 10 * 4096)]);
        let many = [
            r(0, 8 * 4096),
            r(0x100000, 0x100000 + 4 * 4096),
            r(0x200000, 0x200000 + 4 * 4096),
        ];
        let [a, b] = split(&many, 4096);
        assert_eq!(a, vec![r(0, 8 * 4096)]);
        assert_eq!(b, vec![many[1], many[2]]);
        let total = |v: &[Range]| v.iter().map(Range::len).sum::<usize>();
        let odd = [r(0, 3 * 4096)];
        let [a, b] = split(&odd, 4096);
        assert_eq!((total(&a), total(&b)), (4096, 2 * 4096));
        assert_eq!(split(&[], 4096), [vec![], vec![]]);
    }

    #[test]
    fn refused_unless_single_threaded_multi_cpu_and_big() {
        assert_eq!(refusal(1, 2, MIN_BYTES), None);
        assert!(refusal(2, 8, 1 << 40).unwrap().contains("2 threads"));
        assert!(refusal(1, 1, 1 << 40).unwrap().contains("one CPU"));
        assert!(refusal(1, 2, MIN_BYTES - 1).unwrap().contains("not worth"));
    }
}
