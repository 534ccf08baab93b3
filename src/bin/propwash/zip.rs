//! A small zip writer for the racers' package: stored (uncompressed)
//! entries, folders first, CRC-32 checked by every unzip tool. No zip64:
//! more than 4 GiB, or 65 535 entries, is an error.

use std::io::{self, Write};

/// One entry: a folder when `data` is `None` (its name ends in `/`).
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) data: Option<Vec<u8>>,
}

/// Zip's MS-DOS date and time: (time, date).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DosTime(pub(crate) u16, pub(crate) u16);

impl DosTime {
    /// The DOS time of `secs` seconds since 1970 (UTC), clamped to the
    /// years DOS time can hold (1980 to 2107).
    pub(crate) fn from_unix(secs: u64) -> DosTime {
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days as i64);
        if y < 1980 {
            return DosTime(0, (1 << 5) | 1);
        }
        let y = y.min(2107);
        let time = ((rem / 3600) << 11) | (((rem / 60) % 60) << 5) | ((rem % 60) / 2);
        let date = (((y - 1980) as u64) << 9) | ((m as u64) << 5) | d as u64;
        DosTime(time as u16, date as u16)
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// CRC-32 (IEEE 802.3, the one zip uses).
pub(crate) fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        t
    });
    let mut c = !0u32;
    for &b in data {
        c = table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

fn too_big(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} is too large for a zip without zip64"),
    )
}

/// Writes `entries` as a zip archive to `out`.
pub(crate) fn write(out: &mut impl Write, entries: &[Entry], when: DosTime) -> io::Result<()> {
    let count = u16::try_from(entries.len()).map_err(|_| too_big("the entry count"))?;
    let mut central = Vec::new();
    let mut offset: u64 = 0;
    for e in entries {
        let name = e.name.as_bytes();
        let name_len = u16::try_from(name.len()).map_err(|_| too_big(&e.name))?;
        let data: &[u8] = e.data.as_deref().unwrap_or(&[]);
        let size = u32::try_from(data.len()).map_err(|_| too_big(&e.name))?;
        let local_at = u32::try_from(offset).map_err(|_| too_big("the archive"))?;
        let crc = crc32(data);
        // MS-DOS attributes: archive for files, directory for folders.
        let attrs: u32 = if e.data.is_some() { 0x20 } else { 0x10 };

        let mut local = Vec::with_capacity(30 + name.len());
        local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        local.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
        local.extend_from_slice(&0u16.to_le_bytes()); // flags
        local.extend_from_slice(&0u16.to_le_bytes()); // stored
        local.extend_from_slice(&when.0.to_le_bytes());
        local.extend_from_slice(&when.1.to_le_bytes());
        local.extend_from_slice(&crc.to_le_bytes());
        local.extend_from_slice(&size.to_le_bytes());
        local.extend_from_slice(&size.to_le_bytes());
        local.extend_from_slice(&name_len.to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes()); // extra
        local.extend_from_slice(name);
        out.write_all(&local)?;
        out.write_all(data)?;
        offset += local.len() as u64 + data.len() as u64;

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // made by: MS-DOS, 2.0
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&when.0.to_le_bytes());
        central.extend_from_slice(&when.1.to_le_bytes());
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&name_len.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes()); // extra
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&attrs.to_le_bytes());
        central.extend_from_slice(&local_at.to_le_bytes());
        central.extend_from_slice(name);
    }
    let central_at = u32::try_from(offset).map_err(|_| too_big("the archive"))?;
    let central_len = u32::try_from(central.len()).map_err(|_| too_big("the directory"))?;
    out.write_all(&central)?;
    let mut end = Vec::with_capacity(22);
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&central_len.to_le_bytes());
    end.extend_from_slice(&central_at.to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    out.write_all(&end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn dos_time_of_known_instants() {
        // 2024-02-29 13:45:58 UTC.
        let t = DosTime::from_unix(1_709_214_358);
        assert_eq!(t.1, ((2024 - 1980) << 9) | (2 << 5) | 29);
        assert_eq!(t.0, (13 << 11) | (45 << 5) | (58 / 2));
        assert_eq!(DosTime::from_unix(0), DosTime(0, (1 << 5) | 1));
    }

    #[test]
    fn layout_of_a_two_entry_archive() {
        let entries = [
            Entry {
                name: "a/".into(),
                data: None,
            },
            Entry {
                name: "a/b.txt".into(),
                data: Some(b"hello".to_vec()),
            },
        ];
        let mut z = Vec::new();
        write(&mut z, &entries, DosTime(0, 33)).unwrap();
        assert_eq!(&z[..4], b"PK\x03\x04");
        let end = z.len() - 22;
        assert_eq!(&z[end..end + 4], b"PK\x05\x06");
        assert_eq!(u16::from_le_bytes([z[end + 10], z[end + 11]]), 2);
        let central_at = u32::from_le_bytes(z[end + 16..end + 20].try_into().unwrap()) as usize;
        assert_eq!(&z[central_at..central_at + 4], b"PK\x01\x02");
        // The file's data sits right after its local header.
        let second = 30 + 2;
        assert_eq!(&z[second + 30 + 7..second + 30 + 12], b"hello");
    }
}
