//! Just enough of the PE format to check what `propwash package` is given:
//! a 64-bit x86 Windows DLL, the names it exports and the DLLs it imports,
//! and whether it is a .NET assembly. Everything is bounds-checked: a file
//! that is not what it claims gives an error, never a panic.

/// What was read from one PE file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeInfo {
    /// IMAGE_FILE_HEADER.Machine (0x8664 for x86-64, 0x14c for x86).
    pub(crate) machine: u16,
    /// The DLL flag of the file header's characteristics.
    pub(crate) is_dll: bool,
    /// The optional header is PE32+ (a 64-bit image).
    pub(crate) pe32_plus: bool,
    /// The image has a CLI header: it is a .NET assembly.
    pub(crate) is_dotnet: bool,
    /// Exported names, in the file's (sorted) order.
    pub(crate) exports: Vec<String>,
    /// Names of the DLLs it imports, as written in the file.
    pub(crate) imports: Vec<String>,
}

/// x86-64 in IMAGE_FILE_HEADER.Machine.
pub(crate) const MACHINE_X64: u16 = 0x8664;

const EXPORT_DIR: usize = 0;
const IMPORT_DIR: usize = 1;
const CLI_DIR: usize = 14;

struct Section {
    va: u32,
    size: u32,
    raw: u32,
    raw_size: u32,
}

struct Image<'a> {
    bytes: &'a [u8],
    sections: Vec<Section>,
}

impl Image<'_> {
    fn u16_at(&self, off: usize) -> Result<u16, String> {
        let b = self
            .bytes
            .get(off..off + 2)
            .ok_or_else(|| format!("cut short at byte {off}"))?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32_at(&self, off: usize) -> Result<u32, String> {
        let b = self
            .bytes
            .get(off..off + 4)
            .ok_or_else(|| format!("cut short at byte {off}"))?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The file offset of relative virtual address `rva`.
    fn offset(&self, rva: u32) -> Result<usize, String> {
        for s in &self.sections {
            let span = s.size.max(s.raw_size);
            if rva >= s.va && rva - s.va < span {
                let inside = rva - s.va;
                if inside >= s.raw_size {
                    break;
                }
                return Ok(s.raw as usize + inside as usize);
            }
        }
        Err(format!("address {rva:#x} is in no section"))
    }

    /// The NUL-terminated ASCII name at `rva` (at most 512 bytes).
    fn name_at(&self, rva: u32) -> Result<String, String> {
        let start = self.offset(rva)?;
        let rest = self
            .bytes
            .get(start..)
            .ok_or_else(|| format!("a name at {rva:#x} lies past the end"))?;
        let len = rest
            .iter()
            .take(512)
            .position(|&b| b == 0)
            .ok_or_else(|| format!("the name at {rva:#x} has no end"))?;
        String::from_utf8(rest[..len].to_vec())
            .map_err(|_| format!("the name at {rva:#x} is not text"))
    }
}

/// Reads the headers, exports and imports of a PE image.
pub(crate) fn read(bytes: &[u8]) -> Result<PeInfo, String> {
    if bytes.get(..2) != Some(b"MZ") {
        return Err("no MZ header: not a Windows program or DLL".into());
    }
    let mut img = Image {
        bytes,
        sections: Vec::new(),
    };
    let pe = img.u32_at(0x3c)? as usize;
    if bytes.get(pe..pe + 4) != Some(b"PE\0\0") {
        return Err("no PE signature".into());
    }
    let coff = pe + 4;
    let machine = img.u16_at(coff)?;
    let n_sections = img.u16_at(coff + 2)? as usize;
    let opt_size = img.u16_at(coff + 16)? as usize;
    let characteristics = img.u16_at(coff + 18)?;
    let opt = coff + 20;
    let magic = img.u16_at(opt)?;
    let (pe32_plus, dirs_at) = match magic {
        0x20b => (true, opt + 112),
        0x10b => (false, opt + 96),
        m => return Err(format!("unknown optional header magic {m:#x}")),
    };
    let n_dirs = img.u32_at(dirs_at - 4)? as usize;
    let dir = |i: usize| -> Result<(u32, u32), String> {
        if i >= n_dirs || dirs_at + 8 * i + 8 > opt + opt_size {
            return Ok((0, 0));
        }
        Ok((
            img.u32_at(dirs_at + 8 * i)?,
            img.u32_at(dirs_at + 8 * i + 4)?,
        ))
    };
    let (export_rva, export_size) = dir(EXPORT_DIR)?;
    let (import_rva, _) = dir(IMPORT_DIR)?;
    let (cli_rva, cli_size) = dir(CLI_DIR)?;
    let table = opt + opt_size;
    for i in 0..n_sections.min(96) {
        let s = table + 40 * i;
        img.sections.push(Section {
            size: img.u32_at(s + 8)?,
            va: img.u32_at(s + 12)?,
            raw_size: img.u32_at(s + 16)?,
            raw: img.u32_at(s + 20)?,
        });
    }

    let mut exports = Vec::new();
    if export_rva != 0 && export_size != 0 {
        let e = img.offset(export_rva)?;
        let n_names = img.u32_at(e + 24)? as usize;
        let names_rva = img.u32_at(e + 32)?;
        if n_names > 65_536 {
            return Err(format!("{n_names} exported names is not believable"));
        }
        let names = img.offset(names_rva)?;
        for i in 0..n_names {
            exports.push(img.name_at(img.u32_at(names + 4 * i)?)?);
        }
    }

    let mut imports = Vec::new();
    if import_rva != 0 {
        let mut d = img.offset(import_rva)?;
        // Descriptors of 20 bytes, ended by one of zeros.
        for _ in 0..1024 {
            let name_rva = img.u32_at(d + 12)?;
            if name_rva == 0 && img.u32_at(d)? == 0 {
                break;
            }
            imports.push(img.name_at(name_rva)?);
            d += 20;
        }
    }

    Ok(PeInfo {
        machine,
        is_dll: characteristics & 0x2000 != 0,
        pe32_plus,
        is_dotnet: cli_rva != 0 && cli_size != 0,
        exports,
        imports,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal PE32+ DLL: headers, one section holding an export
    /// directory with the given names and an import of `KERNEL32.dll`.
    pub(crate) fn tiny_dll(names: &[&str]) -> Vec<u8> {
        tiny_pe(names, false)
    }

    /// [`tiny_dll`], marked as a .NET assembly when `dotnet` is set (a CLI
    /// directory entry; nothing reads what it points at).
    pub(crate) fn tiny_pe(names: &[&str], dotnet: bool) -> Vec<u8> {
        // Headers in the first 0x200 bytes; one section of 0x2000 bytes at
        // file offset 0x200, RVA 0x1000: the export directory, up to 128
        // name pointers, the names, the import descriptors and their name.
        const RAW: usize = 0x200;
        const LEN: usize = 0x2000;
        assert!(names.len() <= 128);
        let mut f = vec![0u8; RAW + LEN];
        f[..2].copy_from_slice(b"MZ");
        f[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        f[0x80..0x84].copy_from_slice(b"PE\0\0");
        let coff = 0x84;
        f[coff..coff + 2].copy_from_slice(&MACHINE_X64.to_le_bytes());
        f[coff + 2..coff + 4].copy_from_slice(&1u16.to_le_bytes());
        f[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes());
        f[coff + 18..coff + 20].copy_from_slice(&0x2022u16.to_le_bytes());
        let opt = coff + 20;
        f[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
        f[opt + 108..opt + 112].copy_from_slice(&16u32.to_le_bytes());
        let dirs = opt + 112;
        let sec = opt + 240;
        f[sec..sec + 6].copy_from_slice(b".edata");
        for (at, v) in [(8, LEN), (12, 0x1000), (16, LEN), (20, RAW)] {
            f[sec + at..sec + at + 4].copy_from_slice(&(v as u32).to_le_bytes());
        }
        let rva = |off: usize| (0x1000 + off - RAW) as u32;
        let (exp, ptrs, mut name_at) = (RAW, RAW + 0x40, RAW + 0x300);
        f[exp + 24..exp + 28].copy_from_slice(&(names.len() as u32).to_le_bytes());
        f[exp + 32..exp + 36].copy_from_slice(&rva(ptrs).to_le_bytes());
        for (i, n) in names.iter().enumerate() {
            f[ptrs + 4 * i..ptrs + 4 * i + 4].copy_from_slice(&rva(name_at).to_le_bytes());
            f[name_at..name_at + n.len()].copy_from_slice(n.as_bytes());
            name_at += n.len() + 1;
        }
        let (imp, imp_name) = (RAW + 0x1c00, RAW + 0x1c40);
        assert!(name_at < imp, "the names fit");
        f[imp..imp + 4].copy_from_slice(&rva(RAW + 0x1c80).to_le_bytes());
        f[imp + 12..imp + 16].copy_from_slice(&rva(imp_name).to_le_bytes());
        f[imp_name..imp_name + 12].copy_from_slice(b"KERNEL32.dll");
        f[dirs..dirs + 4].copy_from_slice(&rva(exp).to_le_bytes());
        f[dirs + 4..dirs + 8].copy_from_slice(&40u32.to_le_bytes());
        f[dirs + 8..dirs + 12].copy_from_slice(&rva(imp).to_le_bytes());
        f[dirs + 12..dirs + 16].copy_from_slice(&40u32.to_le_bytes());
        if dotnet {
            let cli = dirs + 8 * CLI_DIR;
            f[cli..cli + 4].copy_from_slice(&rva(RAW + 0x1d00).to_le_bytes());
            f[cli + 4..cli + 8].copy_from_slice(&72u32.to_le_bytes());
        }
        f
    }

    #[test]
    fn reads_exports_and_imports_of_a_small_dll() {
        let info = read(&tiny_dll(&["pw_a", "pw_b"])).unwrap();
        assert_eq!(info.machine, MACHINE_X64);
        assert!(info.is_dll && info.pe32_plus && !info.is_dotnet);
        assert_eq!(info.exports, ["pw_a", "pw_b"]);
        assert_eq!(info.imports, ["KERNEL32.dll"]);
    }

    #[test]
    fn refuses_what_is_not_a_pe_file_without_panicking() {
        assert!(read(b"").unwrap_err().contains("MZ"));
        assert!(read(b"\x7fELF\x02\x01\x01").unwrap_err().contains("MZ"));
        let dll = tiny_dll(&["pw_a"]);
        // Every truncation is an error, never a panic.
        for len in 0..dll.len() {
            let _ = read(&dll[..len]);
        }
        let mut bad = dll.clone();
        bad[0x80] = b'X';
        assert!(read(&bad).unwrap_err().contains("PE signature"));
        let mut wild = dll;
        // The export directory points nowhere.
        let dirs = 0x84 + 20 + 112;
        wild[dirs..dirs + 4].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
        assert!(read(&wild).unwrap_err().contains("no section"));
    }
}
