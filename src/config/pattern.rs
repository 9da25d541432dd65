//! Topic patterns: which routing keys an action (`worker.actions[].match`)
//! applies to. Pure code, used by the config's validation and the actions.

/// A topic-exchange style routing-key pattern: words separated by `.`, `*`
/// matches one word, `#` zero or more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern(Vec<String>);

impl Pattern {
    /// Parses `salesforce.Account`, `stripe.invoice.*`, `#`.
    pub(crate) fn parse(p: &str) -> Option<Pattern> {
        if p.is_empty() || p.split('.').any(str::is_empty) {
            return None;
        }
        Some(Pattern(p.split('.').map(str::to_owned).collect()))
    }

    /// Whether `routing_key` matches.
    pub(crate) fn matches(&self, routing_key: &str) -> bool {
        let words: Vec<&str> = routing_key.split('.').collect();
        fn go(p: &[String], w: &[&str]) -> bool {
            match p.split_first() {
                None => w.is_empty(),
                Some((h, rest)) if h == "#" => (0..=w.len()).any(|i| go(rest, &w[i..])),
                Some((h, rest)) => match w.split_first() {
                    Some((first, wrest)) if h == "*" || h == first => go(rest, wrest),
                    _ => false,
                },
            }
        }
        go(&self.0, &words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns() {
        let p = |s| Pattern::parse(s).unwrap();
        assert!(p("salesforce.Account").matches("salesforce.Account"));
        assert!(!p("salesforce.Account").matches("salesforce.Contact"));
        assert!(p("stripe.invoice.*").matches("stripe.invoice.paid"));
        assert!(!p("stripe.invoice.*").matches("stripe.invoice"));
        assert!(!p("stripe.invoice.*").matches("stripe.invoice.a.b"));
        assert!(p("stripe.#").matches("stripe"));
        assert!(p("stripe.#").matches("stripe.a.b.c"));
        assert!(p("#").matches("anything.at.all"));
        assert!(p("*.push").matches("github.push"));
        assert!(Pattern::parse("a..b").is_none());
    }
}
