//! The conformance suite against the real RabbitMQ at 127.0.0.1:5672
//! (override with `DOCAXIS_TEST_AMQP`), each test under its own random
//! name prefix, deleted at the end.

mod conformance;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use conformance::Harness;
use docaxis_axis::{Axis, RabbitAxis, RabbitOptions};

pub fn amqp_url() -> String {
    std::env::var("DOCAXIS_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A prefix unique to this process and call.
pub fn unique_prefix(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000;
    format!(
        "t-{tag}-{}-{t}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

struct Rabbit {
    opts: RabbitOptions,
}

async fn harness() -> Rabbit {
    Rabbit {
        opts: RabbitOptions {
            prefix: unique_prefix("conf"),
            max_deliveries: 3,
            // The suite runs as `guest`, which is not the agencies' user:
            // identity enforcement is tested in tests/provision.rs.
            stamp_user_id: false,
            publish_timeout: Duration::from_secs(20),
            ..RabbitOptions::default()
        },
    }
}

#[async_trait]
impl Harness for Rabbit {
    async fn open(&self) -> Box<dyn Axis> {
        Box::new(
            RabbitAxis::connect(&amqp_url(), self.opts.clone())
                .await
                .unwrap(),
        )
    }
    async fn crash(&self, axis: Box<dyn Axis>) {
        // Closing the connection without settling: the broker requeues
        // every unacked delivery, as when a consumer process dies.
        axis.close().await.unwrap();
    }
    async fn cleanup(&self, agencies: &[&str]) {
        let a = RabbitAxis::connect(&amqp_url(), self.opts.clone())
            .await
            .unwrap();
        a.teardown(agencies).await.unwrap();
        a.close().await.unwrap();
    }
    fn max_deliveries(&self) -> u32 {
        self.opts.max_deliveries
    }
}

conformance_tests!(harness());

/// Delete exchanges and queues left by interrupted test runs (names
/// starting with `t-`). Run by hand: `cargo test -p docaxis-axis --test
/// rabbit -- --ignored purge_test_leftovers`.
#[tokio::test]
#[ignore = "maintenance: removes t-* leftovers from the broker"]
async fn purge_test_leftovers() {
    use lapin::{Connection, ConnectionProperties};
    let list = |what: &str| {
        let out = std::process::Command::new("rabbitmqctl")
            .args([what, "name", "--silent"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("t-"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let conn = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    for q in list("list_queues") {
        ch.queue_delete(q.as_str().into(), Default::default())
            .await
            .unwrap();
    }
    for x in list("list_exchanges") {
        ch.exchange_delete(x.as_str().into(), Default::default())
            .await
            .unwrap();
    }
    let _ = ch.close(200, "bye".into()).await;
    let _ = conn.close(200, "bye".into()).await;
}
