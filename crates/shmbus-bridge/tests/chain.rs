//! The server behaviour the exactly-once argument rests on (docs/BRIDGE.md), checked on the
//! real nats-server: a chained publish whose predecessor is missing is refused, so the stream
//! never holds a hole; a resend of a stored message is acked as a duplicate even when its
//! chain header is stale (so rewinding is safe); and `run_out` repairs the hazard of a
//! message lost in the middle of a pipelined window.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use shmbus::journal::JournalWriter;
use shmbus_bridge::nats_server::NatsServer;
use shmbus_bridge::{From, H_SEQ, OutOptions, msg_id, run_out};

async fn publish(
    js: &jetstream::Context,
    id: &str,
    expected: Option<&str>,
) -> Result<jetstream::publish::PublishAck, jetstream::context::PublishError> {
    let mut h = HeaderMap::new();
    h.insert("Nats-Msg-Id", id);
    if let Some(e) = expected {
        h.insert("Nats-Expected-Last-Msg-Id", e);
    }
    js.publish_with_headers("c.a", h, "x".into()).await?.await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chained_publish_after_a_missing_one_is_refused_and_a_resend_is_a_duplicate() {
    let server = NatsServer::start();
    let js = jetstream::new(shmbus_bridge::connect(&server.url()).await.unwrap());
    js.create_stream(stream::Config {
        name: "C".into(),
        subjects: vec!["c.a".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    publish(&js, "m0", None).await.unwrap();
    publish(&js, "m1", Some("m0")).await.unwrap();
    // m2 is lost in flight; m3, pipelined behind it, must not be stored.
    let e = publish(&js, "m3", Some("m2")).await.unwrap_err();
    assert_eq!(e.kind(), PublishErrorKind::WrongLastMessageId);
    // The bridge rewinds and resends from m1 on: m1 is a duplicate (its chain header is stale
    // now that m1 is the last), m2 and m3 are stored in order.
    let a = publish(&js, "m1", Some("m0")).await.unwrap();
    assert!(
        a.duplicate,
        "a resend of a stored message is a duplicate, not an error"
    );
    assert_eq!(publish(&js, "m2", Some("m1")).await.unwrap().sequence, 3);
    assert_eq!(publish(&js, "m3", Some("m2")).await.unwrap().sequence, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_out_resumes_after_the_streams_last_message_with_no_hole() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("A").display().to_string();
    let mut w = JournalWriter::builder(&a).ring(1 << 20).create().unwrap();
    for i in 0..100u64 {
        w.append(1, &i.to_le_bytes()).unwrap();
    }
    w.commit();
    let o = OutOptions {
        journal: a.clone(),
        url: server.url(),
        auth: Default::default(),
        stream: "R".into(),
        subject: "r.a".into(),
        from: From::Start,
        window: 16,
        replicas: None,
        max_age: None,
        max_bytes: None,
    };
    let stop_after = |d| {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            let _ = tx.send(true);
        });
        rx
    };
    let s = run_out(&o, stop_after(Duration::from_millis(500)))
        .await
        .unwrap();
    assert_eq!((s.published, s.next_seq), (100, 100));
    // A pipelined publish of message 101 whose predecessor (100) never arrived is refused.
    let js = jetstream::new(shmbus_bridge::connect(&server.url()).await.unwrap());
    let jid = shmbus::journal::JournalReader::open(&a, shmbus::journal::Start::Beginning)
        .unwrap()
        .file_created_ns();
    let mut h = HeaderMap::new();
    h.insert("Nats-Msg-Id", msg_id(jid, 101).as_str());
    h.insert("Nats-Expected-Last-Msg-Id", msg_id(jid, 100).as_str());
    let e = js
        .publish_with_headers("r.a", h, "x".into())
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PublishErrorKind::WrongLastMessageId);
    // More messages; the bridge resumes from the stream's last one (99): 100.. follow in order.
    for i in 100..150u64 {
        w.append(1, &i.to_le_bytes()).unwrap();
    }
    w.commit();
    let s = run_out(&o, stop_after(Duration::from_millis(500)))
        .await
        .unwrap();
    assert_eq!((s.published, s.duplicates, s.next_seq), (50, 0, 150));
    let st = js.get_stream("R").await.unwrap();
    for i in 0..150u64 {
        let m = st.get_raw_message(i + 1).await.unwrap();
        assert_eq!(m.headers.get(H_SEQ).unwrap().as_str(), i.to_string());
        assert_eq!(&m.payload[..], &i.to_le_bytes());
    }
    assert!(st.get_raw_message(151).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_created_journal_of_the_same_name_is_published_anew() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("A").display().to_string();
    let o = OutOptions {
        journal: a.clone(),
        url: server.url(),
        auth: Default::default(),
        stream: "N".into(),
        subject: "n.a".into(),
        from: From::Start,
        window: 4,
        replicas: None,
        max_age: None,
        max_bytes: None,
    };
    let run = async |o: &OutOptions| {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            let _ = tx.send(true);
        });
        run_out(o, rx).await.unwrap()
    };
    let mut w = JournalWriter::builder(&a).ring(1 << 16).create().unwrap();
    for i in 0..10u64 {
        w.append(1, &i.to_le_bytes()).unwrap();
    }
    w.commit();
    assert_eq!(run(&o).await.published, 10);
    drop(w);
    shmbus::journal::remove(&a, true).unwrap();
    // Same name, new file: sequences 0.. again, with a new identity, so none is a duplicate.
    std::thread::sleep(Duration::from_millis(2));
    let mut w = JournalWriter::builder(&a).ring(1 << 16).create().unwrap();
    for i in 0..20u64 {
        w.append(2, &i.to_le_bytes()).unwrap();
    }
    w.commit();
    let s = run(&o).await;
    assert_eq!((s.published, s.duplicates, s.next_seq), (20, 0, 20));
    let js = jetstream::new(shmbus_bridge::connect(&server.url()).await.unwrap());
    let st = js.get_stream("N").await.unwrap();
    let m = st.get_raw_message(30).await.unwrap();
    assert_eq!(m.headers.get(H_SEQ).unwrap().as_str(), "19");
    assert_ne!(
        st.get_raw_message(1)
            .await
            .unwrap()
            .headers
            .get(shmbus_bridge::H_JOURNAL),
        m.headers.get(shmbus_bridge::H_JOURNAL)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_with_another_retention_or_storage_is_refused_saying_what_differs() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("A").display().to_string();
    JournalWriter::builder(&a).ring(1 << 16).create().unwrap();
    let js = jetstream::new(shmbus_bridge::connect(&server.url()).await.unwrap());
    js.create_stream(stream::Config {
        name: "W".into(),
        subjects: vec!["w.a".into()],
        retention: stream::RetentionPolicy::Interest,
        storage: stream::StorageType::Memory,
        ..Default::default()
    })
    .await
    .unwrap();
    let o = OutOptions {
        journal: a,
        url: server.url(),
        auth: Default::default(),
        stream: "W".into(),
        subject: "w.a".into(),
        from: From::Start,
        window: 4,
        replicas: None,
        max_age: Some(Duration::from_secs(60)),
        max_bytes: None,
    };
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let e = format!("{:#}", run_out(&o, rx).await.unwrap_err());
    assert!(
        e.starts_with("stream W exists with another configuration"),
        "{e}"
    );
    for what in [
        "retention Interest",
        "storage Memory",
        "max age 0ns (asked 60s)",
    ] {
        assert!(e.contains(what), "{what}: {e}");
    }
}
