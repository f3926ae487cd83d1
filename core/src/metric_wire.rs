//! The wire form of [`Metric`]: one head byte of flags, then only the fields
//! that are present.
//!
//! A repeated scalar metric is the hot case on a UART, so it must stay small:
//! record tag (1) + head (1) + name id (1) + f64 (8) = 11 bytes. A derived
//! encoding would spend a byte on each enum tag and each absent option.
//!
//! Head byte: bits 0-2 value kind, bit 3 name is text (else an id), bit 4 step
//! present, bit 5 time present; bits 6-7 must be zero.

use core::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::list::{F64List, I64List};
use crate::record::{Metric, Name, Value};

pub(crate) const NAME_IS_TEXT: u8 = 1 << 3;
pub(crate) const HAS_STEP: u8 = 1 << 4;
pub(crate) const HAS_TIME: u8 = 1 << 5;
pub(crate) const KIND_MASK: u8 = 0b111;
pub(crate) const KNOWN_BITS: u8 = KIND_MASK | NAME_IS_TEXT | HAS_STEP | HAS_TIME;
/// Upper bound on the fields of a metric tuple (head, name, value, step, time).
const MAX_FIELDS: usize = 5;

/// The head byte of `m`.
pub(crate) fn head(m: &Metric<'_>) -> u8 {
    let mut head = m.value.kind_code();
    if matches!(m.name, Name::Text(_)) {
        head |= NAME_IS_TEXT;
    }
    if m.step.is_some() {
        head |= HAS_STEP;
    }
    if m.time_ms.is_some() {
        head |= HAS_TIME;
    }
    head
}

impl Serialize for Metric<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(MAX_FIELDS)?;
        t.serialize_element(&head(self))?;
        match self.name {
            Name::Text(text) => t.serialize_element(text)?,
            Name::Id(id) => t.serialize_element(&id)?,
        }
        match &self.value {
            Value::I64(v) => t.serialize_element(v)?,
            Value::F64(v) => t.serialize_element(v)?,
            Value::Str(v) => t.serialize_element(v)?,
            Value::F64List(v) => t.serialize_element(v)?,
            Value::I64List(v) => t.serialize_element(v)?,
        }
        if let Some(step) = self.step {
            t.serialize_element(&step)?;
        }
        if let Some(time) = self.time_ms {
            t.serialize_element(&time)?;
        }
        t.end()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Metric<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_tuple(MAX_FIELDS, MetricVisitor)
    }
}

struct MetricVisitor;

fn field<'de, A: SeqAccess<'de>, T: Deserialize<'de>>(seq: &mut A) -> Result<T, A::Error> {
    seq.next_element()?
        .ok_or_else(|| de::Error::custom("metric ends early"))
}

impl<'de> Visitor<'de> for MetricVisitor {
    type Value = Metric<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a runlog metric")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Metric<'de>, A::Error> {
        let head: u8 = field(&mut seq)?;
        if head & !KNOWN_BITS != 0 {
            return Err(de::Error::custom("metric head has unknown flags"));
        }
        let name = if head & NAME_IS_TEXT != 0 {
            Name::Text(field(&mut seq)?)
        } else {
            Name::Id(field(&mut seq)?)
        };
        let value = match head & KIND_MASK {
            0 => Value::I64(field(&mut seq)?),
            1 => Value::F64(field(&mut seq)?),
            2 => Value::Str(field(&mut seq)?),
            3 => Value::F64List(field::<_, F64List>(&mut seq)?),
            4 => Value::I64List(field::<_, I64List>(&mut seq)?),
            _ => return Err(de::Error::custom("unknown metric value kind")),
        };
        let step = if head & HAS_STEP != 0 {
            Some(field(&mut seq)?)
        } else {
            None
        };
        let time_ms = if head & HAS_TIME != 0 {
            Some(field(&mut seq)?)
        } else {
            None
        };
        Ok(Metric {
            name,
            value,
            step,
            time_ms,
        })
    }
}
