//! Tests of the C ABI through its C functions: what a C caller sees, including its mistakes
//! (NULL pointers, handles of the wrong kind, buffers too small).

use std::ffi::{CStr, c_char};
use std::ptr::{null, null_mut};

use crate::status::ShmbusStatus::{self, *};
use crate::test_util::{TempName, last_error};
use crate::*;

fn ok(s: ShmbusStatus) {
    assert_eq!(s, ShmbusOk, "{}", last_error());
}

fn td(price: f64, volume: i32, timestamp: u64) -> ShmbusTradingData {
    ShmbusTradingData {
        price,
        timestamp,
        volume,
        valid: 1,
        _pad: [0; 3],
    }
}

const TD: usize = size_of::<ShmbusTradingData>();

fn tdp(v: &ShmbusTradingData) -> *const std::ffi::c_void {
    std::ptr::from_ref(v).cast()
}

fn tdm(v: &mut ShmbusTradingData) -> *mut std::ffi::c_void {
    std::ptr::from_mut(v).cast()
}

fn msg() -> ShmbusMessage {
    ShmbusMessage {
        seq: u64::MAX,
        position: 0,
        data: null(),
        len: usize::MAX,
        type_tag: 0,
    }
}

/// The header cbindgen generated in this build.
const GENERATED: &str = include_str!(concat!(env!("OUT_DIR"), "/shmbus.h"));

#[test]
fn the_checked_in_header_is_fresh() {
    let checked_in = include_str!("../include/shmbus.h");
    assert!(
        checked_in == GENERATED,
        "bindings/c/include/shmbus.h is stale: run scripts/ci/c.sh --update-header"
    );
}

#[test]
fn status_names_match_the_header() {
    let header = GENERATED;
    for s in crate::status::ShmbusStatus::ALL {
        // SAFETY: a static NUL-terminated string.
        let name = unsafe { CStr::from_ptr(shmbus_status_name(s as i32)) }
            .to_str()
            .unwrap();
        let line = format!("    {name} = {},", s as i32);
        assert!(header.contains(&line), "the header lacks `{line}`");
    }
    // SAFETY: as above.
    let unknown = unsafe { CStr::from_ptr(shmbus_status_name(12345)) };
    assert_eq!(unknown.to_str().unwrap(), "SHMBUS_UNKNOWN_STATUS");
}

/// A region truncated under a reader (by another process; here this one, the same fault) is
/// SHMBUS_TRUNCATED_WHILE_MAPPED, not a SIGBUS that kills the C program.
#[test]
fn a_truncated_region_is_a_status_not_sigbus() {
    let name = TempName::new("sigbus");
    let (mut w, mut r) = (null_mut(), null_mut());
    // SAFETY: NUL-terminated names and keys, out-pointers to locals, handles made by the
    // library and closed once.
    unsafe {
        ok(shmbus_slots_create(
            name.c().as_ptr(),
            shmbus_trading_data_layout(),
            4,
            0,
            &mut w,
        ));
        ok(shmbus_slot_writer_put(
            w,
            c"BTCUSD".as_ptr(),
            tdp(&td(1.0, 1, 1)),
            TD,
            null_mut(),
        ));
        ok(shmbus_slots_open_reader(
            name.c().as_ptr(),
            shmbus_trading_data_layout(),
            0,
            &mut r,
        ));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&*name)
            .unwrap()
            .set_len(0)
            .unwrap();
        let mut v = ShmbusTradingData::default();
        assert_eq!(
            shmbus_slot_reader_get(r, c"BTCUSD".as_ptr(), tdm(&mut v), TD, null_mut()),
            ShmbusTruncatedWhileMapped
        );
        assert!(last_error().contains("truncated by another process"));
        ok(shmbus_slot_reader_close(r));
        ok(shmbus_slot_writer_close(w));
    }
}

#[test]
fn slots_write_read_and_change_detection() {
    let name = TempName::new("slots");
    let (mut w, mut r) = (null_mut(), null_mut());
    // SAFETY: in every call of this test: NUL-terminated names and keys, out-pointers to locals,
    // and handles made by the library, closed once at the end.
    unsafe {
        ok(shmbus_slots_create(
            name.c().as_ptr(),
            shmbus_trading_data_layout(),
            4,
            0,
            &mut w,
        ));
        let mut btc = u32::MAX;
        ok(shmbus_slot_writer_slot(w, c"BTCUSD".as_ptr(), &mut btc));
        assert_eq!(btc, 0);
        let mut eth = u32::MAX;
        ok(shmbus_slot_writer_put(
            w,
            c"ETHUSD".as_ptr(),
            tdp(&td(3150.25, 12, 7)),
            TD,
            &mut eth,
        ));
        assert_eq!(eth, 1);

        ok(shmbus_slots_open_reader(
            name.c().as_ptr(),
            shmbus_trading_data_layout(),
            0,
            &mut r,
        ));
        let (mut v, mut seq) = (ShmbusTradingData::default(), 0u64);
        // Registered but never written.
        assert_eq!(
            shmbus_slot_reader_read(r, 0, tdm(&mut v), TD, &mut seq),
            ShmbusNoData
        );
        ok(shmbus_slot_writer_write(
            w,
            btc,
            tdp(&td(97_000.5, 3, 42)),
            TD,
        ));
        let mut id = u32::MAX;
        ok(shmbus_slot_reader_find(r, c"BTCUSD".as_ptr(), &mut id));
        ok(shmbus_slot_reader_read(r, id, tdm(&mut v), TD, &mut seq));
        assert_eq!(v, td(97_000.5, 3, 42));
        assert!(seq > 0 && seq % 2 == 0);
        // Unchanged: NO_DATA and the outputs untouched.
        let mut untouched = td(1.0, 1, 1);
        assert_eq!(
            shmbus_slot_reader_read_if_changed(r, id, seq, tdm(&mut untouched), TD, null_mut()),
            ShmbusNoData
        );
        assert_eq!(untouched, td(1.0, 1, 1));
        ok(shmbus_slot_writer_write(
            w,
            btc,
            tdp(&td(97_001.0, 4, 43)),
            TD,
        ));
        let mut seq2 = 0;
        ok(shmbus_slot_reader_read_if_changed(
            r,
            id,
            seq,
            tdm(&mut v),
            TD,
            &mut seq2,
        ));
        assert_eq!((v.price, seq2), (97_001.0, seq + 2));
        // By key, and the key of an id.
        ok(shmbus_slot_reader_get(
            r,
            c"ETHUSD".as_ptr(),
            tdm(&mut v),
            TD,
            null_mut(),
        ));
        assert_eq!(v.volume, 12);
        let mut key = [0 as c_char; 32];
        ok(shmbus_slot_reader_key(r, 1, key.as_mut_ptr(), key.len()));
        assert_eq!(CStr::from_ptr(key.as_ptr()).to_str().unwrap(), "ETHUSD");
        // "ETHUSD" + NUL needs 7 bytes.
        assert_eq!(
            shmbus_slot_reader_key(r, 1, key.as_mut_ptr(), 6),
            ShmbusBufferTooSmall
        );
        let (mut count, mut cap, mut size) = (0, 0, 0);
        ok(shmbus_slot_reader_info(r, &mut count, &mut cap, &mut size));
        assert_eq!((count, cap, size), (2, 4, 24));
        // A buffer of another size.
        assert_eq!(
            shmbus_slot_reader_read(r, id, tdm(&mut v), 16, null_mut()),
            ShmbusRecordSize
        );
        assert!(
            last_error().contains("24 bytes, got a buffer of 16"),
            "{}",
            last_error()
        );
        assert_eq!(
            shmbus_slot_writer_write(w, btc, tdp(&v), 32),
            ShmbusRecordSize
        );

        // Keys registered after the reader looked are found by id too.
        let mut sol = 0;
        ok(shmbus_slot_writer_put(
            w,
            c"SOLUSD".as_ptr(),
            tdp(&td(150.0, 1, 1)),
            TD,
            &mut sol,
        ));
        ok(shmbus_slot_reader_read(r, sol, tdm(&mut v), TD, null_mut()));
        assert_eq!(v.price, 150.0);

        // Errors, each with its code and a message.
        assert_eq!(
            shmbus_slot_reader_read(r, 3, tdm(&mut v), TD, null_mut()),
            ShmbusBadSlot
        );
        assert!(last_error().contains("slot id 3"), "{}", last_error());
        assert_eq!(
            shmbus_slot_reader_find(r, c"XRPUSD".as_ptr(), &mut id),
            ShmbusUnknownKey
        );
        assert!(last_error().contains("XRPUSD"), "{}", last_error());
        let long = c"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        assert_eq!(
            shmbus_slot_writer_slot(w, long.as_ptr(), &mut id),
            ShmbusInvalidName
        );
        ok(shmbus_slot_writer_slot(w, c"FOURTH".as_ptr(), &mut id));
        assert_eq!(
            shmbus_slot_writer_slot(w, c"FIFTH".as_ptr(), &mut id),
            ShmbusFull
        );
        let mut w2 = null_mut();
        assert_eq!(
            shmbus_slots_open_writer(name.c().as_ptr(), shmbus_trading_data_layout(), &mut w2),
            ShmbusWriterBusy
        );
        assert!(w2.is_null());
        assert_eq!(
            shmbus_slots_create(
                name.c().as_ptr(),
                shmbus_trading_data_layout(),
                4,
                0,
                &mut w2
            ),
            ShmbusAlreadyExists
        );

        ok(shmbus_slot_reader_close(r));
        ok(shmbus_slot_writer_close(w));
        // After the writer closed, a new one takes over and keeps the keys.
        ok(shmbus_slots_open_writer(
            name.c().as_ptr(),
            shmbus_trading_data_layout(),
            &mut w,
        ));
        // The writer's own read of what it published.
        let mut own = ShmbusTradingData::default();
        ok(shmbus_slot_writer_read(w, 1, tdm(&mut own), TD, null_mut()));
        assert_eq!(own, td(3150.25, 12, 7));
        let mut repaired = 9;
        ok(shmbus_slot_writer_repaired(w, &mut repaired));
        assert_eq!(repaired, 0);
        ok(shmbus_slot_writer_slot(w, c"ETHUSD".as_ptr(), &mut id));
        assert_eq!(id, 1);
        ok(shmbus_slot_writer_close(w));
    }
}

#[test]
fn null_pointers_and_bad_handles_are_refused() {
    let name = TempName::new("nulls");
    // SAFETY: in every call of this test: every pointer is NULL, a local, or a handle made here;
    // wrong-kind handles are refused by their tags before any use.
    unsafe {
        let mut w = null_mut();
        assert_eq!(
            shmbus_slots_create(null(), shmbus_trading_data_layout(), 4, 0, &mut w),
            ShmbusInvalidArgument
        );
        assert_eq!(last_error(), "name is NULL");
        assert_eq!(
            shmbus_slots_create(
                name.c().as_ptr(),
                shmbus_trading_data_layout(),
                4,
                0,
                null_mut()
            ),
            ShmbusInvalidArgument
        );
        assert_eq!(last_error(), "out is NULL");
        // The out-pointer is checked before the region is made: nothing was created.
        assert!(!std::path::Path::new(&*name).exists());
        assert_eq!(
            shmbus_slots_create(name.c().as_ptr(), null(), 4, 0, &mut w),
            ShmbusInvalidArgument
        );
        assert_eq!(last_error(), "layout is NULL");
        assert_eq!(
            shmbus_slots_create(
                name.c().as_ptr(),
                shmbus_trading_data_layout(),
                4,
                0x80,
                &mut w
            ),
            ShmbusInvalidArgument
        );
        assert!(
            last_error().contains("unknown flags 0x80"),
            "{}",
            last_error()
        );
        ok(shmbus_slots_create(
            name.c().as_ptr(),
            shmbus_trading_data_layout(),
            4,
            0,
            &mut w,
        ));

        let mut v = ShmbusTradingData::default();
        assert_eq!(
            shmbus_slot_writer_write(w, 0, null(), TD),
            ShmbusInvalidArgument
        );
        assert_eq!(
            shmbus_slot_writer_write(null_mut(), 0, tdp(&v), TD),
            ShmbusInvalidArgument
        );
        assert!(
            last_error().contains("slot writer handle is NULL"),
            "{}",
            last_error()
        );
        let mut id = 0;
        assert_eq!(
            shmbus_slot_writer_slot(w, null(), &mut id),
            ShmbusInvalidArgument
        );
        assert_eq!(
            shmbus_slot_writer_slot(w, c"K".as_ptr(), null_mut()),
            ShmbusInvalidArgument
        );

        // A slot writer passed where a reader (or a journal reader) is expected.
        let as_reader = w.cast::<ShmbusSlotReader>();
        assert_eq!(
            shmbus_slot_reader_read(as_reader, 0, tdm(&mut v), TD, null_mut()),
            ShmbusBadHandle
        );
        assert!(
            last_error().contains("not a slot reader handle"),
            "{}",
            last_error()
        );
        let mut m = msg();
        let as_journal = w.cast::<ShmbusJournalReader>();
        assert_eq!(
            shmbus_journal_reader_next(as_journal, 0, &mut m),
            ShmbusBadHandle
        );
        assert_eq!(shmbus_slot_reader_close(as_reader), ShmbusBadHandle);
        // A forged handle.
        let mut fake = [7u64; 8];
        let forged = fake.as_mut_ptr().cast::<ShmbusCandleReader>();
        let mut stats = std::mem::MaybeUninit::<ShmbusCandleStats>::uninit();
        assert_eq!(
            shmbus_candle_reader_stats(forged, stats.as_mut_ptr(), null_mut()),
            ShmbusBadHandle
        );
        // Closing NULL is fine, as free(NULL).
        ok(shmbus_slot_writer_close(null_mut()));
        ok(shmbus_journal_reader_close(null_mut()));
        ok(shmbus_candle_reader_close(null_mut()));
        ok(shmbus_slot_writer_close(w));

        // Opening what does not exist, or with the wrong kind.
        let mut r = null_mut();
        assert_eq!(
            shmbus_slots_open_reader(c"/shmbus-c-test-none".as_ptr(), null(), 0, &mut r),
            ShmbusNotFound
        );
        let mut j = null_mut();
        assert_eq!(
            shmbus_journal_open_reader(name.c().as_ptr(), 0, 0, 0, &mut j),
            ShmbusKindMismatch
        );
        assert!(
            last_error().contains("not a journal region"),
            "{}",
            last_error()
        );
        assert_eq!(
            shmbus_journal_open_reader(name.c().as_ptr(), 7, 0, 0, &mut j),
            ShmbusInvalidArgument
        );
        assert!(last_error().contains("start 7"), "{}", last_error());
        let text = c"\xff\xfe";
        assert_eq!(
            shmbus_slots_open_reader(text.as_ptr(), null(), 0, &mut r),
            ShmbusInvalidArgument
        );
        assert!(last_error().contains("UTF-8"), "{}", last_error());
    }
}

#[test]
fn journal_append_commit_next_prev_seek() {
    let name = TempName::new("journal");
    // SAFETY: in every call of this test: as in the slot tests; payload pointers come from `m`
    // right after the call that returned them.
    unsafe {
        let mut w = null_mut();
        ok(shmbus_journal_create_ring(
            name.c().as_ptr(),
            1 << 16,
            SHMBUS_CREATE_CRC,
            &mut w,
        ));
        let mut r = null_mut();
        ok(shmbus_journal_open_reader(
            name.c().as_ptr(),
            ShmbusStart::Beginning as u32,
            0,
            0,
            &mut r,
        ));
        let mut m = msg();
        assert_eq!(shmbus_journal_reader_next(r, 0, &mut m), ShmbusNoData);
        let mut seq = 99;
        ok(shmbus_journal_writer_append(
            w,
            7,
            b"hello".as_ptr(),
            5,
            &mut seq,
        ));
        assert_eq!(seq, 0);
        ok(shmbus_journal_writer_append(w, 8, null(), 0, null_mut()));
        // Not committed: invisible (even when waiting a little).
        assert_eq!(
            shmbus_journal_reader_next(r, 1_000_000, &mut m),
            ShmbusNoData
        );
        ok(shmbus_journal_writer_commit(w));
        ok(shmbus_journal_reader_next(r, 0, &mut m));
        assert_eq!((m.seq, m.type_tag, m.len), (0, 7, 5));
        assert_eq!(std::slice::from_raw_parts(m.data, m.len), b"hello");
        assert_eq!(m.data as usize % 8, 0);
        ok(shmbus_journal_reader_next(r, u64::MAX, &mut m));
        assert_eq!((m.seq, m.type_tag, m.len), (1, 8, 0));
        ok(shmbus_journal_writer_append_commit(
            w,
            9,
            b"third".as_ptr(),
            5,
            &mut seq,
        ));
        assert_eq!(seq, 2);
        let (mut next, mut max) = (0, 0);
        ok(shmbus_journal_writer_state(w, &mut next, &mut max));
        assert_eq!(next, 3);
        assert!(max > 1 << 13 && max <= 1 << 14, "{max}");

        // Backwards, then seek.
        ok(shmbus_journal_reader_prev(r, &mut m));
        assert_eq!(m.seq, 1);
        ok(shmbus_journal_reader_prev(r, &mut m));
        assert_eq!(m.seq, 0);
        assert_eq!(shmbus_journal_reader_prev(r, &mut m), ShmbusNoData);
        ok(shmbus_journal_reader_seek(r, 2));
        let mut at = 0;
        ok(shmbus_journal_reader_next_seq(r, &mut at));
        assert_eq!(at, 2);
        ok(shmbus_journal_reader_next(r, 0, &mut m));
        assert_eq!(std::slice::from_raw_parts(m.data, m.len), b"third");
        assert_eq!(shmbus_journal_reader_seek(r, 10), ShmbusNotYet);
        assert!(last_error().contains("sequence 10"), "{}", last_error());

        let mut info = std::mem::MaybeUninit::<ShmbusJournalInfo>::uninit();
        ok(shmbus_journal_reader_info(r, info.as_mut_ptr()));
        let info = info.assume_init();
        assert_eq!(info.mode, ShmbusJournalMode::Ring as u32);
        assert_eq!((info.next_seq, info.oldest_seq, info.crc), (3, 0, true));
        assert!(info.writer_alive);

        // Too large, and a reader that starts at a sequence.
        let big = vec![0u8; max + 1];
        assert_eq!(
            shmbus_journal_writer_append(w, 1, big.as_ptr(), big.len(), null_mut()),
            ShmbusMessageTooLarge
        );
        let mut r2 = null_mut();
        ok(shmbus_journal_open_reader(
            name.c().as_ptr(),
            ShmbusStart::Seq as u32,
            1,
            0,
            &mut r2,
        ));
        ok(shmbus_journal_reader_next(r2, 0, &mut m));
        assert_eq!(m.seq, 1);
        ok(shmbus_journal_reader_close(r2));
        ok(shmbus_journal_open_reader(
            name.c().as_ptr(),
            ShmbusStart::End as u32,
            0,
            0,
            &mut r2,
        ));
        assert_eq!(shmbus_journal_reader_next(r2, 0, &mut m), ShmbusNoData);
        ok(shmbus_journal_reader_close(r2));

        ok(shmbus_journal_reader_close(r));
        ok(shmbus_journal_writer_close(w));
    }
}

#[test]
fn journal_copy_into_a_small_buffer_keeps_the_message() {
    let name = TempName::new("copy");
    // SAFETY: in every call of this test: as above; `buf` is a local array of the size passed.
    unsafe {
        let mut w = null_mut();
        ok(shmbus_journal_create_ring(
            name.c().as_ptr(),
            1 << 16,
            0,
            &mut w,
        ));
        let payload: Vec<u8> = (0..100).collect();
        ok(shmbus_journal_writer_append(
            w,
            1,
            payload.as_ptr(),
            100,
            null_mut(),
        ));
        ok(shmbus_journal_writer_append(
            w,
            2,
            b"next".as_ptr(),
            4,
            null_mut(),
        ));
        ok(shmbus_journal_writer_commit(w));
        let mut r = null_mut();
        ok(shmbus_journal_open_reader(
            name.c().as_ptr(),
            0,
            0,
            0,
            &mut r,
        ));

        let mut buf = [0u8; 128];
        let mut m = msg();
        // Size query: no buffer.
        assert_eq!(
            shmbus_journal_reader_next_copy(r, 0, null_mut(), 0, &mut m),
            ShmbusBufferTooSmall
        );
        assert_eq!((m.seq, m.len, m.data), (0, 100, null()));
        // Too small: the message stays pending, also for next_seq.
        assert_eq!(
            shmbus_journal_reader_next_copy(r, 0, buf.as_mut_ptr(), 10, &mut m),
            ShmbusBufferTooSmall
        );
        assert!(
            last_error().contains("100 bytes but the buffer holds 10"),
            "{}",
            last_error()
        );
        let mut at = 9;
        ok(shmbus_journal_reader_next_seq(r, &mut at));
        assert_eq!(at, 0);
        assert_eq!(
            shmbus_journal_reader_next_copy(r, 0, null_mut(), 5, &mut m),
            ShmbusInvalidArgument
        );
        ok(shmbus_journal_reader_next_copy(
            r,
            0,
            buf.as_mut_ptr(),
            buf.len(),
            &mut m,
        ));
        assert_eq!((m.seq, m.type_tag, m.len), (0, 1, 100));
        assert_eq!(m.data, buf.as_ptr());
        assert_eq!(&buf[..100], &payload[..]);
        // A pending message is also what `next` (by pointer) returns...
        assert_eq!(
            shmbus_journal_reader_next_copy(r, 0, buf.as_mut_ptr(), 2, &mut m),
            ShmbusBufferTooSmall
        );
        ok(shmbus_journal_reader_next(r, 0, &mut m));
        assert_eq!(std::slice::from_raw_parts(m.data, m.len), b"next");
        // ...and `prev` from a pending message returns the one before it.
        assert_eq!(shmbus_journal_reader_next(r, 0, &mut m), ShmbusNoData);
        ok(shmbus_journal_reader_prev(r, &mut m));
        assert_eq!(m.seq, 1);
        assert_eq!(
            shmbus_journal_reader_next_copy(r, 0, buf.as_mut_ptr(), 2, &mut m),
            ShmbusBufferTooSmall
        );
        ok(shmbus_journal_reader_prev(r, &mut m));
        assert_eq!((m.seq, m.len), (0, 100));
        ok(shmbus_journal_reader_close(r));
        ok(shmbus_journal_writer_close(w));
    }
}

#[test]
fn journal_overrun_is_reported_and_counted() {
    let name = TempName::new("overrun");
    // SAFETY: in every call of this test: as above.
    unsafe {
        let mut w = null_mut();
        ok(shmbus_journal_create_ring(
            name.c().as_ptr(),
            1 << 12,
            0,
            &mut w,
        ));
        let mut r = null_mut();
        ok(shmbus_journal_open_reader(
            name.c().as_ptr(),
            0,
            0,
            0,
            &mut r,
        ));
        let payload = [1u8; 200];
        for _ in 0..100 {
            ok(shmbus_journal_writer_append_commit(
                w,
                1,
                payload.as_ptr(),
                200,
                null_mut(),
            ));
        }
        let mut m = msg();
        assert_eq!(shmbus_journal_reader_next(r, 0, &mut m), ShmbusOverrun);
        assert!(last_error().contains("messages lost"), "{}", last_error());
        let mut lost = 0;
        ok(shmbus_journal_reader_lost(r, &mut lost));
        assert!(lost > 50 && lost < 100, "{lost}");
        // The reader resumed: it reads the rest, in order, to the end.
        let mut n = 0;
        while shmbus_journal_reader_next(r, 0, &mut m) == ShmbusOk {
            n += 1;
        }
        assert_eq!(n + lost, 100);
        ok(shmbus_journal_reader_close(r));
        ok(shmbus_journal_writer_close(w));
    }
}

#[test]
fn persisted_journal_and_remove() {
    let name = TempName::new("persisted");
    // SAFETY: in every call of this test: as above.
    unsafe {
        let mut w = null_mut();
        ok(shmbus_journal_create_persisted(
            name.c().as_ptr(),
            1 << 16,
            2,
            0,
            0,
            &mut w,
        ));
        let payload = [3u8; 1000];
        for _ in 0..300 {
            ok(shmbus_journal_writer_append_commit(
                w,
                1,
                payload.as_ptr(),
                1000,
                null_mut(),
            ));
        }
        let mut r = null_mut();
        ok(shmbus_journal_open_reader(
            name.c().as_ptr(),
            ShmbusStart::End as u32,
            0,
            0,
            &mut r,
        ));
        let mut info = std::mem::MaybeUninit::<ShmbusJournalInfo>::uninit();
        ok(shmbus_journal_reader_info(r, info.as_mut_ptr()));
        let info = info.assume_init();
        assert_eq!(info.mode, ShmbusJournalMode::Persisted as u32);
        assert_eq!((info.next_seq, info.segments), (300, 2));
        assert!(info.oldest_seq > 0);
        ok(shmbus_journal_reader_close(r));
        assert_eq!(shmbus_region_remove(name.c().as_ptr(), false), ShmbusInUse);
        ok(shmbus_journal_writer_close(w));
        // A file that is not a segment in the directory: refused, even with force, with its code.
        let notes = std::path::Path::new(&*name).join("notes.txt");
        std::fs::write(&notes, b"mine").unwrap();
        assert_eq!(
            shmbus_region_remove(name.c().as_ptr(), true),
            ShmbusNotARegion
        );
        assert_eq!(shmbus_last_error_code(), 123, "{}", last_error());
        assert!(last_error().contains("notes.txt"), "{}", last_error());
        std::fs::remove_file(&notes).unwrap();
        ok(shmbus_region_remove(name.c().as_ptr(), false));
        assert!(!std::path::Path::new(&*name).exists());
        // A file that is not shmbus's: refused, even with force.
        let junk = format!("{}.junk", &*name);
        std::fs::write(&junk, [1u8; 4096]).unwrap();
        let junk_c = std::ffi::CString::new(junk.clone()).unwrap();
        assert_eq!(
            shmbus_region_remove(junk_c.as_ptr(), true),
            ShmbusNotARegion
        );
        assert_eq!(shmbus_last_error_code(), 120, "{}", last_error());
        std::fs::remove_file(&junk).unwrap();
    }
}

fn bar(i: u64) -> ShmbusCandle {
    let open = 100.0 + i as f64;
    ShmbusCandle {
        timestamp: 1_700_000_000_000 + 60_000 * i,
        open,
        high: open + 2.0,
        low: open - 1.0,
        close: open + 0.5,
        volume: 10.0 * i as f64,
    }
}

#[test]
fn candles_write_and_read_with_size_queries() {
    let name = TempName::new("candles");
    // SAFETY: in every call of this test: as above; buffers are local vectors of the given sizes.
    unsafe {
        let mut w = null_mut();
        ok(shmbus_candles_create(
            name.c().as_ptr(),
            1 << 20,
            0,
            0,
            &mut w,
        ));
        let bars: Vec<ShmbusCandle> = (0..50).map(bar).collect();
        let mut report = std::mem::MaybeUninit::<ShmbusWriteReport>::uninit();
        ok(shmbus_candle_writer_write(
            w,
            c"BTCUSDT".as_ptr(),
            c"1m".as_ptr(),
            bars.as_ptr(),
            50,
            report.as_mut_ptr(),
        ));
        assert_eq!(report.assume_init().count, 50);
        ok(shmbus_candle_writer_write(
            w,
            c"BTCUSDT".as_ptr(),
            c"1h".as_ptr(),
            bars.as_ptr(),
            3,
            null_mut(),
        ));
        // The live bar replaces the last one.
        let live = ShmbusCandle {
            close: 149.75,
            ..bars[49]
        };
        ok(shmbus_candle_writer_write(
            w,
            c"BTCUSDT".as_ptr(),
            c"1m".as_ptr(),
            &live,
            1,
            report.as_mut_ptr(),
        ));
        let rep = report.assume_init();
        assert_eq!((rep.written, rep.replaced, rep.count), (1, 1, 50));

        let mut r = null_mut();
        ok(shmbus_candles_open_reader(name.c().as_ptr(), 0, &mut r));
        let mut count = 0usize;
        ok(shmbus_candle_reader_list_series(
            r,
            null_mut(),
            0,
            &mut count,
        ));
        assert_eq!(count, 2);
        let mut series = vec![std::mem::zeroed::<ShmbusSeriesInfo>(); 2];
        assert_eq!(
            shmbus_candle_reader_list_series(r, series.as_mut_ptr(), 1, &mut count),
            ShmbusBufferTooSmall
        );
        ok(shmbus_candle_reader_list_series(
            r,
            series.as_mut_ptr(),
            2,
            &mut count,
        ));
        let intervals: Vec<&str> = series
            .iter()
            .map(|s| CStr::from_ptr(s.interval.as_ptr()).to_str().unwrap())
            .collect();
        assert_eq!(intervals, ["1m", "1h"]);
        assert_eq!(
            CStr::from_ptr(series[0].symbol.as_ptr()).to_str().unwrap(),
            "BTCUSDT"
        );
        assert_eq!(series[0].count, 50);

        ok(shmbus_candle_reader_read_series(
            r,
            c"BTCUSDT".as_ptr(),
            c"1m".as_ptr(),
            null_mut(),
            0,
            &mut count,
        ));
        assert_eq!(count, 50);
        let mut buf = vec![ShmbusCandle::default(); 64];
        assert_eq!(
            shmbus_candle_reader_read_series(
                r,
                c"BTCUSDT".as_ptr(),
                c"1m".as_ptr(),
                buf.as_mut_ptr(),
                49,
                &mut count
            ),
            ShmbusBufferTooSmall
        );
        assert_eq!(count, 50);
        assert!(
            last_error().contains("holds 49 but 50 are needed"),
            "{}",
            last_error()
        );
        assert_eq!(buf[0], ShmbusCandle::default(), "nothing copied");
        ok(shmbus_candle_reader_read_series(
            r,
            c"BTCUSDT".as_ptr(),
            c"1m".as_ptr(),
            buf.as_mut_ptr(),
            64,
            &mut count,
        ));
        assert_eq!(count, 50);
        assert_eq!(&buf[..49], &bars[..49]);
        assert_eq!(buf[49], live);

        ok(shmbus_candle_reader_range(
            r,
            c"BTCUSDT".as_ptr(),
            c"1m".as_ptr(),
            bars[10].timestamp,
            bars[20].timestamp,
            buf.as_mut_ptr(),
            64,
            &mut count,
        ));
        assert_eq!(count, 10);
        assert_eq!(buf[0], bars[10]);
        let mut last = ShmbusCandle::default();
        ok(shmbus_candle_reader_latest(
            r,
            c"BTCUSDT".as_ptr(),
            c"1m".as_ptr(),
            &mut last,
        ));
        assert_eq!(last, live);
        let mut info = std::mem::zeroed::<ShmbusSeriesInfo>();
        ok(shmbus_candle_reader_find_series(
            r,
            c"BTCUSDT".as_ptr(),
            c"1h".as_ptr(),
            &mut info,
        ));
        assert_eq!((info.count, info.end_ts), (3, bars[2].timestamp));

        let mut stats = std::mem::MaybeUninit::<ShmbusCandleStats>::uninit();
        let mut foreign = true;
        ok(shmbus_candle_reader_stats(
            r,
            stats.as_mut_ptr(),
            &mut foreign,
        ));
        let s = stats.assume_init();
        assert_eq!(
            (s.total_symbols, s.total_candles, s.write_count, foreign),
            (2, 53, 3, false)
        );
        ok(shmbus_candle_writer_stats(w, stats.as_mut_ptr()));
        assert_eq!(stats.assume_init().total_candles, 53);

        // Errors: unknown series, invalid and out-of-order candles (nothing written).
        assert_eq!(
            shmbus_candle_reader_read_series(
                r,
                c"ETHUSDT".as_ptr(),
                c"1m".as_ptr(),
                null_mut(),
                0,
                &mut count
            ),
            ShmbusUnknownSeries
        );
        assert!(
            last_error().starts_with("QNXS error 6 SYMBOL_NOT_FOUND"),
            "{}",
            last_error()
        );
        assert_eq!(
            shmbus_candle_reader_find_series(r, c"ETHUSDT".as_ptr(), c"1m".as_ptr(), &mut info),
            ShmbusUnknownSeries
        );
        let bad = ShmbusCandle {
            low: 200.0,
            ..bar(60)
        };
        assert_eq!(
            shmbus_candle_writer_write(w, c"BTCUSDT".as_ptr(), c"1m".as_ptr(), &bad, 1, null_mut()),
            ShmbusInvalidCandle
        );
        assert!(
            last_error().contains("nothing was written"),
            "{}",
            last_error()
        );
        assert_eq!(
            shmbus_candle_writer_write(
                w,
                c"BTCUSDT".as_ptr(),
                c"1m".as_ptr(),
                bars.as_ptr(),
                1,
                null_mut()
            ),
            ShmbusOutOfOrder
        );
        ok(shmbus_candle_writer_replace(
            w,
            c"BTCUSDT".as_ptr(),
            c"1m".as_ptr(),
            bars.as_ptr(),
            1,
            report.as_mut_ptr(),
        ));
        assert_eq!(report.assume_init().count, 1);
        assert_eq!(
            shmbus_candle_writer_write(
                w,
                c"A-SYMBOL-TOO-LONG".as_ptr(),
                c"1m".as_ptr(),
                bars.as_ptr(),
                1,
                null_mut()
            ),
            ShmbusInvalidName
        );
        assert_eq!(
            shmbus_candle_writer_write(w, c"X".as_ptr(), c"1m".as_ptr(), null(), 3, null_mut()),
            ShmbusInvalidArgument
        );
        ok(shmbus_candle_writer_write(
            w,
            c"EMPTY".as_ptr(),
            c"1m".as_ptr(),
            null(),
            0,
            null_mut(),
        ));
        // An empty series (if the core keeps it) has no latest candle.
        let s = shmbus_candle_reader_latest(r, c"EMPTY".as_ptr(), c"1m".as_ptr(), &mut last);
        assert!(s == ShmbusNoData || s == ShmbusUnknownSeries, "{s:?}");

        ok(shmbus_candle_reader_close(r));
        ok(shmbus_candle_writer_close(w));
        let mut w2 = null_mut();
        ok(shmbus_candles_open_writer(name.c().as_ptr(), &mut w2));
        ok(shmbus_candle_writer_close(w2));
    }
}

/// A record of the caller's own, described field by field; a reader with another layout is
/// refused, one without a layout sees the bytes.
#[test]
fn slots_of_a_custom_record() {
    #[repr(C)]
    #[derive(Debug, Clone, Copy, PartialEq, Default)]
    struct Quote {
        bid: f64,
        ask: f64,
        venue: [u8; 8],
    }
    let fields = [
        ShmbusField {
            name: c"bid".as_ptr(),
            type_: ShmbusFieldType::F64 as u32,
            offset: 0,
            size: 0,
        },
        ShmbusField {
            name: c"ask".as_ptr(),
            type_: ShmbusFieldType::F64 as u32,
            offset: 8,
            size: 0,
        },
        ShmbusField {
            name: c"venue".as_ptr(),
            type_: ShmbusFieldType::Bytes as u32,
            offset: 16,
            size: 8,
        },
    ];
    let layout = ShmbusRecordLayout {
        name: c"Quote".as_ptr(),
        size: 24,
        fields: fields.as_ptr(),
        field_count: 3,
    };
    let name = TempName::new("custom");
    // SAFETY: in every call of this test: locals and handles made here.
    unsafe {
        let mut w = null_mut();
        ok(shmbus_slots_create(
            name.c().as_ptr(),
            &layout,
            8,
            0,
            &mut w,
        ));
        let q = Quote {
            bid: 1.25,
            ask: 1.5,
            venue: *b"XNAS\0\0\0\0",
        };
        ok(shmbus_slot_writer_put(
            w,
            c"EURUSD".as_ptr(),
            std::ptr::from_ref(&q).cast(),
            24,
            null_mut(),
        ));
        let mut r = null_mut();
        assert_eq!(
            shmbus_slots_open_reader(name.c().as_ptr(), shmbus_trading_data_layout(), 0, &mut r),
            ShmbusLayoutMismatch
        );
        assert!(last_error().contains("`Quote`"), "{}", last_error());
        ok(shmbus_slots_open_reader(
            name.c().as_ptr(),
            &layout,
            0,
            &mut r,
        ));
        let mut got = Quote::default();
        ok(shmbus_slot_reader_get(
            r,
            c"EURUSD".as_ptr(),
            std::ptr::from_mut(&mut got).cast(),
            24,
            null_mut(),
        ));
        assert_eq!(got, q);
        ok(shmbus_slot_reader_close(r));
        ok(shmbus_slots_open_reader(
            name.c().as_ptr(),
            null(),
            0,
            &mut r,
        ));
        let mut bytes = [0u8; 24];
        ok(shmbus_slot_reader_read(
            r,
            0,
            bytes.as_mut_ptr().cast(),
            24,
            null_mut(),
        ));
        assert_eq!(&bytes[16..20], b"XNAS");
        ok(shmbus_slot_reader_close(r));
        ok(shmbus_slot_writer_close(w));
        // The same table through the writer of another layout: refused.
        assert_eq!(
            shmbus_slots_open_writer(name.c().as_ptr(), shmbus_trading_data_layout(), &mut w),
            ShmbusLayoutMismatch
        );
    }
}

#[test]
fn error_codes_match_the_core_and_the_header() {
    use crate::status::ShmbusErrorCode;
    let core = shmbus::ErrorCode::ALL;
    assert_eq!(
        ShmbusErrorCode::ALL.len(),
        core.len() + 1,
        "a code is missing in C"
    );
    assert_eq!(ShmbusErrorCode::ALL[0] as i32, 0);
    for (c, code) in ShmbusErrorCode::ALL[1..].iter().zip(core) {
        assert_eq!(*c as i32 as u32, code.number(), "{c:?} vs {code}");
        let line = format!(
            "    SHMBUS_ERR_{} = {},",
            code.as_str().to_ascii_uppercase(),
            code.number()
        );
        assert!(GENERATED.contains(&line), "the header lacks `{line}`");
        // SAFETY: a static NUL-terminated string.
        let name = unsafe { CStr::from_ptr(shmbus_error_code_name(*c as i32)) };
        assert_eq!(name.to_str().unwrap(), code.as_str());
    }
    for n in [0, 1, 99, 12345, -1] {
        // SAFETY: as above.
        let name = unsafe { CStr::from_ptr(shmbus_error_code_name(n)) };
        assert_eq!(name.to_str().unwrap(), "", "{n}");
    }
}

/// A missing region is `not_found` and a second writer `writer_busy`, by code; an argument
/// error has no core code (0); a success leaves the last code alone.
#[test]
fn last_error_code_names_the_core_error() {
    use crate::status::ShmbusErrorCode as E;
    let name = TempName::new("codes");
    let (mut w, mut w2, mut r) = (null_mut(), null_mut(), null_mut());
    // SAFETY: NUL-terminated names, out-pointers to locals, handles made by the library and
    // closed once.
    unsafe {
        assert_eq!(
            shmbus_slots_open_reader(name.c().as_ptr(), shmbus_trading_data_layout(), 0, &mut r),
            ShmbusNotFound
        );
        assert_eq!(shmbus_last_error_code(), E::ShmbusErrNotFound as i32);
        ok(shmbus_slots_create(
            name.c().as_ptr(),
            shmbus_trading_data_layout(),
            4,
            0,
            &mut w,
        ));
        // Unchanged by a success.
        assert_eq!(shmbus_last_error_code(), E::ShmbusErrNotFound as i32);
        assert_eq!(
            shmbus_slots_open_writer(name.c().as_ptr(), shmbus_trading_data_layout(), &mut w2),
            ShmbusWriterBusy
        );
        assert_eq!(shmbus_last_error_code(), E::ShmbusErrWriterBusy as i32);
        assert_eq!(shmbus_last_error_code(), 119);
        assert_eq!(
            shmbus_slots_open_reader(null(), shmbus_trading_data_layout(), 0, &mut r),
            ShmbusInvalidArgument
        );
        assert_eq!(shmbus_last_error_code(), E::ShmbusErrNone as i32);
        ok(shmbus_slot_writer_close(w));
    }
}
