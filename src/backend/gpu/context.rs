//! Adapter choice, device creation, pipelines, buffers, and the batch of
//! commands every GPU operation is expressed as.

use super::shaders::Program;
use crate::backend::BackendError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How to pick and use an adapter.
#[derive(Debug, Clone, Default)]
pub struct GpuOptions {
    /// Only adapters whose name contains this (case-insensitive).
    pub adapter: Option<String>,
    /// Accept a software adapter (device type CPU, such as llvmpipe). Only
    /// `--backend gpu` sets it: the native CPU path is faster there.
    pub allow_software: bool,
    /// Never use subgroup operations, even where offered (tests the
    /// workgroup-memory fallback).
    pub no_subgroups: bool,
    /// Use at most this many bytes per storage binding, below the
    /// adapter's own limit (tests the row-block split).
    pub max_binding: Option<u64>,
}

/// One adapter as the report and the messages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    pub name: String,
    /// `Vulkan`, `Metal`, `Dx12`, …
    pub api: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `VirtualGpu`, `Cpu`, `Other`.
    pub device_type: String,
    pub driver: String,
    pub software: bool,
}

impl AdapterSummary {
    fn of(info: &wgpu::AdapterInfo) -> AdapterSummary {
        let driver = match (info.driver.is_empty(), info.driver_info.is_empty()) {
            (false, false) => format!("{} {}", info.driver, info.driver_info),
            (false, true) => info.driver.clone(),
            (true, false) => info.driver_info.clone(),
            (true, true) => String::new(),
        };
        AdapterSummary {
            name: info.name.clone(),
            api: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver,
            software: info.device_type == wgpu::DeviceType::Cpu,
        }
    }
}

impl std::fmt::Display for AdapterSummary {
    /// `Vulkan/llvmpipe (LLVM 15.0.6, 256 bits) [Cpu]`, as wgpu's test
    /// harness tags its output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} [{}]", self.api, self.name, self.device_type)
    }
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    // Vulkan, Metal, DX12: the APIs with full compute support. The GL
    // backend (which lists llvmpipe a second time) is left out.
    desc.backends = wgpu::Backends::PRIMARY;
    wgpu::Instance::new(desc)
}

/// Every adapter the primary APIs offer, hardware first.
pub fn list_adapters() -> Vec<AdapterSummary> {
    let mut v: Vec<AdapterSummary> = enumerate()
        .iter()
        .map(|a| AdapterSummary::of(&a.get_info()))
        .collect();
    v.sort_by_key(|a| a.software);
    v
}

fn enumerate() -> Vec<wgpu::Adapter> {
    pollster::block_on(instance().enumerate_adapters(wgpu::Backends::PRIMARY))
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// Why no adapter was chosen, given those that matched `--adapter` (all of
/// them software ones refused, or none). `listed` names every adapter found.
fn no_adapter_reason(opts: &GpuOptions, matched: &[AdapterSummary], listed: &str) -> String {
    match &opts.adapter {
        Some(s) if matched.is_empty() => format!("no adapter matches `{s}`; {listed}"),
        Some(s) => {
            let names: Vec<String> = matched.iter().map(ToString::to_string).collect();
            format!(
                "`{s}` matches only the software adapter {}, which is not used \
                 unless asked for (the CPU path is faster there): use --backend gpu to \
                 force it",
                names.join(", ")
            )
        }
        None if opts.allow_software => listed.to_string(),
        None => format!("no hardware adapter; {listed}"),
    }
}

/// Key of a compiled pipeline: program, entry point, DTYPE, LAYOUT.
type PipelineKey = (Program, &'static str, u32, u32);

pub struct GpuContext {
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    pub(super) limits: wgpu::Limits,
    subgroups: bool,
    max_binding: u64,
    modules: Mutex<HashMap<Program, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<PipelineKey, wgpu::ComputePipeline>>,
    buffers: Mutex<HashMap<String, wgpu::Buffer>>,
    /// Held by an operation that uses the shared reusable buffers.
    pub(super) exclusive: Mutex<()>,
    lost: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuContext({})", self.adapter)
    }
}

impl GpuContext {
    /// Picks an adapter (hardware first; software only when allowed) and
    /// opens a device with the adapter's own limits.
    pub fn open(opts: &GpuOptions) -> Result<GpuContext, BackendError> {
        let all = enumerate();
        let found: Vec<String> = all
            .iter()
            .map(|a| AdapterSummary::of(&a.get_info()).to_string())
            .collect();
        let mut candidates: Vec<wgpu::Adapter> = all
            .into_iter()
            .filter(|a| {
                opts.adapter
                    .as_ref()
                    .is_none_or(|s| a.get_info().name.to_lowercase().contains(&s.to_lowercase()))
            })
            .collect();
        candidates.sort_by_key(|a| rank(a.get_info().device_type));
        let listed = if found.is_empty() {
            "none found (is a Vulkan driver installed?)".to_string()
        } else {
            format!("found {}", found.join(", "))
        };
        let matched: Vec<AdapterSummary> = candidates
            .iter()
            .map(|a| AdapterSummary::of(&a.get_info()))
            .collect();
        let Some(adapter) = candidates
            .into_iter()
            .find(|a| opts.allow_software || a.get_info().device_type != wgpu::DeviceType::Cpu)
        else {
            return Err(BackendError::NoAdapter {
                reason: no_adapter_reason(opts, &matched, &listed),
            });
        };
        let info = adapter.get_info();
        let summary = AdapterSummary::of(&info);
        let limits = adapter.limits();
        let subgroups = !opts.no_subgroups && adapter.features().contains(wgpu::Features::SUBGROUP);
        let features = if subgroups {
            wgpu::Features::SUBGROUP
        } else {
            wgpu::Features::empty()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("specscope.device"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| BackendError::RequestDevice {
            adapter: summary.to_string(),
            message: e.to_string(),
        })?;
        let lost = Arc::new(Mutex::new(None));
        let l = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            *l.lock().unwrap() = Some(format!("{reason:?}: {msg}"));
        });
        // Errors outside a scope must not panic (wgpu's default); there are
        // none by construction, but keep the first one as a lost device.
        let l = lost.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            l.lock()
                .unwrap()
                .get_or_insert_with(|| format!("uncaptured: {e}"));
        }));
        let max_binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
            .min(opts.max_binding.unwrap_or(u64::MAX));
        Ok(GpuContext {
            device,
            queue,
            adapter: summary,
            limits,
            subgroups,
            max_binding,
            modules: Mutex::new(HashMap::new()),
            pipelines: Mutex::new(HashMap::new()),
            buffers: Mutex::new(HashMap::new()),
            exclusive: Mutex::new(()),
            lost,
        })
    }

    /// Subgroup reductions are in use.
    pub fn subgroups(&self) -> bool {
        self.subgroups
    }

    /// Bytes one storage binding may hold (the adapter's limit, or the
    /// smaller one forced by [`GpuOptions::max_binding`]).
    pub fn max_binding(&self) -> u64 {
        self.max_binding
    }

    /// Destroys the device: every later operation must fail. For tests of
    /// the failure path.
    pub fn destroy_device_for_test(&self) {
        self.device.destroy();
    }

    pub(super) fn check_lost(&self) -> Result<(), BackendError> {
        match self.lost.lock().unwrap().clone() {
            Some(reason) => Err(BackendError::DeviceLost { reason }),
            None => Ok(()),
        }
    }

    /// Runs `f` inside out-of-memory, validation and internal error
    /// scopes and turns what they caught into a [`BackendError`].
    pub(super) fn scoped<T>(&self, op: &str, f: impl FnOnce() -> T) -> Result<T, BackendError> {
        self.check_lost()?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let int = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let out = f();
        let e_int = pollster::block_on(int.pop());
        let e_val = pollster::block_on(val.pop());
        let e_oom = pollster::block_on(oom.pop());
        self.check_lost()?;
        if e_oom.is_some() {
            return Err(BackendError::OutOfMemory { op: op.into() });
        }
        if let Some(e) = e_val {
            return Err(BackendError::Validation {
                op: op.into(),
                message: error_chain(&e),
            });
        }
        if let Some(e) = e_int {
            return Err(BackendError::Internal {
                op: op.into(),
                message: error_chain(&e),
            });
        }
        Ok(out)
    }

    /// Checks that a block of `bytes` fits one storage binding.
    pub(super) fn check_binding(&self, what: &str, bytes: u64) -> Result<(), BackendError> {
        if bytes > self.max_binding {
            return Err(BackendError::TooLarge {
                what: what.into(),
                bytes,
                limit: self.max_binding,
                limit_name: "max_storage_buffer_binding_size",
            });
        }
        Ok(())
    }

    fn module(&self, p: Program) -> wgpu::ShaderModule {
        self.modules
            .lock()
            .unwrap()
            .entry(p)
            .or_insert_with(|| {
                self.device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(p.label()),
                        source: wgpu::ShaderSource::Wgsl(p.source().into()),
                    })
            })
            .clone()
    }

    /// The pipeline for an entry point, compiled once per (DTYPE, LAYOUT).
    /// Call inside [`GpuContext::scoped`].
    pub(super) fn pipeline(
        &self,
        p: Program,
        entry: &'static str,
        dtype: u32,
        layout: u32,
    ) -> wgpu::ComputePipeline {
        let key = (p, entry, dtype, layout);
        if let Some(pl) = self.pipelines.lock().unwrap().get(&key) {
            return pl.clone();
        }
        let module = self.module(p);
        let mut constants: Vec<(&str, f64)> = Vec::new();
        if p.reads_weights() {
            constants.push(("DTYPE", dtype as f64));
        }
        if p == Program::Gram {
            constants.push(("LAYOUT", layout as f64));
        }
        let label = format!("{}.{entry}.dtype{dtype}.layout{layout}", p.label());
        let pl = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
        self.pipelines.lock().unwrap().insert(key, pl.clone());
        pl
    }

    /// The apply / Krylov program with the reduction this adapter uses.
    pub(super) fn apply_program(&self) -> Program {
        if self.subgroups {
            Program::ApplySubgroup
        } else {
            Program::Apply
        }
    }
    pub(super) fn krylov_program(&self) -> Program {
        if self.subgroups {
            Program::KrylovSubgroup
        } else {
            Program::Krylov
        }
    }

    /// A reusable buffer of at least `size` bytes under `role` (its label).
    /// Grown (re-created) when too small. Call inside `scoped`.
    pub(super) fn buffer(&self, role: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        let size = size.max(16).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        let mut map = self.buffers.lock().unwrap();
        if let Some(b) = map.get(role)
            && b.size() >= size
            && b.usage().contains(usage)
        {
            return b.clone();
        }
        if let Some(old) = map.remove(role) {
            old.destroy();
        }
        let b = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(role),
            size,
            usage,
            mapped_at_creation: false,
        });
        map.insert(role.to_string(), b.clone());
        b
    }

    /// Drops the reusable buffers (after a large matrix, to give memory back).
    pub fn release_buffers(&self) {
        for (_, b) in self.buffers.lock().unwrap().drain() {
            b.destroy();
        }
    }

    /// Waits until the GPU has finished everything submitted.
    pub(super) fn wait(&self, op: &str) -> Result<(), BackendError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| BackendError::Map {
                op: op.into(),
                message: e.to_string(),
            })?;
        self.check_lost()
    }

    /// Waits for the queue and reads `count` f32 values from the start of a
    /// MAP_READ buffer.
    pub(super) fn read_mapped(
        &self,
        op: &str,
        buf: &wgpu::Buffer,
        count: usize,
    ) -> Result<Vec<f32>, BackendError> {
        let bytes = (count * 4) as u64;
        let slice = buf.slice(..bytes.max(4));
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        let map_err = |message: String| BackendError::Map {
            op: op.into(),
            message,
        };
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| map_err(e.to_string()))?;
        self.check_lost()?;
        rx.recv()
            .map_err(|e| map_err(e.to_string()))?
            .map_err(|e| map_err(e.to_string()))?;
        let out = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| map_err(e.to_string()))?;
            // Copy through bytes: the mapping need not be aligned for f32.
            view[..count * 4]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect::<Vec<f32>>()
        };
        buf.unmap();
        Ok(out)
    }
}

fn error_chain(e: &wgpu::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

/// A recorded sequence of dispatches and copies, submitted at once with
/// its uniform parameters packed into one buffer.
pub(super) struct Batch<'a> {
    ctx: &'a GpuContext,
    label: &'static str,
    params: Vec<u8>,
    ops: Vec<Op>,
}

/// A binding: slot, buffer, byte offset, byte size (None: to the end).
pub(super) type Bind = (u32, wgpu::Buffer, u64, Option<u64>);

enum Op {
    Dispatch {
        pipeline: wgpu::ComputePipeline,
        binds: Vec<Bind>,
        /// Slot and offset of the uniform parameters in the arena.
        param: Option<(u32, u64, u64)>,
        groups: (u32, u32),
    },
    Copy {
        src: wgpu::Buffer,
        src_off: u64,
        dst: wgpu::Buffer,
        dst_off: u64,
        size: u64,
    },
    Clear {
        buf: wgpu::Buffer,
        off: u64,
        size: u64,
    },
}

impl<'a> Batch<'a> {
    pub fn new(ctx: &'a GpuContext, label: &'static str) -> Batch<'a> {
        Batch {
            ctx,
            label,
            params: Vec::new(),
            ops: Vec::new(),
        }
    }

    /// A dispatch of `groups` workgroups (spread over a 2-D grid when more
    /// than the per-dimension limit); `params` is bound as a uniform at
    /// slot `param_slot`.
    pub fn dispatch<P: bytemuck::Pod>(
        &mut self,
        pipeline: &wgpu::ComputePipeline,
        binds: Vec<Bind>,
        param_slot: u32,
        params: &P,
        groups: u64,
    ) {
        let grid = self.grid(groups);
        self.dispatch_grid(pipeline, binds, param_slot, params, grid);
    }

    /// A dispatch on an explicit (x, y) grid.
    pub fn dispatch_grid<P: bytemuck::Pod>(
        &mut self,
        pipeline: &wgpu::ComputePipeline,
        binds: Vec<Bind>,
        param_slot: u32,
        params: &P,
        grid: (u32, u32),
    ) {
        let align = self.ctx.limits.min_uniform_buffer_offset_alignment.max(16) as usize;
        let off = self.params.len().next_multiple_of(align);
        self.params.resize(off, 0);
        self.params.extend_from_slice(bytemuck::bytes_of(params));
        self.ops.push(Op::Dispatch {
            pipeline: pipeline.clone(),
            binds,
            param: Some((param_slot, off as u64, std::mem::size_of::<P>() as u64)),
            groups: grid,
        });
    }

    /// Workgroup grid for `groups` workgroups: x ≤ the per-dimension limit.
    pub fn grid(&self, groups: u64) -> (u32, u32) {
        let max = self.ctx.limits.max_compute_workgroups_per_dimension.max(1) as u64;
        let x = groups.clamp(1, max);
        let y = groups.div_ceil(x).max(1);
        (x as u32, y as u32)
    }

    pub fn copy(
        &mut self,
        src: &wgpu::Buffer,
        src_off: u64,
        dst: &wgpu::Buffer,
        dst_off: u64,
        size: u64,
    ) {
        if size > 0 {
            self.ops.push(Op::Copy {
                src: src.clone(),
                src_off,
                dst: dst.clone(),
                dst_off,
                size,
            });
        }
    }

    pub fn clear(&mut self, buf: &wgpu::Buffer, off: u64, size: u64) {
        if size > 0 {
            self.ops.push(Op::Clear {
                buf: buf.clone(),
                off,
                size,
            });
        }
    }

    /// Records and submits everything inside error scopes.
    pub fn submit(self) -> Result<(), BackendError> {
        let ctx = self.ctx;
        let label = self.label;
        ctx.scoped(label, || {
            // A fresh arena per batch: batches from different threads
            // never share parameters.
            let arena = (!self.params.is_empty()).then(|| {
                let b = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size: (self.params.len() as u64).next_multiple_of(16),
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                ctx.queue.write_buffer(&b, 0, &self.params);
                b
            });
            let mut enc = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
            let mut i = 0;
            while i < self.ops.len() {
                match &self.ops[i] {
                    Op::Copy {
                        src,
                        src_off,
                        dst,
                        dst_off,
                        size,
                    } => {
                        enc.copy_buffer_to_buffer(src, *src_off, dst, *dst_off, *size);
                        i += 1;
                    }
                    Op::Clear { buf, off, size } => {
                        enc.clear_buffer(buf, *off, Some(*size));
                        i += 1;
                    }
                    Op::Dispatch { .. } => {
                        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: Some(label),
                            timestamp_writes: None,
                        });
                        while let Some(Op::Dispatch {
                            pipeline,
                            binds,
                            param,
                            groups,
                        }) = self.ops.get(i)
                        {
                            let mut entries: Vec<wgpu::BindGroupEntry> = binds
                                .iter()
                                .map(|(slot, buf, off, size)| wgpu::BindGroupEntry {
                                    binding: *slot,
                                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                        buffer: buf,
                                        offset: *off,
                                        size: size.and_then(wgpu::BufferSize::new),
                                    }),
                                })
                                .collect();
                            if let (Some((slot, off, size)), Some(arena)) = (param, &arena) {
                                entries.push(wgpu::BindGroupEntry {
                                    binding: *slot,
                                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                        buffer: arena,
                                        offset: *off,
                                        size: wgpu::BufferSize::new(*size),
                                    }),
                                });
                            }
                            let bg = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                                label: Some(label),
                                layout: &pipeline.get_bind_group_layout(0),
                                entries: &entries,
                            });
                            pass.set_pipeline(pipeline);
                            pass.set_bind_group(0, &bg, &[]);
                            pass.dispatch_workgroups(groups.0, groups.1, 1);
                            i += 1;
                        }
                    }
                }
            }
            ctx.queue.submit([enc.finish()]);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llvmpipe() -> AdapterSummary {
        AdapterSummary {
            name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            api: "Vulkan".into(),
            device_type: "Cpu".into(),
            driver: "llvmpipe".into(),
            software: true,
        }
    }

    /// `--backend auto --adapter llvm` on a machine with only llvmpipe: the
    /// adapter matched but was refused as software; the message says so
    /// and how to force it, instead of "no adapter matches".
    #[test]
    fn refused_software_match_is_named() {
        let opts = GpuOptions {
            adapter: Some("llvm".into()),
            ..Default::default()
        };
        let listed = "found Vulkan/llvmpipe (LLVM 15.0.6, 256 bits) [Cpu]";
        let why = no_adapter_reason(&opts, &[llvmpipe()], listed);
        assert!(!why.contains("no adapter matches"), "{why}");
        assert!(
            why.contains("`llvm` matches only the software adapter Vulkan/llvmpipe"),
            "{why}"
        );
        assert!(why.contains("use --backend gpu to force it"), "{why}");
        let why = no_adapter_reason(&opts, &[], listed);
        assert_eq!(why, format!("no adapter matches `llvm`; {listed}"));
        let why = no_adapter_reason(&GpuOptions::default(), &[], listed);
        assert_eq!(why, format!("no hardware adapter; {listed}"));
    }
}
