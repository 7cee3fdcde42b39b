//! The XSDs in `schemas/` describe what docaxis writes: every document and
//! status message docaxis serializes (signed or not, with every optional
//! field present or absent) validates against them with xmllint, and
//! documents missing a mandatory element or carrying a malformed value do
//! not (the schemas are not vacuous).
//!
//! xmllint is required: a missing one is a failure, not a skip
//! (`apt-get install -y libxml2-utils`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use docaxis_edxml::{
    compose_document_id, example_document_xml, serialize, validate, Attachment, Business,
    BusinessDocType, Code, Document, DocumentType, EdDate, EdTimestamp, KnownAgencies, Manifest,
    ManifestReference, Message, MessageHeader, OrganId, Organization, OtherInfo, Priority,
    PromulgationInfo, Receiver, ReplacementInfo, ResponseFor, SignerInfo, StaffInfo, StatusCode,
    StatusMessage, TraceHeader, TraceHeaderList,
};
use docaxis_suites::*;
use time::{Date, Duration, PrimitiveDateTime, Time};

const INSTALL: &str =
    "the schema test needs xmllint: apt-get update && apt-get install -y libxml2-utils";

fn schema(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas")
        .join(name)
}

/// Runs `xmllint --noout --schema SCHEMA FILES`; fails (never skips) when
/// xmllint is missing.
fn xmllint(schema_name: &str, files: &[PathBuf]) -> Output {
    Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(schema(schema_name))
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run xmllint ({e}); {INSTALL}"))
}

/// Asserts that every file validates.
fn assert_valid(schema_name: &str, files: &[PathBuf]) {
    let out = xmllint(schema_name, files);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let validated = stderr.lines().filter(|l| l.ends_with(" validates")).count();
    assert!(
        out.status.success() && validated == files.len(),
        "{validated} of {} files validate against {schema_name}:\n{}",
        files.len(),
        stderr.lines().take(40).collect::<Vec<_>>().join("\n")
    );
}

/// A small deterministic generator (xorshift64*), so a failure names a
/// document that the next run generates again.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Free text with everything XML has to escape or normalize: markup
    /// characters, quotes, CR, CRLF, tabs, non-ASCII, `]]>`.
    fn text(&mut self, max_pieces: usize) -> String {
        const PIECES: &[&str] = &[
            "Hà Nội",
            "văn bản",
            "điện tử",
            " ",
            "  ",
            "&",
            "<",
            ">",
            "\"",
            "'",
            "\t",
            "\n",
            "\r\n",
            "\r",
            "]]>",
            "123",
            "QĐ-UBND",
            "Trục liên thông",
            "😀",
            "–",
            "&amp;",
            "a",
        ];
        let n = self.below(max_pieces + 1);
        (0..n).map(|_| self.pick(PIECES)).collect()
    }

    /// Text with at least one character that is not white space.
    fn non_empty(&mut self, max_pieces: usize) -> String {
        let mut s = self.text(max_pieces);
        s.insert_str(
            self.below(2) * s.len(),
            self.pick(&["Công văn", "x", "Số 1"]),
        );
        s
    }

    fn date(&mut self) -> EdDate {
        let year = 2000 + self.below(31) as i32;
        let day = 1 + self.below(365) as u16;
        EdDate::new(Date::from_ordinal_date(year, day).unwrap())
    }

    fn timestamp(&mut self) -> EdTimestamp {
        let t = Time::from_hms(
            self.below(24) as u8,
            self.below(60) as u8,
            self.below(60) as u8,
        )
        .unwrap();
        EdTimestamp::new(PrimitiveDateTime::new(self.date().date(), t))
    }

    fn organ_id(&mut self) -> OrganId {
        let id = if self.chance(10) {
            self.pick(FREE_FORM).to_string()
        } else {
            format!(
                "{:03}.{:02}.{:02}.{}{:02}",
                self.below(1000),
                self.below(100),
                self.below(100),
                self.pick(&['G', 'H']),
                self.below(100)
            )
        };
        OrganId::parse(&id).unwrap()
    }

    fn organization(&mut self, organ_id: OrganId) -> Organization {
        Organization {
            organ_id,
            organization_in_charge: self.text(3),
            organ_name: self.non_empty(3),
            organ_add: self.text(4),
            email: self
                .pick(&["", "vanthu@example.gov.vn", "a&b@example.vn"])
                .to_string(),
            telephone: self.text(2),
            fax: self.text(1),
            website: self
                .pick(&["", "https://example.gov.vn/?a=1&b=2"])
                .to_string(),
        }
    }

    fn opt<T>(&mut self, percent: usize, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.chance(percent) {
            Some(f(self))
        } else {
            None
        }
    }

    fn staff_info(&mut self) -> StaffInfo {
        StaffInfo {
            department: self.text(2),
            staff: self.text(2),
            mobile: self.pick(&["", "0900000000"]).to_string(),
            email: self.text(1),
        }
    }

    fn response_for(&mut self) -> ResponseFor {
        let organ_id = self.organ_id();
        let date = self.date();
        let code = format!("{}/{}", 1 + self.below(9999), self.pick(NOTATIONS));
        ResponseFor {
            document_id: format!("{organ_id},{date},{code}"),
            organ_id,
            code,
            promulgation_date: date,
        }
    }

    fn trace(&mut self, from: &OrganId) -> TraceHeaderList {
        let mut trace_headers = vec![TraceHeader {
            organ_id: from.clone(),
            timestamp: self.timestamp(),
        }];
        for _ in 0..self.below(3) {
            let organ_id = self.organ_id();
            trace_headers.push(TraceHeader {
                organ_id,
                timestamp: self.timestamp(),
            });
        }
        let business = self.opt(70, |r| {
            let doc_type = r.pick(BusinessDocType::ALL);
            let new = doc_type == BusinessDocType::New;
            Business {
                document_id: if new {
                    r.opt(30, |r| r.response_for().document_id)
                } else {
                    Some(r.response_for().document_id)
                },
                doc_type,
                reason: if new { r.text(3) } else { r.non_empty(3) },
                paper: r.opt(50, |r| r.pick(&["0", "1"]).to_string()),
                staff_info: r.opt(50, Rng::staff_info),
                replacements: (0..r.below(3))
                    .map(|_| ReplacementInfo {
                        document_id: r.response_for().document_id,
                        organ_ids: (0..r.below(4)).map(|_| r.organ_id()).collect(),
                    })
                    .collect(),
                receivers: (0..r.below(3))
                    .map(|_| Receiver {
                        receiver_type: r.pick(&["", "1", "2"]).to_string(),
                        organ_id: r.organ_id(),
                    })
                    .collect(),
            }
        });
        TraceHeaderList {
            trace_headers,
            business,
        }
    }

    fn document(&mut self) -> Document {
        let from = {
            let id = self.organ_id();
            self.organization(id)
        };
        let mut seen = HashSet::new();
        let to: Vec<Organization> = (0..1 + self.below(4))
            .map(|_| self.organ_id())
            .filter(|id| seen.insert(id.clone()))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|id| self.organization(id))
            .collect();
        let code = Code {
            code_number: (1 + self.below(99_999)).to_string(),
            code_notation: self.pick(NOTATIONS).to_string(),
        };
        let promulgation_date = self.date();
        let subject: String = if self.chance(5) {
            "Đ".repeat(500)
        } else {
            self.non_empty(20).chars().take(500).collect()
        };
        let n_attachments = self.below(4);
        let attachments: Vec<Attachment> = (0..n_attachments)
            .map(|i| Attachment {
                content_id: format!("cid:{}", i + 1),
                attachment_name: format!("tep-{i}.{}", self.pick(&["pdf", "docx", "txt"])),
                description: self.text(3),
                content_type: self
                    .pick(&["application/pdf", "text/plain", ""])
                    .to_string(),
                content: (0..self.below(300)).map(|_| self.next() as u8).collect(),
            })
            .collect();
        let mut references: Vec<ManifestReference> = attachments
            .iter()
            .map(|a| ManifestReference {
                content_id: a.content_id.clone(),
                content_type: a.content_type.clone(),
                description: a.description.clone(),
                attachment_name: a.attachment_name.clone(),
            })
            .collect();
        references.reverse();
        let trace = self.trace(&from.organ_id);
        Document {
            header: MessageHeader {
                document_id: compose_document_id(&from.organ_id, promulgation_date, &code),
                from,
                to,
                code,
                promulgation_info: PromulgationInfo {
                    place: self.non_empty(2),
                    promulgation_date,
                },
                document_type: DocumentType {
                    doc_type: (1 + self.below(9)).to_string(),
                    type_detail: self.pick(&["", "0", "12"]).to_string(),
                    type_name: self.non_empty(2),
                },
                subject,
                content: self.text(60),
                signer_info: SignerInfo {
                    competence: self.text(3),
                    position: self.text(2),
                    full_name: self.non_empty(2),
                },
                due_date: self.opt(60, |r| {
                    EdDate::new(promulgation_date.date() + Duration::days(r.below(60) as i64))
                }),
                other_info: OtherInfo {
                    priority: self.pick(Priority::ALL),
                    sphere_of_promulgation: self.text(2),
                    typer_notation: self.text(1),
                    promulgation_amount: self.pick(&[0, 1, 2, 99, u32::MAX]),
                    page_amount: self.pick(&[0, 1, 37, u32::MAX]),
                    direction: self.opt(50, |r| r.pick(&["true", "false", ""]).to_string()),
                    appendixes: (0..self.below(3)).map(|_| self.text(3)).collect(),
                },
                steering_type: self.opt(50, |r| r.pick(&["0", "1", ""]).to_string()),
                to_places: (0..self.below(4)).map(|_| self.text(3)).collect(),
                response_for: self.opt(30, Rng::response_for),
            },
            trace,
            signature: None,
            manifest: Manifest {
                version: self.pick(&["1.0", "1.0", "2.0"]).to_string(),
                references,
            },
            attachments,
        }
    }

    fn status(&mut self) -> StatusMessage {
        let from = {
            let id = self.organ_id();
            self.organization(id)
        };
        let status_code = self.pick(StatusCode::ALL);
        let trace = self.trace(&from.organ_id);
        StatusMessage {
            from,
            response_for: self.response_for(),
            staff_info: self.opt(60, Rng::staff_info),
            status_code,
            description: if status_code == StatusCode::Refused {
                self.non_empty(5)
            } else {
                self.text(5)
            },
            timestamp: self.timestamp(),
            trace,
            signature: None,
        }
    }
}

const FREE_FORM: &[&str] = &["vxp.saas.03", "test_unit-1", "A"];
const NOTATIONS: &[&str] = &["VPCP-KSTT", "QĐ-UBND", "BTC-TCT", "CV/ABC", "TB"];

/// The free-form ids the generator uses are "listed in the directory".
struct Listed;

impl KnownAgencies for Listed {
    fn is_listed(&self, id: &OrganId) -> bool {
        FREE_FORM.contains(&id.as_str())
    }
}

fn check_valid(name: &str, m: &Message) {
    let errors = validate(m, &Listed);
    assert!(
        errors.is_empty(),
        "generated {name} is not valid: {errors:?}"
    );
}

/// A status message from G12 about the example document.
fn example_status() -> StatusMessage {
    let d = document();
    let from = d.header.to[0].clone();
    StatusMessage {
        response_for: ResponseFor {
            organ_id: d.header.from.organ_id.clone(),
            code: d.header.code.joined(),
            promulgation_date: d.header.promulgation_info.promulgation_date,
            document_id: d.header.document_id.clone(),
        },
        trace: TraceHeaderList {
            trace_headers: vec![TraceHeader {
                organ_id: from.organ_id.clone(),
                timestamp: d.trace.trace_headers[0].timestamp,
            }],
            business: None,
        },
        from,
        staff_info: None,
        status_code: StatusCode::Arrived,
        description: String::new(),
        timestamp: d.trace.trace_headers[0].timestamp,
        signature: None,
    }
}

#[test]
fn everything_docaxis_writes_validates() {
    let fx = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };

    let mut documents = vec![
        write("example.xml", example_document_xml().as_bytes()),
        write("example-signed.xml", &sign(&fx.signer(G22), document())),
    ];
    let mut bare = document();
    bare.manifest.references.clear();
    bare.attachments.clear();
    check_valid("no-attachments", &Message::Document(Box::new(bare.clone())));
    documents.push(write(
        "no-attachments.xml",
        &serialize(&Message::Document(Box::new(bare))),
    ));

    let mut rng = Rng(0x5eed_d0c5_ca81_5eed);
    let signer = fx.signer(G22);
    for i in 0..300 {
        let m = Message::Document(Box::new(rng.document()));
        check_valid(&format!("document {i}"), &m);
        // Every third one signed (the schema does not check who signed).
        let bytes = if i % 3 == 0 {
            signer.sign_message(&m).unwrap()
        } else {
            serialize(&m)
        };
        documents.push(write(&format!("doc-{i:03}.xml"), &bytes));
    }

    let status = Message::Status(Box::new(example_status()));
    check_valid("example status", &status);
    let mut statuses = vec![
        write("status.xml", &serialize(&status)),
        write(
            "status-signed.xml",
            &fx.signer(G12).sign_message(&status).unwrap(),
        ),
    ];
    for i in 0..60 {
        let m = Message::Status(Box::new(rng.status()));
        check_valid(&format!("status {i}"), &m);
        let bytes = if i % 2 == 0 {
            signer.sign_message(&m).unwrap()
        } else {
            serialize(&m)
        };
        statuses.push(write(&format!("status-{i:03}.xml"), &bytes));
    }

    assert_valid("edxml.xsd", &documents);
    assert_valid("edxml-status.xsd", &statuses);
    println!(
        "xmllint: {} documents valid against edxml.xsd, {} status messages against edxml-status.xsd",
        documents.len(),
        statuses.len()
    );
}

/// The first element `<edXML:name>...</edXML:name>`, from the line end
/// before it to its end tag.
fn span(xml: &str, name: &str) -> std::ops::Range<usize> {
    let open = format!("<edXML:{name}>");
    let close = format!("</edXML:{name}>");
    let start = xml.find(&open).expect("element present");
    let start = xml[..start].rfind('\n').unwrap();
    let end = xml[start..].find(&close).unwrap() + start + close.len();
    start..end
}

/// Removes the first element `name`.
fn cut(xml: &str, name: &str) -> String {
    let r = span(xml, name);
    format!("{}{}", &xml[..r.start], &xml[r.end..])
}

/// Replaces the first element `name` with `element`.
fn put(xml: &str, name: &str, element: &str) -> String {
    let r = span(xml, name);
    format!("{}{element}{}", &xml[..r.start], &xml[r.end..])
}

fn replaced(xml: &str, from: &str, to: &str) -> String {
    String::from_utf8(replace_once(xml.as_bytes(), from, to)).unwrap()
}

#[test]
fn the_schemas_are_not_vacuous() {
    let fx = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let example = example_document_xml();
    let signed = String::from_utf8(sign(&fx.signer(G22), document())).unwrap();
    let status =
        String::from_utf8(serialize(&Message::Status(Box::new(example_status())))).unwrap();
    let too_long = put(
        &example,
        "Subject",
        &format!("<edXML:Subject>{}</edXML:Subject>", "Đ".repeat(501)),
    );

    // (name, schema, input, a word xmllint's complaint must contain)
    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "missing Subject",
            "edxml.xsd",
            cut(&example, "Subject"),
            "Subject",
        ),
        ("missing From", "edxml.xsd", cut(&example, "From"), "From"),
        (
            "missing DueDate",
            "edxml.xsd",
            cut(&example, "DueDate"),
            "DueDate",
        ),
        (
            "missing TraceHeader",
            "edxml.xsd",
            cut(&example, "TraceHeader"),
            "TraceHeader",
        ),
        (
            "missing To/Fax",
            "edxml.xsd",
            {
                let at = example.find("<edXML:To>").unwrap();
                format!("{}{}", &example[..at], cut(&example[at..], "Fax"))
            },
            "Fax",
        ),
        (
            "no recipient",
            "edxml.xsd",
            cut(&cut(&example, "To"), "To"),
            "To",
        ),
        (
            "missing edXMLBody",
            "edxml.xsd",
            cut(&example, "edXMLBody"),
            "edXMLBody",
        ),
        (
            "Priority 5",
            "edxml.xsd",
            replaced(&example, "<edXML:Priority>1<", "<edXML:Priority>5<"),
            "Priority",
        ),
        (
            "BussinessDocType 4",
            "edxml.xsd",
            replaced(
                &example,
                "<edXML:BussinessDocType>0<",
                "<edXML:BussinessDocType>4<",
            ),
            "BussinessDocType",
        ),
        (
            "ISO date",
            "edxml.xsd",
            replaced(
                &example,
                "<edXML:PromulgationDate>2022/07/01<",
                "<edXML:PromulgationDate>2022-07-01<",
            ),
            "PromulgationDate",
        ),
        (
            "month 13",
            "edxml.xsd",
            replaced(
                &example,
                "<edXML:DueDate>2022/07/15<",
                "<edXML:DueDate>2022/13/15<",
            ),
            "DueDate",
        ),
        (
            "timestamp without leading zero",
            "edxml.xsd",
            replaced(&example, "2022/07/01 08:30:00", "2022/07/01 8:30:00"),
            "Timestamp",
        ),
        (
            "OrganId with a space",
            "edxml.xsd",
            replaced(&example, "000.00.00.G12<", "000.00.00 G12<"),
            "OrganId",
        ),
        (
            "recipient twice",
            "edxml.xsd",
            replaced(&example, "000.00.00.H41<", "000.00.00.G12<"),
            "UniqueRecipient",
        ),
        (
            "Subject of 501 characters",
            "edxml.xsd",
            too_long,
            "Subject",
        ),
        (
            "empty Subject",
            "edxml.xsd",
            put(&example, "Subject", "<edXML:Subject> \t </edXML:Subject>"),
            "Subject",
        ),
        (
            "PageAmount negative",
            "edxml.xsd",
            replaced(&example, "<edXML:PageAmount>1<", "<edXML:PageAmount>-1<"),
            "PageAmount",
        ),
        (
            "elements out of order",
            "edxml.xsd",
            {
                let content = &example[span(&example, "Content")];
                let without = cut(&example, "Content");
                let at = span(&without, "Subject").start;
                format!("{}{content}{}", &without[..at], &without[at..])
            },
            "Content",
        ),
        (
            "unknown edXML element",
            "edxml.xsd",
            replaced(
                &example,
                "<edXML:Subject>",
                "<edXML:Remark>x</edXML:Remark><edXML:Subject>",
            ),
            "Remark",
        ),
        (
            "attachment without a manifest Reference",
            "edxml.xsd",
            {
                let at = example.find("<edXML:AttachmentEncoded>").unwrap();
                format!(
                    "{}{}",
                    &example[..at],
                    example[at..].replacen("cid:1", "cid:2", 1)
                )
            },
            "cid:",
        ),
        (
            "invalid base64",
            "edxml.xsd",
            {
                let at = example.find("<edXML:ContentTransferEncoded>").unwrap()
                    + "<edXML:ContentTransferEncoded>".len();
                format!("{}#{}", &example[..at], &example[at..])
            },
            "ContentTransferEncoded",
        ),
        (
            "manifest without version",
            "edxml.xsd",
            replaced(
                &example,
                "<edXML:edXMLManifest version=\"1.0\">",
                "<edXML:edXMLManifest>",
            ),
            "version",
        ),
        (
            "element in no namespace",
            "edxml.xsd",
            replaced(
                &example,
                "<edXML:Subject>",
                "<Subject xmlns=\"\">x</Subject><edXML:Subject>",
            ),
            "Subject",
        ),
        (
            "Signature without SignatureValue",
            "edxml.xsd",
            {
                let start = signed.find("<SignatureValue>").unwrap();
                let end = signed.find("</SignatureValue>").unwrap() + "</SignatureValue>".len();
                format!("{}{}", &signed[..start], &signed[end..])
            },
            "SignatureValue",
        ),
        (
            "Signature with a non-base64 DigestValue",
            "edxml.xsd",
            replaced(&signed, "<DigestValue>", "<DigestValue>!"),
            "DigestValue",
        ),
        (
            "Signature in the edXML namespace",
            "edxml.xsd",
            replaced(
                &signed,
                "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\">",
                "<Signature xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">",
            ),
            "Signature",
        ),
        (
            "a status message",
            "edxml.xsd",
            status.clone(),
            "ResponseFor",
        ),
        (
            "StatusCode 07",
            "edxml-status.xsd",
            replaced(&status, "<edXML:StatusCode>01<", "<edXML:StatusCode>07<"),
            "StatusCode",
        ),
        (
            "StatusCode 1",
            "edxml-status.xsd",
            replaced(&status, "<edXML:StatusCode>01<", "<edXML:StatusCode>1<"),
            "StatusCode",
        ),
        // The first Timestamp is MessageHeader's (TraceHeaderList follows).
        (
            "status without Timestamp",
            "edxml-status.xsd",
            cut(&status, "Timestamp"),
            "Timestamp",
        ),
        (
            "status without ResponseFor",
            "edxml-status.xsd",
            cut(&status, "ResponseFor"),
            "ResponseFor",
        ),
        (
            "a document",
            "edxml-status.xsd",
            example.clone(),
            "ResponseFor",
        ),
    ];

    let mut by_schema: Vec<(&str, Vec<(usize, PathBuf)>)> = Vec::new();
    for (i, (_, schema_name, input, _)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad-{i:02}.xml"));
        std::fs::write(&path, input).unwrap();
        match by_schema.iter_mut().find(|(s, _)| s == schema_name) {
            Some((_, files)) => files.push((i, path)),
            None => by_schema.push((schema_name, vec![(i, path)])),
        }
    }
    for (schema_name, files) in &by_schema {
        let paths: Vec<PathBuf> = files.iter().map(|(_, p)| p.clone()).collect();
        let out = xmllint(schema_name, &paths);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        for (i, path) in files {
            let (name, _, _, word) = &cases[*i];
            let p = path.to_str().unwrap();
            assert!(
                stderr.contains(&format!("{p} fails to validate")),
                "{name}: xmllint accepts it against {schema_name}\n{stderr}"
            );
            let complaint: Vec<&str> = stderr
                .lines()
                .filter(|l| l.starts_with(p) && l.contains("error"))
                .collect();
            assert!(
                complaint.iter().any(|l| l.contains(word)),
                "{name}: xmllint refuses it, but not for {word:?}: {complaint:?}"
            );
        }
    }
    // The positive control: the inputs the mutations started from are
    // valid, so each failure above is the mutation's.
    let originals = [
        (
            dir.path().join("example.xml"),
            example.as_str(),
            "edxml.xsd",
        ),
        (dir.path().join("signed.xml"), signed.as_str(), "edxml.xsd"),
        (
            dir.path().join("status.xml"),
            status.as_str(),
            "edxml-status.xsd",
        ),
    ];
    for (path, text, schema_name) in &originals {
        std::fs::write(path, text).unwrap();
        assert_valid(schema_name, std::slice::from_ref(path));
    }
    println!(
        "xmllint: {} broken documents refused for the expected reason",
        cases.len()
    );
}
