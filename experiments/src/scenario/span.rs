//! Where a field is in a TOML text: the line of a field named by its path into the document
//! (`paths[1].down.loss`, `workload.bytes`), so that an error found after parsing (a value out of
//! range, a key that does not belong to a workload's kind) points at the line to fix.
//!
//! serde keeps no positions once a value is deserialized, so the text is parsed a second time
//! with `toml`'s span-keeping parser and the path is walked through it. A field that is absent
//! (a default that is out of range, a missing key) gets the line of the closest table that is
//! present, e.g. the `[workload]` header.

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One step of a field path: a key, then optional array indices (`paths[1]`).
fn steps(field: &str) -> impl Iterator<Item = (&str, Vec<usize>)> {
    field.split('.').map(|part| {
        let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        let indices = rest.split(['[', ']']).filter(|s| !s.is_empty()).filter_map(|s| s.parse().ok()).collect();
        (key, indices)
    })
}

/// 1-based line of byte `offset` in `text`.
pub fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The line of `field` in `text`, or of the deepest table on its path that the text has; `None`
/// when the text does not parse or has none of the path.
pub fn line_of(text: &str, field: &str) -> Option<usize> {
    let root = DeTable::parse(text).ok()?;
    let mut table: &DeTable<'_> = root.get_ref();
    let mut found: Option<usize> = None;
    for (key, indices) in steps(field) {
        let Some((k, v)) = table.get_key_value(key) else { break };
        found = Some(k.span().start);
        let mut value: &Spanned<DeValue<'_>> = v;
        for i in indices {
            match value.get_ref().get(i) {
                Some(item) => {
                    value = item;
                    found = Some(item.span().start);
                }
                None => return found.map(|o| line_at(text, o)),
            }
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    found.map(|o| line_at(text, o))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name = \"t\"\n\
        [[paths]]\n\
        name = \"a\"\n\
        up = { rate_mbps = 1.0, loss = 2.0 }\n\
        [[paths]]\n\
        name = \"b\"\n\
        down = { rate_mbps = 1.0,\n  loss = 3.0 }\n\
        [workload]\n\
        kind = \"bulk\"\n\
        bytes = 0\n";

    #[test]
    fn finds_keys_inside_tables_arrays_and_inline_tables() {
        assert_eq!(line_of(TEXT, "name"), Some(1));
        assert_eq!(line_of(TEXT, "paths[0].up.loss"), Some(4));
        assert_eq!(line_of(TEXT, "paths[1].name"), Some(6));
        assert_eq!(line_of(TEXT, "paths[1].down.loss"), Some(8));
        assert_eq!(line_of(TEXT, "workload.bytes"), Some(11));
    }

    #[test]
    fn absent_fields_get_the_closest_table() {
        // A defaulted key: the line of its table's header (or the element of the array).
        assert_eq!(line_of(TEXT, "workload.count"), Some(9));
        assert_eq!(line_of(TEXT, "paths[1].up.rate_mbps").map(|l| (6..=8).contains(&l) || l == 5), Some(true));
        assert_eq!(line_of(TEXT, "transport.scheduler"), None);
        assert_eq!(line_of("not = = toml", "x"), None);
    }
}
