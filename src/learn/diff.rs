//! A line diff of the settings before and after a round, to print: the
//! lines taken out (`-`) and put in (`+`), with one line of context.

/// `-`/`+`/` ` lines for what changed between `before` and `after`.
pub fn lines(before: &str, after: &str) -> Vec<String> {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    // Longest common subsequence, table from the ends (settings are short).
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let changed = |k: usize| ops.get(k).is_some_and(|(op, _)| *op != ' ');
    ops.iter()
        .enumerate()
        .filter(|(k, (op, _))| *op != ' ' || changed(k + 1) || (*k > 0 && changed(k - 1)))
        .map(|(_, (op, line))| format!("{op} {line}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn changes_with_one_line_of_context() {
        let before = "a\nb\nc\nd\ne\n";
        let after = "a\nb\nc2\nd\ne\nf\n";
        assert_eq!(
            super::lines(before, after),
            ["  b", "- c", "+ c2", "  d", "  e", "+ f"]
        );
    }
}
