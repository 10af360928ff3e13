//! The Jinja2 global functions minijinja's core leaves out: `cycler`, `joiner` and `lipsum`
//! (deterministic here, so a template using it stays idempotent), and the Clace form
//! `secret("provider", "key")`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use minijinja::value::{Kwargs, Object, ObjectRepr, Rest, Value};
use minijinja::{Environment, Error, ErrorKind, State};

#[derive(Debug)]
struct Cycler {
    items: Vec<Value>,
    pos: AtomicUsize,
}

impl Object for Cycler {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        (key.as_str() == Some("current"))
            .then(|| self.items[self.pos.load(Ordering::Relaxed) % self.items.len()].clone())
    }
    fn call_method(
        self: &Arc<Self>,
        _: &State<'_, '_>,
        method: &str,
        _: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "next" => {
                let i = self.pos.fetch_add(1, Ordering::Relaxed);
                Ok(self.items[i % self.items.len()].clone())
            }
            "reset" => {
                self.pos.store(0, Ordering::Relaxed);
                Ok(Value::from(()))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

#[derive(Debug)]
struct Joiner {
    sep: String,
    used: AtomicBool,
}

impl Object for Joiner {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn call(self: &Arc<Self>, _: &State<'_, '_>, _: &[Value]) -> Result<Value, Error> {
        Ok(Value::from(if self.used.swap(true, Ordering::Relaxed) {
            self.sep.as_str()
        } else {
            ""
        }))
    }
}

const LOREM: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "ex",
    "ea",
    "commodo",
    "consequat",
];

fn lipsum(
    n: Option<usize>,
    html: Option<bool>,
    min: Option<usize>,
    max: Option<usize>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let n = kwargs
        .get::<Option<usize>>("n")?
        .or(n)
        .unwrap_or(5)
        .min(100);
    let html = kwargs.get::<Option<bool>>("html")?.or(html).unwrap_or(true);
    let min = kwargs.get::<Option<usize>>("min")?.or(min).unwrap_or(20);
    let max = kwargs.get::<Option<usize>>("max")?.or(max).unwrap_or(100);
    kwargs.assert_all_used()?;
    let words = usize::midpoint(min.max(1), max.max(min.max(1)));
    let mut paragraphs = vec![];
    for p in 0..n {
        let mut text: Vec<String> = (0..words)
            .map(|i| LOREM[(p * 7 + i) % LOREM.len()].to_string())
            .collect();
        if let Some(first) = text.first_mut() {
            first[..1].make_ascii_uppercase();
        }
        let mut s = text.join(" ");
        s.push('.');
        paragraphs.push(if html { format!("<p>{s}</p>") } else { s });
    }
    Ok(paragraphs.join("\n\n"))
}

pub fn register(env: &mut Environment<'static>) {
    // `{{ secret("provider", "key") }}`: see the Handlebars `SecretHelper`.
    env.add_function(
        "secret",
        |state: &State<'_, '_>, provider: String, key: String| -> Result<Value, Error> {
            let name = super::call_name(&provider, &key);
            match state.lookup(&name) {
                Some(v) if !v.is_undefined() => Ok(v),
                _ => Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("{name} is not available here: secrets reach template files only"),
                )),
            }
        },
    );
    env.add_function("cycler", |items: Rest<Value>| {
        if items.0.is_empty() {
            return Err(Error::new(
                ErrorKind::MissingArgument,
                "cycler() needs at least one item",
            ));
        }
        Ok(Value::from_object(Cycler {
            items: items.0,
            pos: AtomicUsize::new(0),
        }))
    });
    env.add_function("joiner", |sep: Option<String>| {
        Value::from_object(Joiner {
            sep: sep.unwrap_or_else(|| ", ".to_string()),
            used: AtomicBool::new(false),
        })
    });
    env.add_function("lipsum", lipsum);
}
