//! Link settings for `librunlog.so` (the cdylib) on ELF targets: the SONAME
//! `librunlog.so.MAJOR` (MAJOR of the package version), so a program linked
//! with `-lrunlog` records that name and finds the installed
//! `librunlog.so.MAJOR` symlink. `scripts/install.sh` reads the SONAME back
//! from the library and names the installed files after it.
//!
//! Exports need no version script of ours: rustc already links every cdylib
//! with one that exports the `#[no_mangle]` C functions and hides the rest
//! (std, runlog-core, dependencies), and a second anonymous script would make
//! GNU ld fail ("anonymous version tag cannot be combined with other version
//! tags"). `scripts/test-install.sh` checks that only `runlog_*` is exported.
//!
//! The static library and the device build are not linked by rustc, so the
//! argument does not touch them.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let elf = ["linux", "android", "freebsd", "netbsd", "openbsd"];
    if !elf.contains(&os.as_str()) {
        return;
    }
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the package version");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,librunlog.so.{major}");
}
