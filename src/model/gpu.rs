//! The GPU runtime's settings and telemetry: cubecl's configuration (autotune level, the autotune
//! cache in the user's cache folder), counts of kernel compilations and autotune runs (from
//! cubecl's own log records), and device memory in use. Configure before the first GPU kernel runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use burn::prelude::*;

/// How hard cubecl searches for the fastest kernel of each new shape (cubecl's levels). The first
/// run of a shape pays for it; the result is cached on disk, so later runs do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutotuneLevel {
    /// A few candidates: the quickest first step (the default).
    #[default]
    Minimal,
    /// cubecl's default.
    Balanced,
    /// More candidates.
    Extensive,
    /// Every candidate: the slowest first step, the fastest steady state.
    Full,
}

impl AutotuneLevel {
    /// Every level, in order.
    pub const ALL: [Self; 4] = [Self::Minimal, Self::Balanced, Self::Extensive, Self::Full];

    /// cubecl's name for the level.
    pub fn name(self) -> &'static str {
        match self {
            Self::Minimal => "minimal",
            Self::Balanced => "balanced",
            Self::Extensive => "extensive",
            Self::Full => "full",
        }
    }

    /// Parses cubecl's name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == s)
    }
}

/// GPU runtime settings, fixed for the life of the process once a GPU kernel ran.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GpuSettings {
    /// Autotune effort. `CUBECL_AUTOTUNE_LEVEL` in the environment wins over it.
    pub autotune: AutotuneLevel,
}

/// What [`configure`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Configured {
    /// The settings in force.
    pub settings: GpuSettings,
    /// Where cubecl keeps its autotune cache.
    pub cache_dir: std::path::PathBuf,
}

static CONFIGURED: OnceLock<Configured> = OnceLock::new();

/// The folder of cubecl's persistent caches (autotune results): `<user cache>/medvlm/cubecl`.
pub fn kernel_cache_dir() -> std::path::PathBuf {
    crate::util::cache_dir().join("cubecl")
}

/// Sets cubecl's configuration once per process: the autotune level, the cache folder, and
/// compilation / autotune records routed to [`kernel_counts`]. Later calls return what the first
/// one set (cubecl reads its configuration once).
pub fn configure(settings: &GpuSettings) -> &'static Configured {
    CONFIGURED.get_or_init(|| {
        install_log_bridge();
        let cache_dir = kernel_cache_dir();
        let level = std::env::var("CUBECL_AUTOTUNE_LEVEL")
            .ok()
            .and_then(|v| AutotuneLevel::parse(&v))
            .unwrap_or(settings.autotune);
        let json = serde_json::json!({
            "compilation": { "logger": { "level": "basic", "log": "info" } },
            "autotune": { "level": level.name(), "logger": { "level": "minimal", "log": "info" } },
            "environment": { "path": { "directory": cache_dir } },
        });
        match serde_json::from_value::<burn::cubecl::config::CubeClRuntimeConfig>(json) {
            Ok(cfg) => {
                use burn::cubecl::config::RuntimeConfig as _;
                if !burn::cubecl::config::CubeClRuntimeConfig::try_set(cfg) {
                    tracing::warn!("the GPU runtime was configured before the workbench could set it");
                }
            }
            Err(e) => tracing::warn!("GPU runtime configuration rejected: {e}"),
        }
        Configured { settings: GpuSettings { autotune: level }, cache_dir }
    })
}

/// Kernel compilations and autotune runs seen so far in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KernelCounts {
    /// Kernels compiled (a pipeline built from source).
    pub compiled: u64,
    /// Autotune runs (a new shape key benchmarked; cache hits do not count).
    pub autotuned: u64,
}

impl std::ops::Sub for KernelCounts {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self { compiled: self.compiled - o.compiled, autotuned: self.autotuned - o.autotuned }
    }
}

static COMPILED: AtomicU64 = AtomicU64::new(0);
static AUTOTUNED: AtomicU64 = AtomicU64::new(0);

/// The counts now. cubecl reports compilations from a logging thread, so a count read right after
/// a kernel ran may lag; [`settled_kernel_counts`] waits for it.
pub fn kernel_counts() -> KernelCounts {
    KernelCounts { compiled: COMPILED.load(Ordering::SeqCst), autotuned: AUTOTUNED.load(Ordering::SeqCst) }
}

/// The counts once they stop changing for 100 ms (at most 2 s), after the device finished its work.
pub fn settled_kernel_counts(device: &Device) -> KernelCounts {
    let _ = device.sync();
    let start = Instant::now();
    let mut last = kernel_counts();
    let mut stable_since = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
        let now = kernel_counts();
        if now != last {
            last = now;
            stable_since = Instant::now();
        } else if stable_since.elapsed() >= Duration::from_millis(100) {
            break;
        }
    }
    last
}

/// Device memory of the allocator, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GpuMemory {
    /// Held by live tensors.
    pub in_use: u64,
    /// Reserved from the driver (in use plus pooled pages).
    pub reserved: u64,
}

/// The allocator's state on a GPU device (`None` on the CPU backend).
pub fn memory(device: &Device) -> Option<GpuMemory> {
    let u = device.memory_pool_usage()?;
    Some(GpuMemory { in_use: u.bytes_in_use, reserved: u.bytes_reserved })
}

/// A running maximum of [`memory`], sampled where a step's memory peaks.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryPeak {
    /// Largest `in_use` seen.
    pub in_use: u64,
    /// Largest `reserved` seen.
    pub reserved: u64,
}

impl MemoryPeak {
    /// Samples the device now.
    pub fn sample(&mut self, device: &Device) {
        if let Some(m) = memory(device) {
            self.in_use = self.in_use.max(m.in_use);
            self.reserved = self.reserved.max(m.reserved);
        }
    }
}

/// Counts cubecl's compilation and autotune records and hands every other record on (to the
/// `tracing` subscriber, when one was installed through [`set_forward`]).
struct Bridge;

static FORWARD: Mutex<Option<Box<dyn log::Log>>> = Mutex::new(None);

/// Where `log` records other than cubecl's counters go (the binary passes `tracing_log::LogTracer`).
pub fn set_forward(logger: Box<dyn log::Log>) {
    install_log_bridge();
    if let Ok(mut f) = FORWARD.lock() {
        *f = Some(logger);
    }
}

impl log::Log for Bridge {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        match record.target() {
            t @ ("cubecl::compilation" | "cubecl::autotune") => {
                let counter = if t == "cubecl::compilation" { &COMPILED } else { &AUTOTUNED };
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                // `MEDVLM_KERNEL_LOG=1` lists them (which shape still compiles inside a step?).
                if std::env::var_os("MEDVLM_KERNEL_LOG").is_some() {
                    let line = record.args().to_string();
                    eprintln!("[{t} #{n}] {}", line.lines().next().unwrap_or(""));
                }
            }
            _ => {
                if let Ok(f) = FORWARD.lock()
                    && let Some(f) = f.as_ref()
                    && f.enabled(record.metadata())
                {
                    f.log(record);
                }
            }
        }
    }

    fn flush(&self) {}
}

/// Installs the counting `log` logger once (a logger installed earlier by someone else wins; the
/// counts then stay at zero and the CLI says so).
pub fn install_log_bridge() {
    static ONCE: OnceLock<bool> = OnceLock::new();
    ONCE.get_or_init(|| {
        let ok = log::set_logger(&Bridge).is_ok();
        if ok {
            log::set_max_level(log::LevelFilter::Info);
        }
        ok
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip_cubecl_names() {
        for l in AutotuneLevel::ALL {
            assert_eq!(AutotuneLevel::parse(l.name()), Some(l));
        }
        assert_eq!(AutotuneLevel::default(), AutotuneLevel::Minimal);
        assert!(AutotuneLevel::parse("fast").is_none());
    }

    #[test]
    fn the_cubecl_configuration_parses() {
        let json = serde_json::json!({
            "compilation": { "logger": { "level": "basic", "log": "info" } },
            "autotune": { "level": "minimal", "logger": { "level": "minimal", "log": "info" } },
            "environment": { "path": { "directory": "/tmp/x" } },
        });
        let cfg: burn::cubecl::config::CubeClRuntimeConfig = serde_json::from_value(json).unwrap();
        assert!(format!("{cfg:?}").contains("/tmp/x"));
    }

    #[test]
    fn cubecl_records_are_counted() {
        install_log_bridge();
        let before = kernel_counts();
        log::info!(target: "cubecl::compilation", "kernel");
        log::info!(target: "cubecl::autotune", "Fastest result");
        let d = kernel_counts() - before;
        assert!(d.compiled >= 1 && d.autotuned >= 1, "{d:?}");
    }
}
