//! A journal reader as a `futures::Stream`, for tokio (feature `tokio`).
//!
//! The futex wait must not block a runtime worker, so when no message is ready the stream hands
//! the wait to tokio's blocking pool (or a plain thread outside a runtime) and returns
//! `Pending`; the waiting thread wakes the task when the writer commits, or after 100 ms at
//! most. Readers and mappings are ordinary `Send` values: nothing about async makes shared
//! memory unsafe (seed 003's SIGBUS came from writing through a read-only mapping).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_core::Stream;

use super::reader::JournalReader;
use crate::error::ReadError;

/// A message with its payload copied out, as a stream yields it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedMessage {
    /// Sequence number.
    pub seq: u64,
    /// Type tag.
    pub ty: u16,
    /// Logical byte position of the frame.
    pub position: u64,
    /// The payload.
    pub payload: Vec<u8>,
}

/// An endless stream of a journal's messages (see [`JournalReader::into_stream`]).
#[derive(Debug)]
pub struct JournalStream {
    reader: JournalReader,
    waiting: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
}

/// Longest a waiting thread sleeps before it lets the task poll again.
const MAX_WAIT: Duration = Duration::from_millis(100);

impl JournalReader {
    /// Turns this reader into a `Stream` of messages that waits without blocking the runtime.
    pub fn into_stream(self) -> JournalStream {
        JournalStream {
            reader: self,
            waiting: Arc::new(AtomicBool::new(false)),
            waker: Arc::new(Mutex::new(None)),
        }
    }
}

impl JournalStream {
    /// The underlying reader (e.g. for [`JournalReader::next_seq`]).
    pub fn reader(&self) -> &JournalReader {
        &self.reader
    }
}

impl Stream for JournalStream {
    type Item = Result<OwnedMessage, ReadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // A reader with a backlog is always ready: spend the task's tokio budget like tokio's
        // own channels do, so that it yields now and then instead of starving the other tasks
        // of its worker thread.
        let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
        match this.reader.next_or_token() {
            Ok(Some(m)) => {
                coop.made_progress();
                return Poll::Ready(Some(Ok(OwnedMessage {
                    seq: m.seq,
                    ty: m.ty,
                    position: m.position,
                    payload: m.payload.to_vec(),
                })));
            }
            Err(e) => {
                coop.made_progress();
                return Poll::Ready(Some(Err(e)));
            }
            Ok(None) => {}
        }
        *this.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
        // AcqRel: the Acquire pairs with the waiting thread's Release store of `false` below (its
        // wait is over before another starts); the Release orders the waker stored above.
        if !this.waiting.swap(true, Ordering::AcqRel) {
            let (seg, pos) = (this.reader.segment(), this.reader.wait_token());
            let (waiting, waker) = (this.waiting.clone(), this.waker.clone());
            // The wait compares the commit word with the value `next` above loaded: a commit that
            // landed since returns at once, so no wake-up is lost.
            let wait = move || {
                seg.wait_commit(pos, Instant::now() + MAX_WAIT, Duration::ZERO);
                // Release: pairs with the AcqRel swap above.
                waiting.store(false, Ordering::Release);
                if let Some(w) = waker.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    w.wake();
                }
            };
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => drop(handle.spawn_blocking(wait)),
                Err(_) => drop(std::thread::spawn(wait)),
            }
        }
        Poll::Pending
    }
}
