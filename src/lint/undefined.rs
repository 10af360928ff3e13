//! Undefined variables: every templated field and template file is checked against the
//! variables of each host class; one finding per use, naming the hosts that lack it.

use super::linter::{HostClass, Linter};
use crate::error::Location;
use crate::playbook::{field_as_template, field_path_string, FieldStep, LoadedTask};
use crate::template::{Dialect, Reference};

pub(super) fn task_what(field: &[FieldStep], task: &LoadedTask) -> String {
    format!(
        "{} of task {:?}",
        field_path_string(field),
        task.task.display_name()
    )
}

impl Linter<'_> {
    pub(super) fn note_undefined(
        &mut self,
        refs: Vec<Reference>,
        locate: &dyn Fn(&Reference) -> Location,
        what: &str,
        class: &HostClass,
        all_hosts: &[String],
    ) {
        for r in refs {
            let at = locate(&r);
            let e = self
                .undefined
                .entry((
                    at.file,
                    at.line,
                    at.column,
                    r.name.clone(),
                    what.to_string(),
                ))
                .or_default();
            e.missing.extend(class.hosts.iter().cloned());
            e.targeted.extend(all_hosts.iter().cloned());
        }
    }

    pub(super) fn finish_undefined(&mut self) {
        let has_inventory = self.has_inventory;
        for ((file, line, column, name, what), u) in std::mem::take(&mut self.undefined) {
            let at = Location::new(file, line, column);
            let hosts = if !has_inventory {
                String::new()
            } else if u.missing == u.targeted {
                " (on every targeted host)".to_string()
            } else {
                let defined: Vec<_> = u.targeted.difference(&u.missing).cloned().collect();
                format!(
                    " (on {}; defined on {})",
                    u.missing.into_iter().collect::<Vec<_>>().join(", "),
                    defined.join(", ")
                )
            };
            let where_ = if has_inventory {
                "the play's vars/defaults/vars_files, a role's defaults, the inventory (group_vars/, host_vars/) or -e/--extra-vars"
            } else {
                "the play's vars/defaults/vars_files, a role's defaults or -e/--extra-vars (inventory variables are checked with --inventory)"
            };
            self.report.error(
                "undefined-variable",
                format!("undefined variable `{name}` in {what}{hosts}"),
                at,
                format!(
                    "define `{name}` in {where_}, or guard it with {{{{#if (isdefined {name})}}}}"
                ),
            );
        }
    }

    pub(super) fn field_undefined(
        &mut self,
        t: &LoadedTask,
        known: &dyn Fn(&str) -> bool,
        class: &HostClass,
        all_hosts: &[String],
    ) {
        for (field, text) in t.task.templated_fields() {
            // `items: NAME` is looked up, not rendered (an inline list's elements are).
            if field.len() == 2
                && field.first() == Some(&FieldStep::Key("with"))
                && field.get(1) == Some(&FieldStep::Key("items"))
            {
                continue;
            }
            if !text.contains("{{")
                && !matches!(
                    field.last(),
                    Some(FieldStep::Key("condition" | "failed_when" | "changed_when"))
                )
            {
                continue;
            }
            let result_field = matches!(
                field.first(),
                Some(FieldStep::Key("failed_when" | "changed_when"))
            );
            let known2 = |n: &str| known(n) || (result_field && (n == "rc" || n == "out"));
            let template = field_as_template(&field, text);
            let exact = matches!(template, std::borrow::Cow::Borrowed(_));
            let refs = match self.field_refs(&template) {
                Some(r) => {
                    crate::prepare::filter_undefined(&r, Dialect::Handlebars, &template, &known2)
                }
                None => continue,
            };
            if refs.is_empty() {
                continue;
            }
            let what = task_what(&field, t);
            let f2 = field.clone();
            let tpl = template.to_string();
            self.note_undefined(
                refs,
                &|r| {
                    if exact {
                        t.field_location(
                            &f2,
                            Some((&tpl, crate::policy::byte_offset(&tpl, r.line, r.column))),
                        )
                    } else {
                        t.field_location(&f2, None)
                    }
                },
                &what,
                class,
                all_hosts,
            );
        }
    }
}
