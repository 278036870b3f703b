//! `cargo xtask bench --quick` runs on the real engine and prints every row. Benchmarks are not
//! tests: no figure is judged here, only that each one was measured.

mod support;

use support::*;

#[test]
fn quick_bench_prints_every_row() {
    let _engine = engine_lock();
    let out = xtask(&workspace_root(), &["bench", "--quick"]);
    assert!(out.status.success(), "bench --quick failed:\n{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    for id in ["P1", "P2", "P3", "P3q", "P4", "P4n", "P5", "P5p", "P6"] {
        let row = table.lines().find(|l| l.starts_with(&format!("| {id} |")));
        let row = row.unwrap_or_else(|| panic!("row {id} missing:\n{table}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert!(!cells[4].is_empty(), "row {id} has no figure: {row}");
    }
    assert!(table.contains("machine:") && table.contains("cores"), "{table}");
}
