use std::process::ExitCode;

fn main() -> ExitCode {
    slm_quant::cli::main()
}
