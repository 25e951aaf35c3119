"""infra/ (Azure Developer CLI layout, Bicep): what can be checked here, the Bicep CLI cannot run.

checkov passes (scripts/checkov.sh), and the template text holds the security settings and the
whole configuration contract. Every text check is also run against a mutated template and must
then fail (``test_each_check_catches_its_mutation``), so none of them passes vacuously.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"

# design.md, "Configuration contract": the fixed setting names.
CONTRACT = (
    "AzureWebJobsStorage",
    "SYNC_TENANT_ID",
    "SYNC_CLIENT_ID",
    "SYNC_CLIENT_SECRET",
    "SYNC_AUTHORITY_HOST",
    "BC_API_URL",
    "BC_COMPANY_ID",
    "BC_SCOPE",
    "DATAVERSE_URL",
    "WEBHOOK_SECRET",
)
KEY_VAULT_SETTINGS = ("SYNC_CLIENT_SECRET", "SYNC_CLIENT_CERTIFICATE", "WEBHOOK_SECRET")
CREDENTIALS = ("SYNC_CLIENT_SECRET", "SYNC_CLIENT_CERTIFICATE")  # exactly one is set (settings.py)
STORAGE_ROLES = {  # built-in role definition ids
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
}
STORAGE_SECRET_MARKERS = ("AccountKey", "DefaultEndpointsProtocol", "listKeys(", "SharedAccessSignature")

Templates = dict[str, str]


def load_templates() -> Templates:
    files = [*INFRA.glob("*.bicep"), *INFRA.glob("modules/*.bicep"), INFRA / "main.parameters.json"]
    return {str(p.relative_to(INFRA)): p.read_text(encoding="utf-8") for p in files}


def resource_blocks(text: str, type_prefix: str) -> list[str]:
    """The text of each top-level ``resource name 'Type@version' = {...}`` of that type."""
    blocks = []
    for match in re.finditer(rf"^resource \w+ '{re.escape(type_prefix)}@[^']+'[^\n]*\{{\n", text, re.M):
        end = text.find("\n}\n", match.end())
        blocks.append(text[match.start() : end + 2])
    return blocks


def app_settings(t: Templates) -> dict[str, str]:
    """name -> value expression of the function app's siteConfig.appSettings."""
    text = t["modules/functionapp.bicep"]
    start = text.index("appSettings: [")
    body = text[start : text.index("\n      ]\n", start)]
    pairs = re.findall(r"\{\s*name: '([^']+)'\s*value: ([^\n]+)\n\s*\}", body)
    return dict(pairs)


def module_params(text: str) -> tuple[set[str], set[str]]:
    """(every param, the params without a default) declared in a Bicep file."""
    declared = dict(re.findall(r"^param (\w+) [\w.]+( = )?", text, re.M))
    return set(declared), {name for name, default in declared.items() if not default}


def single(blocks: list[str], what: str) -> str:
    assert len(blocks) == 1, f"expected one {what}, found {len(blocks)}"
    return blocks[0]


def storage_account(t: Templates) -> str:
    return single(resource_blocks(t["modules/storage.bicep"], "Microsoft.Storage/storageAccounts"), "account")


def function_app(t: Templates) -> str:
    return single(resource_blocks(t["modules/functionapp.bicep"], "Microsoft.Web/sites"), "site")


# -- the checks (each takes the templates, raises AssertionError) ----------------------------------


def check_shared_key_access_disabled(t: Templates) -> None:
    account = storage_account(t)
    assert re.search(r"^    allowSharedKeyAccess: false$", account, re.M), (
        "allowSharedKeyAccess must be false"
    )
    assert re.search(r"^    allowBlobPublicAccess: false$", account, re.M), "public blob access must be off"


def check_https_only(t: Templates) -> None:
    site = function_app(t)
    assert re.search(r"^    httpsOnly: true$", site, re.M), "function app: httpsOnly must be true"
    account = storage_account(t)
    assert re.search(r"^    supportsHttpsTrafficOnly: true$", account, re.M), "storage: HTTPS only"


def check_tls_1_2(t: Templates) -> None:
    site = function_app(t)
    assert re.search(r"^      minTlsVersion: '1\.2'$", site, re.M), "function app: minTlsVersion 1.2"
    assert re.search(r"^      scmMinTlsVersion: '1\.2'$", site, re.M), "function app: scmMinTlsVersion 1.2"
    account = storage_account(t)
    assert re.search(r"^    minimumTlsVersion: 'TLS1_2'$", account, re.M), "storage: minimumTlsVersion TLS1_2"


def check_ftp_and_basic_auth_disabled(t: Templates) -> None:
    text = t["modules/functionapp.bicep"]
    site = function_app(t)
    assert re.search(r"^      ftpsState: 'Disabled'$", site, re.M), "ftpsState must be Disabled"
    policies = resource_blocks(text, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    names = {m.group(1) for p in policies if "allow: false" in p for m in re.finditer(r"name: '(\w+)'", p)}
    assert names == {"scm", "ftp"}, f"basic publishing credentials must be disabled for scm and ftp: {names}"


def check_no_storage_key_in_app_settings(t: Templates) -> None:
    settings = app_settings(t)
    assert "AzureWebJobsStorage" not in settings, "AzureWebJobsStorage (a connection string) must not be set"
    for name, value in settings.items():
        leaked = [m for m in STORAGE_SECRET_MARKERS if m in value]
        assert not leaked, f"app setting {name} carries storage credentials: {leaked}"
    for path, text in t.items():
        assert "listKeys(" not in text, f"{path} reads account keys"
    assert settings.get("AzureWebJobsStorage__credential") == "'managedidentity'"
    assert settings.get("AzureWebJobsStorage__clientId") == "identityClientId"
    assert settings.get("AZURE_CLIENT_ID") == "identityClientId"


def check_storage_roles_assigned(t: Templates) -> None:
    text = t["modules/roles.bicep"]
    assignments = resource_blocks(text, "Microsoft.Authorization/roleAssignments")
    for role, role_id in STORAGE_ROLES.items():
        keys = re.findall(rf"^  (\w+): '{role_id}'$", text, re.M)
        assert len(keys) == 1, f"{role}: role id {role_id} not declared"
        granted = [
            a
            for a in assignments
            if f"roleIds.{keys[0]})" in a and "scope: storage\n" in a and "principalId: appPrincipalId\n" in a
        ]
        assert granted, f"{role} is not assigned to the app identity on the storage account"


def branches(value: str) -> tuple[str, dict[bool, str]]:
    """A setting's value per outcome of its ``empty(param) ? A : B`` condition: (param, {True: A,
    False: B}); ("", {True: v, False: v}) for a plain value."""
    match = re.fullmatch(r"empty\((\w+)\) \? ('[^']*') : ('[^']*')", value)
    if match is None:
        return "", {True: value, False: value}
    return match.group(1), {True: match.group(2), False: match.group(3)}


def check_key_vault_references(t: Templates) -> None:
    settings = app_settings(t)
    for name in KEY_VAULT_SETTINGS:
        _, values = branches(settings.get(name, ""))
        set_ones = [v for v in values.values() if v != "''"]
        assert set_ones, f"{name} is never set"
        for value in set_ones:
            assert re.fullmatch(r"'@Microsoft\.KeyVault\(SecretUri=\$\{\w+\}\)'", value), f"{name}: {value!r}"
    site = function_app(t)
    assert re.search(r"^    keyVaultReferenceIdentity: identityId$", site, re.M), "keyVaultReferenceIdentity"
    vault = single(resource_blocks(t["modules/keyvault.bicep"], "Microsoft.KeyVault/vaults"), "vault")
    for prop in ("enableRbacAuthorization: true", "enableSoftDelete: true", "enablePurgeProtection: true"):
        assert f"\n    {prop}\n" in vault, f"Key Vault: {prop}"


def check_one_credential(t: Templates) -> None:
    """The client secret or the Key Vault certificate's secret, never both, never neither; the
    certificate is read through /secrets/ (the private key), from the vault of the deployment."""
    settings = app_settings(t)
    conditions, outcomes = zip(*(branches(settings.get(name, "")) for name in CREDENTIALS), strict=True)
    assert len(set(conditions)) == 1 and conditions[0], f"one condition decides the credential: {conditions}"
    for outcome in (True, False):
        given = [name for name, values in zip(CREDENTIALS, outcomes, strict=True) if values[outcome] != "''"]
        assert len(given) == 1, f"empty({conditions[0]}) is {outcome}: credentials set {given}"
    vault = t["modules/keyvault.bicep"]
    output = re.search(r"^output clientCertificateSecretUri string = (.+)$", vault, re.M)
    assert output and "secrets/${clientCertificateName}/" in output.group(1), "certificate: a /secrets/ URI"
    main = t["main.bicep"]
    for wiring in (
        "clientCertificateSecretUri: keyVault.outputs.clientCertificateSecretUri",
        "clientCertificateName: syncClientCertificateName",
    ):
        assert f"    {wiring}\n" in main, f"main.bicep does not pass {wiring}"


def check_configuration_contract(t: Templates) -> None:
    settings = app_settings(t)
    for name in CONTRACT:
        expected = "AzureWebJobsStorage__accountName" if name == "AzureWebJobsStorage" else name
        assert expected in settings, f"setting {expected} (configuration contract: {name}) is missing"
        assert settings[expected].strip("'"), f"setting {expected} is empty"


def check_secrets_are_secure_parameters(t: Templates) -> None:
    main = t["main.bicep"]
    for param in ("syncClientSecret", "webhookSecret"):
        assert re.search(rf"@secure\(\)\n(@[^\n]+\n)*param {param} string( = '')?\n", main), (
            f"{param}: @secure()"
        )


def check_parameters_file(t: Templates) -> None:
    main = t["main.bicep"]
    given = json.loads(t["main.parameters.json"])["parameters"]
    declared, required = module_params(main)
    assert required <= set(given), f"main.parameters.json lacks {sorted(required - set(given))}"
    assert set(given) <= set(declared), (
        f"main.parameters.json names unknown {sorted(set(given) - set(declared))}"
    )
    assert given["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert given["location"]["value"] == "${AZURE_LOCATION}"


def check_module_wiring(t: Templates) -> None:
    """Each module call passes only declared params and every required one; outputs used exist."""
    main = t["main.bicep"]
    calls = re.finditer(r"^module (\w+) '([^']+)' = \{\n(.*?)\n\}\n", main, re.M | re.S)
    modules = {}
    for symbol, path, body in (m.groups() for m in calls):
        modules[symbol] = t[path]
        params = body[body.index("  params: {") :]
        given = set(re.findall(r"^    (\w+): ", params, re.M))
        declared, required = module_params(t[path])
        assert given <= declared, f"module {symbol} gets undeclared params {sorted(given - declared)}"
        assert required <= given, f"module {symbol} lacks params {sorted(required - given)}"
    assert modules, "main.bicep calls no module"
    for symbol, output in re.findall(r"\b(\w+)\.outputs\.(\w+)", main):
        assert re.search(rf"^output {output} ", modules[symbol], re.M), f"{symbol}.outputs.{output}"


CHECKS: dict[str, Callable[[Templates], None]] = {
    f.__name__: f
    for f in (
        check_shared_key_access_disabled,
        check_https_only,
        check_tls_1_2,
        check_ftp_and_basic_auth_disabled,
        check_no_storage_key_in_app_settings,
        check_storage_roles_assigned,
        check_key_vault_references,
        check_one_credential,
        check_configuration_contract,
        check_secrets_are_secure_parameters,
        check_parameters_file,
        check_module_wiring,
    )
}

SECRET_REFERENCE = "'@Microsoft.KeyVault(SecretUri=${clientSecretUri})'"
CERTIFICATE_REFERENCE = "'@Microsoft.KeyVault(SecretUri=${clientCertificateSecretUri})'"

# (check, file, text in the template, replacement): each mutation must make its check fail.
MUTATIONS = [
    (
        "check_shared_key_access_disabled",
        "modules/storage.bicep",
        "allowSharedKeyAccess: false",
        "allowSharedKeyAccess: true",
    ),
    ("check_https_only", "modules/functionapp.bicep", "httpsOnly: true", "httpsOnly: false"),
    (
        "check_https_only",
        "modules/storage.bicep",
        "supportsHttpsTrafficOnly: true",
        "supportsHttpsTrafficOnly: false",
    ),
    ("check_tls_1_2", "modules/functionapp.bicep", "minTlsVersion: '1.2'", "minTlsVersion: '1.0'"),
    ("check_tls_1_2", "modules/storage.bicep", "'TLS1_2'", "'TLS1_0'"),
    (
        "check_ftp_and_basic_auth_disabled",
        "modules/functionapp.bicep",
        "ftpsState: 'Disabled'",
        "ftpsState: 'AllAllowed'",
    ),
    ("check_ftp_and_basic_auth_disabled", "modules/functionapp.bicep", "name: 'ftp'", "name: 'ftpx'"),
    (
        "check_no_storage_key_in_app_settings",
        "modules/functionapp.bicep",
        "name: 'AzureWebJobsStorage__accountName'",
        "name: 'AzureWebJobsStorage'",
    ),
    (
        "check_no_storage_key_in_app_settings",
        "modules/functionapp.bicep",
        "value: storageAccountName",
        "value: 'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=${storageKey}'",
    ),
    ("check_storage_roles_assigned", "modules/roles.bicep", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b", "0"),
    (
        "check_storage_roles_assigned",
        "modules/roles.bicep",
        "roleIds.storageTableDataContributor)\n    principalId: appPrincipalId",
        "roleIds.storageTableDataContributor)\n    principalId: operatorPrincipalId",
    ),
    (
        "check_key_vault_references",
        "modules/functionapp.bicep",
        "'@Microsoft.KeyVault(SecretUri=${clientSecretUri})'",
        "clientSecret",
    ),
    (
        "check_key_vault_references",
        "modules/functionapp.bicep",
        "keyVaultReferenceIdentity: identityId",
        "keyVaultReferenceIdentity: ''",
    ),
    (
        "check_key_vault_references",
        "modules/keyvault.bicep",
        "enablePurgeProtection: true",
        "enablePurgeProtection: false",
    ),
    (
        "check_key_vault_references",
        "modules/functionapp.bicep",
        "'@Microsoft.KeyVault(SecretUri=${clientCertificateSecretUri})'",
        "clientCertificateSecretUri",
    ),
    (  # the secret stays set when a certificate is given
        "check_one_credential",
        "modules/functionapp.bicep",
        f"? {SECRET_REFERENCE} : ''",
        f"? {SECRET_REFERENCE} : {SECRET_REFERENCE}",
    ),
    (  # the certificate's branches swapped: both set, or neither
        "check_one_credential",
        "modules/functionapp.bicep",
        f"? '' : {CERTIFICATE_REFERENCE}",
        f"? {CERTIFICATE_REFERENCE} : ''",
    ),
    (
        "check_one_credential",
        "modules/keyvault.bicep",
        "secrets/${clientCertificateName}/",
        "certificates/${clientCertificateName}/",
    ),
    (
        "check_one_credential",
        "main.bicep",
        "    clientCertificateSecretUri: keyVault.outputs.clientCertificateSecretUri\n",
        "",
    ),
    ("check_configuration_contract", "modules/functionapp.bicep", "name: 'BC_SCOPE'", "name: 'BC_SCOPES'"),
    (
        "check_configuration_contract",
        "modules/functionapp.bicep",
        "name: 'SYNC_AUTHORITY_HOST'",
        "name: 'SYNC_AUTHORITY'",
    ),
    ("check_secrets_are_secure_parameters", "main.bicep", "@secure()\n@minLength(16)", "@minLength(16)"),
    ("check_parameters_file", "main.parameters.json", '"bcApiUrl"', '"bcApiUri"'),
    (
        "check_module_wiring",
        "main.bicep",
        "    deploymentContainerUrl: storage",
        "    deploymentContainerUri: storage",
    ),
    (
        "check_module_wiring",
        "main.bicep",
        "storage.outputs.deploymentContainerUrl",
        "storage.outputs.containerUrl",
    ),
    ("check_module_wiring", "main.bicep", "    tags: tags\n    clientSecret:", "    clientSecret:"),
]


@pytest.mark.parametrize("name", list(CHECKS))
def test_templates_pass(name: str) -> None:
    CHECKS[name](load_templates())


@pytest.mark.parametrize(("name", "path", "old", "new"), MUTATIONS)
def test_each_check_catches_its_mutation(name: str, path: str, old: str, new: str) -> None:
    templates = load_templates()
    assert templates[path].count(old) >= 1, f"mutation target not found in {path}: {old!r}"
    templates[path] = templates[path].replace(old, new)
    with pytest.raises(AssertionError):
        CHECKS[name](templates)


def test_every_check_has_a_mutation() -> None:
    assert {m[0] for m in MUTATIONS} == set(CHECKS)


def test_azure_yaml_declares_the_function_service() -> None:
    text = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    assert re.search(r"^name: bcsync$", text, re.M)
    service = text[text.index("services:") :]
    for line in ("  api:", "    project: .", "    language: python", "    host: function"):
        assert f"\n{line}\n" in f"\n{service}\n", f"azure.yaml: {line.strip()}"


def test_checkov_passes() -> None:
    """scripts/checkov.sh: no failed check, every template parsed (skips are inline and justified)."""
    run = subprocess.run(
        ["bash", "scripts/checkov.sh"], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Failed checks: 0" in run.stdout, run.stdout
