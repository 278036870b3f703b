//! Reading a shell command line the engine writes for people (the verification kit's
//! `commands.sh`) into its argument list, so a test runs it as written without a shell.

/// The words of one line as a POSIX shell reads them (bare words, `'…'`, and `\'`).
pub fn words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted, mut started, mut escaped) = (Vec::new(), String::new(), false, false, false);
    for c in line.chars() {
        match c {
            c if escaped => {
                word.push(c);
                escaped = false;
            }
            '\'' => (quoted, started) = (!quoted, true),
            '\\' if !quoted => (escaped, started) = (true, true),
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                }
                started = false;
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}
