//! Two adapters in one process over the embedded axis: the whole exchange,
//! refusals, duplicates and a clean stop.

use docaxis_suites::agencies::*;

const G22: &str = "000.00.00.G22";
const G12: &str = "000.00.00.G12";
const H41: &str = "000.00.00.H41";

fn arrived_everywhere(record: &serde_json::Value) -> bool {
    record["recipients"].as_object().unwrap().values().all(|r| {
        r["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["code"] == "01")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_arrive_once_and_statuses_come_back() {
    let t = TestAxis::new(None);
    let running = InProcess::start(&t, &[G22, G12, H41]).await;
    for n in 0..5 {
        let doc = TestAxis::document(G22, &[G12, H41], n, &format!("Nội dung văn bản số {n}."));
        t.drop_in_outbox(G22, &format!("cv{n}.xml"), &doc);
    }
    eventually(30, "5 documents in each inbox", || {
        files(&t.data_dir(G12).join("inbox")).len() == 5
            && files(&t.data_dir(H41).join("inbox")).len() == 5
    })
    .await;
    eventually(30, "status 01 from both recipients for all 5", || {
        let r = sent_records(&t, G22);
        r.len() == 5 && r.iter().all(arrived_everywhere)
    })
    .await;
    assert!(files(&t.data_dir(G22).join("outbox")).is_empty());
    assert_eq!(files(&t.data_dir(G22).join("sent")).len(), 10); // .xml + .json each

    // The clerk at G12 accepts document 0: status 03 reaches G22's record.
    let id = sent_records(&t, G22)[0]["document_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let req = serde_json::json!({ "document_id": id, "code": "03" });
    std::fs::write(
        t.data_dir(G12).join("status-outbox/accept.json"),
        req.to_string(),
    )
    .unwrap();
    eventually(30, "status 03 at the sender", || {
        sent_records(&t, G22).iter().any(|r| {
            r["document_id"] == id.as_str()
                && r["recipients"][G12]["statuses"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s["code"] == "03")
        })
    })
    .await;
    // Each received file verifies.
    for f in files(&t.data_dir(G12).join("inbox")) {
        let bytes = std::fs::read(f).unwrap();
        assert!(String::from_utf8_lossy(&bytes).contains("<KeyName>G22-test</KeyName>"));
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_outbox_files_are_rejected_with_the_reason() {
    let t = TestAxis::new(None);
    let running = InProcess::start(&t, &[G22]).await;
    let doc = String::from_utf8(TestAxis::document(G22, &[G12], 1, "x")).unwrap();
    t.drop_in_outbox(
        G22,
        "bad.xml",
        doc.replace("<edXML:Priority>0<", "<edXML:Priority>9<")
            .as_bytes(),
    );
    t.drop_in_outbox(G22, "other.xml", &TestAxis::document(H41, &[G12], 2, "x"));
    eventually(30, "both rejected", || {
        files(&t.data_dir(G22).join("rejected")).len() == 4
    })
    .await;
    let error = std::fs::read_to_string(t.data_dir(G22).join("rejected/bad.xml.error")).unwrap();
    assert!(
        error.contains("MessageHeader/OtherInfo/Priority"),
        "{error}"
    );
    assert!(error.contains("line"), "{error}");
    let error = std::fs::read_to_string(t.data_dir(G22).join("rejected/other.xml.error")).unwrap();
    assert!(
        error.contains("this adapter sends for 000.00.00.G22"),
        "{error}"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_misaddressed_documents_are_refused_with_02() {
    let t = TestAxis::new(None);
    let running = InProcess::start(&t, &[G22, G12]).await;
    let axis = docaxis_axis::connect(Some(&t.axis_url)).await.unwrap();
    // Signed by H41's key but claiming to be from G22.
    let doc = TestAxis::document(G22, &[G12], 7, "giả mạo");
    let forger = docaxis_dsig::Signer::new(t.keys[2].clone(), key_id(H41));
    let forged = forger.sign(&doc, &Default::default()).unwrap();
    let env = docaxis_axis::Envelope::document(G22, vec![G12.into()], key_id(H41), forged).unwrap();
    axis.publish(&env).await.unwrap();
    // Properly signed by G22 but tampered after signing.
    let signer = docaxis_dsig::Signer::new(t.keys[0].clone(), key_id(G22));
    let signed = signer
        .sign(
            &TestAxis::document(G22, &[G12], 8, "thật"),
            &Default::default(),
        )
        .unwrap();
    let tampered = String::from_utf8(signed)
        .unwrap()
        .replace("thật", "sửa")
        .into_bytes();
    let env =
        docaxis_axis::Envelope::document(G22, vec![G12.into()], key_id(G22), tampered).unwrap();
    axis.publish(&env).await.unwrap();

    let mut dlq = axis.dead_letters(G12).await.unwrap();
    let mut reasons = Vec::new();
    for _ in 0..2 {
        let d = dlq
            .next_timeout(std::time::Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        reasons.push(d.dead_letter.as_ref().unwrap().reason.clone());
        d.ack().await.unwrap();
    }
    reasons.sort();
    assert!(
        reasons[0].contains("signed with a key of 000.00.00.H41")
            || reasons[1].contains("signed with a key of 000.00.00.H41"),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("changed after signing")),
        "{reasons:?}"
    );
    assert!(files(&t.data_dir(G12).join("inbox")).is_empty());
    // G22 hears 02 for both: documents it never sent, refused in its name,
    // land in its status-inbox for the clerk to see.
    eventually(30, "two refusals at G22", || {
        files(&t.data_dir(G22).join("status-inbox"))
            .iter()
            .filter(|p| p.to_string_lossy().contains(".02."))
            .count()
            == 2
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_document_comes_back_to_its_sender_as_02() {
    // G12 has a newer directory in which G22's key is revoked: it must
    // refuse G22's document, and G22's own record must show the 02.
    let t = TestAxis::new(None);
    let root = docaxis_directory::SigningKey::from_bytes(&[9; 32]);
    let mut directory = docaxis_directory::SignedDirectory::load(
        &t.path().join("directory.json"),
        &root.verifying_key(),
    )
    .unwrap();
    directory
        .revoke_key(
            &docaxis_directory::KeyId::parse(&key_id(G22)).unwrap(),
            time::OffsetDateTime::now_utc() - time::Duration::minutes(1),
            "test: key compromised",
        )
        .unwrap();
    let newer = t.path().join("directory-newer.json");
    docaxis_directory::SignedDirectory::sign(&directory, &root)
        .unwrap()
        .save_new(&newer)
        .unwrap();
    let mut g12 = t.config(G12);
    g12.directory = newer;
    let running = InProcess::start_with(vec![t.config(G22), g12]).await;

    t.drop_in_outbox(
        G22,
        "cv.xml",
        &TestAxis::document(G22, &[G12], 1, "Văn bản bị từ chối."),
    );
    eventually(30, "02 in G22's record", || {
        sent_records(&t, G22).iter().any(|r| {
            statuses_from(r, G12).iter().any(|s| {
                s["code"] == "02" && s["description"].as_str().unwrap().contains("revoked")
            })
        })
    })
    .await;
    assert!(files(&t.data_dir(G12).join("inbox")).is_empty());
    let axis = docaxis_axis::connect(Some(&t.axis_url)).await.unwrap();
    let mut dlq = axis.dead_letters(G12).await.unwrap();
    let d = dlq
        .next_timeout(std::time::Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    assert!(d.dead_letter.as_ref().unwrap().reason.contains("revoked"));
    d.ack().await.unwrap();
    running.stop().await;
}
