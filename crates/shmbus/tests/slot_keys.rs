//! Slot keys: a writer refuses to register a key with control characters, while a key that
//! another program stored raw stays readable (and writable by a writer that reopens the table).

use shmbus::{SlotReader, SlotWriteError, SlotWriter, TradingData};

struct Cleanup(String);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = shmbus::Region::remove(&self.0, true);
    }
}

#[test]
fn control_characters_are_refused_in_new_keys() {
    let name = format!("/shmbus-test-keys-ctl-{}", std::process::id());
    let _c = Cleanup(name.clone());
    let mut w = SlotWriter::<TradingData>::builder(&name)
        .capacity(8)
        .create()
        .unwrap();
    for bad in [
        "A\nB",
        "\u{1b}]0;PWNED\u{7}",
        "tab\there",
        "del\u{7f}",
        "csi\u{9b}31m",
    ] {
        match w.slot(bad) {
            Err(SlotWriteError::InvalidKey { reason, .. }) => {
                assert!(
                    reason.to_string().contains("control characters"),
                    "{reason}"
                );
            }
            other => panic!("{bad:?} registered: {other:?}"),
        }
    }
    // Printable keys, non-ASCII ones included, are fine; nothing was registered above.
    w.slot("BTC/USD é").unwrap();
    assert_eq!(w.keys().len(), 1);
}

#[test]
fn a_key_stored_raw_by_another_program_stays_readable() {
    let name = format!("/shmbus-test-keys-raw-{}", std::process::id());
    let _c = Cleanup(name.clone());
    let mut w = SlotWriter::<TradingData>::builder(&name)
        .capacity(8)
        .create()
        .unwrap();
    w.put("QQQQQQQQ", &TradingData::new(1.5, 2, 3)).unwrap();
    drop(w);
    // Another program rewrites the key's bytes in place (same length, control bytes in it).
    let path = format!("/dev/shm{name}");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes
        .windows(8)
        .position(|w| w == b"QQQQQQQQ")
        .expect("key bytes in the file");
    bytes[at..at + 8].copy_from_slice(b"Q\x1b]0;X\x07\n");
    std::fs::write(&path, &bytes).unwrap();

    let r = SlotReader::<TradingData>::open(&name).unwrap();
    let keys = r.keys();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].0, "Q\u{1b}]0;X\u{7}\n");
    let id = r.find("Q\u{1b}]0;X\u{7}\n").unwrap();
    assert_eq!(r.read(id).unwrap().unwrap().value.price, 1.5);
    let mut w = SlotWriter::<TradingData>::open(&name).unwrap();
    w.put("Q\u{1b}]0;X\u{7}\n", &TradingData::new(2.5, 2, 3))
        .unwrap();
    assert_eq!(r.read(id).unwrap().unwrap().value.price, 2.5);
}
