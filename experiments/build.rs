//! Embeds the identity of the source code this binary is built from, for matrix results that
//! cannot go stale (experiments/MATRIX.md, "Results that cannot go stale").
//!
//! Sets two variables for the crate:
//! - `MPQUIC_SOURCE_ID`: a hash of the code that decides a simulation's result, as git stores it
//!   (the tree objects of every crate's `src/`, the manifests and `Cargo.lock` at `HEAD`), with
//!   `-dirty.HASH` appended when those files differ from `HEAD` (HASH covers the differences and
//!   untracked files, so two different uncommitted states never share an id). A commit that
//!   touches only documentation, tests, scenario files or papers keeps the id, so it does not
//!   make finished results stale. Empty when git or the repository is unavailable (a source
//!   tarball): the binary then identifies itself by a hash of its own bytes at run time.
//! - `MPQUIC_GIT_DESCRIBE`: `git describe --always --dirty` for people (manifests print it).

use std::path::Path;
use std::process::Command;

/// The files and folders whose content is "the code".
const CODE: [&str; 12] = [
    "Cargo.toml",
    "Cargo.lock",
    "cc/Cargo.toml",
    "cc/src",
    "scheduler/Cargo.toml",
    "scheduler/src",
    "proto/Cargo.toml",
    "proto/src",
    "io/Cargo.toml",
    "io/src",
    "experiments/Cargo.toml",
    "experiments/src",
];

fn git(root: &Path, args: &[&str]) -> Option<Vec<u8>> {
    // --no-optional-locks: `status` and `describe` must not rewrite the index, whose change
    // would otherwise make the next build run this script (and rebuild the crate) again.
    let out = Command::new("git").arg("--no-optional-locks").arg("-C").arg(root).args(args).output().ok()?;
    out.status.success().then_some(out.stdout)
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).trim().to_owned()
}

/// FNV-1a, 64 bits: stable across compilers and platforms, and enough to tell states apart.
fn fnv(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let root = Path::new(&manifest).parent().unwrap_or(Path::new("..")).to_path_buf();
    println!("cargo:rerun-if-changed=build.rs");
    for c in CODE {
        // A folder is scanned for any change below it.
        println!("cargo:rerun-if-changed={}", root.join(c).display());
    }
    // A commit or checkout changes HEAD or the branch it points to. (Uncommitted changes to the
    // code are seen through the folders above.)
    if let Some(git_dir) = git(&root, &["rev-parse", "--absolute-git-dir"]).map(text) {
        let mut watched = vec![format!("{git_dir}/HEAD")];
        if let Some(common) = git(&root, &["rev-parse", "--git-common-dir"]).map(text) {
            let common =
                if Path::new(&common).is_absolute() { common } else { root.join(common).display().to_string() };
            watched.push(format!("{common}/packed-refs"));
            if let Some(head_ref) = git(&root, &["symbolic-ref", "-q", "HEAD"]).map(text) {
                watched.push(format!("{common}/{head_ref}"));
            }
        }
        // A file that does not exist would count as changed on every build.
        for file in watched.iter().filter(|f| Path::new(f).exists()) {
            println!("cargo:rerun-if-changed={file}");
        }
    }

    let mut source_id = String::new();
    if let Some(tree) = git(&root, &[&["ls-tree", "HEAD", "--"][..], &CODE[..]].concat()) {
        let mut h = FNV_START;
        fnv(&mut h, &tree);
        source_id = format!("{h:016x}");
        let changed = git(&root, &[&["status", "--porcelain", "--untracked-files=all", "--"][..], &CODE[..]].concat())
            .unwrap_or_default();
        if !changed.is_empty() {
            let mut d = FNV_START;
            fnv(
                &mut d,
                &git(&root, &[&["diff", "HEAD", "--binary", "--"][..], &CODE[..]].concat()).unwrap_or_default(),
            );
            let untracked =
                git(&root, &[&["ls-files", "--others", "--exclude-standard", "--"][..], &CODE[..]].concat())
                    .unwrap_or_default();
            for file in String::from_utf8_lossy(&untracked).lines() {
                fnv(&mut d, file.as_bytes());
                fnv(&mut d, &std::fs::read(root.join(file)).unwrap_or_default());
            }
            source_id = format!("{source_id}-dirty.{d:016x}");
        }
    }
    let describe =
        git(&root, &["describe", "--always", "--dirty", "--tags", "--abbrev=12"]).map(text).unwrap_or_default();
    println!("cargo:rustc-env=MPQUIC_SOURCE_ID={source_id}");
    println!("cargo:rustc-env=MPQUIC_GIT_DESCRIBE={describe}");
}
