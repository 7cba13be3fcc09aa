//! A checkpoint: one safetensors file, a directory of them, or a sharded
//! checkpoint described by `*.safetensors.index.json`.
//!
//! Owns path resolution, shard bookkeeping and the deterministic tensor
//! order (natural order of names, so `layer.2` comes before `layer.10`).
//! Problems that concern one file or tensor are recorded and the rest of
//! the checkpoint stays usable; only an unusable path is an error.

use super::error::LoadError;
use super::file::{SafetensorsFile, TensorHeader};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A tensor of the checkpoint: its header and the file holding it.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub header: TensorHeader,
    /// Index into [`Checkpoint::files`]; `None` when the file is missing.
    pub file: Option<usize>,
}

impl Tensor {
    pub fn name(&self) -> &str {
        &self.header.name
    }
    pub fn problem(&self) -> Option<&LoadError> {
        self.header.problem.as_ref()
    }
}

#[derive(Debug)]
pub struct Checkpoint {
    /// The path the user gave.
    pub root: PathBuf,
    /// Files that could be opened, in path order.
    pub files: Vec<SafetensorsFile>,
    /// Every tensor found, in natural name order; bad ones carry a problem.
    pub tensors: Vec<Tensor>,
    /// File-level problems (unreadable files, missing shards, bad index).
    pub problems: Vec<LoadError>,
    /// For a sharded checkpoint, the index's tensor names grouped by shard
    /// (shards in name order, names in the index's order): the order the
    /// peer tool walks layers in.
    pub index_order: Option<Vec<String>>,
}

impl Checkpoint {
    /// Opens `path`. Errors when nothing at all can be read from it: the path
    /// is missing, a directory holds no checkpoint, or the one file given is
    /// not a readable safetensors file.
    pub fn open(path: &Path) -> Result<Checkpoint, LoadError> {
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => LoadError::NotFound {
                path: path.to_path_buf(),
            },
            _ => LoadError::io(path, &e),
        })?;
        if meta.is_dir() {
            let mut indexes = Vec::new();
            let mut shards = Vec::new();
            let entries = std::fs::read_dir(path).map_err(|e| LoadError::io(path, &e))?;
            for entry in entries {
                let entry = entry.map_err(|e| LoadError::io(path, &e))?;
                let p = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if !p.is_file() {
                    continue;
                }
                if name.ends_with(".safetensors.index.json") {
                    indexes.push(p);
                } else if name.ends_with(".safetensors") {
                    shards.push(p);
                }
            }
            indexes.sort();
            shards.sort();
            match (indexes.len(), shards.len()) {
                (0, 0) => Err(LoadError::EmptyDir {
                    path: path.to_path_buf(),
                }),
                (0, _) => Ok(Self::from_files(path, &shards, Vec::new())),
                (1, _) => Self::from_index(path, &indexes[0]),
                _ => Err(LoadError::BadIndex {
                    path: path.to_path_buf(),
                    reason: format!(
                        "{} index files found ({}); give the one to use",
                        indexes.len(),
                        indexes
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
            }
        } else if path.to_string_lossy().ends_with(".json") {
            Self::from_index(path, path)
        } else {
            let file = SafetensorsFile::open(path)?;
            Ok(Self::assemble(path, vec![file], Vec::new(), None))
        }
    }

    fn from_files(root: &Path, paths: &[PathBuf], mut problems: Vec<LoadError>) -> Checkpoint {
        let mut files = Vec::new();
        for p in paths {
            match SafetensorsFile::open(p) {
                Ok(f) => files.push(f),
                Err(e) => problems.push(e),
            }
        }
        Self::assemble(root, files, problems, None)
    }

    fn from_index(root: &Path, index: &Path) -> Result<Checkpoint, LoadError> {
        let bad = |reason: String| LoadError::BadIndex {
            path: index.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(index).map_err(|e| LoadError::io(index, &e))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let map = value
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| bad("no `weight_map` object".into()))?;
        let dir = index.parent().unwrap_or(Path::new("."));
        let mut by_shard: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (tensor, shard) in map {
            let shard = shard.as_str().ok_or_else(|| {
                bad(format!(
                    "weight_map entry for `{tensor}` is not a file name"
                ))
            })?;
            by_shard
                .entry(shard.to_string())
                .or_default()
                .push(tensor.clone());
        }
        if by_shard.is_empty() {
            return Err(bad("`weight_map` is empty".into()));
        }
        let mut problems = Vec::new();
        let mut paths = Vec::new();
        let mut expected: HashMap<String, String> = HashMap::new();
        let mut missing_tensors = Vec::new();
        for (shard, tensors) in &by_shard {
            let p = dir.join(shard);
            if p.is_file() {
                paths.push(p);
                for t in tensors {
                    expected.insert(t.clone(), shard.clone());
                }
            } else {
                let mut names = tensors.clone();
                names.sort_by(|a, b| natural_cmp(a, b));
                problems.push(LoadError::MissingShard {
                    path: index.to_path_buf(),
                    shard: shard.clone(),
                    tensor: names[0].clone(),
                    others: names.len() - 1,
                });
                for t in names {
                    missing_tensors.push((t, shard.clone()));
                }
            }
        }
        let mut files = Vec::new();
        for p in &paths {
            match SafetensorsFile::open(p) {
                Ok(f) => files.push(f),
                Err(e) => problems.push(e),
            }
        }
        let mut ck = Self::assemble(root, files, problems, Some(&expected));
        ck.index_order = Some(by_shard.values().flatten().cloned().collect());
        // Tensors of missing shards still appear, as failed rows: nothing the
        // index promised is silently dropped.
        for (name, shard) in missing_tensors {
            ck.tensors.push(Tensor {
                header: TensorHeader {
                    problem: Some(LoadError::BadTensor {
                        path: dir.join(&shard),
                        tensor: name.clone(),
                        reason: format!("shard `{shard}` named by the index does not exist"),
                    }),
                    name,
                    dtype: super::DType::Other {
                        name: "?".into(),
                        bits: None,
                    },
                    shape: Vec::new(),
                    bytes: 0..0,
                },
                file: None,
            });
        }
        ck.tensors.sort_by(|a, b| natural_cmp(a.name(), b.name()));
        Ok(ck)
    }

    fn assemble(
        root: &Path,
        files: Vec<SafetensorsFile>,
        mut problems: Vec<LoadError>,
        expected: Option<&HashMap<String, String>>,
    ) -> Checkpoint {
        let mut tensors: Vec<Tensor> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (fi, f) in files.iter().enumerate() {
            for h in &f.tensors {
                let mut t = Tensor {
                    header: h.clone(),
                    file: Some(fi),
                };
                if let Some(&prev) = seen.get(&h.name) {
                    t.header.problem.get_or_insert(LoadError::BadTensor {
                        path: f.path.clone(),
                        tensor: h.name.clone(),
                        reason: format!(
                            "also present in {}; the first occurrence is analysed",
                            files[tensors[prev].file.unwrap()].path.display()
                        ),
                    });
                } else {
                    seen.insert(h.name.clone(), tensors.len());
                }
                tensors.push(t);
            }
        }
        if let Some(expected) = expected {
            let mut absent: Vec<_> = expected
                .iter()
                .filter(|(t, _)| !seen.contains_key(*t))
                .collect();
            absent.sort();
            for (t, shard) in absent {
                if files.iter().any(|f| {
                    f.path
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy() == **shard)
                }) {
                    problems.push(LoadError::BadTensor {
                        path: root.to_path_buf(),
                        tensor: t.clone(),
                        reason: format!("the index places it in `{shard}`, which does not hold it"),
                    });
                }
            }
        }
        tensors.sort_by(|a, b| natural_cmp(a.name(), b.name()));
        Checkpoint {
            root: root.to_path_buf(),
            files,
            tensors,
            problems,
            index_order: None,
        }
    }

    /// The file holding a tensor.
    pub fn file_of(&self, t: &Tensor) -> Option<&SafetensorsFile> {
        t.file.map(|i| &self.files[i])
    }

    /// The file and header of tensor `index`, which a plan includes only
    /// when it has no problem, and so a file.
    pub fn planned(&self, index: usize) -> (&SafetensorsFile, &TensorHeader) {
        let t = &self.tensors[index];
        let file = self
            .file_of(t)
            .expect("a planned tensor has no problem, so it has a file");
        (file, &t.header)
    }

    /// A view of planned tensor `index` as matrix data.
    pub fn matrix_data(
        &self,
        index: usize,
        view: crate::load::View,
    ) -> crate::load::MatrixData<'_> {
        let (file, h) = self.planned(index);
        crate::load::MatrixData {
            bytes: file.tensor_bytes(h),
            dtype: &h.dtype,
            view,
        }
    }

    /// Total bytes of the tensors that can be read.
    pub fn readable_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .filter(|t| t.problem().is_none())
            .map(|t| t.header.bytes.len() as u64)
            .sum()
    }
}

/// Natural order: runs of digits compare by value, the rest bytewise.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let (da, db) = (trim_zeros(&a[si..i]), trim_zeros(&b[sj..j]));
            let ord = da
                .len()
                .cmp(&db.len())
                .then_with(|| da.cmp(db))
                .then_with(|| (i - si).cmp(&(j - sj)));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let k = d.iter().position(|&c| c != b'0').unwrap_or(d.len());
    &d[k..]
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;

    #[test]
    fn natural_order() {
        let mut v = vec![
            "layer.10.w",
            "layer.2.w",
            "layer.1.w",
            "layer.02.w",
            "emb",
            "layer.2",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            vec![
                "emb",
                "layer.1.w",
                "layer.2",
                "layer.2.w",
                "layer.02.w",
                "layer.10.w"
            ]
        );
    }
}
