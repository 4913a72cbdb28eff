//! `berth`: the docker-like command line over berth-manager. Thin: arguments and output.

mod cli;
mod containers;
mod convert;
mod images;
mod network;
mod output;

use std::process::ExitCode;

use clap::Parser;

use berth_manager::{Manager, Options};
use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: {e:#}");
            e.downcast_ref::<berth_manager::Error>()
                .map(|e| e.exit_code())
                .unwrap_or(125)
        }
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let mut opts = Options::new(&cli.root);
    opts.cgroup_parent = cli.cgroup_parent.clone();
    match cli.command {
        Command::Monitor { id } => Ok(berth_manager::monitor::detached_main(opts, &id)?),
        other => {
            let m = Manager::open(opts)?;
            run_command(&m, other)
        }
    }
}

fn run_command(m: &Manager, cmd: Command) -> anyhow::Result<i32> {
    use containers as c;
    use images as i;
    match cmd {
        Command::Run(a) => c::run(m, a),
        Command::Create(a) => c::create(m, a),
        Command::Start { containers } => c::each(&containers, |x| {
            m.start(x)?;
            println!("{x}");
            Ok(())
        }),
        Command::Stop(a) => c::each(&a.containers, |x| {
            m.stop(x, std::time::Duration::from_secs(a.time))?;
            println!("{x}");
            Ok(())
        }),
        Command::Restart(a) => c::each(&a.containers, |x| {
            m.restart(x, std::time::Duration::from_secs(a.time))?;
            println!("{x}");
            Ok(())
        }),
        Command::Kill { signal, containers } => c::each(&containers, |x| {
            m.kill(x, &signal)?;
            println!("{x}");
            Ok(())
        }),
        Command::Rm { force, containers } => c::each(&containers, |x| {
            m.remove(x, force)?;
            println!("{x}");
            Ok(())
        }),
        Command::Ps { all, format, quiet } => c::ps(m, all, &format, quiet),
        Command::Exec(a) => c::exec(m, a),
        Command::Logs {
            follow,
            tail,
            timestamps,
            container,
        } => c::logs(m, &container, follow, tail.as_deref(), timestamps),
        Command::Inspect { containers } => c::inspect(m, &containers),
        Command::Top { container } => c::top(m, &container),
        Command::Stats {
            no_stream,
            containers,
        } => c::stats(m, no_stream, &containers),
        Command::Wait { containers } => {
            // As docker: the codes are printed, `wait` itself succeeds.
            c::each(&containers, |x| {
                println!("{}", m.wait(x, None)?);
                Ok(())
            })
        }
        Command::Update { limits, containers } => c::update(m, &limits, &containers),
        Command::Rename { container, name } => {
            m.rename(&container, &name)?;
            Ok(0)
        }
        Command::Info => c::info(m),
        Command::System(s) => c::system(m, s),
        Command::Pull {
            insecure,
            quiet,
            image,
        } => i::pull(m, &image, insecure, quiet),
        Command::Import { file, reference } => i::import(m, &file, reference.as_deref()),
        Command::Load { input } => i::load(m, &input),
        Command::Save {
            output,
            format,
            images,
        } => i::save(m, &output, &format, &images),
        Command::Images { quiet } => i::list(m, quiet),
        Command::Rmi { force, images } => i::remove(m, &images, force),
        Command::Image(ic) => i::image(m, ic),
        Command::Network(nc) => network::run(m, nc),
        Command::Monitor { .. } => Ok(0),
    }
}
