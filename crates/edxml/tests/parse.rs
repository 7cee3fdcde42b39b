//! Parsing real-world variants, and the errors a clerk sees.

use docaxis_edxml::*;

fn parse_ok(xml: &str) -> Message {
    match parse(xml.as_bytes(), &ParseLimits::default()) {
        Ok(p) => p.message,
        Err(e) => panic!("{e}"),
    }
}

/// Parses and validates, returning every error with its position.
fn problems(xml: &str) -> Vec<FieldError> {
    match parse(xml.as_bytes(), &ParseLimits::default()) {
        Ok(p) => {
            let mut errors = validate(&p.message, &NoDirectory);
            p.source_map.locate(xml.as_bytes(), &mut errors);
            errors
        }
        Err(ParseError::Invalid(errors)) => errors,
        Err(e) => panic!("unexpected XML error: {e}"),
    }
}

fn example() -> Message {
    Message::Document(Box::new(example_document()))
}

#[test]
fn example_round_trips_and_is_valid() {
    let xml = example_document_xml();
    let m = parse_ok(&xml);
    assert_eq!(m, example());
    assert_eq!(validate(&m, &NoDirectory), vec![]);
    assert_eq!(String::from_utf8(serialize(&m)).unwrap(), xml);
}

#[test]
fn default_namespace_and_mixed_prefixes_parse_the_same() {
    let xml = example_document_xml();
    // Default namespace everywhere.
    let default_ns = xml.replace("edXML:", "").replace("xmlns:edXML=", "xmlns=");
    assert_eq!(parse_ok(&default_ns), example());
    // Both: prefix on the root, default namespace inside the header.
    let mixed = xml.replacen(
        "<edXML:MessageHeader>",
        "<MessageHeader xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">",
        1,
    );
    let mixed = mixed.replacen("</edXML:MessageHeader>", "</MessageHeader>", 1);
    assert_eq!(parse_ok(&mixed), example());
    // Compact, no white space between elements.
    let compact: String = xml.lines().map(str::trim_start).collect();
    assert_eq!(parse_ok(&compact), example());
}

#[test]
fn identifiers_and_dates_tolerate_surrounding_white_space() {
    let xml = example_document_xml().replace(
        "<edXML:PromulgationDate>2022/07/01</edXML:PromulgationDate>",
        "<edXML:PromulgationDate>\n   2022/07/01\n</edXML:PromulgationDate>",
    );
    assert_eq!(parse_ok(&xml), example());
}

#[test]
fn missing_fields_are_named_with_their_place() {
    let xml = example_document_xml()
        .replace("<edXML:Subject>", "<edXML:Other>")
        .replace("</edXML:Subject>", "</edXML:Other>");
    let errors = problems(&xml);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "MessageHeader/Subject");
    assert!(errors[0].message.contains("mandatory"), "{}", errors[0]);
    assert_eq!(errors[0].position.unwrap().line, 5);
}

#[test]
fn every_problem_is_reported_at_once() {
    let xml = example_document_xml()
        .replace("<edXML:Priority>1<", "<edXML:Priority>7<")
        .replace("2022/07/15", "2022/02/30")
        .replacen("<edXML:OrganId>000.00.00.H41<", "<edXML:OrganId>bad id<", 1);
    let errors = problems(&xml);
    let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "MessageHeader/To[2]/OrganId",
            "MessageHeader/DueDate",
            "MessageHeader/OtherInfo/Priority"
        ]
    );
    assert!(errors.iter().all(|e| e.position.is_some()));
    let text = ParseError::Invalid(errors).to_string();
    assert!(
        text.contains("\"7\" is not a valid Priority; expected one of 0 to 4"),
        "{text}"
    );
}

#[test]
fn duplicated_fields_and_recipients_are_refused() {
    let xml = example_document_xml();
    let twice = xml.replacen(
        "<edXML:Subject>",
        "<edXML:Subject>again</edXML:Subject>\n    <edXML:Subject>",
        1,
    );
    let errors = problems(&twice);
    assert_eq!(errors[0].path, "MessageHeader/Subject");
    assert!(errors[0].message.contains("more than once"));

    let mut doc = example_document();
    doc.header.to.push(doc.header.to[0].clone());
    let m = Message::Document(Box::new(doc));
    let errors = validate(&m, &NoDirectory);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path, "MessageHeader/To[3]/OrganId");
    assert!(errors[0].message.contains("listed twice (also To[1])"));
}

#[test]
fn no_recipient_long_subject_and_inconsistent_document_id() {
    let mut doc = example_document();
    doc.header.to.clear();
    doc.header.subject = "á".repeat(501);
    doc.header.document_id = "000.00.00.G22,2022/07/02,123/VPCP-KSTT".into();
    let errors = validate(&Message::Document(Box::new(doc)), &NoDirectory);
    let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "MessageHeader/To",
            "MessageHeader/Subject",
            "MessageHeader/DocumentId"
        ]
    );
    assert!(errors[1].message.contains("501 characters"));
}

#[test]
fn manifest_and_attachments_must_match() {
    let mut doc = example_document();
    doc.attachments[0].content_id = "cid:2".into();
    let errors = validate(&Message::Document(Box::new(doc)), &NoDirectory);
    let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "AttachmentEncoded/Attachment[1]/ContentId",
            "edXMLManifest/Reference[1]/ContentId"
        ]
    );
}

#[test]
fn free_form_ids_need_the_directory() {
    struct Listed;
    impl KnownAgencies for Listed {
        fn is_listed(&self, id: &OrganId) -> bool {
            id.as_str() == "vxp.saas.03"
        }
    }
    let mut doc = example_document();
    doc.header.to[1].organ_id = OrganId::parse("vxp.saas.03").unwrap();
    let m = Message::Document(Box::new(doc));
    let errors = validate(&m, &NoDirectory);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path, "MessageHeader/To[2]/OrganId");
    assert!(validate(&m, &Listed).is_empty());
}

#[test]
fn foreign_namespace_elements_are_refused() {
    let xml = example_document_xml().replacen(
        "<edXML:Subject>",
        "<x:Subject xmlns:x=\"urn:evil\">x</x:Subject><edXML:Subject>",
        1,
    );
    let errors = problems(&xml);
    assert_eq!(errors[0].path, "MessageHeader/Subject");
    assert!(errors[0].message.contains("urn:evil"), "{}", errors[0]);
}

#[test]
fn attachments_are_bounded_and_must_be_base64() {
    let xml = example_document_xml();
    let limits = ParseLimits {
        max_attachment_bytes: 10,
        ..ParseLimits::default()
    };
    let err = parse(xml.as_bytes(), &limits).unwrap_err();
    assert_eq!(
        err.field_errors()[0].path,
        "AttachmentEncoded/Attachment[1]/ContentTransferEncoded"
    );
    assert!(err.to_string().contains("more than the limit of 10 bytes"));

    let bad = xml.replace(
        "<edXML:ContentTransferEncoded>",
        "<edXML:ContentTransferEncoded>*",
    );
    let errors = problems(&bad);
    assert!(
        errors[0].message.contains("not valid base64"),
        "{}",
        errors[0]
    );

    // Line-wrapped base64, as MIME writers send it, is fine.
    let wrapped = xml.replace(
        "<edXML:ContentTransferEncoded>",
        "<edXML:ContentTransferEncoded>\n",
    );
    assert_eq!(parse_ok(&wrapped), example());
}

fn status() -> StatusMessage {
    let doc = example_document();
    StatusMessage {
        from: doc.header.to[0].clone(),
        response_for: ResponseFor {
            organ_id: doc.header.from.organ_id.clone(),
            code: doc.header.code.joined(),
            promulgation_date: doc.header.promulgation_info.promulgation_date,
            document_id: doc.header.document_id.clone(),
        },
        staff_info: None,
        status_code: StatusCode::Arrived,
        description: String::new(),
        timestamp: EdTimestamp::parse("2022/07/01 08:30:02").unwrap(),
        trace: TraceHeaderList {
            trace_headers: vec![TraceHeader {
                organ_id: doc.header.to[0].organ_id.clone(),
                timestamp: EdTimestamp::parse("2022/07/01 08:30:02").unwrap(),
            }],
            business: None,
        },
        signature: None,
    }
}

#[test]
fn status_messages_round_trip_and_refusals_need_a_reason() {
    let m = Message::Status(Box::new(status()));
    let xml = String::from_utf8(serialize(&m)).unwrap();
    assert!(xml.contains("<edXML:StatusCode>01</edXML:StatusCode>"));
    assert!(!xml.contains("edXMLBody"));
    assert_eq!(parse_ok(&xml), m);
    assert!(validate(&m, &NoDirectory).is_empty());

    let mut refused = status();
    refused.status_code = StatusCode::Refused;
    let errors = validate(&Message::Status(Box::new(refused)), &NoDirectory);
    assert_eq!(errors[0].path, "MessageHeader/Description");
}

#[test]
fn signature_without_namespace_is_read() {
    let xml = example_document_xml().replace(
        "</edXML:TraceHeaderList>",
        "</edXML:TraceHeaderList><Signature><SignedInfo><CanonicalizationMethod Algorithm=\"c\"/>\
         <SignatureMethod Algorithm=\"s\"/><Reference URI=\"\"><Transforms><Transform Algorithm=\"t1\"/>\
         </Transforms><DigestMethod Algorithm=\"d\"/><DigestValue> AAAA </DigestValue></Reference>\
         </SignedInfo><SignatureValue>BBBB</SignatureValue><KeyInfo><KeyName>k1</KeyName></KeyInfo></Signature>",
    );
    let m = parse_ok(&xml);
    let s = m.signature().unwrap();
    assert_eq!(s.canonicalization_method, "c");
    assert_eq!(s.references[0].uri.as_deref(), Some(""));
    assert_eq!(s.references[0].transforms, ["t1"]);
    assert_eq!(s.references[0].digest_value, "AAAA");
    assert_eq!(s.key_name.as_deref(), Some("k1"));
}

#[test]
fn wrong_root_is_refused() {
    let errors = problems("<edXML xmlns=\"urn:other\"/>");
    assert!(errors[0].message.contains("not in the edXML namespace"));
}
