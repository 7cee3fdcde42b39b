//! End to end over the real RabbitMQ: adapters as separate processes
//! exchange the five seed articles (with attachments, several recipients);
//! each arrives exactly once and verifies, each sender sees 01 from every
//! recipient, and SIGTERM stops each adapter cleanly.

use std::collections::BTreeMap;
use std::path::Path;

use docaxis_suites::agencies::*;

const G22: &str = "000.00.00.G22";
const G12: &str = "000.00.00.G12";
const H41: &str = "000.00.00.H41";

fn seeds() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapters_exchange_the_seed_articles_over_rabbitmq() {
    let vhost = Vhost::new("e2e");
    let t = TestAxis::new(Some(vhost.url()));
    // The operator declares the topology for every agency up front, so no
    // document is unroutable because its recipient's adapter starts later.
    let axis = docaxis_axis::connect(Some(&t.axis_url)).await.unwrap();
    axis.setup(&[G22, G12, H41]).await.unwrap();
    axis.close().await.unwrap();

    let mut children: Vec<_> = [G22, G12, H41]
        .iter()
        .map(|a| (a, spawn_adapter(&t, a)))
        .collect();
    // Who sends which article to whom.
    let plan: [(&str, &[&str]); 5] = [
        (G22, &[G12, H41]),
        (G12, &[G22, H41]),
        (G22, &[G12, H41]),
        (G12, &[G22]),
        (G22, &[G12, H41]),
    ];
    let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, (text, (from, to))) in seeds().iter().zip(plan.iter()).enumerate() {
        let doc = TestAxis::document(from, to, n, text);
        t.drop_in_outbox(from, &format!("seed{n}.xml"), &doc);
        for r in to.iter() {
            *expected.entry(r).or_default() += 1;
        }
    }
    for (agency, count) in &expected {
        let inbox = t.data_dir(agency).join("inbox");
        eventually(
            60,
            &format!("{count} documents in {agency}'s inbox"),
            || files(&inbox).len() >= *count,
        )
        .await;
    }
    for (agency, count) in &expected {
        // Exactly once: no more than expected, even after a pause.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let inbox = files(&t.data_dir(agency).join("inbox"));
        assert_eq!(inbox.len(), *count, "{agency}'s inbox");
        let directory = docaxis_directory::SignedDirectory::load(
            &t.path().join("directory.json"),
            &docaxis_directory::keys::read_public_key(&t.path().join("root.pub")).unwrap(),
        )
        .unwrap();
        for f in inbox {
            let bytes = std::fs::read(&f).unwrap();
            let v = docaxis_dsig::verify(
                &bytes,
                &directory,
                time::OffsetDateTime::now_utc(),
                &Default::default(),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let docaxis_edxml::Message::Document(doc) = v.message else {
                panic!("not a document")
            };
            assert!(!doc.attachments.is_empty());
            // The sender's adapter added its TraceHeader and signed.
            assert_eq!(doc.trace.trace_headers.last().unwrap().organ_id, v.signer);
        }
    }
    // Every sender hears 01 from every recipient.
    for from in [G22, G12] {
        let sent = t.data_dir(from).join("sent");
        eventually(60, &format!("01 statuses at {from}"), || {
            let records: Vec<serde_json::Value> = files(&sent)
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
                .collect();
            let wanted = plan.iter().filter(|(f, _)| *f == from).count();
            records.len() == wanted
                && records.iter().all(|r| {
                    r["recipients"].as_object().unwrap().values().all(|s| {
                        s["statuses"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .filter(|x| x["code"] == "01")
                            .count()
                            == 1
                    })
                })
        })
        .await;
    }
    for (agency, child) in children.iter_mut() {
        let status = child.terminate();
        assert!(
            status.success(),
            "{agency} did not stop cleanly on SIGTERM: {status}"
        );
    }
}
