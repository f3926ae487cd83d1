//! The `runlog` command (filled in by the host uploader issue).

fn main() {
    eprintln!("runlog: the uploader is not built yet");
    std::process::exit(2);
}
