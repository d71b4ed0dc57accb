//! The cost of registering a journal reader (docs/FORMAT.md 7) on `JournalReader::next`: a
//! registered and an unregistered reader of two identical rings, timed in alternating stretches
//! of 4096 messages, so that a drift of the machine (other processes, frequency) hits both alike.
//! Prints each one's median time per message and their ratio, measured in the same run.
//!
//! Run with `cargo bench -p shmbus --bench readers`.

use std::hint::black_box;
use std::time::Instant;

use shmbus::journal::{JournalReader, JournalWriter, Start};

/// The journals, removed (with their reader registries) when the benchmark ends, even by a panic.
struct Journals(Vec<String>);

impl Drop for Journals {
    fn drop(&mut self) {
        for j in &self.0 {
            let _ = shmbus::journal::remove(j, true);
        }
    }
}

fn main() {
    let dir = if std::path::Path::new(shmbus::SHM_DIR).is_dir() {
        std::path::PathBuf::from(shmbus::SHM_DIR)
    } else {
        std::env::temp_dir()
    };
    let names: Vec<String> = ["plain", "registered"]
        .iter()
        .map(|t| {
            let f = format!("shmbus-bench-readers-{}-{t}", std::process::id());
            dir.join(f).to_string_lossy().into_owned()
        })
        .collect();
    let journals = Journals(names);
    let ring = |name: &str| {
        JournalWriter::builder(name)
            .ring(16 << 20)
            .populate(true)
            .create()
            .expect("create the benchmark's journal")
    };
    let (mut wa, mut wb) = (ring(&journals.0[0]), ring(&journals.0[1]));
    let mut ra = JournalReader::open(&journals.0[0], Start::Beginning).expect("open a reader");
    let mut rb = JournalReader::open(&journals.0[1], Start::Beginning).expect("open a reader");
    rb.register("bench").expect("register the reader");
    let msg = [7u8; 64];
    const STRETCH: usize = 4096;
    const ROUNDS: usize = 2000;
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Fill outside the timed stretches, well inside the ring: never lapped.
        for _ in 0..STRETCH {
            wa.append(1, &msg).expect("append");
            wb.append(1, &msg).expect("append");
        }
        wa.commit();
        wb.commit();
        let stretch = |r: &mut JournalReader| {
            let t = Instant::now();
            for _ in 0..STRETCH {
                black_box(
                    r.next()
                        .expect("next")
                        .expect("a committed message")
                        .payload,
                );
            }
            t.elapsed().as_nanos() as f64 / STRETCH as f64
        };
        // Alternate which goes first.
        if round % 2 == 0 {
            ta.push(stretch(&mut ra));
            tb.push(stretch(&mut rb));
        } else {
            tb.push(stretch(&mut rb));
            ta.push(stretch(&mut ra));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, b) = (median(&mut ta), median(&mut tb));
    println!(
        "next_64B, {ROUNDS} alternating stretches of {STRETCH} messages: unregistered median \
         {a:.2} ns, registered {b:.2} ns, ratio {:.3}",
        b / a
    );
}
