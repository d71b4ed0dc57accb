//! Waiting for journal messages without blocking the event loop.
//!
//! A `JournalWatcher` owns a journal reader on a thread of its own (not libuv's pool, which a
//! few idle watchers would otherwise fill). JavaScript asks for the next batch with `pull()`,
//! which returns a Promise at once; the thread reads what is committed or, if nothing is, sleeps
//! on the journal's futex until the writer's commit wakes it (the core's `next_timeout`), then
//! resolves the Promise through a thread-safe function. Nothing polls, and the thread reads only
//! when asked, so a slow consumer holds back its reader (and, in a ring, is told `OVERRUN` if
//! the writer laps it) instead of queueing without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use napi::bindgen_prelude::{Buffer, Either, Object};
use napi::{Env, JsDeferred};
use napi_derive::napi;
use shmbus::journal::JournalReader as CoreReader;

use crate::errors::{self, Facts, OrThrow};
use crate::journal::{drain, start_arg, u64_arg};

/// Longest single sleep on the futex, so that a closed watcher's thread notices within it.
const SLICE: Duration = Duration::from_millis(100);

type Outcome = Result<Option<Vec<u8>>, Facts>;
type Resolver = Box<dyn FnOnce(Env) -> napi::Result<Option<Buffer>> + Send>;

/// The answer to one `pull()`. Dropped unanswered, it resolves to `null`: a Promise left
/// pending would keep the event loop alive forever.
struct Reply(Option<JsDeferred<Option<Buffer>, Resolver>>);

impl Reply {
    fn send(mut self, outcome: Outcome) {
        if let Some(d) = self.0.take() {
            d.resolve(Box::new(move |env: Env| match outcome {
                Ok(batch) => Ok(batch.map(Buffer::from)),
                Err(f) => Err(f.into_napi(&env)),
            }));
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            d.resolve(Box::new(|_| Ok(None)));
        }
    }
}

struct Pull {
    reply: Reply,
    max_messages: u32,
    max_bytes: usize,
    deadline: Option<Instant>,
}

/// Serves pulls until the watcher is closed (its sender dropped).
fn run(mut reader: CoreReader, rx: Receiver<Pull>, stop: Arc<AtomicBool>, seq: Arc<AtomicU64>) {
    let mut pending: Option<Facts> = None;
    while let Ok(pull) = rx.recv() {
        let outcome = serve(&mut reader, &pull, &stop, &mut pending);
        seq.store(reader.next_seq(), Ordering::Relaxed);
        pull.reply.send(outcome);
    }
}

fn serve(
    r: &mut CoreReader,
    pull: &Pull,
    stop: &AtomicBool,
    pending: &mut Option<Facts>,
) -> Outcome {
    if let Some(e) = pending.take() {
        return Err(e);
    }
    let mut out = Vec::new();
    loop {
        match drain(r, &mut out, pull.max_messages, pull.max_bytes) {
            Ok(_) if !out.is_empty() => return Ok(Some(out)),
            Ok(_) => {}
            Err(e) if out.is_empty() => return Err(errors::journal(&e)),
            Err(e) => {
                // Deliver what was read before the error; the error comes with the next pull.
                *pending = Some(errors::journal(&e));
                return Ok(Some(out));
            }
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let now = Instant::now();
        let wait = match pull.deadline {
            Some(d) if d <= now => return Ok(None),
            Some(d) => (d - now).min(SLICE),
            None => SLICE,
        };
        // Sleeps on the futex until a commit (or `wait`); the first message found is the
        // batch's first, the loop then takes what else is committed.
        match r.next_timeout(wait) {
            Ok(Some(m)) => {
                crate::journal::encode(&mut out, &m);
                if pull.max_messages <= 1 {
                    return Ok(Some(out));
                }
            }
            Ok(None) => {}
            Err(e) => return Err(errors::journal(&e.into())),
        }
    }
}

/// Waits for journal messages on a thread of its own and hands them over in batches, through
/// Promises: the event loop never blocks. Used by `index.js` for `for await`, rxjs streams and
/// `getAll`.
#[napi]
#[derive(Debug)]
pub struct JournalWatcher {
    tx: Option<Sender<Pull>>,
    stop: Arc<AtomicBool>,
    seq: Arc<AtomicU64>,
}

#[napi]
impl JournalWatcher {
    /// Opens a reader of journal `name` at `from` (`'beginning'`, `'end'` (default) or a
    /// sequence number) and starts its thread.
    #[napi(constructor)]
    pub fn new(env: &Env, name: String, from: Option<Either<String, f64>>) -> napi::Result<Self> {
        let start = match from {
            None => shmbus::journal::Start::End,
            f => start_arg(f).or_throw(env)?,
        };
        let reader = CoreReader::open(&name, start).or_throw(env)?;
        let seq = Arc::new(AtomicU64::new(reader.next_seq()));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let (s, q) = (stop.clone(), seq.clone());
        std::thread::Builder::new()
            .name("shmbus-watch".into())
            .spawn(move || run(reader, rx, s, q))
            .map_err(|e| {
                Facts::new("IO", format!("cannot start the watcher thread: {e}")).into_napi(env)
            })?;
        Ok(Self {
            tx: Some(tx),
            stop,
            seq,
        })
    }

    /// The next batch (batch encoding) of up to `maxMessages` messages and about `maxBytes`
    /// bytes: at once if some are committed, else as soon as the writer commits. Resolves to
    /// `null` after `timeoutMs` (if given) or once the watcher is closed; rejects with the
    /// journal's error (e.g. `OVERRUN`, after which the watcher continues at the oldest stored
    /// message).
    #[napi(ts_return_type = "Promise<Buffer | null>")]
    pub fn pull<'e>(
        &self,
        env: &'e Env,
        max_messages: u32,
        max_bytes: u32,
        timeout_ms: Option<f64>,
    ) -> napi::Result<Object<'e>> {
        let deadline = match timeout_ms {
            Some(ms) => {
                let ms = u64_arg(ms.ceil().max(0.0), "timeoutMs").or_throw(env)?;
                Some(Instant::now() + Duration::from_millis(ms))
            }
            None => None,
        };
        let (deferred, promise) = env.create_deferred::<Option<Buffer>, Resolver>()?;
        let pull = Pull {
            reply: Reply(Some(deferred)),
            max_messages: max_messages.max(1),
            max_bytes: (max_bytes as usize).max(1),
            deadline,
        };
        match &self.tx {
            // A closed watcher (or a dead thread): the pull is dropped here, resolving `null`.
            Some(tx) => drop(tx.send(pull)),
            None => drop(pull),
        }
        Ok(promise)
    }

    /// The sequence number of the next message the watcher will deliver (as of its last batch).
    #[napi(getter)]
    pub fn next_seq(&self) -> f64 {
        self.seq.load(Ordering::Relaxed) as f64
    }

    /// Whether `close()` was called.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.tx.is_none()
    }

    /// Stops the thread: a pending `pull()` resolves `null` (within 100 ms), later ones at once.
    #[napi]
    pub fn close(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.tx = None;
    }
}

impl Drop for JournalWatcher {
    fn drop(&mut self) {
        self.close();
    }
}
