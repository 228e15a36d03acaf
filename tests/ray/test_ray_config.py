"""A role's executor and its ``ray`` table: decoded at the boundary, each problem naming its
key and line; a role on Ray needs Ray installed (one line naming the role)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from handoffs.messages import RaySpec

from handoffs import ConfigError, check_config, load_config

CONFIG = """\
[roles.writer]
agent = "fakes:write"
executor = "ray"
ray = { address = "auto", num_cpus = 0.5, num_gpus = 1, runtime_env = { env_vars = { A = "1" } } }

[roles.reviewer]
agent = "fakes:review"

[pipelines.p]
start = "write"

[pipelines.p.stages.write]
role = "writer"
output = "Draft"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_a_role_on_ray_loads_with_its_ray_table(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    spec = load_config(write(tmp_path, CONFIG)).config.roles["writer"]
    assert spec.executor == "ray"
    assert spec.ray == RaySpec(num_cpus=0.5, num_gpus=1.0, runtime_env={"env_vars": {"A": "1"}})
    assert load_config(write(tmp_path, CONFIG)).config.roles["reviewer"].executor == "local"


def test_a_role_on_ray_without_ray_installed_is_one_line_naming_the_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what importlib finds when it is absent
    path = write(tmp_path, CONFIG)
    problem = (
        f"{path}:3: role 'writer': executor = \"ray\" needs Ray installed "
        "(pip install 'handoffs[ray]') at `$.roles.writer.executor`"
    )
    assert check_config(path) == [problem]
    with pytest.raises(ConfigError, match=f"^{re.escape(problem)}$"):
        load_config(path)


def test_a_ray_table_on_a_local_role_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG.replace('executor = "ray"\n', ""))
    assert check_config(path) == [
        f"{path}:3: role 'writer': a `ray` table needs executor = \"ray\" (this role runs "
        "local) at `$.roles.writer.ray`"
    ]


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            'executor = "ray"',
            'executor = "gpu"',
            "3: Invalid enum value 'gpu' at `$.roles.writer.executor`",
        ),
        (
            "num_gpus = 1",
            "num_gpus = -1",
            "4: Expected `float` >= 0.0 at `$.roles.writer.ray.num_gpus`",
        ),
        (
            'address = "auto"',
            'adress = "auto"',
            "4: Object contains unknown field `adress` at `$.roles.writer.ray`",
        ),
    ],
)
def test_a_bad_ray_field_is_named_with_its_line(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    path = write(tmp_path, CONFIG.replace(old, new))
    assert check_config(path) == [f"{path}:{problem}"]


def test_a_runtime_env_ray_refuses_is_named(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    path = write(tmp_path, CONFIG.replace('A = "1"', "A = 1"))
    assert check_config(path) == [
        f"{path}:4: role 'writer': runtime_env is not Ray's: runtime_env['env_vars'] must be "
        "of type Dict[str, str], but the value 1 is of type <class 'int'> at "
        "`$.roles.writer.ray.runtime_env`"
    ]
