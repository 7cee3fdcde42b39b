//! Peak memory for a document with a 10 MB attachment: build, serialize,
//! sign and verify it in this (fresh) process, reporting peak RSS (VmHWM)
//! before and after each step and the step's increment, relative to the
//! attachment's size. Target (issue 2): at most 3x the attachment.
//!
//! The peak is reset before each step (`echo 5 > /proc/self/clear_refs`,
//! Linux >= 4.0), so each step's increment is its own; where the reset is
//! not allowed, the peaks are cumulative and the table says so.
//!
//! `cargo run --release -p docaxis-dsig --example peak_memory [MB]`

use std::hint::black_box;

use docaxis_directory::{Agency, AgencyKey, Directory, KeyId, SigningKey};
use docaxis_dsig::Signer;
use docaxis_edxml::{example_document, Message, OrganId, ParseLimits};
use docaxis_xml::Limits;
use time::macros::datetime;

/// (VmRSS, VmHWM) in kB.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

struct Report {
    attachment_kb: f64,
    resettable: bool,
    worst: f64,
}

impl Report {
    fn step<T>(&mut self, name: &str, f: impl FnOnce() -> T) -> T {
        let resettable = reset_peak();
        self.resettable &= resettable;
        let (rss_before, hwm_before) = rss();
        let out = f();
        let (rss_after, hwm_after) = rss();
        let increment = hwm_after.saturating_sub(rss_before);
        let ratio = increment as f64 / self.attachment_kb;
        self.worst = self.worst.max(hwm_after as f64 / self.attachment_kb);
        println!(
            "| {name:<28} | {:>10} | {:>10} | {:>10} | {:>10} | {:>12} | {:>6.2}x | {:>9.2}x |",
            rss_before,
            hwm_before,
            rss_after,
            hwm_after,
            increment,
            ratio,
            hwm_after as f64 / self.attachment_kb,
        );
        out
    }
}

/// The receiving side alone, in a fresh process: read a signed file and
/// verify it; report the peak against the attachment size.
fn verify_file(path: &str, size: usize, dir: &Directory) {
    let (_, hwm0) = rss();
    let signed = std::fs::read(path).expect("signed file");
    let (rss1, _) = rss();
    let v = docaxis_dsig::verify(
        &signed,
        dir,
        datetime!(2022-07-01 09:00:00 +7),
        &ParseLimits::default(),
    )
    .expect("verifies");
    black_box(&v);
    let (_, hwm) = rss();
    let att = (size / 1024) as f64;
    println!(
        "fresh receiver process: baseline HWM {hwm0} kB, after reading {} bytes RSS {rss1} kB, \
         peak after verify {hwm} kB = {:.2}x the attachment (verify's own increment {} kB = {:.2}x)",
        signed.len(),
        hwm as f64 / att,
        hwm - rss1,
        (hwm - rss1) as f64 / att
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mb: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let size = mb * 1024 * 1024;
    let organ = OrganId::parse("000.00.00.G22").expect("valid id");
    let key = SigningKey::from_bytes(&[1; 32]);
    let mut dir = Directory::new(datetime!(2022-01-01 00:00:00 UTC));
    dir.add_agency(Agency::new(organ.clone(), "Văn phòng Chính phủ", None))
        .expect("agency");
    dir.add_key(
        &organ,
        AgencyKey::new(
            KeyId::parse("G22-2022").expect("key id"),
            key.verifying_key(),
            datetime!(2022-01-01 00:00:00 UTC),
            None,
        ),
    )
    .expect("key");
    let signer = Signer::new(key, "G22-2022");
    if let (Some("--verify-file"), Some(path)) = (args.get(2).map(String::as_str), args.get(3)) {
        verify_file(path, size, &dir);
        return;
    }

    let mut report = Report {
        attachment_kb: (size / 1024) as f64,
        resettable: true,
        worst: 0.0,
    };
    let (rss0, hwm0) = rss();
    println!(
        "attachment: {mb} MiB ({} kB); process baseline VmRSS {rss0} kB, VmHWM {hwm0} kB",
        size / 1024
    );
    println!();
    println!(
        "| step                         | RSS before | HWM before |  RSS after |  HWM after | peak incr kB | incr/att | HWM/att |"
    );
    println!(
        "|------------------------------|-----------:|-----------:|-----------:|-----------:|-------------:|---------:|----------:|"
    );

    let message = report.step("build model (10 MB content)", || {
        let mut d = example_document();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut content = Vec::with_capacity(size);
        content.extend((0..size).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        }));
        d.attachments[0].content = content;
        d.attachments[0].content_type = "application/pdf".into();
        Message::Document(Box::new(d))
    });
    let unsigned = report.step("serialize", || docaxis_edxml::serialize(&message));
    drop(message);
    let signed = report.step("sign (from bytes)", || {
        signer.sign(&unsigned, &Limits::default()).expect("signs")
    });
    drop(unsigned);
    let verified = report.step("verify (parse+model+c14n)", || {
        docaxis_dsig::verify(
            &signed,
            &dir,
            datetime!(2022-07-01 09:00:00 +7),
            &ParseLimits::default(),
        )
        .expect("verifies")
    });
    black_box(&verified);
    drop(verified);
    let (_, hwm_end) = rss();
    // The receiver's view: a fresh process that only reads and verifies.
    let path = std::env::temp_dir().join(format!("docaxis-peak-{}.xml", std::process::id()));
    std::fs::write(&path, &signed).expect("temp file");
    let status = std::process::Command::new(std::env::current_exe().expect("own path"))
        .arg(mb.to_string())
        .arg("--verify-file")
        .arg(&path)
        .status()
        .expect("child process");
    let _ = std::fs::remove_file(&path);
    assert!(status.success(), "receiver process failed");
    println!();
    println!(
        "signed document: {} bytes ({:.2}x the attachment: base64)",
        signed.len(),
        signed.len() as f64 / size as f64
    );
    if !report.resettable {
        println!("note: /proc/self/clear_refs was not writable; HWM values are cumulative");
    }
    println!(
        "process peak (VmHWM) at the end: {hwm_end} kB = {:.2}x the attachment; worst step HWM {:.2}x",
        hwm_end as f64 / report.attachment_kb,
        report.worst
    );
}
