//! A zip archive of one file, stored (not compressed): how Lambda takes a function's
//! code. Enough for the practice stack's one small handler, without a zip crate.

/// The archive holding `data` as `name`, dated 1980-01-01 (zip's epoch: the bytes are
/// the same on every build).
pub fn stored(name: &str, data: &[u8]) -> Vec<u8> {
    let crc = crc32(data);
    let (n, len) = (name.len() as u16, data.len() as u32);
    let mut out = Vec::with_capacity(data.len() + 2 * name.len() + 100);
    let le16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
    let le32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    // Local file header.
    le32(&mut out, 0x0403_4b50);
    for x in [20, 0, 0, 0, 0x21] {
        le16(&mut out, x); // version, flags, method (stored), time, date (1980-01-01)
    }
    for x in [crc, len, len] {
        le32(&mut out, x);
    }
    le16(&mut out, n);
    le16(&mut out, 0);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(data);
    // Central directory: one entry, then its end record.
    let central = out.len() as u32;
    le32(&mut out, 0x0201_4b50);
    for x in [0x031e, 20, 0, 0, 0, 0x21] {
        le16(&mut out, x); // made by (unix), version, flags, method, time, date
    }
    for x in [crc, len, len] {
        le32(&mut out, x);
    }
    for x in [n, 0, 0, 0, 0] {
        le16(&mut out, x); // name, extra, comment, disk, internal attributes
    }
    le32(&mut out, 0o100644 << 16); // external attributes: a regular file, rw-r--r--
    le32(&mut out, 0); // where its local header is
    out.extend_from_slice(name.as_bytes());
    let size = out.len() as u32 - central;
    le32(&mut out, 0x0605_4b50);
    for x in [0, 0, 1, 1] {
        le16(&mut out, x);
    }
    le32(&mut out, size);
    le32(&mut out, central);
    le16(&mut out, 0);
    out
}

/// CRC-32 (IEEE), as zip checks it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc_is_ieee() {
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn the_archive_unzips_to_the_file() {
        let dir = std::env::temp_dir().join(format!("firedrill-zip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let zip = dir.join("f.zip");
        std::fs::write(&zip, super::stored("index.py", b"print('hi')\n")).unwrap();
        // An independent reader: Python's zipfile checks the CRC and the directory.
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; sys.stdout.write(z.read('index.py').decode())"])
            .arg(&zip)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "print('hi')\n");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
