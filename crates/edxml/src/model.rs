//! The types of an edXML message.
//!
//! Field names follow the wire names (`OrganAdd` is `organ_add`), so the
//! specification and the code can be read side by side. What the format
//! enumerates is an enum here; ids, dates and timestamps are validated
//! types. Optional elements are `Option`, repeated ones `Vec`; free text is
//! kept exactly as sent (no trimming), so a round trip changes nothing.

use serde::Serialize;

use crate::datetime::{EdDate, EdTimestamp};
use crate::OrganId;

/// The edXML namespace (QCVN 102:2016).
pub const EDXML_NS: &str = "http://www.mic.gov.vn/TBT/QCVN_102_2016";
/// The XML-DSig namespace.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// Either kind of edXML message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    /// An official document.
    Document(Box<Document>),
    /// A status message about a document.
    Status(Box<StatusMessage>),
}

impl Message {
    /// The sending agency.
    pub fn from(&self) -> &Organization {
        match self {
            Message::Document(d) => &d.header.from,
            Message::Status(s) => &s.from,
        }
    }

    /// The trace headers, one per hop.
    pub fn trace(&self) -> &TraceHeaderList {
        match self {
            Message::Document(d) => &d.trace,
            Message::Status(s) => &s.trace,
        }
    }

    /// The parsed `Signature` element, if any.
    pub fn signature(&self) -> Option<&SignatureInfo> {
        match self {
            Message::Document(d) => d.signature.as_ref(),
            Message::Status(s) => s.signature.as_ref(),
        }
    }

    /// The document id this message is about (its own for a document, the
    /// original's for a status).
    pub fn document_id(&self) -> &str {
        match self {
            Message::Document(d) => &d.header.document_id,
            Message::Status(s) => &s.response_for.document_id,
        }
    }
}

/// An official document: `edXML/edXMLEnvelope` with header and body, and the
/// encoded attachments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    /// `edXMLHeader/MessageHeader`.
    pub header: MessageHeader,
    /// `edXMLHeader/TraceHeaderList`.
    pub trace: TraceHeaderList,
    /// `edXMLHeader/Signature`, as parsed (verification is docaxis-dsig's).
    pub signature: Option<SignatureInfo>,
    /// `edXMLBody/edXMLManifest`.
    pub manifest: Manifest,
    /// `AttachmentEncoded/Attachment`, decoded.
    pub attachments: Vec<Attachment>,
}

/// An agency as written in `From` and `To`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Organization {
    /// `OrganId`.
    pub organ_id: OrganId,
    /// `OrganizationInCharge`: the parent body.
    pub organization_in_charge: String,
    /// `OrganName`.
    pub organ_name: String,
    /// `OrganAdd`: postal address.
    pub organ_add: String,
    /// `Email`.
    pub email: String,
    /// `Telephone`.
    pub telephone: String,
    /// `Fax`.
    pub fax: String,
    /// `Website`.
    pub website: String,
}

/// `Code`: the document's number and notation (số, ký hiệu).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Code {
    /// `CodeNumber`, e.g. `123`.
    pub code_number: String,
    /// `CodeNotation`, e.g. `VPCP-KSTT`.
    pub code_notation: String,
}

impl Code {
    /// `number/notation`, as used in `DocumentId`.
    pub fn joined(&self) -> String {
        format!("{}/{}", self.code_number, self.code_notation)
    }
}

/// `PromulgationInfo`: where and when the document was issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromulgationInfo {
    /// `Place`, e.g. `Hà Nội`.
    pub place: String,
    /// `PromulgationDate`.
    pub promulgation_date: EdDate,
}

/// `DocumentType`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentType {
    /// `Type`: the class of document (1 administrative, 2 legal, ...).
    pub doc_type: String,
    /// `TypeDetail`: the sub-type code.
    pub type_detail: String,
    /// `TypeName`, e.g. `Công văn`.
    pub type_name: String,
}

/// `SignerInfo`: who signed the paper document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignerInfo {
    /// `Competence`: signing authority (e.g. `KT. BỘ TRƯỞNG`).
    pub competence: String,
    /// `Position`.
    pub position: String,
    /// `FullName`.
    pub full_name: String,
}

/// `OtherInfo/Priority`: độ khẩn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// 0: normal (thường).
    Normal = 0,
    /// 1: urgent (khẩn).
    Urgent = 1,
    /// 2: very urgent (thượng khẩn).
    VeryUrgent = 2,
    /// 3: express (hỏa tốc).
    Express = 3,
    /// 4: express at a set time (hỏa tốc hẹn giờ).
    ExpressTimed = 4,
}

/// `TraceHeaderList/Bussiness/BussinessDocType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BusinessDocType {
    /// 0: a new document.
    New = 0,
    /// 1: revokes an earlier document.
    Revoke = 1,
    /// 2: updates an earlier document.
    Update = 2,
    /// 3: replaces an earlier document.
    Replace = 3,
}

/// `StatusCode` of a status message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusCode {
    /// 01: arrived (đã đến), sent automatically by the receiving system.
    Arrived = 1,
    /// 02: refused (từ chối tiếp nhận), reason in `Description`.
    Refused = 2,
    /// 03: accepted (đã tiếp nhận).
    Accepted = 3,
    /// 04: assigned for handling (phân công).
    Assigned = 4,
    /// 05: in progress (đang xử lý).
    InProgress = 5,
    /// 06: completed (hoàn thành).
    Completed = 6,
    /// 13: recall (lấy lại / thu hồi), sent by the sender.
    Recall = 13,
    /// 15: agrees to a recall or update.
    RecallAgreed = 15,
    /// 16: refuses a recall or update.
    RecallRefused = 16,
}

/// An enumerated field's wire value is not one it allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {what}; expected one of {expected}")]
pub struct EnumError {
    value: String,
    what: &'static str,
    expected: &'static str,
}

macro_rules! wire_enum {
    ($t:ty, $what:literal, $expected:literal, $width:literal, [$($v:ident),+]) => {
        impl $t {
            /// Every value, in code order.
            pub const ALL: &'static [$t] = &[$(<$t>::$v),+];

            /// The numeric code.
            pub fn code(self) -> u8 {
                self as u8
            }

            /// The wire form (status codes are two digits: `01`).
            pub fn wire(self) -> String {
                format!("{:0w$}", self as u8, w = $width)
            }

            /// Parses the wire form; surrounding white space is ignored and
            /// `1` is accepted for `01`.
            pub fn parse(s: &str) -> Result<Self, EnumError> {
                let n: Option<u8> = s.trim().parse().ok();
                n.and_then(|n| Self::ALL.iter().copied().find(|v| *v as u8 == n))
                    .ok_or_else(|| EnumError {
                        value: s.chars().take(40).collect(),
                        what: $what,
                        expected: $expected,
                    })
            }
        }
    };
}
wire_enum!(
    Priority,
    "Priority",
    "0 to 4",
    1,
    [Normal, Urgent, VeryUrgent, Express, ExpressTimed]
);
wire_enum!(
    BusinessDocType,
    "BussinessDocType",
    "0 to 3",
    1,
    [New, Revoke, Update, Replace]
);
wire_enum!(
    StatusCode,
    "StatusCode",
    "01, 02, 03, 04, 05, 06, 13, 15, 16",
    2,
    [
        Arrived,
        Refused,
        Accepted,
        Assigned,
        InProgress,
        Completed,
        Recall,
        RecallAgreed,
        RecallRefused
    ]
);

impl Priority {
    /// Priorities 1 to 4 are urgent: they are sent at once and watched
    /// more strictly.
    pub fn is_urgent(self) -> bool {
        self != Priority::Normal
    }
}

impl StatusCode {
    /// Short English label.
    pub fn label(self) -> &'static str {
        match self {
            StatusCode::Arrived => "arrived",
            StatusCode::Refused => "refused",
            StatusCode::Accepted => "accepted",
            StatusCode::Assigned => "assigned",
            StatusCode::InProgress => "in progress",
            StatusCode::Completed => "completed",
            StatusCode::Recall => "recall",
            StatusCode::RecallAgreed => "recall agreed",
            StatusCode::RecallRefused => "recall refused",
        }
    }
}

/// `OtherInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtherInfo {
    /// `Priority`.
    pub priority: Priority,
    /// `SphereOfPromulgation`: who may see it.
    pub sphere_of_promulgation: String,
    /// `TyperNotation`: the typist's initials.
    pub typer_notation: String,
    /// `PromulgationAmount`: number of copies issued.
    pub promulgation_amount: u32,
    /// `PageAmount`.
    pub page_amount: u32,
    /// `Direction`: whether the document is a direction (chỉ đạo).
    pub direction: Option<String>,
    /// `Appendixes/Appendix`.
    pub appendixes: Vec<String>,
}

/// `ResponseFor`: the document a reply or a status is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponseFor {
    /// `OrganId` of the original sender.
    pub organ_id: OrganId,
    /// `Code` of the original document, `number/notation`.
    pub code: String,
    /// `PromulgationDate` of the original document.
    pub promulgation_date: EdDate,
    /// `DocumentId` of the original document.
    pub document_id: String,
}

/// `MessageHeader` of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageHeader {
    /// `From`.
    pub from: Organization,
    /// `To`, one per recipient.
    pub to: Vec<Organization>,
    /// `DocumentId`: `<sender OrganId>,<yyyy/MM/dd>,<number>/<notation>`.
    pub document_id: String,
    /// `Code`.
    pub code: Code,
    /// `PromulgationInfo`.
    pub promulgation_info: PromulgationInfo,
    /// `DocumentType`.
    pub document_type: DocumentType,
    /// `Subject`: trích yếu, at most 500 characters.
    pub subject: String,
    /// `Content`.
    pub content: String,
    /// `SignerInfo`.
    pub signer_info: SignerInfo,
    /// `DueDate`: present but empty when there is none.
    pub due_date: Option<EdDate>,
    /// `OtherInfo`.
    pub other_info: OtherInfo,
    /// `SteeringType`.
    pub steering_type: Option<String>,
    /// `ToPlaces/Place`: nơi nhận as printed on the paper.
    pub to_places: Vec<String>,
    /// `ResponseFor`, for replies.
    pub response_for: Option<ResponseFor>,
}

impl MessageHeader {
    /// The `DocumentId` this header should carry, from `From`, the
    /// promulgation date and the code.
    pub fn expected_document_id(&self) -> String {
        compose_document_id(
            &self.from.organ_id,
            self.promulgation_info.promulgation_date,
            &self.code,
        )
    }
}

/// Builds a `DocumentId`: `<OrganId>,<yyyy/MM/dd>,<number>/<notation>`.
pub fn compose_document_id(from: &OrganId, date: EdDate, code: &Code) -> String {
    format!("{from},{date},{}", code.joined())
}

/// `TraceHeaderList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceHeaderList {
    /// `TraceHeader`, one per hop, oldest first.
    pub trace_headers: Vec<TraceHeader>,
    /// `Bussiness` (sic).
    pub business: Option<Business>,
}

/// `TraceHeader`: one hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceHeader {
    /// The agency that handled the message.
    pub organ_id: OrganId,
    /// When.
    pub timestamp: EdTimestamp,
}

/// `Bussiness` (sic): what the document does to earlier ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Business {
    /// `DocumentId` the business concerns, if not this one.
    pub document_id: Option<String>,
    /// `BussinessDocType`.
    pub doc_type: BusinessDocType,
    /// `BussinessDocReason`.
    pub reason: String,
    /// `Paper`: whether a paper copy follows (0/1).
    pub paper: Option<String>,
    /// `StaffInfo`.
    pub staff_info: Option<StaffInfo>,
    /// `ReplacementInfoList/ReplacementInfo`.
    pub replacements: Vec<ReplacementInfo>,
    /// `ReceiverList/Receiver`.
    pub receivers: Vec<Receiver>,
}

/// `StaffInfo`: the clerk responsible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffInfo {
    /// `Department`.
    pub department: String,
    /// `Staff`.
    pub staff: String,
    /// `Mobile`.
    pub mobile: String,
    /// `Email`.
    pub email: String,
}

/// `ReplacementInfo`: a document replaced, and at which agencies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplacementInfo {
    /// `DocumentId` of the replaced document.
    pub document_id: String,
    /// `OrganIdList/OrganId`.
    pub organ_ids: Vec<OrganId>,
}

/// `Receiver`: an agency that must act on a revoke/update/replace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receiver {
    /// `ReceiverType`.
    pub receiver_type: String,
    /// `OrganId`.
    pub organ_id: OrganId,
}

/// The `Signature` element's fields, as sent. Whether they prove anything
/// is for the verifier to decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureInfo {
    /// `SignedInfo/CanonicalizationMethod/@Algorithm`.
    pub canonicalization_method: String,
    /// `SignedInfo/SignatureMethod/@Algorithm`.
    pub signature_method: String,
    /// `SignedInfo/Reference`, in order.
    pub references: Vec<SignatureReference>,
    /// `SignatureValue`, base64 as sent.
    pub signature_value: String,
    /// `KeyInfo/KeyName`: the signing key's id in the directory.
    pub key_name: Option<String>,
}

/// One `SignedInfo/Reference`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureReference {
    /// `@URI`; `None` when the attribute is missing.
    pub uri: Option<String>,
    /// `Transforms/Transform/@Algorithm`, in order.
    pub transforms: Vec<String>,
    /// `DigestMethod/@Algorithm`.
    pub digest_method: String,
    /// `DigestValue`, base64 as sent.
    pub digest_value: String,
}

/// `edXMLManifest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// `@version`.
    pub version: String,
    /// `Reference`, one per attachment.
    pub references: Vec<ManifestReference>,
}

/// `edXMLManifest/Reference`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestReference {
    /// `ContentId`, `cid:...`.
    pub content_id: String,
    /// `ContentType` (MIME).
    pub content_type: String,
    /// `Description`.
    pub description: String,
    /// `AttachmentName`: the file name.
    pub attachment_name: String,
}

/// `AttachmentEncoded/Attachment`, with its content decoded.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// `ContentId`, matching a manifest reference.
    pub content_id: String,
    /// `AttachmentName`.
    pub attachment_name: String,
    /// `Description`.
    pub description: String,
    /// `ContentType` (MIME).
    pub content_type: String,
    /// The decoded bytes of `ContentTransferEncoded`.
    #[serde(skip)]
    pub content: Vec<u8>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("content_id", &self.content_id)
            .field("attachment_name", &self.attachment_name)
            .field("content_type", &self.content_type)
            .field("len", &self.content.len())
            .finish()
    }
}

/// A status message: same envelope, no body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusMessage {
    /// `From`: the agency reporting the status.
    pub from: Organization,
    /// `ResponseFor`: the document the status is about.
    pub response_for: ResponseFor,
    /// `StaffInfo`.
    pub staff_info: Option<StaffInfo>,
    /// `StatusCode`.
    pub status_code: StatusCode,
    /// `Description`: the reason, for a refusal.
    pub description: String,
    /// `Timestamp`.
    pub timestamp: EdTimestamp,
    /// `TraceHeaderList`.
    pub trace: TraceHeaderList,
    /// `Signature`.
    pub signature: Option<SignatureInfo>,
}
