//! The trace (ARSHIM_TRACE): one JSON object per line, read without a JSON
//! parser (the fields the tests need are flat).

use std::fs;
use std::path::Path;

/// The value of a string field `"key": "value"` of a one-line JSON object.
pub fn json_str_field(line: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\"");
    let mut rest = &line[line.find(&pat)? + pat.len()..];
    rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

/// What the library did with the archiver in the run that wrote `trace`:
/// the first `convert` or `handoff`, `fallback: REASON`, or `nothing`.
pub fn what_the_library_did(trace: &Path) -> String {
    trace_lines(trace)
        .iter()
        .find_map(|l| match json_str_field(l, "event").as_deref() {
            Some("convert") | Some("handoff") => json_str_field(l, "event"),
            Some("fallback") => Some(format!(
                "fallback: {}",
                json_str_field(l, "reason").unwrap_or_default()
            )),
            _ => None,
        })
        .unwrap_or_else(|| "nothing".to_owned())
}

pub fn trace_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// The trace lines whose "event" is `event`.
pub fn trace_events(path: &Path, event: &str) -> Vec<String> {
    trace_lines(path)
        .into_iter()
        .filter(|l| json_str_field(l, "event").as_deref() == Some(event))
        .collect()
}

/// The raw value (number, true/false/null, or a quoted string) of `key`.
pub fn json_raw_field(line: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\"");
    let rest = &line[line.find(&pat)? + pat.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    if rest.starts_with('"') {
        return json_str_field(line, key).map(|s| format!("\"{s}\""));
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim().to_string())
}

/// The value of a number field `"key": 12` of a one-line JSON object.
pub fn json_num(line: &str, key: &str) -> Option<i64> {
    json_raw_field(line, key)?.parse().ok()
}

/// The strings of a flat list field `"key": ["a", "b"]` of a one-line JSON object.
pub fn json_str_list(line: &str, key: &str) -> Option<Vec<String>> {
    let pat = format!("\"{key}\"");
    let rest = &line[line.find(&pat)? + pat.len()..];
    let mut rest = rest.trim_start().strip_prefix(':')?.trim_start();
    rest = rest.strip_prefix('[')?;
    let mut items = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.starts_with(']') {
            return Some(items);
        }
        let (item, len) = json_string_at(rest)?;
        items.push(item);
        rest = rest[len..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// The JSON string literal at the start of `s`: its value and its length
/// in bytes, quotes included.
fn json_string_at(s: &str) -> Option<(String, usize)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

/// Trace lines framed for a failure message.
pub fn trace_dump(lines: &[String]) -> String {
    format!("--- trace ---\n{}\n-------------", lines.join("\n"))
}

/// The trace file at `path`, framed for a failure message.
pub fn dump_trace(path: &Path) -> String {
    trace_dump(&trace_lines(path))
}
