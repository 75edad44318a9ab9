//! MITRE ATT&CK tactics and techniques of a finding, as AWS classifies them.
//!
//! - An attack sequence lists its own: `service.detection.sequence.sequenceIndicators` with
//!   keys `ATTACK_TACTIC` and `ATTACK_TECHNIQUE` (or, in findings without indicators, the
//!   "MITRE ATT&CK tactics observed: …" and "… techniques observed: …" lines of its
//!   description). Each technique is paired with every observed tactic ATT&CK lists it
//!   under; a tactic with no technique, or a technique with no observed tactic, stands alone.
//! - Any other finding type takes the tactic of the ASFF type AWS gives it in Security Hub
//!   (`attack_table::FINDING_TYPES`, one row per type, citing AWS's class), and the technique
//!   its description names, if any. Resource-consumption, data-exposure, unusual-behaviour
//!   and configuration-check classes name no tactic, and get none.
//! - A type AWS's table does not list takes the one tactic the listed types of its threat
//!   purpose are given (`Recon` → Discovery, `Stealth` → Defense Evasion, `Backdoor` →
//!   Command and Control), and none where they are given different ones (`Trojan`,
//!   `UnauthorizedAccess`) or none (`Policy`).
//!
//! A sub-technique (`T1562.008`) goes in `sub_technique`, its parent in `technique`.

use std::borrow::Cow;

use serde_json::Value;

use super::attack_table::{FINDING_TYPES, SUB_TECHNIQUES, TACTICS, TECHNIQUES};
use super::model::{Attack, Tactic};
use super::values::clamp;
use crate::normalize::{get, path, text};

/// The ATT&CK release the tables follow.
const VERSION: &str = "15";

/// At most this many attacks are listed.
const MAX_ATTACKS: usize = 32;

/// The threat purpose of a finding type: `Backdoor` in `Backdoor:EC2/C&CActivity.B`.
pub fn purpose(finding_type: &str) -> Option<&str> {
    finding_type.split_once(':').map(|(p, _)| p)
}

/// AWS's row for a finding type.
fn row(finding_type: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    FINDING_TYPES
        .binary_search_by(|(t, _, _)| (*t).cmp(finding_type))
        .ok()
        .and_then(|i| FINDING_TYPES.get(i))
}

/// The ASFF type AWS gives a finding type in Security Hub.
pub fn asff_type(finding_type: &str) -> Option<&'static str> {
    row(finding_type).map(|(_, class, _)| *class)
}

/// The ATT&CK tactic (its name in `TACTICS`) an ASFF type names: its category under
/// `TTPs/` (`TTPs/Command and Control/…`, `TTPs/CredentialAccess/…`); where that category is
/// no tactic (`TTPs/AnomalousBehavior/Execution:…`) or absent (`TTPs/Discovery:S3-…`), the
/// classifier's threat purpose when it is a tactic's name; `Effects/Data Exfiltration/…` is
/// Exfiltration. Other classes name none.
pub fn tactic_of_class(class: &str) -> Option<&'static str> {
    let (namespace, rest) = class.split_once('/')?;
    match namespace {
        "Effects" => rest
            .starts_with("Data Exfiltration/")
            .then_some("Exfiltration"),
        "TTPs" => {
            let (first, after) = rest.split_once('/').unwrap_or((rest, ""));
            if let Some((purpose, _)) = first.split_once(':') {
                return tactic_loosely(purpose);
            }
            tactic_loosely(first).or_else(|| {
                let (purpose, _) = after.split_once(':')?;
                tactic_loosely(purpose)
            })
        }
        _ => None,
    }
}

/// A tactic's name, however spaced or cased (`CredentialAccess`, `Defense Evasion`).
fn tactic_loosely(s: &str) -> Option<&'static str> {
    let squash = |x: &str| -> String {
        x.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let want = squash(s);
    TACTICS
        .iter()
        .find(|(name, _)| squash(name) == want)
        .map(|(name, _)| *name)
}

/// The tactic and technique of a finding type, from AWS's table, else from its purpose.
pub fn classify(finding_type: &str) -> (Option<&'static str>, Option<&'static str>) {
    if let Some((_, class, technique)) = row(finding_type) {
        let technique = (!technique.is_empty()).then_some(*technique);
        return (tactic_of_class(class), technique);
    }
    let Some(p) = purpose(finding_type) else {
        return (None, None);
    };
    let mut shared: Option<&'static str> = None;
    let tactics = FINDING_TYPES
        .iter()
        .filter(|(t, _, _)| purpose(t) == Some(p))
        .filter_map(|(_, class, _)| tactic_of_class(class));
    for tactic in tactics {
        match shared {
            None => shared = Some(tactic),
            Some(s) if s == tactic => {}
            Some(_) => return (None, None),
        }
    }
    (shared, None)
}

pub fn attacks<'a>(finding: &'a Value, finding_type: Option<&str>) -> Vec<Attack<'a>> {
    let (mut tactics, mut techniques) = sequence_indicators(finding);
    if tactics.is_empty() && techniques.is_empty() {
        (tactics, techniques) = described(finding);
    }
    let mut out = if tactics.is_empty() && techniques.is_empty() {
        let (tactic, technique) = finding_type.map(classify).unwrap_or_default();
        let technique = technique.and_then(|t| named_technique(t, None));
        let tactic = tactic.and_then(tactic_named);
        if tactic.is_some() || technique.is_some() {
            vec![attack(tactic, technique)]
        } else {
            Vec::new()
        }
    } else {
        paired(&tactics, techniques)
    };
    out.truncate(MAX_ATTACKS);
    out
}

/// A technique and, for a sub-technique, the sub-technique.
type Technique = (Tactic<'static>, Option<Tactic<'static>>);

fn attack<'a>(tactic: Option<Tactic<'a>>, technique: Option<Technique>) -> Attack<'a> {
    let (technique, sub_technique) = technique.map_or((None, None), |(t, s)| (Some(t), s));
    Attack {
        tactic,
        technique,
        sub_technique,
        version: Some(VERSION),
        ..Default::default()
    }
}

/// The ATT&CK tactics a technique is listed under (empty when the table does not know it).
fn tactics_of(technique: &Tactic<'_>) -> &'static [&'static str] {
    let uid = technique.uid.as_deref().unwrap_or_default();
    TECHNIQUES
        .iter()
        .find(|(u, _, _)| *u == uid)
        .map(|(_, _, tactics)| *tactics)
        .unwrap_or_default()
}

/// Each technique with each observed tactic ATT&CK lists it under, in the order the tactics
/// were observed; what pairs with nothing stands alone.
fn paired(tactics: &[&'static str], techniques: Vec<Technique>) -> Vec<Attack<'static>> {
    let mut out = Vec::new();
    let mut used = vec![false; techniques.len()];
    for tactic in tactics {
        let mut any = false;
        for (i, t) in techniques.iter().enumerate() {
            if tactics_of(&t.0).contains(tactic) {
                out.push(attack(tactic_named(tactic), Some(t.clone())));
                used[i] = true;
                any = true;
            }
        }
        if !any {
            out.push(attack(tactic_named(tactic), None));
        }
    }
    for (t, used) in techniques.into_iter().zip(used) {
        if !used {
            out.push(attack(None, Some(t)));
        }
    }
    out
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

/// A technique by id (`T1046`, `T1562.008`) and, when known, the name the source gives it
/// (`Impair Defenses: Disable or Modify Cloud Logs`); names missing from the source come from
/// the tables.
fn named_technique(uid: &str, name: Option<&str>) -> Option<Technique> {
    if !is_technique_id(uid) {
        return None;
    }
    let (parent_uid, is_sub) = match uid.split_once('.') {
        Some((p, _)) => (p, true),
        None => (uid, false),
    };
    let (parent_name, sub_name) = match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) if is_sub => match n.split_once(": ") {
            Some((p, s)) => (Some(p.to_owned()), Some(s.to_owned())),
            None => (None, Some(n.to_owned())),
        },
        Some(n) => (Some(n.to_owned()), None),
        None => (None, None),
    };
    let parent_name = parent_name.or_else(|| {
        TECHNIQUES
            .iter()
            .find(|(u, _, _)| *u == parent_uid)
            .map(|(_, n, _)| (*n).to_owned())
    });
    let sub_name = sub_name.or_else(|| {
        SUB_TECHNIQUES
            .iter()
            .find(|(u, _)| *u == uid)
            .map(|(_, n)| (*n).to_owned())
    });
    let owned = |s: String| Some(Cow::Owned(clamp(Cow::Borrowed(s.as_str())).into_owned()));
    let technique = Tactic {
        uid: Some(Cow::Owned(parent_uid.to_owned())),
        name: parent_name.and_then(owned),
        ..Default::default()
    };
    let sub = is_sub.then(|| Tactic {
        uid: Some(Cow::Owned(uid.to_owned())),
        name: sub_name.and_then(owned),
        ..Default::default()
    });
    Some((technique, sub))
}

/// `T1098.003 - Account Manipulation: Additional Cloud Roles`, or a bare id.
fn technique(s: &str) -> Option<Technique> {
    let s = s.trim();
    match s.split_once(" - ") {
        Some((u, n)) => named_technique(u.trim(), Some(n)),
        None => named_technique(s, None),
    }
}

fn is_technique_id(s: &str) -> bool {
    let (main, sub) = s.split_once('.').unwrap_or((s, "000"));
    let digits = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_digit());
    main.strip_prefix('T').is_some_and(|d| digits(d, 4)) && digits(sub, 3)
}

type Observed = (Vec<&'static str>, Vec<Technique>);

/// `service.detection.sequence.sequenceIndicators[]` with keys `ATTACK_TACTIC` and
/// `ATTACK_TECHNIQUE`.
fn sequence_indicators(finding: &Value) -> Observed {
    let indicators = path(
        finding,
        &["service", "detection", "sequence", "sequenceIndicators"],
    );
    let (mut tactics, mut techniques) = (Vec::new(), Vec::new());
    for ind in indicators.and_then(Value::as_array).into_iter().flatten() {
        let key = text(get(ind, "key"));
        let values = get(ind, "values").and_then(Value::as_array);
        for v in values.into_iter().flatten().filter_map(Value::as_str) {
            match key.as_deref() {
                Some("ATTACK_TACTIC") => tactics.extend(known_tactic(v)),
                Some("ATTACK_TECHNIQUE") => techniques.extend(technique(v)),
                _ => {}
            }
        }
    }
    (tactics, techniques)
}

fn known_tactic(name: &str) -> Option<&'static str> {
    tactic_named(name).and_then(|t| match t.name {
        Some(Cow::Borrowed(n)) => Some(n),
        _ => None,
    })
}

/// The `MITRE ATT&CK tactics observed: …` and `… techniques observed: …` lines of an attack
/// sequence's description.
fn described(finding: &Value) -> Observed {
    let is_sequence = text(get(finding, "type")).is_some_and(|t| t.starts_with("AttackSequence"));
    let desc = text(get(finding, "description"));
    let (mut tactics, mut techniques) = (Vec::new(), Vec::new());
    let Some(desc) = desc.filter(|_| is_sequence) else {
        return (tactics, techniques);
    };
    for line in desc.lines() {
        if let Some((_, list)) = line.split_once("MITRE ATT&CK tactics observed:") {
            tactics.extend(list.split(',').filter_map(known_tactic));
        } else if let Some((_, list)) = line.split_once("MITRE ATT&CK techniques observed:") {
            techniques.extend(split_techniques(list).iter().filter_map(|t| technique(t)));
        }
    }
    (tactics, techniques)
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

    /// `tactic uid / technique uid / sub-technique uid` of each attack.
    fn ids(attacks: &[Attack<'_>]) -> Vec<String> {
        let uid = |t: &Option<Tactic<'_>>| {
            t.as_ref()
                .and_then(|t| t.uid.as_deref())
                .unwrap_or("-")
                .to_owned()
        };
        attacks
            .iter()
            .map(|a| {
                format!(
                    "{}/{}/{}",
                    uid(&a.tactic),
                    uid(&a.technique),
                    uid(&a.sub_technique)
                )
            })
            .collect()
    }

    fn of_type(t: &str) -> Vec<String> {
        ids(&attacks(&json!({"type": t}), Some(t)))
    }

    #[test]
    fn the_table_is_sorted_unique_and_every_class_names_its_own_type() {
        for w in FINDING_TYPES.windows(2) {
            assert!(w[0].0 < w[1].0, "{} before {}", w[0].0, w[1].0);
        }
        // AWS writes the type in the class with `-` for its `/`, except where its table
        // shortens it; those rows are listed here so a typo anywhere else shows.
        let irregular = [
            "CredentialAccess:IAMUser/AnomalousBehavior",
            "CredentialAccess:Kubernetes/AnomalousBehavior.SecretsAccessed",
            "DefenseEvasion:EC2/UnusualDNSResolver",
            "DefenseEvasion:EC2/UnusualDoHActivity",
            "DefenseEvasion:EC2/UnusualDoTActivity",
            "DefenseEvasion:IAMUser/AnomalousBehavior",
            "Discovery:IAMUser/AnomalousBehavior",
            "Discovery:Kubernetes/AnomalousBehavior.PermissionChecked",
            "Discovery:RDS/MaliciousIPCaller",
            "Discovery:RDS/TorIPCaller",
            "Execution:Kubernetes/AnomalousBehavior.ExecInPod",
            "Execution:Kubernetes/AnomalousBehavior.WorkloadDeployed",
            "Exfiltration:IAMUser/AnomalousBehavior",
            "Impact:IAMUser/AnomalousBehavior",
            "InitialAccess:IAMUser/AnomalousBehavior",
            "Persistence:IAMUser/AnomalousBehavior",
            "Persistence:Kubernetes/AnomalousBehavior.WorkloadDeployed!ContainerWithSensitiveMount",
            "PrivilegeEscalation:IAMUser/AnomalousBehavior",
            "PrivilegeEscalation:Kubernetes/AnomalousBehavior.RoleBindingCreated",
            "PrivilegeEscalation:Kubernetes/AnomalousBehavior.RoleCreated",
            "PrivilegeEscalation:Kubernetes/AnomalousBehavior.WorkloadDeployed!PrivilegedContainer",
        ];
        for (t, class, _) in FINDING_TYPES {
            let dashed = t.replacen('/', "-", 1);
            let regular = class.ends_with(&format!("/{dashed}"))
                || class.ends_with(&format!("/{t}"))
                || *class == format!("TTPs/{t}");
            assert!(regular != irregular.contains(t), "{t}: {class}");
        }
    }

    #[test]
    fn every_technique_in_the_table_is_listed_under_the_tactic_aws_gives_its_type() {
        for (t, class, technique) in FINDING_TYPES.iter().filter(|r| !r.2.is_empty()) {
            let (tech, sub) = named_technique(technique, None).expect(technique);
            let tactic = tactic_of_class(class).expect(t);
            assert!(tactics_of(&tech).contains(&tactic), "{t}: {technique}");
            assert!(tech.name.is_some(), "{technique} has no name");
            assert_eq!(sub.is_some(), technique.contains('.'), "{technique}");
            assert!(
                sub.is_none_or(|s| s.name.is_some()),
                "{technique} has no name"
            );
        }
    }

    #[test]
    fn tactics_follow_aws_classes_not_the_first_word_of_the_type() {
        let cases = [
            // Effects/Resource Consumption: no tactic.
            ("UnauthorizedAccess:EC2/TorRelay", vec![]),
            ("UnauthorizedAccess:EC2/TorClient", vec![]),
            // Effects/Data Exfiltration.
            (
                "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
                vec!["TA0010/-/-"],
            ),
            ("Trojan:EC2/DropPoint", vec!["TA0010/-/-"]),
            // TTPs/Command and Control.
            (
                "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom",
                vec!["TA0011/-/-"],
            ),
            (
                "UnauthorizedAccess:IAMUser/TorIPCaller",
                vec!["TA0011/T1090/T1090.003"],
            ),
            ("CryptoCurrency:EC2/BitcoinTool.B", vec!["TA0011/-/-"]),
            // TTPs/Initial Access.
            ("UnauthorizedAccess:EC2/SSHBruteForce", vec!["TA0001/-/-"]),
            ("UnauthorizedAccess:EC2/RDPBruteForce", vec!["TA0001/-/-"]),
            ("Trojan:EC2/DriveBySourceTraffic!DNS", vec!["TA0001/-/-"]),
            // Techniques the description names, under AWS's tactic.
            ("Recon:EC2/Portscan", vec!["TA0007/T1046/-"]),
            (
                "Stealth:IAMUser/CloudTrailLoggingDisabled",
                vec!["TA0005/T1562/T1562.008"],
            ),
            // A class without a category: the purpose when it is a tactic's name.
            ("Discovery:S3/MaliciousIPCaller", vec!["TA0007/-/-"]),
            (
                "Execution:Kubernetes/AnomalousBehavior.ExecInPod",
                vec!["TA0002/T1609/-"],
            ),
            // Classes that name no tactic.
            ("UnauthorizedAccess:IAMUser/MaliciousIPCaller", vec![]),
            ("Policy:IAMUser/RootCredentialUsage", vec![]),
            ("PenTest:S3/KaliLinux", vec![]),
            ("Behavior:EC2/NetworkPortUnusual", vec![]),
            ("Policy:S3/BucketBlockPublicAccessDisabled", vec![]),
            ("nonsense", vec![]),
        ];
        for (t, want) in cases {
            assert_eq!(of_type(t), want, "{t}");
        }
    }

    #[test]
    fn an_unlisted_type_takes_the_tactic_its_purpose_always_has() {
        assert_eq!(of_type("Recon:EC2/SomethingNew"), ["TA0007/-/-"]);
        assert_eq!(of_type("Backdoor:EKS/SomethingNew"), ["TA0011/-/-"]);
        assert_eq!(
            of_type("PrivilegeEscalation:Runtime/SomethingNew"),
            ["TA0004/-/-"]
        );
        assert_eq!(of_type("Policy:S3/SomethingNew"), Vec::<String>::new());
        assert_eq!(of_type("Trojan:EC2/SomethingNew"), Vec::<String>::new());
        assert_eq!(
            of_type("UnauthorizedAccess:EC2/TorIPCaller"),
            Vec::<String>::new()
        );
        assert_eq!(
            of_type("Canary:EC2/Stateless.IntegTest"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn an_attack_sequence_pairs_its_techniques_with_its_tactics() {
        let t = "AttackSequence:IAM/CompromisedCredentials";
        let f = json!({"type": t, "description": "x\n  - 2 MITRE ATT&CK tactics observed: Persistence, Defense Evasion\n  - 3 MITRE ATT&CK techniques observed: T1562.008 - Impair Defenses: Disable or Modify Cloud Logs, T1098 - Account Manipulation, T9999 - Unknown\n"});
        assert_eq!(
            ids(&attacks(&f, Some(t))),
            ["TA0003/T1098/-", "TA0005/T1562/T1562.008", "-/T9999/-"]
        );
        let a = attacks(&f, Some(t));
        assert_eq!(
            a[1].technique.as_ref().unwrap().name.as_deref(),
            Some("Impair Defenses")
        );
        assert_eq!(
            a[1].sub_technique.as_ref().unwrap().name.as_deref(),
            Some("Disable or Modify Cloud Logs")
        );
        let f = json!({"type": t, "service": {"detection": {"sequence": {"sequenceIndicators": [
            {"key": "ATTACK_TACTIC", "values": ["Impact", "Discovery"]},
            {"key": "ATTACK_TECHNIQUE", "values": ["T1485 - Data Destruction", 7]}]}}}});
        assert_eq!(ids(&attacks(&f, Some(t))), ["TA0040/T1485/-", "TA0007/-/-"]);
    }
}
