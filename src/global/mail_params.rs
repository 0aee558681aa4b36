//! The parameters postkit knows, with Postfix's (Debian 3.7's) defaults and
//! limits, and `mail_params_init()`: converting the ones every program needs,
//! in Postfix's order, into [`MailParams`].

use super::config_error::ConfigError;
use super::mail_conf::MailConf;

use super::param_def::p;
pub use super::param_def::{DefaultValue, Kind, ParamDef};

const fn s(name: &'static str, default: &'static str) -> ParamDef {
    p(name, Kind::Str, DefaultValue::Text(default), 0, 0)
}

const fn t(name: &'static str, default: &'static str, min: i64, max: i64) -> ParamDef {
    p(name, Kind::Time, DefaultValue::Text(default), min, max)
}

const fn ro(name: &'static str, default: DefaultValue) -> ParamDef {
    ParamDef {
        name,
        kind: Kind::Str,
        default,
        min: 0,
        max: 0,
        read_only: true,
    }
}

/// Debian's default `import_environment`.
pub const DEF_IMPORT_ENVIRONMENT: &str = "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME";

/// Every parameter postkit uses.  Defaults are Debian's Postfix 3.7 values,
/// so that `postkit postconf -d` answers as `postconf -d` does; the one
/// exception is `maillog_file_permissions`, which arrived in Postfix 3.9.
pub static PARAMS: &[ParamDef] = &[
    s("compatibility_level", "0"),
    s("config_directory", "/etc/postfix"),
    s("queue_directory", "/var/spool/postfix"),
    s("daemon_directory", "/usr/lib/postfix/sbin"),
    s("command_directory", "/usr/sbin"),
    s("data_directory", "/var/lib/postfix"),
    s("mail_owner", "postfix"),
    s("setgid_group", "postdrop"),
    s("default_privs", "nobody"),
    s("syslog_facility", "mail"),
    s(
        "syslog_name",
        "${multi_instance_name?{$multi_instance_name}:{postfix}}",
    ),
    s("multi_instance_name", ""),
    s("multi_instance_directories", ""),
    s("multi_instance_group", ""),
    p(
        "multi_instance_enable",
        Kind::Bool,
        DefaultValue::Bool(false),
        0,
        0,
    ),
    s("alternate_config_directories", ""),
    s("maillog_file", ""),
    p(
        "maillog_file_prefixes",
        Kind::Str,
        DefaultValue::Text("/var, /dev/stdout"),
        1,
        0,
    ),
    s("maillog_file_compressor", "gzip"),
    s("maillog_file_rotate_suffix", "%Y%m%d-%H%M%S"),
    s("maillog_file_permissions", "0600"),
    s("postlog_service_name", "postlog"),
    t("postlogd_watchdog_timeout", "10s", 10, 0),
    s("debugger_command", ""),
    s("import_environment", DEF_IMPORT_ENVIRONMENT),
    s("export_environment", "TZ MAIL_CONFIG LANG"),
    s("master_service_disable", ""),
    s("process_id_directory", "pid"),
    s("inet_interfaces", "all"),
    s("inet_protocols", "all"),
    s("mail_name", "Postfix"),
    // The Postfix release whose behaviour postkit reproduces (postkit's own
    // version is `postkit --version`).
    s("mail_version", "3.7.11"),
    p(
        "myhostname",
        Kind::Str,
        DefaultValue::Computed(default_myhostname),
        0,
        0,
    ),
    p(
        "mydomain",
        Kind::Str,
        DefaultValue::Computed(default_mydomain),
        0,
        0,
    ),
    s("myorigin", "$myhostname"),
    p(
        "mynetworks",
        Kind::Str,
        DefaultValue::Computed(super::mynetworks::mynetworks),
        0,
        0,
    ),
    s("stress", ""),
    p(
        "default_process_limit",
        Kind::Int,
        DefaultValue::Int(100),
        1,
        0,
    ),
    p("max_use", Kind::Int, DefaultValue::Int(100), 1, 0),
    // postkit's own: datagrams a skeleton takes per system call.
    p(
        "dgram_batch_limit",
        Kind::Int,
        DefaultValue::Int(64),
        1,
        1024,
    ),
    t("max_idle", "100s", 1, 0),
    t("service_throttle_time", "60s", 1, 0),
    t("in_flow_delay", "1s", 0, 10),
    t("ipc_idle", "5s", 1, 0),
    t("ipc_timeout", "3600s", 1, 0),
    t("daemon_timeout", "18000s", 1, 0),
    p(
        "daemon_table_open_error_is_fatal",
        Kind::Bool,
        DefaultValue::Bool(false),
        0,
        0,
    ),
    p(
        "smtputf8_enable",
        Kind::Nbool,
        DefaultValue::Text("${{$compatibility_level} <level {1} ? {no} : {yes}}"),
        0,
        0,
    ),
    ro("process_name", DefaultValue::Computed(|_| process_name())),
    ro(
        "process_id",
        DefaultValue::Computed(|_| std::process::id().to_string()),
    ),
    ro("service_name", DefaultValue::Text("")),
    // Postfix's legacy names (see LEGACY).
    s("virtual_maps", ""),
    s("fallback_relay", ""),
    s("authorized_verp_clients", ""),
    s("smtpd_client_connection_limit_exceptions", ""),
    s("postscreen_dnsbl_ttl", ""),
    s("postscreen_blacklist_action", ""),
    s("postscreen_dnsbl_whitelist_threshold", ""),
    s("postscreen_whitelist_interfaces", ""),
    s("lmtp_per_record_deadline", ""),
    s("smtp_per_record_deadline", ""),
    s("smtpd_per_record_deadline", ""),
    s("tlsproxy_client_level", ""),
    s("tlsproxy_client_policy", ""),
];

/// Names Postfix 3.7 still accepts for backwards compatibility (the
/// defaults of their successors refer to them): known, and listed by
/// `postconf` only when main.cf sets them, as Postfix's postconf does.
pub const LEGACY: &[&str] = &[
    "virtual_maps",
    "fallback_relay",
    "authorized_verp_clients",
    "smtpd_client_connection_limit_exceptions",
    "postscreen_dnsbl_ttl",
    "postscreen_blacklist_action",
    "postscreen_dnsbl_whitelist_threshold",
    "postscreen_whitelist_interfaces",
    "lmtp_per_record_deadline",
    "smtp_per_record_deadline",
    "smtpd_per_record_deadline",
    "tlsproxy_client_level",
    "tlsproxy_client_policy",
];

/// postkit's own parameters, which Postfix 3.7 does not have: known (no
/// "unused parameter" warning), but listed by `postconf` only when main.cf
/// sets them, so that its output on a Postfix configuration is Postfix's.
pub const POSTKIT_ONLY: &[&str] = &["dgram_batch_limit", "maillog_file_permissions"];

/// The definition of a parameter postkit knows: its own, else Postfix's.
pub fn find(name: &str) -> Option<&'static ParamDef> {
    PARAMS
        .iter()
        .find(|d| d.name == name)
        .or_else(|| super::postfix_params::find(name))
}

/// Known, but listed by `postconf` only when main.cf sets them: postkit's
/// own parameters and Postfix's legacy names.
pub fn listed_only_when_set(name: &str) -> bool {
    POSTKIT_ONLY.contains(&name) || LEGACY.contains(&name)
}

/// Every parameter `postconf` lists by default (Postfix's, with postkit's
/// definitions where it has its own), sorted by name.
pub fn all() -> Vec<&'static ParamDef> {
    let mut names: Vec<&'static str> = super::postfix_params::table()
        .iter()
        .map(|d| d.name)
        .chain(PARAMS.iter().map(|d| d.name))
        .filter(|n| !listed_only_when_set(n))
        .collect();
    names.sort_unstable();
    names.dedup();
    names.into_iter().filter_map(find).collect()
}

static PROGRAM: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Names the program this process runs, when the executable's name does
/// not (`postkit postconf` is postconf).
pub fn set_program_name(name: &str) {
    let _ = PROGRAM.set(name.to_string());
}

/// The basename of this program, as Postfix's `process_name`.
pub fn process_name() -> String {
    if let Some(name) = PROGRAM.get() {
        return name.clone();
    }
    std::env::args()
        .next()
        .map(|a| a.rsplit('/').next().unwrap_or("").to_string())
        .unwrap_or_default()
}

fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

/// The host name, made fully qualified with `$mydomain` (or `localdomain`)
/// when it has no dot.
fn default_myhostname(conf: &MailConf) -> String {
    let host = host_name();
    if host.contains('.') {
        return host;
    }
    let domain = conf
        .lookup_eval("mydomain")
        .ok()
        .flatten()
        .unwrap_or_else(|| "localdomain".into());
    format!("{host}.{domain}")
}

/// What follows the first dot of `$myhostname`, when that has two dots or
/// more; else `localdomain`.
fn default_mydomain(conf: &MailConf) -> String {
    let host = conf
        .lookup_eval("myhostname")
        .ok()
        .flatten()
        .unwrap_or_else(|| default_myhostname(conf));
    match host.split_once('.') {
        Some((_, rest)) if rest.contains('.') => rest.to_string(),
        _ => "localdomain".into(),
    }
}

impl ParamDef {
    /// The default as `postconf -d` prints it (before `-x`).
    pub fn default_text(&self, conf: &MailConf) -> String {
        match self.default {
            DefaultValue::Text(t) => t.to_string(),
            DefaultValue::Int(n) => n.to_string(),
            DefaultValue::Bool(b) => if b { "yes" } else { "no" }.to_string(),
            DefaultValue::Computed(f) => f(conf),
        }
    }

    /// Converts this parameter from `conf` with its type, default and limits,
    /// returning the value as text (for tables that only need validation).
    pub fn convert(&self, conf: &mut MailConf) -> Result<String, ConfigError> {
        let (min, max) = (self.min, self.max);
        Ok(match (self.kind, self.default) {
            (Kind::Int, DefaultValue::Int(d)) => conf
                .get_int(self.name, d as i32, min as i32, max as i32)?
                .to_string(),
            (Kind::Long, DefaultValue::Int(d)) => {
                conf.get_long(self.name, d, min, max)?.to_string()
            }
            (Kind::Bool, DefaultValue::Bool(d)) => yes_no(conf.get_bool(self.name, d)?),
            (Kind::Time, DefaultValue::Text(d)) => conf
                .get_time(self.name, d, min as i32, max as i32)?
                .to_string(),
            (Kind::Nint, DefaultValue::Text(d)) => conf
                .get_nint(self.name, d, min as i32, max as i32)?
                .to_string(),
            (Kind::Nbool, DefaultValue::Text(d)) => yes_no(conf.get_nbool(self.name, d)?),
            (Kind::Raw, DefaultValue::Text(d)) => {
                conf.get_raw(self.name, d, min as usize, max as usize)?
            }
            (_, d) => {
                let text = match d {
                    DefaultValue::Computed(f) if conf.lookup(self.name).is_none() => f(conf),
                    _ => self.default_text(conf),
                };
                conf.get_str(self.name, &text, min as usize, max as usize)?
            }
        })
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// The parameters every postkit program needs, converted.
#[derive(Debug, Clone, Default)]
pub struct MailParams {
    /// `compatibility_level`.
    pub compatibility_level: String,
    /// `config_directory`.
    pub config_directory: String,
    /// `queue_directory`.
    pub queue_directory: String,
    /// `daemon_directory`.
    pub daemon_directory: String,
    /// `command_directory`.
    pub command_directory: String,
    /// `data_directory`.
    pub data_directory: String,
    /// `mail_owner`.
    pub mail_owner: String,
    /// `setgid_group`.
    pub setgid_group: String,
    /// `default_privs`.
    pub default_privs: String,
    /// `syslog_facility`.
    pub syslog_facility: String,
    /// `syslog_name`.
    pub syslog_name: String,
    /// `maillog_file`.
    pub maillog_file: String,
    /// `maillog_file_prefixes`.
    pub maillog_file_prefixes: String,
    /// `maillog_file_compressor`.
    pub maillog_file_compressor: String,
    /// `maillog_file_rotate_suffix`.
    pub maillog_file_rotate_suffix: String,
    /// `maillog_file_permissions`.
    pub maillog_file_permissions: u32,
    /// `postlog_service_name`.
    pub postlog_service_name: String,
    /// `debugger_command`.
    pub debugger_command: String,
    /// `import_environment`.
    pub import_environment: String,
    /// `export_environment`.
    pub export_environment: String,
    /// `myhostname`.
    pub myhostname: String,
    /// `mydomain`.
    pub mydomain: String,
    /// `process_id_directory`.
    pub process_id_directory: String,
    /// `default_process_limit`.
    pub default_process_limit: i32,
    /// `max_use`.
    pub max_use: i32,
    /// `max_idle`.
    pub max_idle: i32,
    /// `ipc_idle`.
    pub ipc_idle: i32,
    /// `ipc_timeout`.
    pub ipc_timeout: i32,
    /// `daemon_timeout`.
    pub daemon_timeout: i32,
    /// `in_flow_delay`.
    pub in_flow_delay: i32,
    /// `daemon_table_open_error_is_fatal`.
    pub daemon_table_open_error_is_fatal: bool,
    /// `smtputf8_enable`.
    pub smtputf8_enable: bool,
}

fn get(conf: &mut MailConf, name: &str) -> Result<String, ConfigError> {
    find(name)
        .unwrap_or_else(|| panic!("{name} is not in PARAMS"))
        .convert(conf)
}

fn num(conf: &mut MailConf, name: &str) -> Result<i32, ConfigError> {
    Ok(get(conf, name)?.parse().unwrap_or_default())
}

/// Parses `maillog_file_permissions`: 0600, 0640 or 0644 with any number of
/// leading zeros; anything else is warned about and 0600 used.
pub fn log_permissions(value: &str) -> u32 {
    match value.trim_start_matches('0') {
        "600" => 0o600,
        "640" => 0o640,
        "644" => 0o644,
        _ => {
            crate::msg_warn!("ignoring bad permissions: maillog_file_permissions = {value}");
            0o600
        }
    }
}

/// Converts the global parameters in Postfix's order; the error is the fatal
/// text.  Account checks (mail_owner, setgid_group, default_privs) run only
/// as root: without root there are no privileges to separate.
pub fn mail_params_init(conf: &mut MailConf) -> Result<MailParams, ConfigError> {
    let cfg_dir = conf.config_dir.clone();
    let bad = |name: &str, why: &str, value: &str| ConfigError::Param {
        file: format!("{cfg_dir}/main.cf"),
        name: name.to_string(),
        why: why.to_string(),
        value: value.to_string(),
    };
    let mut p = MailParams {
        compatibility_level: get(conf, "compatibility_level")?,
        ..Default::default()
    };
    super::compat_level::parse(&p.compatibility_level)?;
    p.syslog_facility = get(conf, "syslog_facility")?;
    if crate::util::msg_syslog::facility_code(&p.syslog_facility).is_none() {
        return Err(bad(
            "syslog_facility",
            "unrecognized value",
            &p.syslog_facility,
        ));
    }
    for name in [
        "multi_instance_name",
        "multi_instance_directories",
        "multi_instance_group",
    ] {
        get(conf, name)?;
    }
    get(conf, "multi_instance_enable")?;
    p.maillog_file = get(conf, "maillog_file")?;
    p.maillog_file_prefixes = get(conf, "maillog_file_prefixes")?;
    p.maillog_file_compressor = get(conf, "maillog_file_compressor")?;
    p.maillog_file_rotate_suffix = get(conf, "maillog_file_rotate_suffix")?;
    p.maillog_file_permissions = log_permissions(&get(conf, "maillog_file_permissions")?);
    p.postlog_service_name = get(conf, "postlog_service_name")?;
    p.daemon_table_open_error_is_fatal = get(conf, "daemon_table_open_error_is_fatal")? == "yes";
    p.smtputf8_enable = get(conf, "smtputf8_enable")? == "yes";
    p.myhostname = get(conf, "myhostname")?;
    p.mydomain = get(conf, "mydomain")?;
    for (name, value) in [("myhostname", &p.myhostname), ("mydomain", &p.mydomain)] {
        if !valid_hostname(value) {
            return Err(bad(name, "bad parameter value", value));
        }
    }
    p.config_directory = get(conf, "config_directory")?;
    p.queue_directory = get(conf, "queue_directory")?;
    p.daemon_directory = get(conf, "daemon_directory")?;
    p.command_directory = get(conf, "command_directory")?;
    p.data_directory = get(conf, "data_directory")?;
    p.mail_owner = get(conf, "mail_owner")?;
    p.setgid_group = get(conf, "setgid_group")?;
    p.default_privs = get(conf, "default_privs")?;
    p.syslog_name = get(conf, "syslog_name")?;
    p.debugger_command = get(conf, "debugger_command")?;
    p.import_environment = get(conf, "import_environment")?;
    p.export_environment = get(conf, "export_environment")?;
    p.process_id_directory = get(conf, "process_id_directory")?;
    for name in [
        "inet_interfaces",
        "inet_protocols",
        "mail_name",
        "myorigin",
        "stress",
    ] {
        get(conf, name)?;
    }
    p.default_process_limit = num(conf, "default_process_limit")?;
    p.max_use = num(conf, "max_use")?;
    p.max_idle = num(conf, "max_idle")?;
    p.ipc_idle = num(conf, "ipc_idle")?;
    p.ipc_timeout = num(conf, "ipc_timeout")?;
    p.daemon_timeout = num(conf, "daemon_timeout")?;
    p.in_flow_delay = num(conf, "in_flow_delay")?;
    if nix::unistd::geteuid().is_root() {
        super::accounts::check_accounts(
            &cfg_dir,
            super::accounts::AccountNames {
                mail_owner: &p.mail_owner,
                setgid_group: &p.setgid_group,
                default_privs: &p.default_privs,
            },
        )?;
    }
    conf.update("process_id", &std::process::id().to_string());
    Ok(p)
}

/// Postfix's `valid_hostname()`: labels of letters, digits, `-` and `_`,
/// not starting or ending with `-`, at most 63 bytes each, 255 in all, and
/// not all-numeric.
pub fn valid_hostname(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    let mut all_digits = true;
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 || label.starts_with('-') || label.ends_with('-') {
            return false;
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return false;
        }
        all_digits &= label.bytes().all(|b| b.is_ascii_digit());
    }
    !all_digits
}
