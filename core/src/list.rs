//! Lists of numbers that borrow either typed values (when logging) or their
//! little-endian wire bytes (when decoding), so neither side allocates.
//!
//! On the wire a list is a postcard byte string: a varint byte length, then
//! eight little-endian bytes per element. Fixed-width elements let a decoder
//! borrow the list in place instead of copying it out.

use serde::ser::SerializeTuple;
use serde::{Deserialize, Serialize};

/// Bytes per list element on the wire.
const ELEM: usize = 8;

macro_rules! wire_list {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $from_le:expr, $to_le:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name<'a>(Repr<'a, $ty>);

        impl<'a> $name<'a> {
            /// A list borrowing `values`.
            pub const fn new(values: &'a [$ty]) -> Self {
                Self(Repr::Values(values))
            }

            /// A list borrowing little-endian wire bytes; `None` unless the length is a multiple of 8.
            pub fn from_le_bytes(bytes: &'a [u8]) -> Option<Self> {
                (bytes.len() % ELEM == 0).then_some(Self(Repr::Le(bytes)))
            }

            /// Number of elements.
            pub fn len(&self) -> usize {
                match self.0 {
                    Repr::Values(v) => v.len(),
                    Repr::Le(b) => b.len() / ELEM,
                }
            }

            /// Whether the list has no elements.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// The element at `index`, if any.
            pub fn get(&self, index: usize) -> Option<$ty> {
                match self.0 {
                    Repr::Values(v) => v.get(index).copied(),
                    Repr::Le(b) => {
                        let chunk = b.get(index * ELEM..index * ELEM + ELEM)?;
                        let mut raw = [0u8; ELEM];
                        raw.copy_from_slice(chunk);
                        Some($from_le(raw))
                    }
                }
            }

            /// The list's wire bytes: eight little-endian bytes per element.
            /// Lets the encoder copy a list in one piece instead of element
            /// by element.
            pub(crate) fn as_le_bytes(&self) -> &'a [u8] {
                match self.0 {
                    // SAFETY: `v` is `size_of_val(v)` initialised bytes valid
                    // for 'a (a plain 8-byte number has no padding), `u8`
                    // needs no alignment, and runlog-core only builds for
                    // little-endian targets (see lib.rs), so these are the
                    // little-endian bytes of the elements.
                    Repr::Values(v) => unsafe {
                        core::slice::from_raw_parts(v.as_ptr().cast::<u8>(), core::mem::size_of_val(v))
                    },
                    Repr::Le(b) => b,
                }
            }

            /// The elements in order.
            pub fn iter(&self) -> impl Iterator<Item = $ty> + '_ {
                (0..self.len()).filter_map(move |i| self.get(i))
            }
        }

        /// Equal when the elements are bit-for-bit equal, so NaN round trips compare equal.
        impl PartialEq for $name<'_> {
            fn eq(&self, other: &Self) -> bool {
                self.len() == other.len()
                    && self.iter().zip(other.iter()).all(|(a, b)| $to_le(a) == $to_le(b))
            }
        }

        impl Serialize for $name<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                // Written element by element, the bytes equal a postcard byte
                // string (varint length, then the bytes), which is what the
                // decoder borrows.
                let mut t = s.serialize_tuple(self.len() + 1)?;
                t.serialize_element(&((self.len() * ELEM) as u64))?;
                for v in self.iter() {
                    t.serialize_element(&$to_le(v))?;
                }
                t.end()
            }
        }

        impl<'de: 'a, 'a> Deserialize<'de> for $name<'a> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let bytes = <&'a [u8]>::deserialize(d)?;
                Self::from_le_bytes(bytes).ok_or_else(|| {
                    serde::de::Error::custom("list byte length is not a multiple of 8")
                })
            }
        }
    };
}

#[derive(Debug, Clone, Copy)]
enum Repr<'a, T> {
    Values(&'a [T]),
    Le(&'a [u8]),
}

wire_list!(
    /// A list of `f64`, logged as one chart with steps 0..n-1.
    F64List,
    f64,
    f64::from_le_bytes,
    f64::to_le_bytes
);
wire_list!(
    /// A list of `i64`, logged as one chart with steps 0..n-1.
    I64List,
    i64,
    i64::from_le_bytes,
    i64::to_le_bytes
);
