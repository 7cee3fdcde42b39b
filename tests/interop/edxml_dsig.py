#!/usr/bin/env python3
"""An independent implementation of docaxis's edXML signature scheme.

Written from the XML-DSig, Exclusive C14N and RFC 9231 texts, sharing no code
with docaxis: lxml (libxml2) does the exclusive canonicalization and the
`cryptography` package does SHA-256 and Ed25519. docaxis's interop test
(tests/interop.rs) uses it in both directions.

The scheme (see crates/dsig/src/lib.rs):

    edXML/edXMLEnvelope/edXMLHeader/Signature     (XML-DSig namespace)
      SignedInfo
        CanonicalizationMethod  http://www.w3.org/2001/10/xml-exc-c14n#
        SignatureMethod         http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519
        Reference URI=""
          Transforms            enveloped-signature, exclusive C14N
          DigestMethod          http://www.w3.org/2001/04/xmlenc#sha256
          DigestValue
      SignatureValue            Ed25519 over the exclusive-canonical SignedInfo
      KeyInfo/KeyName

Usage:
    edxml_dsig.py verify FILE PUBKEY_HEX_OR_PEM
        exit 0 if the signature holds, 1 (with the reason) if not.
        PUBKEY is 64 hex digits (the raw Ed25519 public key), a PEM file,
        or PEM text.
    edxml_dsig.py sign FILE KEY_SEED_HEX KEY_ID [--prefix P] [--compact]
                  [--declare-on-root] > OUT
        signs an unsigned edXML document. By default the Signature uses the
        prefix `ds:` declared on the Signature element and is indented;
        `--prefix ''` uses the default namespace instead; `--declare-on-root`
        moves the prefix declaration to the document element.
    edxml_dsig.py c14n FILE
        writes the document's exclusive canonical form (without comments).
    edxml_dsig.py batch
        reads tab-separated commands from stdin, one per line, and answers
        each with one line `ok<TAB>message` or `fail<TAB>message`:
            verify FILE PUBKEY
            sign FILE KEY_SEED_HEX KEY_ID OUT [options as above]
            c14n FILE OUT
        (one interpreter for many documents, so the test suite stays fast).

Exit status: 0 success, 1 refused (verify) or failed, 2 usage or missing
packages.
"""

import base64
import hashlib
import hmac
import os
import re
import sys

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )
    from lxml import etree
except ImportError as missing:  # pragma: no cover - environment problem
    print(
        f"edxml_dsig.py needs lxml and cryptography ({missing}): "
        "pip install lxml cryptography",
        file=sys.stderr,
    )
    sys.exit(2)

EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
C14N_EXCLUSIVE = "http://www.w3.org/2001/10/xml-exc-c14n#"
SIGNATURE_ED25519 = "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519"
DIGEST_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
TRANSFORM_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"


class Refused(Exception):
    """The document or its signature is not acceptable; the message says why."""


def ed(name):
    return f"{{{EDXML_NS}}}{name}"


def ds(name):
    return f"{{{DSIG_NS}}}{name}"


def parse(data):
    """Parses bytes with entity expansion and network access off."""
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
        strip_cdata=True,
        huge_tree=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as e:
        raise Refused(f"not well-formed XML: {e}") from None
    if root.getroottree().docinfo.doctype:
        raise Refused("a DOCTYPE is not accepted")
    return root


def exc_c14n(node):
    """Exclusive C14N 1.0 without comments of an element (a document subset
    rooted there) or of a whole ElementTree."""
    return etree.tostring(node, method="c14n", exclusive=True, with_comments=False)


def element_children(e):
    return [c for c in e if isinstance(c.tag, str)]


def only_child(parent, tag, what):
    found = [c for c in element_children(parent) if c.tag == tag]
    if len(found) != 1:
        raise Refused(f"{what}: expected exactly one {tag}, found {len(found)}")
    return found[0]


def find_header(root):
    if root.tag != ed("edXML"):
        raise Refused(f"the root element is {root.tag}, not {ed('edXML')}")
    envelope = only_child(root, ed("edXMLEnvelope"), "edXML")
    return only_child(envelope, ed("edXMLHeader"), "edXMLEnvelope")


def remove_keeping_tail(e):
    """The enveloped-signature transform: take the element out of the tree
    but keep the text that follows it. lxml keeps an element's following text
    in `.tail`, and `remove()` takes the tail along, so it is moved first to
    the previous sibling's tail or the parent's text."""
    parent = e.getparent()
    tail = e.tail
    if tail:
        prev = e.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    e.tail = None
    parent.remove(e)


def b64(text, length, what):
    cleaned = re.sub(r"[ \t\r\n]", "", text or "")
    try:
        raw = base64.b64decode(cleaned, validate=True)
    except ValueError:
        raise Refused(f"{what} is not valid base64") from None
    if len(raw) != length:
        raise Refused(f"{what} decodes to {len(raw)} bytes, expected {length}")
    return raw


def algorithm(e, expected, what):
    if element_children(e):
        raise Refused(f"{what} has child elements; the scheme allows none")
    found = e.get("Algorithm")
    if found != expected:
        raise Refused(f"{what} is {found!r}, the scheme requires {expected!r}")


def document_digest(data):
    """SHA-256 of the document's exclusive canonical form after the
    enveloped-signature transform (the one Signature in edXMLHeader removed)."""
    root = parse(data)
    header = find_header(root)
    sig = only_child(header, ds("Signature"), "edXMLHeader")
    remove_keeping_tail(sig)
    return hashlib.sha256(exc_c14n(root.getroottree())).digest()


def load_public_key(arg):
    if re.fullmatch(r"[0-9a-fA-F]{64}", arg):
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(arg))
    if arg.lstrip().startswith("-----BEGIN"):
        pem = arg.encode()
    elif os.path.isfile(arg):
        with open(arg, "rb") as f:
            pem = f.read()
    else:
        raise ValueError(f"public key {arg!r} is neither 64 hex digits nor PEM")
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the PEM public key is not an Ed25519 key")
    return key


def verify(data, public_key):
    """Returns a description of the valid signature or raises Refused."""
    root = parse(data)
    header = find_header(root)
    # Exactly one Signature, in edXMLHeader: anything else is the shape of
    # a signature-wrapping attack.
    every = [e for e in root.iter("{*}Signature")]
    if len(every) != 1:
        raise Refused(f"expected exactly one Signature element, found {len(every)}")
    sig = every[0]
    if sig.tag != ds("Signature") or sig.getparent() is not header:
        raise Refused("the Signature is not an XML-DSig Signature child of edXMLHeader")

    parts = element_children(sig)
    names = [p.tag for p in parts]
    if names[:2] != [ds("SignedInfo"), ds("SignatureValue")] or any(
        n != ds("KeyInfo") for n in names[2:]
    ):
        raise Refused(f"Signature children are {names}")
    signed_info, value_el = parts[0], parts[1]
    key_names = [
        k.text or ""
        for ki in parts[2:]
        for k in element_children(ki)
        if k.tag == ds("KeyName")
    ]

    si = element_children(signed_info)
    if [e.tag for e in si] != [
        ds("CanonicalizationMethod"),
        ds("SignatureMethod"),
        ds("Reference"),
    ]:
        raise Refused(
            "SignedInfo must hold CanonicalizationMethod, SignatureMethod and "
            f"exactly one Reference, found {[e.tag for e in si]}"
        )
    algorithm(si[0], C14N_EXCLUSIVE, "CanonicalizationMethod")
    algorithm(si[1], SIGNATURE_ED25519, "SignatureMethod")
    reference = si[2]
    if reference.get("URI") != "":
        raise Refused(f"Reference URI is {reference.get('URI')!r}, expected \"\"")
    ref = element_children(reference)
    if [e.tag for e in ref] != [ds("Transforms"), ds("DigestMethod"), ds("DigestValue")]:
        raise Refused(f"Reference children are {[e.tag for e in ref]}")
    transforms = element_children(ref[0])
    if [t.tag for t in transforms] != [ds("Transform")] * 2:
        raise Refused("Transforms must hold exactly two Transform elements")
    algorithm(transforms[0], TRANSFORM_ENVELOPED, "Transform[1]")
    algorithm(transforms[1], C14N_EXCLUSIVE, "Transform[2]")
    algorithm(ref[1], DIGEST_SHA256, "DigestMethod")
    expected_digest = b64(ref[2].text, 32, "DigestValue")
    signature_value = b64(value_el.text, 64, "SignatureValue")

    # The signature over SignedInfo, canonicalized as a document subset.
    canonical_signed_info = exc_c14n(signed_info)
    # The reference: the whole document without the Signature (its
    # following text kept), canonicalized.
    remove_keeping_tail(sig)
    digest = hashlib.sha256(exc_c14n(root.getroottree())).digest()
    if not hmac.compare_digest(digest, expected_digest):
        raise Refused(
            "digest mismatch: the content was changed after signing "
            f"(computed {base64.b64encode(digest).decode()}, "
            f"signed {base64.b64encode(expected_digest).decode()})"
        )
    try:
        public_key.verify(signature_value, canonical_signed_info)
    except InvalidSignature:
        raise Refused("bad signature: SignatureValue does not verify with this key") from None
    return f"signature valid (KeyName {', '.join(key_names) or 'none'})"


def sign(data, seed_hex, key_id, prefix="ds", indent=True, declare_on_root=False):
    """Returns the document with an enveloped Signature as the last child of
    edXMLHeader."""
    seed = bytes.fromhex(seed_hex)
    if len(seed) != 32:
        raise ValueError("the key seed must be 32 bytes (64 hex digits)")
    key = Ed25519PrivateKey.from_private_bytes(seed)
    root = parse(data)
    header = find_header(root)
    if any(True for _ in root.iter("{*}Signature")):
        raise Refused("the document is already signed")

    # Indentation: the Signature goes where edXMLHeader's closing tag was;
    # its own tail repeats the white space before that tag, so verifiers
    # that drop the tail with the element get a different digest.
    depth_ws = header[-1].tail if len(header) and header[-1].tail else "\n"
    sig = etree.SubElement(header, ds("Signature"), nsmap={(prefix or None): DSIG_NS})
    sig.tail = depth_ws if indent else None

    def child(parent, name, level, text=None, **attrs):
        e = etree.SubElement(parent, ds(name), attrs)
        if text is not None:
            e.text = text
        if indent:
            pad = depth_ws + "  " * level
            if len(parent) == 1:
                parent.text = pad
            e.tail = depth_ws + "  " * (level - 1)
            prev = e.getprevious()
            if prev is not None:
                prev.tail = pad
        return e

    signed_info = child(sig, "SignedInfo", 1)
    child(signed_info, "CanonicalizationMethod", 2, Algorithm=C14N_EXCLUSIVE)
    child(signed_info, "SignatureMethod", 2, Algorithm=SIGNATURE_ED25519)
    reference = child(signed_info, "Reference", 2, URI="")
    transforms = child(reference, "Transforms", 3)
    child(transforms, "Transform", 4, Algorithm=TRANSFORM_ENVELOPED)
    child(transforms, "Transform", 4, Algorithm=C14N_EXCLUSIVE)
    child(reference, "DigestMethod", 3, Algorithm=DIGEST_SHA256)
    digest_value = child(reference, "DigestValue", 3, text="")
    signature_value = child(sig, "SignatureValue", 1, text="")
    key_info = child(sig, "KeyInfo", 1)
    child(key_info, "KeyName", 2, text=key_id)

    if declare_on_root and prefix:
        etree.cleanup_namespaces(root, top_nsmap={prefix: DSIG_NS})

    # Digest what a verifier will see: the document as it will be written,
    # then without the Signature (tail kept).
    unsigned_view = etree.tostring(root.getroottree())
    digest_value.text = base64.b64encode(document_digest(unsigned_view)).decode()
    signature_value.text = base64.b64encode(key.sign(exc_c14n(signed_info))).decode()
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def sign_options(args):
    opts = {"prefix": "ds", "indent": True, "declare_on_root": False}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--prefix" and i + 1 < len(args):
            opts["prefix"] = args[i + 1]
            i += 2
            continue
        if a == "--compact":
            opts["indent"] = False
        elif a == "--declare-on-root":
            opts["declare_on_root"] = True
        elif a:
            raise ValueError(f"unknown sign option {a!r}")
        i += 1
    return opts


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def run(argv, stdout):
    """Runs one command; returns (ok, message). Output documents go to
    `stdout` (a binary writer) unless the command names an output file."""
    cmd, args = argv[0], argv[1:]
    if cmd == "verify" and len(args) == 2:
        return True, verify(read(args[0]), load_public_key(args[1]))
    if cmd == "sign" and len(args) >= 3:
        signed = sign(read(args[0]), args[1], args[2], **sign_options(args[3:]))
        stdout(signed)
        return True, f"signed {args[0]}"
    if cmd == "c14n" and len(args) == 1:
        stdout(exc_c14n(parse(read(args[0])).getroottree()))
        return True, "canonicalized"
    raise ValueError(f"usage error: {' '.join(argv)}")


def batch():
    failures = 0
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            continue
        fields = line.split("\t")
        cmd = fields[0]
        try:
            if cmd == "sign" and len(fields) >= 5:
                out = fields[4]
                argv = fields[:4] + fields[5:]
            elif cmd == "c14n" and len(fields) == 3:
                out = fields[2]
                argv = fields[:2]
            else:
                out = None
                argv = fields

            def to_file(data, out=out):
                write(out, data)

            ok, message = run(argv, to_file)
        except Refused as e:
            ok, message = False, f"refused: {e}"
        except Exception as e:  # a failing command must not end the batch
            ok, message = False, f"error: {type(e).__name__}: {e}"
        failures += not ok
        print(f"{'ok' if ok else 'fail'}\t{message}".replace("\n", " "), flush=True)
    return 0 if failures == 0 else 1


def main(argv):
    if len(argv) == 1 and argv[0] == "batch":
        return batch()
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    try:
        ok, message = run(argv, sys.stdout.buffer.write)
    except Refused as e:
        print(f"refused: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if "usage" in str(e) else 1
    print(message, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
