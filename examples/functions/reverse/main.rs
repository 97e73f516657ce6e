// reverse: a hayate example in Rust (std only, no crates). Reverses the characters of every line of
// stdin, UTF-8 aware: "héllo" becomes "olléh".
use std::io::{self, BufRead, BufWriter, Write};

fn main() {
    let stdin = io::stdin();
    let mut out = BufWriter::new(io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line.expect("stdin is not UTF-8");
        let reversed: String = line.chars().rev().collect();
        writeln!(out, "{}", reversed).expect("cannot write stdout");
    }
}
