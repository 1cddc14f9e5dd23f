"""Export formats checked against the demo generator's exact ground truth."""

from __future__ import annotations

import argparse
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from app.demo.groundtruth import GroundTruth, load_ground_truth
from app.demo.project import GROUND_TRUTH_FILE, create_demo_project
from app.export import export_project
from app.export.cli import parse_options, run_export_command
from app.export.naming import ExportError
from app.export.render import SDXL_BUCKETS, object_alpha
from app.store import Project

TAGS = ["1girl", "outdoors"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A 2-shot, 6-frame demo whose layers hold the ground truth (no pipeline involved)."""
    root = tmp_path_factory.mktemp("export") / "demo"
    project = create_demo_project(root, width=160, height=96, shots=2, frames_per_shot=3)
    with load_ground_truth(root / GROUND_TRUTH_FILE) as gt:
        register_true_cast(project, gt)
        for i in range(project.frame_count):
            project.layers.write("masks", i, gt.layer("labels", i), {"backend": "truth", "version": 1})
            project.layers.write("alpha", i, gt.layer("alpha", i), {"backend": "truth"})
            project.layers.write("effects", i, gt.layer("effects", i), {"backend": "truth"})
            project.layers.write("clean", i, gt.layer("clean", i), {"backend": "truth"})
            project.layers.write_record("annotations", i, {"tags": TAGS, "caption": f"frame {i}", "backend": "test"})
    yield project
    project.close()


def register_true_cast(project: Project, gt: GroundTruth) -> None:
    """The demo's manifest holds no objects; these tests write the truth's labels as the masks
    layer, so they list the truth's cast as the project's objects (same ids)."""
    for member in gt.meta["cast"]:
        info = project.add_object(member["name"], "character", tuple(member["colour"]))
        info.identity = member["identity"]
        assert info.id == member["id"]
    project.save_manifest()


def read_png(path: Path) -> np.ndarray:
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert data is not None, path
    if data.ndim == 3 and data.shape[2] == 4:
        return cv2.cvtColor(data, cv2.COLOR_BGRA2RGBA)
    if data.ndim == 3:
        return cv2.cvtColor(data, cv2.COLOR_BGR2RGB)
    return data


def layer(project: Project, name: str, frame: int) -> np.ndarray:
    array = project.layers.read(name, frame)
    assert array is not None, (name, frame)
    return array


def manifest(out: Path) -> dict[str, dict]:
    return {f["path"]: f for f in json.loads((out / "manifest.json").read_text())["files"]}


def test_kohya_cutouts_alpha_and_captions(demo: Project, tmp_path: Path) -> None:
    out = tmp_path / "kohya"
    export_project(demo, out, format="kohya", repeats=5)
    files = manifest(out)
    images = sorted((out / "img").rglob("*.png"))
    assert images and len(images) == sum(1 for p in files if p.endswith(".png"))
    for path in images:
        entry = files[path.relative_to(out).as_posix()]
        frame, oid = entry["frame"], entry["object"]["id"]
        rgba = read_png(path)
        stored = object_alpha(layer(demo, "masks", frame), layer(demo, "alpha", frame), oid)
        assert np.array_equal(rgba[..., 3], stored)
        # the stored matte itself: inside the object's own labels the cut-out alpha is the matte
        own = layer(demo, "masks", frame) == oid
        assert np.array_equal(rgba[..., 3][own], layer(demo, "alpha", frame)[own])
        trigger = demo.object(oid).name.lower()  # type: ignore[union-attr]
        assert path.parent.name == f"5_{trigger}"
        caption = path.with_suffix(".txt").read_text().strip()
        assert caption == ", ".join([trigger, *TAGS])
        assert entry["sources"]["alpha"]["backend"] == "truth"
        assert len(entry["sha256"]) == 64
    assert "alpha_mask = true" in (out / "dataset.toml").read_text()


def test_kohya_frames_mask_folder_and_buckets(demo: Project, tmp_path: Path) -> None:
    out = tmp_path / "kohya_frames"
    export_project(demo, out, format="kohya", unit="frame", mask="folder", concept="My Show!")
    frame0 = read_png(out / "img" / "10_my_show" / "f000000.png")
    assert frame0.shape == (96, 160, 3) and np.array_equal(frame0, demo.frame(0))
    mask0 = read_png(out / "mask" / "10_my_show" / "f000000.png")
    labels, alpha = demo.layers.read("masks", 0), demo.layers.read("alpha", 0)
    assert labels is not None and alpha is not None
    assert np.array_equal(mask0[labels > 0], alpha[labels > 0])
    names = {o.name.lower() for o in demo.manifest.objects if (labels == o.id).any()}
    words = (out / "img" / "10_my_show" / "f000000.txt").read_text().strip().split(", ")
    assert set(words[: len(names)]) == names and words[len(names):] == TAGS

    out = tmp_path / "kohya_buckets"
    export_project(demo, out, format="kohya", buckets="sdxl", background="white", frames=[0])
    for path in (out / "img").rglob("*.png"):
        rgba = read_png(path)
        assert (rgba.shape[1], rgba.shape[0]) in SDXL_BUCKETS
        assert rgba[..., 3].max() == 255 and (rgba[..., 3] == 0).any()
        assert np.all(rgba[..., :3][rgba[..., 3] == 0] == 255)  # flat white background


def test_layers_match_store(demo: Project, tmp_path: Path) -> None:
    out = tmp_path / "layers"
    export_project(demo, out, format="layers", alpha16=True)
    gt = load_ground_truth(demo.root / GROUND_TRUTH_FILE)
    for f in range(demo.frame_count):
        labels, stored_alpha = layer(demo, "masks", f), layer(demo, "alpha", f)
        palette = Image.open(out / "masks" / "palette" / f"f{f:06d}.png")
        assert palette.mode == "P" and np.array_equal(np.asarray(palette), gt.layer("labels", f))
        alpha16 = read_png(out / "alpha" / f"f{f:06d}.png")
        assert alpha16.dtype == np.uint16 and np.array_equal(alpha16 // 257, stored_alpha)
        assert np.array_equal(read_png(out / "clean" / f"f{f:06d}.png"), gt.layer("clean", f))
        for oid in np.unique(labels[labels > 0]):
            folder = f"{oid:03d}_{demo.object(int(oid)).name}"  # type: ignore[union-attr]
            binary = read_png(out / "masks" / "binary" / folder / f"f{f:06d}.png")
            assert np.array_equal(binary > 0, labels == oid)
            rgba = read_png(out / "objects" / folder / f"f{f:06d}.png")
            assert rgba.dtype == np.uint16
            own = labels == oid
            assert np.array_equal(rgba[..., 3][own] // 257, stored_alpha[own])
            # decontaminated colour: where the character is opaque, the true foreground colour
            solid = own & (gt.layer("alpha", f) > 0.999) & (gt.layer("effects", f) == 0)
            if solid.any():
                diff = np.abs(rgba[..., :3][solid] // 257 - gt.layer("foreground", f)[solid].astype(int))
                assert diff.max() <= 1
    gt.close()


def test_coco_roundtrip_with_pycocotools(demo: Project, tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    out = tmp_path / "coco"
    export_project(demo, out, format="coco")
    coco = COCO(str(out / "annotations.json"))
    assert len(coco.dataset["videos"]) == len(demo.shots)
    assert len(coco.getImgIds()) == demo.frame_count
    for img in coco.loadImgs(coco.getImgIds()):
        labels = demo.layers.read("masks", img["frame_index"])
        assert labels is not None
        assert (out / "images" / img["file_name"]).is_file()
        assert img["video_id"] == next(i for i, s in enumerate(demo.shots) if img["frame_index"] in s) + 1
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
        assert {a["category_id"] for a in anns} == set(np.unique(labels[labels > 0]).tolist())
        for ann in anns:
            assert np.array_equal(coco.annToMask(ann).astype(bool), labels == ann["category_id"])
            assert ann["area"] == int((labels == ann["category_id"]).sum())


def test_hf_imagefolder_loads_with_datasets(demo: Project, tmp_path: Path) -> None:
    import datasets

    out = tmp_path / "hf"
    export_project(demo, out, format="hf", shots=[1])
    ds = datasets.load_dataset("imagefolder", data_dir=str(out), split="train")
    shot = demo.shots[1]
    expected = sum(len(np.unique(layer(demo, "masks", f))) - 1 for f in range(shot.start, shot.end))
    assert len(ds) == expected
    row = ds[0]
    assert row["image"].mode == "RGBA" and row["text"].endswith(", ".join(TAGS))
    assert row["characters"][0] in row["text"] and all(shot.start <= f < shot.end for f in ds["frame"])
    mask = read_png(out / row["mask_file"])
    assert np.array_equal(np.asarray(row["image"])[..., 3], mask)


def test_webdataset_shards_have_expected_keys(demo: Project, tmp_path: Path) -> None:
    out = tmp_path / "wds"
    export_project(demo, out, format="webdataset", unit="frame", shard_size=4)
    shards = sorted((out / "shards").glob("*.tar"))
    assert [s.name for s in shards] == ["shard-000000.tar", "shard-000001.tar"]
    names: list[str] = []
    for shard in shards:
        with tarfile.open(shard) as tar:
            names += tar.getnames()
    stems = sorted({n.split(".", 1)[0] for n in names})
    assert stems == [f"f{f:06d}" for f in range(demo.frame_count)]
    for stem in stems:
        assert {f"{stem}.png", f"{stem}.mask.png", f"{stem}.txt", f"{stem}.json"} <= set(names)
    with tarfile.open(shards[0]) as tar:
        meta = json.loads(tar.extractfile("f000000.json").read())  # type: ignore[union-attr]
    assert meta["frame"] == 0 and meta["tags"] == TAGS


def test_reexport_writes_nothing_and_resumes(demo: Project, tmp_path: Path) -> None:
    out = tmp_path / "again"
    first = export_project(demo, out, format="layers", frames=[0, 1, 2])
    assert first["written"] == first["files"] > 0
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    second = export_project(demo, out, format="layers", frames=[0, 1, 2])
    assert second["written"] == 0 and second["skipped"] == first["files"]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == mtimes
    # a deleted file (an interrupted run) is the only one written again
    victim = next(iter(sorted((out / "alpha").glob("*.png"))))
    victim.unlink()
    third = export_project(demo, out, format="layers", frames=[0, 1, 2])
    assert third["written"] == 1 and victim.is_file()
    # a changed layer re-exports only that frame's files that depend on it
    effects = demo.layers.read("effects", 1)
    assert effects is not None
    demo.layers.write("effects", 1, effects, {"backend": "other"})
    fourth = export_project(demo, out, format="layers", frames=[0, 1, 2])
    changed = {p for p, e in manifest(out).items() if e.get("frame") == 1}  # report.html has no frame
    assert fourth["written"] == len(changed) and all(manifest(out)[p]["sources"]["effects"]["backend"] == "other" for p in changed)
    # a narrower export removes files it no longer contains
    fifth = export_project(demo, out, format="layers", frames=[0])
    assert fifth["removed"] and not (out / "alpha" / "f000002.png").exists()


def test_hostile_object_names_stay_inside(tmp_path: Path) -> None:
    project = create_demo_project(tmp_path / "p", width=96, height=64, shots=1, frames_per_shot=2)
    try:
        with load_ground_truth(tmp_path / "p" / GROUND_TRUTH_FILE) as gt:
            register_true_cast(project, gt)
            for i in range(project.frame_count):
                project.layers.write("masks", i, gt.layer("labels", i))
                project.layers.write("alpha", i, gt.layer("alpha", i))
        hostile = ["../../evil", "a/b\\c", "/abs", "..", "CON"]
        for obj, name in zip(project.manifest.objects, hostile, strict=False):
            obj.name, obj.identity = name, None
        out = tmp_path / "out" / "x"
        for fmt in ("kohya", "layers", "hf"):
            export_project(project, out / fmt, format=fmt)
        inside = (tmp_path / "out").resolve()
        written = [p for p in tmp_path.rglob("*") if p.is_file() and "p" not in p.relative_to(tmp_path).parts[:1]]
        assert written and all(inside in p.resolve().parents for p in written)
        assert not list(tmp_path.rglob("evil*")) or all(inside in p.resolve().parents for p in tmp_path.rglob("evil*"))
        for entry in manifest(out / "layers"):
            assert ".." not in entry.split("/") and "\\" not in entry
    finally:
        project.close()


def test_selection_filters(demo: Project, tmp_path: Path) -> None:
    ids = [o.id for o in demo.manifest.objects]
    s = export_project(demo, tmp_path / "a", format="coco", max_per_shot=1)
    assert s["frames"] == len(demo.shots)
    s = export_project(demo, tmp_path / "b", format="kohya", objects=[demo.manifest.objects[0].name])
    assert {p.parent.name for p in (tmp_path / "b" / "img").rglob("*.png")} == {f"10_{demo.manifest.objects[0].name.lower()}"}
    s = export_project(demo, tmp_path / "c", format="kohya", balance=True)
    counts = {p.name: len(list(p.glob("*.png"))) for p in (tmp_path / "c" / "img").iterdir()}
    assert len(set(counts.values())) == 1 and len(counts) == len(ids)
    s = export_project(demo, tmp_path / "d", format="coco", dedupe=64)  # everything alike within a cast
    assert s["frames"] < demo.frame_count
    with pytest.raises(ExportError):
        export_project(demo, tmp_path / "e", format="coco", corrected_only=True)
    with pytest.raises(ExportError):
        export_project(demo, tmp_path / "f", format="coco", min_area=10**6)


def test_cli_options_and_errors(demo: Project, tmp_path: Path) -> None:
    opts = parse_options(["shots=0,1", "balance=yes", "min_confidence=0.5", "repeats=3", "background=#ffffff"])
    assert opts == {"shots": [0, 1], "balance": True, "min_confidence": 0.5, "repeats": 3, "background": "#ffffff"}
    with pytest.raises(ExportError):
        parse_options(["balance"])
    with pytest.raises(ExportError):
        export_project(demo, tmp_path / "x", format="nope")
    with pytest.raises(ExportError):
        export_project(demo, tmp_path / "y", format="kohya", mask="sideways")

    args = argparse.Namespace(project=str(demo.root), out=str(tmp_path / "cli"), format="coco",
                              option=["max_per_shot=1"])

    demo.layers.flush()
    assert run_export_command(args) == 0
    assert json.loads((tmp_path / "cli" / "annotations.json").read_text())["images"]


def test_cancel_keeps_finished_files_and_resumes(demo: Project, tmp_path: Path) -> None:
    from app.export import ExportCancelled

    out = tmp_path / "cancel"
    seen: list[tuple[int, int]] = []
    with pytest.raises(ExportCancelled):
        export_project(demo, out, format="coco", workers=1, progress=lambda d, t: seen.append((d, t)),
                       cancel=lambda: len(seen) >= 2)
    assert seen[-1] == (2, demo.frame_count)
    partial = manifest(out)
    assert len(partial) == 2 and not (out / "annotations.json").exists()
    resumed = export_project(demo, out, format="coco", workers=1)
    assert resumed["skipped"] == 2 and (out / "annotations.json").is_file()


# -- reliability: folders with foreign content, resume against the bytes on disk, killed runs, full disks ---

def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_export_never_deletes_files_it_did_not_write(demo: Project, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    foreign = {"files": [{"path": "notes.txt", "sha256": "0", "size": 5}, {"path": "thesis.pdf"}]}
    (out / "manifest.json").write_text(json.dumps(foreign))
    (out / "notes.txt").write_text("notes")
    (out / "thesis.pdf").write_bytes(b"%PDF-1.7 my thesis")
    before = _tree(out)
    with pytest.raises(ExportError, match=r"holds another program's manifest\.json Celstudio did not write .*--force"):
        export_project(demo, out, format="layers", frames=[0, 1])
    assert _tree(out) == before
    # --force exports alongside: nothing of the user's is deleted, their manifest is moved aside, not overwritten
    summary = export_project(demo, out, format="layers", frames=[0, 1], force=True)
    assert summary["moved_aside"] == "manifest.json.orig"
    after = _tree(out)
    assert after["notes.txt"] == before["notes.txt"] and after["thesis.pdf"] == before["thesis.pdf"]
    assert after["manifest.json.orig"] == before["manifest.json"]
    doc = json.loads(after["manifest.json"])
    assert doc["generator"] == "celstudio" and doc["complete"] is True
    # a narrower re-export removes only its own stale files, and only while they hold the bytes it wrote
    edited = out / "alpha" / "f000001.png"
    edited.write_bytes(b"the user's own edit")
    narrower = export_project(demo, out, format="layers", frames=[0], force=True)
    assert "frames/f000001.png" in narrower["removed"] and not (out / "frames" / "f000001.png").exists()
    assert narrower["kept_changed"] == ["alpha/f000001.png"] and edited.read_bytes() == b"the user's own edit"
    assert (out / "notes.txt").read_text() == "notes" and (out / "thesis.pdf").is_file()


def test_export_refuses_unknown_content_but_resumes_its_own(demo: Project, tmp_path: Path) -> None:
    out = tmp_path / "plain"
    out.mkdir()
    (out / "readme.md").write_text("mine")
    with pytest.raises(ExportError, match=r"holds files Celstudio did not write \(1: readme\.md\)"):
        export_project(demo, out, format="coco")
    (out / "readme.md").unlink()
    (out / "sub").mkdir()  # an empty folder is no content
    export_project(demo, out, format="coco")
    export_project(demo, out, format="coco")  # its own earlier export is fine
    (out / "images" / "extra.png").write_bytes(b"x")
    with pytest.raises(ExportError, match=r"images/extra\.png"):
        export_project(demo, out, format="coco")
    (out / "images" / "extra.png").unlink()
    (out / "linked").symlink_to(tmp_path, target_is_directory=True)  # a link is never Celstudio's
    with pytest.raises(ExportError, match=r"\(1: linked\)"):
        export_project(demo, out, format="coco")
    with pytest.raises(ExportError, match="is a file, not a folder"):
        export_project(demo, out / "annotations.json", format="coco")
    with pytest.raises(ExportError, match="File name too long"):
        export_project(demo, tmp_path / ("x" * 300), format="coco")


def test_reexport_rewrites_files_whose_bytes_no_longer_match(demo: Project, tmp_path: Path) -> None:
    out = tmp_path / "again"
    export_project(demo, out, format="layers", frames=[0, 1])
    original = _tree(out)
    victim = out / "masks" / "palette" / "f000001.png"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit: same size, same name
    victim.write_bytes(bytes(data))
    summary = export_project(demo, out, format="layers", frames=[0, 1])
    assert summary["written"] == 1 and summary["rewritten"] == ["masks/palette/f000001.png"]
    assert _tree(out) == original


def test_leftover_tmp_files_are_removed_only_when_their_process_is_gone(demo: Project, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    out = tmp_path / "tmp"
    export_project(demo, out, format="coco")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = out / "images" / f".f000000.png.{int(dead.stdout)}.tmp"
    live = out / "images" / f".f000001.png.{os.getpid()}.tmp"  # another export still writing (this process)
    gone.write_bytes(b"half")
    live.write_bytes(b"half")
    summary = export_project(demo, out, format="coco")
    assert summary["removed_leftovers"] == [f"images/{gone.name}"] and not gone.exists() and live.exists()


def _ground_truth_demo(root: Path) -> None:
    project = create_demo_project(root, width=128, height=80, shots=2, frames_per_shot=3)
    with project, load_ground_truth(root / GROUND_TRUTH_FILE) as gt:
        register_true_cast(project, gt)
        for i in range(project.frame_count):
            project.layers.write("masks", i, gt.layer("labels", i), {"backend": "truth", "version": 1})
            project.layers.write("alpha", i, gt.layer("alpha", i), {"backend": "truth"})


KILL_DURING_SECOND_SHARD = """
import os, signal, sys
from pathlib import Path
from app.export import export_project
from app.export.formats.hf import WebDatasetFormat
from app.store import Project
real, calls = WebDatasetFormat._render, []
def render(self, ctx, item):
    calls.append(item.frame)
    if len(calls) == 3:  # shard 0 (frames 0, 1) is in place; shard 1's .tmp is open
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, ctx, item)
WebDatasetFormat._render = render
with Project.open(Path(sys.argv[1])) as project:
    export_project(project, Path(sys.argv[2]), format="webdataset", shard_size=2, unit="frame", workers=1)
"""


def test_killed_webdataset_export_leaves_no_tmp_shards_after_the_next_run(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    _ground_truth_demo(tmp_path / "p")
    out = tmp_path / "wds"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", KILL_DURING_SECOND_SHARD, str(tmp_path / "p"), str(out)],
                          env=env, capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()
    leftovers = sorted(p.name for p in (out / "shards").glob(".*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].startswith(".shard-000001.tar.")
    assert json.loads((out / "manifest.json").read_text())["complete"] is False  # marked unfinished
    with Project.open(tmp_path / "p") as project:
        summary = export_project(project, out, format="webdataset", shard_size=2, unit="frame", workers=1)
    assert summary["removed_leftovers"] == [f"shards/{leftovers[0]}"]
    # shard 0 was journalled, so it resumes; shards 1 and 2 and the selection report are written
    assert summary["skipped"] == 1 and summary["written"] == 3 and (out / "report.html").is_file()
    assert sorted(p.name for p in (out / "shards").iterdir()) == [f"shard-{n:06d}.tar" for n in range(3)]
    assert json.loads((out / "manifest.json").read_text())["complete"] is True
    for shard in (out / "shards").iterdir():
        with tarfile.open(shard) as tar:
            assert len(tar.getnames()) == 8


def test_export_checks_free_space_and_stops_cleanly_on_a_full_disk(demo: Project, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import shutil

    from app.export import manifest as manifest_module

    out = tmp_path / "full"
    real_usage = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real_usage(p)._replace(free=1 << 20))
    with pytest.raises(ExportError, match=rf"Not enough free space in {out} for the export: it needs about \d+ MB"):
        export_project(demo, out, format="layers")
    monkeypatch.setattr(shutil, "disk_usage", real_usage)

    real_write = manifest_module.atomic_write
    written: list[str] = []

    def write(path: Path, data: bytes) -> None:
        if path.name != "manifest.json":
            if len(written) >= 5:
                raise OSError(errno.ENOSPC, "No space left on device")
            written.append(path.name)
        real_write(path, data)

    monkeypatch.setattr(manifest_module, "atomic_write", write)
    with pytest.raises(ExportError, match=rf"The disk holding {out} is full; the export stopped after \d+ of "):
        export_project(demo, out, format="layers", workers=1)
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["complete"] is False and len(doc["files"]) == 5  # every file written is listed
    monkeypatch.setattr(manifest_module, "atomic_write", real_write)
    resumed = export_project(demo, out, format="layers", workers=1)
    assert resumed["skipped"] == 5 and json.loads((out / "manifest.json").read_text())["complete"] is True


def test_a_cut_out_keeps_the_unlabelled_holes_its_object_encloses_at_the_mattes_alpha() -> None:
    labels = np.zeros((80, 120), np.uint8)
    alpha = np.zeros((80, 120), np.uint8)
    labels[10:70, 10:70] = 2
    alpha[10:70, 10:70] = 255
    labels[25:45, 25:45] = 0  # a lens the mask missed, 20 px wide: its middle is past EDGE_RADIUS
    labels[50:60, 20:30] = 0  # background seen through the character, which the matte left at 0
    alpha[50:60, 20:30] = 0
    labels[15:22, 50:60] = 3  # another object in front: never this one's
    labels[30:40, 60:80] = 0  # a notch open to the outside: the outside, not a hole
    alpha[30:40, 60:80] = 200
    out = object_alpha(labels, alpha, 2)
    assert (out[25:45, 25:45] == 255).all()
    assert (out[50:60, 20:30] == 0).all()
    assert (out[15:22, 50:60] == 0).all()
    assert (out[33:37, 75:80] == 0).all()  # beyond EDGE_RADIUS of the object, open to the outside
