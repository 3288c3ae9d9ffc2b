//! The stable fuzzing driver: `stable_fuzz [TARGET...] [--seconds N] [--seed S] [--max-len L]
//! [--replay PATH...]`. See `tether_fuzz::driver`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    tether_fuzz::driver::main_with(&[])
}
