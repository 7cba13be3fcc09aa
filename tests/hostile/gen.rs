//! The generator of hostile inputs: mutations of small valid safetensors
//! files (header field edits, huge shapes, overflowing products, bad
//! offsets and dtypes, truncations, byte flips, lying header lengths,
//! garbage headers), implausible but well-formed plans, directories with
//! dangling and looping symlinks, FIFOs and bad files, sharded indexes with
//! bad shard names and weight maps, and FIFOs or devices given as the path.
//! Seeded (SplitMix64), so a case number always makes the same input.

use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// One generated input.
#[derive(Debug, Clone)]
pub struct Case {
    /// The path given to the binary.
    pub path: PathBuf,
    /// What every diagnostic must name: the file, or for a directory or
    /// index, the case's directory (every path inside it starts so).
    pub named: PathBuf,
    pub kind: &'static str,
    /// Bytes of the regular files in the case.
    pub bytes: u64,
}

/// SplitMix64: small, seeded, and good enough to pick mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
}

pub fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL in a temp path");
    // SAFETY: `c` is a valid NUL-terminated path.
    let r = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(
        r,
        0,
        "mkfifo {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// A tensor of a valid file before encoding.
struct Spec {
    name: &'static str,
    dtype: &'static str,
    shape: Vec<usize>,
}

fn elem_bytes(dtype: &str) -> usize {
    match dtype {
        "F64" | "I64" => 8,
        "F32" => 4,
        _ => 2,
    }
}

/// Encodes values in [-1, 1) (a NaN or Inf now and then) as `dtype`.
fn data_for(rng: &mut Rng, dtype: &str, n: usize, nan: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * elem_bytes(dtype));
    for i in 0..n {
        let mut v = (rng.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0;
        if nan && i % 7 == 3 {
            v = if i % 2 == 0 { f64::NAN } else { f64::INFINITY };
        }
        match dtype {
            "F64" => out.extend(v.to_le_bytes()),
            "F32" => out.extend((v as f32).to_le_bytes()),
            "F16" => out.extend(half::f16::from_f64(v).to_le_bytes()),
            "BF16" => out.extend(half::bf16::from_f64(v).to_le_bytes()),
            _ => out.extend((rng.next() as i64 % 1000).to_le_bytes()),
        }
    }
    out
}

/// A small valid file: 1 to 6 tensors of every rule and dtype.
fn valid(rng: &mut Rng) -> (Map<String, Value>, Vec<u8>) {
    let (r, c) = (rng.range(2, 20), rng.range(2, 20));
    let all = [
        Spec {
            name: "layer.0.attn.q.weight",
            dtype: "F32",
            shape: vec![r, c],
        },
        Spec {
            name: "layer.0.mlp.up.weight",
            dtype: "F16",
            shape: vec![c, r + 3],
        },
        Spec {
            name: "layer.1.mlp.down.weight",
            dtype: "BF16",
            shape: vec![r + 1, 7],
        },
        Spec {
            name: "layer.1.out.weight",
            dtype: "F64",
            shape: vec![5, c],
        },
        Spec {
            name: "moe.experts.w1",
            dtype: "F32",
            shape: vec![rng.range(2, 4), rng.range(2, 6), 16],
        },
        Spec {
            name: "conv.weight",
            dtype: "F32",
            shape: vec![rng.range(2, 8), 3, 3, 3],
        },
        Spec {
            name: "conv1d.weight",
            dtype: "F16",
            shape: vec![6, 4, 5],
        },
        Spec {
            name: "layer.0.bias",
            dtype: "F32",
            shape: vec![r],
        },
        Spec {
            name: "ids",
            dtype: "I64",
            shape: vec![4],
        },
        Spec {
            name: "scale",
            dtype: "F32",
            shape: vec![],
        },
    ];
    let nan = rng.chance(0.05);
    let mut header = Map::new();
    let mut data = Vec::new();
    let first = rng.below(4);
    for (i, s) in all.iter().enumerate() {
        if i != first && !rng.chance(0.35) {
            continue;
        }
        let n: usize = s.shape.iter().product();
        let bytes = data_for(rng, s.dtype, n, nan);
        let start = data.len();
        data.extend(bytes);
        header.insert(
            s.name.into(),
            json!({"dtype": s.dtype, "shape": s.shape, "data_offsets": [start, data.len()]}),
        );
    }
    if rng.chance(0.3) {
        header.insert("__metadata__".into(), json!({"format": "pt", "step": "7"}));
    }
    (header, data)
}

/// Length field, header text, padding to 8 bytes, data.
pub fn encode(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.as_bytes().to_vec();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    out
}

const HUGE_SHAPES: &[&str] = &[
    "[2147483648,2147483648]",
    "[2305843009213693952,1]",
    "[18446744073709551615]",
    "[4294967296,4294967296]",
    "[16777216,1,1]",
    "[1099511627776,8,8]",
    "[4611686018427387904,4]",
    "[3,18446744073709551615]",
    "[9223372036854775807,2]",
    "[1,1,1048576,1048576]",
    "[65536,65536,65536]",
    "[0,18446744073709551615]",
    "[18446744073709551616]",
    "[-1,4]",
    "[1.5,2]",
    "[\"8\",4]",
    "null",
    "[]",
    "{}",
    "7",
];

const DTYPES: &[&str] = &[
    "\"F64\"",
    "\"F32\"",
    "\"F16\"",
    "\"BF16\"",
    "\"I64\"",
    "\"I32\"",
    "\"U8\"",
    "\"BOOL\"",
    "\"F8_E4M3\"",
    "\"F8_E5M2\"",
    "\"F4\"",
    "\"F6_E2M3\"",
    "\"E8M0\"",
    "\"C64\"",
    "\"Q4_K\"",
    "\"\"",
    "\"f32\"",
    "7",
    "null",
    "[\"F32\"]",
];

/// Edits one tensor entry of the header: shape, dtype, offsets or keys.
fn edit_field(rng: &mut Rng, header: &mut Map<String, Value>) -> &'static str {
    let names: Vec<String> = header
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect();
    let Some(name) = names.get(rng.below(names.len())).cloned() else {
        return "field-none";
    };
    let other = header.get(rng.pick(&names)).cloned();
    let entry = header
        .get_mut(&name)
        .and_then(Value::as_object_mut)
        .expect("an entry");
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    // Earlier edits may have removed or retyped any key.
    let off = |e: &Map<String, Value>, i: usize| {
        e.get("data_offsets")
            .and_then(|o| o.get(i))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    match rng.below(6) {
        0 => {
            let s = if rng.chance(0.7) {
                rng.pick(HUGE_SHAPES).to_string()
            } else {
                let dims: Vec<String> = (0..rng.range(0, 5))
                    .map(|_| (rng.next() >> rng.range(0, 63)).to_string())
                    .collect();
                format!("[{}]", dims.join(","))
            };
            entry.insert("shape".into(), parse(&s));
            "shape"
        }
        1 => {
            let mut shape: Vec<Value> = entry
                .get("shape")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            match rng.below(4) {
                0 => shape.reverse(),
                1 => shape.push(json!(rng.range(1, 3))),
                2 => {
                    shape.pop();
                }
                _ => {
                    shape = shape
                        .iter()
                        .map(|d| json!(d.as_u64().unwrap_or(1).saturating_mul(2)))
                        .collect()
                }
            }
            entry.insert("shape".into(), Value::Array(shape));
            "shape-nudge"
        }
        2 => {
            let d = *rng.pick(DTYPES);
            entry.insert("dtype".into(), parse(d));
            "dtype"
        }
        3 => {
            let (s, e) = (off(entry, 0), off(entry, 1));
            let o = other.as_ref().map_or((0, 8), |o| {
                (
                    o["data_offsets"][0].as_u64().unwrap_or(0),
                    o["data_offsets"][1].as_u64().unwrap_or(0),
                )
            });
            let k = rng.range(1, 64) as u64;
            let v = match rng.below(12) {
                0 => json!([e, s]),
                1 => json!([s, e.saturating_add(k)]),
                2 => json!([s.saturating_sub(k), e]),
                3 => json!([u64::MAX, u64::MAX]),
                4 => json!([1u64 << 63, (1u64 << 63) + 8]),
                5 => json!([s]),
                6 => json!([s, e, e]),
                7 => parse(&format!("[-1,{e}]")),
                8 => json!([o.0, o.1]),
                9 => json!([e, e]),
                10 => json!([s.saturating_add(k), e.saturating_add(k)]),
                _ => json!([0, u64::MAX]),
            };
            entry.insert("data_offsets".into(), v);
            "offsets"
        }
        4 => {
            let key = *rng.pick(&["dtype", "shape", "data_offsets"]);
            if rng.chance(0.5) {
                entry.remove(key);
            } else {
                entry.insert(key.into(), json!({"x": 1}));
            }
            entry.insert("extra".into(), json!([1, 2]));
            "keys"
        }
        _ => {
            let v = header.remove(&name).expect("present");
            let new = match rng.below(4) {
                0 => String::new(),
                1 => "a`b\n\u{202e}名".into(),
                2 => "x".repeat(5000),
                _ => format!("{name}.weight"),
            };
            header.insert(new, v);
            "rename"
        }
    }
}

/// A mutated single file: its bytes and the kind of mutation.
pub fn mutated_file(rng: &mut Rng) -> (Vec<u8>, &'static str) {
    let (mut header, data) = valid(rng);
    let text = |h: &Map<String, Value>| Value::Object(h.clone()).to_string();
    let k = rng.below(14);
    let kind = match k {
        0..=3 => edit_field(rng, &mut header),
        4 => {
            for _ in 0..rng.range(2, 4) {
                edit_field(rng, &mut header);
            }
            "multi-edit"
        }
        5 => {
            let m = *rng.pick(&[r#"{"a":1}"#, "[]", "\"x\"", r#"{"a":{"b":"c"}}"#, "null"]);
            header.insert(
                "__metadata__".into(),
                serde_json::from_str(m).expect("valid JSON"),
            );
            "metadata"
        }
        _ => "",
    };
    let mut bytes = encode(&text(&header), &data);
    let kind = match k {
        0..=5 => kind,
        6 => {
            let n = bytes.len() as u64;
            let v = *rng.pick(&[0, 1, 7, n, n - 8, n - 7, u64::MAX, 1 << 63, 100_000_001]);
            let v = if rng.chance(0.3) { rng.next() } else { v };
            bytes[..8].copy_from_slice(&v.to_le_bytes());
            "header-length"
        }
        7 => {
            bytes.truncate(rng.below(bytes.len() + 1));
            "truncate"
        }
        8 => {
            for _ in 0..rng.range(1, 8) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next() as u8;
            }
            "byte-flip"
        }
        9 => {
            let h = *rng.pick(&[
                "[]",
                "1",
                "null",
                "\"x\"",
                "{",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}} trailing",
                "\u{feff}{}",
            ]);
            let deep = "[".repeat(rng.range(100, 20000));
            bytes = encode(if rng.chance(0.2) { &deep } else { h }, &data);
            "garbage-header"
        }
        10 => {
            let t = text(&header);
            let at = rng.below(t.len());
            let mut h = t.into_bytes();
            h.insert(at, 0xFF);
            let mut b = (h.len() as u64).to_le_bytes().to_vec();
            b.extend(h);
            b.extend(&data);
            bytes = b;
            "non-utf8-header"
        }
        11 => {
            // The same key twice (JSON permits; which wins is the parser's).
            let t = text(&header);
            let t = t.replacen('{', r#"{"dup.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"dup.weight":{"dtype":"F32","shape":[4,1],"data_offsets":[0,16]},"#, 1);
            bytes = encode(&t, &data);
            "duplicate-key"
        }
        12 => {
            let (h, d) = implausible_file(rng);
            bytes = encode(&h, &d);
            "implausible-plan"
        }
        _ => {
            let (h, d) = many_tensors(rng);
            bytes = encode(&h, &d);
            "many-tensors"
        }
    };
    (bytes, kind)
}

/// Well-formed files whose plan is absurd or at the edge of the limits,
/// all under 1 MiB: tiny experts, too many experts, too many kernel
/// positions, and the largest plans the limits allow.
fn implausible_file(rng: &mut Rng) -> (String, Vec<u8>) {
    // The edge of the limits costs seconds per run in a debug build:
    // 1 in 40 implausible cases.
    let (name, dtype, shape): (&str, &str, Vec<usize>) = match rng.below(40) {
        0..=4 => ("moe.experts.w", "F32", vec![64, 1, 1]),
        5..=9 => ("moe.experts.w", "F16", vec![16385, 1, 16]),
        10..=14 => ("conv.weight", "F16", vec![1, 1, 65, 65]),
        15..=19 => ("conv.weight", "F16", vec![1, 1, 64, 64]),
        20..=24 => ("conv.weight", "F16", vec![4, 4, 64, 64]),
        25..=29 => ("w.weight", "F16", vec![2000, 250]),
        30..=38 => ("moe.experts.w", "BF16", vec![4096, 4, 4]),
        _ => ("moe.experts.w", "F16", vec![1 << 14, 1, 16]),
    };
    let n: usize = shape.iter().product();
    let data = data_for(rng, dtype, n, false);
    let h = json!({name: {"dtype": dtype, "shape": shape, "data_offsets": [0, data.len()]}});
    (h.to_string(), data)
}

/// Up to a few thousand small tensors in one file.
fn many_tensors(rng: &mut Rng) -> (String, Vec<u8>) {
    let n = rng.range(100, 4000);
    let mut h = Map::new();
    let mut data = Vec::new();
    for i in 0..n {
        let start = data.len();
        data.extend(data_for(rng, "F16", 4, false));
        h.insert(
            format!("t.{i}.weight"),
            json!({"dtype": "F16", "shape": [2, 2], "data_offsets": [start, data.len()]}),
        );
    }
    (Value::Object(h).to_string(), data)
}

/// Special directory entries: symlinks that dangle or loop, FIFOs, a
/// directory with a file's name, links to devices and aliases.
fn special_entry(rng: &mut Rng, dir: &Path, i: usize) {
    let link = |t: &str, n: &str| {
        let _ = std::os::unix::fs::symlink(t, dir.join(n));
    };
    match rng.below(8) {
        0 => link("missing.safetensors", &format!("dangling{i}.safetensors")),
        1 => {
            link(
                &format!("loopb{i}.safetensors"),
                &format!("loopa{i}.safetensors"),
            );
            link(
                &format!("loopa{i}.safetensors"),
                &format!("loopb{i}.safetensors"),
            );
        }
        2 => link(
            &format!("self{i}.safetensors"),
            &format!("self{i}.safetensors"),
        ),
        3 => mkfifo(&dir.join(format!("fifo{i}.safetensors"))),
        4 => {
            let _ = std::fs::create_dir(dir.join(format!("sub{i}.safetensors")));
        }
        5 => link("/dev/zero", &format!("zero{i}.safetensors")),
        6 => link(".", &format!("dot{i}.safetensors")),
        _ => link("f0.safetensors", &format!("alias{i}.safetensors")),
    }
}

/// A directory of 1 to 3 files (valid or mutated) and 0 to 2 special
/// entries.
fn dir_case(rng: &mut Rng, dir: &Path) -> &'static str {
    for i in 0..rng.range(1, 3) {
        let bytes = if rng.chance(0.5) {
            let (h, d) = valid(rng);
            encode(&Value::Object(h).to_string(), &d)
        } else {
            mutated_file(rng).0
        };
        std::fs::write(dir.join(format!("f{i}.safetensors")), bytes).expect("case written");
    }
    let specials = rng.range(0, 2);
    for i in 0..specials {
        special_entry(rng, dir, i);
    }
    if specials > 0 {
        "dir-specials"
    } else {
        "dir-files"
    }
}

const SHARD_NAMES: &[&str] = &[
    "./a.safetensors",
    "sub/../a.safetensors",
    "b.safetensors",
    "c.safetensors",
    "../a.safetensors",
    "../../../../../../etc/passwd",
    "/etc/passwd",
    "/dev/zero",
    "",
    ".",
    "sub",
    "fifo.safetensors",
    "loop.safetensors",
    "dangling.safetensors",
    "a.safetensors/..",
    "a.safetensors\u{0}x",
];

/// Two shards and an index with one or more bad entries, or a bad index.
fn index_case(rng: &mut Rng, dir: &Path) -> (&'static str, bool) {
    let shard = |rng: &mut Rng, name: &str, mutate: bool| {
        let bytes = if mutate {
            mutated_file(rng).0
        } else {
            let (h, d) = valid(rng);
            encode(&Value::Object(h).to_string(), &d)
        };
        std::fs::write(dir.join(name), bytes).expect("shard written");
    };
    for name in ["a.safetensors", "b.safetensors"] {
        let mutate = rng.chance(0.2);
        shard(rng, name, mutate);
    }
    let _ = std::fs::create_dir(dir.join("sub"));
    mkfifo(&dir.join("fifo.safetensors"));
    let _ = std::os::unix::fs::symlink("loop.safetensors", dir.join("loop.safetensors"));
    let _ = std::os::unix::fs::symlink("gone.safetensors", dir.join("dangling.safetensors"));
    let tensors = [
        "layer.0.attn.q.weight",
        "layer.0.mlp.up.weight",
        "moe.experts.w1",
        "conv.weight",
        "ghost.weight",
    ];
    let mut map = Map::new();
    for t in tensors {
        let s = if rng.chance(0.6) {
            *rng.pick(&["a.safetensors", "b.safetensors"])
        } else {
            *rng.pick(SHARD_NAMES)
        };
        map.insert(t.into(), json!(s));
    }
    let text = match rng.below(10) {
        0 => "{\"weight_map\": [1, 2]}".to_string(),
        1 => "{\"weight_map\": {\"a\": 1}}".into(),
        2 => "{\"weight_map\": {}}".into(),
        3 => "{\"metadata\": {}}".into(),
        4 => "not json".into(),
        _ => json!({"metadata": {"total_size": 1}, "weight_map": map}).to_string(),
    };
    let index = dir.join("model.safetensors.index.json");
    let mut bytes = text.into_bytes();
    if rng.chance(0.05) {
        bytes.insert(bytes.len() / 2, 0xFE);
    }
    std::fs::write(&index, bytes).expect("index written");
    if rng.chance(0.05) {
        std::fs::write(dir.join("other.safetensors.index.json"), "{}").expect("second index");
    }
    ("index", rng.chance(0.5))
}

/// A FIFO, device link, loop or odd directory given as the path itself.
fn special_path(rng: &mut Rng, dir: &Path) -> PathBuf {
    let p = dir.join(*rng.pick(&["m.safetensors", "m.safetensors.index.json", "m.json"]));
    match rng.below(6) {
        0 | 1 => mkfifo(&p),
        2 => std::os::unix::fs::symlink("/dev/zero", &p).expect("link"),
        3 => std::os::unix::fs::symlink(&p, &p).expect("link"),
        4 => std::os::unix::fs::symlink("gone", &p).expect("link"),
        _ => std::fs::create_dir(&p).expect("dir"),
    }
    p
}

/// Bytes of the regular files under `path` (symlinks not followed).
fn size_of(path: &Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if m.is_file() {
        m.len()
    } else if m.is_dir() {
        std::fs::read_dir(path)
            .map(|r| r.flatten().map(|e| size_of(&e.path())).sum())
            .unwrap_or(0)
    } else {
        0
    }
}

/// Writes `n` cases under `root` from `seed`.
pub fn cases(root: &Path, n: usize, seed: u64) -> Vec<Case> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let dir = root.join(format!("case-{i:05}"));
            std::fs::create_dir(&dir).expect("case directory");
            let (path, named, kind) = match rng.below(20) {
                0..=11 => {
                    let (bytes, kind) = mutated_file(&mut rng);
                    let p = dir.join("m.safetensors");
                    std::fs::write(&p, bytes).expect("case written");
                    (p.clone(), p, kind)
                }
                12..=15 => {
                    let kind = dir_case(&mut rng, &dir);
                    (dir.clone(), dir.clone(), kind)
                }
                16..=18 => {
                    let (kind, by_file) = index_case(&mut rng, &dir);
                    let p = if by_file {
                        dir.join("model.safetensors.index.json")
                    } else {
                        dir.clone()
                    };
                    (p, dir.clone(), kind)
                }
                _ => {
                    let p = special_path(&mut rng, &dir);
                    (p.clone(), p, "special-path")
                }
            };
            Case {
                bytes: size_of(&dir),
                path,
                named,
                kind,
            }
        })
        .collect()
}
