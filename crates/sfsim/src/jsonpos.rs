//! Where each field value of a collections body sits in the request text,
//! so a type error can be reported at `[line:L, column:C]` like
//! Salesforce's JSON parser does.
//!
//! Convention (observed in Salesforce's `JSON_PARSER_ERROR` messages, which
//! come from a Jackson parser: `... at [line:1, column:N]`): lines and
//! columns count from 1, in characters, and the position is the parser's
//! current location, i.e. the character just past the offending value
//! token. Only called on bodies that already parsed as JSON.

/// A field value of `records[record]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Span {
    pub record: usize,
    pub key: String,
    /// Line and column of the character just past the value.
    pub line: usize,
    pub column: usize,
}

/// The spans of every field value of every record, in document order.
pub(super) fn record_fields(text: &str) -> Vec<Span> {
    let mut s = Scanner {
        chars: text.chars().collect(),
        i: 0,
        out: Vec::new(),
    };
    s.top();
    s.out
}

struct Scanner {
    chars: Vec<char>,
    i: usize,
    out: Vec<Span>,
}

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn string(&mut self) -> String {
        let mut out = String::new();
        if !self.eat('"') {
            return out;
        }
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                '"' => break,
                '\\' => {
                    if let Some(e) = self.peek() {
                        self.i += if e == 'u' { 5 } else { 1 };
                        out.push(e);
                    }
                }
                c => out.push(c),
            }
        }
        out
    }

    fn skip_value(&mut self) {
        self.ws();
        match self.peek() {
            Some('"') => {
                self.string();
            }
            Some('{') => {
                self.i += 1;
                while !self.eat('}') && self.peek().is_some() {
                    self.string();
                    self.eat(':');
                    self.skip_value();
                    self.eat(',');
                }
            }
            Some('[') => {
                self.i += 1;
                while !self.eat(']') && self.peek().is_some() {
                    self.skip_value();
                    self.eat(',');
                }
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, ',' | '}' | ']') && !c.is_whitespace())
                {
                    self.i += 1;
                }
            }
        }
    }

    fn top(&mut self) {
        if !self.eat('{') {
            return;
        }
        while !self.eat('}') && self.peek().is_some() {
            let key = self.string();
            self.eat(':');
            self.ws();
            if key == "records" && self.peek() == Some('[') {
                self.records();
            } else {
                self.skip_value();
            }
            self.eat(',');
        }
    }

    fn records(&mut self) {
        self.i += 1;
        let mut record = 0;
        while !self.eat(']') && self.peek().is_some() {
            self.ws();
            if self.peek() == Some('{') {
                self.i += 1;
                while !self.eat('}') && self.peek().is_some() {
                    let key = self.string();
                    self.eat(':');
                    self.skip_value();
                    let (line, column) = self.position();
                    self.out.push(Span {
                        record,
                        key,
                        line,
                        column,
                    });
                    self.eat(',');
                }
            } else {
                self.skip_value();
            }
            record += 1;
            self.eat(',');
        }
    }

    /// 1-based line and column of the current character.
    fn position(&self) -> (usize, usize) {
        let before = &self.chars[..self.i.min(self.chars.len())];
        let line = 1 + before.iter().filter(|&&c| c == '\n').count();
        let start = before.iter().rposition(|&c| c == '\n').map_or(0, |p| p + 1);
        (line, self.i - start + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_point_just_past_each_value() {
        let text = r#"{"allOrNone":false,"records":[{"a":1,"b":"xy"},{"c":{"d":[1,2]},"é":true}]}"#;
        let spans = record_fields(text);
        let keys: Vec<(usize, &str, usize)> = spans
            .iter()
            .map(|s| (s.record, s.key.as_str(), s.column))
            .collect();
        // The value `1` of "a" is at index 35: column 37 (1-based) is the
        // comma just past it.
        assert_eq!(&text[36..37], ",");
        assert_eq!(
            keys,
            vec![(0, "a", 37), (0, "b", 46), (1, "c", 64), (1, "é", 73)]
        );
        let multi = record_fields("{\"records\":[\n{\"a\":\n  5}]}");
        assert_eq!((multi[0].line, multi[0].column), (3, 4));
    }
}
