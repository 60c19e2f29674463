//! Config text through the loader and validator: `clawtalk.json` and `openclaw.json` (JSON5)
//! and `channels.yaml`, chosen by the first byte. Every outcome must be a config or a list of
//! errors (never a panic, a hang or a stack overflow), and both must be printable.

#![no_main]

use clawtalk_config::{Config, ConfigFormat};
use libfuzzer_sys::fuzz_target;

/// A fixed environment, so runs are reproducible and `${VAR}` references resolve.
fn env(name: &str) -> Option<String> {
    match name {
        "HOME" => Some("/nonexistent-fuzz-home".to_owned()),
        "FUZZ_VAR" => Some("fuzz-value".to_owned()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = match selector % 3 {
        0 => ConfigFormat::Clawtalk,
        1 => ConfigFormat::OpenClaw,
        _ => ConfigFormat::ChannelsYaml,
    };
    match Config::from_text(text, format, &env) {
        Ok(loaded) => {
            let _ = loaded.config.default_agent();
            for warning in &loaded.warnings {
                let _ = warning.to_string();
            }
        }
        Err(errors) => {
            let _ = errors.to_string();
        }
    }
});
