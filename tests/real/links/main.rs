// tests/real_links.rs: a small Rust program rustc links with `cc`.
fn main() {
    println!("linked by rustc");
    std::process::exit(3);
}
