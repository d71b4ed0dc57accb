//! Record layouts described from C: the fields of a plain struct, whose fingerprint is stored in
//! a slot table and checked by every opener (a C struct and a Python or Rust one that disagree
//! are caught at open instead of misread).

use std::ffi::c_char;

use shmbus::{FieldType, RecordLayoutBuf};

use crate::guard::{OK, Out, call, in_slice, str_arg};
use crate::status::{Error, Result, ShmbusStatus};

/// The type of one field of a record (`shmbus_field.type`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmbusFieldType {
    /// `uint8_t`
    U8 = 1,
    /// `int8_t`
    I8 = 2,
    /// `uint16_t`
    U16 = 3,
    /// `int16_t`
    I16 = 4,
    /// `uint32_t`
    U32 = 5,
    /// `int32_t`
    I32 = 6,
    /// `uint64_t`
    U64 = 7,
    /// `int64_t`
    I64 = 8,
    /// `float`
    F32 = 9,
    /// `double`
    F64 = 10,
    /// A `uint8_t` that is 0 or 1 (`bool`).
    Bool = 11,
    /// `size` bytes (e.g. a NUL-padded `char[16]`).
    Bytes = 12,
}

/// One named field of a record.
///
/// cbindgen:field-names=[name, type, offset, size]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ShmbusField {
    /// The field's name (NUL-terminated).
    pub name: *const c_char,
    /// One of `shmbus_field_type`.
    pub type_: u32,
    /// Its offset in the record (`offsetof`).
    pub offset: u32,
    /// Its size in bytes: used by `SHMBUS_FIELD_TYPE_BYTES` only (0 for the other types).
    pub size: u32,
}

/// The layout of a record type: what every process that shares a slot table must agree on.
/// Its fingerprint (name, size, and every field's name, type, size and offset) is stored in the
/// table and checked at open (`SHMBUS_LAYOUT_MISMATCH`). Name: 1 to 31 bytes; size: a non-zero
/// multiple of 8 (add explicit padding); fields inside the record, not overlapping.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ShmbusRecordLayout {
    /// The record type's name (NUL-terminated), e.g. `"TradingData"`.
    pub name: *const c_char,
    /// `sizeof` the record.
    pub size: u32,
    /// Its fields (padding need not be listed).
    pub fields: *const ShmbusField,
    /// Number of fields.
    pub field_count: usize,
}

/// The built-in layout of `shmbus_trading_data`, with pointers to static strings.
struct StaticLayout {
    layout: ShmbusRecordLayout,
}

// SAFETY: the layout and everything it points to are immutable statics (string literals and a
// static array), so sharing the pointers between threads is sound.
unsafe impl Sync for StaticLayout {}

/// A field of a static layout.
struct StaticFields([ShmbusField; 4]);

// SAFETY: as for `StaticLayout`.
unsafe impl Sync for StaticFields {}

const fn field(name: &'static std::ffi::CStr, ty: ShmbusFieldType, offset: u32) -> ShmbusField {
    ShmbusField {
        name: name.as_ptr(),
        type_: ty as u32,
        offset,
        size: 0,
    }
}

static TRADING_DATA_FIELDS: StaticFields = StaticFields([
    field(c"price", ShmbusFieldType::F64, 0),
    field(c"timestamp", ShmbusFieldType::U64, 8),
    field(c"volume", ShmbusFieldType::I32, 16),
    field(c"valid", ShmbusFieldType::Bool, 20),
]);

static TRADING_DATA: StaticLayout = StaticLayout {
    layout: ShmbusRecordLayout {
        name: c"TradingData".as_ptr(),
        size: 24,
        fields: TRADING_DATA_FIELDS.0.as_ptr(),
        field_count: 4,
    },
};

/// The layout of `shmbus_trading_data` (seed 001's `TradingData`): pass it to
/// `shmbus_slots_create` and the open functions. The pointer is to static, immutable data.
#[unsafe(no_mangle)]
pub extern "C" fn shmbus_trading_data_layout() -> *const ShmbusRecordLayout {
    &TRADING_DATA.layout
}

fn field_type(code: u32, size: u32, name: &str) -> Result<FieldType> {
    use ShmbusFieldType as T;
    let ty = match code {
        c if c == T::U8 as u32 => FieldType::U8,
        c if c == T::I8 as u32 => FieldType::I8,
        c if c == T::U16 as u32 => FieldType::U16,
        c if c == T::I16 as u32 => FieldType::I16,
        c if c == T::U32 as u32 => FieldType::U32,
        c if c == T::I32 as u32 => FieldType::I32,
        c if c == T::U64 as u32 => FieldType::U64,
        c if c == T::I64 as u32 => FieldType::I64,
        c if c == T::F32 as u32 => FieldType::F32,
        c if c == T::F64 as u32 => FieldType::F64,
        c if c == T::Bool as u32 => FieldType::Bool,
        c if c == T::Bytes as u32 => FieldType::Bytes(size),
        other => {
            return Err(Error::invalid(format!(
                "field {name:?}: type {other} is not a shmbus_field_type"
            )));
        }
    };
    Ok(ty)
}

/// Reads and checks a layout from C.
///
/// # Safety
///
/// `p` is NULL or points to a `shmbus_record_layout` whose `name` and `fields` (with their
/// names) are valid as documented.
pub(crate) unsafe fn layout_arg(p: *const ShmbusRecordLayout) -> Result<RecordLayoutBuf> {
    if p.is_null() {
        return Err(Error::invalid("layout is NULL"));
    }
    if !p.is_aligned() {
        return Err(Error::invalid("layout is misaligned"));
    }
    // SAFETY: non-null and aligned; the caller promises a layout struct.
    let l = unsafe { p.read() };
    // SAFETY: the caller's contract for the layout's strings and fields.
    let name = unsafe { str_arg(l.name, "layout name") }?;
    // SAFETY: as above.
    let fields = unsafe { in_slice(l.fields, l.field_count, "layout fields") }?;
    let mut buf = RecordLayoutBuf::new(name, l.size);
    for (i, f) in fields.iter().enumerate() {
        // SAFETY: as above.
        let fname = unsafe { str_arg(f.name, &format!("the name of field {i}")) }?;
        buf = buf.field(fname, field_type(f.type_, f.size, fname)?, f.offset);
    }
    buf.check().map_err(|reason| {
        Error::new(
            ShmbusStatus::ShmbusInvalidLayout,
            format!("invalid record layout {name:?}: {reason}"),
        )
        .with_code(shmbus::ErrorCode::InvalidLayout)
    })?;
    Ok(buf)
}

/// Reads an optional layout (NULL: none).
///
/// # Safety
///
/// As [`layout_arg`].
pub(crate) unsafe fn optional_layout(
    p: *const ShmbusRecordLayout,
) -> Result<Option<RecordLayoutBuf>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's contract.
    unsafe { layout_arg(p) }.map(Some)
}

/// The layout's fingerprint (docs/FORMAT.md, section 3), as stored in a table of such records;
/// `SHMBUS_INVALID_LAYOUT` if a slot table cannot hold it.
///
/// # Safety
///
/// `layout` points to a valid `shmbus_record_layout`; `out` points to a `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_record_layout_fingerprint(
    layout: *const ShmbusRecordLayout,
    out: *mut u64,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `layout`.
        let l = unsafe { layout_arg(layout) }?;
        Out::new(out, "out")?.set(l.fingerprint());
        OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shmbus::{Record, TradingData};

    #[test]
    fn the_trading_data_layout_is_the_core_one() {
        // SAFETY: the library's static layout.
        let l = unsafe { layout_arg(shmbus_trading_data_layout()) }.unwrap();
        assert_eq!(l, RecordLayoutBuf::from(&TradingData::LAYOUT));
        let mut fp = 0;
        // SAFETY: a static layout and a local out-parameter.
        let s = unsafe { shmbus_record_layout_fingerprint(shmbus_trading_data_layout(), &mut fp) };
        assert_eq!(s, ShmbusStatus::ShmbusOk);
        assert_eq!(fp, TradingData::LAYOUT.fingerprint());
    }

    #[test]
    fn bad_layouts_are_refused_with_the_reason() {
        let fields = [
            field(c"a", ShmbusFieldType::U64, 0),
            field(c"b", ShmbusFieldType::U32, 4),
        ];
        let l = ShmbusRecordLayout {
            name: c"Overlap".as_ptr(),
            size: 16,
            fields: fields.as_ptr(),
            field_count: 2,
        };
        // SAFETY: a layout of locals.
        let e = unsafe { layout_arg(&l) }.err().unwrap();
        assert_eq!(e.status, ShmbusStatus::ShmbusInvalidLayout);
        assert!(e.message.contains("overlap"), "{}", e.message);
        let l = ShmbusRecordLayout {
            size: 12,
            field_count: 1,
            ..l
        };
        // SAFETY: as above.
        let e = unsafe { layout_arg(&l) }.err().unwrap();
        assert!(e.message.contains("multiple of 8"), "{}", e.message);
        let bad_type = [ShmbusField {
            type_: 99,
            ..fields[0]
        }];
        let l = ShmbusRecordLayout {
            size: 16,
            fields: bad_type.as_ptr(),
            ..l
        };
        // SAFETY: as above.
        let e = unsafe { layout_arg(&l) }.err().unwrap();
        assert_eq!(e.status, ShmbusStatus::ShmbusInvalidArgument);
        let l = ShmbusRecordLayout {
            fields: std::ptr::null(),
            ..l
        };
        // SAFETY: as above: NULL fields with a count are refused.
        assert!(unsafe { layout_arg(&l) }.is_err());
    }
}
