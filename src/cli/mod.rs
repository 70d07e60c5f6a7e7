//! The `ndexpr` command line: inspect programs (`check`, `disasm`), evaluate `.npy` files
//! (`eval`) and measure (`bench`).

/// `println!` for the report commands: a reader that stops early (`ndexpr bench | head`) ends
/// the process quietly, as it would a C tool's, instead of panicking; another write error is
/// reported (exit status 1).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write to standard output: {e}");
            std::process::exit(1);
        }
    }};
}

mod bench;
mod eval;
mod format;
mod inspect;
mod mapped;
mod npy;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ndexpr",
    about = "Evaluate NumPy-style array expressions fast, without temporaries",
    after_help = "Examples:\n  ndexpr eval '2*a + 48' a=a.npy\n  ndexpr check 'sin(x) + 1' x:i8\n  ndexpr bench --suite"
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
    /// Evaluate an expression over .npy files and numbers; print the result or write a .npy file.
    #[command(after_help = EVAL_HELP)]
    Eval(eval::EvalArgs),
    /// Time an expression beside naive evaluation and a plain memory copy.
    #[command(
        after_help = "Examples:\n  ndexpr bench\n  ndexpr bench 'a*b+c' --size 1000000 --dtype f32\n  ndexpr bench '2*a+48' --shape 400x600 --step 20\n  ndexpr bench --suite --json"
    )]
    Bench(bench::BenchArgs),
}

const EVAL_HELP: &str = "\
A VALUE that reads as a number literal (3, -4, 2.5, 1e-3, 2j, True) is that number, used as if
written in the expression (a weak Python scalar: int8 + 3 stays int8); anything else is the path
of a .npy file. Write ./3 for a file named 3. Inputs are memory-mapped and -o writes through a
mapped output file, chunk by chunk, so files larger than memory work.

Exit status: 0 on success, 1 on any error (nothing is written), 2 on a usage error.

Examples:
  ndexpr eval '2*a + 48' a=a.npy
  ndexpr eval 'where(a > b, sin(a)**2, 0)' a=a.npy b=b.npy -o out.npy
  ndexpr eval 'a*k + 1' a=a.npy k=-4 --threads 2";

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
        Command::Eval(args) => eval::eval(&args),
        Command::Bench(args) => bench::bench(&args),
    }
}
