//! Matching a resource URI against a level-1 RFC 6570 template (`test://template/{id}/data`). Must
//! not touch the runtime.

/// Matches a URI against a level-1 RFC 6570 template (`test://template/{id}/data`); each variable
/// matches one or more characters other than `/`.
pub fn match_uri_template(template: &str, uri: &str) -> Option<Vec<(String, String)>> {
    let mut vars = Vec::new();
    let mut rest = uri;
    let mut pattern = template;
    while !pattern.is_empty() {
        match pattern.find('{') {
            None => return (rest == pattern).then_some(vars),
            Some(open) => {
                let literal = &pattern[..open];
                rest = rest.strip_prefix(literal)?;
                let close = pattern[open..].find('}')? + open;
                let name = &pattern[open + 1..close];
                pattern = &pattern[close + 1..];
                // The variable ends where the next literal starts (or at the next '/').
                let next_literal = pattern.split('{').next().unwrap_or("");
                let end = if next_literal.is_empty() {
                    rest.find('/').unwrap_or(rest.len())
                } else {
                    rest.find(next_literal)?
                };
                let value = &rest[..end];
                if value.is_empty() || value.contains('/') {
                    return None;
                }
                vars.push((name.to_owned(), value.to_owned()));
                rest = &rest[end..];
            }
        }
    }
    rest.is_empty().then_some(vars)
}

#[cfg(test)]
mod tests {
    use super::match_uri_template;

    #[test]
    fn uri_templates_match_single_segments() {
        let vars = match_uri_template("test://template/{id}/data", "test://template/123/data").unwrap();
        assert_eq!(vars, vec![("id".to_owned(), "123".to_owned())]);
        assert!(match_uri_template("test://template/{id}/data", "test://template/1/2/data").is_none());
        assert!(match_uri_template("test://template/{id}/data", "test://template//data").is_none());
        assert!(match_uri_template("test://template/{id}/data", "test://other/1/data").is_none());
        let vars = match_uri_template("a://{x}/{y}", "a://1/2").unwrap();
        assert_eq!(vars.len(), 2);
        assert_eq!(match_uri_template("a://static", "a://static"), Some(vec![]));
    }
}
