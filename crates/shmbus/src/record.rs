//! Plain-data records and the fingerprint of their layout.
//!
//! A region that holds records stores a 64-bit fingerprint of the record's layout (type name,
//! size, and every field's name, type and offset). Every opener compares it with its own, so a
//! C++ struct and a Python struct that disagree are caught at open instead of silently misread
//! (the bug of seeds 003 and 004).

/// The type of one field of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `u8`
    U8,
    /// `i8`
    I8,
    /// `u16`
    U16,
    /// `i16`
    I16,
    /// `u32`
    U32,
    /// `i32`
    I32,
    /// `u64`
    U64,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// A `u8` that is 0 or 1.
    Bool,
    /// Fixed-size bytes (strings are NUL-padded).
    Bytes(u32),
}

impl FieldType {
    /// Size in bytes.
    pub const fn size(self) -> u32 {
        match self {
            Self::U8 | Self::I8 | Self::Bool => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 => 8,
            Self::Bytes(n) => n,
        }
    }

    /// Short name used in the fingerprint and in `shmbus inspect`.
    pub const fn code(self) -> &'static str {
        match self {
            Self::U8 => "u8",
            Self::I8 => "i8",
            Self::U16 => "u16",
            Self::I16 => "i16",
            Self::U32 => "u32",
            Self::I32 => "i32",
            Self::U64 => "u64",
            Self::I64 => "i64",
            Self::F32 => "f32",
            Self::F64 => "f64",
            Self::Bool => "bool",
            Self::Bytes(_) => "bytes",
        }
    }
}

/// One named field of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The field's name.
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// Its offset in the record.
    pub offset: u32,
}

impl Field {
    /// A field.
    pub const fn new(name: &'static str, ty: FieldType, offset: u32) -> Self {
        Self { name, ty, offset }
    }
}

/// The layout of a record type: what every process that shares it must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLayout {
    /// The record type's name (at most 31 bytes are stored in the header).
    pub name: &'static str,
    /// `size_of` the record.
    pub size: u32,
    /// Its fields (padding need not be listed).
    pub fields: &'static [Field],
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

const fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

const fn fnv_u32(h: u64, v: u32) -> u64 {
    fnv(h, &v.to_le_bytes())
}

const fn fp_start(name: &str, size: u32) -> u64 {
    fnv_u32(fnv(fnv(FNV_OFFSET, name.as_bytes()), &[0]), size)
}

const fn fp_field(mut h: u64, name: &str, ty: FieldType, offset: u32) -> u64 {
    h = fnv(h, name.as_bytes());
    h = fnv(h, &[0]);
    h = fnv(h, ty.code().as_bytes());
    h = fnv(h, &[0]);
    h = fnv_u32(h, ty.size());
    fnv_u32(h, offset)
}

impl RecordLayout {
    /// FNV-1a 64 over the name, the size, then each field's name, type code, size and offset
    /// (each string followed by a 0 byte). Computable at compile time; documented in
    /// docs/FORMAT.md so other languages can check it.
    pub const fn fingerprint(&self) -> u64 {
        let mut h = fp_start(self.name, self.size);
        let mut i = 0;
        while i < self.fields.len() {
            let f = &self.fields[i];
            h = fp_field(h, f.name, f.ty, f.offset);
            i += 1;
        }
        h
    }

    /// Checks that the fields lie inside the record without overlapping each other.
    pub const fn is_consistent(&self) -> bool {
        let mut i = 0;
        while i < self.fields.len() {
            let a = &self.fields[i];
            if a.offset + a.ty.size() > self.size {
                return false;
            }
            let mut j = i + 1;
            while j < self.fields.len() {
                let b = &self.fields[j];
                if a.offset < b.offset + b.ty.size() && b.offset < a.offset + a.ty.size() {
                    return false;
                }
                j += 1;
            }
            i += 1;
        }
        true
    }
}

/// One field of a [`RecordLayoutBuf`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldBuf {
    /// The field's name.
    pub name: String,
    /// Its type.
    pub ty: FieldType,
    /// Its offset in the record.
    pub offset: u32,
}

/// An owned [`RecordLayout`]: a layout known only at run time, such as a record a Python or C
/// program describes. Its fingerprint is computed exactly as [`RecordLayout::fingerprint`], so a
/// table created from one language with the same fields opens from any other.
///
/// ```
/// use shmbus::{FieldType, Record, RecordLayoutBuf, TradingData};
/// let layout = RecordLayoutBuf::new("TradingData", 24)
///     .field("price", FieldType::F64, 0)
///     .field("timestamp", FieldType::U64, 8)
///     .field("volume", FieldType::I32, 16)
///     .field("valid", FieldType::Bool, 20);
/// assert_eq!(layout.fingerprint(), TradingData::LAYOUT.fingerprint());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLayoutBuf {
    /// The record type's name (at most 31 bytes).
    pub name: String,
    /// The record's size in bytes.
    pub size: u32,
    /// Its fields.
    pub fields: Vec<FieldBuf>,
}

impl RecordLayoutBuf {
    /// A layout without fields yet.
    pub fn new(name: impl Into<String>, size: u32) -> Self {
        Self {
            name: name.into(),
            size,
            fields: Vec::new(),
        }
    }

    /// Adds a field.
    pub fn field(mut self, name: impl Into<String>, ty: FieldType, offset: u32) -> Self {
        self.fields.push(FieldBuf {
            name: name.into(),
            ty,
            offset,
        });
        self
    }

    /// The same fingerprint as [`RecordLayout::fingerprint`] for the same facts.
    pub fn fingerprint(&self) -> u64 {
        self.fields
            .iter()
            .fold(fp_start(&self.name, self.size), |h, f| {
                fp_field(h, &f.name, f.ty, f.offset)
            })
    }

    /// Checks what a slot table needs: a name of 1 to 31 bytes, a size that is a non-zero
    /// multiple of 8, and fields inside the record that do not overlap. Returns why not.
    pub fn check(&self) -> Result<(), crate::LayoutProblem> {
        use crate::LayoutProblem as P;
        if self.name.is_empty() || self.name.len() > 31 || self.name.contains('\0') {
            return Err(P::Name {
                name: self.name.clone(),
            });
        }
        if self.size == 0 || self.size % 8 != 0 {
            return Err(P::Size { size: self.size });
        }
        for (i, a) in self.fields.iter().enumerate() {
            if a.offset
                .checked_add(a.ty.size())
                .is_none_or(|end| end > self.size)
            {
                return Err(P::FieldBeyondRecord {
                    field: a.name.clone(),
                    offset: a.offset,
                    len: a.ty.size(),
                    size: self.size,
                });
            }
            for b in &self.fields[i + 1..] {
                if a.offset < b.offset + b.ty.size() && b.offset < a.offset + a.ty.size() {
                    return Err(P::Overlap {
                        first: a.name.clone(),
                        second: b.name.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

impl From<&RecordLayout> for RecordLayoutBuf {
    fn from(l: &RecordLayout) -> Self {
        l.fields.iter().fold(Self::new(l.name, l.size), |acc, f| {
            acc.field(f.name, f.ty, f.offset)
        })
    }
}

/// A plain-data record that can live in a region.
///
/// `Pod` guarantees no padding, no pointers and every bit pattern valid, so a copy of the bytes
/// another process wrote is always a valid value. Slot tables further require the size to be a
/// multiple of 8 and the alignment at most 8 (checked at compile time when used).
pub trait Record: bytemuck::Pod {
    /// The record's layout; its fingerprint is stored in and checked against the region.
    const LAYOUT: RecordLayout;
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: RecordLayout = RecordLayout {
        name: "A",
        size: 16,
        fields: &[
            Field::new("price", FieldType::F64, 0),
            Field::new("volume", FieldType::F64, 8),
        ],
    };

    #[test]
    fn fingerprint_changes_with_any_field_fact() {
        const SWAPPED: RecordLayout = RecordLayout {
            fields: &[
                Field::new("volume", FieldType::F64, 0),
                Field::new("price", FieldType::F64, 8),
            ],
            ..A
        };
        const RETYPED: RecordLayout = RecordLayout {
            fields: &[
                Field::new("price", FieldType::F64, 0),
                Field::new("volume", FieldType::I64, 8),
            ],
            ..A
        };
        const RENAMED: RecordLayout = RecordLayout { name: "B", ..A };
        let fps = [A, SWAPPED, RETYPED, RENAMED].map(|l| l.fingerprint());
        for i in 0..fps.len() {
            for j in i + 1..fps.len() {
                assert_ne!(fps[i], fps[j], "layouts {i} and {j} collide");
            }
        }
        // Stable across builds: other languages compute the same value (docs/FORMAT.md).
        assert_eq!(A.fingerprint(), A.fingerprint());
    }

    #[test]
    fn owned_layout_has_the_same_fingerprint_and_checks() {
        let buf = RecordLayoutBuf::from(&A);
        assert_eq!(buf.fingerprint(), A.fingerprint());
        assert!(buf.check().is_ok());
        let moved = RecordLayoutBuf::new("A", 16)
            .field("price", FieldType::F64, 0)
            .field("volume", FieldType::F64, 4);
        assert_ne!(moved.fingerprint(), A.fingerprint());
        assert!(moved.check().unwrap_err().to_string().contains("overlap"));
        assert!(RecordLayoutBuf::new("A", 12).check().is_err());
        assert!(
            RecordLayoutBuf::new("A", 8)
                .field("x", FieldType::U64, 4)
                .check()
                .is_err()
        );
        assert!(RecordLayoutBuf::new("", 8).check().is_err());
    }

    #[test]
    fn consistency_catches_overlap_and_overflow() {
        assert!(A.is_consistent());
        const OVERLAP: RecordLayout = RecordLayout {
            fields: &[
                Field::new("a", FieldType::U64, 0),
                Field::new("b", FieldType::U32, 4),
            ],
            ..A
        };
        assert!(!OVERLAP.is_consistent());
        const OVERFLOW: RecordLayout = RecordLayout {
            fields: &[Field::new("a", FieldType::U64, 12)],
            ..A
        };
        assert!(!OVERFLOW.is_consistent());
    }
}
