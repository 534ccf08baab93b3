//! The propwash command line.

fn main() {
    std::process::exit(propwash_cli_placeholder());
}

fn propwash_cli_placeholder() -> i32 {
    eprintln!("propwash: the command line is being built");
    2
}
