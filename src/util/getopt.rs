//! Command-line options with the rules of C's `getopt()`, which Postfix's
//! programs use and whose behaviour their users rely on: flags cluster
//! (`-lu`), a value is attached (`-tunix`) or the next argument (`-t unix`),
//! `--` ends the options, and the first argument that is not an option
//! (or a lone `-`) ends them too.  lexopt does not stop at the first
//! non-option, hence this small parser.

/// One option found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opt {
    /// A flag without value.
    Flag(char),
    /// An option with its value.
    Value(char, String),
}

/// An option getopt would answer with `?` (the character is getopt's
/// `optopt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetoptError {
    /// Not in the option string.
    Unknown(char),
    /// Takes a value and none followed.
    MissingValue(char),
}

impl GetoptError {
    /// The option character at fault.
    pub fn option(&self) -> char {
        match self {
            GetoptError::Unknown(c) | GetoptError::MissingValue(c) => *c,
        }
    }
}

/// Walks `args` (without the program name) by an option string in
/// getopt's form (`"c:dv"`: `c` takes a value).
pub struct Getopt<'a> {
    args: &'a [String],
    spec: &'a str,
    /// The argument being read.
    index: usize,
    /// The byte offset of the next option character in it (0: not in a
    /// cluster).
    offset: usize,
    done: bool,
}

impl<'a> Getopt<'a> {
    /// A parser over `args` for the option string `spec`.
    pub fn new(args: &'a [String], spec: &'a str) -> Self {
        Getopt {
            args,
            spec,
            index: 0,
            offset: 0,
            done: false,
        }
    }

    /// The arguments after the options (valid once `next` returned None).
    pub fn rest(&self) -> &'a [String] {
        &self.args[self.index.min(self.args.len())..]
    }

    /// Whether `c` takes a value, or None when it is not an option.
    fn takes_value(&self, c: char) -> Option<bool> {
        if c == ':' {
            return None;
        }
        let at = self.spec.find(c)?;
        Some(self.spec[at + c.len_utf8()..].starts_with(':'))
    }
}

impl Iterator for Getopt<'_> {
    type Item = Result<Opt, GetoptError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.offset == 0 {
            let arg = self.args.get(self.index)?;
            if arg == "--" {
                self.index += 1;
                self.done = true;
                return None;
            }
            if !arg.starts_with('-') || arg == "-" {
                self.done = true;
                return None;
            }
            self.offset = 1;
        }
        let arg = &self.args[self.index];
        let c = arg[self.offset..]
            .chars()
            .next()
            .expect("inside the cluster");
        self.offset += c.len_utf8();
        let at_end = self.offset >= arg.len();
        let result = match self.takes_value(c) {
            None => Err(GetoptError::Unknown(c)),
            Some(false) => Ok(Opt::Flag(c)),
            Some(true) if !at_end => {
                let value = arg[self.offset..].to_string();
                self.offset = arg.len();
                Ok(Opt::Value(c, value))
            }
            Some(true) => match self.args.get(self.index + 1) {
                Some(v) => {
                    // The value is the next argument: skip it too.
                    self.index += 1;
                    self.offset = v.len();
                    Ok(Opt::Value(c, v.clone()))
                }
                None => Err(GetoptError::MissingValue(c)),
            },
        };
        if self.offset >= self.args[self.index].len() {
            self.index += 1;
            self.offset = 0;
        }
        if result.is_err() {
            // getopt goes on after an error; every caller here stops.
            self.done = true;
        }
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn clusters_values_and_the_first_non_option() {
        let a = args("-lu -tunix-dgram -n postlog rest -v");
        let mut g = Getopt::new(&a, "lut:n:v");
        let got: Vec<_> = g.by_ref().map(Result::unwrap).collect();
        assert_eq!(
            got,
            vec![
                Opt::Flag('l'),
                Opt::Flag('u'),
                Opt::Value('t', "unix-dgram".into()),
                Opt::Value('n', "postlog".into()),
            ]
        );
        assert_eq!(g.rest(), &args("rest -v")[..]);
    }

    #[test]
    fn double_dash_and_lone_dash() {
        let a = args("-v -- -x");
        let mut g = Getopt::new(&a, "v");
        assert_eq!(g.next(), Some(Ok(Opt::Flag('v'))));
        assert_eq!(g.next(), None);
        assert_eq!(g.rest(), &args("-x")[..]);
        let a = args("- -v");
        let mut g = Getopt::new(&a, "v");
        assert_eq!(g.next(), None);
        assert_eq!(g.rest().len(), 2);
    }

    #[test]
    fn errors() {
        let a = args("-vx");
        let mut g = Getopt::new(&a, "v");
        assert_eq!(g.next(), Some(Ok(Opt::Flag('v'))));
        assert_eq!(g.next(), Some(Err(GetoptError::Unknown('x'))));
        assert_eq!(g.next(), None);
        let a = args("-t");
        assert_eq!(
            Getopt::new(&a, "t:").next(),
            Some(Err(GetoptError::MissingValue('t')))
        );
        let a = args("-:");
        assert_eq!(
            Getopt::new(&a, "t:").next(),
            Some(Err(GetoptError::Unknown(':')))
        );
    }
}
