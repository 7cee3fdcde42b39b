//! # docaxis-axis: the transport of docaxis
//!
//! Every signed document and status that an adapter, the tracker or the
//! CLI sends or receives goes through this crate. It knows nothing about
//! XML: a payload is opaque signed bytes in an [`Envelope`] that also
//! carries routing metadata (sender, recipients, key id, digest).
//!
//! One interface, [`Axis`], two implementations:
//!
//! * [`RabbitAxis`]: the production axis on RabbitMQ (quorum queue per
//!   agency, publisher confirms with a bounded in-flight window, mandatory
//!   publishing so unknown recipients are reported, dead-letter queue per
//!   agency keeping the refusal reason, a tap for the tracker, reconnection
//!   with backoff, broker-enforced sender identity through `user_id`).
//! * [`EmbeddedAxis`]: the same semantics with plain files under one
//!   directory, crash-safe and shareable by several processes, so the demo
//!   and small deployments run without a broker.
//!
//! Choose one with [`connect`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), docaxis_axis::AxisError> {
//! use docaxis_axis::{connect, Envelope};
//! let axis = connect(Some("file:///tmp/docaxis-demo")).await?;
//! axis.setup(&["000.00.00.G22", "000.00.00.H41"]).await?;
//! let doc = Envelope::document("000.00.00.G22", vec!["000.00.00.H41".into()], "key-1", &b"<edXML/>"[..])?;
//! axis.publish(&doc).await?; // returns once durably stored
//! let mut inbox = axis.consume("000.00.00.H41").await?;
//! if let Some(delivery) = inbox.next().await {
//!     let delivery = delivery?;
//!     // ... store the document durably, then:
//!     delivery.ack().await?;
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api;
pub mod bench;
pub mod embedded;
mod envelope;
mod error;
pub mod procstat;
pub mod provision;
pub mod rabbit;

pub use api::{Axis, Consumer, DeadLetter, Delivery, PublishReceipt};
pub use embedded::{EmbeddedAxis, EmbeddedOptions};
pub use envelope::{payload_digest, validate_agency_id, Envelope, Kind, MAX_ID_LEN};
pub use error::AxisError;
pub use rabbit::{RabbitAxis, RabbitOptions, TlsOptions};

use std::path::PathBuf;

/// Environment variable naming the default embedded axis directory.
pub const AXIS_DIR_ENV: &str = "DOCAXIS_AXIS_DIR";

/// The embedded axis directory used when no URL is given: `$DOCAXIS_AXIS_DIR`,
/// else `$XDG_DATA_HOME/docaxis/axis`, else `$HOME/.local/share/docaxis/axis`,
/// else `./docaxis-axis`.
pub fn default_embedded_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(AXIS_DIR_ENV) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(d).join("docaxis").join("axis");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".local/share/docaxis/axis");
    }
    PathBuf::from("docaxis-axis")
}

/// Open the axis named by `url` with default options:
/// `amqp://` / `amqps://` → [`RabbitAxis`], `file://<path>` →
/// [`EmbeddedAxis`] at `<path>`, `None` → [`EmbeddedAxis`] at
/// [`default_embedded_dir`].
pub async fn connect(url: Option<&str>) -> Result<Box<dyn Axis>, AxisError> {
    match url {
        None => Ok(Box::new(EmbeddedAxis::open(
            default_embedded_dir(),
            EmbeddedOptions::default(),
        )?)),
        Some(u) if u.starts_with("amqp://") || u.starts_with("amqps://") => Ok(Box::new(
            RabbitAxis::connect(u, RabbitOptions::default()).await?,
        )),
        Some(u) => match u.strip_prefix("file://") {
            Some(path) if !path.is_empty() => Ok(Box::new(EmbeddedAxis::open(
                path,
                EmbeddedOptions::default(),
            )?)),
            _ => Err(AxisError::BadUrl(u.to_string())),
        },
    }
}
