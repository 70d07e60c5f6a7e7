//! The `ndexpr` command line: inspect programs (`check`, `disasm`), evaluate `.npy` files
//! (`eval`) and measure (`bench`).

mod bench;
mod inspect;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ndexpr",
    about = "Evaluate NumPy-style array expressions fast, without temporaries"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the result dtype of an expression, or its diagnostic.
    #[command(
        after_help = "Examples:\n  ndexpr check '2*a + 48'\n  ndexpr check 'sin(x) + 1' x:i8\n  ndexpr check 'a*k' a:f32 k:f64scalar"
    )]
    Check(inspect::InspectArgs),
    /// Print the compiled register program.
    #[command(
        after_help = "Examples:\n  ndexpr disasm '2*a + 48'\n  ndexpr disasm 'where(a > b, sin(a)**2, 0)' a:f32 b:f32"
    )]
    Disasm(inspect::InspectArgs),
    /// Time an expression beside naive evaluation and a plain memory copy.
    #[command(
        after_help = "Examples:\n  ndexpr bench\n  ndexpr bench 'a*b+c' --size 1000000 --dtype f32\n  ndexpr bench '2*a+48' --shape 400x600 --step 20\n  ndexpr bench --suite --json"
    )]
    Bench(bench::BenchArgs),
}

pub fn main() -> ExitCode {
    // The ISA is decided at run time (kernels may dispatch on the CPU), so the version string is
    // too.
    let version: &'static str = Box::leak(
        format!(
            "{} (kernels: {})",
            env!("CARGO_PKG_VERSION"),
            ndexpr::kernels::isa()
        )
        .into_boxed_str(),
    );
    let matches = Cli::command().version(version).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Check(args) => inspect::check(&args),
        Command::Disasm(args) => inspect::disasm(&args),
        Command::Bench(args) => bench::bench(&args),
    }
}
