//! `cargo xtask bench --quick` runs on the real engine and prints every row. Benchmarks are not
//! tests: no figure is judged here, only that each one was measured.

use xtask_testbed::*;

#[test]
#[ignore = "slow tier: cargo xtask ci --slow (every bench row measured, with cold compiles)"]
fn quick_bench_prints_every_row() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("bench");
    // An adopter's workspace: `cargo xtask` exists there (rows P1t and P5 run it as typed).
    let (readme, dependency) = adopter::engine_under_test();
    adopter::adopt(&fixture.dir, (&readme, &dependency), &[]);
    fixture.commit("adopt the engine");
    let out = fixture.xtask(&["bench", "--quick"]);
    assert!(out.status.success(), "bench --quick failed:\n{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    for id in ["P1", "P1t", "P2", "P3", "P3q", "P4", "P4n", "P11", "P11r", "P5", "P5p", "P6", "P7", "P8", "P9", "P10"] {
        let row = table.lines().find(|l| l.starts_with(&format!("| {id} |")));
        let row = row.unwrap_or_else(|| panic!("row {id} missing:\n{table}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert!(!cells[4].is_empty(), "row {id} has no figure: {row}");
    }
    assert!(table.contains("machine:") && table.contains("cores"), "{table}");
    let p9 = table.lines().find(|l| l.starts_with("| P9 |")).unwrap();
    assert!(p9.contains("ledger: 2 variants (2 SBOMs from attestations") && p9.contains("ledger:latest"), "{p9}");
    let p10 = table.lines().find(|l| l.starts_with("| P10 |")).unwrap();
    assert!(p10.contains("not measured") && p10.contains("--second-engine HOST"), "without a second engine: {p10}");
    let p3: Vec<&str> = table.lines().filter(|l| l.starts_with("| P3 |")).collect();
    assert_eq!(p3.len(), 6, "one P3 row per platform: {p3:?}");
    assert!(p3.iter().any(|l| l.contains("linux/arm64 ÷ linux/amd64") && l.contains("s ÷")), "{p3:?}");
    let svg = std::fs::read_to_string(fixture.dir.join("target/xtask/bench/benchmarks.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("linux/arm64"), "the chart draws the P3 figures: {svg}");
    assert!(svg.contains("P8 no-change build: 1, 4 and 16 images") && svg.contains(">16 images<"), "P8: {svg}");
}
