//! The input fingerprint of a part: for every file of a checkpoint its
//! path, size, and a 64-bit FNV-1a hash of its safetensors header (the
//! 8-byte length and the JSON that follows: names, dtypes, shapes,
//! offsets), and the checkpoint's file-level problems. Two processes that
//! see the same fingerprint planned the same matrices from the same
//! headers; a changed file (other weights written under the same name)
//! almost always changes its header or size. Reads headers only, never
//! the weights.

use super::ShardError;
use crate::load::Checkpoint;
use serde::{Deserialize, Serialize};
use std::hash::Hasher;
use std::io::Read;
use std::path::Path;

/// One file of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFingerprint {
    pub path: String,
    pub bytes: u64,
    /// FNV-1a 64 of the header, as 16 hex digits.
    pub header: String,
}

/// A checkpoint as given (the path the user gave) and its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFingerprint {
    pub path: String,
    pub files: Vec<FileFingerprint>,
    /// File-level problems (unreadable files, missing shards), as reported.
    pub problems: Vec<String>,
}

/// The fingerprint of an open checkpoint.
pub fn fingerprint(ck: &Checkpoint) -> Result<InputFingerprint, ShardError> {
    let files = ck
        .files
        .iter()
        .map(|f| {
            Ok(FileFingerprint {
                path: f.path.display().to_string(),
                bytes: f.len,
                header: header_hash(&f.path)?,
            })
        })
        .collect::<Result<_, ShardError>>()?;
    Ok(InputFingerprint {
        path: ck.root.display().to_string(),
        files,
        problems: ck.problems.iter().map(|p| p.to_string()).collect(),
    })
}

/// FNV-1a 64 of a safetensors file's length prefix and header.
pub fn header_hash(path: &Path) -> Result<String, ShardError> {
    let read = |source| ShardError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(read)?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(read)?;
    let mut header = Vec::new();
    f.take(u64::from_le_bytes(len))
        .read_to_end(&mut header)
        .map_err(read)?;
    let mut h = fnv::FnvHasher::default();
    h.write(&len);
    h.write(&header);
    Ok(format!("{:016x}", h.finish()))
}

/// The first difference between two fingerprints, in words.
pub fn difference(a: &InputFingerprint, b: &InputFingerprint) -> Option<String> {
    if a.path != b.path {
        return Some(format!("checkpoint path `{}` vs `{}`", a.path, b.path));
    }
    if a.files.len() != b.files.len() {
        return Some(format!(
            "{}: {} files vs {}",
            a.path,
            a.files.len(),
            b.files.len()
        ));
    }
    for (x, y) in a.files.iter().zip(&b.files) {
        if x.path != y.path {
            return Some(format!("file `{}` vs `{}`", x.path, y.path));
        }
        if x.bytes != y.bytes {
            return Some(format!("{}: {} bytes vs {}", x.path, x.bytes, y.bytes));
        }
        if x.header != y.header {
            return Some(format!(
                "{}: header hash {} vs {}",
                x.path, x.header, y.header
            ));
        }
    }
    (a.problems != b.problems).then(|| format!("{}: file problems differ", a.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_64_of_known_bytes() {
        // FNV-1a 64 reference values (Fowler–Noll–Vo test vectors).
        let h = |b: &[u8]| {
            let mut h = fnv::FnvHasher::default();
            h.write(b);
            h.finish()
        };
        assert_eq!(h(b""), 0xcbf29ce484222325);
        assert_eq!(h(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(h(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn a_header_change_changes_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, header: &str| {
            let p = dir.path().join(name);
            let mut b = (header.len() as u64).to_le_bytes().to_vec();
            b.extend_from_slice(header.as_bytes());
            b.extend_from_slice(&[0u8; 16]);
            std::fs::write(&p, b).unwrap();
            p
        };
        let a = write(
            "a",
            r#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#,
        );
        let b = write(
            "b",
            r#"{"w":{"dtype":"F32","shape":[4,1],"data_offsets":[0,16]}}"#,
        );
        let a2 = write(
            "a2",
            r#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#,
        );
        assert_eq!(header_hash(&a).unwrap(), header_hash(&a2).unwrap());
        assert_ne!(header_hash(&a).unwrap(), header_hash(&b).unwrap());
        let e = header_hash(&dir.path().join("missing")).unwrap_err();
        assert!(e.to_string().contains("missing: cannot read"), "{e}");
    }
}
