//! Stored values ([`MetricValue`]) and their kinds ([`ValueKind`]): the one
//! place a kind's code in the database is spelled.
//!
//! `series.kind` holds the kind of a series' latest value; every point in a
//! chunk carries its own (see `chunk.rs`), since a name may be logged with
//! different kinds over a run.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// A metric's value, owned. Integers and floats keep their type.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    /// A signed integer (an MLflow metric).
    I64(i64),
    /// A float, NaN and infinities included (an MLflow metric).
    F64(f64),
    /// A string (an MLflow tag).
    Str(String),
    /// A list of floats: one chart with steps 0..n-1.
    F64List(Vec<f64>),
    /// A list of integers: one chart with steps 0..n-1.
    I64List(Vec<i64>),
}

/// What kind of value a point holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ValueKind {
    /// A signed 64-bit integer (an MLflow metric; stays an integer).
    I64 = 0,
    /// A float, NaN and infinities included (an MLflow metric).
    F64 = 1,
    /// A string (an MLflow tag: its latest value).
    Str = 2,
    /// A list of floats (one MLflow metric with steps 0..n-1).
    F64List = 3,
    /// A list of integers (one MLflow metric with steps 0..n-1).
    I64List = 4,
}

impl ValueKind {
    /// The kind with database code `code`, if there is one.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => Self::I64,
            1 => Self::F64,
            2 => Self::Str,
            3 => Self::F64List,
            4 => Self::I64List,
            _ => return None,
        })
    }

    /// The database code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind of `v`.
    pub fn of(v: &MetricValue) -> Self {
        match v {
            MetricValue::I64(_) => Self::I64,
            MetricValue::F64(_) => Self::F64,
            MetricValue::Str(_) => Self::Str,
            MetricValue::F64List(_) => Self::F64List,
            MetricValue::I64List(_) => Self::I64List,
        }
    }

    /// Whether values of this kind are single numbers (held as 64 bits).
    pub fn is_scalar(self) -> bool {
        matches!(self, Self::I64 | Self::F64)
    }
}

impl ToSql for ValueKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(i64::from(self.code())))
    }
}

impl FromSql for ValueKind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let code = value.as_i64()?;
        Self::from_code(code).ok_or(FromSqlError::OutOfRange(code))
    }
}

/// A value as the `series.last_value` column holds it: an INTEGER, a REAL
/// (NaN, which SQLite cannot hold as a REAL, as NULL), a TEXT, or a BLOB of
/// little-endian 8-byte list elements.
pub fn to_sql(v: &MetricValue) -> ToSqlOutput<'_> {
    use rusqlite::types::Value;
    match v {
        MetricValue::I64(i) => ToSqlOutput::Owned(Value::Integer(*i)),
        MetricValue::F64(f) if f.is_nan() => ToSqlOutput::Owned(Value::Null),
        MetricValue::F64(f) => ToSqlOutput::Owned(Value::Real(*f)),
        MetricValue::Str(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        MetricValue::F64List(l) => ToSqlOutput::Owned(Value::Blob(
            l.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )),
        MetricValue::I64List(l) => ToSqlOutput::Owned(Value::Blob(
            l.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )),
    }
}

/// Reads back what [`to_sql`] wrote for a value of kind `kind`; `None` when
/// the column holds something no runlog wrote.
pub fn from_sql(kind: ValueKind, v: ValueRef<'_>) -> Option<MetricValue> {
    Some(match (kind, v) {
        (ValueKind::I64, ValueRef::Integer(i)) => MetricValue::I64(i),
        (ValueKind::F64, ValueRef::Real(f)) => MetricValue::F64(f),
        (ValueKind::F64, ValueRef::Integer(i)) => MetricValue::F64(i as f64),
        (ValueKind::I64, ValueRef::Real(f)) => MetricValue::F64(f),
        (ValueKind::F64, ValueRef::Null) => MetricValue::F64(f64::NAN),
        (ValueKind::Str, ValueRef::Text(t) | ValueRef::Blob(t)) => {
            MetricValue::Str(String::from_utf8_lossy(t).into_owned())
        }
        (ValueKind::F64List, ValueRef::Null) => MetricValue::F64List(Vec::new()),
        (ValueKind::I64List, ValueRef::Null) => MetricValue::I64List(Vec::new()),
        (ValueKind::F64List, ValueRef::Blob(b)) => {
            MetricValue::F64List(words(b)?.map(f64::from_le_bytes).collect())
        }
        (ValueKind::I64List, ValueRef::Blob(b)) => {
            MetricValue::I64List(words(b)?.map(i64::from_le_bytes).collect())
        }
        _ => return None,
    })
}

/// The 8-byte little-endian words of `b`; `None` if its length is not a multiple of 8.
pub fn words(b: &[u8]) -> Option<impl Iterator<Item = [u8; 8]> + '_> {
    b.len().is_multiple_of(8).then(|| {
        b.chunks_exact(8)
            .map(|c| <[u8; 8]>::try_from(c).unwrap_or_default())
    })
}
