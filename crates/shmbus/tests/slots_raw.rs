//! Slot tables whose record layout is known only at run time (what the bindings use): they
//! share the protocol and the layout fingerprint with typed tables.

use shmbus::{
    FieldType, RawSlotReader, RawSlotWriter, Record, RecordLayoutBuf, RegionError, SlotError,
    SlotReadError, SlotReader, SlotWriteError, SlotWriter, TradingData,
};

fn name(tag: &str) -> String {
    format!("/shmbus-test-raw-{tag}-{}", std::process::id())
}

struct Cleanup(String);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = shmbus::Region::remove(&self.0, true);
    }
}

fn trading_layout() -> RecordLayoutBuf {
    RecordLayoutBuf::new("TradingData", 24)
        .field("price", FieldType::F64, 0)
        .field("timestamp", FieldType::U64, 8)
        .field("volume", FieldType::I32, 16)
        .field("valid", FieldType::Bool, 20)
}

#[test]
fn a_raw_table_with_trading_fields_is_read_by_the_typed_reader_and_back() {
    let n = name("typed");
    let _c = Cleanup(n.clone());
    let mut raw = RawSlotWriter::builder(&n, trading_layout())
        .capacity(4)
        .create()
        .unwrap();
    assert_eq!(raw.record_size(), 24);
    let rec = TradingData::new(101.5, 9, 1234);
    raw.put("ETH", bytemuck::bytes_of(&rec)).unwrap();
    let typed = SlotReader::<TradingData>::open(&n).unwrap();
    let got = typed.get("ETH").unwrap().unwrap();
    assert_eq!(got.value, rec);
    assert_eq!(got.seq, 2);
    drop(raw);

    // The typed writer takes over the same table; the raw reader sees its writes.
    let mut typed_w = SlotWriter::<TradingData>::open(&n).unwrap();
    typed_w.put("BTC", &TradingData::new(7.25, 1, 5)).unwrap();
    let reader = RawSlotReader::open(&n, Some(&trading_layout())).unwrap();
    let btc = reader.get("BTC").unwrap().unwrap();
    assert_eq!(
        bytemuck::pod_read_unaligned::<TradingData>(&btc.value),
        TradingData::new(7.25, 1, 5)
    );
    let keys: Vec<_> = reader.keys().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["ETH", "BTC"]);
    // read_if_changed: unchanged gives None, a new write gives the new record.
    let id = reader.find("BTC").unwrap();
    let mut buf = [0u8; 24];
    assert_eq!(
        reader.read_into_if_changed(id, btc.seq, &mut buf).unwrap(),
        None
    );
    typed_w.put("BTC", &TradingData::new(8.0, 2, 6)).unwrap();
    let seq = reader.read_into_if_changed(id, btc.seq, &mut buf).unwrap();
    assert_eq!(seq, Some(btc.seq + 2));
    assert_eq!(bytemuck::pod_read_unaligned::<TradingData>(&buf).price, 8.0);
}

#[test]
fn a_different_runtime_layout_is_refused_at_open() {
    let n = name("mismatch");
    let _c = Cleanup(n.clone());
    let _w = RawSlotWriter::builder(&n, trading_layout())
        .capacity(2)
        .create()
        .unwrap();
    // Same size, one field renamed: a different fingerprint.
    let other = RecordLayoutBuf::new("TradingData", 24)
        .field("price", FieldType::F64, 0)
        .field("ts", FieldType::U64, 8)
        .field("volume", FieldType::I32, 16)
        .field("valid", FieldType::Bool, 20);
    match RawSlotReader::open(&n, Some(&other)) {
        Err(SlotError::Region(RegionError::LayoutMismatch { .. })) => {}
        other => panic!("expected a layout mismatch, got {other:?}"),
    }
    // Any layout: the record size comes from the table header, the name from the header.
    let any = RawSlotReader::open(&n, None).unwrap();
    assert_eq!(any.record_size(), 24);
    assert_eq!(
        trading_layout().fingerprint(),
        TradingData::LAYOUT.fingerprint()
    );
}

#[test]
fn wrong_buffers_and_bad_layouts_are_errors() {
    let n = name("sizes");
    let _c = Cleanup(n.clone());
    let layout = RecordLayoutBuf::new("Pair", 16)
        .field("a", FieldType::U64, 0)
        .field("b", FieldType::F64, 8);
    let mut w = RawSlotWriter::builder(&n, layout.clone())
        .capacity(2)
        .create()
        .unwrap();
    match w.put("X", &[0u8; 8]) {
        Err(SlotWriteError::RecordSize {
            expected: 16,
            found: 8,
            ..
        }) => {}
        other => panic!("expected RecordSize, got {other:?}"),
    }
    // Nothing was registered by the refused put.
    assert!(w.keys().is_empty());
    let id = w.put("X", &[1u8; 16]).unwrap();
    let r = RawSlotReader::open(&n, Some(&layout)).unwrap();
    let mut small = [0u8; 15];
    assert!(matches!(
        r.read_into(id, &mut small),
        Err(SlotReadError::RecordSize { .. })
    ));
    assert_eq!(r.get("X").unwrap().unwrap().value, vec![1u8; 16]);

    for bad in [
        RecordLayoutBuf::new("Odd", 12),
        RecordLayoutBuf::new("Out", 8).field("x", FieldType::U64, 4),
        RecordLayoutBuf::new("", 8),
    ] {
        let n = name("bad");
        match RawSlotWriter::builder(&n, bad).create() {
            Err(SlotError::InvalidLayout { reason, .. }) => assert!(!reason.to_string().is_empty()),
            other => panic!("expected InvalidLayout, got {other:?}"),
        }
        assert!(
            shmbus::Region::remove(&n, true).is_err(),
            "nothing was created"
        );
    }
}
