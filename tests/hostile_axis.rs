//! The hostile corpus over the real RabbitMQ, against a real receiving
//! adapter: every case of the hostile-input table (`docaxis_suites::hostile`)
//! plus hostile AMQP messages (missing or lying headers, a replayed
//! document, an unknown recipient, a sender claiming another agency's id).
//!
//! Each document-level case is published to G12's queue as if G22 sent it.
//! It must end in G12's dead-letter queue with the same reason the verifier
//! gives (the table's own test proves that reason is the right one), nothing
//! may reach the inbox, the adapter must keep running (no panic), and where
//! the document names a sender the directory lists, that sender hears a
//! signed 02. The table is printed for the record.
//!
//! `cargo test -p docaxis-suites --test hostile_axis -- --nocapture`

use std::collections::BTreeMap;
use std::time::Duration;

use docaxis_adapter::Config;
use docaxis_axis::provision::{self, Credential};
use docaxis_axis::{AxisError, Envelope};
use docaxis_directory::{keys, SignedDirectory};
use docaxis_dsig::verify;
use docaxis_edxml::{Message, ParseLimits, StatusCode};
use docaxis_suites::agencies::{eventually, files, InProcess, Vhost};
use docaxis_suites::hostile::cases;
use docaxis_suites::*;
use lapin::options::{BasicGetOptions, BasicPublishOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use time::OffsetDateTime;

/// G12's adapter with the fixture's directory, on `url`, in `dir`.
fn receiver_config(dir: &std::path::Path, url: &str) -> Config {
    let fx = Fixture::new();
    SignedDirectory::sign(&fx.directory, &fx.root)
        .unwrap()
        .save_new(&dir.join("directory.json"))
        .unwrap();
    keys::write_public_key(&dir.join("root.pub"), &fx.root.verifying_key()).unwrap();
    keys::write_private_key(&dir.join("g12.key"), &key(2)).unwrap();
    let text = format!(
        "organ_id = \"{G12}\"\nkey_file = \"{}\"\nkey_id = \"G12-2022\"\ndirectory = \"{}\"\nroot_pub = \"{}\"\naxis = \"{url}\"\ndata_dir = \"{}\"\nscan_interval_ms = 20\n",
        dir.join("g12.key").display(),
        dir.join("directory.json").display(),
        dir.join("root.pub").display(),
        dir.join("g12").display(),
    );
    Config::from_toml(&text, &dir.join("g12.toml"), |_| None).unwrap()
}

/// A raw AMQP message to G12's inbox queue, with exactly `headers`.
async fn publish_raw(url: &str, headers: FieldTable, payload: &[u8]) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(Default::default()).await.unwrap();
    ch.basic_publish(
        "docaxis.documents".into(),
        G12.into(),
        BasicPublishOptions::default(),
        payload,
        BasicProperties::default()
            .with_delivery_mode(2)
            .with_headers(headers),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    ch.close(200, "done".into()).await.unwrap();
    conn.close(200, "done".into()).await.unwrap();
}

fn header(h: &mut FieldTable, k: &str, v: &str) {
    h.insert(
        k.into(),
        AMQPValue::LongString(v.as_bytes().to_vec().into()),
    );
}

/// The refusal reasons in G12's dead-letter queue, read with plain AMQP
/// (a malformed envelope cannot be read back through the axis interface).
async fn dead_letter_reasons(url: &str, n: usize) -> Vec<(Vec<u8>, String)> {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while out.len() < n {
        match ch
            .basic_get(
                format!("docaxis.dlq.{G12}").as_str().into(),
                BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap()
        {
            Some(m) => {
                let reason = m
                    .properties
                    .headers()
                    .as_ref()
                    .and_then(|h| h.inner().get("x-docaxis-refusal-reason").cloned())
                    .map(|v| match v {
                        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into(),
                        other => format!("{other:?}"),
                    })
                    .unwrap_or_else(|| "(no reason header)".into());
                out.push((m.delivery.data.clone(), reason));
            }
            None => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "only {} of {n} messages in G12's dead-letter queue",
                    out.len()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    ch.close(200, "done".into()).await.unwrap();
    conn.close(200, "done".into()).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hostile_corpus_is_refused_over_the_axis() {
    let vhost = Vhost::new("hostile");
    let url = vhost.url();
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new();
    let axis = docaxis_axis::connect(Some(&url)).await.unwrap();
    axis.setup(&[G22, G12, H41, G09]).await.unwrap();

    // 1. The table, as documents G22 published to G12. Cases whose refusal
    // depends on the table's fixed clock (a key "not yet valid" in 2022 is
    // valid today) or on limits stricter than the adapter's are left to
    // tests/hostile_input.rs: the expected reason is what the verifier says
    // today, with the adapter's limits, and it must be a refusal.
    let now = OffsetDateTime::now_utc();
    let mut expected: BTreeMap<Vec<u8>, (String, String)> = BTreeMap::new();
    let mut skipped = Vec::new();
    for c in cases() {
        if c.limits != ParseLimits::default() {
            skipped.push(format!("{} (needs stricter limits)", c.name));
            continue;
        }
        match verify(&c.input, &fx.directory, now, &ParseLimits::default()) {
            Ok(_) => skipped.push(format!(
                "{} (refused only at the table's 2022 clock)",
                c.name
            )),
            Err(e) => {
                let env =
                    Envelope::document(G22, vec![G12.into()], "G22-2022", c.input.clone()).unwrap();
                axis.publish(&env).await.unwrap();
                expected.insert(c.input, (c.name.to_owned(), e.to_string()));
            }
        }
    }

    // 2. Hostile AMQP messages around a valid document.
    let valid = sign(&fx.signer(G22), document());
    let mut amqp: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    // Envelope headers missing altogether.
    let bare = replace_once(&valid, "Hà Nội", "Hà Nội (no headers)");
    publish_raw(&url, FieldTable::default(), &bare).await;
    amqp.push((
        "AMQP message without docaxis headers",
        bare,
        "missing header",
    ));
    // A digest header that is not the payload's digest.
    let lying = replace_once(&valid, "Hà Nội", "Hà Nội (lying digest)");
    let mut h = FieldTable::default();
    for (k, v) in [
        ("x-docaxis-kind", "document"),
        ("x-docaxis-sender", G22),
        ("x-docaxis-recipients", G12),
        ("x-docaxis-key-id", "G22-2022"),
        ("x-docaxis-digest", &"0".repeat(64)),
    ] {
        header(&mut h, k, v);
    }
    publish_raw(&url, h, &lying).await;
    amqp.push(("digest header that lies", lying, "digest"));
    // The envelope names another sender than the one who signed.
    let wrong_sender =
        Envelope::document(G09, vec![G12.into()], "G22-2022", valid.clone()).unwrap();
    axis.publish(&wrong_sender).await.unwrap();
    let wrong_sender_payload = valid.clone();

    // Start the receiver.
    let receiver = InProcess::start_with(vec![receiver_config(dir.path(), &url)]).await;

    // Every table case and every hostile AMQP message is dead-lettered.
    let n = expected.len() + amqp.len() + 1;
    let dead = dead_letter_reasons(&url, n).await;
    let mut failures = Vec::new();
    println!("| # | case | dead-lettered with |\n|---|---|---|");
    let mut row = 0;
    for (payload, reason) in &dead {
        row += 1;
        let short: String = reason.chars().take(140).collect();
        if let Some((name, want)) = expected.get(payload) {
            println!("| {row} | {name} | {short} |");
            if !reason.contains(want.as_str()) {
                failures.push(format!("{name}: reason {reason:?}, expected {want:?}"));
            }
        } else if let Some((name, _, want)) = amqp.iter().find(|(_, p, _)| p == payload) {
            println!("| {row} | {name} | {short} |");
            if !reason.contains(want) {
                failures.push(format!("{name}: reason {reason:?}, expected {want:?}"));
            }
        } else if *payload == wrong_sender_payload {
            println!("| {row} | envelope sender that is not the signer | {short} |");
            if !reason.contains("the envelope says the sender is") {
                failures.push(format!("wrong sender: reason {reason:?}"));
            }
        } else {
            failures.push(format!("unexpected dead letter: {reason}"));
        }
    }
    for s in &skipped {
        println!("| - | {s} | (checked by hostile_input only) |");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        dead.len() >= 50,
        "the corpus over the axis must hold at least 50 cases, has {}",
        dead.len()
    );

    // 3. Replaying a valid document: delivered once, the replay dropped.
    for _ in 0..2 {
        let env = Envelope::document(G22, vec![G12.into()], "G22-2022", valid.clone()).unwrap();
        axis.publish(&env).await.unwrap();
    }
    let inbox = dir.path().join("g12").join("inbox");
    eventually(30, "the valid document in G12's inbox", || {
        files(&inbox).len() == 1
    })
    .await;
    eventually(30, "the replay recognised as a duplicate", || {
        receiver.adapters[0]
            .metrics
            .duplicates
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    })
    .await;
    assert_eq!(files(&inbox).len(), 1, "the replay reached the inbox");

    // 4. An unknown recipient is reported to the publisher, not dropped.
    let env = Envelope::document(
        G22,
        vec![G12.into(), "000.00.00.X99".into()],
        "G22-2022",
        valid.clone(),
    )
    .unwrap();
    match axis.publish(&env).await {
        Err(AxisError::Unroutable { .. }) => {}
        other => panic!("an unknown recipient must be reported: {other:?}"),
    }

    // 5. The broker itself refuses a sender claiming another agency's id:
    // G22's own broker user cannot publish with user_id G12.
    let cred = Credential {
        user: G22.into(),
        password: provision::generate_password().unwrap(),
    };
    provision::provision("docaxis", &vhost.name, std::slice::from_ref(&cred), None).unwrap();
    let as_g22 = format!(
        "amqp://{}:{}@127.0.0.1:5672/{}",
        cred.user, cred.password, vhost.name
    );
    let impostor = docaxis_axis::connect(Some(&as_g22)).await.unwrap();
    let claim = Envelope::document(G12, vec![H41.into()], "G12-2022", valid.clone()).unwrap();
    assert!(
        impostor.publish(&claim).await.is_err(),
        "the broker accepted a message whose sender is not the connection's user"
    );
    let _ = impostor.close().await;
    provision::delete_users(&[G22]).unwrap();

    // Nothing hostile reached the inbox; every 02 G22 received is signed by
    // G12 and says why.
    assert_eq!(files(&inbox).len(), 1);
    let mut statuses = axis.consume(G22).await.unwrap();
    let mut refusals = 0;
    while let Some(d) = statuses.next_timeout(Duration::from_secs(3)).await {
        let d = d.unwrap();
        let v = verify(
            d.envelope.payload(),
            &fx.directory,
            now,
            &ParseLimits::default(),
        )
        .expect("statuses to G22 verify");
        if let Message::Status(s) = &v.message {
            assert_eq!(v.signer.as_str(), G12);
            if s.status_code == StatusCode::Refused {
                assert!(!s.description.is_empty(), "a 02 says why");
                refusals += 1;
            }
        }
        d.ack().await.unwrap();
    }
    println!(
        "{} cases over the axis, {} dead-lettered with their reasons, {refusals} answered with a signed 02, {} left to the verifier table",
        n,
        dead.len(),
        skipped.len()
    );
    assert!(refusals > 0, "no 02 reached G22");
    receiver.stop().await;
    axis.close().await.unwrap();
}
