//! Choosing the burn device at run time: wgpu when a real GPU adapter exists (or when asked),
//! otherwise burn's `flex` CPU backend. Software adapters (lavapipe, llvmpipe) are not chosen by
//! `auto`: they are hundreds of times slower than the CPU backend.

use burn::prelude::*;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum BackendChoice {
    /// GPU if there is a hardware adapter, else CPU.
    #[default]
    Auto,
    /// burn's wgpu backend (any adapter, including software ones).
    Wgpu,
    /// burn's flex CPU backend.
    Cpu,
}

/// A chosen device with a human description.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// The burn device.
    pub device: Device,
    /// For logs and the UI, e.g. `cpu (flex)` or `wgpu: NVIDIA H100 (Vulkan)`.
    pub description: String,
}

/// Every adapter wgpu can see, with whether it is a software (CPU) one, as `("name (backend)", is_cpu)`.
pub fn adapters() -> Vec<(String, bool)> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    // PRIMARY (Vulkan, Metal, DX12, browser WebGPU): GL probing prints EGL errors and offers nothing burn needs.
    let adapters = pollster_block(instance.enumerate_adapters(wgpu::Backends::PRIMARY));
    adapters
        .into_iter()
        .map(|a| a.get_info())
        .map(|i| (format!("{} ({:?})", i.name, i.backend), i.device_type == wgpu::DeviceType::Cpu))
        .collect()
}

/// Hardware (non-CPU) adapters wgpu can see, as `"name (backend)"`.
pub fn gpu_adapters() -> Vec<String> {
    adapters().into_iter().filter(|(_, cpu)| !cpu).map(|(n, _)| n).collect()
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

/// Resolves a choice to a device.
pub fn choose(choice: BackendChoice) -> Chosen {
    let cpu = || Chosen { device: Device::flex(), description: "cpu (burn flex)".into() };
    match choice {
        BackendChoice::Cpu => cpu(),
        BackendChoice::Wgpu => {
            let name = gpu_adapters().into_iter().next().unwrap_or_else(|| "default adapter".into());
            Chosen { device: Device::wgpu(DeviceKind::DefaultDevice), description: format!("wgpu: {name}") }
        }
        BackendChoice::Auto => match gpu_adapters().into_iter().next() {
            Some(name) => {
                Chosen { device: Device::wgpu(DeviceKind::DefaultDevice), description: format!("wgpu: {name}") }
            }
            None => cpu(),
        },
    }
}
