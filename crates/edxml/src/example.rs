//! A realistic example document, shared by documentation, tests, benches
//! and the CLI's `new` command defaults, so they all speak of the same thing.

use time::macros::{date, datetime};

use crate::datetime::{EdDate, EdTimestamp};
use crate::model::*;
use crate::OrganId;

fn id(s: &str) -> OrganId {
    OrganId::parse(s).expect("example ids are valid")
}

/// An agency with the fields every `From` carries.
pub(crate) fn organization(organ_id: &str, name: &str) -> Organization {
    Organization {
        organ_id: id(organ_id),
        organization_in_charge: "Chính phủ".into(),
        organ_name: name.into(),
        organ_add: "1 Hoàng Hoa Thám, Ba Đình, Hà Nội".into(),
        email: "vanthu@example.gov.vn".into(),
        telephone: "024 0000 0000".into(),
        fax: String::new(),
        website: "https://example.gov.vn".into(),
    }
}

/// A document from the Office of the Government (`000.00.00.G22`) to the
/// Ministry of Finance and the Nghệ An People's Committee, with one small
/// attachment. Valid: [`crate::validate`] finds nothing.
pub fn example_document() -> Document {
    let from = organization("000.00.00.G22", "Văn phòng Chính phủ");
    let code = Code {
        code_number: "123".into(),
        code_notation: "VPCP-KSTT".into(),
    };
    let promulgation_date = EdDate::new(date!(2022 - 07 - 01));
    Document {
        header: MessageHeader {
            document_id: compose_document_id(&from.organ_id, promulgation_date, &code),
            to: vec![
                organization("000.00.00.G12", "Bộ Tài chính"),
                organization("000.00.00.H41", "UBND tỉnh Nghệ An"),
            ],
            from,
            code,
            promulgation_info: PromulgationInfo {
                place: "Hà Nội".into(),
                promulgation_date,
            },
            document_type: DocumentType {
                doc_type: "1".into(),
                type_detail: "0".into(),
                type_name: "Công văn".into(),
            },
            subject: "V/v đẩy mạnh gửi, nhận văn bản điện tử qua Trục liên thông văn bản quốc gia"
                .into(),
            content:
                "Thực hiện chỉ đạo của Thủ tướng Chính phủ, đề nghị các bộ, ngành, địa phương \
                      gửi, nhận văn bản điện tử qua Trục liên thông văn bản quốc gia."
                    .into(),
            signer_info: SignerInfo {
                competence: "KT. BỘ TRƯỞNG, CHỦ NHIỆM".into(),
                position: "Phó Chủ nhiệm".into(),
                full_name: "Nguyễn Văn A".into(),
            },
            due_date: Some(EdDate::new(date!(2022 - 07 - 15))),
            other_info: OtherInfo {
                priority: Priority::Urgent,
                sphere_of_promulgation: "Liên thông".into(),
                typer_notation: "NVA".into(),
                promulgation_amount: 2,
                page_amount: 1,
                direction: Some("false".into()),
                appendixes: vec!["Phụ lục I".into()],
            },
            steering_type: Some("1".into()),
            to_places: vec!["Như trên".into(), "Lưu: VT, KSTT".into()],
            response_for: None,
        },
        trace: TraceHeaderList {
            trace_headers: vec![TraceHeader {
                organ_id: id("000.00.00.G22"),
                timestamp: EdTimestamp::new(datetime!(2022-07-01 08:30:00)),
            }],
            business: Some(Business {
                document_id: None,
                doc_type: BusinessDocType::New,
                reason: String::new(),
                paper: Some("0".into()),
                staff_info: Some(StaffInfo {
                    department: "Văn thư".into(),
                    staff: "Trần Thị B".into(),
                    mobile: "0900000000".into(),
                    email: "vanthu@example.gov.vn".into(),
                }),
                replacements: Vec::new(),
                receivers: Vec::new(),
            }),
        },
        signature: None,
        manifest: Manifest {
            version: "1.0".into(),
            references: vec![ManifestReference {
                content_id: "cid:1".into(),
                content_type: "text/plain".into(),
                description: "Toàn văn".into(),
                attachment_name: "congvan-123.txt".into(),
            }],
        },
        attachments: vec![Attachment {
            content_id: "cid:1".into(),
            attachment_name: "congvan-123.txt".into(),
            description: "Toàn văn".into(),
            content_type: "text/plain".into(),
            content: "Nội dung toàn văn công văn số 123/VPCP-KSTT."
                .as_bytes()
                .to_vec(),
        }],
    }
}

/// [`example_document`] serialized.
pub fn example_document_xml() -> String {
    let bytes = crate::serialize(&Message::Document(Box::new(example_document())));
    String::from_utf8(bytes).expect("serialize writes UTF-8")
}
