//! `rkube-shim`: the container shim as a standalone program (the `rkube` binary runs the same
//! code as `rkube shim`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(rkube_runtime::shim::main(&args));
}
