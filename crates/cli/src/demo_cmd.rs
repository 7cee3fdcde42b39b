//! `docaxis demo`: the whole chain a document goes through, on this machine,
//! in a few seconds, with nothing to install.
//!
//! It plays every role: the axis operator (root key, signed agency
//! directory of ten agencies), the sending agencies (compose each seed
//! article as an edXML document, sign it) and the receiving agencies
//! (verify each copy against the directory). It then shows the refusals
//! that protect the axis: a document changed after signing and one signed
//! with another agency's key. It exits non-zero if any figure is wrong.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use docaxis_directory::{keys, Agency, AgencyKey, Directory, KeyId, SignedDirectory, SigningKey};
use docaxis_dsig::{verify, Signer, VerifyError};
use docaxis_edxml::{organization, Code, Draft, EdDate, OrganId, ParseLimits, Priority};
use serde::Serialize;
use time::OffsetDateTime;

use crate::output::OutputFormat;

/// The agencies of the demo: real-looking ids, ministries and provinces.
const AGENCIES: &[(&str, &str)] = &[
    ("000.00.00.G22", "Văn phòng Chính phủ"),
    ("000.00.00.G12", "Bộ Tài chính"),
    ("000.00.00.G09", "Bộ Nội vụ"),
    ("000.00.00.G13", "Bộ Thông tin và Truyền thông"),
    ("000.00.00.G02", "Bộ Công an"),
    ("000.00.18.G12", "Tổng cục Thuế"),
    ("000.00.00.H41", "UBND tỉnh Nghệ An"),
    ("000.00.00.H26", "UBND thành phố Hà Nội"),
    ("000.00.00.H29", "UBND Thành phố Hồ Chí Minh"),
    ("000.00.00.H15", "UBND thành phố Đà Nẵng"),
];

/// Who sends which seed article, to whom, how urgently.
const PLAN: &[(usize, &[usize], Priority)] = &[
    (0, &[1, 6, 7], Priority::Normal),
    (3, &[0, 2], Priority::Urgent),
    (1, &[5, 8, 9], Priority::Normal),
    (6, &[0, 1, 3, 4], Priority::VeryUrgent),
    (0, &[6, 7, 8, 9], Priority::Express),
];

/// `docaxis demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the seed articles are (the five sample documents).
    #[arg(long, value_name = "DIR", default_value = "seeds")]
    seeds: PathBuf,
    /// Keep the working directory (keys, directory, documents) and print it.
    #[arg(long)]
    keep: bool,
}

#[derive(Serialize)]
struct Row {
    document_id: String,
    from: String,
    subject: String,
    bytes: usize,
    recipients: usize,
    verified: usize,
}

#[derive(Serialize)]
struct Report {
    directory: String,
    agencies: usize,
    documents: Vec<Row>,
    deliveries_verified: usize,
    deliveries_expected: usize,
    refusals: Vec<String>,
    elapsed_ms: u128,
}

fn id(s: &str) -> OrganId {
    OrganId::parse(s).expect("demo ids are valid")
}

/// Runs the demo.
pub fn run(a: DemoArgs, format: OutputFormat) -> anyhow::Result<()> {
    let started = Instant::now();
    let work = tempfile::Builder::new().prefix("docaxis-demo-").tempdir()?;
    let dir = work.path();
    let progress = |step: &str| {
        if format == OutputFormat::Text {
            eprintln!("[demo] {step}");
        }
    };

    progress("axis operator: root key and a signed directory of ten agencies");
    let root = keys::generate();
    keys::write_private_key(&dir.join("root.key"), &root)?;
    let now = OffsetDateTime::now_utc();
    let mut directory = Directory::new(now);
    let mut signers = Vec::new();
    for (i, (organ, name)) in AGENCIES.iter().enumerate() {
        let key: SigningKey = keys::generate();
        let key_id = format!("{}-demo", organ.rsplit('.').next().unwrap_or(organ));
        let key_id = format!("{key_id}-{i}");
        directory.add_agency(Agency::new(id(organ), *name, None))?;
        directory.add_key(
            &id(organ),
            AgencyKey::new(
                KeyId::parse(&key_id)?,
                key.verifying_key(),
                now - time::Duration::days(1),
                None,
            ),
        )?;
        keys::write_private_key(&dir.join(format!("{organ}.key")), &key)?;
        signers.push(Signer::new(key, key_id));
    }
    let signed_directory = SignedDirectory::sign(&directory, &root)?;
    signed_directory.save_new(&dir.join("directory.json"))?;
    // Receivers load the directory the way they would in production:
    // from the file, checked against the root key.
    let directory = SignedDirectory::load(&dir.join("directory.json"), &root.verifying_key())?;

    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&a.seeds)
        .with_context(|| {
            format!(
                "cannot read the seed articles in {}; run the demo from the repository root or pass --seeds DIR",
                a.seeds.display()
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    seeds.sort();
    if seeds.len() < PLAN.len() {
        bail!(
            "expected {} seed articles in {}, found {}",
            PLAN.len(),
            a.seeds.display(),
            seeds.len()
        );
    }

    let today = EdDate::new(docaxis_edxml::EdTimestamp::now().local().date());
    let mut rows = Vec::new();
    let mut signed_docs = Vec::new();
    for (n, ((from, to, priority), seed)) in PLAN.iter().zip(&seeds).enumerate() {
        let text = std::fs::read_to_string(seed)
            .with_context(|| format!("cannot read {}", seed.display()))?;
        let (organ, name) = AGENCIES[*from];
        let mut draft = Draft::new(
            organization(id(organ), name),
            to.iter()
                .map(|&t| organization(id(AGENCIES[t].0), AGENCIES[t].1))
                .collect(),
            Code {
                code_number: format!("{}", 100 + n),
                code_notation: "DEMO".into(),
            },
            today,
            text,
        );
        draft.sent_at = docaxis_edxml::EdTimestamp::now();
        draft.priority = *priority;
        if n == 3 {
            // One document carries a PDF-sized attachment.
            draft.attach("phu-luc.pdf", pdf_like(2 * 1024 * 1024));
        }
        let doc = draft.build();
        let document_id = doc.header.document_id.clone();
        let subject = doc.header.subject.clone();
        progress(&format!("{organ} signs {document_id}"));
        let bytes =
            signers[*from].sign_message(&docaxis_edxml::Message::Document(Box::new(doc)))?;
        std::fs::write(dir.join(format!("doc-{n}.xml")), &bytes)?;

        let mut verified = 0;
        for &recipient in to.iter() {
            // Each recipient verifies its copy against the directory.
            let v = verify(
                &bytes,
                &directory,
                OffsetDateTime::now_utc(),
                &ParseLimits::default(),
            )
            .with_context(|| format!("{} refused {document_id}", AGENCIES[recipient].0))?;
            if v.signer.as_str() == organ {
                verified += 1;
            }
        }
        rows.push(Row {
            document_id,
            from: organ.into(),
            subject: subject.chars().take(60).collect(),
            bytes: bytes.len(),
            recipients: to.len(),
            verified,
        });
        signed_docs.push(bytes);
    }

    progress("what the axis refuses");
    let mut refusals = Vec::new();
    let tampered = String::from_utf8(signed_docs[0].clone())?.replacen(
        "<edXML:Subject>",
        "<edXML:Subject>[sửa] ",
        1,
    );
    match verify(
        tampered.as_bytes(),
        &directory,
        OffsetDateTime::now_utc(),
        &ParseLimits::default(),
    ) {
        Err(e @ VerifyError::DigestMismatch) => {
            refusals.push(format!("changed after signing: {e}"))
        }
        other => bail!("a tampered document was not refused as such: {other:?}"),
    }
    let mut forged = docaxis_edxml::parse(&signed_docs[1], &ParseLimits::default())?.message;
    if let docaxis_edxml::Message::Document(d) = &mut forged {
        d.signature = None;
    }
    // Bộ Nội vụ re-signs, with its own key, a document that claims to be
    // from Bộ Thông tin và Truyền thông.
    let forged = signers[2].sign_message(&forged)?;
    match verify(
        &forged,
        &directory,
        OffsetDateTime::now_utc(),
        &ParseLimits::default(),
    ) {
        Err(e @ VerifyError::SignerNotSender { .. }) => {
            refusals.push(format!("wrong agency's key: {e}"))
        }
        other => bail!("a forged sender was not refused as such: {other:?}"),
    }

    let expected: usize = PLAN.iter().map(|(_, to, _)| to.len()).sum();
    let verified: usize = rows.iter().map(|r| r.verified).sum();
    let kept = if a.keep {
        let path = work.keep();
        path.display().to_string()
    } else {
        String::from("(removed; use --keep to explore it)")
    };
    let report = Report {
        directory: kept,
        agencies: AGENCIES.len(),
        documents: rows,
        deliveries_verified: verified,
        deliveries_expected: expected,
        refusals,
        elapsed_ms: started.elapsed().as_millis(),
    };
    format.emit(&report, || text(&report))?;
    if verified != expected {
        bail!("only {verified} of {expected} deliveries verified");
    }
    Ok(())
}

/// Bytes that look like a PDF, of about `size` bytes.
fn pdf_like(size: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    let line = b"BT /F1 12 Tf 72 712 Td (Phu luc kem theo cong van) Tj ET\n";
    while v.len() + line.len() < size {
        v.extend_from_slice(line);
    }
    v.extend_from_slice(b"%%EOF\n");
    v
}

fn text(r: &Report) -> String {
    let mut s = format!(
        "\n{:<40} {:<14} {:>9} {:>6}  subject\n",
        "document", "from", "bytes", "ok/to"
    );
    for d in &r.documents {
        s.push_str(&format!(
            "{:<40} {:<14} {:>9} {:>3}/{:<2}  {}\n",
            d.document_id, d.from, d.bytes, d.verified, d.recipients, d.subject
        ));
    }
    s.push_str(&format!(
        "\n{} of {} deliveries verified against the signed directory of {} agencies.\n",
        r.deliveries_verified, r.deliveries_expected, r.agencies
    ));
    for f in &r.refusals {
        s.push_str(&format!("refused as it must be — {f}\n"));
    }
    s.push_str(&format!(
        "working directory: {}\ndone in {} ms\n",
        r.directory, r.elapsed_ms
    ));
    s
}
