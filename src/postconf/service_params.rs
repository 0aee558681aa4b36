//! The parameters postconf derives from master.cf (Postfix's
//! postconf_service): every service whose command is a delivery agent
//! (`local`, `error`, `virtual`, `smtp`, `lmtp`, `pipe`) has its own
//! concurrency, recipient and rate parameters, `SERVICE_destination_...`,
//! defaulting to the global ones (`$default_destination_...`); `pipe` and
//! `spawn` services also have `SERVICE_time_limit`.  A name Postfix defines
//! itself (`local_destination_concurrency_limit`) keeps its own default.

use std::collections::BTreeMap;

use super::master_entry::{COMMAND, Entry};
use crate::global::mail_params;

/// Suffix, and the global parameter that is the default.
const TIME_LIMIT: (&str, &str) = ("_time_limit", "command_time_limit");

const DELIVERY: &[(&str, &str)] = &[
    ("_recipient_limit", "default_recipient_limit"),
    ("_extra_recipient_limit", "default_extra_recipient_limit"),
    ("_recipient_refill_limit", "default_recipient_refill_limit"),
    ("_recipient_refill_delay", "default_recipient_refill_delay"),
    ("_delivery_slot_cost", "default_delivery_slot_cost"),
    ("_delivery_slot_loan", "default_delivery_slot_loan"),
    ("_delivery_slot_discount", "default_delivery_slot_discount"),
    ("_minimum_delivery_slots", "default_minimum_delivery_slots"),
    (
        "_initial_destination_concurrency",
        "initial_destination_concurrency",
    ),
    (
        "_destination_concurrency_limit",
        "default_destination_concurrency_limit",
    ),
    (
        "_destination_recipient_limit",
        "default_destination_recipient_limit",
    ),
    (
        "_destination_concurrency_positive_feedback",
        "default_destination_concurrency_positive_feedback",
    ),
    (
        "_destination_concurrency_negative_feedback",
        "default_destination_concurrency_negative_feedback",
    ),
    (
        "_destination_concurrency_failed_cohort_limit",
        "default_destination_concurrency_failed_cohort_limit",
    ),
    ("_destination_rate_delay", "default_destination_rate_delay"),
    ("_transport_rate_delay", "default_transport_rate_delay"),
];

/// Name → default of every service parameter master.cf's entries imply.
pub fn service_parameters(entries: &[Entry]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in entries {
        let (service, command) = (e.argv[0].as_str(), e.argv[COMMAND].as_str());
        let suffixes: Vec<(&str, &str)> = match command {
            "local" | "error" | "virtual" | "smtp" | "lmtp" => DELIVERY.to_vec(),
            "pipe" => std::iter::once(TIME_LIMIT)
                .chain(DELIVERY.iter().copied())
                .collect(),
            "spawn" => vec![TIME_LIMIT],
            _ => continue,
        };
        for (suffix, global) in suffixes {
            let name = format!("{service}{suffix}");
            if mail_params::find(&name).is_none() {
                out.insert(name, format!("${global}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_agents_pipes_and_spawns() {
        let p = service_parameters(&crate::postconf::master_entry::read_master(
            "master.cf",
            "relay unix - - y - - smtp\n  -o syslog_name=postfix/relay\n\
             local unix - n n - - local\n\
             bsmtp unix - n n - - pipe\n  flags=Fq. user=bsmtp argv=/x\n\
             policy unix - n n - 0 spawn\n\
             smtp inet n - y - - smtpd\n",
        ));
        assert_eq!(
            p["relay_destination_concurrency_limit"],
            "$default_destination_concurrency_limit"
        );
        assert_eq!(p["bsmtp_time_limit"], "$command_time_limit");
        assert_eq!(p["policy_time_limit"], "$command_time_limit");
        assert!(!p.contains_key("relay_time_limit"));
        assert!(
            !p.contains_key("local_destination_concurrency_limit"),
            "Postfix's own"
        );
        assert!(p.contains_key("local_delivery_slot_cost"));
        assert!(
            !p.keys().any(|k| k.starts_with("smtp_")),
            "smtpd is no delivery agent"
        );
        assert_eq!(p.len(), 16 + 14 + 17 + 1, "local has two of its own");
    }
}
