"""Label readers: every layout users bring, with leakage-free groups."""
import json
import os

import pytest

from dataformats import parse_label, read_labels


def _touch(root, *rels):
    for r in rels:
        p = os.path.join(root, r)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        open(p, "wb").close()


def _by_name(recs):
    return {os.path.basename(r.path): r for r in recs}


def test_dfdc_metadata_links_fake_to_original(tmp_path):
    d = tmp_path / "dfdc_train_part_0"
    _touch(d, "a.mp4", "b.mp4", "c.mp4")
    (d / "metadata.json").write_text(json.dumps({
        "a.mp4": {"label": "REAL", "split": "train", "original": None},
        "b.mp4": {"label": "FAKE", "split": "train", "original": "a.mp4"},
        "c.mp4": {"label": "REAL", "split": "train", "original": None}}))
    r = _by_name(read_labels(str(tmp_path)))
    assert (r["a.mp4"].label, r["b.mp4"].label, r["c.mp4"].label) == (0, 1, 0)
    assert r["a.mp4"].group == r["b.mp4"].group != r["c.mp4"].group


def test_faceforensics_layout_groups_identity_pairs(tmp_path):
    _touch(tmp_path, "original_sequences/youtube/c23/videos/000.mp4",
           "original_sequences/youtube/c23/videos/003.mp4",
           "original_sequences/youtube/c23/videos/010.mp4",
           "manipulated_sequences/Deepfakes/c23/videos/000_003.mp4",
           "manipulated_sequences/Face2Face/c23/videos/003_000.mp4")
    recs = read_labels(str(tmp_path))
    r = {os.path.relpath(x.path, tmp_path): x for x in recs}
    fake = r["manipulated_sequences/Deepfakes/c23/videos/000_003.mp4"]
    assert fake.label == 1 and fake.method == "Deepfakes" and fake.dataset == "FF++ c23"
    # 000 and 003 share a group through the swaps (identity leakage otherwise); 010 stands alone
    g = {x.group for k, x in r.items() if "010" not in k}
    assert len(g) == 1 and r["original_sequences/youtube/c23/videos/010.mp4"].group not in g


def test_celebdf_list_uses_reversed_labels(tmp_path):
    _touch(tmp_path, "Celeb-real/id0_0001.mp4", "Celeb-synthesis/id0_id1_0001.mp4", "YouTube-real/00001.mp4")
    (tmp_path / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0001.mp4\n0 Celeb-synthesis/id0_id1_0001.mp4\n1 YouTube-real/00001.mp4\n")
    r = _by_name(read_labels(str(tmp_path)))
    assert r["id0_0001.mp4"].label == 0  # Celeb-DF: 1 = REAL
    assert r["id0_id1_0001.mp4"].label == 1
    assert r["id0_0001.mp4"].group == r["id0_id1_0001.mp4"].group


def test_real_fake_folders_pair_uadfv_style(tmp_path):
    _touch(tmp_path, "real/0001.mp4", "real/0002.mp4", "fake/0001_fake.mp4")
    r = _by_name(read_labels(str(tmp_path)))
    assert r["0001.mp4"].label == 0 and r["0001_fake.mp4"].label == 1
    assert r["0001.mp4"].group == r["0001_fake.mp4"].group != r["0002.mp4"].group


def test_csv_labels_and_groups(tmp_path):
    _touch(tmp_path, "v/x.mp4", "v/y.mp4", "v/z.mp4")
    (tmp_path / "labels.csv").write_text("path,label,group\nv/x.mp4,REAL,p1\nv/y.mp4,1,p1\nv/z.mp4,0,p2\n")
    r = _by_name(read_labels(str(tmp_path / "labels.csv")))
    assert [r[n].label for n in ("x.mp4", "y.mp4", "z.mp4")] == [0, 1, 0]
    assert r["x.mp4"].group == r["y.mp4"].group != r["z.mp4"].group


def test_unlabelled_folder_and_bad_label(tmp_path):
    _touch(tmp_path, "a/b.mp4", "c.webm", "notes.txt")
    recs = read_labels(str(tmp_path))
    assert sorted(os.path.basename(r.path) for r in recs) == ["b.mp4", "c.webm"]
    assert all(r.label is None for r in recs)
    with pytest.raises(ValueError):
        parse_label("maybe")


@pytest.mark.shared_data
def test_shared_data_manifest_groups(shared_data):
    """Every clip the manifest lists under labelled/ is read with its label (counts follow the data as it grows)."""
    import csv

    with open(os.path.join(shared_data, "manifest.csv"), newline="") as f:
        listed = {os.path.normpath(r["path"]): r["label"] for r in csv.DictReader(f)
                  if r["path"].startswith("labelled/")}
    recs = read_labels(os.path.join(shared_data, "labelled"))
    got = {os.path.relpath(r.path, shared_data): r.label for r in recs}
    assert len(recs) == len(listed) > 0 and set(got) == set(listed)
    assert all(got[p] == (lab == "FAKE") for p, lab in listed.items())
    by = {os.path.relpath(r.path, shared_data): r for r in recs}
    f = by["labelled/FFpp_c40/manipulated_sequences/Deepfakes/c40/videos/183_253.mp4"]
    o = by["labelled/FFpp_c40/original_sequences/youtube/c40/videos/253.mp4"]
    assert f.group == o.group  # the swap's source identity stays with it
    assert all(r.licence for r in recs)


def test_resolution_copies_of_one_take_share_a_group(tmp_path):
    """A generator's 256-px output and its 512-px super-resolved copy must never sit in different folds."""
    for name in ("a.mp4", "a_SR.mp4", "b.mp4", "b_512.mp4", "c.mp4"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "labels.csv").write_text("path,label\n" + "".join(f"{n},FAKE\n" for n in
                                                                ("a.mp4", "a_SR.mp4", "b.mp4", "b_512.mp4", "c.mp4")))
    g = {os.path.basename(r.path): r.group for r in read_labels(str(tmp_path / "labels.csv"))}
    assert g["a.mp4"] == g["a_SR.mp4"] and g["b.mp4"] == g["b_512.mp4"]
    assert len({g["a.mp4"], g["b.mp4"], g["c.mp4"]}) == 3
