//! `docaxis broker setup` and `docaxis broker provision`: the axis
//! operator's two tasks on RabbitMQ. Both take the agencies from the signed
//! agency directory, so the broker never knows an agency the directory
//! does not.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use docaxis_axis::provision::{self, Credential};
use serde::Serialize;

use crate::directory_cmd::{load_directory, ReaderArgs};
use crate::output::OutputFormat;

/// The axis operator's broker tasks.
#[derive(Debug, Subcommand)]
pub enum BrokerCmd {
    /// Declare the topology (idempotent): exchanges, one quorum queue and one
    /// dead-letter queue per agency of the directory, the tracker's tap.
    #[command(after_help = "\
Example (as the broker's administrator):
  docaxis broker setup --axis amqp://admin:SECRET@127.0.0.1:5672/%2f \\
      --directory directory.json --root-pub root.pub

Run it again after adding agencies to the directory: what exists is left
as it is. Adapters only check the topology at start-up (their broker users
may not declare anything).")]
    Setup(SetupArgs),
    /// Create or update one broker user per agency of the directory (and the
    /// tracker's), each allowed to publish to the axis and read only its own
    /// queues; writes each password to OUT_DIR/<OrganId>.password (0600).
    #[command(after_help = "\
Example (on the broker's host, as root: it uses rabbitmqctl):
  docaxis broker provision --directory directory.json --root-pub root.pub \\
      --vhost / --out-dir /etc/docaxis/broker-passwords
  docaxis broker provision ... --print-definitions > definitions.json   # for load_definitions

Then give each agency its URL: amqps://<OrganId>:<password>@axis.example:5671/%2f
RabbitMQ itself refuses a message whose sender (user_id) is not the
connection's user, and any read of another agency's queue.")]
    Provision(ProvisionArgs),
}

/// `broker setup`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The broker, with an administrator's credentials.
    #[arg(long, value_name = "URL", env = "DOCAXIS_AXIS")]
    axis: String,
    #[command(flatten)]
    directory: ReaderArgs,
}

/// `broker provision`.
#[derive(Debug, Args)]
pub struct ProvisionArgs {
    #[command(flatten)]
    directory: ReaderArgs,
    /// The virtual host of the axis.
    #[arg(long, default_value = "/")]
    vhost: String,
    /// The tracker's broker user (reads the tap only).
    #[arg(long, value_name = "NAME", default_value = "docaxis-tracker")]
    tracker_user: String,
    /// Where to write the passwords (one file per user, mode 0600).
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "print_definitions"
    )]
    out_dir: Option<PathBuf>,
    /// Print the definitions JSON (password hashes only) instead of
    /// importing it: for `load_definitions` at the broker's boot. With
    /// --out-dir the passwords are written too.
    #[arg(long)]
    print_definitions: bool,
    /// Also create this administrator (full rights on the vhost), e.g. for a
    /// broker that boots from the printed definitions and has no other.
    #[arg(long, value_name = "NAME")]
    admin_user: Option<String>,
}

#[derive(Serialize)]
struct SetupReport {
    agencies: usize,
    tap: bool,
}

#[derive(Serialize)]
struct ProvisionReport {
    vhost: String,
    users: Vec<String>,
    passwords_in: String,
}

/// Runs `docaxis broker …`.
pub fn run(cmd: BrokerCmd, format: OutputFormat) -> anyhow::Result<()> {
    match cmd {
        BrokerCmd::Setup(a) => {
            let (dir, _) = load_directory(&a.directory.directory, &a.directory.root_pub)?;
            let ids: Vec<String> = dir.agencies().iter().map(|x| x.id.to_string()).collect();
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(async {
                    let axis = docaxis_axis::connect(Some(&a.axis))
                        .await
                        .context("connecting to the broker")?;
                    axis.setup(&ids).await.context("declaring the topology")?;
                    axis.close().await?;
                    anyhow::Ok(())
                })?;
            let r = SetupReport {
                agencies: ids.len(),
                tap: true,
            };
            format.emit(&r, || {
                format!(
                    "declared: exchanges, the tracker's tap, and an inbox and a dead-letter queue for each of {} agencies",
                    r.agencies
                )
            })
        }
        BrokerCmd::Provision(a) => {
            let (dir, _) = load_directory(&a.directory.directory, &a.directory.root_pub)?;
            let credential = |user: String| -> anyhow::Result<Credential> {
                Ok(Credential {
                    user,
                    password: provision::generate_password()?,
                })
            };
            let agencies = dir
                .agencies()
                .iter()
                .map(|x| credential(x.id.to_string()))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let tracker = credential(a.tracker_user.clone())?;
            let admin = a.admin_user.clone().map(credential).transpose()?;
            let mut defs = provision::definitions("docaxis", &a.vhost, &agencies, Some(&tracker))?;
            if let Some(admin) = &admin {
                provision::grant_operator(&mut defs, &a.vhost, &admin.user, Some(admin))?;
            }
            let everyone: Vec<&Credential> = agencies
                .iter()
                .chain(std::iter::once(&tracker))
                .chain(admin.as_ref())
                .collect();
            // Passwords first: a user whose password was not kept would be
            // locked out.
            if let Some(out) = &a.out_dir {
                std::fs::create_dir_all(out)
                    .with_context(|| format!("--out-dir {}", out.display()))?;
                for c in &everyone {
                    write_secret(&out.join(format!("{}.password", c.user)), &c.password)?;
                }
            }
            if a.print_definitions {
                println!("{}", serde_json::to_string_pretty(&defs)?);
                return Ok(());
            }
            provision::import_with_rabbitmqctl(&defs)
                .context("provisioning runs on the broker's host (rabbitmqctl)")?;
            let r = ProvisionReport {
                vhost: a.vhost,
                users: everyone.iter().map(|c| c.user.clone()).collect(),
                passwords_in: a
                    .out_dir
                    .map(|o| o.display().to_string())
                    .unwrap_or_default(),
            };
            format.emit(&r, || {
                format!(
                    "{} broker users created or updated in vhost {}; passwords in {}",
                    r.users.len(),
                    r.vhost,
                    r.passwords_in
                )
            })
        }
    }
}

/// Writes a secret readable by its owner only (replacing an older one).
fn write_secret(path: &std::path::Path, secret: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // An older file keeps its mode on open: tighten it too.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.write_all(secret.as_bytes())?;
    f.sync_all()?;
    Ok(())
}
