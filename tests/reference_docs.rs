//! The reference pages in `docs/reference/` are generated from `template.yaml` (and
//! `stackset.yaml`) and from the CLI's own `--help`; these tests fail when a page and its
//! source drift apart. Regenerate both pages with
//! `UPDATE_REFERENCE=1 cargo test --test reference_docs`.

mod support;

use std::path::PathBuf;

use support::process::command;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Compares a generated page with the committed one, or writes it under `UPDATE_REFERENCE`.
fn check_page(path: &str, generated: &str) {
    let file = repo(path);
    if std::env::var_os("UPDATE_REFERENCE").is_some() {
        std::fs::write(&file, generated).expect("write the reference page");
        return;
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "at the end".to_string(),
                |n| format!("at line {}", n + 1),
            );
        panic!(
            "{path} is out of date ({line}): regenerate it with \
             `UPDATE_REFERENCE=1 cargo test --test reference_docs` and commit it"
        );
    }
}

// ---- template.yaml ----

#[derive(Debug, Default)]
struct Parameter {
    name: String,
    props: Vec<(String, String)>,
}

impl Parameter {
    fn prop(&self, key: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The lines of one top-level section (`Parameters:`), without the heading.
fn section<'a>(yaml: &'a str, name: &str) -> Vec<&'a str> {
    yaml.lines()
        .skip_while(|l| *l != format!("{name}:"))
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with(' ') || l.starts_with('#'))
        .collect()
}

/// The template's parameters, in order: each property as written, folded text joined.
fn parameters(yaml: &str) -> Vec<Parameter> {
    let lines = section(yaml, "Parameters");
    let mut out: Vec<Parameter> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        i += 1;
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match indent(line) {
            2 => out.push(Parameter {
                name: trimmed.trim_end_matches(':').to_string(),
                ..Parameter::default()
            }),
            _ if trimmed.starts_with("- ") => {
                // A block list (stackset.yaml writes AllowedValues so): as the inline form.
                let item = trimmed[2..].trim();
                if let Some((_, v)) = out.last_mut().and_then(|p| p.props.last_mut()) {
                    *v = match v.strip_suffix(']') {
                        Some(open) => format!("{open}, {item}]"),
                        None => format!("[{item}]"),
                    };
                }
            }
            4 => {
                let Some((key, value)) = trimmed.split_once(':') else {
                    panic!("not a `key: value` line in Parameters: {line}");
                };
                let mut value = value.trim().to_string();
                if matches!(value.as_str(), ">-" | ">" | "|" | "|-") {
                    let mut text = Vec::new();
                    while i < lines.len() && (indent(lines[i]) > 4 || lines[i].trim().is_empty()) {
                        if !lines[i].trim().is_empty() {
                            text.push(lines[i].trim());
                        }
                        i += 1;
                    }
                    value = text.join(" ");
                } else if !value.is_empty() {
                    // A plain scalar continued on deeper lines.
                    while i < lines.len()
                        && indent(lines[i]) > 4
                        && !lines[i].trim().starts_with("- ")
                    {
                        value.push(' ');
                        value.push_str(lines[i].trim());
                        i += 1;
                    }
                }
                if let Some(p) = out.last_mut() {
                    p.props.push((key.to_string(), unquote(&value)));
                }
            }
            _ => {}
        }
    }
    out
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2
        && (v.starts_with('"') && v.ends_with('"') || v.starts_with('\'') && v.ends_with('\''))
    {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// `AWS::CloudFormation::Interface` groups: label and parameter names, in order.
fn groups(yaml: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut label = None;
    for line in yaml.lines().take_while(|l| *l != "Parameters:") {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("- Label: {default: ") {
            label = Some(rest.trim_end_matches('}').trim().to_string());
        } else if let (Some(l), Some(list)) = (&label, t.strip_prefix("Parameters: [")) {
            let names = list
                .trim_end_matches(']')
                .split(',')
                .map(|s| s.trim().to_string())
                .collect();
            out.push((l.clone(), names));
            label = None;
        }
    }
    out
}

/// Which environment variables each parameter reaches (`VAR: !Ref Param`, also inside `!If`).
fn variables_of(yaml: &str, param: &str) -> Vec<String> {
    let needle = format!("!Ref {param}");
    let mut out = Vec::new();
    let mut in_vars: Option<usize> = None;
    for line in yaml.lines() {
        if line.trim() == "Variables:" {
            in_vars = Some(indent(line));
            continue;
        }
        let Some(depth) = in_vars else { continue };
        if !line.trim().is_empty() && indent(line) <= depth {
            in_vars = None;
            continue;
        }
        let Some((var, value)) = line.trim().split_once(':') else {
            continue;
        };
        let mentions = value.match_indices(&needle).any(|(at, _)| {
            value[at + needle.len()..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_ascii_alphanumeric())
        });
        if mentions
            && var
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            out.push(format!("`{var}`"));
        }
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn row(yaml: &str, p: &Parameter) -> String {
    let default = match p.prop("Default") {
        None => "(required)".to_string(),
        Some("") => "(empty)".to_string(),
        Some(d) => format!("`{d}`"),
    };
    let allowed = match (
        p.prop("AllowedValues"),
        p.prop("MinValue"),
        p.prop("MaxValue"),
    ) {
        (Some(list), _, _) => list
            .trim_matches(['[', ']'])
            .split(',')
            .map(|v| format!("`{}`", unquote(v)))
            .collect::<Vec<_>>()
            .join(", "),
        (None, Some(min), Some(max)) => format!("{min}–{max}"),
        (None, Some(min), None) => format!("≥ {min}"),
        (None, None, Some(max)) => format!("≤ {max}"),
        (None, None, None) => String::new(),
    };
    let vars = variables_of(yaml, &p.name).join(", ");
    format!(
        "| `{}` | {} | {} | {} | {} |\n",
        p.name,
        default,
        cell(&allowed),
        vars,
        cell(p.prop("Description").unwrap_or(""))
    )
}

const TABLE_HEAD: &str =
    "| parameter | default | allowed | sets | description |\n|---|---|---|---|---|\n";

fn template_reference() -> String {
    let template = std::fs::read_to_string(repo("template.yaml")).expect("template.yaml");
    let stackset = std::fs::read_to_string(repo("stackset.yaml")).expect("stackset.yaml");
    let params = parameters(&template);
    let mut out = String::from(
        "# Template parameters (generated)\n\n\
         Generated from `template.yaml` by `tests/reference_docs.rs`, which fails when this page\n\
         drifts: do not edit by hand, run `UPDATE_REFERENCE=1 cargo test --test reference_docs`.\n\
         \"sets\" is the function's environment variable each parameter becomes\n\
         ([configuration](../configuration.md)); parameters without one shape the stack itself.\n\
         Grouped as `sam deploy --guided` and the console ask for them.\n",
    );
    let mut listed = Vec::new();
    for (label, names) in groups(&template) {
        out.push_str(&format!("\n## {label}\n\n{TABLE_HEAD}"));
        for name in names {
            if let Some(p) = params.iter().find(|p| p.name == name) {
                out.push_str(&row(&template, p));
                listed.push(name);
            }
        }
    }
    let rest: Vec<&Parameter> = params
        .iter()
        .filter(|p| !listed.contains(&p.name))
        .collect();
    if !rest.is_empty() {
        out.push_str(&format!("\n## Other\n\n{TABLE_HEAD}"));
        for p in rest {
            out.push_str(&row(&template, p));
        }
    }
    let only_stackset: Vec<Parameter> = parameters(&stackset)
        .into_iter()
        .filter(|p| !params.iter().any(|t| t.name == p.name))
        .collect();
    if !only_stackset.is_empty() {
        out.push_str(&format!(
            "\n## `stackset.yaml` only\n\nThe stack set template has every parameter above and these.\n\n{TABLE_HEAD}"
        ));
        for p in &only_stackset {
            out.push_str(&row(&stackset, p));
        }
    }
    out
}

#[test]
fn the_template_parameter_reference_matches_template_yaml() {
    let page = template_reference();
    let template = std::fs::read_to_string(repo("template.yaml")).expect("template.yaml");
    for p in parameters(&template) {
        assert!(
            page.contains(&format!("| `{}` |", p.name)),
            "{} missing",
            p.name
        );
    }
    check_page("docs/reference/template-parameters.md", &page);
}

// ---- the CLI ----

fn help(args: &[&str]) -> String {
    let out = command(&[])
        .args(args)
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(out.status.success(), "{args:?} --help failed");
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// The subcommands a help text lists (`Commands:`), without `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| indent(l) == 2)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|name| name != "help")
        .collect()
}

fn cli_reference() -> String {
    let mut out = String::from(
        "# CLI reference (generated)\n\n\
         Every command's `--help`, generated by `tests/reference_docs.rs`, which fails when this\n\
         page drifts from the binary: do not edit by hand, run\n\
         `UPDATE_REFERENCE=1 cargo test --test reference_docs`. The guide is [../cli.md](../cli.md).\n",
    );
    let mut queue: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = queue.first().cloned() {
        queue.remove(0);
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        let title = std::iter::once("guardduty-forwarder")
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        out.push_str(&format!(
            "\n## `{title}`\n\n```text\n{}\n```\n",
            text.trim_end()
        ));
        for sub in subcommands(&text) {
            let mut next = path.clone();
            next.push(sub);
            queue.push(next);
        }
    }
    out
}

#[test]
fn the_cli_reference_matches_every_commands_help() {
    let page = cli_reference();
    assert!(page.contains("## `guardduty-forwarder forward`"), "{page}");
    check_page("docs/reference/cli.md", &page);
}

#[test]
fn every_commands_help_ends_with_examples_and_exit_codes() {
    let mut queue: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = queue.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        assert!(text.contains("\nExit codes:\n"), "{args:?}:\n{text}");
        assert!(
            text.contains("  2  bad configuration or arguments"),
            "{args:?}"
        );
        if !args.is_empty() && subcommands(&text).is_empty() {
            assert!(
                text.contains("\nExamples:\n"),
                "{args:?} has no examples:\n{text}"
            );
        }
        for sub in subcommands(&text) {
            let mut next = path.clone();
            next.push(sub);
            queue.push(next);
        }
    }
}
