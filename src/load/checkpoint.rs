//! A checkpoint: one safetensors file, a directory of them, or a sharded
//! checkpoint described by `*.safetensors.index.json`.
//!
//! Owns path resolution, shard bookkeeping and the deterministic tensor
//! order (natural order of names, so `layer.2` comes before `layer.10`).
//! Problems that concern one file or tensor are recorded and the rest of
//! the checkpoint stays usable; only an unusable path is an error.

use super::error::LoadError;
use super::file::{SafetensorsFile, TensorHeader, check_regular, read_text};
use super::index::{Index, Lost, MAX_INDEX_BYTES, Shard, resolve};
use super::matrix::{ConvMode, TensorPlan, plan_tensor};
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
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

    /// The tensor → matrix rules applied to this tensor (matrices named
    /// after `base`). A tensor with a problem is never planned: its plan is
    /// a `Skip` carrying the problem.
    pub fn plan(&self, base: &str, conv: ConvMode) -> TensorPlan {
        match self.problem() {
            Some(p) => TensorPlan::Skip(p.to_string()),
            None => {
                let h = &self.header;
                plan_tensor(&h.name, base, &h.dtype, &h.shape, conv)
            }
        }
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

/// How a checkpoint is opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Let a sharded index name shards outside its own directory
    /// (`../x.safetensors`, `/abs/x.safetensors`). Off by default: an
    /// index is data, and may come from anyone.
    pub allow_outside: bool,
}

impl OpenOptions {
    /// The variable that sets [`OpenOptions::allow_outside`] for
    /// [`Checkpoint::open`] (and so for every command): `1` allows.
    pub const ALLOW_OUTSIDE_VAR: &'static str = "SPECSCOPE_ALLOW_OUTSIDE_SHARDS";

    /// The defaults, with `allow_outside` from
    /// [`OpenOptions::ALLOW_OUTSIDE_VAR`].
    pub fn from_env() -> OpenOptions {
        OpenOptions {
            allow_outside: std::env::var(Self::ALLOW_OUTSIDE_VAR).is_ok_and(|v| v == "1"),
        }
    }
}

impl Checkpoint {
    /// Opens `path` with [`OpenOptions::from_env`]. Errors when nothing at
    /// all can be read from it: the path is missing or not a regular file
    /// or directory, a directory holds no checkpoint, or the one file given
    /// is not a readable safetensors file.
    pub fn open(path: &Path) -> Result<Checkpoint, LoadError> {
        Self::open_with(path, &OpenOptions::from_env())
    }

    /// [`Checkpoint::open`] with explicit options.
    pub fn open_with(path: &Path, opts: &OpenOptions) -> Result<Checkpoint, LoadError> {
        let meta = std::fs::metadata(path).map_err(|e| LoadError::stat(path, &e))?;
        if meta.is_dir() {
            Self::open_dir(path, opts)
        } else if path.to_string_lossy().ends_with(".json") {
            Self::from_index(path, path, Vec::new(), opts)
        } else {
            let file = SafetensorsFile::open(path)?;
            Ok(Self::assemble(path, vec![file], Vec::new()))
        }
    }

    /// A directory: its one index, else its `*.safetensors` files. Every
    /// entry with one of those names that cannot be used (dangling or
    /// looping symlink, FIFO, directory, unreadable) is a named problem;
    /// two names of one file are read once.
    fn open_dir(path: &Path, opts: &OpenOptions) -> Result<Checkpoint, LoadError> {
        let mut indexes = Vec::new();
        let mut shards = Vec::new();
        let mut problems = Vec::new();
        let entries = std::fs::read_dir(path).map_err(|e| LoadError::io(path, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| LoadError::io(path, &e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_index = name.ends_with(".safetensors.index.json");
            if !is_index && !name.ends_with(".safetensors") {
                continue;
            }
            let p = entry.path();
            match check_regular(&p) {
                Ok(_) if is_index => indexes.push(p),
                Ok(_) => shards.push(p),
                Err(e) => problems.push(e),
            }
        }
        indexes.sort();
        shards.sort();
        problems.sort_by_key(|p| p.to_string());
        let mut real = BTreeSet::new();
        shards.retain(|p| real.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
        match (indexes.len(), shards.len()) {
            (0, 0) if problems.is_empty() => Err(LoadError::EmptyDir {
                path: path.to_path_buf(),
            }),
            (0, _) => Ok(Self::from_files(path, &shards, problems)),
            (1, _) => Self::from_index(path, &indexes[0], problems, opts),
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
    }

    fn from_files(root: &Path, paths: &[PathBuf], mut problems: Vec<LoadError>) -> Checkpoint {
        let mut files = Vec::new();
        for p in paths {
            match SafetensorsFile::open(p) {
                Ok(f) => files.push(f),
                Err(e) => problems.push(e),
            }
        }
        Self::assemble(root, files, problems)
    }

    fn from_index(
        root: &Path,
        index: &Path,
        mut problems: Vec<LoadError>,
        opts: &OpenOptions,
    ) -> Result<Checkpoint, LoadError> {
        let text = read_text(index, MAX_INDEX_BYTES)?;
        let idx = Index::parse(index, &text)?;
        let mut res = resolve(index, &idx, opts.allow_outside);
        problems.append(&mut res.problems);
        let mut files = Vec::new();
        // For each usable shard, its index in `files` once opened.
        let mut opened = Vec::new();
        for shard in &res.shards {
            match SafetensorsFile::open(&shard.path) {
                Ok(f) => {
                    opened.push(Some(files.len()));
                    files.push(f);
                }
                Err(e) => {
                    let reason =
                        format!("shard `{}` named by the index cannot be read", shard.label);
                    problems.push(e);
                    opened.push(None);
                    res.lost.extend(shard.tensors.iter().map(|t| Lost {
                        tensor: t.clone(),
                        path: index.to_path_buf(),
                        reason: reason.clone(),
                    }));
                }
            }
        }
        let mut ck = Self::assemble(root, files, problems);
        ck.index_order = Some(idx.by_shard.values().flatten().cloned().collect());
        ck.check_placement(index, &res.shards, &opened);
        // Tensors of unusable shards still appear, as failed rows: nothing
        // the index promised is silently dropped.
        for lost in res.lost {
            ck.tensors.push(Tensor {
                header: TensorHeader {
                    problem: Some(LoadError::BadTensor {
                        path: lost.path,
                        tensor: lost.tensor.clone(),
                        reason: lost.reason,
                    }),
                    name: lost.tensor,
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

    /// Checks the index's `weight_map` against the shards' headers: a
    /// tensor assigned to one opened shard but held by another, or by
    /// none, is a named problem.
    fn check_placement(&mut self, index: &Path, shards: &[Shard], opened: &[Option<usize>]) {
        let mut holder: HashMap<&str, usize> = HashMap::new();
        for (fi, f) in self.files.iter().enumerate() {
            for h in &f.tensors {
                holder.entry(h.name.as_str()).or_insert(fi);
            }
        }
        let mut found = Vec::new();
        for (shard, fi) in shards.iter().zip(opened) {
            let Some(fi) = *fi else { continue };
            let held: BTreeSet<&str> = self.files[fi]
                .tensors
                .iter()
                .map(|h| h.name.as_str())
                .collect();
            for t in shard.tensors.iter().filter(|t| !held.contains(t.as_str())) {
                let reason = match holder.get(t.as_str()) {
                    Some(&other) => format!(
                        "the index places it in `{}`, but it is in {}",
                        shard.label,
                        self.files[other].path.display()
                    ),
                    None => format!(
                        "the index places it in `{}`, which does not hold it",
                        shard.label
                    ),
                };
                found.push(LoadError::BadTensor {
                    path: index.to_path_buf(),
                    tensor: t.clone(),
                    reason,
                });
            }
        }
        found.sort_by(|a, b| natural_cmp(a.tensor().unwrap_or(""), b.tensor().unwrap_or("")));
        self.problems.extend(found);
    }

    fn assemble(root: &Path, files: Vec<SafetensorsFile>, problems: Vec<LoadError>) -> Checkpoint {
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
                            files[tensors[prev].file.unwrap_or(fi)].path.display()
                        ),
                    });
                } else {
                    seen.insert(h.name.clone(), tensors.len());
                }
                tensors.push(t);
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
