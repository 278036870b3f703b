//! SHA-256 in the OCI digest form (`sha256:<hex>`): the content digests behind a build's input
//! identity (`rules::build_inputs`), the verdict keys and a manifest's digest read from a registry.

/// The SHA-256 of `data`, as `sha256:` and 64 lower-case hex digits (the OCI digest form).
pub fn sha256(data: &[u8]) -> String {
    let hash = hmac_sha256::Hash::hash(data);
    let mut text = String::with_capacity(7 + 64);
    text.push_str("sha256:");
    for byte in hash {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::sha256;

    #[test]
    fn matches_the_fips_180_test_vectors() {
        assert_eq!(sha256(b""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256(b"abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(
            sha256(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        // 1,000,000 × 'a': many blocks, and a length that needs the whole 64-bit field.
        assert_eq!(
            sha256(&vec![b'a'; 1_000_000]),
            "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }
}
