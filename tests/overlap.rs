//! `compare --overlap K`: the singular-vector overlap between consecutive
//! snapshots and with the init, checked against nalgebra's SVD of the same
//! f32 weights (an independent implementation) to 1e-4 absolute, on a
//! series whose top singular vectors rotate slowly and whose init is
//! unrelated to the trained weights.

mod common;

use common::{json, specscope};
use nalgebra::DMatrix;
use specscope::load::{DType, TensorOut, write_safetensors};
use specscope::synth;
use std::path::{Path, PathBuf};

/// A series' matrix shape and the K compared.
#[derive(Clone, Copy)]
struct Shape {
    rows: usize,
    cols: usize,
    k: usize,
}

/// Small: the exact decomposition gives the vectors.
const SMALL: Shape = Shape {
    rows: 120,
    cols: 80,
    k: 6,
};

/// K ≪ M with M ≥ 512: block Lanczos gives the vectors.
const LARGE: Shape = Shape {
    rows: 1024,
    cols: 640,
    k: 8,
};

/// W(t) = U·diag(σ)·(V·R(θ_t))ᵀ: the right vectors turn by θ_t in the plane
/// of modes 1 and 2, plus 1e-3 noise so that the spectrum has a floor.
fn weights(shape: Shape, t: usize) -> Vec<f64> {
    let Shape { rows, cols, .. } = shape;
    let mut rng = synth::rng(3);
    let u = synth::orthonormal(rows, cols, &mut rng);
    let v = synth::orthonormal(cols, cols, &mut rng);
    let theta = 0.15 * t as f64;
    let sigma: Vec<f64> = (1..=cols).map(|k| 10.0 / k as f64).collect();
    let noise = synth::gaussian(rows, cols, 1e-3, &mut synth::rng(100 + t as u64));
    let mut w = vec![0.0; rows * cols];
    for i in 0..rows {
        for j in 0..cols {
            let mut x = noise[(i, j)];
            for (k, s) in sigma.iter().enumerate() {
                let vk = match k {
                    0 => theta.cos() * v[(j, 0)] + theta.sin() * v[(j, 1)],
                    1 => -theta.sin() * v[(j, 0)] + theta.cos() * v[(j, 1)],
                    _ => v[(j, k)],
                };
                x += s * u[(i, k)] * vk;
            }
            w[i * cols + j] = x;
        }
    }
    w
}

fn save(path: &Path, shape: Shape, w: &[f64], step: usize) {
    let t =
        TensorOut::from_f64("w", DType::F32, &[shape.rows, shape.cols], w).expect("F32 encodes");
    write_safetensors(path, &[t], &[("step", step.to_string())]).unwrap();
}

/// The reference: the top-K left and right singular vectors of the f32
/// weights by nalgebra's SVD.
fn reference(shape: Shape, w: &[f64]) -> (DMatrix<f64>, DMatrix<f64>) {
    let Shape { rows, cols, k: kk } = shape;
    let m = DMatrix::from_row_slice(
        rows,
        cols,
        &w.iter().map(|&x| x as f32 as f64).collect::<Vec<_>>(),
    );
    let svd = m.svd(true, true);
    let mut order: Vec<usize> = (0..svd.singular_values.len()).collect();
    order.sort_by(|&a, &b| svd.singular_values[b].total_cmp(&svd.singular_values[a]));
    let u = svd.u.unwrap();
    let vt = svd.v_t.unwrap();
    let left = DMatrix::from_fn(rows, kk, |i, j| u[(i, order[j])]);
    let right = DMatrix::from_fn(cols, kk, |i, j| vt[(order[j], i)]);
    (left, right)
}

fn overlap(a: &DMatrix<f64>, b: &DMatrix<f64>) -> (f64, Vec<f64>) {
    let c = a.transpose() * b;
    let kk = c.nrows();
    let best = (0..kk)
        .map(|i| (0..kk).map(|j| c[(i, j)].abs()).fold(0.0, f64::max))
        .collect();
    (c.norm_squared() / kk as f64, best)
}

fn series(dir: &Path, shape: Shape) -> (Vec<PathBuf>, Vec<Vec<f64>>, PathBuf, Vec<f64>) {
    let mut paths = Vec::new();
    let mut ws = Vec::new();
    for t in 1..=4 {
        let w = weights(shape, t);
        let p = dir.join(format!("ckpt-{t}.safetensors"));
        save(&p, shape, &w, t);
        paths.push(p);
        ws.push(w);
    }
    // An init unrelated to the trained weights: Gaussian.
    let g = synth::gaussian(shape.rows, shape.cols, 0.1, &mut synth::rng(9));
    let init: Vec<f64> = synth::row_major(&g);
    let ip = dir.join("init.safetensors");
    save(&ip, shape, &init, 0);
    (paths, ws, ip, init)
}

/// Runs `compare --overlap K` on `backend` and checks every overlap value
/// against the reference SVD; returns the report's notes.
fn check_against_svd(shape: Shape, backend: &str) -> Vec<String> {
    let kk = shape.k;
    let dir = tempfile::tempdir().unwrap();
    let (paths, ws, init_path, init) = series(dir.path(), shape);
    let k = kk.to_string();
    let mut args = vec![
        "compare",
        "--backend",
        backend,
        "-q",
        "--format",
        "json",
        "--overlap",
        &k,
    ];
    let ip = init_path.to_str().unwrap();
    args.extend(["--init", ip]);
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    let o = specscope(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rep = json(&o);
    let rows = rep["overlap"].as_array().unwrap();
    // 3 consecutive pairs and 4 snapshots against the init.
    assert_eq!(rows.len(), 3 + 4, "{rows:?}");
    let refs: Vec<_> = ws.iter().map(|w| reference(shape, w)).collect();
    let init_ref = reference(shape, &init);
    let close = |got: &serde_json::Value, want: f64, what: &str| {
        let g = got.as_f64().unwrap();
        assert!((g - want).abs() <= 1e-4, "{what}: {g} vs {want}");
    };
    for r in rows {
        let s = r["snapshot"].as_u64().unwrap() as usize;
        assert_eq!(r["k"], kk);
        let from = match r["against"].as_str().unwrap() {
            "previous" => &refs[r["from_snapshot"].as_u64().unwrap() as usize],
            "init" => &init_ref,
            other => panic!("{other}"),
        };
        let (lo, lb) = overlap(&from.0, &refs[s].0);
        let (ro, rb) = overlap(&from.1, &refs[s].1);
        close(&r["left_subspace"], lo, "left subspace");
        close(&r["right_subspace"], ro, "right subspace");
        for i in 0..kk {
            close(&r["left_best"][i], lb[i], "left best match");
            close(&r["right_best"][i], rb[i], "right best match");
        }
        if r["against"] == "previous" {
            // The top-K subspace is kept (the rotation stays inside it) …
            assert!(ro > 0.99, "{ro}");
            // … while modes 1 and 2 turn by 0.15 rad: best match cos 0.15.
            assert!((rb[0] - 0.15f64.cos()).abs() < 0.01, "{}", rb[0]);
        } else {
            // An unrelated init: about K/N of the subspace.
            assert!(lo < 0.3 && ro < 0.3, "{lo} {ro}");
        }
    }
    // The series rows carry the means.
    let last = rep["series"].as_array().unwrap().last().unwrap();
    assert!(last["overlap_prev_right"].as_f64().unwrap() > 0.99);
    assert!(last["overlap_init_left"].as_f64().unwrap() < 0.3);
    rep["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

fn solver_note(notes: &[String]) -> &str {
    notes
        .iter()
        .find(|n| n.starts_with("singular-vector overlap:"))
        .unwrap_or_else(|| panic!("no solver note in {notes:?}"))
}

#[test]
fn overlap_matches_an_independent_svd() {
    let notes = check_against_svd(SMALL, "cpu");
    // 5 bases (4 snapshots and the init), M = 80 < 512: exact.
    assert!(
        solver_note(&notes).contains("5 bases by the exact decomposition"),
        "{notes:?}"
    );
}

/// K ≪ M: the snapshots' vectors come from block Lanczos, streaming the
/// weights, and every value still matches the SVD to 1e-4. The Gaussian
/// init's top is the clustered Marchenko–Pastur edge: Lanczos does not
/// converge within half the exact cost (22 passes at 1024×640), and the
/// exact decomposition answers, named in the note.
#[test]
fn lanczos_vectors_match_an_independent_svd() {
    let notes = check_against_svd(LARGE, "cpu");
    let note = solver_note(&notes);
    assert!(note.contains("4 bases by block Lanczos (CPU)"), "{note}");
    assert!(
        note.contains("exact vectors used, for `w` of ")
            && note.contains("init.safetensors (22 passes)"),
        "{note}"
    );
}

/// The same on the GPU (lavapipe in CI): Lanczos with the GPU's Gram
/// products; skipped with the reason when no adapter is found, failed then
/// with SPECSCOPE_REQUIRE_GPU=1.
#[test]
fn gpu_lanczos_vectors_match_an_independent_svd() {
    if !common::have_gpu() {
        return;
    }
    let notes = check_against_svd(LARGE, "gpu");
    let note = solver_note(&notes);
    eprintln!("{note}");
    assert!(note.contains("4 bases by block Lanczos (GPU)"), "{note}");
    assert!(note.contains("init.safetensors (22 passes)"), "{note}");
}

#[test]
fn without_the_flag_there_is_no_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, ..) = series(dir.path(), SMALL);
    let mut args = vec!["compare", "--backend", "cpu", "-q", "--format", "json"];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    let o = specscope(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rep = json(&o);
    assert!(rep.get("overlap").is_none());
    assert!(rep["series"][0]["overlap_prev_left"].is_null());
}

/// The fill colours of the cells of an overlap heat map, row by row: the
/// rectangles between the white background and the colour bar's
/// gradient (which is drawn after the labels).
fn cell_fills(svg: &str, cells: usize) -> Vec<String> {
    svg.lines()
        .filter(|l| l.starts_with("<rect"))
        .skip(1)
        .take(cells)
        .map(|l| {
            let at = l.find("fill=\"").unwrap() + 6;
            l[at..at + 7].to_string()
        })
        .collect()
}

fn hex(c: plotters::style::RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// `compare --overlap K --plots DIR` writes four heat maps (previous and
/// init, left and right) beside the other figures; each cell has the
/// colour of its JSON value, the first snapshot's cell against the
/// previous one is grey (it has none), and two runs write the same bytes.
#[test]
fn compare_plots_draw_the_overlap_heat_maps() {
    use specscope::report::plot::HeatMap;
    let dir = tempfile::tempdir().unwrap();
    let (paths, ..) = series(dir.path(), SMALL);
    let ip = dir.path().join("init.safetensors");
    let run = |plots: &Path| {
        let mut args = vec![
            "compare",
            "--backend",
            "cpu",
            "-q",
            "--format",
            "json",
            "--overlap",
            "4",
            "--init",
            ip.to_str().unwrap(),
            "--plots",
            plots.to_str().unwrap(),
        ];
        args.extend(paths.iter().map(|p| p.to_str().unwrap()));
        let o = specscope(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        json(&o)
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let rep = run(&a);
    run(&b);
    let rows = rep["overlap"].as_array().unwrap();
    for against in ["previous", "init"] {
        for side in ["left", "right"] {
            let f = format!("overlap-{against}-{side}.svg");
            let svg = std::fs::read_to_string(a.join(&f)).unwrap();
            assert_eq!(svg, std::fs::read_to_string(b.join(&f)).unwrap(), "{f}");
            assert!(
                svg.contains("top-4 ") && svg.contains("\nw\n</text>"),
                "{f}"
            );
            // One matrix (`w`) × 4 snapshots.
            let want: Vec<String> = (0..4)
                .map(|s| {
                    rows.iter()
                        .find(|r| r["against"] == against && r["snapshot"] == s)
                        .map_or(hex(HeatMap::MISSING), |r| {
                            let v = r[format!("{side}_subspace")].as_f64().unwrap();
                            hex(HeatMap::colour(v))
                        })
                })
                .collect();
            assert_eq!(cell_fills(&svg, 4), want, "{f}");
            let grey = against == "previous";
            assert_eq!(want[0] == hex(HeatMap::MISSING), grey, "{f}");
            assert_eq!(svg.contains("no value"), grey, "{f}: the key");
        }
    }
}
