//! `docaxis new | validate | sign | verify`: one document at a time, by hand.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use docaxis_directory::{keys, Directory};
use docaxis_dsig::Signer;
use docaxis_edxml::{
    organization, parse, validate as check_fields, Code, Draft, EdDate, EdTimestamp, FieldError,
    KnownAgencies, Message, NoDirectory, OrganId, ParseError, ParseLimits, Priority,
};
use serde::Serialize;
use time::OffsetDateTime;

use crate::directory_cmd::{load_directory, parse_organ_id, parse_time};
use crate::output::{OutputFormat, Refused};

/// `--directory` and `--root-pub` where a directory helps but is optional
/// (it lets free-form agency ids through validation).
#[derive(Debug, Args)]
pub struct OptionalDirectory {
    /// The signed agency directory (checked with --root-pub).
    #[arg(
        long,
        value_name = "FILE",
        env = "DOCAXIS_DIRECTORY",
        requires = "root_pub"
    )]
    directory: Option<PathBuf>,
    /// The axis operator's root public key that signs the directory.
    #[arg(long, value_name = "FILE", env = "DOCAXIS_ROOT_PUB")]
    root_pub: Option<PathBuf>,
}

impl OptionalDirectory {
    fn load(&self) -> anyhow::Result<Option<Directory>> {
        match (&self.directory, &self.root_pub) {
            (Some(directory), Some(root_pub)) => Ok(Some(load_directory(directory, root_pub)?.0)),
            _ => Ok(None),
        }
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes to `out`, or to stdout if none.
fn write_out(out: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match out {
        Some(p) => {
            std::fs::write(p, bytes).with_context(|| format!("cannot write {}", p.display()))
        }
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(bytes)
                .context("cannot write to stdout")
        }
    }
}

/// An agency given as `ID` or `ID=Name`.
fn parse_agency(s: &str) -> Result<(OrganId, Option<String>), String> {
    let (id, name) = match s.split_once('=') {
        Some((id, name)) => (id, Some(name.trim().to_owned())),
        None => (s, None),
    };
    Ok((parse_organ_id(id.trim())?, name))
}

fn parse_date(s: &str) -> Result<EdDate, String> {
    EdDate::parse(s).map_err(|e| e.to_string())
}

fn parse_priority(s: &str) -> Result<Priority, String> {
    Priority::parse(s).map_err(|e| e.to_string())
}

/// `docaxis new`.
#[derive(Debug, Args)]
#[command(after_help = "\
Example (one of the seed articles, urgent, to two agencies, with a PDF):
  docaxis new --from '000.00.00.G22=Văn phòng Chính phủ' \\
    --to '000.00.00.G12=Bộ Tài chính' --to '000.00.00.H41=UBND tỉnh Nghệ An' \\
    --number 123 --notation VPCP-KSTT --priority 1 \\
    --content-file seeds/003_c3f26192a9f182c0.txt --attach report.pdf --out cv123.xml

The subject defaults to the first sentence of the text (at most 500 characters).
Agency names come from ID=Name, or from the directory when one is given.")]
pub struct NewArgs {
    /// The sender, as ID or ID=Name (e.g. '000.00.00.G22=Văn phòng Chính phủ').
    #[arg(long, value_name = "AGENCY", value_parser = parse_agency)]
    from: (OrganId, Option<String>),
    /// A recipient, as ID or ID=Name; repeat for each recipient.
    #[arg(long, value_name = "AGENCY", value_parser = parse_agency, required = true)]
    to: Vec<(OrganId, Option<String>)>,
    /// The document number (số), e.g. 123.
    #[arg(long)]
    number: String,
    /// The notation (ký hiệu), e.g. VPCP-KSTT.
    #[arg(long)]
    notation: String,
    /// Promulgation date, yyyy/MM/dd; today (Vietnam time) if omitted.
    #[arg(long, value_parser = parse_date)]
    date: Option<EdDate>,
    /// The text of the document (UTF-8).
    #[arg(long, value_name = "FILE")]
    content_file: PathBuf,
    /// The subject (trích yếu); defaults to the text's first sentence.
    #[arg(long)]
    subject: Option<String>,
    /// Priority: 0 normal, 1 urgent, 2 very urgent, 3 express, 4 express at a set time.
    #[arg(long, value_parser = parse_priority, default_value = "0")]
    priority: Priority,
    /// The type name, e.g. 'Công văn', 'Quyết định'.
    #[arg(long, default_value = "Công văn")]
    type_name: String,
    /// Who signed the paper document.
    #[arg(long, default_value = "Văn thư")]
    signer_name: String,
    /// Due date, yyyy/MM/dd.
    #[arg(long, value_parser = parse_date)]
    due: Option<EdDate>,
    /// A file to attach; repeat for more.
    #[arg(long, value_name = "FILE")]
    attach: Vec<PathBuf>,
    /// Where to write the document (stdout if omitted).
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    directory: OptionalDirectory,
}

#[derive(Serialize)]
struct NewReport {
    document_id: String,
    out: Option<String>,
    bytes: usize,
    recipients: usize,
    attachments: usize,
}

/// Composes, validates and writes a new document.
pub fn new(a: NewArgs, format: OutputFormat) -> anyhow::Result<()> {
    let directory = a.directory.load()?;
    let name = |id: &OrganId, given: &Option<String>| -> String {
        given
            .clone()
            .or_else(|| {
                directory
                    .as_ref()
                    .and_then(|d| d.agency(id))
                    .map(|ag| ag.name.clone())
            })
            .unwrap_or_else(|| id.to_string())
    };
    let content = std::fs::read_to_string(&a.content_file)
        .with_context(|| format!("cannot read {} as UTF-8 text", a.content_file.display()))?;
    let date = a
        .date
        .unwrap_or_else(|| EdDate::new(EdTimestamp::now().local().date()));
    let mut draft = Draft::new(
        organization(a.from.0.clone(), name(&a.from.0, &a.from.1)),
        a.to.iter()
            .map(|(id, n)| organization(id.clone(), name(id, n)))
            .collect(),
        Code {
            code_number: a.number.trim().into(),
            code_notation: a.notation.trim().into(),
        },
        date,
        content,
    );
    if let Some(s) = a.subject {
        draft.subject = s;
    }
    draft.sent_at = EdTimestamp::now();
    draft.priority = a.priority;
    draft.type_name = a.type_name;
    draft.signer.full_name = a.signer_name;
    draft.due_date = a.due;
    for path in &a.attach {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attachment".into());
        draft.attach(&file_name, read(path)?);
    }
    let message = Message::Document(Box::new(draft.build()));
    let errors = check_fields(&message, known(directory.as_ref()));
    if !errors.is_empty() {
        return refuse_fields("the document is not valid", &errors, format);
    }
    let bytes = docaxis_edxml::serialize(&message);
    write_out(a.out.as_deref(), &bytes)?;
    if a.out.is_some() || format == OutputFormat::Json {
        let report = NewReport {
            document_id: message.document_id().to_owned(),
            out: a.out.as_ref().map(|p| p.display().to_string()),
            bytes: bytes.len(),
            recipients: a.to.len(),
            attachments: a.attach.len(),
        };
        report_to(a.out.is_none(), format, &report, || {
            format!(
                "wrote {} ({} bytes, {} recipient(s), {} attachment(s))",
                report.document_id, report.bytes, report.recipients, report.attachments
            )
        })?;
    }
    Ok(())
}

/// Prints a report on stdout, or on stderr when stdout carries the document.
fn report_to<T: Serialize>(
    stdout_taken: bool,
    format: OutputFormat,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if stdout_taken {
        match format {
            OutputFormat::Json => eprintln!("{}", serde_json::to_string(value)?),
            OutputFormat::Text => eprintln!("{}", text()),
        }
        Ok(())
    } else {
        format.emit(value, text)
    }
}

fn known(directory: Option<&Directory>) -> &dyn KnownAgencies {
    match directory {
        Some(d) => d,
        None => &NoDirectory,
    }
}

#[derive(Serialize)]
struct FieldReport<'a> {
    valid: bool,
    summary: &'a str,
    errors: &'a [FieldError],
}

fn refuse_fields(summary: &str, errors: &[FieldError], format: OutputFormat) -> anyhow::Result<()> {
    format.emit(
        &FieldReport {
            valid: false,
            summary,
            errors,
        },
        || {
            let mut s = format!("{summary}:");
            for e in errors {
                s.push_str(&format!("\n  - {e}"));
            }
            s
        },
    )?;
    Err(Refused(format!("{summary} ({} problem(s))", errors.len())).into())
}

/// `docaxis validate`.
#[derive(Debug, Args)]
#[command(after_help = "\
Each problem names the field (e.g. MessageHeader/To[2]/OrganId), what is wrong
and where (line, column). Exit code 1 if any file is invalid.")]
pub struct ValidateArgs {
    /// The edXML files to check.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    directory: OptionalDirectory,
}

#[derive(Serialize)]
struct ValidateReport {
    file: String,
    valid: bool,
    kind: Option<&'static str>,
    document_id: Option<String>,
    errors: Vec<FieldError>,
}

/// Parses and validates a message, with positions for every problem.
fn check(bytes: &[u8], directory: &dyn KnownAgencies) -> Result<Message, Vec<FieldError>> {
    match parse(bytes, &ParseLimits::default()) {
        Ok(p) => {
            let mut errors = check_fields(&p.message, directory);
            p.source_map.locate(bytes, &mut errors);
            if errors.is_empty() {
                Ok(p.message)
            } else {
                Err(errors)
            }
        }
        Err(ParseError::Invalid(errors)) => Err(errors),
        Err(ParseError::Xml(e)) => Err(vec![FieldError {
            path: "(document)".into(),
            message: e.kind.to_string(),
            position: e.position,
        }]),
    }
}

fn kind(m: &Message) -> &'static str {
    match m {
        Message::Document(_) => "document",
        Message::Status(_) => "status",
    }
}

/// Validates each file and reports all problems.
pub fn validate(a: ValidateArgs, format: OutputFormat) -> anyhow::Result<()> {
    let directory = a.directory.load()?;
    let mut reports = Vec::new();
    for file in &a.files {
        let bytes = read(file)?;
        let report = match check(&bytes, known(directory.as_ref())) {
            Ok(m) => ValidateReport {
                file: file.display().to_string(),
                valid: true,
                kind: Some(kind(&m)),
                document_id: Some(m.document_id().to_owned()),
                errors: Vec::new(),
            },
            Err(errors) => ValidateReport {
                file: file.display().to_string(),
                valid: false,
                kind: None,
                document_id: None,
                errors,
            },
        };
        reports.push(report);
    }
    let invalid = reports.iter().filter(|r| !r.valid).count();
    format.emit(&reports, || {
        let mut s = String::new();
        for r in &reports {
            if r.valid {
                s.push_str(&format!(
                    "{}: valid {} {}\n",
                    r.file,
                    r.kind.unwrap_or(""),
                    r.document_id.as_deref().unwrap_or("")
                ));
            } else {
                s.push_str(&format!("{}: {} problem(s)\n", r.file, r.errors.len()));
                for e in &r.errors {
                    s.push_str(&format!("  - {e}\n"));
                }
            }
        }
        s
    })?;
    if invalid > 0 {
        return Err(Refused(format!("{invalid} of {} file(s) invalid", reports.len())).into());
    }
    Ok(())
}

/// `docaxis sign`.
#[derive(Debug, Args)]
#[command(after_help = "\
The document is validated first; an invalid document is not signed.
Example:
  docaxis sign cv123.xml --key vpcp.key --key-id G22-2026 --out cv123.signed.xml")]
pub struct SignArgs {
    /// The unsigned edXML file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The agency's private key (PKCS#8 PEM, from `docaxis keygen`).
    #[arg(long, value_name = "FILE", env = "DOCAXIS_KEY")]
    key: PathBuf,
    /// The key's id in the agency directory (written as KeyInfo/KeyName).
    #[arg(long, value_name = "KEY_ID", env = "DOCAXIS_KEY_ID")]
    key_id: String,
    /// Where to write the signed document (stdout if omitted).
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    directory: OptionalDirectory,
}

#[derive(Serialize)]
struct SignReport {
    document_id: String,
    key_id: String,
    out: Option<String>,
    bytes: usize,
}

/// Validates and signs a file.
pub fn sign(a: SignArgs, format: OutputFormat) -> anyhow::Result<()> {
    let directory = a.directory.load()?;
    let bytes = read(&a.file)?;
    let message = match check(&bytes, known(directory.as_ref())) {
        Ok(m) => m,
        Err(errors) => {
            return refuse_fields("the document is not valid; not signed", &errors, format)
        }
    };
    docaxis_directory::KeyId::parse(&a.key_id).map_err(|e| anyhow::anyhow!("--key-id: {e}"))?;
    let key = keys::read_private_key(&a.key).context("cannot use the signing key")?;
    let signer = Signer::new(key, a.key_id.clone());
    let signed = signer
        .sign(&bytes, &ParseLimits::default().xml)
        .map_err(|e| Refused(e.to_string()))?;
    write_out(a.out.as_deref(), &signed)?;
    let report = SignReport {
        document_id: message.document_id().to_owned(),
        key_id: a.key_id,
        out: a.out.as_ref().map(|p| p.display().to_string()),
        bytes: signed.len(),
    };
    report_to(a.out.is_none(), format, &report, || {
        format!("signed {} with key {}", report.document_id, report.key_id)
    })
}

/// `docaxis verify`.
#[derive(Debug, Args)]
#[command(after_help = "\
Checks the signature (content unchanged, key listed and valid at signing time,
not revoked, signer = From agency, signature where the scheme puts it) and then
the document's fields. Exit code 1 if either fails.")]
pub struct VerifyArgs {
    /// The signed edXML file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The signed agency directory.
    #[arg(
        long,
        value_name = "FILE",
        env = "DOCAXIS_DIRECTORY",
        default_value = "directory.json"
    )]
    directory: PathBuf,
    /// The axis operator's root public key.
    #[arg(long, value_name = "FILE", env = "DOCAXIS_ROOT_PUB")]
    root_pub: PathBuf,
    /// Judge keys as at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    at: Option<OffsetDateTime>,
}

#[derive(Serialize)]
struct VerifyReport {
    file: String,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    errors: Vec<FieldError>,
}

/// Verifies a signed file.
pub fn verify(a: VerifyArgs, format: OutputFormat) -> anyhow::Result<()> {
    let (directory, _) = load_directory(&a.directory, &a.root_pub)?;
    let bytes = read(&a.file)?;
    let now = a.at.unwrap_or_else(OffsetDateTime::now_utc);
    let mut report = VerifyReport {
        file: a.file.display().to_string(),
        valid: false,
        error: None,
        kind: None,
        document_id: None,
        signer: None,
        key_id: None,
        digest: None,
        errors: Vec::new(),
    };
    match docaxis_dsig::verify(&bytes, &directory, now, &ParseLimits::default()) {
        Ok(v) => {
            report.errors = check(&bytes, &directory).err().unwrap_or_default();
            report.valid = report.errors.is_empty();
            report.kind = Some(kind(&v.message));
            report.document_id = Some(v.message.document_id().to_owned());
            report.signer = Some(v.signer.to_string());
            report.key_id = Some(v.key_id);
            report.digest = Some(hex::encode(v.digest));
        }
        Err(e) => report.error = Some(e.to_string()),
    }
    format.emit(&report, || match (&report.error, report.valid) {
        (Some(e), _) => format!("{}: REFUSED: {e}", report.file),
        (None, true) => format!(
            "{}: signature valid\n  document: {}\n  signer:   {} (key {})\n  digest:   sha256:{}",
            report.file,
            report.document_id.as_deref().unwrap_or(""),
            report.signer.as_deref().unwrap_or(""),
            report.key_id.as_deref().unwrap_or(""),
            report.digest.as_deref().unwrap_or("")
        ),
        (None, false) => {
            let mut s = format!("{}: signature valid, but the document is not:", report.file);
            for e in &report.errors {
                s.push_str(&format!("\n  - {e}"));
            }
            s
        }
    })?;
    if !report.valid {
        let why = report
            .error
            .clone()
            .unwrap_or_else(|| format!("{} field problem(s)", report.errors.len()));
        return Err(Refused(why).into());
    }
    Ok(())
}
