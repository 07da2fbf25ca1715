//! Reading the library's trace (`ARSHIM_TRACE`): one JSON object per line.
//!
//! Only the fields `verify` needs are lifted into typed form; everything else
//! stays in `fields` so a newer library can add keys without breaking us.

use serde_json::{Map, Value};

/// One trace event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub pid: i64,
    /// `load`, `spawn`, `wait`, `archiver_done`, `after`, `exit`, …
    pub event: String,
    pub fields: Map<String, Value>,
}

impl Event {
    pub fn str(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        self.fields.get(key).and_then(Value::as_i64)
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        self.fields.get(key).and_then(Value::as_bool)
    }

    /// A list of strings (`argv`); `None` if absent or not a list of strings.
    pub fn strings(&self, key: &str) -> Option<Vec<String>> {
        self.fields
            .get(key)?
            .as_array()?
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect()
    }
}

/// Every pid in a run's trace: the processes of that run (a file or member
/// named after one differs from run to run by itself).
pub fn pids(events: &[Event]) -> Vec<i64> {
    let mut pids: Vec<i64> = events.iter().map(|e| e.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Parses a whole trace. Lines that are not event objects are skipped and
/// counted: a process killed mid-write can leave a torn last line, and that
/// must not hide the rest of the evidence.
pub fn parse(text: &str) -> (Vec<Event>, usize) {
    let mut events = Vec::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match parse_line(line) {
            Some(e) => events.push(e),
            None => bad += 1,
        }
    }
    (events, bad)
}

fn parse_line(line: &str) -> Option<Event> {
    let Value::Object(mut fields) = serde_json::from_str::<Value>(line).ok()? else {
        return None;
    };
    let pid = fields.get("pid")?.as_i64()?;
    let event = fields.get("event")?.as_str()?.to_owned();
    fields.remove("pid");
    fields.remove("event");
    Some(Event { pid, event, fields })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_and_skips_torn_lines() {
        let text = concat!(
            r#"{"ts":1.5,"pid":7,"event":"load","exe":"/h","mode":"observe","in_scope":true,"reason":"r"}"#,
            "\n",
            r#"{"ts":1.6,"pid":7,"event":"spawn","call":"posix_spawnp","program":"ar","argv":["ar","rcs","l.a"],"archiver":true}"#,
            "\n\n",
            r#"{"ts":1.7,"pid":7,"event":"af"#,
            "\n"
        );
        let (events, bad) = parse(text);
        assert_eq!(bad, 1);
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].pid, events[0].event.as_str()), (7, "load"));
        assert_eq!(events[0].bool("in_scope"), Some(true));
        assert_eq!(events[0].str("exe"), Some("/h"));
        assert_eq!(
            events[1].strings("argv").unwrap(),
            ["ar", "rcs", "l.a"].map(String::from)
        );
        assert_eq!(events[1].strings("program"), None, "not a list");
        assert!(!events[1].fields.contains_key("pid"));
    }

    #[test]
    fn objects_without_pid_or_event_are_not_events() {
        let (events, bad) = parse("{\"event\":\"x\"}\n[1,2]\n{\"pid\":1}\n");
        assert!(events.is_empty());
        assert_eq!(bad, 3);
    }
}
