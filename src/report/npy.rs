//! `--save-eigs`: eigenvalues as NumPy `.npy` files (float64, descending),
//! one per matrix, plus `index.json` mapping matrix names to files.

use super::error::{ReportError, Result};
use crate::analysis::Analysis;
use std::io::Write;
use std::path::Path;

/// Writes a 1-D little-endian float64 array in NPY format version 1.0.
pub fn write_npy_f64(path: &Path, values: &[f64]) -> std::io::Result<()> {
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({},), }}",
        values.len()
    );
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    for v in values {
        f.write_all(&v.to_le_bytes())?;
    }
    f.flush()
}

/// File-name stems for matrices given as (name, layer_id): characters
/// outside `[A-Za-z0-9._-]` become `_`, and a stem already taken gets
/// `-<layer_id>` appended. Shared by `--save-eigs` and `--plots`.
pub fn file_stems<'a>(names: impl Iterator<Item = (&'a str, usize)>) -> Vec<String> {
    let mut used = std::collections::HashSet::new();
    names
        .map(|(name, id)| {
            let stem: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let stem = if used.contains(&stem) {
                format!("{stem}-{id}")
            } else {
                stem
            };
            used.insert(stem.clone());
            stem
        })
        .collect()
}

/// Reads a 1-D little-endian float64 `.npy` file (format 1.0 or 2.0), as
/// `write_npy_f64` writes it.
pub fn read_npy_f64(path: &Path) -> Result<Vec<f64>> {
    let bytes = std::fs::read(path).map_err(ReportError::file(path, "cannot read"))?;
    let bad =
        |why: &str| ReportError::invalid(path, format!("not a 1-D float64 .npy file ({why})"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("no NPY magic"));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(&format!("format version {v}"))),
    };
    let header = bytes
        .get(start..start + hlen)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("truncated header"))?;
    if !header.contains("'descr': '<f8'") || !header.contains("'fortran_order': False") {
        return Err(bad("dtype is not '<f8'"));
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape"))?;
    let dims: Vec<&str> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let n: usize = match dims.as_slice() {
        [n] => n.parse().map_err(|_| bad("bad shape"))?,
        _ => return Err(bad("not 1-D")),
    };
    let data = &bytes[start + hlen..];
    if data.len() != n * 8 {
        return Err(bad(&format!("{} data bytes for {n} values", data.len())));
    }
    Ok(data
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

/// Reads a `--save-eigs` directory: matrix name → eigenvalues.
pub fn load_eigs(dir: &Path) -> Result<std::collections::HashMap<String, Vec<f64>>> {
    let index_path = dir.join("index.json");
    let text = std::fs::read_to_string(&index_path).map_err(ReportError::file(
        &index_path,
        "cannot read (is this a --save-eigs directory?)",
    ))?;
    let index: Vec<serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| ReportError::invalid(&index_path, format!("not a --save-eigs index: {e}")))?;
    let mut out = std::collections::HashMap::new();
    for e in &index {
        let (Some(name), Some(file)) = (
            e.get("name").and_then(|v| v.as_str()),
            e.get("file").and_then(|v| v.as_str()),
        ) else {
            return Err(ReportError::invalid(
                &index_path,
                "an entry lacks `name` or `file`",
            ));
        };
        if file.contains('/') || file.contains('\\') || file.starts_with('.') {
            return Err(ReportError::invalid(
                &index_path,
                format!("file `{file}` is not a plain file name"),
            ));
        }
        out.insert(name.to_string(), read_npy_f64(&dir.join(file))?);
    }
    Ok(out)
}

/// Saves every analysed matrix's eigenvalues under `dir`.
pub fn save_eigs(dir: &Path, analysis: &Analysis) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(ReportError::file(dir, "cannot create directory"))?;
    let ms = &analysis.matrices;
    let stems = file_stems(ms.iter().map(|m| (m.name(), m.job.layer_id)));
    let mut index = Vec::new();
    for (m, stem) in ms.iter().zip(&stems) {
        let Some(evals) = m.evals() else { continue };
        let file = format!("{stem}.npy");
        let path = dir.join(&file);
        write_npy_f64(&path, evals).map_err(ReportError::file(&path, "cannot write"))?;
        index.push(serde_json::json!({"name": m.name(), "layer_id": m.job.layer_id, "file": file, "num_evals": evals.len()}));
    }
    let path = dir.join("index.json");
    std::fs::write(&path, serde_json::to_string_pretty(&index)? + "\n")
        .map_err(ReportError::file(&path, "cannot write"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip_and_rejections() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let v = [3.5, -0.0, 1e-300, f64::MAX, 7.0];
        write_npy_f64(&p, &v).unwrap();
        let back = read_npy_f64(&p).unwrap();
        assert_eq!(back.len(), v.len());
        assert!(back.iter().zip(&v).all(|(a, b)| a.to_bits() == b.to_bits()));
        let good = std::fs::read(&p).unwrap();
        let bad = |bytes: &[u8], why: &str| {
            std::fs::write(&p, bytes).unwrap();
            let e = read_npy_f64(&p).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        };
        bad(b"not an npy file", "no NPY magic");
        bad(&good[..good.len() - 3], "37 data bytes for 5 values");
        // Header edits of the same length, on the bytes (the magic is not
        // UTF-8).
        let edit = |from: &[u8], to: &[u8]| {
            let mut b = good.clone();
            let at = b.windows(from.len()).position(|w| w == from).unwrap();
            b[at..at + from.len()].copy_from_slice(to);
            b
        };
        bad(&edit(b"<f8", b"<f4"), "dtype is not '<f8'");
        bad(&edit(b"(5,), ", b"(5,1),"), "not 1-D");
    }

    #[test]
    fn stems_are_unique() {
        let s = file_stems([("a/b", 0), ("a_b", 1), ("c", 2)].into_iter());
        assert_eq!(s, ["a_b", "a_b-1", "c"]);
    }
}
