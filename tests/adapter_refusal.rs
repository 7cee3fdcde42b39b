//! Refusal over the real RabbitMQ: documents that must not reach an inbox
//! end in the receiver's dead-letter queue with their reason, and whoever
//! can be told is told with status 02.
//!
//! The sending agency G22 runs its real adapter and sends three documents.
//! An attacker with access to the broker (played by this test through the
//! axis interface) takes them off the queues before the receiver G12 starts
//! and puts back:
//!
//! * **forged**: the document with its signature replaced by one made with
//!   another agency's private key under G22's key name;
//! * **tampered**: the document with its content changed after signing;
//! * **wrong recipient**: a document G22 addressed to H41 only, published to
//!   G12's queue with an envelope that lies about the recipients (routing
//!   would never send it there).
//!
//! In each case G22 is a real agency that sent the document: the 02 with
//! the reason lands in G22's record of it (`sent/`), beside the recipients'
//! other statuses.
//!
//! And two documents from unknown senders:
//!
//! * **unknown agency**: From is an OrganId the directory does not list,
//!   signed with a key it does not list. There is no verified sender to
//!   sign a status to, and no agency by that id on the axis to route one
//!   to: the receiver sends no 02. The refusal and its reason are kept in
//!   the dead-letter queue, where the axis operator sees them.
//! * **unlisted key of a listed agency**: From is G22, but the key is not
//!   G22's. Nobody can say who signed it; G22, in whose name it was sent, is
//!   told (a 02 in its `status-inbox/`, since it has no record of sending
//!   such a document), because someone may be sending in its name.

use std::collections::BTreeMap;
use std::time::Duration;

use docaxis_axis::{Axis, Envelope};
use docaxis_dsig::Signer;
use docaxis_suites::agencies::*;

const G22: &str = "000.00.00.G22";
const G12: &str = "000.00.00.G12";
const H41: &str = "000.00.00.H41";
/// An agency that is not in the directory.
const X99: &str = "000.00.00.X99";

/// The signed document with its `Signature` element taken out.
fn strip_signature(signed: &[u8]) -> Vec<u8> {
    let s = std::str::from_utf8(signed).unwrap();
    let start = s.find("<Signature xmlns=").expect("a signed document");
    let end = s.find("</Signature>").unwrap() + "</Signature>".len();
    [&s[..start], &s[end..]].concat().into_bytes()
}

/// Takes the next delivery from `agency`'s queue (the attacker's read).
async fn intercept(axis: &dyn Axis, agency: &str, n: usize) -> Vec<Vec<u8>> {
    let mut queue = axis.consume(agency).await.unwrap();
    let mut taken = Vec::new();
    for _ in 0..n {
        let d = queue
            .next_timeout(Duration::from_secs(90))
            .await
            .expect("a document on the queue")
            .unwrap();
        taken.push(d.envelope.payload().to_vec());
        d.ack().await.unwrap();
    }
    queue.close().await.unwrap();
    taken
}

fn payload_with<'a>(payloads: &'a [Vec<u8>], marker: &str) -> &'a [u8] {
    payloads
        .iter()
        .find(|p| String::from_utf8_lossy(p).contains(marker))
        .unwrap_or_else(|| panic!("no intercepted document contains {marker:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_documents_are_dead_lettered_with_reasons_and_answered_with_02() {
    let vhost = Vhost::new("refusal");
    let t = TestAxis::new(Some(vhost.url()));
    let axis = docaxis_axis::connect(Some(&t.axis_url)).await.unwrap();
    axis.setup(&[G22, G12, H41]).await.unwrap();

    // G22 sends three documents; nobody is receiving yet.
    let sender = InProcess::start(&t, &[G22]).await;
    let sent: [(&str, &[&str]); 3] = [
        ("Văn bản A: chi 100 triệu đồng.", &[G12]),
        ("Văn bản B: chi 200 triệu đồng.", &[G12]),
        ("Văn bản C: chỉ gửi Nghệ An.", &[H41]),
    ];
    for (n, (text, to)) in sent.iter().enumerate() {
        t.drop_in_outbox(
            G22,
            &format!("cv{n}.xml"),
            &TestAxis::document(G22, to, n, text),
        );
    }
    eventually(90, "G22's three documents confirmed by the axis", || {
        let r = sent_records(&t, G22);
        r.len() == 3 && r.iter().all(|r| !r["sent_at"].is_null())
    })
    .await;

    // The attacker takes them off the queues and puts back altered copies.
    let at_g12 = intercept(&*axis, G12, 2).await;
    let at_h41 = intercept(&*axis, H41, 1).await;
    let original_a = payload_with(&at_g12, "Văn bản A");
    let forged = Signer::new(t.keys[2].clone(), key_id(G22))
        .sign(&strip_signature(original_a), &Default::default())
        .unwrap();
    let tampered =
        docaxis_suites::replace_once(payload_with(&at_g12, "Văn bản B"), "200 triệu", "900 triệu");
    let misrouted = payload_with(&at_h41, "Văn bản C").to_vec();

    // Unknown senders, published directly.
    let unknown_agency = Signer::new(
        docaxis_directory::SigningKey::from_bytes(&[99; 32]),
        "X99-test",
    )
    .sign(
        &TestAxis::document(X99, &[G12], 4, "Văn bản D của một cơ quan lạ."),
        &Default::default(),
    )
    .unwrap();
    let unlisted_key = Signer::new(
        docaxis_directory::SigningKey::from_bytes(&[98; 32]),
        "G22-rogue",
    )
    .sign(
        &TestAxis::document(G22, &[G12], 5, "Văn bản E, khóa không đăng ký."),
        &Default::default(),
    )
    .unwrap();

    // Case → (envelope sender, key id, payload, what the reason must say).
    let cases: [(&str, &str, &str, Vec<u8>, &str); 5] = [
        (
            "forged",
            G22,
            "G22-test",
            forged,
            "does not verify with key G22-test",
        ),
        (
            "tampered",
            G22,
            "G22-test",
            tampered,
            "changed after signing",
        ),
        (
            "wrong recipient",
            G22,
            "G22-test",
            misrouted,
            "000.00.00.G12 is not among the document's recipients",
        ),
        (
            "unknown agency",
            X99,
            "X99-test",
            unknown_agency,
            "\"X99-test\", which is not in the agency directory",
        ),
        (
            "unlisted key",
            G22,
            "G22-rogue",
            unlisted_key,
            "\"G22-rogue\", which is not in the agency directory",
        ),
    ];
    let mut expected = BTreeMap::new();
    for (case, from, key, payload, reason) in cases {
        // The lying header: G12 as the recipient, whatever the document says.
        let env = Envelope::document(from, vec![G12.into()], key, payload).unwrap();
        axis.publish(&env).await.unwrap();
        expected.insert(env.message_id().to_owned(), (case, reason));
    }

    // Now the receiver starts.
    let receiver = InProcess::start(&t, &[G12]).await;
    let mut dlq = axis.dead_letters(G12).await.unwrap();
    let mut reasons = BTreeMap::new();
    while reasons.len() < expected.len() {
        let d = dlq
            .next_timeout(Duration::from_secs(90))
            .await
            .unwrap_or_else(|| panic!("only {reasons:?} in G12's dead-letter queue"))
            .unwrap();
        let dead = d.dead_letter.clone().expect("a dead letter");
        assert_eq!(dead.queue_of, G12);
        let (case, _) = expected
            .get(d.envelope.message_id())
            .unwrap_or_else(|| panic!("unexpected dead letter: {}", dead.reason));
        reasons.insert(*case, dead.reason);
        d.ack().await.unwrap();
    }
    for (case, want) in expected.values() {
        assert!(
            reasons[case].contains(want),
            "{case}: the reason {:?} should say {want:?}",
            reasons[case]
        );
    }
    assert!(files(&t.data_dir(G12).join("inbox")).is_empty());

    // G22 sent A, B and C: each record shows G12's 02 with the reason.
    let record_of = |marker: &str| {
        let stems: Vec<_> = files(&t.data_dir(G22).join("sent"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "xml"))
            .filter(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).contains(marker))
            .collect();
        assert_eq!(stems.len(), 1, "{marker}");
        let json = stems[0].with_extension("json");
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(json).unwrap()).unwrap()
    };
    for (marker, case) in [
        ("Văn bản A", "forged"),
        ("Văn bản B", "tampered"),
        ("Văn bản C", "wrong recipient"),
    ] {
        let want = expected.values().find(|(c, _)| *c == case).unwrap().1;
        eventually(
            90,
            &format!("02 in G22's record of the {case} document"),
            || {
                statuses_from(&record_of(marker), G12)
                    .iter()
                    .any(|s| s["code"] == "02" && s["description"].as_str().unwrap().contains(want))
            },
        )
        .await;
        let record = record_of(marker);
        let codes: Vec<_> = statuses_from(&record, G12)
            .iter()
            .map(|s| s["code"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(codes, ["02"], "{case}: G12 answered only 02");
    }
    // The document with an unlisted key claimed to be from G22 (number 5):
    // G22 is told, in its status-inbox, though it has no record of sending
    // it. (The 02s about A, B and C are in the status-inbox too, beside
    // their records.)
    eventually(
        90,
        "the refusal of the unlisted-key document at G22",
        || {
            files(&t.data_dir(G22).join("status-inbox"))
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .filter(|n| n.contains("_5-TEST.") && n.contains(".02."))
                .count()
                == 1
        },
    )
    .await;
    // Four statuses 02 in all: none to the agency that does not exist.
    let g12 = &receiver.adapters[0];
    assert_eq!(
        g12.metrics
            .statuses_sent
            .load(std::sync::atomic::Ordering::Relaxed),
        4
    );
    assert_eq!(
        g12.metrics
            .documents_refused
            .load(std::sync::atomic::Ordering::Relaxed),
        5
    );
    receiver.stop().await;
    sender.stop().await;
    axis.close().await.unwrap();
}
