"""The README's two quick-start commands are the ones CI and the demo run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the quick start has a bash block"
    return [
        line.split("#", 1)[0].strip()
        for line in block.group(1).splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_quick_start_is_exactly_demo_and_tests():
    assert _quick_start_commands() == ["scripts/demo.sh", "scripts/test.sh"]


def test_ci_runs_the_readme_test_command_and_nothing_looser():
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines() if line.strip() and not line.startswith("#")]
    assert commands[-1].strip() == "exec scripts/test.sh"
    test_sh = (ROOT / "scripts" / "test.sh").read_text()
    assert "scripts/setup.sh" in test_sh and "pytest" in test_sh
    assert "-k " not in test_sh and "--deselect" not in test_sh and "|| true" not in test_sh


def test_demo_runs_curation_training_and_generation_after_setup():
    demo = (ROOT / "scripts" / "demo.sh").read_text()
    steps = [
        "scripts/setup.sh",
        "curate make-sample",
        "curate m3w",
        "curate pairs",
        "curate video",
        "interleaf-train",
        "interleaf-generate",
    ]
    positions = [demo.index(step) for step in steps]
    assert positions == sorted(positions)
