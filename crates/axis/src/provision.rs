//! Broker users per agency, so that RabbitMQ itself enforces who may send
//! as whom and who may read which queue.
//!
//! # Why `rabbitmqctl import_definitions`
//!
//! The management HTTP API needs the management plugin (not enabled on
//! every broker, including this project's test broker), an HTTP client and
//! administrator credentials sent over the network. `rabbitmqctl` is on
//! every RabbitMQ node, talks to the node over Erlang distribution with the
//! node's cookie (so only an operator on the broker host can run it), and
//! `import_definitions` takes any number of users and permissions in one
//! call: provisioning 1,000 agencies is one command of a few seconds, while
//! `add_user` + `set_permissions` per agency would start an Erlang VM 2,000
//! times. The same JSON document can also be loaded at boot
//! (`load_definitions` in rabbitmq.conf) or through the management API, so
//! [`definitions`] is useful on its own.
//!
//! Passwords are stored hashed (`rabbit_password_hashing_sha256`): the
//! definitions file never holds a clear password.
//!
//! # Permissions of an agency user (user name = OrganId)
//!
//! * configure: nothing (`^$`): agencies cannot declare or delete topology.
//! * write: the axis exchanges only (`P.documents`, `P.statuses`, `P.dead`
//!   for refusals).
//! * read: its own inbox and dead-letter queue only.
//!
//! Combined with the `user_id` property that [`crate::RabbitAxis`] sets to
//! the sender, an agency can neither read another's documents nor send in
//! another's name.

use std::io::Read;
use std::process::Command;

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{validate_agency_id, AxisError};

/// A broker user to create or update.
#[derive(Debug, Clone)]
pub struct Credential {
    /// User name: the agency's OrganId (or the tracker's name).
    pub user: String,
    /// Clear password (only hashed into the definitions).
    pub password: String,
}

/// A random password (32 hex characters from the OS's random source).
pub fn generate_password() -> Result<String, AxisError> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(hex::encode(b))
}

fn random_salt() -> Result<[u8; 4], AxisError> {
    let mut b = [0u8; 4];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b)
}

/// RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt ‖ SHA-256(salt ‖ password)).
pub fn rabbit_password_hash(password: &str) -> Result<String, AxisError> {
    let salt = random_salt()?;
    let mut h = Sha256::new();
    h.update(salt);
    h.update(password.as_bytes());
    let mut out = salt.to_vec();
    out.extend_from_slice(&h.finalize());
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if ".^$*+?()[]{}|\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One user of a definitions document (password stored hashed).
fn user_entry(c: &Credential, tags: &str) -> Result<Value, AxisError> {
    Ok(json!({
        "name": c.user,
        "password_hash": rabbit_password_hash(&c.password)?,
        "hashing_algorithm": "rabbit_password_hashing_sha256",
        "tags": tags,
    }))
}

/// One permission entry of a definitions document.
fn permission_entry(user: &str, vhost: &str, configure: &str, write: &str, read: &str) -> Value {
    json!({
        "user": user,
        "vhost": vhost,
        "configure": configure,
        "write": write,
        "read": read,
    })
}

/// The definitions document declaring `vhost` (idempotent for one that
/// exists), giving each agency its user and permissions, and the tracker
/// (if given) read access to the tap.
pub fn definitions(
    prefix: &str,
    vhost: &str,
    agencies: &[Credential],
    tracker: Option<&Credential>,
) -> Result<Value, AxisError> {
    let p = regex_escape(prefix);
    let mut users = Vec::new();
    let mut permissions = Vec::new();
    for a in agencies {
        validate_agency_id(&a.user)?;
        users.push(user_entry(a, "")?);
        permissions.push(permission_entry(
            &a.user,
            vhost,
            "^$",
            &format!("^{p}\\.(documents|statuses|dead)$"),
            &format!("^{p}\\.(in|dlq)\\.{}$", regex_escape(&a.user)),
        ));
    }
    if let Some(t) = tracker {
        users.push(user_entry(t, "")?);
        permissions.push(permission_entry(
            &t.user,
            vhost,
            "^$",
            &format!("^{p}\\.dead$"),
            &format!("^{p}\\.tap(\\.dlq)?$"),
        ));
    }
    Ok(json!({ "vhosts": [{ "name": vhost }], "users": users, "permissions": permissions }))
}

/// Adds to `defs` (from [`definitions`]) full rights on `vhost` for the
/// operator `user`, and the user itself, tagged administrator, when its
/// `credential` is given (a broker booting from the definitions has no
/// other administrator); without it the user must exist already.
pub fn grant_operator(
    defs: &mut Value,
    vhost: &str,
    user: &str,
    credential: Option<&Credential>,
) -> Result<(), AxisError> {
    if let Some(c) = credential {
        let entry = user_entry(c, "administrator")?;
        if let Some(users) = defs["users"].as_array_mut() {
            users.push(entry);
        }
    }
    if let Some(permissions) = defs["permissions"].as_array_mut() {
        permissions.push(permission_entry(user, vhost, ".*", ".*", ".*"));
    }
    Ok(())
}

/// Import `defs` into the local broker node with
/// `rabbitmqctl import_definitions` (must run where rabbitmqctl can reach
/// the node, typically as root on the broker host). Idempotent: users are
/// created or their password updated, permissions replaced.
pub fn import_with_rabbitmqctl(defs: &Value) -> Result<(), AxisError> {
    let dir = std::env::temp_dir().join(format!("docaxis-provision-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("definitions.json");
    std::fs::write(&file, serde_json::to_vec_pretty(defs).expect("json"))?;
    let out = Command::new("rabbitmqctl")
        .arg("import_definitions")
        .arg(&file)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.map_err(|e| AxisError::Provision(format!("cannot run rabbitmqctl: {e}")))?;
    if !out.status.success() {
        return Err(AxisError::Provision(format!(
            "rabbitmqctl import_definitions failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// Create (or update) one broker user per agency, plus the tracker, with
/// the permissions described in the module docs.
pub fn provision(
    prefix: &str,
    vhost: &str,
    agencies: &[Credential],
    tracker: Option<&Credential>,
) -> Result<(), AxisError> {
    import_with_rabbitmqctl(&definitions(prefix, vhost, agencies, tracker)?)
}

/// Delete broker users (decommissioning, tests).
pub fn delete_users(users: &[&str]) -> Result<(), AxisError> {
    for u in users {
        let out = Command::new("rabbitmqctl")
            .args(["delete_user", u])
            .output()
            .map_err(|e| AxisError::Provision(format!("cannot run rabbitmqctl: {e}")))?;
        if !out.status.success() {
            return Err(AxisError::Provision(format!(
                "rabbitmqctl delete_user {u}: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_shape() {
        let h = rabbit_password_hash("pw").unwrap();
        let raw = base64::engine::general_purpose::STANDARD.decode(h).unwrap();
        assert_eq!(raw.len(), 36);
        let mut d = Sha256::new();
        d.update(&raw[..4]);
        d.update(b"pw");
        assert_eq!(&raw[4..], d.finalize().as_slice());
    }

    #[test]
    fn permissions_are_anchored() {
        let defs = definitions(
            "docaxis",
            "/",
            &[Credential {
                user: "000.00.00.G22".into(),
                password: "x".into(),
            }],
            None,
        )
        .unwrap();
        assert_eq!(
            defs["permissions"][0]["read"],
            "^docaxis\\.(in|dlq)\\.000\\.00\\.00\\.G22$"
        );
        assert_eq!(defs["permissions"][0]["configure"], "^$");
    }
}
