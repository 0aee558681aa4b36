//! main.cf text: parsing, `$name` expansion in all its forms, and the typed
//! parameter readers.  Any input must end in a value or an error, never a
//! panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postkit::internal::global::mail_conf::MailConf;

fuzz_target!(|data: &[u8]| {
    postkit::internal::util::msg::set_stderr(false);
    let text = String::from_utf8_lossy(data);
    let mut conf = MailConf::empty("/fuzz");
    let mut warn = |_: String| {};
    if conf.load_text("/fuzz/main.cf", &text, &mut warn).is_err() {
        return;
    }
    for name in conf.file_names().to_vec() {
        let _ = conf.lookup_eval(&name);
        let _ = conf.get_int(&name, 1, 0, 1000);
        let _ = conf.get_long(&name, 1, 0, i64::MAX);
        let _ = conf.get_nint(&name, "-1", 0, 0);
        let _ = conf.get_str(&name, "", 1, 100);
        let _ = conf.get_raw(&name, "", 0, 0);
        let _ = conf.get_bool(&name, false);
        let _ = conf.get_nbool(&name, "no");
        let _ = conf.get_time(&name, "1s", 0, 0);
        let _ = conf.apply_override(&format!("{name}=$x"));
    }
});
