//! The main.cf dictionary: reading the file, `-o` overrides and `$name`
//! evaluation against it.
//!
//! Values are kept as written; expansion happens when a parameter is
//! converted (see [`super::mail_conf_types`]), so that `-o` overrides given
//! after the file was read still take part in every expansion.

use std::collections::HashMap;

use super::config_error::ConfigError;
use crate::util::mac_expand::{self, Mode, RECURSE};
use crate::util::readlline::logical_lines;
use crate::util::split_nameval::split_nameval;

use super::compat_level::RELOPS;

/// Where main.cf lives when neither `MAIL_CONFIG` nor `-c` says otherwise.
pub const DEF_CONFIG_DIR: &str = "/etc/postfix";

/// The in-memory parameter dictionary (Postfix's `mail_dict`).
#[derive(Debug, Clone, Default)]
pub struct MailConf {
    /// The directory main.cf was read from.
    pub config_dir: String,
    values: HashMap<String, String>,
    /// Names main.cf itself sets, in file order.
    file_names: Vec<String>,
    /// Where main.cf sets each name: the file and the line of the entry in
    /// effect (for errors that Postfix has no text for).
    origin: HashMap<String, (String, usize)>,
}

/// The configuration directory: `MAIL_CONFIG` from the environment, else
/// the default.
pub fn config_dir_from_env() -> String {
    match std::env::var("MAIL_CONFIG") {
        Ok(d) if !d.is_empty() => d,
        _ => DEF_CONFIG_DIR.to_string(),
    }
}

impl MailConf {
    /// A dictionary with nothing in it but `config_directory`.
    pub fn empty(config_dir: &str) -> Self {
        let mut c = MailConf {
            config_dir: config_dir.to_string(),
            ..Default::default()
        };
        c.values
            .insert("config_directory".into(), config_dir.to_string());
        c
    }

    /// The path of main.cf.
    pub fn main_cf_path(&self) -> String {
        format!("{}/main.cf", self.config_dir)
    }

    /// Reads `<config_dir>/main.cf`.  Warnings (overridden entries, lines
    /// that start with white space) go to `warn`; an error is Postfix's
    /// fatal text, naming the file and the line.
    pub fn read(config_dir: &str, warn: &mut dyn FnMut(String)) -> Result<Self, ConfigError> {
        let mut conf = MailConf::empty(config_dir);
        let path = conf.main_cf_path();
        let bytes = std::fs::read(&path).map_err(|e| ConfigError::Open {
            reason: crate::util::errno_text(&e),
            path: path.clone(),
        })?;
        let content = String::from_utf8_lossy(&bytes);
        conf.load_text(&path, &content, warn)?;
        Ok(conf)
    }

    /// Parses main.cf text into this dictionary.
    pub fn load_text(
        &mut self,
        path: &str,
        content: &str,
        warn: &mut dyn FnMut(String),
    ) -> Result<(), ConfigError> {
        for line in logical_lines(path, content, warn) {
            let (name, value) = split_nameval(&line.text).map_err(|why| ConfigError::Syntax {
                path: path.to_string(),
                line: line.first_line,
                why: why.to_string(),
                text: line.text.clone(),
            })?;
            if let Some(old) = self.values.get(name)
                && old != value
            {
                warn(format!(
                    "{path}, line {}: overriding earlier entry: {name}={old}",
                    line.first_line
                ));
            }
            // A map, not a scan of file_names: an 8 MB main.cf has many
            // thousands of names.
            if self
                .origin
                .insert(name.to_string(), (path.to_string(), line.first_line))
                .is_none()
            {
                self.file_names.push(name.to_string());
            }
            self.values.insert(name.to_string(), value.to_string());
        }
        Ok(())
    }

    /// Where main.cf sets `name`: the file and the line of the entry in
    /// effect.
    pub fn origin(&self, name: &str) -> Option<&(String, usize)> {
        self.origin.get(name)
    }

    /// Names set in main.cf, in the order the file first sets them.
    pub fn file_names(&self) -> &[String] {
        &self.file_names
    }

    /// The value of `name` as written (not expanded).
    pub fn lookup(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Sets `name` (as `-o` does, or a default written back).
    pub fn update(&mut self, name: &str, value: &str) {
        self.values.insert(name.to_string(), value.to_string());
    }

    /// Applies one `-o name=value` option; the error is Postfix's fatal text.
    pub fn apply_override(&mut self, option: &str) -> Result<(), ConfigError> {
        let (name, value) = split_nameval(option).map_err(|why| ConfigError::BadOverride {
            option: option.to_string(),
            why: why.to_string(),
        })?;
        self.update(name, value);
        Ok(())
    }

    /// Expands `value` recursively against this dictionary.  Expansion
    /// warnings are logged; any error becomes Postfix's fatal text.
    pub fn eval(&self, value: &str) -> Result<String, ConfigError> {
        if !value.contains('$') {
            return Ok(value.to_string());
        }
        let mut lookup = |name: &str, _mode: Mode| self.values.get(name).cloned();
        let mut warn = |m: String| crate::util::msg::warn(&m);
        let e = mac_expand::expand(value, RECURSE, &mut lookup, &mut warn, RELOPS);
        if let Some(fatal) = e.fatal {
            return Err(ConfigError::Expansion(fatal));
        }
        if e.too_large {
            return Err(ConfigError::ExpansionLimit {
                origin: None,
                name: String::new(),
            });
        }
        if e.status.error {
            return Err(ConfigError::Expansion(
                "dictionary mail_dict: macro processing error".to_string(),
            ));
        }
        Ok(e.text)
    }

    /// The value of `name`, expanded; None when it is not set.
    pub fn lookup_eval(&self, name: &str) -> Result<Option<String>, ConfigError> {
        match self.values.get(name) {
            Some(v) => self.eval(v).map(Some).map_err(|e| match e {
                ConfigError::ExpansionLimit { .. } => ConfigError::ExpansionLimit {
                    origin: self.origin.get(name).cloned(),
                    name: name.to_string(),
                },
                other => other,
            }),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_reports_lines() {
        let mut c = MailConf::empty("/x");
        let mut w = Vec::new();
        c.load_text("/x/main.cf", "a = 1\nb = $a$a\n  2\na = 3\n", &mut |m| {
            w.push(m)
        })
        .unwrap();
        assert_eq!(c.lookup("b"), Some("$a$a  2"));
        assert_eq!(c.eval("$b").unwrap(), "33  2");
        assert_eq!(
            w,
            vec!["/x/main.cf, line 4: overriding earlier entry: a=1".to_string()]
        );
        let err = c
            .load_text("/x/main.cf", "\n\nfoo bar\n", &mut |_| {})
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "/x/main.cf, line 3: missing '=' after attribute name: \"foo bar\""
        );
        let err = c.apply_override("=x").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid \"-o =x\" option value: missing attribute name"
        );
    }
}
