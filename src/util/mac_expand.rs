//! `$name` expansion with every form Postfix knows: `$name`, `${name}`,
//! `$(name)`, `$$`, `${name?text}`, `${name:text}`, `${name?{t}:{f}}` and the
//! relational `${{a} OP {b} ? {t} : {f}}`.
//!
//! It is two layers, as in Postfix: a tokenizer (`parse`) that splits a value
//! into literal text and macro expressions, and an evaluator (`callback`) that
//! resolves one expression, recursing into looked-up values.  Warnings are
//! handed to the caller with Postfix's texts; any of them makes the result an
//! error (`Status::error`), which callers turn into Postfix's fatal message.

use super::readlline::is_space;

/// Look up a value for real, or only test whether it is set (`?` and `:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only whether the name is set.
    Test,
    /// The value.
    Use,
}

/// Expand looked-up values again (always the case for parameters).
pub const RECURSE: u32 = 1;
/// Visit every reference (both branches of a conditional) but build nothing:
/// how `postconf` finds which user-defined names are referenced.
pub const SCAN: u32 = 4;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
/// What went wrong in an expansion.
pub struct Status {
    /// A syntax error or runaway recursion; a warning was given.
    pub error: bool,
    /// Some `$name` was not defined (not an error).
    pub undef: bool,
}

impl Status {
    fn merge(&mut self, other: Status) {
        self.error |= other.error;
        self.undef |= other.undef;
    }
}

/// Why a comparison failed: a warning that makes the expansion an error
/// (a malformed compatibility level), or a fatal error that ends the
/// program at once (a number too large, as Postfix's `atol_or_die`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelOpError {
    /// A warning: the expansion is an error.
    Warn(String),
    /// The program ends with this text.
    Fatal(String),
}

/// A custom relational operator, such as `<level` for compatibility levels.
pub type RelOp = fn(&str, Op, &str) -> Result<bool, RelOpError>;

/// The outcome of one expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// The expanded text.
    pub text: String,
    /// Errors and undefined names met.
    pub status: Status,
    /// Set when expansion must end the program with this message.
    pub fatal: Option<String>,
    /// The expansion was stopped at MAX_EXPANSION_BYTES or
    /// MAX_EXPANSION_STEPS (also an error).
    pub too_large: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// A relational operator of `${{a} OP {b} ? ...}`.
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `>`
    Gt,
}

const OP_ANY: &str = r#""==" or "!="" or "<"" or "<="" or ">="" or ">""#;
const NESTING_LIMIT: usize = 100;

/// The most text one expansion may produce.  Postfix has no bound, so a
/// chain like `a = $b$b`, `b = $c$c`, ... 40 deep runs it (and any program
/// that reads main.cf) out of memory; postkit stops and says so.
pub const MAX_EXPANSION_BYTES: usize = 16 << 20;

/// The most `$name` evaluations one expansion may make (the same chain
/// with empty values builds no text but still takes 2^40 steps).
pub const MAX_EXPANSION_STEPS: usize = 1_000_000;

/// The lookup callback: `None` means undefined.
pub type Lookup<'a> = dyn FnMut(&str, Mode) -> Option<String> + 'a;

/// Everything one expansion needs.
pub struct Expander<'a> {
    flags: u32,
    lookup: &'a mut Lookup<'a>,
    warn: &'a mut dyn FnMut(String),
    /// Operator suffixes such as `level`; Postfix registers `level` in every
    /// program that reads main.cf.
    suffixes: &'a [(&'a str, RelOp)],
    fatal: Option<String>,
    /// The nesting limit was hit somewhere: the whole expansion has failed,
    /// and going on would only repeat the work (twice per level when both
    /// relational operands recurse, 2^100 times in all).
    too_deep: bool,
    /// `$name` evaluations so far, and bytes produced so far.
    steps: usize,
    produced: usize,
    /// A limit was hit: like `too_deep`, the whole expansion has failed.
    too_large: bool,
}

/// Expands `pattern`.  Returns the text and the status; in SCAN mode the text
/// is empty.
pub fn expand<'a>(
    pattern: &str,
    flags: u32,
    lookup: &'a mut Lookup<'a>,
    warn: &'a mut dyn FnMut(String),
    suffixes: &'a [(&'a str, RelOp)],
) -> Expansion {
    let mut ex = Expander {
        flags,
        lookup,
        warn,
        suffixes,
        fatal: None,
        too_deep: false,
        steps: 0,
        produced: 0,
        too_large: false,
    };
    let (text, mut status) = ex.expand(pattern, 0);
    if ex.fatal.is_some() || ex.too_large {
        status.error = true;
    }
    Expansion {
        text: if ex.too_large { String::new() } else { text },
        status,
        fatal: ex.fatal,
        too_large: ex.too_large,
    }
}

/// Prints at most 20 bytes of `s`, as `%.20s` does.
fn first20(s: &str) -> &str {
    let mut end = s.len().min(20);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn skip_space(s: &str) -> &str {
    s.trim_start_matches(is_space)
}

/// C's `alldig()`: non-empty and only digits.
pub fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

enum Token<'t> {
    Literal(&'t str),
    Expr(&'t str),
}

/// One evaluation context: Postfix keeps a result buffer, status and nesting
/// level per `mac_expand()` call; relational operands get a fresh one.
struct Ctx {
    result: String,
    status: Status,
    level: usize,
}

impl Expander<'_> {
    /// Expands `pattern` in a fresh context that starts at nesting `level`.
    fn expand(&mut self, pattern: &str, level: usize) -> (String, Status) {
        let mut ctx = Ctx {
            result: String::new(),
            status: Status::default(),
            level,
        };
        let status = self.parse(&mut ctx, pattern);
        (ctx.result, status)
    }

    fn error(&mut self, ctx: &mut Ctx, msg: String) -> Status {
        (self.warn)(msg);
        ctx.status.error = true;
        ctx.status
    }

    /// The tokenizer (Postfix's `mac_parse`).
    fn parse(&mut self, ctx: &mut Ctx, value: &str) -> Status {
        let mut status = Status::default();
        let mut literal = String::new();
        let bytes = value.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'$' {
                let ch = value[i..].chars().next().unwrap_or('\0');
                literal.push(ch);
                i += ch.len_utf8();
                continue;
            }
            if bytes.get(i + 1) == Some(&b'$') {
                literal.push('$');
                i += 2;
                continue;
            }
            if !literal.is_empty() {
                let text = std::mem::take(&mut literal);
                status.merge(self.callback(ctx, Token::Literal(&text)));
            }
            i += 1;
            let name: &str;
            match bytes.get(i) {
                Some(&open @ (b'{' | b'(')) => {
                    let close = if open == b'{' { b'}' } else { b')' };
                    let start = i + 1;
                    let mut level = 1;
                    let mut j = start;
                    while level > 0 {
                        match bytes.get(j) {
                            None => break,
                            Some(&c) if c == open => level += 1,
                            Some(&c) if c == close => level -= 1,
                            _ => {}
                        }
                        j += 1;
                    }
                    if level > 0 {
                        (self.warn)(format!("truncated macro reference: \"{value}\""));
                        status.error = true;
                        break;
                    }
                    name = &value[start..j - 1];
                    i = j;
                }
                _ => {
                    let start = i;
                    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_')
                    {
                        i += 1;
                    }
                    name = &value[start..i];
                }
            }
            if name.is_empty() {
                status.error = true;
                (self.warn)(format!("empty macro name: \"{value}\""));
                break;
            }
            status.merge(self.callback(ctx, Token::Expr(name)));
        }
        if !literal.is_empty() && !status.error {
            status.merge(self.callback(ctx, Token::Literal(&literal)));
        }
        status
    }

    /// Takes `{payload}` from the start of `s` (which starts with `{`);
    /// returns the payload and the rest after the `}` and any white space.
    fn curly<'s>(&mut self, ctx: &mut Ctx, s: &'s str) -> Option<(&'s str, &'s str)> {
        let mut level = 0;
        for (i, c) in s.char_indices() {
            match c {
                '{' => level += 1,
                '}' => {
                    level -= 1;
                    if level == 0 {
                        return Some((&s[1..i], skip_space(&s[i + 1..])));
                    }
                }
                _ => {}
            }
        }
        self.error(
            ctx,
            format!("unbalanced {{}} in attribute expression: \"{s}\""),
        );
        None
    }

    /// `{a} OP {b}`: returns the fake lookup result and the rest, or None
    /// after an error.
    fn relational<'s>(&mut self, ctx: &mut Ctx, s: &'s str) -> Option<(Option<String>, &'s str)> {
        let (left, rest) = self.curly(ctx, s)?;
        let op_len = rest
            .find(|c: char| !"<>!=?+-*/~&|%".contains(c))
            .unwrap_or(rest.len());
        let op_text = &rest[..op_len];
        let op = match op_text {
            "==" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">=" => Op::Ge,
            ">" => Op::Gt,
            _ => {
                self.error(
                    ctx,
                    format!("{OP_ANY} expected at: \"...{left}}}>>>{}\"", first20(rest)),
                );
                return None;
            }
        };
        let mut cp = &rest[op_len..];
        let mut custom: Option<RelOp> = None;
        if !self.suffixes.is_empty() && cp.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            let suf_len = cp
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(cp.len());
            let suffix = &cp[..suf_len];
            match self.suffixes.iter().find(|(name, _)| *name == suffix) {
                Some((_, f)) => custom = Some(*f),
                None => {
                    self.error(
                        ctx,
                        format!("bad operator suffix at: \"...{op_text}>>>{suffix}\""),
                    );
                    return None;
                }
            }
            cp = &cp[suf_len..];
        }
        let after = skip_space(cp);
        if !after.starts_with('{') {
            self.error(
                ctx,
                format!(
                    "\"{{expression}}\" expected at: \"...{{{left}}} {op_text}>>>{}\"",
                    first20(cp)
                ),
            );
            return None;
        }
        let (right, rest) = self.curly(ctx, after)?;
        // The operands start at the caller's nesting level: Postfix starts
        // them at zero, and `n = ${{$n} == {1} ? {a} : {b}}` then recurses
        // until its stack overflows (postconf 3.7 crashes on it).
        let (lval, lstat) = self.expand(left, ctx.level);
        ctx.status.merge(lstat);
        let (rval, rstat) = self.expand(right, ctx.level);
        ctx.status.merge(rstat);
        let mut verdict = false;
        if self.flags & SCAN == 0 {
            let eval = custom.unwrap_or(compare);
            match eval(&lval, op, &rval) {
                Ok(v) => verdict = v,
                Err(RelOpError::Warn(msg)) => {
                    (self.warn)(msg);
                    ctx.status.error = true;
                }
                Err(RelOpError::Fatal(msg)) => {
                    self.fatal.get_or_insert(msg);
                    ctx.status.error = true;
                }
            }
        }
        if ctx.status.error {
            return None;
        }
        let lookup = if self.flags & SCAN != 0 {
            None
        } else if verdict {
            Some("true".to_string())
        } else {
            Some(String::new())
        };
        Some((lookup, rest))
    }

    /// The evaluator (Postfix's `mac_expand_callback`).
    fn callback(&mut self, ctx: &mut Ctx, token: Token) -> Status {
        let level = ctx.level;
        ctx.level += 1;
        if level > NESTING_LIMIT {
            let text = match token {
                Token::Literal(t) | Token::Expr(t) => t,
            };
            self.error(ctx, format!("unreasonable macro call nesting: \"{text}\""));
            self.too_deep = true;
        }
        self.steps += 1;
        if !self.too_large
            && (self.steps > MAX_EXPANSION_STEPS || self.produced > MAX_EXPANSION_BYTES)
        {
            self.too_large = true;
            (self.warn)(format!(
                "macro expansion stopped: more than {MAX_EXPANSION_BYTES} bytes or {MAX_EXPANSION_STEPS} steps"
            ));
        }
        if ctx.status.error || self.fatal.is_some() || self.too_deep || self.too_large {
            ctx.status.error = true;
            return ctx.status;
        }
        let expr = match token {
            Token::Literal(text) => {
                if self.flags & SCAN == 0 {
                    ctx.result.push_str(text);
                    self.produced += text.len();
                }
                ctx.level -= 1;
                return ctx.status;
            }
            Token::Expr(e) => e,
        };
        let lookup: Option<String>;
        let mut op: Option<char>;
        let mut cp: &str;
        let trimmed = skip_space(expr);
        if trimmed.starts_with('{') {
            let Some((l, rest)) = self.relational(ctx, trimmed) else {
                return ctx.status;
            };
            lookup = l;
            cp = rest;
            op = rest.chars().next();
            if let Some(c) = op {
                if c != '?' && c != ':' {
                    return self.error(
                        ctx,
                        format!("\"?\" or \":\" expected at: \"...}}>>>{}\"", first20(rest)),
                    );
                }
                cp = &rest[1..];
            }
        } else {
            // A name, optionally followed by white space and `?` or `:`.
            let start_off = expr.len() - trimmed.len();
            let mut pos = start_off;
            let mode;
            loop {
                let after = skip_space(&expr[pos..]);
                match after.chars().next() {
                    None => {
                        op = None;
                        mode = Mode::Use;
                        cp = "";
                        break;
                    }
                    Some(c @ ('?' | ':')) => {
                        op = Some(c);
                        mode = Mode::Test;
                        cp = &after[1..];
                        break;
                    }
                    _ => {}
                }
                let c = expr[pos..].chars().next().unwrap_or('\0');
                if !(c.is_ascii_alphanumeric() || c == '_') {
                    return self.error(
                        ctx,
                        format!(
                            "attribute name syntax error at: \"...{}>>>{}\"",
                            &expr[..pos],
                            first20(&expr[pos..])
                        ),
                    );
                }
                pos += c.len_utf8();
            }
            lookup = (self.lookup)(&expr[start_off..pos], mode);
        }
        let scan = self.flags & SCAN != 0;
        let non_empty = lookup.as_deref().is_some_and(|v| !v.is_empty());
        if op == Some('?') {
            let if_true;
            if skip_space(cp).starts_with('{') {
                let Some((payload, rest)) = self.curly(ctx, skip_space(cp)) else {
                    return ctx.status;
                };
                if_true = payload;
                cp = rest;
            } else {
                if_true = cp;
                cp = "";
            }
            if non_empty || scan {
                let st = self.parse(ctx, if_true);
                ctx.status.merge(st);
            }
            if !cp.is_empty() {
                if !cp.starts_with(':') {
                    return self.error(
                        ctx,
                        format!("\":\" expected at: \"...{if_true}}}>>>{}\"", first20(cp)),
                    );
                }
                cp = &cp[1..];
                op = Some(':');
            } else {
                op = Some('!');
            }
        }
        match op {
            Some(':') => {
                let if_false;
                if skip_space(cp).starts_with('{') {
                    let Some((payload, rest)) = self.curly(ctx, skip_space(cp)) else {
                        return ctx.status;
                    };
                    if_false = payload;
                    cp = rest;
                } else {
                    if_false = cp;
                    cp = "";
                }
                if !non_empty || scan {
                    let st = self.parse(ctx, if_false);
                    ctx.status.merge(st);
                }
                if !cp.is_empty() {
                    return self.error(
                        ctx,
                        format!("unexpected input at: \"...{if_false}}}>>>{}\"", first20(cp)),
                    );
                }
            }
            None => match lookup {
                None => ctx.status.undef = true,
                Some(v) if v.is_empty() || scan => {}
                Some(v) => {
                    if self.flags & RECURSE != 0 {
                        let st = self.parse(ctx, &v);
                        ctx.status.merge(st);
                    } else {
                        self.produced += v.len();
                        ctx.result.push_str(&v);
                    }
                }
            },
            _ => {}
        }
        ctx.level -= 1;
        ctx.status
    }
}

/// The built-in comparison: numeric when both sides are all digits, else
/// byte-wise.
pub fn compare(left: &str, op: Op, right: &str) -> Result<bool, RelOpError> {
    let ord = if all_digits(left) && all_digits(right) {
        let num = |s: &str| {
            s.parse::<i64>()
                .map_err(|_| RelOpError::Fatal(format!("mac_exp_eval: bad conversion: {s}")))
        };
        let (l, r) = (num(left)?, num(right)?);
        l.cmp(&r)
    } else {
        left.as_bytes().cmp(right.as_bytes())
    };
    Ok(apply(op, ord))
}

/// Whether `ord` (left against right) satisfies `op`.
pub fn apply(op: Op, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => ord == Equal,
        Op::Ne => ord != Equal,
        Op::Lt => ord == Less,
        Op::Le => ord != Greater,
        Op::Ge => ord != Less,
        Op::Gt => ord == Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(pattern: &str, flags: u32) -> (String, Status, Vec<String>) {
        let vars: HashMap<&str, &str> = [
            ("name1", "name1-value"),
            ("loop", "$loop"),
            ("relloop", "${{$relloop} == {1} ? {a} : {b}}"),
            ("relloop2", "${{$relloop2} == {$relloop2} ? {a} : {b}}"),
        ]
        .into();
        let mut warnings = Vec::new();
        let mut lookup = |n: &str, _m: Mode| vars.get(n).map(|v| v.to_string());
        let mut warn = |m: String| warnings.push(m);
        let e = expand(pattern, flags, &mut lookup, &mut warn, &[]);
        (e.text, e.status, warnings)
    }

    fn ok(pattern: &str) -> String {
        let (out, st, w) = run(pattern, RECURSE);
        assert!(!st.error, "{pattern}: {w:?}");
        out
    }

    fn err(pattern: &str) -> Vec<String> {
        let (_, st, w) = run(pattern, RECURSE);
        assert!(st.error, "{pattern} should fail");
        w
    }

    #[test]
    fn postfix_reference_cases() {
        assert_eq!(ok("$name1"), "name1-value");
        assert_eq!(ok("$( name1)"), "name1-value");
        assert_eq!(ok("$(name1 )"), "name1-value");
        assert_eq!(
            ok("${name1?name 1 defined, |$name1|$name2|}"),
            "name 1 defined, |name1-value||"
        );
        assert_eq!(ok("${name2:name 2 undefined}"), "name 2 undefined");
        assert_eq!(ok("${{$name1} != {}}"), "true");
        assert_eq!(ok("${{$name1} == {}}"), "");
        assert_eq!(
            ok("${{${name1?bug:test}} != {bug:test}?{Error: NOT}:{Good:}}"),
            "Good:"
        );
        assert_eq!(ok("${{1} <= {2}}"), "true");
        assert_eq!(ok("${{10} > {9}}"), "true");
        assert_eq!(ok("${{10} > {9x}}"), "");
        assert_eq!(ok("${{x} == {y} ? {a} : b}"), " b");
        assert_eq!(ok("a$$b"), "a$b");
        assert_eq!(
            err("$(name1"),
            vec!["truncated macro reference: \"$(name1\""]
        );
        assert_eq!(
            err("${na me1}"),
            vec!["attribute name syntax error at: \"...na>>> me1\""]
        );
        assert_eq!(
            err("${{text}}"),
            vec![format!("{OP_ANY} expected at: \"...text}}>>>\"")]
        );
        assert_eq!(
            err("${{xx}==(yy)?{oops}:{phew}}"),
            vec!["\"{expression}\" expected at: \"...{xx} ==>>>(yy)?{oops}:{phew}\"".to_string()]
        );
        assert_eq!(err("$-"), vec!["empty macro name: \"$-\""]);
        assert_eq!(
            err("$loop"),
            vec!["unreasonable macro call nesting: \"loop\""]
        );
    }

    #[test]
    fn unexpected_input_keeps_what_was_emitted() {
        let (out, st, w) = run("${name2:{${name1}}:{${name2}}}", RECURSE);
        assert!(st.error);
        assert_eq!(out, "name1-value");
        assert_eq!(
            w,
            vec!["unexpected input at: \"...${name1}}>>>:{${name2}}\"".to_string()]
        );
    }

    /// Found by the main_cf fuzz target: a value whose relational operand
    /// names the value itself (Postfix's postconf 3.7 dies of a stack
    /// overflow on it).
    #[test]
    fn recursion_through_relational_operands_is_bounded() {
        // Both operands recursing: without a stop at the first nesting
        // error this would take 2^100 steps (the fuzzer's timeout).
        let w = err("$relloop2");
        assert!(w.len() < 10, "{w:?}");
        let w = err("$relloop");
        assert!(
            w.iter()
                .any(|m| m.starts_with("unreasonable macro call nesting")),
            "{w:?}"
        );
    }

    /// A chain `e0 = $e1$e1 ...` (each name used `fanout` times by the one
    /// before it), `depth` deep, ending in `leaf`.
    fn chain(depth: usize, fanout: usize, leaf: &str) -> Expansion {
        let vars: HashMap<String, String> = (0..depth)
            .map(|i| (format!("e{i}"), format!("$e{}", i + 1).repeat(fanout)))
            .chain([(format!("e{depth}"), leaf.to_string())])
            .collect();
        let mut lookup = |n: &str, _m: Mode| vars.get(n).cloned();
        let mut warn = |_m: String| {};
        expand("$e0", RECURSE, &mut lookup, &mut warn, &[])
    }

    #[test]
    fn doubling_chains_stop_at_the_limits() {
        // 2^40 bytes of text, and 2^40 steps that make no text at all.
        for leaf in ["x", ""] {
            let e = chain(40, 2, leaf);
            assert!(e.too_large && e.status.error, "leaf {leaf:?}");
            assert!(e.text.is_empty());
        }
        // Within the limits nothing changes.
        let e = chain(10, 2, "x");
        assert!(!e.too_large && !e.status.error);
        assert_eq!(e.text.len(), 1024);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Whatever the chain, expansion ends within its bounds: the text
        /// never exceeds the byte limit, and an unfinished one is an error.
        #[test]
        fn expansion_work_is_bounded(depth in 1usize..60, fanout in 1usize..5, leaf in "[a-z]{0,40}") {
            let e = chain(depth, fanout, &leaf);
            proptest::prop_assert!(e.text.len() <= MAX_EXPANSION_BYTES + leaf.len());
            if e.too_large {
                proptest::prop_assert!(e.status.error);
            } else {
                let expected = (fanout as u128).checked_pow(depth as u32).map(|n| n * leaf.len() as u128);
                proptest::prop_assert_eq!(Some(e.text.len() as u128), expected);
            }
        }
    }
}
