//! MITRE ATT&CK tactics and techniques of a finding, only where GuardDuty states them: an
//! attack sequence's indicators (or, in findings that carry no indicators, the tactics and
//! techniques its description lists), else the tactic the finding type's threat purpose
//! names (`Backdoor:EC2/…` → Command and Control). Purposes without a tactic (`Policy`,
//! `Behavior`, `PenTest`, …) give none.

use std::borrow::Cow;

use serde_json::Value;

use super::model::{Attack, Tactic};
use crate::normalize::{get, path, text};

/// ATT&CK Enterprise tactics, by name.
const TACTICS: &[(&str, &str)] = &[
    ("Reconnaissance", "TA0043"),
    ("Resource Development", "TA0042"),
    ("Initial Access", "TA0001"),
    ("Execution", "TA0002"),
    ("Persistence", "TA0003"),
    ("Privilege Escalation", "TA0004"),
    ("Defense Evasion", "TA0005"),
    ("Credential Access", "TA0006"),
    ("Discovery", "TA0007"),
    ("Lateral Movement", "TA0008"),
    ("Collection", "TA0009"),
    ("Command and Control", "TA0011"),
    ("Exfiltration", "TA0010"),
    ("Impact", "TA0040"),
];

/// GuardDuty threat purposes and the tactic each stands for.
const PURPOSES: &[(&str, &str)] = &[
    ("Backdoor", "Command and Control"),
    ("CredentialAccess", "Credential Access"),
    ("CryptoCurrency", "Impact"),
    ("DefenseEvasion", "Defense Evasion"),
    ("Discovery", "Discovery"),
    ("Execution", "Execution"),
    ("Exfiltration", "Exfiltration"),
    ("Impact", "Impact"),
    ("InitialAccess", "Initial Access"),
    ("Persistence", "Persistence"),
    ("PrivilegeEscalation", "Privilege Escalation"),
    ("Recon", "Discovery"),
    ("Stealth", "Defense Evasion"),
    ("Trojan", "Command and Control"),
    ("UnauthorizedAccess", "Initial Access"),
];

/// The ATT&CK release the tables above follow.
const VERSION: &str = "15";

/// At most this many attacks are listed.
const MAX_ATTACKS: usize = 32;

/// The threat purpose of a finding type: `Backdoor` in `Backdoor:EC2/C&CActivity.B`.
pub fn purpose(finding_type: &str) -> Option<&str> {
    finding_type.split_once(':').map(|(p, _)| p)
}

pub fn attacks<'a>(finding: &'a Value, finding_type: Option<&str>) -> Vec<Attack<'a>> {
    let mut out = sequence_indicators(finding);
    if out.is_empty() {
        out = described(finding);
    }
    if out.is_empty() {
        let tactic = finding_type.and_then(purpose).and_then(|p| {
            PURPOSES
                .iter()
                .find(|(name, _)| *name == p)
                .map(|(_, t)| *t)
        });
        if let Some(t) = tactic.and_then(tactic_named) {
            out.push(attack(Some(t), None));
        }
        // Brute force is the one technique a finding type names outright.
        if finding_type.is_some_and(|t| t.contains("BruteForce")) {
            let technique = Tactic {
                uid: Some(Cow::Borrowed("T1110")),
                name: Some(Cow::Borrowed("Brute Force")),
                ..Default::default()
            };
            out = vec![attack(tactic_named("Credential Access"), Some(technique))];
        }
    }
    out.truncate(MAX_ATTACKS);
    out
}

fn attack<'a>(tactic: Option<Tactic<'a>>, technique: Option<Tactic<'a>>) -> Attack<'a> {
    Attack {
        tactic,
        technique,
        version: Some(VERSION),
        ..Default::default()
    }
}

fn tactic_named(name: &str) -> Option<Tactic<'static>> {
    let name = name.trim();
    TACTICS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(n, uid)| Tactic {
            uid: Some(Cow::Borrowed(*uid)),
            name: Some(Cow::Borrowed(*n)),
            ..Default::default()
        })
}

/// `T1098.003 - Account Manipulation: Additional Cloud Roles`, or a bare id or name.
fn technique(s: &str) -> Option<Tactic<'static>> {
    let s = s.trim();
    let (uid, name) = match s.split_once(" - ") {
        Some((u, n)) => (Some(u.trim()), Some(n.trim())),
        None if is_technique_id(s) => (Some(s), None),
        None => (None, Some(s)),
    };
    let uid = uid.filter(|u| is_technique_id(u));
    let name = name.filter(|n| !n.is_empty());
    (uid.is_some() || name.is_some()).then(|| Tactic {
        uid: uid.map(|u| Cow::Owned(u.to_owned())),
        name: name.map(|n| Cow::Owned(super::values::clamp(Cow::Borrowed(n)).into_owned())),
        ..Default::default()
    })
}

fn is_technique_id(s: &str) -> bool {
    s.len() >= 5 && s.starts_with('T') && s.bytes().skip(1).all(|b| b.is_ascii_digit() || b == b'.')
}

/// `service.detection.sequence.sequenceIndicators[]` with keys `ATTACK_TACTIC` and
/// `ATTACK_TECHNIQUE`.
fn sequence_indicators(finding: &Value) -> Vec<Attack<'static>> {
    let indicators = path(
        finding,
        &["service", "detection", "sequence", "sequenceIndicators"],
    );
    let mut out = Vec::new();
    for ind in indicators.and_then(Value::as_array).into_iter().flatten() {
        let key = text(get(ind, "key"));
        let values = get(ind, "values").and_then(Value::as_array);
        for v in values.into_iter().flatten().filter_map(Value::as_str) {
            match key.as_deref() {
                Some("ATTACK_TACTIC") => out.extend(tactic_named(v).map(|t| attack(Some(t), None))),
                Some("ATTACK_TECHNIQUE") => out.extend(technique(v).map(|t| attack(None, Some(t)))),
                _ => {}
            }
        }
    }
    out
}

/// The `MITRE ATT&CK tactics observed: …` and `… techniques observed: …` lines of an attack
/// sequence's description.
fn described(finding: &Value) -> Vec<Attack<'static>> {
    let is_sequence = text(get(finding, "type")).is_some_and(|t| t.starts_with("AttackSequence"));
    let desc = text(get(finding, "description"));
    let Some(desc) = desc.filter(|_| is_sequence) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in desc.lines() {
        if let Some((_, list)) = line.split_once("MITRE ATT&CK tactics observed:") {
            out.extend(
                list.split(',')
                    .filter_map(tactic_named)
                    .map(|t| attack(Some(t), None)),
            );
        } else if let Some((_, list)) = line.split_once("MITRE ATT&CK techniques observed:") {
            out.extend(
                split_techniques(list)
                    .iter()
                    .filter_map(|t| technique(t))
                    .map(|t| attack(None, Some(t))),
            );
        }
    }
    out
}

/// Splits `T1 - A, T2 - B: C, D` at the commas that start a new technique id.
fn split_techniques(list: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in list.split(',') {
        match out.last_mut() {
            Some(last) if !is_technique_id(part.trim().split(' ').next().unwrap_or_default()) => {
                last.push(',');
                last.push_str(part);
            }
            _ => out.push(part.to_owned()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn uids(attacks: &[Attack<'_>]) -> Vec<String> {
        attacks
            .iter()
            .map(|a| {
                let t = a.tactic.as_ref().or(a.technique.as_ref());
                t.and_then(|t| t.uid.as_deref()).unwrap_or("-").to_owned()
            })
            .collect()
    }

    #[test]
    fn a_threat_purpose_maps_to_its_tactic() {
        let cases = [
            ("Backdoor:EC2/C&CActivity.B", vec!["TA0011"]),
            ("Stealth:IAMUser/CloudTrailLoggingDisabled", vec!["TA0005"]),
            ("UnauthorizedAccess:EC2/RDPBruteForce", vec!["TA0006"]),
            ("Policy:IAMUser/RootCredentialUsage", vec![]),
            ("nonsense", vec![]),
        ];
        for (t, want) in cases {
            let f = json!({"type": t});
            assert_eq!(uids(&attacks(&f, Some(t))), want, "{t}");
        }
    }

    #[test]
    fn an_attack_sequence_lists_the_tactics_and_techniques_it_states() {
        let t = "AttackSequence:IAM/CompromisedCredentials";
        let f = json!({"type": t, "description": "x\n  - 2 MITRE ATT&CK tactics observed: Persistence, Defense Evasion\n  - 2 MITRE ATT&CK techniques observed: T1562.008 - Impair Defenses: Disable or Modify Cloud Logs, T1098 - Account Manipulation\n"});
        assert_eq!(
            uids(&attacks(&f, Some(t))),
            ["TA0003", "TA0005", "T1562.008", "T1098"]
        );
        let f = json!({"type": t, "service": {"detection": {"sequence": {"sequenceIndicators": [
            {"key": "ATTACK_TACTIC", "values": ["Impact"]},
            {"key": "ATTACK_TECHNIQUE", "values": ["T1485 - Data Destruction", 7]}]}}}});
        assert_eq!(uids(&attacks(&f, Some(t))), ["TA0040", "T1485"]);
    }
}
