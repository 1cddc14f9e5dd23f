"""The stage graph: what each stage's freshness depends on, and its one order."""

from __future__ import annotations

from app.pipeline.graph import ROLE_OF_STAGE, STAGE_INPUTS, STAGE_OUTPUT, STAGES, stage_inputs
from app.store import Shot


def _inputs(stage: str, versions: dict[str, int]) -> dict[str, object]:
    return stage_inputs(stage, 3, Shot(0, 10), "classical", lambda layer, _frame: versions.get(layer, 1))


def test_a_stage_goes_stale_only_for_layers_it_reads() -> None:
    base = _inputs("annotate", {})
    # The annotator reads the frame and its labels: a new matte or effect map leaves annotations fresh.
    assert _inputs("annotate", {"alpha": 7, "effects": 7}) == base
    assert _inputs("annotate", {"masks": 7}) != base
    assert _inputs("inpaint", {"effects": 7}) != _inputs("inpaint", {})
    # The plate reads the matte (a source lends what its matte says is background: `matte_background`).
    assert _inputs("inpaint", {"alpha": 7}) != _inputs("inpaint", {})
    assert _inputs("matte", {"effects": 7}) == _inputs("matte", {})


def test_one_order_and_every_stage_described() -> None:
    assert STAGES == ("segment", "propagate", "matte", "effects", "inpaint", "annotate")
    for table in (ROLE_OF_STAGE, STAGE_INPUTS, STAGE_OUTPUT):
        assert set(table) == set(STAGES)
    # Each stage reads only what an earlier stage writes.
    written: set[str] = set()
    for stage in STAGES:
        assert set(STAGE_INPUTS[stage]) <= written, stage
        output = STAGE_OUTPUT[stage]
        written |= ({output} if output else set()) | ({"confidence"} if stage == "propagate" else set())


def test_saved_settings_read_the_old_override_key() -> None:
    from types import SimpleNamespace

    from app.pipeline.runner import PipelineSettings
    from app.ui.runner_link import pipeline_settings

    old = SimpleNamespace(manifest=SimpleNamespace(settings={"stage3_override": 0.7, "batch_size": 2}))
    settings = PipelineSettings(**pipeline_settings(old))  # type: ignore[arg-type]
    assert settings.propagate_override == 0.7 and settings.batch_size == 2
    new = SimpleNamespace(manifest=SimpleNamespace(settings={"stage3_override": 0.7, "propagate_override": 0.9}))
    assert pipeline_settings(new)["propagate_override"] == 0.9  # type: ignore[arg-type]
