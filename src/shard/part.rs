//! The part file: one shard's manifest and what it measured, as JSON,
//! written atomically (a temporary file in the same directory, synced,
//! then renamed over the target), so a reader never sees half a part and
//! a killed shard leaves no part at all.
//!
//! The manifest says which run the part belongs to: the tool version, the
//! command, the shard, the input fingerprint, every option that changes a
//! number, the unit count and the units this shard ran. Floats are written
//! losslessly: shortest round-trip decimals, and `"NaN"`, `"inf"`,
//! `"-inf"` for the values JSON has no number for ([`Num`]).

use super::assign::Unit;
use super::fingerprint::InputFingerprint;
use super::record::{EngineRecord, SnapshotRecord, UnitRecord};
use super::run::Settings;
use super::{ShardError, ShardSpec};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `format` of every part.
pub const FORMAT: &str = "specscope-part";
/// Bumped whenever a field changes meaning or disappears.
pub const VERSION: u32 = 1;

/// Which run a part belongs to, and which of its units it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// `specscope 0.1.0`: parts of different builds are not merged.
    pub tool: String,
    /// `analyze`, `predict` or `compare`.
    pub command: String,
    pub shard: ShardSpec,
    /// The checkpoints read: the one analysed (`compare`: every snapshot,
    /// in series order), then the init snapshot when there is one.
    pub inputs: Vec<InputFingerprint>,
    pub settings: Settings,
    /// Units of the whole run (matrices, or snapshots for `compare`).
    pub units: usize,
    /// This shard's units, in run order.
    pub assigned: Vec<Unit>,
}

impl Manifest {
    pub fn tool() -> String {
        format!("{} {}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
    }
}

/// A shard's output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Part {
    pub manifest: Manifest,
    /// The merged report's format when `merge` is given none (`--format`
    /// of the shard; it changes no number, so parts may differ in it).
    #[serde(default)]
    pub format: String,
    /// What computed the spectra.
    pub engine: EngineRecord,
    /// `analyze`, `predict`: one per assigned matrix, in run order.
    #[serde(default)]
    pub matrices: Vec<UnitRecord>,
    /// `compare`: one per assigned snapshot, in series order.
    #[serde(default)]
    pub snapshots: Vec<SnapshotRecord>,
}

/// Only the manifest of a part file (the rest is skipped unparsed).
#[derive(Deserialize)]
struct Head {
    manifest: Manifest,
}

fn not_part(path: &Path, why: impl Into<String>) -> ShardError {
    ShardError::NotPart {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, ShardError> {
    std::fs::read(path).map_err(|source| ShardError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn check_format(path: &Path, m: &Manifest) -> Result<(), ShardError> {
    if m.format != FORMAT {
        return Err(not_part(path, format!("its format is `{}`", m.format)));
    }
    if m.version != VERSION {
        return Err(not_part(
            path,
            format!("part version {}; this build reads {VERSION}", m.version),
        ));
    }
    Ok(())
}

impl Part {
    /// Reads a part file.
    pub fn read(path: &Path) -> Result<Part, ShardError> {
        let bytes = read_bytes(path)?;
        let part: Part =
            serde_json::from_slice(&bytes).map_err(|e| not_part(path, e.to_string()))?;
        check_format(path, &part.manifest)?;
        Ok(part)
    }

    /// The manifest of a part file.
    pub fn read_manifest(path: &Path) -> Result<Manifest, ShardError> {
        let bytes = read_bytes(path)?;
        let head: Head =
            serde_json::from_slice(&bytes).map_err(|e| not_part(path, e.to_string()))?;
        check_format(path, &head.manifest)?;
        Ok(head.manifest)
    }

    /// Writes the part to `path` atomically, creating its directory.
    pub fn write(&self, path: &Path) -> Result<(), ShardError> {
        let write = |source| ShardError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir).map_err(write)?;
        let mut builder = tempfile::Builder::new();
        builder.prefix(".specscope-part-");
        // A part is read by the merge, often another job: the usual mode
        // (less the umask), not the temporary file's private 0600.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o644));
        }
        let mut tmp = builder.tempfile_in(dir).map_err(write)?;
        {
            let mut w = std::io::BufWriter::new(tmp.as_file_mut());
            serde_json::to_writer(&mut w, self).map_err(|e| write(e.into()))?;
            w.write_all(b"\n").map_err(write)?;
            w.flush().map_err(write)?;
        }
        tmp.as_file().sync_all().map_err(write)?;
        tmp.persist(path).map_err(|e| write(e.error))?;
        Ok(())
    }

    /// The matrices of the part that failed, each as a whole run reports it.
    pub fn failures(&self) -> Vec<String> {
        self.matrices
            .iter()
            .chain(self.snapshots.iter().flat_map(|s| &s.matrices))
            .filter_map(UnitRecord::failure)
            .collect()
    }
}

/// Where a shard writes its part: `-o FILE`, or `-o DIR/` (an existing
/// directory, or a path ending in `/`) for `DIR/<command>-part-I-of-N.json`
/// with I zero-padded to N's width, so that `DIR/*.json` lists the parts
/// in shard order.
pub struct PartPath;

impl PartPath {
    pub fn resolve(output: &Path, command: &str, shard: ShardSpec) -> PathBuf {
        let dir_like = output.is_dir() || output.as_os_str().to_string_lossy().ends_with('/');
        if !dir_like {
            return output.to_path_buf();
        }
        let width = (shard.count - 1).max(1).to_string().len();
        output.join(format!(
            "{command}-part-{:0width$}-of-{}.json",
            shard.index, shard.count
        ))
    }
}

/// An f64 that survives JSON: finite values as numbers (shortest
/// round-trip decimals; the crate parses them back exactly), NaN and ±∞ as
/// the strings `NaN`, `inf`, `-inf`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Num(pub f64);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            x if x.is_finite() => s.serialize_f64(x),
            x if x.is_nan() => s.serialize_str("NaN"),
            x if x > 0.0 => s.serialize_str("inf"),
            _ => s.serialize_str("-inf"),
        }
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Num, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(x) => Ok(Num(x)),
            Raw::Word(w) => match w.as_str() {
                "NaN" => Ok(Num(f64::NAN)),
                "inf" => Ok(Num(f64::INFINITY)),
                "-inf" => Ok(Num(f64::NEG_INFINITY)),
                _ => Err(serde::de::Error::custom(format!(
                    "`{w}` is not a number (expected a number, NaN, inf or -inf)"
                ))),
            },
        }
    }
}

/// `Num`s of a slice.
pub fn nums(v: &[f64]) -> Vec<Num> {
    v.iter().copied().map(Num).collect()
}

/// The f64s of `Num`s.
pub fn floats(v: Vec<Num>) -> Vec<f64> {
    v.into_iter().map(|n| n.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_trip_bit_for_bit() {
        let v = [
            0.0,
            -0.0,
            1.0,
            0.1,
            1.0 / 3.0,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            -1.2345678901234567e-300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let json = serde_json::to_string(&nums(&v)).unwrap();
        let back = floats(serde_json::from_str(&json).unwrap());
        for (a, b) in v.iter().zip(&back) {
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{a:e} came back as {b:e} ({json})"
            );
        }
        assert!(serde_json::from_str::<Num>("\"nan\"").is_err());
    }

    #[test]
    fn part_paths() {
        let s = ShardSpec {
            index: 3,
            count: 12,
        };
        let p = PartPath::resolve(Path::new("parts/"), "analyze", s);
        assert_eq!(p, Path::new("parts/analyze-part-03-of-12.json"));
        let s = ShardSpec { index: 0, count: 1 };
        let p = PartPath::resolve(Path::new("out/"), "compare", s);
        assert_eq!(p, Path::new("out/compare-part-0-of-1.json"));
        let p = PartPath::resolve(Path::new("p.json"), "analyze", s);
        assert_eq!(p, Path::new("p.json"));
    }
}
