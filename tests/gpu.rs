//! GPU backend against the CPU f64 exact path, on the same inputs.
//!
//! Runs on whatever adapter exists, software ones included (CI installs
//! Mesa's lavapipe). Without one a test prints why and returns, unless
//! SPECSCOPE_REQUIRE_GPU=1, where it fails. Every test prints the adapter,
//! as `[Vulkan/llvmpipe … [Cpu]]`. Sizes stay modest: lavapipe is the CPU.

use faer::Par;
use specscope::backend::{BackendError, GpuContext, GpuOperator, GpuOptions};
use specscope::load::{DType, MatrixData, TensorOut, View};
use specscope::spectrum::{self, KrylovOptions, SpectrumError};
use specscope::synth;
use std::sync::OnceLock;

fn open(opts: &GpuOptions) -> Option<GpuContext> {
    match GpuContext::open(opts) {
        Ok(c) => Some(c),
        Err(e) => {
            if std::env::var("SPECSCOPE_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("SPECSCOPE_REQUIRE_GPU=1 but {e}");
            }
            eprintln!("SKIPPED: {e}");
            None
        }
    }
}

/// One shared context per test binary.
fn gpu() -> Option<&'static GpuContext> {
    static CTX: OnceLock<Option<GpuContext>> = OnceLock::new();
    let c = CTX
        .get_or_init(|| {
            open(&GpuOptions {
                allow_software: true,
                ..Default::default()
            })
        })
        .as_ref();
    if let Some(c) = c {
        eprintln!("[{}] subgroups: {}", c.adapter, c.subgroups());
    }
    c
}

/// A seeded test matrix and its bytes in `dtype`.
struct Case {
    label: String,
    rows: usize,
    cols: usize,
    dtype: DType,
    bytes: Vec<u8>,
}

impl Case {
    fn data(&self) -> MatrixData<'_> {
        MatrixData {
            bytes: &self.bytes,
            dtype: &self.dtype,
            view: View::dense(0, self.rows, self.cols),
        }
    }
    /// The reference: exact CPU f64 spectrum of the same stored values.
    fn exact(&self) -> Vec<f64> {
        spectrum::exact_spectrum(&self.data(), Par::Seq, |_| {}).unwrap()
    }
}

fn case(kind: &str, rows: usize, cols: usize, dtype: DType, seed: u64) -> Case {
    let mut rng = synth::rng(seed);
    let m = rows.min(cols);
    let w = match kind {
        "random" => synth::gaussian(rows, cols, 1.0 / (cols as f64).sqrt(), &mut rng),
        // μ_k = 4·k^-1.2 plus a small noise bulk
        "powerlaw" => {
            synth::with_spectrum(rows, cols, &synth::power_law(m, 1.2, 4.0), 1e-3, &mut rng)
        }
        // rank m/3, no noise: the rest of the spectrum is exactly zero
        "rankdef" => synth::with_spectrum(
            rows,
            cols,
            &synth::power_law((m / 3).max(1), 1.0, 2.0),
            0.0,
            &mut rng,
        ),
        _ => unreachable!(),
    };
    let t = TensorOut::from_f64("w", dtype.clone(), &[rows, cols], &synth::row_major(&w))
        .expect("a float tensor");
    Case {
        label: format!("{kind} {rows}×{cols} {dtype}"),
        rows,
        cols,
        dtype,
        bytes: t.data,
    }
}

const SHAPES: &[(usize, usize)] = &[
    (1, 1),
    (2, 5),
    (63, 63),
    (64, 64),
    (65, 65),
    (257, 257),
    (1000, 300),
    (300, 1000),
];

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (i, &(r, c)) in SHAPES.iter().enumerate() {
        for kind in ["random", "powerlaw"] {
            v.push(case(kind, r, c, DType::F32, 100 + i as u64));
        }
    }
    v.push(case("rankdef", 120, 90, DType::F32, 7));
    v.push(case("rankdef", 90, 200, DType::F32, 8));
    v.push(case("powerlaw", 65, 200, DType::F16, 9));
    v.push(case("powerlaw", 200, 65, DType::BF16, 10));
    v.push(case("random", 129, 64, DType::F64, 11));
    v
}

fn eig_of(g: &specscope::backend::GpuGram) -> Vec<f64> {
    spectrum::eigenvalues_desc(g.lower.as_ref(), Par::Seq).unwrap()
}

/// exact on the GPU: f32 Gram, f64 eigenvalues. |Δμ_k| ≤ 1e-5·μ_max: the
/// f32 Gram's entries carry relative errors of ~√L·u (L ≤ 1000 terms,
/// u = 6e-8), and eigenvalues move by at most ‖ΔG‖ (Weyl).
#[test]
fn exact_matches_cpu() {
    let Some(ctx) = gpu() else { return };
    for c in cases() {
        let want = c.exact();
        let g = ctx.gram(&c.data(), |_| {}).unwrap();
        let got = eig_of(&g);
        assert_eq!(got.len(), want.len(), "{}", c.label);
        let top = want[0].max(f64::MIN_POSITIVE);
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs() / top)
            .fold(0.0, f64::max);
        eprintln!("exact {}: max |Δμ|/μ_max = {worst:.1e}", c.label);
        assert!(worst <= 1e-5, "{}: {worst:e}", c.label);
        spectrum::check_trace(&got, g.trace).unwrap();
    }
}

/// A binding limit forced down to a third of the weights splits them into
/// row blocks (column blocks of a wide matrix), each a slice whose Gram is
/// summed pairwise. Equal to the single-block Gram within f32 rounding:
/// |ΔG_ij| ≤ 2·L·u·√(G_ii·G_jj) (two different summation orders of L
/// terms, each within L·u of the exact sum).
#[test]
fn chunked_gram_equals_unchunked() {
    let Some(whole) = gpu() else { return };
    for c in [
        case("powerlaw", 1000, 300, DType::F32, 1),
        case("powerlaw", 300, 1000, DType::F32, 2),
        case("random", 700, 130, DType::BF16, 3),
        case("random", 130, 701, DType::F16, 4),
    ] {
        // room for the Gram, a third of the weights per binding
        let m = c.rows.min(c.cols);
        let limit = ((m * m * 4) as u64).max(c.bytes.len() as u64 / 3);
        let small = open(&GpuOptions {
            allow_software: true,
            max_binding: Some(limit),
            ..Default::default()
        })
        .unwrap();
        let a = whole.gram(&c.data(), |_| {}).unwrap();
        let b = small.gram(&c.data(), |_| {}).unwrap();
        assert_eq!(a.blocks, 1);
        assert!(b.blocks > 1 && b.slices > 1, "{}: not split", c.label);
        let l = c.rows.max(c.cols) as f64;
        let u = f32::EPSILON as f64 / 2.0;
        for i in 0..m {
            for j in 0..=i {
                let bound = 2.0 * l * u * (a.lower[(i, i)] * a.lower[(j, j)]).sqrt();
                let d = (a.lower[(i, j)] - b.lower[(i, j)]).abs();
                assert!(d <= bound, "{} ({i},{j}): {d:e} > {bound:e}", c.label);
            }
        }
        let want = c.exact();
        let got = eig_of(&b);
        for (x, y) in got.iter().zip(&want) {
            assert!((x - y).abs() <= 1e-5 * want[0], "{}", c.label);
        }
        eprintln!(
            "chunked {}: {} blocks, {} slices",
            c.label, b.blocks, b.slices
        );
    }
    // One row larger than the binding cannot be split: a clear error.
    let tiny = open(&GpuOptions {
        allow_software: true,
        max_binding: Some(64),
        ..Default::default()
    })
    .unwrap();
    let c = case("random", 40, 40, DType::F32, 5);
    match tiny.gram(&c.data(), |_| {}) {
        Err(SpectrumError::Backend(BackendError::TooLarge { .. })) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

/// Every F16 and BF16 bit pattern decodes in the shader to exactly the f32
/// the `half` crate gives (NaN payloads included).
#[test]
fn f16_bf16_decoding_is_bit_exact() {
    let Some(ctx) = gpu() else { return };
    let words: Vec<u16> = (0..=u16::MAX).collect();
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let f16 = ctx.decode_bits(&DType::F16, &bytes, words.len()).unwrap();
    let bf16 = ctx.decode_bits(&DType::BF16, &bytes, words.len()).unwrap();
    for (i, &w) in words.iter().enumerate() {
        assert_eq!(
            f16[i],
            half::f16::from_bits(w).to_f32().to_bits(),
            "f16 {w:#06x}"
        );
        assert_eq!(
            bf16[i],
            half::bf16::from_bits(w).to_f32().to_bits(),
            "bf16 {w:#06x}"
        );
    }
    let f32s: Vec<f32> = vec![1.5, -0.0, f32::MIN_POSITIVE, f32::INFINITY, 3.25e-39];
    let b: Vec<u8> = f32s.iter().flat_map(|x| x.to_le_bytes()).collect();
    let got = ctx.decode_bits(&DType::F32, &b, f32s.len()).unwrap();
    assert_eq!(got, f32s.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
}

/// Lanczos top-K on the GPU: converged values within 1e-4 relative of the
/// exact ones. Every case must converge entirely, random ones included
/// (their top 8 sit at the Marchenko–Pastur edge with relative gaps of
/// ~1e-2, which the restarts resolve in ≤ 10 restarts here), so the check
/// cannot pass vacuously.
#[test]
fn lanczos_matches_cpu() {
    let Some(ctx) = gpu() else { return };
    let opts = KrylovOptions {
        top_k: 8,
        ..Default::default()
    };
    for c in cases() {
        let want = c.exact();
        let mut op = GpuOperator::new(ctx, &c.data()).unwrap();
        let top = spectrum::lanczos(&mut op, &opts, false).unwrap();
        assert_eq!(top.values.len(), want.len().min(8), "{}", c.label);
        let mut worst = 0.0f64;
        for (k, (&v, &ok)) in top.values.iter().zip(&top.converged).enumerate() {
            if ok {
                worst = worst.max(rel(v, want[k]));
                assert!(
                    rel(v, want[k]) <= 1e-4,
                    "{} μ_{}: {v} vs {}",
                    c.label,
                    k + 1,
                    want[k]
                );
            }
        }
        let n_conv = top.converged.iter().filter(|&&x| x).count();
        eprintln!(
            "lanczos {}: {n_conv}/{} converged, worst rel {worst:.1e}, {} matvecs, {} restarts",
            c.label,
            top.values.len(),
            top.matvecs,
            top.restarts
        );
        assert_eq!(n_conv, top.values.len(), "{}: not all converged", c.label);
    }
}

/// Power iteration with the shipped tolerance (residual ‖Gq − θq‖ ≤
/// 1e-5·θ): λ_max within 1e-5 relative, on separated (power-law) tops and
/// on random bulks, whose top sits at the Marchenko–Pastur edge with a
/// relative gap of only 1e-2 to 1e-1.
///
/// The residual contracts by μ₂/μ₁ per iteration from a start whose
/// component along the top vector is ~1/√M, so the iteration budget is
/// twice ln(√M/tol) / ln(μ₁/μ₂), from the exact gap; the run must report
/// convergence within it. Once converged, Kato–Temple bounds the error by
/// r²/(θ − μ₂), far below the 1e-5 asserted. The random 1000×300 and
/// 300×1000 cases are left out for time only (lavapipe runs their 300–500
/// iterations at 10–30 ms each); 257×257 and 65×65 cover the small-gap
/// regime (gaps 5e-2 and 1.3e-2, ~600 iterations).
#[test]
fn power_matches_cpu() {
    let Some(ctx) = gpu() else { return };
    let tol = KrylovOptions::default().power_tol;
    for c in cases()
        .into_iter()
        .filter(|c| !(c.label.starts_with("random") && c.rows * c.cols > 257 * 257))
    {
        let want = c.exact();
        let m = want.len() as f64;
        let budget = match want.get(1) {
            Some(&mu2) if mu2 > 0.0 && want[0] > mu2 => {
                (2.0 * (m.sqrt() / tol).ln() / (want[0] / mu2).ln()).ceil() as usize
            }
            _ => 10,
        }
        .max(10);
        let opts = KrylovOptions {
            max_iters: budget,
            ..Default::default()
        };
        let mut op = GpuOperator::new(ctx, &c.data()).unwrap();
        let p = spectrum::power(&mut op, &opts).unwrap();
        eprintln!(
            "power {}: {}/{budget} iterations, rel {:.1e}",
            c.label,
            p.iterations,
            rel(p.value, want[0])
        );
        assert!(
            p.converged,
            "{}: not converged in {budget} iterations (residual {:e})",
            c.label, p.residual
        );
        assert!(p.residual <= tol * p.value, "{}: {p:?}", c.label);
        assert!(
            rel(p.value, want[0]) <= 1e-5,
            "{}: {} vs {}",
            c.label,
            p.value,
            want[0]
        );
    }
}

/// SLQ with exact top-K: the density's moments Σw·θ^p (p = 1, 2, 3) within
/// 1e-2 relative of Σμ^p. Lanczos quadrature integrates these polynomials
/// exactly per probe; what is left is the Hutchinson sampling error of the
/// deflated remainder.
#[test]
fn slq_moments_match_cpu() {
    let Some(ctx) = gpu() else { return };
    // 32 probes × 12 steps keep this fast on lavapipe (one submission per
    // step; moments ≤ 3 need only 2 quadrature nodes per probe); the
    // sampling error of a flat random bulk, which needs ~256 probes for
    // 1e-2, is checked on the CPU operator (spectrum::krylov tests).
    let opts = KrylovOptions {
        top_k: 32,
        probes: 32,
        steps: 12,
        ..Default::default()
    };
    for c in [
        case("powerlaw", 257, 257, DType::F32, 21),
        case("powerlaw", 1000, 300, DType::F32, 22),
        case("rankdef", 120, 90, DType::F32, 24),
    ] {
        let want = c.exact();
        let mut op = GpuOperator::new(ctx, &c.data()).unwrap();
        let d = spectrum::slq(&mut op, &opts).unwrap();
        for p in 1..=3 {
            let exact: f64 = want.iter().map(|x| x.powi(p)).sum();
            let r = rel(d.moment(p), exact);
            eprintln!("slq {} moment {p}: rel {r:.1e}", c.label);
            assert!(
                r <= 1e-2,
                "{} moment {p}: {} vs {exact}",
                c.label,
                d.moment(p)
            );
        }
        let total: f64 = d.weights.iter().sum();
        assert!(
            rel(total, want.len() as f64) <= 1e-9,
            "{}: mass {total}",
            c.label
        );
    }
}

/// SLQ on a random (Marchenko–Pastur) bulk, where the sampled part
/// carries the error: moments p = 1, 2, 3 within 1e-2 relative, as on the
/// CPU (spectrum::krylov tests). That tolerance must stand at ≥ 3 standard
/// errors of the Hutchinson estimate, σ_p ≈ √(2N·var(μ^p)/probes)/Σμ^p
/// over the N = M − d eigenvalues left after deflating the d converged top
/// ones (a unit probe in N dimensions), computed here from the exact
/// spectrum. A wide 64×1000 with the top 32 deflated gets there with 64
/// probes (σ ≤ 2.7e-3) in about a second on lavapipe; 4 steps integrate
/// polynomials up to degree 7 exactly, so the quadrature adds nothing.
#[test]
fn slq_moments_match_cpu_on_random_bulk() {
    let Some(ctx) = gpu() else { return };
    let opts = KrylovOptions {
        top_k: 32,
        probes: 64,
        steps: 4,
        ..Default::default()
    };
    let c = case("random", 64, 1000, DType::F32, 23);
    let want = c.exact();
    let mut op = GpuOperator::new(ctx, &c.data()).unwrap();
    let d = spectrum::slq(&mut op, &opts).unwrap();
    let deflated = d.top.converged.iter().take_while(|&&x| x).count();
    let rest = &want[deflated..];
    assert!(!rest.is_empty(), "{}: nothing left to sample", c.label);
    let n = rest.len() as f64;
    for p in 1..=3 {
        let exact: f64 = want.iter().map(|x| x.powi(p)).sum();
        let mean = rest.iter().map(|x| x.powi(p)).sum::<f64>() / n;
        let var = rest.iter().map(|x| (x.powi(p) - mean).powi(2)).sum::<f64>() / n;
        let sigma = (2.0 * n * var / opts.probes as f64).sqrt() / exact;
        let r = rel(d.moment(p), exact);
        eprintln!(
            "slq {} moment {p}: rel {r:.1e} (σ {sigma:.1e}, {deflated} deflated)",
            c.label
        );
        assert!(
            3.0 * sigma <= 1e-2,
            "{}: too few probes, σ {sigma:e}",
            c.label
        );
        assert!(
            r <= 1e-2,
            "{} moment {p}: {} vs {exact}",
            c.label,
            d.moment(p)
        );
    }
    let total: f64 = d.weights.iter().sum();
    assert!(rel(total, want.len() as f64) <= 1e-9, "mass {total}");
}

/// The workgroup-memory reduction (forced) gives the same answers as the
/// subgroup one within f32 rounding.
#[test]
fn reduction_fallback_matches() {
    let Some(sg) = gpu() else { return };
    let Some(wg) = open(&GpuOptions {
        allow_software: true,
        no_subgroups: true,
        ..Default::default()
    }) else {
        return;
    };
    assert!(!wg.subgroups());
    eprintln!(
        "[{}] subgroups: {} vs {}",
        sg.adapter,
        sg.subgroups(),
        wg.subgroups()
    );
    let opts = KrylovOptions {
        top_k: 6,
        ..Default::default()
    };
    for c in [
        case("powerlaw", 257, 257, DType::F32, 31),
        case("powerlaw", 300, 1000, DType::BF16, 32),
    ] {
        let want = c.exact();
        let a =
            spectrum::lanczos(&mut GpuOperator::new(sg, &c.data()).unwrap(), &opts, false).unwrap();
        let b = spectrum::lanczos(&mut GpuOperator::new(&wg, &c.data()).unwrap(), &opts, false)
            .unwrap();
        for (k, w) in want.iter().take(6).enumerate() {
            assert!(
                rel(a.values[k], *w) <= 1e-4 && rel(b.values[k], *w) <= 1e-4,
                "{}",
                c.label
            );
        }
    }
}

/// GPU failures are errors, never results: an invalid dispatch is a
/// validation error, and after the device is destroyed every operation
/// fails.
#[test]
fn forced_failures_surface_as_errors() {
    let Some(ctx) = open(&GpuOptions {
        allow_software: true,
        ..Default::default()
    }) else {
        return;
    };
    match ctx.submit_invalid_dispatch_for_test() {
        Err(BackendError::Validation { .. }) => {}
        other => panic!("expected a validation error, got {other:?}"),
    }
    // the context still works after a caught error
    let c = case("powerlaw", 65, 65, DType::F32, 41);
    ctx.gram(&c.data(), |_| {}).unwrap();
    ctx.destroy_device_for_test();
    let r = ctx.gram(&c.data(), |_| {});
    eprintln!("after destroy: {r:?}");
    assert!(matches!(r, Err(SpectrumError::Backend(_))), "{r:?}");
    let r = GpuOperator::new(&ctx, &c.data())
        .and_then(|mut op| spectrum::power(&mut op, &KrylovOptions::default()));
    assert!(r.is_err(), "{r:?}");
}

/// NaN weights are the same error as on the CPU, found before any GPU work.
#[test]
fn nan_weights_are_an_error() {
    let Some(ctx) = gpu() else { return };
    let mut c = case("random", 20, 10, DType::F32, 51);
    c.bytes[4 * 17..4 * 18].copy_from_slice(&f32::NAN.to_le_bytes());
    assert_eq!(
        ctx.gram(&c.data(), |_| {}).unwrap_err(),
        SpectrumError::NonFinite { count: 1 }
    );
}

/// The GPU operator's primitives against the CPU operator's, step by step:
/// expand, orthonormalize, rotate, read back. Differences stay at f32
/// rounding (1e-4 relative to the vectors' unit norm, after a few steps).
#[test]
fn operator_primitives_match_cpu() {
    use specscope::backend::{CpuOperator, GramOperator};
    let Some(ctx) = gpu() else { return };
    for c in [
        case("powerlaw", 70, 50, DType::F32, 61),
        case("random", 50, 130, DType::BF16, 62),
    ] {
        let mut g = GpuOperator::new(ctx, &c.data()).unwrap();
        let mut h = CpuOperator::new(&c.data(), Par::Seq).unwrap();
        let n = g.dim();
        assert_eq!(n, h.dim());
        assert!(rel(g.frob2(), h.frob2()) <= 1e-12);
        let x: Vec<f64> = (0..n).map(|i| ((i * 7 % 11) as f64) - 5.0).collect();
        for o in [&mut g as &mut dyn GramOperator, &mut h] {
            o.reserve(6).unwrap();
            o.set_column(0, &x).unwrap();
            o.orthonormalize(0).unwrap();
        }
        let close = |a: &[f64], b: &[f64], what: &str| {
            let d = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            assert!(d <= 1e-4, "{} {what}: {d:e}", c.label);
        };
        for j in 0..4 {
            let sg = g.expand(j, j + 1).unwrap();
            let sh = h.expand(j, j + 1).unwrap();
            assert_eq!(sg.coeffs.len(), j + 1);
            for (a, b) in sg.coeffs.iter().zip(&sh.coeffs) {
                assert!(
                    (a - b).abs() <= 1e-4 * sh.norm.max(sh.coeffs[j].abs()),
                    "{} step {j}",
                    c.label
                );
            }
            close(
                &g.column(j + 1).unwrap(),
                &h.column(j + 1).unwrap(),
                "expand",
            );
        }
        // rotate 5 columns into 3
        let s: Vec<f64> = (0..15).map(|i| ((i * 5 % 7) as f64 - 3.0) / 4.0).collect();
        g.rotate(&s, 5, 3).unwrap();
        h.rotate(&s, 5, 3).unwrap();
        for col in 0..3 {
            close(&g.column(col).unwrap(), &h.column(col).unwrap(), "rotate");
        }
        let a = g.orthonormalize(2).unwrap();
        let b = h.orthonormalize(2).unwrap();
        assert!(rel(a, b) <= 1e-4, "{}: {a} vs {b}", c.label);
    }
}
