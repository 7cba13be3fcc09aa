//! The shader registry: every WGSL file under `shaders/`, embedded with
//! `include_str!`, and the programs (fragments concatenated in order) the
//! GPU backend compiles. Nothing else in the crate names a shader file.
//!
//! Fragments (`decode`, `reduce_wg`, `reduce_sg`) hold shared functions and
//! bindings; kernels hold entry points. A program is fragments + one kernel,
//! so a kernel is written once and compiled with the subgroup or the
//! workgroup-memory reduction as the adapter allows.

/// One file under `shaders/`.
#[derive(Debug, Clone, Copy)]
pub struct ShaderFile {
    pub name: &'static str,
    pub source: &'static str,
}

macro_rules! wgsl {
    ($name:literal) => {
        ShaderFile {
            name: concat!($name, ".wgsl"),
            source: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/shaders/",
                $name,
                ".wgsl"
            )),
        }
    };
}

/// Every shader file, in no particular order.
pub const FILES: &[ShaderFile] = &[
    wgsl!("decode"),
    wgsl!("reduce_wg"),
    wgsl!("reduce_sg"),
    wgsl!("gram"),
    wgsl!("sum"),
    wgsl!("apply"),
    wgsl!("krylov"),
    wgsl!("unpack"),
];

/// A compiled unit: fragments followed by one kernel file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Program {
    /// Tiled Gram of one slice (decode + gram).
    Gram,
    /// Elementwise sums (sum).
    Sum,
    /// Matrix-free apply halves with the workgroup-memory reduction.
    Apply,
    /// The same with subgroup reductions.
    ApplySubgroup,
    /// Krylov vector operations, workgroup-memory reduction.
    Krylov,
    /// The same with subgroup reductions.
    KrylovSubgroup,
    /// Decoding check (decode + unpack).
    Unpack,
}

impl Program {
    pub const ALL: [Program; 7] = [
        Program::Gram,
        Program::Sum,
        Program::Apply,
        Program::ApplySubgroup,
        Program::Krylov,
        Program::KrylovSubgroup,
        Program::Unpack,
    ];

    /// The files concatenated, in order.
    pub fn files(self) -> &'static [&'static str] {
        match self {
            Program::Gram => &["decode.wgsl", "gram.wgsl"],
            Program::Sum => &["sum.wgsl"],
            Program::Apply => &["decode.wgsl", "reduce_wg.wgsl", "apply.wgsl"],
            Program::ApplySubgroup => &["decode.wgsl", "reduce_sg.wgsl", "apply.wgsl"],
            Program::Krylov => &["reduce_wg.wgsl", "krylov.wgsl"],
            Program::KrylovSubgroup => &["reduce_sg.wgsl", "krylov.wgsl"],
            Program::Unpack => &["decode.wgsl", "unpack.wgsl"],
        }
    }

    /// Needs `Features::SUBGROUP` (naga `Capabilities::SUBGROUP`).
    pub fn needs_subgroups(self) -> bool {
        matches!(self, Program::ApplySubgroup | Program::KrylovSubgroup)
    }

    /// Reads weights, so takes the `DTYPE` override.
    pub fn reads_weights(self) -> bool {
        self.files().contains(&"decode.wgsl")
    }

    pub fn label(self) -> &'static str {
        match self {
            Program::Gram => "specscope.gram",
            Program::Sum => "specscope.sum",
            Program::Apply => "specscope.apply",
            Program::ApplySubgroup => "specscope.apply.subgroup",
            Program::Krylov => "specscope.krylov",
            Program::KrylovSubgroup => "specscope.krylov.subgroup",
            Program::Unpack => "specscope.unpack",
        }
    }

    /// The program's WGSL source.
    pub fn source(self) -> String {
        self.files()
            .iter()
            .map(|f| file(f).source)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A file by name; panics on a name not in the registry (a programming
/// error the registry tests catch).
pub fn file(name: &str) -> ShaderFile {
    *FILES
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("shader `{name}` is not in the registry"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use naga::valid::{Capabilities, ValidationFlags, Validator};

    fn validate(name: &str, source: &str, caps: Capabilities) -> naga::valid::ModuleInfo {
        let module = naga::front::wgsl::parse_str(source)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        Validator::new(ValidationFlags::all(), caps)
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)))
    }

    /// Every program parses and validates with exactly the capabilities the
    /// backend requests for it: none, or SUBGROUP for the subgroup
    /// variants. The subgroup variants must also fail without SUBGROUP, so
    /// the capability check is real.
    #[test]
    fn every_program_validates_with_its_capabilities() {
        for p in Program::ALL {
            let caps = if p.needs_subgroups() {
                Capabilities::SUBGROUP
            } else {
                Capabilities::empty()
            };
            validate(p.label(), &p.source(), caps);
            if p.needs_subgroups() {
                let module = naga::front::wgsl::parse_str(&p.source()).unwrap();
                assert!(
                    Validator::new(ValidationFlags::all(), Capabilities::empty())
                        .validate(&module)
                        .is_err(),
                    "{} validated without SUBGROUP",
                    p.label()
                );
            }
        }
    }

    /// Each file also stands alone (fragments are self-contained modules);
    /// kernels that need a fragment are checked through their programs.
    #[test]
    fn fragments_validate_alone() {
        for f in ["decode.wgsl", "reduce_wg.wgsl", "sum.wgsl"] {
            validate(f, file(f).source, Capabilities::empty());
        }
        validate(
            "reduce_sg.wgsl",
            file("reduce_sg.wgsl").source,
            Capabilities::SUBGROUP,
        );
    }

    /// The registry and `shaders/` hold the same files, and every file is
    /// used by some program.
    #[test]
    fn registry_matches_the_directory() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".wgsl"))
            .collect();
        on_disk.sort();
        let mut registered: Vec<String> = FILES.iter().map(|f| f.name.to_string()).collect();
        registered.sort();
        assert_eq!(on_disk, registered, "shaders/ and the registry differ");
        for f in FILES {
            assert!(
                Program::ALL.iter().any(|p| p.files().contains(&f.name)),
                "{} is in no program",
                f.name
            );
            assert!(
                f.source.starts_with(&format!("// {}", f.name)),
                "{} must open with its header comment",
                f.name
            );
        }
    }
}
