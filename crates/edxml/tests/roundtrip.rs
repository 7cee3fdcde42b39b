//! parse(serialize(m)) == m over generated messages.

use docaxis_edxml::*;
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

/// Free text: any printable character, XML specials, white space, CR.
fn text() -> impl Strategy<Value = String> {
    "[\\PC\r\n\t&<>\"' ]{0,24}"
}

/// Values the parser trims (ids, codes): no surrounding white space.
fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9/.,:_-]{0,16}"
}

fn organ_id() -> impl Strategy<Value = OrganId> {
    prop_oneof![
        "[0-9]{3}\\.[0-9]{2}\\.[0-9]{2}\\.[GH][0-9]{2}",
        "[a-z][a-z0-9._-]{0,20}",
    ]
    .prop_map(|s| OrganId::parse(&s).unwrap())
}

fn date() -> impl Strategy<Value = EdDate> {
    (1990i32..2100, 1u8..=12, 1u8..=28)
        .prop_map(|(y, m, d)| EdDate::parse(&format!("{y:04}/{m:02}/{d:02}")).unwrap())
}

fn timestamp() -> impl Strategy<Value = EdTimestamp> {
    (date(), 0u8..24, 0u8..60, 0u8..60)
        .prop_map(|(d, h, m, s)| EdTimestamp::parse(&format!("{d} {h:02}:{m:02}:{s:02}")).unwrap())
}

prop_compose! {
    fn organization()(organ_id in organ_id(), f in vec(text(), 7)) -> Organization {
        Organization {
            organ_id,
            organization_in_charge: f[0].clone(),
            organ_name: f[1].clone(),
            organ_add: f[2].clone(),
            email: f[3].clone(),
            telephone: f[4].clone(),
            fax: f[5].clone(),
            website: f[6].clone(),
        }
    }
}

prop_compose! {
    fn response_for()(organ_id in organ_id(), code in token(), promulgation_date in date(), document_id in token()) -> ResponseFor {
        ResponseFor { organ_id, code, promulgation_date, document_id }
    }
}

prop_compose! {
    fn staff_info()(f in vec(text(), 4)) -> StaffInfo {
        StaffInfo { department: f[0].clone(), staff: f[1].clone(), mobile: f[2].clone(), email: f[3].clone() }
    }
}

prop_compose! {
    fn business()(
        document_id in of(token()),
        doc_type in proptest::sample::select(BusinessDocType::ALL),
        reason in text(),
        paper in of(text()),
        staff_info in of(staff_info()),
        replacements in vec((token(), vec(organ_id(), 0..3)), 0..3),
        receivers in vec((text(), organ_id()), 0..3),
    ) -> Business {
        Business {
            document_id, doc_type, reason, paper, staff_info,
            replacements: replacements.into_iter().map(|(document_id, organ_ids)| ReplacementInfo { document_id, organ_ids }).collect(),
            receivers: receivers.into_iter().map(|(receiver_type, organ_id)| Receiver { receiver_type, organ_id }).collect(),
        }
    }
}

prop_compose! {
    fn trace()(hops in vec((organ_id(), timestamp()), 1..4), business in of(business())) -> TraceHeaderList {
        TraceHeaderList {
            trace_headers: hops.into_iter().map(|(organ_id, timestamp)| TraceHeader { organ_id, timestamp }).collect(),
            business,
        }
    }
}

prop_compose! {
    fn signature()(
        algs in vec(text(), 2),
        references in vec((of(text()), vec(text(), 0..3), text(), token()), 0..3),
        signature_value in token(),
        key_name in of(token()),
    ) -> SignatureInfo {
        SignatureInfo {
            canonicalization_method: algs[0].clone(),
            signature_method: algs[1].clone(),
            references: references.into_iter().map(|(uri, transforms, digest_method, digest_value)| SignatureReference { uri, transforms, digest_method, digest_value }).collect(),
            signature_value,
            key_name,
        }
    }
}

prop_compose! {
    fn other_info()(
        priority in proptest::sample::select(Priority::ALL),
        f in vec(text(), 2),
        promulgation_amount in any::<u32>(),
        page_amount in any::<u32>(),
        direction in of(text()),
        appendixes in vec(text(), 0..3),
    ) -> OtherInfo {
        OtherInfo { priority, sphere_of_promulgation: f[0].clone(), typer_notation: f[1].clone(), promulgation_amount, page_amount, direction, appendixes }
    }
}

prop_compose! {
    fn attachment()(content_id in token(), f in vec(text(), 3), content in vec(any::<u8>(), 0..200)) -> Attachment {
        Attachment { content_id, attachment_name: f[0].clone(), description: f[1].clone(), content_type: f[2].clone(), content }
    }
}

prop_compose! {
    fn header()(
        from in organization(),
        to in vec(organization(), 0..4),
        document_id in token(),
        code in (token(), token()),
        place in text(),
        promulgation_date in date(),
        doc_type in (token(), token(), text()),
        subject in text(),
        content in text(),
        signer in vec(text(), 3),
        due_date in of(date()),
        other_info in other_info(),
        steering_type in of(text()),
        to_places in vec(text(), 0..3),
        response_for in of(response_for()),
    ) -> MessageHeader {
        MessageHeader {
            from, to, document_id,
            code: Code { code_number: code.0, code_notation: code.1 },
            promulgation_info: PromulgationInfo { place, promulgation_date },
            document_type: DocumentType { doc_type: doc_type.0, type_detail: doc_type.1, type_name: doc_type.2 },
            subject, content,
            signer_info: SignerInfo { competence: signer[0].clone(), position: signer[1].clone(), full_name: signer[2].clone() },
            due_date, other_info, steering_type, to_places, response_for,
        }
    }
}

prop_compose! {
    fn document()(
        header in header(),
        trace in trace(),
        signature in of(signature()),
        version in text(),
        references in vec((token(), vec(text(), 3)), 0..3),
        attachments in vec(attachment(), 0..3),
    ) -> Document {
        Document {
            header, trace, signature,
            manifest: Manifest {
                version,
                references: references.into_iter().map(|(content_id, f)| ManifestReference { content_id, content_type: f[0].clone(), description: f[1].clone(), attachment_name: f[2].clone() }).collect(),
            },
            attachments,
        }
    }
}

prop_compose! {
    fn status()(
        from in organization(),
        response_for in response_for(),
        staff_info in of(staff_info()),
        status_code in proptest::sample::select(StatusCode::ALL),
        description in text(),
        timestamp in timestamp(),
        trace in trace(),
        signature in of(signature()),
    ) -> StatusMessage {
        StatusMessage { from, response_for, staff_info, status_code, description, timestamp, trace, signature }
    }
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        document().prop_map(|d| Message::Document(Box::new(d))),
        status().prop_map(|s| Message::Status(Box::new(s))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_inverts_serialize(m in message()) {
        let bytes = serialize(&m);
        let parsed = parse(&bytes, &ParseLimits::default())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&bytes))))?;
        prop_assert_eq!(parsed.message, m);
    }
}
