"""``akshift config validate`` / ``schema``: exit codes, one line per problem, JSON output, no Pulumi.

The typer app is exercised directly (``akshift.cmd_config.app``) so these tests
do not depend on the other command groups of ``akshift.cli``.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from akshift.cmd_config import app
from stacks.schema import render_schema

from support import ROOT

runner = CliRunner()


def broken_stack(tmp_path: Path) -> Path:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.test.yaml").read_text())
    doc["config"]["akshift:networking"]["podCidr"] = "10.20.0.0/16"  # overlaps the VNet
    doc["config"]["akshift:networking"]["dnsServiceIP"] = "10.99.0.10"  # outside the service CIDR
    doc["config"]["akshift:nodePools"][1]["autoscaling"] = {"minCount": 4, "maxCount": 2}
    f = tmp_path / "Pulumi.broken.yaml"
    f.write_text(yaml.safe_dump(doc))
    return f


@pytest.mark.parametrize("name", ["test", "prod"])
def test_validate_accepts_the_shipped_stacks_with_exit_0_an_ok_line_and_what_will_really_run(name: str) -> None:
    result = runner.invoke(app, ["validate", str(ROOT / "stacks" / f"Pulumi.{name}.yaml")])
    assert result.exit_code == 0, result.output
    first, *details = result.stdout.splitlines()
    assert first.startswith("OK ") and f"aks-akshift-{name}" in first
    topics = [line.strip().split(":", 1)[0] for line in details]
    assert topics == ["kubernetes", "networking", "egress", "node DNS", "access", "API server", "monitoring",
                      "security add-ons", "disk copies", "protect"]
    # test and prod run the same DNS path: LocalDNS Required on every pool.
    assert "  node DNS: AKS LocalDNS (Required) on pools system, apps" in result.stdout
    # ... and sign in the same way: Entra ID, no local accounts, a kubelogin kubeconfig.
    assert ("  access: Entra ID with Azure RBAC; local accounts disabled; kubeconfig output: kubelogin exec "
            "(--login azurecli)") in result.stdout


def test_validate_shows_the_production_baseline_prod_turns_on_and_what_test_leaves_off() -> None:
    prod = runner.invoke(app, ["validate", str(ROOT / "stacks" / "Pulumi.prod.yaml")]).stdout
    assert "  API server: public, limited to 203.0.113.0/24" in prod
    assert ("  monitoring: Log Analytics workspace (30 days); Container Insights; logs kube-audit-admin, guard, "
            "cluster-autoscaler, kube-controller-manager") in prod
    assert "  security add-ons: Defender, Azure Policy, Image Cleaner, Key Vault secrets provider" in prod
    test = runner.invoke(app, ["validate", str(ROOT / "stacks" / "Pulumi.test.yaml")]).stdout
    assert "  API server: public to the internet (no authorized IP ranges)" in test
    assert "  monitoring: none" in test and "  security add-ons: none" in test


def test_validate_says_when_no_node_dns_cache_will_run_and_that_localdns_is_disabled(tmp_path: Path) -> None:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.test.yaml").read_text())
    doc["config"]["akshift:dns"] = {"nodeCache": "none"}
    doc["config"]["akshift:networking"].update(outboundType="userDefinedRouting")
    doc["config"]["akshift:network"]["routeTable"] = {"firewallIp": "10.99.0.4"}
    f = tmp_path / "Pulumi.nodns.yaml"
    f.write_text(yaml.safe_dump(doc))
    result = runner.invoke(app, ["validate", str(f)])
    assert result.exit_code == 0, result.output
    assert "  node DNS: no node cache: pods query CoreDNS directly; LocalDNS sent Disabled on pools system, apps" \
        in result.stdout
    assert "  egress: route table: 0.0.0.0/0 to the firewall at 10.99.0.4" in result.stdout


def test_validate_rejects_a_broken_stack_with_exit_2_and_one_line_per_problem(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(broken_stack(tmp_path))])
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == [
        "networking.dnsServiceIP", "networking.podCidr", "nodePools[1].autoscaling.minCount"]
    assert all(re.match(r"^[\w.\[\]]+: \S", line) for line in lines)


def test_validate_json_output_is_a_list_of_problems_with_key_paths(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(broken_stack(tmp_path)), "--output", "json"])
    assert result.exit_code == 2
    problems = json.loads(result.stdout)
    assert {p["key"] for p in problems} == {"networking.dnsServiceIP", "networking.podCidr", "nodePools[1].autoscaling.minCount"}
    assert all(set(p) == {"key", "keys", "message"} for p in problems)


def test_validate_json_output_is_an_empty_list_for_a_valid_stack() -> None:
    result = runner.invoke(app, ["validate", str(ROOT / "stacks" / "Pulumi.prod.yaml"), "-o", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_validate_reports_a_missing_file_with_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "Pulumi.nope.yaml")])
    assert result.exit_code == 2
    assert result.stdout.strip().endswith("Pulumi.nope.yaml: no such file; pass a stack file such as stacks/Pulumi.test.yaml")


def test_validate_reports_malformed_yaml_with_exit_2_and_the_line(tmp_path: Path) -> None:
    f = tmp_path / "Pulumi.bad.yaml"
    f.write_text("config:\n  akshift:cluster: {name: x\n")
    result = runner.invoke(app, ["validate", str(f)])
    assert result.exit_code == 2
    assert re.search(r"Pulumi\.bad\.yaml: not valid YAML at line \d+, column \d+", result.stdout)


def test_schema_prints_the_exported_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0 and result.stdout == render_schema()


def test_schema_out_writes_the_schema_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    result = runner.invoke(app, ["schema", "--out", str(target)])
    assert result.exit_code == 0 and json.loads(target.read_text())["title"].startswith("akshift stack file")


def test_config_command_loads_without_pulumi() -> None:
    code = ("import sys, akshift.cmd_config; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_azure_native', 'pulumi_kubernetes', 'components')); "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_summary_of_an_existing_cluster_stack_names_no_node_pools() -> None:
    from typer.testing import CliRunner

    from akshift.cmd_config import app

    result = CliRunner().invoke(app, ["validate", "stacks/Pulumi.sandbox.yaml"])
    assert result.exit_code == 0, result.output
    assert "existing cluster green" in result.output and "node pool" not in result.output
