//! The little CSV a matrix needs: reading a table of scenario parameters (RFC 4180 quoting, one
//! header line) and writing result rows with the fields quoted where they must be.

use thiserror::Error;

/// A CSV text that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {problem}")]
pub struct CsvError {
    /// 1-based line of the problem.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

/// A parsed CSV: the header and the data rows with their 1-based line numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvTable {
    /// Column names.
    pub header: Vec<String>,
    /// (line, fields) of each data row; every row has as many fields as the header.
    pub rows: Vec<(usize, Vec<String>)>,
}

impl CsvTable {
    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

/// Splits one line into fields: commas separate, double quotes quote (`""` is a quote inside).
fn fields(line: &str, number: usize) -> Result<Vec<String>, CsvError> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                out.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            (false, '"') => {
                return Err(CsvError { line: number, problem: "a quote inside an unquoted field".into() });
            }
            (false, c) if was_quoted => {
                return Err(CsvError { line: number, problem: format!("`{c}` after a closing quote") });
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(CsvError { line: number, problem: "an unclosed quote (fields cannot span lines)".into() });
    }
    out.push(field);
    Ok(out)
}

/// Parses `text`: the first non-empty line is the header; empty lines are skipped.
pub fn parse(text: &str) -> Result<CsvTable, CsvError> {
    let mut lines =
        text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r'))).filter(|(_, l)| !l.is_empty());
    let Some((n, first)) = lines.next() else {
        return Err(CsvError { line: 1, problem: "empty: a header line is needed".into() });
    };
    let header = fields(first, n)?;
    let mut rows = Vec::new();
    for (n, line) in lines {
        let row = fields(line, n)?;
        if row.len() != header.len() {
            return Err(CsvError {
                line: n,
                problem: format!("{} fields where the header has {}", row.len(), header.len()),
            });
        }
        rows.push((n, row));
    }
    Ok(CsvTable { header, rows })
}

/// One field, quoted when it holds a comma, a quote or a line break.
pub fn escape(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// One CSV line (with its `\n`).
pub fn line<S: AsRef<str>>(fields: &[S]) -> String {
    let mut s = fields.iter().map(|f| escape(f.as_ref())).collect::<Vec<_>>().join(",");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_header_rows_and_quotes() {
        let t = parse("a,b,c\n1,\"x, y\",\"say \"\"hi\"\"\"\n\n2,,3\r\n").unwrap();
        assert_eq!(t.header, ["a", "b", "c"]);
        assert_eq!(t.rows[0], (2, vec!["1".into(), "x, y".into(), "say \"hi\"".into()]));
        assert_eq!(t.rows[1], (4, vec!["2".into(), String::new(), "3".into()]));
        assert_eq!(t.column("c"), Some(2));
    }

    #[test]
    fn bad_rows_name_their_line() {
        assert_eq!(parse("a,b\n1,2\n3\n").unwrap_err().line, 3);
        assert!(parse("a,b\n1,\"2\n").unwrap_err().problem.contains("unclosed"));
        assert!(parse("a,b\n1,2\"x\n").unwrap_err().problem.contains("quote"));
        assert!(parse("").is_err());
    }

    #[test]
    fn written_lines_read_back() {
        let row = ["plain", "with,comma", "with \"quote\"", ""];
        let text = line(&["a", "b", "c", "d"]) + &line(&row);
        assert_eq!(parse(&text).unwrap().rows[0].1, row);
    }
}
