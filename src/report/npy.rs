//! `--save-eigs`: eigenvalues as NumPy `.npy` files (float64, descending),
//! one per matrix, plus `index.json` mapping matrix names to files.

use super::LayerRow;
use crate::pipeline::Outcome;
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

/// Saves every analysed matrix's eigenvalues under `dir`.
pub fn save_eigs(dir: &Path, rows: &[LayerRow], outcomes: &[Outcome]) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create directory", dir.display()))?;
    let mut used = std::collections::HashSet::new();
    let mut index = Vec::new();
    for (row, out) in rows.iter().zip(outcomes) {
        let Ok(evals) = &out.evals else { continue };
        let stem: String = row
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut file = format!("{stem}.npy");
        if !used.insert(file.clone()) {
            file = format!("{stem}-{}.npy", row.layer_id);
            used.insert(file.clone());
        }
        let path = dir.join(&file);
        write_npy_f64(&path, evals).with_context(|| format!("{}: cannot write", path.display()))?;
        index.push(serde_json::json!({"name": row.name, "layer_id": row.layer_id, "file": file, "num_evals": evals.len()}));
    }
    let path = dir.join("index.json");
    std::fs::write(&path, serde_json::to_string_pretty(&index)? + "\n")
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}
