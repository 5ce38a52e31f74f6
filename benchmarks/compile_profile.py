"""Where the spring step's compile goes: generated code and kernels per stage of ``spring.step``.

XLA's CPU compile time is mostly LLVM code generation, roughly in proportion
to the code it is given. This script compiles the throughput benchmark's ant
rollout (``benchmarks/throughput.py``) with each stage of the step wrapped in
a ``jax.named_scope`` and XLA dumping its modules, then attributes every
kernel of the compiled program to a stage through the ``op_name`` of its
root instruction. For each stage it reports the lines of LLVM IR that XLA
generated (after LLVM's optimisation), the kernels and the HLO instructions;
``step`` is the step's own code between those stages and ``rollout`` what
lies outside the step (random controls, the loops).

Usage::

    python -m benchmarks.compile_profile [--batch 1024] [--steps 20] [--json PATH]

Prints one JSON object: the first call's stages (``stages.first_call``) and
the per-stage table, largest first. Run it in a process of its own: ``main``
asks XLA for the dump, which works only before JAX's backend starts.
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import re
import shutil
import tempfile
from pathlib import Path

import jax

import tumble
from benchmarks import common, throughput
from benchmarks.stages import first_call
from tumble import kinematics
from tumble.collision import driver
from tumble.spring import articulated, contacts, fluid, forces, joints, pipeline
from tumble.spring import bodies as bodies_lib

# (module, function, stage name): spring.step, and what it calls, each wrapped in a named scope;
# a kernel belongs to the innermost one ("step": the step's own code between the stages).
STAGES = (
    (tumble.spring, "step", "step"),
    (pipeline, "_approach", "bounce_rates"),
    (fluid, "apply", "fluid"),
    (bodies_lib, "from_state", "body_state"),
    (driver, "collide", "collision"),
    (forces, "actuator_force", "actuators"),
    (articulated, "columns", "dof_columns"),
    (articulated, "body_jacobians", "body_jacobians"),
    (articulated, "inertia", "inertia"),
    (articulated, "inverse", "inertia_inverse"),
    (articulated, "generalized", "generalized"),
    (contacts, "solve", "contact_solve"),
    (articulated, "twists", "twists"),
    (joints, "impulses", "joint_springs"),
    (pipeline, "_wrench", "wrench"),
    (bodies_lib, "integrate", "integrate"),
    (kinematics, "inverse", "inverse_kinematics"),
    (pipeline, "_joint_reactions", "joint_reactions"),
)
MARK = "stage__"


def scoped(fn, name: str):
    """``fn`` run inside ``jax.named_scope(MARK + name)``."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with jax.named_scope(MARK + name):
            return fn(*args, **kwargs)

    return wrapped


def stage_of(hlo_text: str) -> dict[str, str]:
    """Instruction name -> stage, from the innermost stage marker in each instruction's ``op_name``
    (``rollout`` where there is none)."""
    out = {}
    for m in re.finditer(r"^\s*(?:ROOT )?%?([\w.\-]+) = .*?op_name=\"([^\"]*)\"", hlo_text, re.M):
        marks = re.findall(MARK + r"(\w+)", m.group(2))
        out.setdefault(m.group(1), marks[-1] if marks else "rollout")
    return out


def ir_functions(ll_text: str) -> dict[str, int]:
    """Lines of each function defined in an LLVM IR file."""
    return {
        m.group(1): m.group(0).count("\n") + 1
        for m in re.finditer(r'^define [^@\n]*@"?([\w.\-]+)"?\(.*?^\}$', ll_text, re.M | re.S)
    }


def table(hlo_text: str, ir: dict[str, int]) -> list[dict]:
    """Per stage: LLVM IR lines and kernels (functions named after the stage's fusions), HLO
    instructions; largest IR first."""
    stage = stage_of(hlo_text)
    rows = collections.defaultdict(lambda: {"ir_lines": 0, "kernels": 0, "hlo_instructions": 0})
    for name, lines in ir.items():
        row = rows[stage.get(name, "rollout")]
        row["ir_lines"] += lines
        row["kernels"] += 1
    for s in stage.values():
        rows[s]["hlo_instructions"] += 1
    total = sum(r["ir_lines"] for r in rows.values()) or 1
    out = [{"stage": s, **r, "ir_share": round(r["ir_lines"] / total, 3)} for s, r in rows.items()]
    return sorted(out, key=lambda r: -r["ir_lines"])


def measure(batch: int, steps: int, dump: str) -> dict:
    """Compiles and runs the ant rollout once with the stages scoped; reads XLA's dump in ``dump``."""
    for module, fn, name in STAGES:
        setattr(module, fn, scoped(getattr(module, fn), name))
    model = tumble.load(str(throughput.ANT_XML))
    states = throughput.batched_init(model, batch)
    rollout = throughput.make_rollout(model, batch, steps, throughput.SUBSTEPS, False)
    compiled, _, _, stages = first_call(rollout, states, jax.random.PRNGKey(1))
    ir: dict[str, int] = {}
    for path in Path(dump).glob("*jit_rollout*ir-with-opt.ll"):
        ir.update(ir_functions(path.read_text()))
    rows = table(compiled.as_text(), ir)
    return {
        "batch": batch,
        "steps": steps,
        "devices": len(jax.devices()),
        "first_call": stages,
        "ir_lines": sum(r["ir_lines"] for r in rows),
        "kernels": sum(r["kernels"] for r in rows),
        "stages": rows,
    }


def main(argv: list[str] | None = None) -> None:
    """Measures, prints the JSON object, optionally saves it; removes the dump."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--steps", type=int, default=20, help="env steps in the compiled rollout")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    dump = tempfile.mkdtemp(prefix="tumble-xla-dump-")
    flags = [os.environ.get("XLA_FLAGS", ""), f"--xla_dump_to={dump}", "--xla_dump_hlo_module_re=.*rollout.*"]
    os.environ["XLA_FLAGS"] = " ".join(flags).strip()  # read when JAX's backend starts, below
    try:
        result = common.stamp(measure(args.batch, args.steps, dump), "compile_profile", False)
    finally:
        shutil.rmtree(dump, ignore_errors=True)
    common.print_json(result, args.json)


if __name__ == "__main__":
    main()
