//! Robustness: damaged inputs never panic and never yield a config that does not load.

use std::path::Path;

use super::{ImportError, Imported, haproxy, keepalived, maxscale};
use crate::config::{self, Config};

/// A translation loaded as datagate loads a config file.
pub(super) fn load(out: &Imported) -> Config {
    config::parse(Path::new("x.toml"), &out.toml)
        .unwrap_or_else(|e| panic!("{e}\n---\n{}", out.toml))
}

/// Whether `out` warned about `needle` at `line`.
fn warned(out: &Imported, line: usize, needle: &str) -> bool {
    out.warnings
        .iter()
        .any(|w| w.line == line && w.message.contains(needle))
}

pub(super) fn assert_warned(out: &Imported, line: usize, needle: &str) {
    assert!(
        warned(out, line, needle),
        "no warning at line {line} containing {needle:?}: {:#?}",
        out.warnings
    );
}

const HAPROXY: &str = include_str!("haproxy/tests.rs");
const MAXSCALE: &str = include_str!("maxscale/tests.rs");
const KEEPALIVED: &str = include_str!("keepalived/tests.rs");

/// The lines of the sample configs embedded in the test files (between `"\` and `";`).
fn sample_lines(src: &str) -> Vec<String> {
    src.lines()
        .filter(|l| !l.trim_start().starts_with("//") && !l.contains("assert"))
        .map(|l| l.replace("\\\\", "\\").trim_end_matches('\\').to_string())
        .collect()
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn mutate(lines: &[String], rng: &mut Rng) -> String {
    let mut out = Vec::new();
    for _ in 0..40 {
        let mut words: Vec<String> = lines[rng.next(lines.len())]
            .split(' ')
            .map(str::to_string)
            .collect();
        match rng.next(4) {
            0 => {
                let i = rng.next(words.len());
                words.remove(i);
            }
            1 => {
                let (i, j) = (rng.next(words.len()), rng.next(words.len()));
                words.swap(i, j);
            }
            2 => {
                let i = rng.next(words.len());
                words[i] = [
                    "99999999999999999999d",
                    "0",
                    ":",
                    "[",
                    "=",
                    "::",
                    "*:0",
                    "#",
                ][rng.next(8)]
                .to_string();
            }
            _ => {}
        }
        out.push(words.join(" "));
    }
    out.join("\n")
}

fn never_invalid(r: Result<Imported, ImportError>, src: &str) {
    if let Err(ImportError::Invalid(e)) = r {
        panic!("{e}\n--- input:\n{src}");
    }
}

#[test]
fn damaged_inputs_never_panic_nor_produce_invalid_toml() {
    let (h, m) = (sample_lines(HAPROXY), sample_lines(MAXSCALE));
    // Lines of keepalived blocks, braces left out so that most inputs still parse.
    let k: Vec<String> = sample_lines(KEEPALIVED)
        .into_iter()
        .filter(|l| !l.contains(['{', '}', '(', ')']))
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2000 {
        let src = format!("listen x\n{}", mutate(&h, &mut rng));
        never_invalid(haproxy(&src), &src);
        let src = format!("[x]\n{}", mutate(&m, &mut rng));
        never_invalid(maxscale(&src), &src);
        let src = format!(
            "vrrp_script chk_mysql {{\n{}\n}}\nvrrp_instance x {{\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {{ 10.0.0.1 }}\n track_script {{ chk_mysql }}\n{}\n}}",
            mutate(&k, &mut rng),
            mutate(&k, &mut rng)
        );
        never_invalid(keepalived(&src), &src);
    }
}
