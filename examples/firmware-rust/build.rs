//! Puts memory.x where cortex-m-rt's link.x finds it.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    // Here rather than in .cargo/config.toml, so that a RUSTFLAGS variable
    // (which replaces config rustflags) cannot drop it.
    println!("cargo:rustc-link-arg=-Tlink.x");
}
