"""The deployment: roles and playbook lint and parse, the Vagrant lab validates, and (slow) each
molecule scenario converges a container, converges it again without change and verifies that
the service works. The Ansible tooling lives in .venv-ansible (scripts/install-ansible.sh)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".venv-ansible" / "bin"
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").exists())
SCENARIOS = [
    *(r for r in ROLES if (ROOT / "roles" / r / "molecule" / "default" / "molecule.yml").exists()),
    "full-stack",
    "multi-host",
]


@pytest.fixture(scope="session")
def ansible_tools() -> Path:
    """Install the Ansible tooling once (idempotent; does nothing when it is up to date)."""
    done = subprocess.run(
        [ROOT / "scripts" / "install-ansible.sh"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"scripts/install-ansible.sh failed:\n{done.stdout}{done.stderr}"
    return TOOLS


def run(
    cmd: list[str | Path], cwd: Path = ROOT, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={
            "PATH": f"{TOOLS}:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(Path.home()),
            "NO_COLOR": "1",
        },
    )


def test_ansible_lint_production_profile(ansible_tools: Path) -> None:
    done = run(
        [
            ansible_tools / "ansible-lint",
            "--nocolor",
            "-f",
            "pep8",
            "-c",
            "tests/ansible/ansible-lint.yml",
            "roles",
            "ansible",
        ]
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Profile 'production' was required, and it passed" in done.stderr + done.stdout


@pytest.mark.parametrize("inventory", ["single", "lab", "multi"])
def test_site_playbook_syntax(ansible_tools: Path, inventory: str) -> None:
    done = run(
        [
            ansible_tools / "ansible-playbook",
            "-i",
            f"ansible/inventories/{inventory}",
            "--syntax-check",
            "ansible/site.yml",
        ]
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("inventory", ["single", "lab", "multi"])
def test_inventory_wires_daemons_to_the_stores(
    ansible_tools: Path, inventory: str, tmp_path: Path
) -> None:
    """Every inlet, outlet and worker is told where Kafka, ClickHouse and Redis listen, and the
    Redis URL carries the password generated for the deployment."""
    done = run(
        [ansible_tools / "ansible-inventory", "-i", f"ansible/inventories/{inventory}", "--list"]
    )
    assert done.returncode == 0, done.stderr
    groups = yaml.safe_load(done.stdout)
    for group in ("kafka", "clickhouse", "redis", "orchestrator", "inlet", "outlet", "enrich"):
        assert groups[group]["hosts"], f"group {group} is empty in {inventory}"
    host = groups["inlet"]["hosts"][0]
    for var in (
        "flowweir_common_kafka_brokers",
        "flowweir_common_clickhouse_servers",
        "flowweir_common_redis_url",
    ):
        shown = run(
            [
                ansible_tools / "ansible",
                "-i",
                f"ansible/inventories/{inventory}",
                host,
                "-m",
                "debug",
                "-a",
                f"var={var}",
                # The password lookups write here, not into the repository's inventory.
                "-e",
                f"flowweir_credentials_dir={tmp_path}",
            ]
        )
        assert shown.returncode == 0, shown.stdout + shown.stderr
        kafka = groups["_meta"]["hostvars"][groups["kafka"]["hosts"][0]]["flowweir_address"]
        redis = groups["_meta"]["hostvars"][groups["redis"]["hosts"][0]]["flowweir_address"]
        expected = {
            "flowweir_common_kafka_brokers": f"{kafka}:9092",
            "flowweir_common_clickhouse_servers": ":9000",
            "flowweir_common_redis_url": f"@{redis}:6379/0",
        }[var]
        assert expected in shown.stdout, shown.stdout
    password = (tmp_path / "redis").read_text().split()[0]
    assert f"redis://:{password}@" in shown.stdout


@pytest.mark.parametrize("role", ROLES)
def test_role_variables_are_prefixed_and_documented(role: str) -> None:
    base = ROOT / "roles" / role
    defaults = yaml.safe_load((base / "defaults" / "main.yml").read_text()) or {}
    readme = (base / "README.md").read_text()
    for name in defaults:
        assert name.startswith(f"{role}_"), f"{role}: variable {name} lacks the role prefix"
        assert f"`{name}`" in readme, f"{role}: variable {name} missing from README.md"
    for template in (base / "templates").rglob("*.j2"):
        assert "{{ ansible_managed }}" in template.read_text(), f"{template} lacks ansible_managed"
    assert (base / "tasks" / "setup-Debian.yml").exists()
    assert (base / "vars" / "Debian.yml").exists()


def test_console_reads_the_table_layout_the_orchestrator_creates() -> None:
    """The console picks the table a graph reads from the orchestrator's retention and rollups:
    when the inventory leaves them to the orchestrator role's defaults, the console role's
    fallbacks must be those same values (a rollup the console believes in and the orchestrator
    never created would fail every graph that picks it)."""
    roles = ROOT / "roles"
    orchestrator = yaml.safe_load((roles / "flowweir_orchestrator/defaults/main.yml").read_text())
    console = yaml.safe_load((roles / "flowweir_console/defaults/main.yml").read_text())

    def fallback(template: str) -> object:
        found = re.search(r"\|\s*default\((.*)\)\s*}}\s*$", template, re.S)
        assert found, template
        return ast.literal_eval(found.group(1))

    assert (
        fallback(console["flowweir_console_flows_retention"])
        == orchestrator["flowweir_orchestrator_retention"]
    )
    assert (
        fallback(console["flowweir_console_resolutions"])
        == orchestrator["flowweir_orchestrator_resolutions"]
    )


def test_vagrantfile_validates() -> None:
    vagrantfile = ROOT / "vagrant" / "Vagrantfile"
    if shutil.which("vagrant"):
        # --ignore-provider: the lab's VMs cannot boot here and a fresh machine has no provider;
        # the check is of the Vagrantfile itself, not of a hypervisor.
        done = run(
            ["vagrant", "validate", "--ignore-provider"], cwd=vagrantfile.parent, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "validated successfully" in done.stdout
    elif shutil.which("ruby"):
        done = run(["ruby", "-c", vagrantfile])
        assert done.returncode == 0, done.stdout + done.stderr
    else:
        pytest.skip("neither vagrant nor ruby installed (apt-get install vagrant)")
    text = vagrantfile.read_text()
    for machine in ("collector", "router1", "router2"):
        assert f'"{machine}"' in text
    lab = yaml.safe_load((ROOT / "ansible" / "inventories" / "lab" / "hosts.yml").read_text())
    for name, host in lab["all"]["hosts"].items():
        assert re.search(rf'"{name}" => {{ ip: "{re.escape(host["ansible_host"])}"', text), (
            f"{name}: the Vagrantfile and the lab inventory disagree on its address"
        )


@pytest.mark.slow
@pytest.mark.timeout(2400)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(ansible_tools: Path, scenario: str) -> None:
    """converge, idempotence (0 changed), verify: see each scenario's verify.yml."""
    if not shutil.which("podman"):
        pytest.fail("podman is not installed: run scripts/install-ansible.sh as root")
    done = run([ROOT / "scripts" / "molecule" / "run.sh", scenario], timeout=2300)
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-80:])
    assert done.returncode == 0, tail
