//! Choosing the burn device at run time: wgpu on a Vulkan, Metal or DX12 adapter when one exists
//! (or when asked), otherwise burn's `flex` CPU backend. Software adapters (lavapipe) are not
//! chosen by `auto`: they are hundreds of times slower than the CPU backend. OpenGL adapters are
//! never used: they lack compute features burn's kernels need (Mesa's GL adapter has no subgroups and
//! fails inside the first reduction). A refusal is an error the user can act on, never a panic.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use burn::prelude::*;

use super::gpu::{GpuSettings, configure};

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub enum BackendChoice {
    /// GPU if there is a hardware adapter, else CPU.
    #[default]
    Auto,
    /// burn's wgpu backend (any Vulkan/Metal/DX12 adapter, including software ones).
    Wgpu,
    /// burn's flex CPU backend.
    Cpu,
}

/// A chosen device with a human description.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// The burn device.
    pub device: Device,
    /// For logs and the UI, e.g. `cpu (burn flex)` or `wgpu: NVIDIA H100 (Vulkan)`.
    pub description: String,
    /// True on a GPU backend (shapes bucketed, kernels compiled).
    pub gpu: bool,
}

/// Why no device could be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// wgpu found no adapter it can run burn's kernels on.
    #[error(
        "--backend wgpu: no usable GPU adapter (looked for Vulkan, Metal and DX12 adapters; found {found}); use --backend cpu"
    )]
    NoAdapter {
        /// What was found instead, e.g. `none`.
        found: String,
    },
    /// The adapter exists but cannot run burn's kernels.
    #[error("--backend wgpu: the adapter {adapter} cannot run the model ({reason}); use --backend cpu")]
    Unsupported {
        /// Adapter name and API.
        adapter: String,
        /// What it lacks.
        reason: String,
    },
    /// The driver refused to open the device.
    #[error("--backend wgpu: cannot open {adapter}: {message}; use --backend cpu")]
    Init {
        /// Adapter name and API.
        adapter: String,
        /// The driver's words.
        message: String,
    },
}

/// An adapter as wgpu reports it.
#[derive(Debug, Clone)]
pub struct AdapterInfo {
    /// `"name (Vulkan)"`.
    pub label: String,
    /// A software adapter (lavapipe, WARP, SwiftShader).
    pub cpu: bool,
    /// The graphics API.
    pub backend: wgpu::Backend,
    /// Why burn's kernels cannot run on it, if they cannot.
    pub unsupported: Option<String>,
}

fn pollster_block<F: std::future::IntoFuture>(f: F) -> F::Output {
    // enumerate_adapters is async on some versions; a minimal executor for a ready future.
    use std::task::{Context, Poll, Waker};
    let mut fut = std::pin::pin!(f.into_future());
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// What burn's wgpu kernels need of an adapter, or why this one falls short.
fn unsupported(a: &wgpu::Adapter) -> Option<String> {
    let caps = a.get_downlevel_capabilities();
    let limits = a.limits();
    if !caps.flags.contains(wgpu::DownlevelFlags::COMPUTE_SHADERS) {
        return Some("no compute shaders".into());
    }
    if limits.max_storage_buffers_per_shader_stage < 8 {
        return Some(format!(
            "{} storage buffers per shader stage, burn's kernels use up to 8",
            limits.max_storage_buffers_per_shader_stage
        ));
    }
    if limits.max_compute_invocations_per_workgroup < 256 {
        return Some(format!(
            "{} invocations per workgroup, burn's kernels use 256",
            limits.max_compute_invocations_per_workgroup
        ));
    }
    None
}

/// Every Vulkan, Metal and DX12 adapter wgpu can see (OpenGL is not probed: it prints EGL noise and
/// offers nothing burn can use).
pub fn adapter_infos() -> Vec<AdapterInfo> {
    static CACHE: OnceLock<Vec<AdapterInfo>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
            let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
                backends: descriptor.backends & wgpu::Backends::PRIMARY,
                ..descriptor
            });
            pollster_block(instance.enumerate_adapters(wgpu::Backends::PRIMARY))
                .into_iter()
                .map(|a| {
                    let i = a.get_info();
                    AdapterInfo {
                        label: format!("{} ({:?})", i.name, i.backend),
                        cpu: i.device_type == wgpu::DeviceType::Cpu,
                        backend: i.backend,
                        unsupported: unsupported(&a),
                    }
                })
                .collect()
        })
        .clone()
}

/// Every adapter wgpu can see, as `("name (backend)", is_cpu)`.
pub fn adapters() -> Vec<(String, bool)> {
    adapter_infos().into_iter().map(|a| (a.label, a.cpu)).collect()
}

/// Hardware (non-CPU) adapters wgpu can see, as `"name (backend)"`.
pub fn gpu_adapters() -> Vec<String> {
    adapters().into_iter().filter(|(_, cpu)| !cpu).map(|(n, _)| n).collect()
}

fn api_of(b: wgpu::Backend) -> Option<burn::tensor::wgpu::WgpuBackend> {
    use burn::tensor::wgpu::WgpuBackend as W;
    match b {
        wgpu::Backend::Vulkan => Some(W::Vulkan),
        wgpu::Backend::Metal => Some(W::Metal),
        wgpu::Backend::Dx12 => Some(W::Dx12),
        _ => None,
    }
}

/// Opens burn's wgpu runtime on `adapter` (a hardware adapter is preferred when several share its API).
fn open_wgpu(adapter: &AdapterInfo) -> Result<Chosen, DeviceError> {
    if let Some(reason) = &adapter.unsupported {
        return Err(DeviceError::Unsupported { adapter: adapter.label.clone(), reason: reason.clone() });
    }
    let Some(api) = api_of(adapter.backend) else {
        return Err(DeviceError::Unsupported { adapter: adapter.label.clone(), reason: "not a compute API".into() });
    };
    configure(&GpuSettings::default());
    let kind = if adapter.cpu { DeviceKind::Cpu } else { DeviceKind::DefaultDevice };
    let device = Device::wgpu_options()
        .device_kind(kind)
        .graphics_api(api)
        .init()
        .map_err(|e| DeviceError::Init { adapter: adapter.label.clone(), message: e.to_string() })?;
    Ok(Chosen { device, description: format!("wgpu: {}", adapter.label), gpu: true })
}

fn cpu() -> Chosen {
    Chosen { device: Device::flex(), description: "cpu (burn flex)".into(), gpu: false }
}

fn resolve(choice: BackendChoice) -> Result<Chosen, DeviceError> {
    let infos = adapter_infos();
    let usable = |a: &&AdapterInfo| a.unsupported.is_none();
    match choice {
        BackendChoice::Cpu => Ok(cpu()),
        BackendChoice::Auto => match infos.iter().filter(usable).find(|a| !a.cpu) {
            Some(a) => open_wgpu(a).or_else(|e| {
                tracing::warn!("{e}; using the CPU");
                Ok(cpu())
            }),
            None => Ok(cpu()),
        },
        BackendChoice::Wgpu => {
            let pick = infos.iter().filter(usable).find(|a| !a.cpu).or_else(|| infos.iter().find(|a| !a.cpu));
            match pick.or_else(|| infos.first()) {
                Some(a) => open_wgpu(a),
                None => Err(DeviceError::NoAdapter { found: "none".into() }),
            }
        }
    }
}

/// Resolves a choice to a device, once per process and choice (a wgpu runtime can be opened only once).
///
/// # Errors
/// [`DeviceError`] for `Wgpu` when no usable adapter exists; `Auto` falls back to the CPU.
pub fn choose(choice: BackendChoice) -> Result<Chosen, DeviceError> {
    static OPENED: OnceLock<Mutex<HashMap<BackendChoice, Result<Chosen, DeviceError>>>> = OnceLock::new();
    let map = OPENED.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = match map.lock() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    map.entry(choice).or_insert_with(|| resolve(choice)).clone()
}

/// burn's wgpu device on the first usable adapter, software ones included (tests, benchmarks).
///
/// # Errors
/// As [`choose`] with [`BackendChoice::Wgpu`].
pub fn wgpu_device() -> Result<Device, DeviceError> {
    choose(BackendChoice::Wgpu).map(|c| c.device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_available_and_errors_say_what_to_do() {
        let c = choose(BackendChoice::Cpu).unwrap();
        assert!(!c.gpu);
        let e = DeviceError::NoAdapter { found: "none".into() };
        let msg = e.to_string();
        assert!(msg.contains("Vulkan") && msg.contains("use --backend cpu") && !msg.contains('\n'), "{msg}");
    }
}
