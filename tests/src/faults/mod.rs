//! The fault suite's harness: a small axis of agencies whose adapters and
//! tracker run as real `docaxis` processes ([`world`]), a workload dropped
//! into their outboxes at a steady pace while a fault is injected, and a
//! checker that compares every outbox with every inbox, every sender's
//! records and the tracker's figures at the end ([`check`]).
//!
//! The faults themselves need machinery of their own, one file each: a
//! RabbitMQ node the test starts, stops and kills ([`node`]), the
//! three-node cluster of `deploy/cluster` ([`cluster`]), a TCP proxy that
//! can cut the network ([`proxy`]) and a small tmpfs that can be filled
//! ([`tmpfs`]).

pub mod check;
pub mod cluster;
pub mod node;
pub mod proxy;
pub mod tmpfs;
pub mod world;
