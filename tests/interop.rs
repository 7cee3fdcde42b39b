//! Interoperability with an independent implementation of the signature
//! scheme: `interop/edxml_dsig.py`, built on Python's lxml (libxml2's
//! exclusive C14N) and the `cryptography` package's Ed25519, sharing no code
//! with docaxis.
//!
//! - docaxis signs, Python verifies (and refuses what was tampered with);
//! - Python signs (with a `ds:` prefix, the default namespace, the prefix
//!   declared on the root, indented or not), docaxis verifies (and refuses
//!   what was tampered with);
//! - both canonicalize the same inputs to the same bytes.
//!
//! Python 3 with lxml and cryptography is required: a missing one is a
//! failure, not a skip (`pip install lxml cryptography`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use base64::Engine;
use docaxis_dsig::{verify, VerifyError};
use docaxis_edxml::{
    serialize, validate, Attachment, Document, EdTimestamp, ManifestReference, Message,
    NoDirectory, ParseLimits, ResponseFor, StaffInfo, StatusCode, StatusMessage, TraceHeader,
};
use docaxis_suites::*;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::EncodePublicKey;
use time::macros::datetime;

const INSTALL: &str = "the interop test needs python3 with lxml and cryptography: \
                       pip install lxml cryptography";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/edxml_dsig.py")
}

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds")
}

/// Fails (never skips) when Python or its packages are missing.
fn require_python() {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let result = CHECKED.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import lxml.etree, cryptography"])
            .output()
            .map_err(|e| format!("cannot run python3 ({e}); {INSTALL}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "python3 cannot import lxml and cryptography ({}); {INSTALL}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Runs the script once with `args`.
fn python(args: &[&str]) -> Output {
    require_python();
    let out = Command::new("python3")
        .arg(script())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); {INSTALL}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("pip install"), "{stderr}");
    out
}

/// One answer of the script's batch mode.
#[derive(Debug)]
struct Answer {
    ok: bool,
    message: String,
}

/// Runs tab-separated commands through one Python process (one interpreter
/// start for many documents keeps the suite fast).
fn batch(commands: &[String]) -> Vec<Answer> {
    require_python();
    let mut child = Command::new("python3")
        .arg(script())
        .arg("batch")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); {INSTALL}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = commands.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("python3 batch runs");
    writer.join().unwrap().expect("commands written");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 answers");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("pip install"), "{stderr}");
    let answers: Vec<Answer> = stdout
        .lines()
        .map(|l| {
            let (status, message) = l.split_once('\t').unwrap_or((l, ""));
            Answer {
                ok: status == "ok",
                message: message.to_owned(),
            }
        })
        .collect();
    assert_eq!(
        answers.len(),
        commands.len(),
        "one answer per command; stderr: {stderr}"
    );
    answers
}

fn path_str(p: &Path) -> &str {
    let s = p.to_str().expect("temporary paths are UTF-8");
    assert!(!s.contains('\t'), "no tab in {s}");
    s
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn public_hex(seed: u8) -> String {
    hex(key(seed).verifying_key().as_bytes())
}

fn seed_hex(seed: u8) -> String {
    hex(&[seed; 32])
}

/// The first sentence of an article, at most 500 characters: the subject of
/// the document made from it.
fn first_sentence(text: &str) -> String {
    let t = text.trim();
    let mut end = t.len();
    let mut chars = t.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\n' {
            end = i;
            break;
        }
        if matches!(c, '.' | '!' | '?') && chars.peek().is_none_or(|(_, n)| n.is_whitespace()) {
            end = i + c.len_utf8();
            break;
        }
    }
    t[..end].trim().chars().take(500).collect()
}

/// The five seed articles as documents from G22: subject the first
/// sentence, content the text, the text again as one attachment.
fn seed_documents() -> Vec<(String, Document)> {
    let mut files: Vec<_> = std::fs::read_dir(seeds_dir())
        .expect("seeds/ is readable")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 5, "five seed articles in {:?}", seeds_dir());
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("seed articles are UTF-8");
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let mut d = document();
            d.header.subject = first_sentence(&text);
            assert!(!d.header.subject.is_empty(), "{stem} has a first sentence");
            d.header.content = text.clone();
            let name = format!("{stem}.txt");
            d.manifest.references = vec![ManifestReference {
                content_id: "cid:1".into(),
                content_type: "text/plain; charset=utf-8".into(),
                description: "Toàn văn".into(),
                attachment_name: name.clone(),
            }];
            d.attachments = vec![Attachment {
                content_id: "cid:1".into(),
                attachment_name: name,
                description: "Toàn văn".into(),
                content_type: "text/plain; charset=utf-8".into(),
                content: text.into_bytes(),
            }];
            let errors = validate(&Message::Document(Box::new(d.clone())), &NoDirectory);
            assert!(errors.is_empty(), "{stem}: {errors:?}");
            (stem, d)
        })
        .collect()
}

/// A status message from G12 (Ministry of Finance) about the example.
fn status_message() -> StatusMessage {
    let d = document();
    let g12 = d.header.to[0].clone();
    assert_eq!(g12.organ_id.as_str(), G12);
    StatusMessage {
        response_for: ResponseFor {
            organ_id: d.header.from.organ_id.clone(),
            code: d.header.code.joined(),
            promulgation_date: d.header.promulgation_info.promulgation_date,
            document_id: d.header.document_id.clone(),
        },
        from: g12.clone(),
        staff_info: Some(StaffInfo {
            department: "Văn phòng Bộ".into(),
            staff: "Lê Văn C".into(),
            mobile: "0911111111".into(),
            email: "vanthu@mof.example.gov.vn".into(),
        }),
        status_code: StatusCode::Accepted,
        description: "Đã tiếp nhận & vào sổ <văn bản đến>".into(),
        timestamp: EdTimestamp::new(datetime!(2022-07-01 08:45:00)),
        trace: docaxis_edxml::TraceHeaderList {
            trace_headers: vec![
                d.trace.trace_headers[0].clone(),
                TraceHeader {
                    organ_id: g12.organ_id,
                    timestamp: EdTimestamp::new(datetime!(2022-07-01 08:45:00)),
                },
            ],
            business: None,
        },
        signature: None,
    }
}

/// An unsigned message, who sends it, and the sender's key (seed, id).
struct Unsigned {
    name: String,
    /// What the bytes say.
    message: Message,
    /// The bytes to sign: docaxis's serialization, or a form other
    /// senders write.
    bytes: Vec<u8>,
    seed: u8,
    key_id: &'static str,
}

/// The example with the edXML namespace as the default namespace (no
/// prefix), as some senders write it.
fn default_namespace(xml: &str) -> String {
    xml.replace("<edXML:", "<")
        .replace("</edXML:", "</")
        .replace("xmlns:edXML=", "xmlns=")
}

/// Every message both directions exercise: the example, the five seed
/// articles, a document without attachments, one with a 200 KB attachment,
/// a status message, and the example written with the default namespace
/// and with CRLF line ends.
fn unsigned_messages() -> Vec<Unsigned> {
    let g22 = |name: String, d: Document| {
        let message = Message::Document(Box::new(d));
        Unsigned {
            name,
            bytes: serialize(&message),
            message,
            seed: 1,
            key_id: "G22-2022",
        }
    };
    let mut all = vec![g22("example".into(), document())];
    for (stem, d) in seed_documents() {
        all.push(g22(format!("seed-{stem}"), d));
    }
    let mut bare = document();
    bare.manifest.references.clear();
    bare.attachments.clear();
    all.push(g22("no-attachments".into(), bare));
    let mut large = document();
    let mut x: u32 = 1;
    large.attachments[0].content = (0..200_000)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect();
    all.push(g22("attachment-200k".into(), large));
    let status = Message::Status(Box::new(status_message()));
    all.push(Unsigned {
        name: "status-03".into(),
        bytes: serialize(&status),
        message: status,
        seed: 2,
        key_id: "G12-2022",
    });
    let example = docaxis_edxml::example_document_xml();
    let mut default_ns = g22("example-default-ns".into(), document());
    default_ns.bytes = default_namespace(&example).into_bytes();
    all.push(default_ns);
    let mut crlf = g22("example-crlf".into(), document());
    crlf.bytes = example.replace('\n', "\r\n").into_bytes();
    all.push(crlf);
    all
}

fn docaxis_verify(bytes: &[u8]) -> Result<docaxis_dsig::Verified, VerifyError> {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    verify(
        bytes,
        &FIXTURE.get_or_init(Fixture::new).directory,
        now(),
        &ParseLimits::default(),
    )
}

fn without_signature(m: Message) -> Message {
    match m {
        Message::Document(mut d) => {
            d.signature = None;
            Message::Document(d)
        }
        Message::Status(mut s) => {
            s.signature = None;
            Message::Status(s)
        }
    }
}

/// docaxis's Signature (default namespace) rewritten with a `ds:` prefix:
/// the same information, but not the same canonical SignedInfo.
fn with_ds_prefix(signed: &str) -> String {
    let mut out = signed
        .replace("<Signature xmlns=", "<ds:Signature xmlns:ds=")
        .replace(" xmlns=\"http://www.w3.org/2000/09/xmldsig#\"", "");
    for name in [
        "Signature",
        "SignedInfo",
        "CanonicalizationMethod",
        "SignatureMethod",
        "Reference",
        "Transforms",
        "Transform",
        "DigestMethod",
        "DigestValue",
        "SignatureValue",
        "KeyInfo",
        "KeyName",
    ] {
        out = out
            .replace(&format!("<{name}>"), &format!("<ds:{name}>"))
            .replace(&format!("<{name} "), &format!("<ds:{name} "))
            .replace(&format!("</{name}>"), &format!("</ds:{name}>"));
    }
    assert!(!out.contains("<Signature") && !out.contains("<SignedInfo"));
    out
}

/// Replaces the base64 of the first attachment with that of other bytes.
fn tamper_attachment(signed: &[u8], original: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut other = original.to_vec();
    other[0] ^= 1;
    replace_once(signed, &b64.encode(original), &b64.encode(other))
}

#[test]
fn docaxis_signs_python_verifies() {
    let fx = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let mut commands = Vec::new();
    let mut names = Vec::new();
    let mut signed_example = Vec::new();
    let mut signed_seed = (Vec::new(), Vec::new());
    for u in unsigned_messages() {
        let signed = fx
            .signer_with(u.seed, u.key_id)
            .sign(&u.bytes, &docaxis_xml::Limits::default())
            .unwrap();
        // docaxis agrees with itself first, so a failure below is interop.
        docaxis_verify(&signed).unwrap_or_else(|e| panic!("{}: docaxis refuses: {e}", u.name));
        let path = dir.path().join(format!("{}.signed.xml", u.name));
        std::fs::write(&path, &signed).unwrap();
        commands.push(format!(
            "verify\t{}\t{}",
            path_str(&path),
            public_hex(u.seed)
        ));
        names.push(u.name.clone());
        if u.name == "example" {
            signed_example = signed.clone();
        }
        if u.name.starts_with("seed-003") {
            let Message::Document(d) = &u.message else {
                unreachable!()
            };
            signed_seed = (signed.clone(), d.attachments[0].content.clone());
        }
    }
    // Rewritings that exclusive C14N (without comments) makes equal: both
    // implementations must still accept them.
    let text = String::from_utf8(signed_example.clone()).unwrap();
    let equivalents: Vec<(&str, Vec<u8>)> = vec![
        (
            "comment inside a text",
            replace_once(&signed_example, "Nguyễn Văn A", "Nguyễn<!-- ghi chú --> Văn A"),
        ),
        ("CRLF line ends", text.replace('\n', "\r\n").into_bytes()),
        (
            "single quotes",
            replace_once(
                &signed_example,
                "<edXML:edXMLManifest version=\"1.0\">",
                "<edXML:edXMLManifest version='1.0' >",
            ),
        ),
        (
            "empty-element tags",
            text.replace("<edXML:Fax></edXML:Fax>", "<edXML:Fax/>")
                .replace(
                    "<DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"></DigestMethod>",
                    "<DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>",
                )
                .into_bytes(),
        ),
        (
            "namespaces declared again and unused ones added",
            replace_once(
                &signed_example,
                "<edXML:MessageHeader>",
                "<edXML:MessageHeader xmlns:edXML=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">",
            ),
        ),
        (
            "character references for plain characters",
            replace_once(&signed_example, "Nguyễn Văn A", "Nguy&#x1EC5;n V&#259;n &#65;"),
        ),
    ];
    for (i, (name, bytes)) in equivalents.iter().enumerate() {
        assert_ne!(bytes, &signed_example, "{name} changes the bytes");
        docaxis_verify(bytes).unwrap_or_else(|e| panic!("docaxis refuses {name}: {e}"));
        let path = dir.path().join(format!("equivalent-{i}.xml"));
        std::fs::write(&path, bytes).unwrap();
        commands.push(format!("verify\t{}\t{}", path_str(&path), public_hex(1)));
        names.push(format!("example rewritten: {name}"));
    }
    let good = commands.len();

    // What Python must refuse, and the reason it must give.
    let mut refusals: Vec<(&str, Vec<u8>, String, &str)> = vec![
        (
            "content changed",
            replace_once(&signed_example, "Nguyễn Văn A", "Nguyễn Văn B"),
            public_hex(1),
            "digest mismatch",
        ),
        (
            "attachment changed",
            tamper_attachment(&signed_seed.0, &signed_seed.1),
            public_hex(1),
            "digest mismatch",
        ),
        (
            "an element inserted",
            replace_once(
                &signed_example,
                "<edXML:DocumentId>",
                "<edXML:Note>x</edXML:Note><edXML:DocumentId>",
            ),
            public_hex(1),
            "digest mismatch",
        ),
        (
            "white space added after the Signature",
            replace_once(
                &signed_example,
                "</Signature></edXML:edXMLHeader>",
                "</Signature>\n</edXML:edXMLHeader>",
            ),
            public_hex(1),
            "digest mismatch",
        ),
        (
            "another agency's key",
            signed_example.clone(),
            public_hex(2),
            "bad signature",
        ),
        (
            "signature algorithm swapped",
            replace_once(
                &signed_example,
                "xmldsig-more#eddsa-ed25519",
                "xmldsig-more#rsa-sha256",
            ),
            public_hex(1),
            "SignatureMethod",
        ),
        (
            // The prefix is part of SignedInfo's canonical form.
            "Signature rewritten with a ds: prefix",
            with_ds_prefix(&text).into_bytes(),
            public_hex(1),
            "bad signature",
        ),
        (
            "second Signature (wrapping)",
            replace_once(
                &signed_example,
                "<edXML:edXMLBody>",
                "<edXML:edXMLBody><Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\"/>",
            ),
            public_hex(1),
            "exactly one Signature",
        ),
    ];
    // SignedInfo changed: the digest still matches, the signature must not.
    let mut digest_swapped = signed_example.clone();
    let at = text.find("<DigestValue>").unwrap() + "<DigestValue>".len();
    digest_swapped[at] = if digest_swapped[at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    refusals.push((
        "DigestValue changed",
        digest_swapped,
        public_hex(1),
        "digest mismatch",
    ));
    for (i, (name, bytes, key, _)) in refusals.iter().enumerate() {
        let path = dir.path().join(format!("tampered-{i}.xml"));
        std::fs::write(&path, bytes).unwrap();
        commands.push(format!("verify\t{}\t{key}", path_str(&path)));
        names.push(name.to_string());
        // docaxis refuses these too.
        if *name != "another agency's key" {
            assert!(docaxis_verify(bytes).is_err(), "docaxis accepts {name}");
        }
    }

    let answers = batch(&commands);
    for (i, a) in answers.iter().enumerate() {
        if i < good {
            assert!(
                a.ok,
                "Python refuses docaxis-signed {}: {}",
                names[i], a.message
            );
        } else {
            let (name, _, _, reason) = &refusals[i - good];
            assert!(!a.ok, "Python accepts a document with {name}");
            assert!(
                a.message.contains(reason),
                "{name}: Python refused for another reason: {}",
                a.message
            );
        }
    }
    println!(
        "docaxis -> Python: {} signed messages and {} equivalent rewritings verified, {} tampered ones refused",
        good - equivalents.len(),
        equivalents.len(),
        refusals.len()
    );

    // The command line proper (the batch above took hex keys): exit 0 / 1,
    // a PEM public key file.
    let example = dir.path().join("example.signed.xml");
    let pem_path = dir.path().join("g22.pub.pem");
    let pem = key(1)
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    std::fs::write(&pem_path, pem).unwrap();
    let ok = python(&["verify", path_str(&example), path_str(&pem_path)]);
    assert_eq!(ok.status.code(), Some(0), "{:?}", ok);
    let tampered = dir.path().join("tampered-0.xml");
    let refused = python(&["verify", path_str(&tampered), path_str(&pem_path)]);
    assert_eq!(refused.status.code(), Some(1), "{:?}", refused);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("digest mismatch"));
}

/// A case docaxis must refuse: name, bytes, the refusal expected.
type Refusal = (&'static str, Vec<u8>, fn(&VerifyError) -> bool);

/// The ways the Python side writes its signature.
const STYLES: &[(&str, &[&str])] = &[
    ("ds-indented", &[]),
    ("ds-compact", &["--compact"]),
    ("default-ns", &["--prefix", ""]),
    ("ds-on-root", &["--declare-on-root", "--compact"]),
];

#[test]
fn python_signs_docaxis_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let messages = unsigned_messages();
    let mut commands = Vec::new();
    let mut outputs = Vec::new();
    for u in &messages {
        let input = dir.path().join(format!("{}.xml", u.name));
        std::fs::write(&input, &u.bytes).unwrap();
        for (style, options) in STYLES {
            let out = dir.path().join(format!("{}.{style}.py-signed.xml", u.name));
            let mut line = format!(
                "sign\t{}\t{}\t{}\t{}",
                path_str(&input),
                seed_hex(u.seed),
                u.key_id,
                path_str(&out)
            );
            for o in *options {
                line.push('\t');
                line.push_str(o);
            }
            commands.push(line);
            outputs.push((u, *style, out));
        }
    }
    // Signed by Python with the wrong key under G22's key id.
    let wrong_key_in = dir.path().join("example.xml");
    let wrong_key_out = dir.path().join("example.wrong-key.xml");
    commands.push(format!(
        "sign\t{}\t{}\tG22-2022\t{}",
        path_str(&wrong_key_in),
        seed_hex(21),
        path_str(&wrong_key_out)
    ));
    // Python checks its own signatures too: a docaxis refusal below is then
    // a disagreement, not a broken signer.
    for (u, _, out) in &outputs {
        commands.push(format!("verify\t{}\t{}", path_str(out), public_hex(u.seed)));
    }
    let answers = batch(&commands);
    let (signed, rest) = answers.split_at(outputs.len());
    let (wrong_key, verified_by_python) = rest.split_at(1);
    for (a, (u, style, _)) in signed.iter().zip(&outputs) {
        assert!(
            a.ok,
            "Python cannot sign {} ({style}): {}",
            u.name, a.message
        );
    }
    assert!(wrong_key[0].ok, "{}", wrong_key[0].message);
    for (a, (u, style, _)) in verified_by_python.iter().zip(&outputs) {
        assert!(
            a.ok,
            "Python refuses its own {} ({style}): {}",
            u.name, a.message
        );
    }

    let mut verified = 0;
    for (u, style, out) in &outputs {
        let bytes = std::fs::read(out).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        match *style {
            "default-ns" => {
                assert!(text.contains("<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\">"))
            }
            "ds-on-root" => assert!(
                text.contains("xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"")
                    && text.contains("<ds:Signature>")
            ),
            _ => assert!(
                text.contains("<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">")
            ),
        }
        let v = docaxis_verify(&bytes)
            .unwrap_or_else(|e| panic!("docaxis refuses Python-signed {} ({style}): {e}", u.name));
        assert_eq!(v.key_id, u.key_id);
        assert_eq!(&v.signer, &u.message.from().organ_id);
        // lxml rewrote the document (quotes, empty elements, character
        // references): the content docaxis reads is still the original.
        assert_eq!(
            without_signature(v.message),
            u.message,
            "{} ({style})",
            u.name
        );
        verified += 1;
    }

    // Python-signed, then changed: docaxis must refuse.
    let example = std::fs::read(&outputs[0].2).unwrap();
    let Message::Document(seed_doc) = &messages[3].message else {
        unreachable!()
    };
    let seed_signed = std::fs::read(&outputs[3 * STYLES.len()].2).unwrap();
    let cases: Vec<Refusal> = vec![
        (
            "content changed",
            replace_once(&example, "Nguyễn Văn A", "Nguyễn Văn B"),
            |e| matches!(e, VerifyError::DigestMismatch),
        ),
        (
            "attachment changed",
            tamper_attachment(&seed_signed, &seed_doc.attachments[0].content),
            |e| matches!(e, VerifyError::DigestMismatch),
        ),
        (
            "KeyName changed to the Ministry of Finance's key",
            replace_once(&example, "G22-2022", "G12-2022"),
            |e| matches!(e, VerifyError::SignerNotSender { .. }),
        ),
        (
            "white space after the Signature changed",
            replace_once(&example, "</ds:Signature>\n    </", "</ds:Signature></"),
            |e| matches!(e, VerifyError::DigestMismatch),
        ),
    ];
    let mut cases = cases;
    cases.push((
        "signed with another key under G22's key id",
        std::fs::read(&wrong_key_out).unwrap(),
        |e| matches!(e, VerifyError::BadSignature(_)),
    ));
    for (name, bytes, expected) in &cases {
        match docaxis_verify(bytes) {
            Ok(_) => panic!("docaxis accepts a Python-signed document with {name}"),
            Err(e) => assert!(expected(&e), "{name}: refused for another reason: {e}"),
        }
    }
    println!(
        "Python -> docaxis: {verified} Python-signed messages ({} messages x {} styles) verified, {} tampered ones refused",
        messages.len(),
        STYLES.len(),
        cases.len()
    );

    // The command line proper: `sign FILE SEED KEY_ID > OUT`.
    let out = python(&["sign", path_str(&wrong_key_in), &seed_hex(1), "G22-2022"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", out);
    docaxis_verify(&out.stdout).expect("docaxis verifies `sign` output from stdout");
}

/// Inputs whose canonical forms must agree byte for byte.
fn c14n_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let fx = Fixture::new();
    let example = docaxis_edxml::example_document_xml();
    let default_ns = default_namespace(&example);
    let two_prefixes = example
        .replacen(
            "<edXML:Code>",
            "<e2:Code xmlns:e2=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\" xmlns:unused=\"urn:unused\">",
            1,
        )
        .replacen("</edXML:Code>", "</e2:Code>", 1);
    let seed = seed_documents().remove(3).1;
    let large = unsigned_messages()
        .into_iter()
        .find(|u| u.name == "attachment-200k")
        .unwrap()
        .bytes;
    let mut inputs: Vec<(&'static str, Vec<u8>)> = vec![
        ("example document", example.clone().into_bytes()),
        (
            "example signed by docaxis",
            sign(&fx.signer(G22), document()),
        ),
        (
            "seed article 003 with attachment",
            serialize(&Message::Document(Box::new(seed))),
        ),
        (
            "example with the default namespace",
            default_ns.into_bytes(),
        ),
        ("example with a second prefix", two_prefixes.into_bytes()),
        ("document with a 200 KB attachment", large),
        (
            "status message",
            serialize(&Message::Status(Box::new(status_message()))),
        ),
    ];
    let raw: &[(&str, &str)] = &[
        (
            "namespaces declared in odd places",
            r#"<?xml version="1.0"?>
<a:root xmlns:a="urn:a" xmlns:unused="urn:unused" xmlns:b="urn:b">
  <b:x xmlns:c="urn:c"><c:y b:attr="1" a:attr="2">t</c:y><a:z xmlns:a="urn:a2"><a:w/></a:z></b:x>
  <plain xmlns:d="urn:d"><d:q xmlns:d="urn:d"/></plain>
  <p:a xmlns:p="urn:p"><p:b xmlns:p="urn:p"><p:c xmlns:p="urn:q"><p:d xmlns:p="urn:p"/></p:c></p:b></p:a>
  <n xmlns:x="urn:x"><m x:attr="v"/></n>
</a:root>"#,
        ),
        (
            "prefixes and default namespaces rebound below",
            r#"<r xmlns="urn:d"><a xmlns:p="urn:p"><p:b><c xmlns:p="urn:q"><p:d/></c></p:b></a><p:x xmlns:p="urn:p"><y xmlns=""/></p:x><s xmlns:q="urn:d"><q:t/><t/></s></r>"#,
        ),
        (
            "default namespace",
            r#"<root xmlns="urn:default" xmlns:p="urn:p"><child attr="x"><p:k/><nested xmlns=""><deeper xmlns="urn:other"><x xmlns="urn:default"/></deeper></nested></child><p:e xmlns="urn:default"><y/></p:e></root>"#,
        ),
        (
            "default namespace declared on a prefixed root",
            r#"<p:a xmlns:p="urn:p" xmlns="urn:d"><c xmlns=""/><b><c xmlns=""/></b></p:a>"#,
        ),
        (
            "empty default namespace undeclared at the root",
            r#"<a xmlns=""><b xmlns="urn:b"><c xmlns=""><d/></c></b></a>"#,
        ),
        (
            "attributes in odd order",
            r#"<r xmlns:z="urn:a" xmlns:a="urn:z" z:b="1" a:b="2" b="3" a="4" xml:lang="vi" xml:space="preserve" z:a="5"><e a:x="1" xmlns:a="urn:z2" b='single' a = "spaced" /></r>"#,
        ),
        (
            "CRLF line ends",
            "<?xml version=\"1.0\"?>\r\n<doc attr=\"a\r\nb\">line1\r\nline2\rline3\r\n  <x>\r\n</x>&#13;&#xD;&#xA;\r\n</doc>\r\n",
        ),
        (
            "character references",
            "<doc a=\"&#9;&#10;&#13;&#x20;&lt;&gt;&amp;&quot;&apos;\" b='\"double\" in single' c=\"tab\there\">&#x1F600;&#233;&#xE9;&amp;&lt;&gt;&#62;&quot;&apos; &#x3E; &#x2028;</doc>",
        ),
        (
            "CDATA sections",
            "<doc><![CDATA[a<b && c>d ]]]]><![CDATA[> \"q\" 'a' ]]>tail<x><![CDATA[]]></x><![CDATA[\r\nx\r]]></doc>",
        ),
        (
            "processing instructions",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<?before  data with   spaces ?>\n\n<?empty?>\n<doc><?inner x=\"1\"?>text<?inner2   ?></doc>\n<?after tail ?>\n",
        ),
        (
            "comments",
            "<!-- c0 -->\n<doc><!-- c1 -->a<!--c2-->b<e><!--only--></e></doc>\n<!-- c3 -->\n",
        ),
        (
            "white space and empty elements",
            "<doc>\n  <e/>\n  <f   ></f >\n\t<g a = 'x' />\n</doc>",
        ),
        (
            "two prefixes for one namespace, redundant declarations",
            r#"<a:e xmlns:a="urn:x" xmlns:b="urn:x" xmlns="urn:d" b:attr="1"><b:f a:g="2"/><h xmlns="urn:d"><i xmlns="urn:d"/></h></a:e>"#,
        ),
        (
            "the xml prefix declared, characters beyond the BMP",
            r#"<a xmlns:xml="http://www.w3.org/XML/1998/namespace" xml:lang="en" xmlns:q="urn:a?b=1"><q:b q:c="&#x10437;&#9;">&#x10437;</q:b></a>"#,
        ),
        (
            "names with dots, dashes, underscores and digits",
            "<a.b-c_d1 e.f-g_h2=\"1\"><_x/><y-1>&#x9;tab&#9;</y-1></a.b-c_d1>",
        ),
        (
            "UTF-8 byte order mark",
            "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc>BOM</doc>",
        ),
        (
            "non-ASCII names and text",
            "<tài_liệu ngày=\"01/07\" xmlns:đ=\"urn:x-dd\"><đ:mục>Xin chào, Việt Nam – “trích yếu”</đ:mục></tài_liệu>",
        ),
    ];
    for (name, text) in raw {
        inputs.push((name, text.as_bytes().to_vec()));
    }
    inputs
}

#[test]
fn canonical_forms_agree_with_lxml() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = c14n_inputs();
    let mut commands = Vec::new();
    let mut files = Vec::new();
    for (i, (_, bytes)) in inputs.iter().enumerate() {
        let input = dir.path().join(format!("c14n-{i}.xml"));
        let out = dir.path().join(format!("c14n-{i}.lxml"));
        std::fs::write(&input, bytes).unwrap();
        commands.push(format!("c14n\t{}\t{}", path_str(&input), path_str(&out)));
        files.push(out);
    }
    // And a Python-signed document (ds: prefix, indented), canonicalized
    // after Python wrote it.
    let unsigned = dir.path().join("unsigned.xml");
    std::fs::write(&unsigned, docaxis_edxml::example_document_xml()).unwrap();
    let py_signed = dir.path().join("py-signed.xml");
    commands.push(format!(
        "sign\t{}\t{}\tG22-2022\t{}",
        path_str(&unsigned),
        seed_hex(1),
        path_str(&py_signed)
    ));
    let py_signed_c14n = dir.path().join("py-signed.lxml");
    commands.push(format!(
        "c14n\t{}\t{}",
        path_str(&py_signed),
        path_str(&py_signed_c14n)
    ));
    let answers = batch(&commands);
    for a in &answers {
        assert!(a.ok, "{}", a.message);
    }

    let mut cases: Vec<(&str, Vec<u8>, PathBuf)> = inputs
        .into_iter()
        .zip(files)
        .map(|((name, bytes), out)| (name, bytes, out))
        .collect();
    cases.push((
        "example signed by Python",
        std::fs::read(&py_signed).unwrap(),
        py_signed_c14n,
    ));
    let mut mismatches = Vec::new();
    for (name, bytes, lxml_out) in &cases {
        let doc = docaxis_xml::Document::parse(bytes, &docaxis_xml::Limits::default())
            .unwrap_or_else(|e| panic!("{name}: docaxis cannot parse: {e}"));
        let mut ours = Vec::new();
        docaxis_xml::c14n::canonicalize_document(&doc, None, &mut ours).unwrap();
        let theirs = std::fs::read(lxml_out).unwrap();
        if ours != theirs {
            let at = ours
                .iter()
                .zip(&theirs)
                .position(|(a, b)| a != b)
                .unwrap_or(ours.len().min(theirs.len()));
            let from = at.saturating_sub(60);
            mismatches.push(format!(
                "{name}: first difference at byte {at}\n  docaxis: {:?}\n  lxml:    {:?}",
                String::from_utf8_lossy(&ours[from..(at + 60).min(ours.len())]),
                String::from_utf8_lossy(&theirs[from..(at + 60).min(theirs.len())]),
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "canonical forms differ:\n{}",
        mismatches.join("\n")
    );
    println!(
        "canonicalization: {} inputs identical to lxml's exclusive C14N",
        cases.len()
    );
}

/// A namespace name containing `&`: C14N 1.0 §2.3 renders namespace nodes
/// like attributes, `&` escaped as `&amp;`. docaxis does; libxml2 (hence
/// lxml, xmlsec, signxml) writes the namespace name unescaped, which is not
/// even well-formed. Not a docaxis bug, but a known interop hazard for
/// namespace names with `&` (edXML's and XML-DSig's have none), so this
/// case is checked against the specification instead of lxml.
#[test]
fn namespace_names_are_escaped_as_the_specification_says() {
    let input = r#"<a xmlns:q="urn:a?b=1&amp;c=2"><q:b/></a>"#;
    let spec = r#"<a><q:b xmlns:q="urn:a?b=1&amp;c=2"></q:b></a>"#;
    let libxml2 = r#"<a><q:b xmlns:q="urn:a?b=1&c=2"></q:b></a>"#;
    let doc =
        docaxis_xml::Document::parse(input.as_bytes(), &docaxis_xml::Limits::default()).unwrap();
    let mut ours = Vec::new();
    docaxis_xml::c14n::canonicalize_document(&doc, None, &mut ours).unwrap();
    assert_eq!(String::from_utf8(ours).unwrap(), spec);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ns-amp.xml");
    std::fs::write(&path, input).unwrap();
    let out = python(&["c14n", path_str(&path)]);
    assert!(out.status.success(), "{out:?}");
    let theirs = String::from_utf8(out.stdout).unwrap();
    assert!(
        theirs == spec || theirs == libxml2,
        "lxml now writes {theirs:?}"
    );
    println!(
        "namespace name with '&': docaxis follows C14N 1.0 §2.3; lxml {}",
        if theirs == spec {
            "too"
        } else {
            "writes it unescaped (libxml2 deviation)"
        }
    );
}
