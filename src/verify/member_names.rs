//! Member names that differ from one run to the next by themselves
//! (docs/DESIGN.md, "verify: two runs from the same state"): a generator
//! that names an object after the time it made it (`obj-1795606310.o`,
//! `obj-1795606310123456789.o`) names it differently in each run, converted
//! or not. Such a number is masked as `<time>` before the names are paired;
//! the members' count, order and contents are still compared, so a member
//! missing, extra or different is still a difference.

use std::time::{SystemTime, UNIX_EPOCH};

/// How far back a number may read as a time of one of `verify`'s runs: a
/// run of a whole build may take hours; a day covers it.
const LOOKBACK_SECS: u64 = 24 * 3600;

/// Clock steps between the run and the comparison.
const AHEAD_SECS: u64 = 60;

/// The seconds since the epoch a name's number may stand for: from a day
/// before `now` to a minute after.
pub fn recent(now: SystemTime) -> (u64, u64) {
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    (now.saturating_sub(LOOKBACK_SECS), now + AHEAD_SECS)
}

/// `name` with every decimal number that reads as a time within `window`
/// (seconds, milliseconds, microseconds or nanoseconds since the epoch)
/// replaced by `<time>`. The scales are a thousand apart and the window
/// far narrower than the time since the epoch, so a number reads as at most
/// one of them; a counter or a size does not fall in it.
pub fn mask_times(name: &str, window: (u64, u64)) -> String {
    mask_numbers(name, |digits| is_time(digits, window).then_some("<time>"))
}

/// `name` with each run of decimal digits that `mask` names a stand-in for
/// replaced by it; the rest as it is.
pub fn mask_numbers(name: &str, mask: impl Fn(&str) -> Option<&'static str>) -> String {
    let mut out = String::with_capacity(name.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        out.push_str(mask(digits).unwrap_or(digits));
        digits.clear();
    };
    for c in name.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

fn is_time(digits: &str, (from, to): (u64, u64)) -> bool {
    let Ok(n) = digits.parse::<u128>() else {
        return false;
    };
    [1u128, 1_000, 1_000_000, 1_000_000_000]
        .iter()
        .any(|scale| (u128::from(from)..=u128::from(to)).contains(&(n / scale)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NOW: u64 = 1_795_606_310;

    fn window() -> (u64, u64) {
        recent(UNIX_EPOCH + Duration::from_secs(NOW))
    }

    #[test]
    fn times_in_every_unit_are_masked() {
        let w = window();
        for name in [
            "obj-1795606310.o",
            "obj-1795606309123.o",
            "obj-1795600000123456.o",
            "obj-1795606310123456789.o",
        ] {
            assert_eq!(mask_times(name, w), "obj-<time>.o", "{name}");
        }
        assert_eq!(mask_times("t1795606310_x1795606311", w), "t<time>_x<time>");
    }

    #[test]
    fn other_numbers_are_kept() {
        let w = window();
        for name in [
            "obj-1.o",
            "x86_64.o",
            "obj-1700000000.o", // a time, but years before the runs
            "obj-1795606310123456789012.o",
            "obj-99999999999999999999999999999999999999999.o",
            "obj-0.o",
        ] {
            assert_eq!(mask_times(name, w), name, "{name}");
        }
        let later = NOW + 2 * 3600;
        assert_eq!(mask_times(&format!("o{later}.o"), w), format!("o{later}.o"));
    }

    #[test]
    fn the_window_is_the_day_before() {
        assert_eq!(window(), (NOW - 86_400, NOW + 60));
        assert_eq!(recent(UNIX_EPOCH), (0, 60));
    }
}
