//! Data for `attack`: AWS's classification of every GuardDuty finding type, and the slice of
//! MITRE ATT&CK Enterprise (release 15) the mapping names.
//!
//! `FINDING_TYPES` is AWS's own table, "Interpreting GuardDuty finding names in AWS Security
//! Hub CSPM" in the GuardDuty user guide
//! (<https://docs.aws.amazon.com/guardduty/latest/ug/securityhub-integration.html#interpreting-findings-in-securityhub>),
//! which gives each finding type its ASFF type (`namespace/category/classifier`): one row per
//! GuardDuty finding type, `(finding type, ASFF type exactly as AWS lists it, technique)`.
//! The ASFF type is the citation; the tactic is read from it (see `attack::tactic_of_class`).
//! Two spellings in AWS's table are corrected: `\!` (a Markdown escape) is `!`, and
//! `Impact:Runtime-SuspiciousDomainRequest.Reputatio` lost its last letter. The technique
//! column is filled only where the type's description in AWS's finding-type reference names
//! the technique (port probes and scans, brute force, disabled logging, DGA domains, process
//! injection, container escape, exec into a pod, crypto mining, Tor) *and* ATT&CK lists that
//! technique under the tactic AWS gives the type, so every attack is a pair ATT&CK agrees with.
//! Rows are sorted by finding type (a test checks), for a binary search.

/// `(GuardDuty finding type, ASFF type, ATT&CK technique or sub-technique id or "")`.
pub const FINDING_TYPES: &[(&str, &str, &str)] = &[
    (
        "AttackSequence:IAM/CompromisedCredentials",
        "TTPs/AttackSequence:IAM/CompromisedCredentials",
        "",
    ),
    (
        "AttackSequence:S3/CompromisedData",
        "TTPs/AttackSequence:S3/CompromisedData",
        "",
    ),
    (
        "Backdoor:EC2/C&CActivity.B",
        "TTPs/Command and Control/Backdoor:EC2-C&CActivity.B",
        "",
    ),
    (
        "Backdoor:EC2/C&CActivity.B!DNS",
        "TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS",
        "",
    ),
    (
        "Backdoor:EC2/DenialOfService.Dns",
        "TTPs/Command and Control/Backdoor:EC2-DenialOfService.Dns",
        "",
    ),
    (
        "Backdoor:EC2/DenialOfService.Tcp",
        "TTPs/Command and Control/Backdoor:EC2-DenialOfService.Tcp",
        "",
    ),
    (
        "Backdoor:EC2/DenialOfService.Udp",
        "TTPs/Command and Control/Backdoor:EC2-DenialOfService.Udp",
        "",
    ),
    (
        "Backdoor:EC2/DenialOfService.UdpOnTcpPorts",
        "TTPs/Command and Control/Backdoor:EC2-DenialOfService.UdpOnTcpPorts",
        "",
    ),
    (
        "Backdoor:EC2/DenialOfService.UnusualProtocol",
        "TTPs/Command and Control/Backdoor:EC2-DenialOfService.UnusualProtocol",
        "",
    ),
    (
        "Backdoor:EC2/Spambot",
        "TTPs/Command and Control/Backdoor:EC2-Spambot",
        "",
    ),
    (
        "Backdoor:Lambda/C&CActivity.B",
        "TTPs/Command and Control/Backdoor:Lambda-C&CActivity.B",
        "",
    ),
    (
        "Backdoor:Runtime/C&CActivity.B",
        "TTPs/Command and Control/Backdoor:Runtime-C&CActivity.B",
        "",
    ),
    (
        "Backdoor:Runtime/C&CActivity.B!DNS",
        "TTPs/Command and Control/Backdoor:Runtime-C&CActivity.B!DNS",
        "",
    ),
    (
        "Behavior:EC2/NetworkPortUnusual",
        "Unusual Behaviors/VM/Behavior:EC2-NetworkPortUnusual",
        "",
    ),
    (
        "Behavior:EC2/TrafficVolumeUnusual",
        "Unusual Behaviors/VM/Behavior:EC2-TrafficVolumeUnusual",
        "",
    ),
    (
        "CredentialAccess:IAMUser/AnomalousBehavior",
        "TTPs/Credential Access/IAMUser-AnomalousBehavior",
        "",
    ),
    (
        "CredentialAccess:Kubernetes/AnomalousBehavior.SecretsAccessed",
        "TTPs/AnomalousBehavior/CredentialAccess:Kubernetes-SecretsAccessed",
        "",
    ),
    (
        "CredentialAccess:Kubernetes/MaliciousIPCaller",
        "TTPs/CredentialAccess/CredentialAccess:Kubernetes-MaliciousIPCaller",
        "",
    ),
    (
        "CredentialAccess:Kubernetes/MaliciousIPCaller.Custom",
        "TTPs/CredentialAccess/CredentialAccess:Kubernetes-MaliciousIPCaller.Custom",
        "",
    ),
    (
        "CredentialAccess:Kubernetes/SuccessfulAnonymousAccess",
        "TTPs/CredentialAccess/CredentialAccess:Kubernetes-SuccessfulAnonymousAccess",
        "",
    ),
    (
        "CredentialAccess:Kubernetes/TorIPCaller",
        "TTPs/CredentialAccess/CredentialAccess:Kubernetes-TorIPCaller",
        "",
    ),
    (
        "CredentialAccess:RDS/AnomalousBehavior.FailedLogin",
        "TTPs/Credential Access/CredentialAccess:RDS-AnomalousBehavior.FailedLogin",
        "",
    ),
    (
        "CredentialAccess:RDS/AnomalousBehavior.SuccessfulBruteForce",
        "TTPs/Credential Access/CredentialAccess:RDS-AnomalousBehavior.SuccessfulBruteForce",
        "T1110",
    ),
    (
        "CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin",
        "TTPs/Credential Access/CredentialAccess:RDS-AnomalousBehavior.SuccessfulLogin",
        "",
    ),
    (
        "CredentialAccess:RDS/MaliciousIPCaller.FailedLogin",
        "TTPs/Credential Access/CredentialAccess:RDS-MaliciousIPCaller.FailedLogin",
        "",
    ),
    (
        "CredentialAccess:RDS/MaliciousIPCaller.SuccessfulLogin",
        "TTPs/Credential Access/CredentialAccess:RDS-MaliciousIPCaller.SuccessfulLogin",
        "",
    ),
    (
        "CredentialAccess:RDS/TorIPCaller.FailedLogin",
        "TTPs/Credential Access/CredentialAccess:RDS-TorIPCaller.FailedLogin",
        "",
    ),
    (
        "CredentialAccess:RDS/TorIPCaller.SuccessfulLogin",
        "TTPs/Credential Access/CredentialAccess:RDS-TorIPCaller.SuccessfulLogin",
        "",
    ),
    (
        "CryptoCurrency:EC2/BitcoinTool.B",
        "TTPs/Command and Control/CryptoCurrency:EC2-BitcoinTool.B",
        "",
    ),
    (
        "CryptoCurrency:EC2/BitcoinTool.B!DNS",
        "TTPs/Command and Control/CryptoCurrency:EC2-BitcoinTool.B!DNS",
        "",
    ),
    (
        "CryptoCurrency:Lambda/BitcoinTool.B",
        "TTPs/Command and Control/CryptoCurrency:Lambda-BitcoinTool.B",
        "",
    ),
    (
        "CryptoCurrency:Runtime/BitcoinTool.B",
        "TTPs/Command and Control/CryptoCurrency:Runtime-BitcoinTool.B",
        "",
    ),
    (
        "CryptoCurrency:Runtime/BitcoinTool.B!DNS",
        "TTPs/Command and Control/CryptoCurrency:Runtime-BitcoinTool.B!DNS",
        "",
    ),
    (
        "DefenseEvasion:EC2/UnusualDNSResolver",
        "TTPs/DefenseEvasion/EC2:Unusual-DNS-Resolver",
        "",
    ),
    (
        "DefenseEvasion:EC2/UnusualDoHActivity",
        "TTPs/DefenseEvasion/EC2:Unusual-DoH-Activity",
        "",
    ),
    (
        "DefenseEvasion:EC2/UnusualDoTActivity",
        "TTPs/DefenseEvasion/EC2:Unusual-DoT-Activity",
        "",
    ),
    (
        "DefenseEvasion:IAMUser/AnomalousBehavior",
        "TTPs/Defense Evasion/IAMUser-AnomalousBehavior",
        "",
    ),
    (
        "DefenseEvasion:IAMUser/BedrockLoggingDisabled",
        "TTPs/Defense Evasion/DefenseEvasion:IAMUser-BedrockLoggingDisabled",
        "T1562.008",
    ),
    (
        "DefenseEvasion:Kubernetes/MaliciousIPCaller",
        "TTPs/DefenseEvasion/DefenseEvasion:Kubernetes-MaliciousIPCaller",
        "",
    ),
    (
        "DefenseEvasion:Kubernetes/MaliciousIPCaller.Custom",
        "TTPs/DefenseEvasion/DefenseEvasion:Kubernetes-MaliciousIPCaller.Custom",
        "",
    ),
    (
        "DefenseEvasion:Kubernetes/SuccessfulAnonymousAccess",
        "TTPs/DefenseEvasion/DefenseEvasion:Kubernetes-SuccessfulAnonymousAccess",
        "",
    ),
    (
        "DefenseEvasion:Kubernetes/TorIPCaller",
        "TTPs/DefenseEvasion/DefenseEvasion:Kubernetes-TorIPCaller",
        "",
    ),
    (
        "DefenseEvasion:Runtime/FilelessExecution",
        "TTPs/Defense Evasion/DefenseEvasion:Runtime-FilelessExecution",
        "",
    ),
    (
        "DefenseEvasion:Runtime/KernelModuleLoaded",
        "TTPs/Defense Evasion/DefenseEvasion:Runtime-KernelModuleLoaded",
        "",
    ),
    (
        "DefenseEvasion:Runtime/ProcessInjection.Proc",
        "TTPs/Defense Evasion/DefenseEvasion:Runtime-ProcessInjection.Proc",
        "T1055.009",
    ),
    (
        "DefenseEvasion:Runtime/ProcessInjection.Ptrace",
        "TTPs/Defense Evasion/DefenseEvasion:Runtime-ProcessInjection.Ptrace",
        "T1055.008",
    ),
    (
        "DefenseEvasion:Runtime/ProcessInjection.VirtualMemoryWrite",
        "TTPs/Defense Evasion/DefenseEvasion:Runtime-ProcessInjection.VirtualMemoryWrite",
        "T1055",
    ),
    (
        "DefenseEvasion:Runtime/PtraceAntiDebugging",
        "TTPs/DefenseEvasion/DefenseEvasion:Runtime-PtraceAntiDebugging",
        "",
    ),
    (
        "DefenseEvasion:Runtime/SensitiveFileModified",
        "TTPs/Defense Evasion/DefenseEvasion:Runtime-SensitiveFileModified",
        "",
    ),
    (
        "DefenseEvasion:Runtime/SuspiciousCommand",
        "TTPs/DefenseEvasion/DefenseEvasion:Runtime-SuspiciousCommand",
        "",
    ),
    (
        "Discovery:IAMUser/AnomalousBehavior",
        "TTPs/Discovery/IAMUser-AnomalousBehavior",
        "",
    ),
    (
        "Discovery:Kubernetes/AnomalousBehavior.PermissionChecked",
        "TTPs/AnomalousBehavior/Discovery:Kubernetes-PermissionChecked",
        "",
    ),
    (
        "Discovery:Kubernetes/MaliciousIPCaller",
        "TTPs/Discovery/Discovery:Kubernetes-MaliciousIPCaller",
        "",
    ),
    (
        "Discovery:Kubernetes/MaliciousIPCaller.Custom",
        "TTPs/Discovery/Discovery:Kubernetes-MaliciousIPCaller.Custom",
        "",
    ),
    (
        "Discovery:Kubernetes/SuccessfulAnonymousAccess",
        "TTPs/Discovery/Discovery:Kubernetes-SuccessfulAnonymousAccess",
        "",
    ),
    (
        "Discovery:Kubernetes/TorIPCaller",
        "TTPs/Discovery/Discovery:Kubernetes-TorIPCaller",
        "",
    ),
    (
        "Discovery:RDS/MaliciousIPCaller",
        "TTPs/Discovery/RDS-MaliciousIPCaller",
        "",
    ),
    (
        "Discovery:RDS/TorIPCaller",
        "TTPs/Discovery/RDS-TorIPCaller",
        "",
    ),
    (
        "Discovery:Runtime/SuspiciousCommand",
        "TTPs/Discovery/Discovery:Runtime-SuspiciousCommand",
        "",
    ),
    (
        "Discovery:S3/AnomalousBehavior",
        "TTPs/Discovery:S3-AnomalousBehavior",
        "",
    ),
    (
        "Discovery:S3/BucketEnumeration.Unusual",
        "TTPs/Discovery:S3-BucketEnumeration.Unusual",
        "",
    ),
    (
        "Discovery:S3/MaliciousIPCaller",
        "TTPs/Discovery:S3-MaliciousIPCaller",
        "",
    ),
    (
        "Discovery:S3/MaliciousIPCaller.Custom",
        "TTPs/Discovery:S3-MaliciousIPCaller.Custom",
        "",
    ),
    (
        "Discovery:S3/TorIPCaller",
        "TTPs/Discovery:S3-TorIPCaller",
        "",
    ),
    (
        "Execution:Container/MaliciousFile",
        "TTPs/Execution/Execution:Container-MaliciousFile",
        "",
    ),
    (
        "Execution:Container/SuspiciousFile",
        "TTPs/Execution/Execution:Container-SuspiciousFile",
        "",
    ),
    (
        "Execution:EC2/MaliciousFile",
        "TTPs/Execution/Execution:EC2-MaliciousFile",
        "",
    ),
    (
        "Execution:EC2/MaliciousFile!AMI",
        "TTPs/Execution/Execution:EC2-MaliciousFile!AMI",
        "",
    ),
    (
        "Execution:EC2/MaliciousFile!RecoveryPoint",
        "TTPs/Execution/Execution:EC2-MaliciousFile!RecoveryPoint",
        "",
    ),
    (
        "Execution:EC2/MaliciousFile!Snapshot",
        "TTPs/Execution/Execution:EC2-MaliciousFile!Snapshot",
        "",
    ),
    (
        "Execution:EC2/SuspiciousFile",
        "TTPs/Execution/Execution:EC2-SuspiciousFile",
        "",
    ),
    (
        "Execution:ECS/MaliciousFile",
        "TTPs/Execution/Execution:ECS-MaliciousFile",
        "",
    ),
    (
        "Execution:ECS/SuspiciousFile",
        "TTPs/Execution/Execution:ECS-SuspiciousFile",
        "",
    ),
    (
        "Execution:Kubernetes/AnomalousBehavior.ExecInPod",
        "TTPs/AnomalousBehavior/Execution:Kubernetes-ExecInPod",
        "T1609",
    ),
    (
        "Execution:Kubernetes/AnomalousBehavior.WorkloadDeployed",
        "TTPs/AnomalousBehavior/Execution:Kubernetes-WorkloadDeployed",
        "T1610",
    ),
    (
        "Execution:Kubernetes/ExecInKubeSystemPod",
        "TTPs/Execution/Execution:Kubernetes-ExecInKubeSystemPod",
        "T1609",
    ),
    (
        "Execution:Kubernetes/MaliciousFile",
        "TTPs/Execution/Execution:Kubernetes-MaliciousFile",
        "",
    ),
    (
        "Execution:Kubernetes/SuspiciousFile",
        "TTPs/Execution/Execution:Kubernetes-SuspiciousFile",
        "",
    ),
    (
        "Execution:Runtime/MaliciousFileExecuted",
        "TTPs/Execution/Execution:Runtime-MaliciousFileExecuted",
        "",
    ),
    (
        "Execution:Runtime/MaliciousFileExecuted.Custom",
        "TTPs/Execution/Execution:Runtime-MaliciousFileExecuted.Custom",
        "",
    ),
    (
        "Execution:Runtime/NewBinaryExecuted",
        "TTPs/Execution/Execution:Runtime-NewBinaryExecuted",
        "",
    ),
    (
        "Execution:Runtime/NewLibraryLoaded",
        "TTPs/Execution/Execution:Runtime-NewLibraryLoaded",
        "",
    ),
    (
        "Execution:Runtime/ReverseShell",
        "TTPs/Execution/Execution:Runtime-ReverseShell",
        "",
    ),
    (
        "Execution:Runtime/SuspiciousCommand",
        "TTPs/Execution/Execution:Runtime-SuspiciousCommand",
        "",
    ),
    (
        "Execution:Runtime/SuspiciousShellCreated",
        "TTPs/Execution/Execution:Runtime-SuspiciousShellCreated",
        "",
    ),
    (
        "Execution:Runtime/SuspiciousTool",
        "TTPs/Execution/Execution:Runtime-SuspiciousTool",
        "",
    ),
    (
        "Execution:S3/MaliciousFile!RecoveryPoint",
        "TTPs/Execution/Execution:S3-MaliciousFile!RecoveryPoint",
        "",
    ),
    (
        "Exfiltration:IAMUser/AnomalousBehavior",
        "TTPs/Exfiltration/IAMUser-AnomalousBehavior",
        "",
    ),
    (
        "Exfiltration:S3/AnomalousBehavior",
        "TTPs/Exfiltration:S3-AnomalousBehavior",
        "",
    ),
    (
        "Exfiltration:S3/MaliciousIPCaller",
        "TTPs/Exfiltration:S3-MaliciousIPCaller",
        "",
    ),
    (
        "Exfiltration:S3/ObjectRead.Unusual",
        "TTPs/Exfiltration:S3-ObjectRead.Unusual",
        "",
    ),
    (
        "Impact:EC2/AbusedDomainRequest.Reputation",
        "TTPs/Impact:EC2-AbusedDomainRequest.Reputation",
        "",
    ),
    (
        "Impact:EC2/BitcoinDomainRequest.Reputation",
        "TTPs/Impact:EC2-BitcoinDomainRequest.Reputation",
        "",
    ),
    (
        "Impact:EC2/MaliciousDomainRequest.Custom",
        "TTPs/Impact/Impact:EC2-MaliciousDomainRequest.Custom",
        "",
    ),
    (
        "Impact:EC2/MaliciousDomainRequest.Reputation",
        "TTPs/Impact:EC2-MaliciousDomainRequest.Reputation",
        "",
    ),
    (
        "Impact:EC2/PortSweep",
        "TTPs/Impact/Impact:EC2-PortSweep",
        "",
    ),
    (
        "Impact:EC2/SuspiciousDomainRequest.Reputation",
        "TTPs/Impact:EC2-SuspiciousDomainRequest.Reputation",
        "",
    ),
    (
        "Impact:EC2/WinRMBruteForce",
        "TTPs/Impact/Impact:EC2-WinRMBruteForce",
        "",
    ),
    (
        "Impact:IAMUser/AnomalousBehavior",
        "TTPs/Impact/IAMUser-AnomalousBehavior",
        "",
    ),
    (
        "Impact:Kubernetes/MaliciousIPCaller",
        "TTPs/Impact/Impact:Kubernetes-MaliciousIPCaller",
        "",
    ),
    (
        "Impact:Kubernetes/MaliciousIPCaller.Custom",
        "TTPs/Impact/Impact:Kubernetes-MaliciousIPCaller.Custom",
        "",
    ),
    (
        "Impact:Kubernetes/SuccessfulAnonymousAccess",
        "TTPs/Impact/Impact:Kubernetes-SuccessfulAnonymousAccess",
        "",
    ),
    (
        "Impact:Kubernetes/TorIPCaller",
        "TTPs/Impact/Impact:Kubernetes-TorIPCaller",
        "",
    ),
    (
        "Impact:Runtime/AbusedDomainRequest.Reputation",
        "TTPs/Impact/Impact:Runtime-AbusedDomainRequest.Reputation",
        "",
    ),
    (
        "Impact:Runtime/BitcoinDomainRequest.Reputation",
        "TTPs/Impact/Impact:Runtime-BitcoinDomainRequest.Reputation",
        "",
    ),
    (
        "Impact:Runtime/CryptoMinerExecuted",
        "TTPs/Impact/Impact:Runtime-CryptoMinerExecuted",
        "T1496",
    ),
    (
        "Impact:Runtime/MaliciousDomainRequest.Reputation",
        "TTPs/Impact/Impact:Runtime-MaliciousDomainRequest.Reputation",
        "",
    ),
    (
        "Impact:Runtime/SuspiciousDomainRequest.Reputation",
        "TTPs/Impact/Impact:Runtime-SuspiciousDomainRequest.Reputation",
        "",
    ),
    (
        "Impact:S3/AnomalousBehavior.Delete",
        "TTPs/Impact:S3-AnomalousBehavior.Delete",
        "",
    ),
    (
        "Impact:S3/AnomalousBehavior.Permission",
        "TTPs/Impact:S3-AnomalousBehavior.Permission",
        "",
    ),
    (
        "Impact:S3/AnomalousBehavior.Write",
        "TTPs/Impact:S3-AnomalousBehavior.Write",
        "",
    ),
    (
        "Impact:S3/MaliciousIPCaller",
        "TTPs/Impact:S3-MaliciousIPCaller",
        "",
    ),
    (
        "Impact:S3/ObjectDelete.Unusual",
        "TTPs/Impact:S3-ObjectDelete.Unusual",
        "",
    ),
    (
        "Impact:S3/PermissionsModification.Unusual",
        "TTPs/Impact:S3-PermissionsModification.Unusual",
        "",
    ),
    (
        "InitialAccess:IAMUser/AnomalousBehavior",
        "TTPs/Initial Access/IAMUser-AnomalousBehavior",
        "",
    ),
    (
        "Object:S3/MaliciousFile",
        "TTPs/Object/Object:S3-MaliciousFile",
        "",
    ),
    (
        "PenTest:IAMUser/KaliLinux",
        "TTPs/PenTest:IAMUser/KaliLinux",
        "",
    ),
    (
        "PenTest:IAMUser/ParrotLinux",
        "TTPs/PenTest:IAMUser/ParrotLinux",
        "",
    ),
    (
        "PenTest:IAMUser/PentooLinux",
        "TTPs/PenTest:IAMUser/PentooLinux",
        "",
    ),
    ("PenTest:S3/KaliLinux", "TTPs/PenTest:S3-KaliLinux", ""),
    ("PenTest:S3/ParrotLinux", "TTPs/PenTest:S3-ParrotLinux", ""),
    ("PenTest:S3/PentooLinux", "TTPs/PenTest:S3-PentooLinux", ""),
    (
        "Persistence:IAMUser/AnomalousBehavior",
        "TTPs/Persistence/IAMUser-AnomalousBehavior",
        "",
    ),
    (
        "Persistence:IAMUser/NetworkPermissions",
        "TTPs/Persistence/Persistence:IAMUser-NetworkPermissions",
        "",
    ),
    (
        "Persistence:IAMUser/ResourcePermissions",
        "TTPs/Persistence/Persistence:IAMUser-ResourcePermissions",
        "",
    ),
    (
        "Persistence:IAMUser/UserPermissions",
        "TTPs/Persistence/Persistence:IAMUser-UserPermissions",
        "",
    ),
    (
        "Persistence:Kubernetes/AnomalousBehavior.WorkloadDeployed!ContainerWithSensitiveMount",
        "TTPs/AnomalousBehavior/Persistence:Kubernetes-WorkloadDeployed!ContainerWithSensitiveMount",
        "",
    ),
    (
        "Persistence:Kubernetes/ContainerWithSensitiveMount",
        "TTPs/Persistence/Persistence:Kubernetes-ContainerWithSensitiveMount",
        "",
    ),
    (
        "Persistence:Kubernetes/MaliciousIPCaller",
        "TTPs/Persistence/Persistence:Kubernetes-MaliciousIPCaller",
        "",
    ),
    (
        "Persistence:Kubernetes/MaliciousIPCaller.Custom",
        "TTPs/Persistence/Persistence:Kubernetes-MaliciousIPCaller.Custom",
        "",
    ),
    (
        "Persistence:Kubernetes/SuccessfulAnonymousAccess",
        "TTPs/Persistence/Persistence:Kubernetes-SuccessfulAnonymousAccess",
        "",
    ),
    (
        "Persistence:Kubernetes/TorIPCaller",
        "TTPs/Persistence/Persistence:Kubernetes-TorIPCaller",
        "",
    ),
    (
        "Persistence:Runtime/SensitiveFileModified",
        "TTPs/Persistence/Persistence:Runtime-SensitiveFileModified",
        "",
    ),
    (
        "Persistence:Runtime/SuspiciousCommand",
        "TTPs/Persistence/Persistence:Runtime-SuspiciousCommand",
        "",
    ),
    (
        "Policy:IAMUser/RootCredentialUsage",
        "TTPs/Policy:IAMUser-RootCredentialUsage",
        "",
    ),
    (
        "Policy:IAMUser/ShortTermRootCredentialUsage",
        "TTPs/Policy:IAMUser-ShortTermRootCredentialUsage",
        "",
    ),
    (
        "Policy:Kubernetes/AdminAccessToDefaultServiceAccount",
        "Software and Configuration Checks/AWS Security Best Practices/Policy:Kubernetes-AdminAccessToDefaultServiceAccount",
        "",
    ),
    (
        "Policy:Kubernetes/AnonymousAccessGranted",
        "Software and Configuration Checks/AWS Security Best Practices/Policy:Kubernetes-AnonymousAccessGranted",
        "",
    ),
    (
        "Policy:Kubernetes/ExposedDashboard",
        "Software and Configuration Checks/AWS Security Best Practices/Policy:Kubernetes-ExposedDashboard",
        "",
    ),
    (
        "Policy:Kubernetes/KubeflowDashboardExposed",
        "Software and Configuration Checks/AWS Security Best Practices/Policy:Kubernetes-KubeflowDashboardExposed",
        "",
    ),
    (
        "Policy:S3/AccountBlockPublicAccessDisabled",
        "TTPs/Policy:S3-AccountBlockPublicAccessDisabled",
        "",
    ),
    (
        "Policy:S3/BucketAnonymousAccessGranted",
        "TTPs/Policy:S3-BucketAnonymousAccessGranted",
        "",
    ),
    (
        "Policy:S3/BucketBlockPublicAccessDisabled",
        "Effects/Data Exposure/Policy:S3-BucketBlockPublicAccessDisabled",
        "",
    ),
    (
        "Policy:S3/BucketPublicAccessGranted",
        "TTPs/Policy:S3-BucketPublicAccessGranted",
        "",
    ),
    (
        "PrivilegeEscalation:IAMUser/AdministrativePermissions",
        "TTPs/Privilege Escalation/PrivilegeEscalation:IAMUser-AdministrativePermissions",
        "",
    ),
    (
        "PrivilegeEscalation:IAMUser/AnomalousBehavior",
        "TTPs/Privilege Escalation/IAMUser-AnomalousBehavior",
        "",
    ),
    (
        "PrivilegeEscalation:Kubernetes/AnomalousBehavior.RoleBindingCreated",
        "TTPs/AnomalousBehavior/PrivilegeEscalation:Kubernetes-RoleBindingCreated",
        "",
    ),
    (
        "PrivilegeEscalation:Kubernetes/AnomalousBehavior.RoleCreated",
        "TTPs/AnomalousBehavior/PrivilegeEscalation:Kubernetes-RoleCreated",
        "",
    ),
    (
        "PrivilegeEscalation:Kubernetes/AnomalousBehavior.WorkloadDeployed!PrivilegedContainer",
        "TTPs/AnomalousBehavior/PrivilegeEscalation:Kubernetes-WorkloadDeployed!PrivilegedContainer",
        "",
    ),
    (
        "PrivilegeEscalation:Kubernetes/PrivilegedContainer",
        "TTPs/PrivilegeEscalation/PrivilegeEscalation:Kubernetes-PrivilegedContainer",
        "",
    ),
    (
        "PrivilegeEscalation:Runtime/CGroupsReleaseAgentModified",
        "TTPs/Privilege Escalation/PrivilegeEscalation:Runtime-CGroupsReleaseAgentModified",
        "T1611",
    ),
    (
        "PrivilegeEscalation:Runtime/ContainerMountsHostDirectory",
        "TTPs/Privilege Escalation/PrivilegeEscalation:Runtime-ContainerMountsHostDirectory",
        "T1611",
    ),
    (
        "PrivilegeEscalation:Runtime/DockerSocketAccessed",
        "TTPs/Privilege Escalation/PrivilegeEscalation:Runtime-DockerSocketAccessed",
        "",
    ),
    (
        "PrivilegeEscalation:Runtime/ElevationToRoot",
        "TTPs/Privilege Escalation/PrivilegeEscalation:Runtime-ElevationToRoot",
        "",
    ),
    (
        "PrivilegeEscalation:Runtime/RuncContainerEscape",
        "TTPs/Privilege Escalation/PrivilegeEscalation:Runtime-RuncContainerEscape",
        "T1611",
    ),
    (
        "PrivilegeEscalation:Runtime/SensitiveFileModified",
        "TTPs/Privilege Escalation/PrivilegeEscalation:Runtime-SensitiveFileModified",
        "",
    ),
    (
        "PrivilegeEscalation:Runtime/SuspiciousCommand",
        "Software and Configuration Checks/PrivilegeEscalation:Runtime-SuspiciousCommand",
        "",
    ),
    (
        "PrivilegeEscalation:Runtime/UserfaultfdUsage",
        "TTPs/Privilege Escalation/PrivilegeEscalation:Runtime-UserfaultfdUsage",
        "",
    ),
    (
        "Recon:EC2/PortProbeEMRUnprotectedPort",
        "TTPs/Discovery/Recon:EC2-PortProbeEMRUnprotectedPort",
        "T1046",
    ),
    (
        "Recon:EC2/PortProbeUnprotectedPort",
        "TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort",
        "T1046",
    ),
    (
        "Recon:EC2/Portscan",
        "TTPs/Discovery/Recon:EC2-Portscan",
        "T1046",
    ),
    (
        "Recon:IAMUser/MaliciousIPCaller",
        "TTPs/Discovery/Recon:IAMUser-MaliciousIPCaller",
        "",
    ),
    (
        "Recon:IAMUser/MaliciousIPCaller.Custom",
        "TTPs/Discovery/Recon:IAMUser-MaliciousIPCaller.Custom",
        "",
    ),
    (
        "Recon:IAMUser/NetworkPermissions",
        "TTPs/Discovery/Recon:IAMUser-NetworkPermissions",
        "",
    ),
    (
        "Recon:IAMUser/ResourcePermissions",
        "TTPs/Discovery/Recon:IAMUser-ResourcePermissions",
        "",
    ),
    (
        "Recon:IAMUser/TorIPCaller",
        "TTPs/Discovery/Recon:IAMUser-TorIPCaller",
        "",
    ),
    (
        "Recon:IAMUser/UserPermissions",
        "TTPs/Discovery/Recon:IAMUser-UserPermissions",
        "",
    ),
    (
        "ResourceConsumption:IAMUser/ComputeResources",
        "Unusual Behaviors/User/ResourceConsumption:IAMUser-ComputeResources",
        "",
    ),
    (
        "Stealth:IAMUser/CloudTrailLoggingDisabled",
        "TTPs/Defense Evasion/Stealth:IAMUser-CloudTrailLoggingDisabled",
        "T1562.008",
    ),
    (
        "Stealth:IAMUser/LoggingConfigurationModified",
        "TTPs/Defense Evasion/Stealth:IAMUser-LoggingConfigurationModified",
        "T1562.008",
    ),
    (
        "Stealth:IAMUser/PasswordPolicyChange",
        "TTPs/Defense Evasion/Stealth:IAMUser-PasswordPolicyChange",
        "",
    ),
    (
        "Stealth:S3/ServerAccessLoggingDisabled",
        "TTPs/Defense Evasion/Stealth:S3-ServerAccessLoggingDisabled",
        "T1562.008",
    ),
    (
        "Trojan:EC2/BlackholeTraffic",
        "TTPs/Command and Control/Trojan:EC2-BlackholeTraffic",
        "",
    ),
    (
        "Trojan:EC2/BlackholeTraffic!DNS",
        "TTPs/Command and Control/Trojan:EC2-BlackholeTraffic!DNS",
        "",
    ),
    (
        "Trojan:EC2/DGADomainRequest.B",
        "TTPs/Command and Control/Trojan:EC2-DGADomainRequest.B",
        "T1568.002",
    ),
    (
        "Trojan:EC2/DGADomainRequest.C!DNS",
        "TTPs/Command and Control/Trojan:EC2-DGADomainRequest.C!DNS",
        "T1568.002",
    ),
    (
        "Trojan:EC2/DNSDataExfiltration",
        "TTPs/Command and Control/Trojan:EC2-DNSDataExfiltration",
        "",
    ),
    (
        "Trojan:EC2/DriveBySourceTraffic!DNS",
        "TTPs/Initial Access/Trojan:EC2-DriveBySourceTraffic!DNS",
        "",
    ),
    (
        "Trojan:EC2/DropPoint",
        "Effects/Data Exfiltration/Trojan:EC2-DropPoint",
        "",
    ),
    (
        "Trojan:EC2/DropPoint!DNS",
        "Effects/Data Exfiltration/Trojan:EC2-DropPoint!DNS",
        "",
    ),
    (
        "Trojan:EC2/PhishingDomainRequest!DNS",
        "TTPs/Command and Control/Trojan:EC2-PhishingDomainRequest!DNS",
        "",
    ),
    (
        "Trojan:Lambda/BlackholeTraffic",
        "TTPs/Command and Control/Trojan:Lambda-BlackholeTraffic",
        "",
    ),
    (
        "Trojan:Lambda/DropPoint",
        "Effects/Data Exfiltration/Trojan:Lambda-DropPoint",
        "",
    ),
    (
        "Trojan:Runtime/BlackholeTraffic",
        "TTPs/Command and Control/Trojan:Runtime-BlackholeTraffic",
        "",
    ),
    (
        "Trojan:Runtime/BlackholeTraffic!DNS",
        "TTPs/Command and Control/Trojan:Runtime-BlackholeTraffic!DNS",
        "",
    ),
    (
        "Trojan:Runtime/DGADomainRequest.C!DNS",
        "TTPs/Command and Control/Trojan:Runtime-DGADomainRequest.C!DNS",
        "T1568.002",
    ),
    (
        "Trojan:Runtime/DriveBySourceTraffic!DNS",
        "TTPs/Initial Access/Trojan:Runtime-DriveBySourceTraffic!DNS",
        "",
    ),
    (
        "Trojan:Runtime/DropPoint",
        "Effects/Data Exfiltration/Trojan:Runtime-DropPoint",
        "",
    ),
    (
        "Trojan:Runtime/DropPoint!DNS",
        "Effects/Data Exfiltration/Trojan:Runtime-DropPoint!DNS",
        "",
    ),
    (
        "Trojan:Runtime/PhishingDomainRequest!DNS",
        "TTPs/Command and Control/Trojan:Runtime-PhishingDomainRequest!DNS",
        "",
    ),
    (
        "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom",
        "TTPs/Command and Control/UnauthorizedAccess:EC2-MaliciousIPCaller.Custom",
        "",
    ),
    (
        "UnauthorizedAccess:EC2/MetadataDNSRebind",
        "TTPs/UnauthorizedAccess:EC2-MetadataDNSRebind",
        "",
    ),
    (
        "UnauthorizedAccess:EC2/RDPBruteForce",
        "TTPs/Initial Access/UnauthorizedAccess:EC2-RDPBruteForce",
        "",
    ),
    (
        "UnauthorizedAccess:EC2/SSHBruteForce",
        "TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce",
        "",
    ),
    (
        "UnauthorizedAccess:EC2/TorClient",
        "Effects/Resource Consumption/UnauthorizedAccess:EC2-TorClient",
        "",
    ),
    (
        "UnauthorizedAccess:EC2/TorRelay",
        "Effects/Resource Consumption/UnauthorizedAccess:EC2-TorRelay",
        "",
    ),
    (
        "UnauthorizedAccess:IAMUser/ConsoleLogin",
        "Unusual Behaviors/User/UnauthorizedAccess:IAMUser-ConsoleLogin",
        "",
    ),
    (
        "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B",
        "TTPs/UnauthorizedAccess:IAMUser-ConsoleLoginSuccess.B",
        "",
    ),
    (
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS",
        "Effects/Data Exfiltration/UnauthorizedAccess:IAMUser-InstanceCredentialExfiltration.InsideAWS",
        "",
    ),
    (
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        "Effects/Data Exfiltration/UnauthorizedAccess:IAMUser-InstanceCredentialExfiltration.OutsideAWS",
        "",
    ),
    (
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
        "TTPs/UnauthorizedAccess:IAMUser-MaliciousIPCaller",
        "",
    ),
    (
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        "TTPs/UnauthorizedAccess:IAMUser-MaliciousIPCaller.Custom",
        "",
    ),
    (
        "UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration.InsideAWS",
        "Effects/Data Exfiltration/UnauthorizedAccess:IAMUser-ResourceCredentialExfiltration.InsideAWS",
        "",
    ),
    (
        "UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration.OutsideAWS",
        "Effects/Data Exfiltration/UnauthorizedAccess:IAMUser-ResourceCredentialExfiltration.OutsideAWS",
        "",
    ),
    (
        "UnauthorizedAccess:IAMUser/TorIPCaller",
        "TTPs/Command and Control/UnauthorizedAccess:IAMUser-TorIPCaller",
        "T1090.003",
    ),
    (
        "UnauthorizedAccess:Lambda/MaliciousIPCaller.Custom",
        "TTPs/Command and Control/UnauthorizedAccess:Lambda-MaliciousIPCaller.Custom",
        "",
    ),
    (
        "UnauthorizedAccess:Lambda/TorClient",
        "Effects/Resource Consumption/UnauthorizedAccess:Lambda-TorClient",
        "",
    ),
    (
        "UnauthorizedAccess:Lambda/TorRelay",
        "Effects/Resource Consumption/UnauthorizedAccess:Lambda-TorRelay",
        "",
    ),
    (
        "UnauthorizedAccess:Runtime/MetadataDNSRebind",
        "TTPs/UnauthorizedAccess:Runtime-MetadataDNSRebind",
        "",
    ),
    (
        "UnauthorizedAccess:Runtime/TorClient",
        "Effects/Resource Consumption/UnauthorizedAccess:Runtime-TorClient",
        "",
    ),
    (
        "UnauthorizedAccess:Runtime/TorRelay",
        "Effects/Resource Consumption/UnauthorizedAccess:Runtime-TorRelay",
        "",
    ),
    (
        "UnauthorizedAccess:S3/MaliciousIPCaller.Custom",
        "TTPs/UnauthorizedAccess:S3-MaliciousIPCaller.Custom",
        "",
    ),
    (
        "UnauthorizedAccess:S3/TorIPCaller",
        "TTPs/UnauthorizedAccess:S3-TorIPCaller",
        "",
    ),
];

/// ATT&CK Enterprise tactics, by name.
pub const TACTICS: &[(&str, &str)] = &[
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

/// ATT&CK techniques the table and GuardDuty's attack sequences name: `(id, name, the
/// tactics ATT&CK lists it under)`. Used to pair a sequence's techniques with its tactics.
pub const TECHNIQUES: &[(&str, &str, &[&str])] = &[
    ("T1003", "OS Credential Dumping", &["Credential Access"]),
    ("T1021", "Remote Services", &["Lateral Movement"]),
    (
        "T1040",
        "Network Sniffing",
        &["Credential Access", "Discovery"],
    ),
    ("T1046", "Network Service Discovery", &["Discovery"]),
    (
        "T1048",
        "Exfiltration Over Alternative Protocol",
        &["Exfiltration"],
    ),
    (
        "T1055",
        "Process Injection",
        &["Defense Evasion", "Privilege Escalation"],
    ),
    ("T1059", "Command and Scripting Interpreter", &["Execution"]),
    ("T1069", "Permission Groups Discovery", &["Discovery"]),
    (
        "T1071",
        "Application Layer Protocol",
        &["Command and Control"],
    ),
    (
        "T1078",
        "Valid Accounts",
        &[
            "Defense Evasion",
            "Persistence",
            "Privilege Escalation",
            "Initial Access",
        ],
    ),
    ("T1087", "Account Discovery", &["Discovery"]),
    ("T1090", "Proxy", &["Command and Control"]),
    (
        "T1098",
        "Account Manipulation",
        &["Persistence", "Privilege Escalation"],
    ),
    ("T1105", "Ingress Tool Transfer", &["Command and Control"]),
    ("T1110", "Brute Force", &["Credential Access"]),
    (
        "T1133",
        "External Remote Services",
        &["Persistence", "Initial Access"],
    ),
    ("T1136", "Create Account", &["Persistence"]),
    (
        "T1190",
        "Exploit Public-Facing Application",
        &["Initial Access"],
    ),
    ("T1485", "Data Destruction", &["Impact"]),
    ("T1486", "Data Encrypted for Impact", &["Impact"]),
    ("T1490", "Inhibit System Recovery", &["Impact"]),
    ("T1496", "Resource Hijacking", &["Impact"]),
    ("T1498", "Network Denial of Service", &["Impact"]),
    ("T1499", "Endpoint Denial of Service", &["Impact"]),
    ("T1526", "Cloud Service Discovery", &["Discovery"]),
    (
        "T1528",
        "Steal Application Access Token",
        &["Credential Access"],
    ),
    ("T1530", "Data from Cloud Storage", &["Collection"]),
    ("T1531", "Account Access Removal", &["Impact"]),
    (
        "T1535",
        "Unused/Unsupported Cloud Regions",
        &["Defense Evasion"],
    ),
    ("T1537", "Transfer Data to Cloud Account", &["Exfiltration"]),
    ("T1538", "Cloud Service Dashboard", &["Discovery"]),
    ("T1552", "Unsecured Credentials", &["Credential Access"]),
    (
        "T1556",
        "Modify Authentication Process",
        &["Credential Access", "Defense Evasion", "Persistence"],
    ),
    ("T1562", "Impair Defenses", &["Defense Evasion"]),
    ("T1567", "Exfiltration Over Web Service", &["Exfiltration"]),
    ("T1568", "Dynamic Resolution", &["Command and Control"]),
    (
        "T1578",
        "Modify Cloud Compute Infrastructure",
        &["Defense Evasion"],
    ),
    ("T1580", "Cloud Infrastructure Discovery", &["Discovery"]),
    ("T1609", "Container Administration Command", &["Execution"]),
    (
        "T1610",
        "Deploy Container",
        &["Defense Evasion", "Execution"],
    ),
    ("T1611", "Escape to Host", &["Privilege Escalation"]),
    ("T1619", "Cloud Storage Object Discovery", &["Discovery"]),
    ("T1648", "Serverless Execution", &["Execution"]),
    ("T1651", "Cloud Administration Command", &["Execution"]),
];

/// The sub-techniques the table names, with their ATT&CK names.
pub const SUB_TECHNIQUES: &[(&str, &str)] = &[
    ("T1055.008", "Ptrace System Calls"),
    ("T1055.009", "Proc Memory"),
    ("T1090.003", "Multi-hop Proxy"),
    ("T1562.008", "Disable or Modify Cloud Logs"),
    ("T1568.002", "Domain Generation Algorithms"),
];
