//! Reading the probes' `ARSHIM_TRACE` files: one flat JSON object per line,
//! as written by the library and the reaper. Only the top-level string,
//! number and boolean fields doctor needs are read; no JSON crate for that.

use std::path::Path;

/// One trace line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub line: String,
}

impl Event {
    pub fn name(&self) -> Option<String> {
        self.str("event")
    }

    pub fn pid(&self) -> Option<u32> {
        self.raw("pid").and_then(|v| v.parse().ok())
    }

    /// A string field, unescaped.
    pub fn str(&self, key: &str) -> Option<String> {
        let rest = self.value_start(key)?.strip_prefix('"')?;
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => match chars.next()? {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        out.push(
                            u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .unwrap_or('\u{fffd}'),
                        );
                    }
                    other => out.push(other),
                },
                c => out.push(c),
            }
        }
        None
    }

    /// A bare (number or boolean) field, as written.
    pub fn raw(&self, key: &str) -> Option<&str> {
        let rest = self.value_start(key)?;
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim())
    }

    /// The text right after `"key":`. Keys are plain identifiers, so the first
    /// `"key":` outside a string is found by skipping string values.
    fn value_start(&self, key: &str) -> Option<&str> {
        let pat = format!("\"{key}\":");
        let line = self.line.as_str();
        let mut i = 0;
        let bytes = line.as_bytes();
        while i < bytes.len() {
            if line[i..].starts_with(&pat) {
                return Some(&line[i + pat.len()..]);
            }
            if bytes[i] == b'"' {
                // Skip this whole string (a key or a value).
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            i += 1;
        }
        None
    }
}

/// The events of a trace file; a missing file has none.
pub fn read(path: &Path) -> Vec<Event> {
    parse(&std::fs::read_to_string(path).unwrap_or_default())
}

pub fn parse(text: &str) -> Vec<Event> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Event {
            line: l.to_string(),
        })
        .collect()
}

/// The events named `name`, written by process `pid`.
pub fn by<'a>(events: &'a [Event], name: &'a str, pid: u32) -> impl Iterator<Item = &'a Event> {
    events
        .iter()
        .filter(move |e| e.pid() == Some(pid) && e.name().as_deref() == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_doctor_needs() {
        let events = parse(
            "{\"ts\":1.000001,\"pid\":42,\"event\":\"load\",\"exe\":\"/a \\\"b\\\"\",\"mode\":\"exec\",\"in_scope\":true,\"reason\":\"claimed\"}\n\
             \n\
             {\"ts\":2.0,\"pid\":42,\"event\":\"fallback\",\"reason\":\"no \\\"pid\\\": x\\u0001\"}\n",
        );
        assert_eq!(events.len(), 2);
        let load = &events[0];
        assert_eq!(load.name().as_deref(), Some("load"));
        assert_eq!(load.pid(), Some(42));
        assert_eq!(load.str("exe").as_deref(), Some("/a \"b\""));
        assert_eq!(load.raw("in_scope"), Some("true"));
        assert_eq!(load.str("missing"), None);
        // A key's text inside a string value is not the key.
        assert_eq!(
            events[1].str("reason").as_deref(),
            Some("no \"pid\": x\u{1}")
        );
        assert_eq!(events[1].pid(), Some(42));
        assert_eq!(by(&events, "load", 42).count(), 1);
        assert_eq!(by(&events, "load", 7).count(), 0);
    }
}
