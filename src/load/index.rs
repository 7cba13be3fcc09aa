//! A sharded checkpoint's `*.safetensors.index.json`: parsing its
//! `weight_map`, and resolving the shard names it holds into files. Shard
//! names are confined to the index's directory (unless the caller allows
//! outside paths), deduplicated by the file they resolve to, and refused by
//! name when missing, dangling, looping or not regular files. Owns no
//! tensor data: `checkpoint` opens the shards and checks the map against
//! their headers.

use super::checkpoint::natural_cmp;
use super::error::LoadError;
use super::file::check_regular;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Largest index file read (the largest published indexes are a few MB).
pub const MAX_INDEX_BYTES: u64 = 100_000_000;

/// A parsed index: each shard name as the index writes it, with the
/// tensor names the `weight_map` assigns to it in the index's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub by_shard: BTreeMap<String, Vec<String>>,
}

impl Index {
    /// Parses the text of the index at `path` (`path` is for messages).
    pub fn parse(path: &Path, text: &str) -> Result<Index, LoadError> {
        let bad = |reason: String| LoadError::BadIndex {
            path: path.to_path_buf(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let map = value
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| bad("no `weight_map` object".into()))?;
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
        Ok(Index { by_shard })
    }
}

/// One shard file of the index, possibly named several ways
/// (`a.safetensors`, `./a.safetensors`).
#[derive(Debug, Clone)]
pub struct Shard {
    /// Its name relative to the index's directory, `.` and `..` resolved
    /// (the name as written for an allowed outside path).
    pub label: String,
    /// The names the index uses for it, in name order.
    pub names: Vec<String>,
    /// The path opened: the index's directory joined with the first name.
    pub path: PathBuf,
    /// The tensors the index assigns to it, over all its names.
    pub tensors: Vec<String>,
}

/// A tensor the index promises whose shard cannot be used, and why.
#[derive(Debug, Clone)]
pub struct Lost {
    pub tensor: String,
    /// The index, for the message.
    pub path: PathBuf,
    pub reason: String,
}

/// The index's shards resolved against the file system.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// Usable shard files, each once, in the order of their first name.
    pub shards: Vec<Shard>,
    /// Tensors of shards that are missing, outside, or not regular files.
    pub lost: Vec<Lost>,
    /// One problem per unusable shard.
    pub problems: Vec<LoadError>,
}

/// `shard` as a relative path with no `.` and no `..` that leaves the
/// directory, or `None` when it is absolute or climbs out. Lexical, so the
/// path opened is the path checked.
fn confine(shard: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(shard).components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Resolves the shard names of `idx` (read from `index`) to files. With
/// `allow_outside`, names that leave the index's directory are opened too.
/// Symlinks inside the directory are followed (a Hugging Face cache links
/// its snapshots to blobs elsewhere).
pub fn resolve(index: &Path, idx: &Index, allow_outside: bool) -> Resolved {
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut out = Resolved::default();
    let mut by_file: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for (shard, tensors) in &idx.by_shard {
        let mut names = tensors.clone();
        names.sort_by(|a, b| natural_cmp(a, b));
        let (path, label) = match confine(shard) {
            Some(rel) => (dir.join(&rel), rel.display().to_string()),
            None if allow_outside => (dir.join(shard), shard.clone()),
            None => {
                out.problems.push(LoadError::ShardOutside {
                    path: index.to_path_buf(),
                    shard: shard.clone(),
                    tensor: names[0].clone(),
                    others: names.len() - 1,
                });
                let reason = format!(
                    "shard `{shard}` named by the index lies outside the index's directory; it is not opened"
                );
                lose(&mut out.lost, names, index, &reason);
                continue;
            }
        };
        if let Err(e) = check_regular(&path) {
            let reason = if let LoadError::NotFound { .. } = e {
                out.problems.push(LoadError::MissingShard {
                    path: index.to_path_buf(),
                    shard: shard.clone(),
                    tensor: names[0].clone(),
                    others: names.len() - 1,
                });
                format!("shard `{shard}` named by the index does not exist")
            } else {
                let reason = format!("shard `{shard}` named by the index cannot be used: {e}");
                out.problems.push(e);
                reason
            };
            lose(&mut out.lost, names, index, &reason);
            continue;
        }
        let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        match by_file.get(&real) {
            Some(&k) => {
                out.shards[k].names.push(shard.clone());
                out.shards[k].tensors.extend(tensors.iter().cloned());
            }
            None => {
                by_file.insert(real, out.shards.len());
                out.shards.push(Shard {
                    label,
                    names: vec![shard.clone()],
                    path,
                    tensors: tensors.clone(),
                });
            }
        }
    }
    out
}

fn lose(lost: &mut Vec<Lost>, names: Vec<String>, index: &Path, reason: &str) {
    lost.extend(names.into_iter().map(|tensor| Lost {
        tensor,
        path: index.to_path_buf(),
        reason: reason.to_string(),
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_are_confined_lexically() {
        assert_eq!(confine("a.safetensors"), Some("a.safetensors".into()));
        assert_eq!(confine("./a.safetensors"), Some("a.safetensors".into()));
        assert_eq!(
            confine("sub/../a.safetensors"),
            Some("a.safetensors".into())
        );
        assert_eq!(
            confine("sub/a.safetensors"),
            Some("sub/a.safetensors".into())
        );
        assert_eq!(confine("../a.safetensors"), None);
        assert_eq!(confine("../../etc/passwd"), None);
        assert_eq!(confine("sub/../../a.safetensors"), None);
        assert_eq!(confine("/etc/passwd"), None);
        assert_eq!(confine(""), Some(PathBuf::new()));
    }

    #[test]
    fn parse_groups_tensors_by_shard_and_names_the_index() {
        let p = Path::new("m.safetensors.index.json");
        let idx = Index::parse(p, r#"{"weight_map":{"b":"2.st","a":"1.st","c":"2.st"}}"#).unwrap();
        assert_eq!(idx.by_shard["2.st"], vec!["b", "c"]);
        for (text, why) in [
            ("[]", "no `weight_map` object"),
            (r#"{"weight_map":{}}"#, "`weight_map` is empty"),
            (
                r#"{"weight_map":{"a":1}}"#,
                "weight_map entry for `a` is not a file name",
            ),
            ("{", "not valid JSON"),
        ] {
            let e = Index::parse(p, text).unwrap_err().to_string();
            assert!(e.starts_with("m.safetensors.index.json: invalid sharded-checkpoint index: "));
            assert!(e.contains(why), "{e}");
        }
    }
}
