//! User-defined parameters, as Postfix's postconf finds them: a name that
//! some value refers to (`$name`) is a parameter when main.cf, or the
//! master.cf entry the value is in, gives it a value; so is each
//! `smtpd_restriction_classes` member.  A `$name` that nothing defines is
//! warned about ("undefined parameter"), and so, after the output, is a
//! main.cf or master.cf `-o` setting that nothing uses ("unused
//! parameter").  The scan follows postconf's order: master.cf's entries,
//! then the defaults, then main.cf.

use super::Postconf;

/// The parameters a legacy main.cf-configured table (`ldap:name`, not
/// `ldap:/file`) reads, as `name_SUFFIX`, per table type (Postfix 3.7's
/// dict_ldap, dict_mysql, dict_pgsql, dict_sqlite and dict_memcache).
const DBMS: &[(&str, &[&str])] = &[
    (
        "ldap",
        &[
            "bind",
            "bind_dn",
            "bind_pw",
            "cache",
            "cache_expiry",
            "cache_size",
            "chase_referrals",
            "debuglevel",
            "dereference",
            "domain",
            "expansion_limit",
            "leaf_result_attribute",
            "query_filter",
            "recursion_limit",
            "result_attribute",
            "result_filter",
            "result_format",
            "sasl_authz_id",
            "sasl_mechs",
            "sasl_minssf",
            "sasl_realm",
            "scope",
            "search_base",
            "server_host",
            "server_port",
            "size_limit",
            "special_result_attribute",
            "start_tls",
            "terminal_result_attribute",
            "timeout",
            "tls_ca_cert_dir",
            "tls_ca_cert_file",
            "tls_cert",
            "tls_cipher_suite",
            "tls_key",
            "tls_random_file",
            "tls_require_cert",
            "version",
        ],
    ),
    (
        "mysql",
        &[
            "additional_conditions",
            "dbname",
            "domain",
            "expansion_limit",
            "hosts",
            "option_file",
            "option_group",
            "password",
            "query",
            "require_result_set",
            "result_format",
            "select_field",
            "table",
            "tls_CAfile",
            "tls_CApath",
            "tls_cert_file",
            "tls_ciphers",
            "tls_key_file",
            "tls_verify_cert",
            "user",
            "where_field",
        ],
    ),
    (
        "pgsql",
        &[
            "additional_conditions",
            "dbname",
            "domain",
            "expansion_limit",
            "hosts",
            "password",
            "query",
            "result_format",
            "select_field",
            "select_function",
            "table",
            "user",
            "where_field",
        ],
    ),
    (
        "sqlite",
        &[
            "additional_conditions",
            "dbpath",
            "domain",
            "expansion_limit",
            "query",
            "result_format",
            "select_field",
            "table",
            "where_field",
        ],
    ),
    (
        "memcache",
        &[
            "backup",
            "data_size_limit",
            "domain",
            "flags",
            "key_format",
            "line_size_limit",
            "max_try",
            "memcache",
            "retry_pause",
            "timeout",
            "ttl",
        ],
    ),
];
use crate::global::mail_params::{self, Kind};
use crate::msg_warn;
use crate::util::mac_expand::{self, Mode, SCAN};
use crate::util::msg;

/// The `$name`s a value refers to.
fn references(value: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut lookup = |name: &str, _m: Mode| {
        found.push(name.to_string());
        None
    };
    let mut warn = |m: String| msg::warn(&m);
    let _ = mac_expand::expand(
        value,
        SCAN,
        &mut lookup,
        &mut warn,
        crate::global::compat_level::RELOPS,
    );
    found
}

impl Postconf {
    /// A `$name` seen in main.cf (`local` None) or in master.cf entry
    /// `local`: valid where it has a value; warned about when nothing
    /// defines it.
    fn flag_user(&mut self, name: &str, local: Option<usize>) {
        self.flag(name, local, true);
    }

    /// As flag_user; `warn` false for the parameters of legacy tables,
    /// which need not all be set.
    fn flag(&mut self, name: &str, local: Option<usize>, warn: bool) {
        let mut supplied = false;
        if let Some(i) = local
            && self.entries[i].params.contains_key(name)
        {
            supplied = true;
            self.local_valid[i].insert(name.to_string());
        } else if self.conf.lookup(name).is_some() {
            supplied = true;
            if mail_params::find(name).is_none() && !self.service.contains_key(name) {
                self.user_valid.insert(name.to_string());
            }
        }
        if local.is_none() {
            for (i, e) in self.entries.iter().enumerate() {
                if e.params.contains_key(name) {
                    supplied = true;
                    self.local_valid[i].insert(name.to_string());
                }
            }
        }
        if warn && !supplied && !self.known(name) {
            let source = if local.is_some() {
                "master.cf"
            } else {
                "main.cf"
            };
            msg_warn!(
                "{}/{source}: undefined parameter: {name}",
                self.conf.config_dir
            );
        }
    }

    /// One name space: main.cf (`local` None) or a master.cf entry's `-o`
    /// settings.
    fn scan_namespace(&mut self, local: Option<usize>) {
        let pairs: Vec<(String, String)> = match local {
            Some(i) => {
                let e = &self.entries[i];
                super::dict_order(e.param_order.clone())
                    .into_iter()
                    .map(|n| {
                        let v = e.params.get(&n).cloned().unwrap_or_default();
                        (n, v)
                    })
                    .collect()
            }
            None => self
                .main_cf_names()
                .into_iter()
                .map(|n| {
                    let v = match self.conf.lookup(&n) {
                        Some(v) => v.to_string(),
                        None => self.conf.config_dir.clone(),
                    };
                    (n, v)
                })
                .collect(),
        };
        let classes = pairs
            .iter()
            .find(|(n, _)| n == "smtpd_restriction_classes")
            .map(|(_, v)| self.expand(v));
        for class in classes
            .iter()
            .flat_map(|c| c.split([',', ' ', '\t', '\r', '\n']))
            .filter(|c| !c.is_empty())
        {
            if local.is_none() {
                self.rest_classes.insert(class.to_string());
            }
            self.flag_user(class, local);
        }
        let source = if local.is_some() {
            "master.cf"
        } else {
            "main.cf"
        };
        for (name, value) in pairs {
            if let Some(i) = local
                && self.rest_classes.contains(&name)
            {
                self.local_valid[i].insert(name.clone());
            }
            if let Some(def) = mail_params::find(&name) {
                if def.read_only {
                    msg_warn!(
                        "{}/{source}: read-only parameter assignment: {name}={value}",
                        self.conf.config_dir
                    );
                    continue;
                }
                if def.kind == Kind::Raw {
                    continue;
                }
            }
            for r in references(&value) {
                self.flag_user(&r, local);
            }
            // A Postfix parameter naming legacy tables (`ldap:name`) makes
            // `name_server_host` and the rest parameters too.
            if mail_params::find(&name).is_some() || self.service.contains_key(&name) {
                let expanded = match local {
                    Some(i) => {
                        let e = &self.entries[i];
                        self.expand_in(&value, &|n| e.local(n))
                    }
                    None => self.expand(&value),
                };
                self.register_dbms(&expanded, local);
            }
        }
    }

    /// A table's own configuration file: warnings for a file that cannot
    /// be read and for settings the table does not know (once per file).
    fn check_dbms_client(&mut self, db_type: &str, suffixes: &[&str], path: &str) {
        let spec = format!("{db_type}:{path}");
        if !self.dbms_checked.insert(spec.clone()) {
            return;
        }
        let text = match std::fs::metadata(path).and_then(|m| {
            if m.is_file() {
                std::fs::read_to_string(path)
            } else {
                Err(std::io::Error::other("not a regular file"))
            }
        }) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return,
            Err(e) => {
                msg_warn!(
                    "open \"{db_type}\" configuration \"{path}\": {}",
                    crate::util::errno_text(&e)
                );
                return;
            }
        };
        let mut settings: Vec<(String, String)> = Vec::new();
        for line in crate::util::readlline::logical_lines(path, &text, &mut |_| {}) {
            if let Ok((n, v)) = crate::util::split_nameval::split_nameval(&line.text) {
                settings.retain(|(name, _)| name != n);
                settings.push((n.to_string(), v.to_string()));
            }
        }
        for (name, value) in settings {
            if !suffixes.contains(&name.as_str()) {
                msg_warn!("{spec}: unused parameter: {name}={value}");
            }
        }
    }

    /// The inside of a `{...}` group in a value, warned about as Postfix's
    /// postconf does when malformed (`main.cf: ...`, or
    /// `master.cf:service/type: ...`).
    fn extpar_warn(&self, group: &str, local: Option<usize>) -> String {
        let (inner, err) = crate::util::extpar::extpar(group, false);
        if let Some(err) = err {
            match local {
                Some(i) => msg_warn!("master.cf:{}: {err}", self.entries[i].name_space()),
                None => msg_warn!("main.cf: {err}"),
            }
        }
        inner
    }

    /// The tables named in `value` (postconf's dbms helper).
    fn register_dbms(&mut self, value: &str, local: Option<usize>) {
        for token in crate::util::dict::split_quoted(value) {
            if token.starts_with('{') {
                let inner = self.extpar_warn(&token, local);
                self.register_dbms(&inner, local);
                continue;
            }
            let mut db_type = token.as_str();
            let mut prefix = None;
            while let Some((t, rest)) = db_type.split_once(':') {
                prefix = Some(rest);
                if t != "proxy" {
                    db_type = t;
                    break;
                }
                db_type = rest;
                prefix = None;
            }
            let Some(prefix) = prefix else { continue };
            if prefix.starts_with('/') {
                if let Some((_, suffixes)) = DBMS.iter().find(|(t, _)| *t == db_type) {
                    self.check_dbms_client(db_type, suffixes, prefix);
                }
                continue;
            }
            if prefix.starts_with('.') {
                continue;
            }
            if prefix.starts_with('{') {
                let inner = self.extpar_warn(prefix, local);
                self.register_dbms(&inner, local);
                continue;
            }
            if let Some((_, suffixes)) = DBMS.iter().find(|(t, _)| *t == db_type) {
                for suffix in *suffixes {
                    self.flag(&format!("{prefix}_{suffix}"), local, false);
                }
            }
        }
    }

    /// Finds the user-defined parameters, warning about undefined names.
    pub(super) fn register_user_parameters(&mut self) {
        for i in 0..self.entries.len() {
            self.scan_namespace(Some(i));
        }
        let mut defaults: Vec<String> = Vec::new();
        for def in mail_params::all() {
            if def.kind != Kind::Raw && self.conf.lookup(def.name).is_none() && !def.read_only {
                defaults.push(def.default_text(&self.conf));
            }
        }
        for (name, default) in &self.service {
            if self.conf.lookup(name).is_none() {
                defaults.push(default.clone());
            }
        }
        for value in defaults {
            for r in references(&value) {
                self.flag_user(&r, None);
            }
        }
        self.scan_namespace(None);
    }

    /// master.cf `-o` settings that nothing uses.
    pub(super) fn warn_unused_master(&self) {
        for (e, valid) in self.entries.iter().zip(&self.local_valid) {
            for name in &super::dict_order(e.param_order.clone()) {
                let value = e.params.get(name).map_or("", String::as_str);
                if !self.known(name) && !valid.contains(name) {
                    msg_warn!(
                        "{}/master.cf: unused parameter: {name}={value}",
                        self.conf.config_dir
                    );
                }
            }
        }
    }
}
