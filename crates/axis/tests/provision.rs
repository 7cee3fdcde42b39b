//! Identity and permissions enforced by the real broker: agency A cannot
//! read B's queue and cannot publish as B. Needs `rabbitmqctl` (root).

use std::time::Duration;

use docaxis_axis::provision::{delete_users, generate_password, provision, Credential};
use docaxis_axis::{Axis, AxisError, Envelope, RabbitAxis, RabbitOptions};

fn url(user: &str, pw: &str) -> String {
    format!("amqp://{user}:{pw}@127.0.0.1:5672/%2f")
}

/// Whether the inbox of `agency` exists (passive check as guest).
async fn admin_probe(prefix: &str, agency: &str) -> Result<(), AxisError> {
    let prefix = prefix.to_string();
    let admin = RabbitAxis::connect(
        &url("guest", "guest"),
        RabbitOptions {
            prefix,
            stamp_user_id: false,
            ..RabbitOptions::default()
        },
    )
    .await?;
    let r = admin
        .queue_depth(&admin.inbox_queue(agency))
        .await
        .map(|_| ());
    admin.close().await?;
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agency_cannot_read_others_queue_nor_publish_as_another() {
    let tag = format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let prefix = format!("t-prov-{tag}");
    let a = format!("pvA.{tag}");
    let b = format!("pvB.{tag}");
    let opts = RabbitOptions {
        prefix: prefix.clone(),
        publish_timeout: Duration::from_secs(10),
        ..RabbitOptions::default()
    };
    // The administrator (guest here) declares the topology...
    let admin = RabbitAxis::connect(
        &url("guest", "guest"),
        RabbitOptions {
            stamp_user_id: false,
            ..opts.clone()
        },
    )
    .await
    .unwrap();
    admin.setup(&[&a, &b]).await.unwrap();
    // ...and provisions one user per agency.
    let (pa, pb) = (generate_password().unwrap(), generate_password().unwrap());
    provision(
        &prefix,
        "/",
        &[
            Credential {
                user: a.clone(),
                password: pa.clone(),
            },
            Credential {
                user: b.clone(),
                password: pb.clone(),
            },
        ],
        None,
    )
    .unwrap();

    let (a2, b2, opts2) = (a.clone(), b.clone(), opts.clone());
    let result = async move {
        let (a, b, opts) = (a2, b2, opts2);
        let as_a = RabbitAxis::connect(&url(&a, &pa), opts.clone())
            .await
            .unwrap();
        let as_b = RabbitAxis::connect(&url(&b, &pb), opts.clone())
            .await
            .unwrap();

        // A may send to B in its own name.
        let ok = Envelope::document(&a, vec![b.clone()], "ka", &b"from A"[..]).unwrap();
        as_a.publish(&ok).await.expect("A publishes as A");

        // A may not claim to be B: the broker checks user_id.
        let forged = Envelope::document(&b, vec![a.clone()], "kb", &b"forged"[..]).unwrap();
        match as_a.publish(&forged).await {
            Err(AxisError::Broker(msg)) => assert!(
                msg.contains("user_id") || msg.contains("PRECONDITION"),
                "{msg}"
            ),
            other => panic!("forged publish must fail, got {other:?}"),
        }

        // A may not read B's inbox (nor its dead letters), nor declare anything.
        assert!(as_a.consume(&b).await.is_err(), "A read B's inbox");
        assert!(as_a.dead_letters(&b).await.is_err(), "A read B's DLQ");
        // At start-up an adapter calls `ensure`: with the administrator's
        // topology in place (the tap included) it only checks, passively,
        // and declares nothing; for a missing queue it tries to declare and
        // is refused, with the way out in the message.
        as_a.ensure(&[&a])
            .await
            .expect("A checks its own topology and the tap");
        let missing = format!("pvY.{}", a.rsplit('.').next().unwrap());
        match as_a.ensure(&[&missing]).await {
            Err(AxisError::Broker(msg)) => assert!(msg.contains("broker setup"), "{msg}"),
            other => panic!("A must not declare topology, got {other:?}"),
        }
        // `setup` (what `broker setup` calls) tries to declare first and,
        // refused, only verifies what the administrator declared.
        as_a.setup(&[&a])
            .await
            .expect("A verifies its own topology");
        let ghost = format!("pvZ.{}", a.rsplit('.').next().unwrap());
        match as_a.setup(&[&ghost]).await {
            Err(AxisError::Broker(msg)) => assert!(msg.contains("broker setup"), "{msg}"),
            other => panic!("A must not declare topology, got {other:?}"),
        }
        assert!(
            admin_probe(&opts.prefix, &ghost).await.is_err(),
            "a queue for {ghost} was created"
        );

        // The connection is still usable after those refusals.
        let ok2 = Envelope::document(&a, vec![b.clone()], "ka", &b"from A again"[..]).unwrap();
        as_a.publish(&ok2).await.expect("A still publishes");

        // B reads its own inbox: exactly the two genuine documents.
        let mut inbox = as_b.consume(&b).await.unwrap();
        for want in [&ok, &ok2] {
            let d = inbox
                .next_timeout(Duration::from_secs(5))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&d.envelope, want);
            d.ack().await.unwrap();
        }
        assert!(inbox
            .next_timeout(Duration::from_millis(500))
            .await
            .is_none());
        // A's inbox never got the forged message.
        let mut a_inbox = as_a.consume(&a).await.unwrap();
        assert!(a_inbox
            .next_timeout(Duration::from_millis(500))
            .await
            .is_none());
        inbox.close().await.unwrap();
        a_inbox.close().await.unwrap();
        as_a.close().await.unwrap();
        as_b.close().await.unwrap();
    };
    // Clean up even if an assertion fails.
    let outcome = tokio::spawn(result).await;
    delete_users(&[&a, &b]).unwrap();
    admin.teardown(&[&a, &b]).await.unwrap();
    admin.close().await.unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
