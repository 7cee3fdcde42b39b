//! The demo's last word: what a receiving adapter refuses, checked with the
//! same verification it runs on every delivery — a document changed after
//! signing, and one signed by an agency other than its sender.

use anyhow::{bail, Context};
use docaxis_directory::{keys, SignedDirectory};
use docaxis_dsig::{verify, Signer, VerifyError};
use docaxis_edxml::{organization, Code, Draft, EdDate, EdTimestamp, Message, ParseLimits};
use time::OffsetDateTime;

use super::world::World;

/// Signs as agency `i` of the world.
fn signer(world: &World, i: usize) -> anyhow::Result<Signer> {
    let a = &world.agencies[i];
    let key = keys::read_private_key(&a.home.join("agency.key"))
        .with_context(|| format!("the key of {}", a.organ_id))?;
    Ok(Signer::new(key, a.key_id.clone()))
}

/// Runs the two refusals; returns what each was refused for.
pub fn show(world: &World) -> anyhow::Result<Vec<String>> {
    let root = keys::read_public_key(&world.root_pub)?;
    let directory = SignedDirectory::load(&world.directory, &root)?;
    let check = |bytes: &[u8]| {
        verify(
            bytes,
            &directory,
            OffsetDateTime::now_utc(),
            &ParseLimits::default(),
        )
    };
    // Bộ TT&TT (index 3) writes to the Office of the Government (index 0).
    let (from, to) = (&world.agencies[3], &world.agencies[0]);
    let mut draft = Draft::new(
        organization(from.organ_id.clone(), from.name.clone()),
        vec![organization(to.organ_id.clone(), to.name.clone())],
        Code {
            code_number: "999".into(),
            code_notation: "G13-DEMO".into(),
        },
        EdDate::new(EdTimestamp::now().local().date()),
        "Báo cáo kết quả cải cách hành chính.".into(),
    );
    // Signed now (the default is 08:00 on the promulgation date, which is
    // in the future between midnight and 08:00 Vietnam time).
    draft.sent_at = EdTimestamp::now();
    let message = Message::Document(Box::new(draft.build()));
    let signed = signer(world, 3)?.sign_message(&message)?;
    check(&signed).context("the demo's own signed document must verify")?;

    let mut refusals = Vec::new();
    let tampered =
        String::from_utf8(signed)?.replacen("<edXML:Subject>", "<edXML:Subject>[sửa] ", 1);
    match check(tampered.as_bytes()) {
        Err(e @ VerifyError::DigestMismatch) => {
            refusals.push(format!("a document changed after signing — {e}"))
        }
        other => bail!("a tampered document was not refused as such: {other:?}"),
    }
    // Bộ Nội vụ (index 2) signs, with its own key, a document that claims
    // to come from Bộ TT&TT.
    let forged = signer(world, 2)?.sign_message(&message)?;
    match check(&forged) {
        Err(e @ VerifyError::SignerNotSender { .. }) => {
            refusals.push(format!("a document signed by another agency — {e}"))
        }
        other => bail!("a forged sender was not refused as such: {other:?}"),
    }
    Ok(refusals)
}
