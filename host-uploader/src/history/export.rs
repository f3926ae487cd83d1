//! `runlog history export -r RUN [-m NAME]`: every point of a run's metrics,
//! streamed as CSV (the default), TSV or JSON.
//!
//! Points are written as the source hands them over
//! ([`HistorySource::for_each_point`]: a page of chunks at a time from the
//! embedded store), so exporting a series of millions of points holds one
//! page in memory, never the series.
//!
//! Spelling, the same in every format: integers exactly as logged; floats in
//! their shortest exact form; non-finite floats `NaN`, `Infinity`,
//! `-Infinity` (strings in JSON, as `-o json` writes them everywhere).

use std::io::Write;

use super::render::{tsv_field, value_field};
use super::source::*;
use crate::cli::Format;

/// Columns of the CSV and TSV exports.
pub const COLUMNS: [&str; 5] = ["metric", "step", "time_ms", "kind", "value"];

/// Quotes one CSV field as RFC 4180 says, when it needs quoting.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn io(e: std::io::Error) -> HistoryError {
    HistoryError::from(e)
}

/// Writes every point of metrics `names` of run `run_id` to `out` in
/// `format` (`table` means CSV); returns how many points it wrote.
pub fn export(
    source: &dyn HistorySource,
    run_id: &str,
    names: &[String],
    format: Format,
    out: &mut dyn Write,
) -> HistoryResult<u64> {
    let mut written = 0u64;
    match format {
        Format::Json => {
            write!(
                out,
                "{{\"run_id\": {}, \"metrics\": [",
                serde_json::to_string(run_id).map_err(|e| HistoryError::Other(e.into()))?
            )
            .map_err(io)?;
            for (i, name) in names.iter().enumerate() {
                let name_json =
                    serde_json::to_string(name).map_err(|e| HistoryError::Other(e.into()))?;
                write!(
                    out,
                    "{}\n{{\"name\": {name_json}, \"points\": [",
                    if i == 0 { "" } else { "]}," }
                )
                .map_err(io)?;
                let mut first = true;
                source.for_each_point(run_id, name, &mut |p| {
                    out.write_all(if first { b"\n" } else { b",\n" })
                        .map_err(io)?;
                    first = false;
                    serde_json::to_writer(&mut *out, &p)
                        .map_err(|e| HistoryError::Other(e.into()))?;
                    written += 1;
                    Ok(())
                })?;
            }
            writeln!(out, "{}]}}", if names.is_empty() { "" } else { "]}" }).map_err(io)?;
        }
        Format::Csv | Format::Table | Format::Tsv => {
            let (sep, field): (&str, fn(&str) -> String) = if format == Format::Tsv {
                ("\t", tsv_field)
            } else {
                (",", csv_field)
            };
            writeln!(out, "{}", COLUMNS.join(sep)).map_err(io)?;
            for name in names {
                let name_field = field(name);
                source.for_each_point(run_id, name, &mut |p| {
                    writeln!(
                        out,
                        "{name_field}{sep}{}{sep}{}{sep}{}{sep}{}",
                        p.step,
                        p.time_ms,
                        p.value.kind().as_str(),
                        field(&value_field(&p.value))
                    )
                    .map_err(io)?;
                    written += 1;
                    Ok(())
                })?;
            }
        }
    }
    out.flush().map_err(io)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("loss"), "loss");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field(" pad"), "\" pad\"");
    }
}
