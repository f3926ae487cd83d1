//! MLflow's search filter, the subset runlog serve understands:
//! clauses joined by `AND`, each `<entity>.<key> <op> <value>` where entity is
//! `attributes` (run_id, run_name, status, start_time, end_time), `tags`,
//! `params` or `metrics`; keys may be quoted with backticks or double quotes;
//! ops are `=`, `!=`, `<`, `<=`, `>`, `>=`, `LIKE`, `ILIKE`; values are
//! 'single-quoted' strings or numbers. Anything else is refused with a clear
//! message rather than silently ignored.

use super::db::Run;
use super::error::{ApiError, ApiResult};

/// What a clause looks at.
#[derive(Debug, Clone, PartialEq)]
enum Entity {
    Attr(String),
    Tag(String),
    Param(String),
    Metric(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
}

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Num(f64),
}

/// One comparison.
#[derive(Debug, Clone, PartialEq)]
struct Clause {
    entity: Entity,
    op: Op,
    value: Lit,
}

/// A parsed filter: every clause must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    clauses: Vec<Clause>,
}

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn skip_ws(&mut self) {
        while self.s[self.pos..].starts_with(|c: char| c.is_whitespace()) {
            self.pos += self.s[self.pos..].chars().next().map_or(1, char::len_utf8);
        }
    }

    fn done(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.s.len()
    }

    fn err(&self, what: &str) -> ApiError {
        ApiError::invalid(format!(
            "invalid filter {:?} at offset {}: {what}",
            self.s, self.pos
        ))
    }

    /// A quoted string with `q` as the quote; doubled quotes or backslash escape it.
    fn quoted(&mut self, q: char) -> ApiResult<String> {
        let mut out = String::new();
        let mut it = self.s[self.pos + 1..].char_indices();
        while let Some((i, c)) = it.next() {
            if c == '\\' {
                if let Some((_, n)) = it.next() {
                    out.push(n);
                }
            } else if c == q {
                self.pos += 1 + i + 1;
                return Ok(out);
            } else {
                out.push(c);
            }
        }
        Err(self.err("unterminated quote"))
    }

    fn word(&mut self) -> &'a str {
        let rest = &self.s[self.pos..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | ':')))
            .unwrap_or(rest.len());
        self.pos += end;
        &rest[..end]
    }

    fn identifier(&mut self) -> ApiResult<Entity> {
        self.skip_ws();
        let rest = &self.s[self.pos..];
        let dot = rest
            .find('.')
            .ok_or_else(|| self.err("expected <entity>.<key>, e.g. tags.name"))?;
        let entity = rest[..dot].trim().to_ascii_lowercase();
        self.pos += dot + 1;
        let key = match self.s[self.pos..].chars().next() {
            Some(q @ ('`' | '"')) => self.quoted(q)?,
            _ => {
                let w = self.word();
                if w.is_empty() {
                    return Err(self.err("missing key after the entity"));
                }
                w.to_string()
            }
        };
        Ok(match entity.as_str() {
            "attributes" | "attribute" | "attr" | "run" => Entity::Attr(key),
            "tags" | "tag" => Entity::Tag(key),
            "params" | "param" | "parameter" | "parameters" => Entity::Param(key),
            "metrics" | "metric" => Entity::Metric(key),
            other => return Err(self.err(&format!("unknown entity {other:?}"))),
        })
    }

    fn op(&mut self) -> ApiResult<Op> {
        self.skip_ws();
        let rest = &self.s[self.pos..];
        for (t, op) in [
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if rest.starts_with(t) {
                self.pos += t.len();
                return Ok(op);
            }
        }
        let w = self.word().to_ascii_uppercase();
        match w.as_str() {
            "LIKE" => Ok(Op::Like),
            "ILIKE" => Ok(Op::ILike),
            _ => Err(self.err("expected a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE)")),
        }
    }

    fn value(&mut self) -> ApiResult<Lit> {
        self.skip_ws();
        match self.s[self.pos..].chars().next() {
            Some(q @ ('\'' | '"')) => Ok(Lit::Str(self.quoted(q)?)),
            _ => {
                let w = self.word();
                w.parse::<f64>()
                    .map(Lit::Num)
                    .map_err(|_| self.err("expected a 'quoted string' or a number"))
            }
        }
    }

    fn and(&mut self) -> ApiResult<()> {
        self.skip_ws();
        let w = self.word();
        if w.eq_ignore_ascii_case("and") {
            Ok(())
        } else {
            Err(self.err("expected AND between clauses (OR is not supported)"))
        }
    }
}

impl Filter {
    /// Parses an MLflow filter string; empty means "every run".
    pub fn parse(s: &str) -> ApiResult<Self> {
        let mut lx = Lexer { s, pos: 0 };
        let mut clauses = Vec::new();
        while !lx.done() {
            if !clauses.is_empty() {
                lx.and()?;
            }
            let entity = lx.identifier()?;
            let op = lx.op()?;
            let value = lx.value()?;
            if let Entity::Attr(a) = &entity {
                if !matches!(
                    a.as_str(),
                    "run_id" | "run_name" | "status" | "start_time" | "end_time" | "experiment_id"
                ) {
                    return Err(lx.err(&format!("unknown attribute {a:?}")));
                }
            }
            clauses.push(Clause { entity, op, value });
        }
        Ok(Self { clauses })
    }

    /// Whether `run` satisfies every clause.
    pub fn matches(&self, run: &Run) -> bool {
        self.clauses.iter().all(|c| c.matches(run))
    }
}

fn like(pattern: &str, s: &str, fold: bool) -> bool {
    // SQL LIKE: % any run, _ one char.
    let (p, s): (Vec<char>, Vec<char>) = if fold {
        (
            pattern.to_lowercase().chars().collect(),
            s.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), s.chars().collect())
    };
    fn go(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('%') => (0..=s.len()).any(|i| go(&p[1..], &s[i..])),
            Some('_') => !s.is_empty() && go(&p[1..], &s[1..]),
            Some(c) => s.first() == Some(c) && go(&p[1..], &s[1..]),
        }
    }
    go(&p, &s)
}

impl Clause {
    fn matches(&self, run: &Run) -> bool {
        let num = |v: f64| match self.value {
            Lit::Num(x) => cmp_num(self.op, v, x),
            Lit::Str(ref s) => s.parse::<f64>().is_ok_and(|x| cmp_num(self.op, v, x)),
        };
        let text = |v: &str| match &self.value {
            Lit::Str(s) => cmp_str(self.op, v, s),
            Lit::Num(_) => false,
        };
        match &self.entity {
            Entity::Metric(k) => run
                .data
                .metrics
                .iter()
                .find(|m| m.key == *k)
                .is_some_and(|m| num(m.value.as_f64())),
            Entity::Tag(k) => run.tag(k).is_some_and(text),
            Entity::Param(k) => run
                .data
                .params
                .iter()
                .find(|(p, _)| p == k)
                .is_some_and(|(_, v)| text(v)),
            Entity::Attr(a) => match a.as_str() {
                "run_id" => text(&run.row.run_id),
                "run_name" => text(run.name()),
                "status" => text(&run.row.status),
                "experiment_id" => text(&run.row.experiment_id.to_string()),
                "start_time" => num(run.row.start_ms as f64),
                "end_time" => run.row.end_ms.is_some_and(|e| num(e as f64)),
                _ => false,
            },
        }
    }
}

fn cmp_num(op: Op, a: f64, b: f64) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        Op::Like | Op::ILike => false,
    }
}

fn cmp_str(op: Op, a: &str, b: &str) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        Op::Like => like(b, a, false),
        Op::ILike => like(b, a, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mlflow_filters() {
        let f = Filter::parse("tags.`runlog.run_id` = 'abc' and attributes.status != 'FAILED'")
            .unwrap();
        assert_eq!(f.clauses.len(), 2);
        assert_eq!(f.clauses[0].entity, Entity::Tag("runlog.run_id".into()));
        assert_eq!(f.clauses[1].op, Op::Ne);
        let f = Filter::parse("metrics.loss < 0.5").unwrap();
        assert_eq!(f.clauses[0].value, Lit::Num(0.5));
        assert!(Filter::parse("").unwrap().clauses.is_empty());
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for bad in [
            "tags.a = 'x' OR tags.b = 'y'",
            "foo.bar = 'x'",
            "attributes.nonsense = 'x'",
            "tags.a = 'unterminated",
            "tags.a ~ 'x'",
        ] {
            let e = Filter::parse(bad).unwrap_err();
            assert_eq!(e.code, "INVALID_PARAMETER_VALUE", "{bad}");
        }
    }

    #[test]
    fn like_matches_sql_patterns() {
        assert!(like("tr%n", "train", false));
        assert!(like("t_ain", "train", false));
        assert!(!like("T%", "train", false));
        assert!(like("T%", "train", true));
    }
}
