//! Bakes the git revision into the binary as the compile-time env var `BUILD_REVISION`: from
//! `$VCS_REF` (the image build's commit), else git, else `unknown` (crates/revision).

fn main() {
    revision::emit();
}
