//! Setting a field of a scenario, named by its path (`transport.scheduler`, `paths[1].down.loss`,
//! `workload.bytes`), in the scenario's TOML form before it is checked and turned into a
//! [`Scenario`](crate::scenario::Scenario). Missing tables on the way are created (the scenario's
//! own checks then reject a key that does not exist); array elements must exist.
//!
//! One pseudo-field: `initial_path = "NAME"` moves the path called NAME to the front, so it
//! carries the handshake (the CoNEXT'17 evaluation runs every scenario with each path first).

use toml::{Table, Value};

/// The pseudo-field that reorders paths.
pub const INITIAL_PATH: &str = "initial_path";

fn parse_step(step: &str) -> Result<(&str, Vec<usize>), String> {
    let (key, rest) = step.split_once('[').map_or((step, ""), |(k, r)| (k, r));
    if key.is_empty() {
        return Err(format!("`{step}`: a key is needed before an index"));
    }
    let mut indices = Vec::new();
    if !rest.is_empty() {
        for part in format!("[{rest}").split_inclusive(']') {
            let index = part
                .strip_prefix('[')
                .and_then(|p| p.strip_suffix(']'))
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("`{step}`: indices are written `[N]`"))?;
            indices.push(index);
        }
    }
    Ok((key, indices))
}

/// Sets `field` of `table` to `value`.
pub fn set(table: &mut Table, field: &str, value: Value) -> Result<(), String> {
    if field == INITIAL_PATH {
        return move_to_front(table, value);
    }
    let steps: Vec<&str> = field.split('.').collect();
    if steps.iter().any(|s| s.is_empty()) {
        return Err(format!("`{field}` is not a field path (like `transport.scheduler` or `paths[0].up.loss`)"));
    }
    let mut here = table;
    for (i, step) in steps.iter().enumerate() {
        let (key, indices) = parse_step(step)?;
        let last = i + 1 == steps.len();
        if indices.is_empty() && last {
            here.insert(key.to_owned(), value);
            return Ok(());
        }
        let mut slot = here.entry(key.to_owned()).or_insert_with(|| Value::Table(Table::new()));
        for (j, &index) in indices.iter().enumerate() {
            let Value::Array(items) = slot else {
                return Err(format!("`{key}` is not an array, so `{step}` does not exist"));
            };
            let n = items.len();
            slot = items.get_mut(index).ok_or_else(|| format!("`{key}` has {n} entries: `{step}` does not exist"))?;
            if last && j + 1 == indices.len() {
                *slot = value;
                return Ok(());
            }
        }
        here = match slot {
            Value::Table(t) => t,
            _ => return Err(format!("`{}` is a value, not a table", steps[..=i].join("."))),
        };
    }
    Ok(())
}

fn move_to_front(table: &mut Table, value: Value) -> Result<(), String> {
    let Value::String(name) = value else {
        return Err(format!("`{INITIAL_PATH}` takes a path name (a string), not {value}"));
    };
    let Some(Value::Array(paths)) = table.get_mut("paths") else {
        return Err("the scenario has no [[paths]]".into());
    };
    let names: Vec<String> =
        paths.iter().filter_map(|p| p.get("name").and_then(Value::as_str)).map(str::to_owned).collect();
    let Some(i) = names.iter().position(|n| *n == name) else {
        return Err(format!("no path named `{name}`; paths: {names:?}"));
    };
    let path = paths.remove(i);
    paths.insert(0, path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        toml::from_str(
            "name = \"t\"\n[[paths]]\nname = \"a\"\nup = { rate_mbps = 1.0 }\n[[paths]]\nname = \"b\"\n\
             [workload]\nkind = \"bulk\"\nbytes = 5\n",
        )
        .unwrap()
    }

    #[test]
    fn sets_nested_keys_array_elements_and_new_tables() {
        let mut t = table();
        set(&mut t, "workload.bytes", Value::Integer(7)).unwrap();
        set(&mut t, "paths[0].up.loss", Value::Float(0.5)).unwrap();
        set(&mut t, "paths[1].down.queue.packets", Value::Integer(1000)).unwrap();
        set(&mut t, "transport.scheduler", Value::String("ecf".into())).unwrap();
        assert_eq!(t["workload"]["bytes"].as_integer(), Some(7));
        assert_eq!(t["paths"][0]["up"]["loss"].as_float(), Some(0.5));
        assert_eq!(t["paths"][0]["up"]["rate_mbps"].as_float(), Some(1.0));
        assert_eq!(t["paths"][1]["down"]["queue"]["packets"].as_integer(), Some(1000));
        assert_eq!(t["transport"]["scheduler"].as_str(), Some("ecf"));
    }

    #[test]
    fn bad_paths_are_explained() {
        let mut t = table();
        assert!(set(&mut t, "paths[2].up.loss", Value::Float(0.1)).unwrap_err().contains("has 2 entries"));
        assert!(set(&mut t, "name.x", Value::Float(0.1)).unwrap_err().contains("not a table"));
        assert!(set(&mut t, "workload[0]", Value::Float(0.1)).unwrap_err().contains("not an array"));
        assert!(set(&mut t, "a..b", Value::Float(0.1)).unwrap_err().contains("not a field path"));
        assert!(set(&mut t, "paths[x]", Value::Float(0.1)).unwrap_err().contains("[N]"));
    }

    #[test]
    fn initial_path_moves_a_path_to_the_front() {
        let mut t = table();
        set(&mut t, INITIAL_PATH, Value::String("b".into())).unwrap();
        assert_eq!(t["paths"][0]["name"].as_str(), Some("b"));
        assert_eq!(t["paths"][1]["up"]["rate_mbps"].as_float(), Some(1.0));
        assert!(set(&mut t, INITIAL_PATH, Value::String("c".into())).unwrap_err().contains("[\"b\", \"a\"]"));
        assert!(set(&mut t, INITIAL_PATH, Value::Integer(1)).is_err());
    }
}
