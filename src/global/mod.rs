//! What every postkit program shares: main.cf and its typed parameters,
//! the parameters Postfix defines, and how a program chooses where to log.

pub mod accounts;
pub mod compat_level;
pub mod config_error;
pub mod daemon_desc;
pub mod dsn_filter;
pub mod mail_conf;
pub mod mail_conf_types;
pub mod mail_params;
pub mod mail_proto;
pub mod maillog_client;
pub mod mynetworks;
pub mod param_def;
pub mod postfix_params;
