//! `medvlm`: the desktop workbench (no subcommand) and its scriptable subcommands.

use clap::Parser as _;
use medvlm::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,medvlm=info,wgpu_hal=off")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: a log file or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .finish();
    let _ = tracing::subscriber::set_global_default(subscriber);
    // `log` records (wgpu, cubecl) reach tracing through the GPU telemetry bridge, which counts
    // cubecl's kernel compilations and autotune runs on the way.
    medvlm::model::gpu::set_forward(Box::new(tracing_log::LogTracer::new()));
    let cli = Cli::parse();
    let code = match &cli.command {
        None | Some(Command::Gui) => {
            if cli.autotune != medvlm::cli::Autotune::Minimal {
                medvlm::model::gpu::configure(&medvlm::model::gpu::GpuSettings { autotune: cli.autotune.level() });
            }
            let startup = medvlm::app::StartupOptions { project: cli.project.clone() };
            match medvlm::app::run(startup) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: cannot start the GUI: {e}");
                    eprintln!(
                        "hint: a display is needed (on a headless machine use Xvfb); the CLI subcommands work without one"
                    );
                    1
                }
            }
        }
        Some(command) => match medvlm::cli::run(&cli, command) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                for cause in e.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
                2
            }
        },
    };
    std::process::ExitCode::from(code.clamp(0, 255) as u8)
}
