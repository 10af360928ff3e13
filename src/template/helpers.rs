//! The Handlebars helpers jetlike defines — Jet's string helpers, `isdefined` and the Clace
//! `secret` form — and the registry both of the engine's Handlebars instances start from.

use handlebars::{
    handlebars_helper, Context, Handlebars, Helper, HelperDef, RenderContext, RenderError,
    RenderErrorReason, ScopedJson,
};
use serde_json::Value;

handlebars_helper!(to_lower_case: |s: str| s.to_lowercase());
handlebars_helper!(to_upper_case: |s: str| s.to_uppercase());
handlebars_helper!(trim: |s: str| s.trim());
handlebars_helper!(trim_start: |s: str| s.trim_start());
handlebars_helper!(trim_end: |s: str| s.trim_end());
handlebars_helper!(contains: |s: str, p: str| s.contains(p));
handlebars_helper!(starts_with: |s: str, p: str| s.starts_with(p));
handlebars_helper!(ends_with: |s: str, p: str| s.ends_with(p));

/// `(isdefined name)`, as Jet defines it: false when its argument is missing (an undefined
/// variable), true otherwise — even when the value is null or false. The argument is a value,
/// not a name: `(isdefined "name")` is a string literal and so always true, in Jet and here
/// (`jetlike lint` warns about that form, see `isdefined-quoted`).
struct IsDefined;

impl HelperDef for IsDefined {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        if h.params().len() != 1 {
            return Err(RenderErrorReason::Other("isdefined takes one argument".into()).into());
        }
        let defined = h.param(0).is_some_and(|p| !p.is_value_missing());
        Ok(ScopedJson::Derived(Value::Bool(defined)))
    }
}

pub(super) fn registry() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.register_helper("to_lower_case", Box::new(to_lower_case));
    hb.register_helper("to_upper_case", Box::new(to_upper_case));
    hb.register_helper("trim", Box::new(trim));
    hb.register_helper("trim_start", Box::new(trim_start));
    hb.register_helper("trim_end", Box::new(trim_end));
    hb.register_helper("contains", Box::new(contains));
    hb.register_helper("starts_with", Box::new(starts_with));
    hb.register_helper("ends_with", Box::new(ends_with));
    hb.register_helper("isdefined", Box::new(IsDefined));
    hb.register_helper("secret", Box::new(SecretHelper));
    hb
}

/// `{{secret "provider" "key"}}` (the Clace form): the value resolved before the run, which
/// the template-file renderer puts in the render context under
/// [`super::call_name`]. Anywhere else the policy rejects the call before the
/// run; should one slip through, the context holds no such name and rendering fails.
struct SecretHelper;

impl HelperDef for SecretHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let arg = |i| {
            h.param(i)
                .and_then(|p| p.value().as_str())
                .ok_or(RenderErrorReason::ParamNotFoundForIndex("secret", i))
        };
        let name = super::call_name(arg(0)?, arg(1)?);
        match ctx.data().get(&name) {
            Some(Value::String(s)) => Ok(ScopedJson::Derived(Value::String(s.clone()))),
            _ => Err(RenderErrorReason::Other(format!(
                "{name} is not available here: secrets reach template files only"
            ))
            .into()),
        }
    }
}
