//! Composing status messages (pure: no I/O, no clock).

use docaxis_edxml::{
    Document, EdDate, EdTimestamp, OrganId, Organization, ResponseFor, StatusCode, StatusMessage,
    TraceHeader, TraceHeaderList,
};

/// `ResponseFor` of a document.
pub fn response_for(doc: &Document) -> ResponseFor {
    ResponseFor {
        organ_id: doc.header.from.organ_id.clone(),
        code: doc.header.code.joined(),
        promulgation_date: doc.header.promulgation_info.promulgation_date,
        document_id: doc.header.document_id.clone(),
    }
}

/// `ResponseFor` recovered from a DocumentId
/// (`<OrganId>,<yyyy/MM/dd>,<number>/<notation>`), for statuses that a
/// document system asks for by DocumentId alone.
pub fn response_for_id(document_id: &str) -> Option<ResponseFor> {
    let mut parts = document_id.splitn(3, ',');
    let organ_id = OrganId::parse(parts.next()?).ok()?;
    let promulgation_date = EdDate::parse(parts.next()?).ok()?;
    let code = parts.next()?.to_owned();
    if !code.contains('/') {
        return None;
    }
    Some(ResponseFor {
        organ_id,
        code,
        promulgation_date,
        document_id: document_id.to_owned(),
    })
}

/// A status from `me` about `about`, stamped `now`, with `me`'s TraceHeader.
pub fn status(
    me: &Organization,
    about: ResponseFor,
    code: StatusCode,
    description: impl Into<String>,
    now: EdTimestamp,
) -> StatusMessage {
    StatusMessage {
        from: me.clone(),
        response_for: about,
        staff_info: None,
        status_code: code,
        description: description.into(),
        timestamp: now,
        trace: TraceHeaderList {
            trace_headers: vec![TraceHeader {
                organ_id: me.organ_id.clone(),
                timestamp: now,
            }],
            business: None,
        },
        signature: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use docaxis_edxml::{example_document, validate, Message, NoDirectory};

    #[test]
    fn statuses_for_a_document_are_valid() {
        let doc = example_document();
        let me = doc.header.to[0].clone();
        let now = EdTimestamp::parse("2022/07/01 08:31:00").unwrap();
        let s = status(&me, response_for(&doc), StatusCode::Arrived, "", now);
        assert!(validate(&Message::Status(Box::new(s)), &NoDirectory).is_empty());
        assert_eq!(
            response_for_id(&doc.header.document_id),
            Some(response_for(&doc))
        );
        assert_eq!(response_for_id("garbage"), None);
        assert_eq!(response_for_id("000.00.00.G22,2022/07/01,nocode"), None);
    }
}
