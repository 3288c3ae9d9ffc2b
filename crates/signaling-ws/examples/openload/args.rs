//! `--key value` arguments, parsed by hand (this example has no argument parser).

use std::collections::BTreeMap;
use std::str::FromStr;

/// The `--key value` pairs after the subcommand.
#[derive(Debug, Default)]
pub(crate) struct Args(BTreeMap<String, String>);

impl Args {
    pub(crate) fn parse(words: &[String]) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        let mut it = words.iter();
        while let Some(word) = it.next() {
            let key = word
                .strip_prefix("--")
                .ok_or_else(|| format!("expected --key, got `{word}`"))?;
            let value = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
            map.insert(key.to_owned(), value.clone());
        }
        Ok(Self(map))
    }

    /// `--key`'s value, or `default`.
    pub(crate) fn get<T: FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        Ok(self.opt(key)?.unwrap_or(default))
    }

    /// `--key`'s value, if given.
    pub(crate) fn opt<T: FromStr>(&self, key: &str) -> Result<Option<T>, String> {
        self.0
            .get(key)
            .map(|v| v.parse().map_err(|_| format!("--{key}: bad value `{v}`")))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_defaults_and_errors() {
        let words: Vec<String> = ["--clients", "10", "--url", "ws://x/ws"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let a = Args::parse(&words).unwrap();
        assert_eq!(a.get("clients", 0usize).unwrap(), 10);
        assert_eq!(a.get("rate", 1.5f64).unwrap(), 1.5);
        assert_eq!(
            a.opt::<String>("url").unwrap().as_deref(),
            Some("ws://x/ws")
        );
        assert!(a.get("url", 0u32).is_err());
        assert!(Args::parse(&["clients".to_owned()]).is_err());
        assert!(Args::parse(&["--clients".to_owned()]).is_err());
    }
}
