//! An SMTP access policy service (Postfix's SMTPD_POLICY_README protocol)
//! on postkit's `multi_server` skeleton: smtpd sends a request (attributes,
//! `name=value` lines, then an empty line) and reads the action.  This one
//! rejects mail for the recipients `policy_service_blocked_recipients`
//! names (a list: commas or white space), lets everything else through
//! (`DUNNO`: the next restriction decides), and logs each decision.
//!
//! Under Postfix's master or postkit's, with Postfix's smtpd asking it:
//!
//! ```text
//! cargo build --release --examples      # target/release/examples/policy_service
//! # the program in daemon_directory (a master runs commands from there):
//! ln -s $PWD/target/release/examples/policy_service $(postconf -h daemon_directory)/
//! # master.cf:
//! policy  unix  -  n  n  -  0  policy_service
//!     -o policy_service_blocked_recipients=blocked@example.com
//! # main.cf:
//! smtpd_recipient_restrictions = check_policy_service unix:private/policy,
//!     permit_mynetworks, reject_unauth_destination
//! postfix reload                        # or: postkit -c DIR reload
//! ```
//!
//! smtpd keeps the connection open between requests (one per recipient,
//! over many messages), and many smtpd processes ask one policy process at
//! once: that is `multi_server`'s job.

use postkit::msg_info;
use postkit::server::multi_server::MultiServer;

#[derive(Default)]
struct Policy {
    blocked: Vec<String>,
    requests: u64,
}

fn main() {
    MultiServer::new(Policy::default())
        .str_param("policy_service_blocked_recipients", "", 0, 0, |p, v| {
            p.blocked = v
                .split([',', ' ', '\t'])
                .filter(|r| !r.is_empty())
                .map(str::to_ascii_lowercase)
                .collect();
        })
        .exit_hook(|p, _| msg_info!("{} policy requests answered", p.requests))
        .run(|p, client, _ctx| {
            let request = match client.read_attrs_plain() {
                Ok(r) => r,
                // The client closed between requests, or sent garbage.
                Err(_) => return client.disconnect(),
            };
            let get = |name: &str| {
                request
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or("", |(_, v)| v.as_str())
            };
            if get("request") != "smtpd_access_policy" {
                return client.disconnect();
            }
            p.requests += 1;
            let recipient = get("recipient").to_ascii_lowercase();
            let action = if p.blocked.contains(&recipient) {
                "REJECT 5.7.1 blocked by policy"
            } else {
                "DUNNO"
            };
            msg_info!(
                "client={} sender=<{}> recipient=<{}> action={action}",
                get("client_address"),
                get("sender"),
                recipient
            );
            if client.write_attrs_plain(&[("action", action)]).is_err() {
                client.disconnect();
            }
        })
}
