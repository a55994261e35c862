#!/usr/bin/env python3
"""convert.py — turns recx's prepared recommendation data into a UniRec dataset, so that UniRec
(PyPI `unirec`) trains on exactly the rows recx trains on.

    python3 tests/bench/unirec/convert.py DATA_DIR WORK_DIR [--name NAME]

Run with the Python that has UniRec (pandas, numpy, pyyaml and the `unirec` package), e.g.
/opt/unirecenv/bin/python here, python3 with the carried wheels on the GPU machine; called by
run_unirec.py, which is what tests/bench/rec_peer.sh runs.

Input, DATA_DIR (written by `recx recipes/prepare_data.lua`, docs/formats.md "Prepared
recommendation data"; the SPEC 2.3 leave-one-out split):
  train.tsv, valid.tsv, test.tsv   header "user_id<TAB>item_id", one (uid, iid) row a line
  user_history.tsv                 header "user_id<TAB>item_seq", the uid's whole sequence,
                                   comma-separated, in time order
Ids are 1-based; 0 is UniRec's padding id.

Output, WORK_DIR (what UniRec's examples/preprocess/prepare_data.py makes from the same tsv files
with RecExplainer's settings: index_by_zero=0, sep TAB, headers, train/valid/test format
"user-item", history format "user-item_seq", *_neg_k=0, data_type left at BaseDataset so no
training row is dropped):
  data/NAME/{train,valid,test}.pkl      pickled pandas DataFrames, int64 columns user_id, item_id
  data/NAME/user_history.pkl            DataFrame: user_id (int64), item_seq (one int64 ndarray a row)
  data/NAME/data.info                   JSON: n_users, n_items (max id + 1), n_lines_*, *_file_format
  config/base.yaml, config/model/SASRec.yaml   copied from the installed unirec package
  config/dataset/NAME.yaml              the dataset's n_users, n_items, file formats, group_size -1,
                                        n_neg_*_from_sampling 0 (UniRec's dataset yaml keys)
UniRec is then run with config_dir=WORK_DIR/config, dataset=NAME, dataset_path=WORK_DIR/data/NAME.
Prints one line with the counts. Exits with a message naming file:line on malformed input.
"""
import argparse
import json
import os
import pickle
import shutil
import sys

import numpy as np
import pandas as pd
import yaml


def fail(msg):
    raise SystemExit("convert.py: " + msg)


def read_pairs(path):
    """(uid, iid) rows of a two-column tsv with the header user_id, item_id -> DataFrame."""
    users, items = [], []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\r\n")
        if header != "user_id\titem_id":
            fail(f"{path}:1: expected the header 'user_id<TAB>item_id', got {header!r}")
        for lineno, line in enumerate(f, start=2):
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) != 2:
                fail(f"{path}:{lineno}: expected 2 tab-separated fields, got {len(fields)}")
            try:
                u, i = int(fields[0]), int(fields[1])
            except ValueError:
                fail(f"{path}:{lineno}: expected two integer ids, got {line.strip()!r}")
            if u < 1 or i < 1:
                fail(f"{path}:{lineno}: ids start at 1 (0 is padding), got {u}, {i}")
            users.append(u)
            items.append(i)
    if not users:
        fail(f"{path}: no rows")
    return pd.DataFrame({"user_id": np.array(users, dtype=np.int64), "item_id": np.array(items, dtype=np.int64)})


def read_history(path):
    """user_history.tsv -> DataFrame(user_id, item_seq) with one int64 array per user."""
    users, seqs = [], []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\r\n")
        if header != "user_id\titem_seq":
            fail(f"{path}:1: expected the header 'user_id<TAB>item_seq', got {header!r}")
        for lineno, line in enumerate(f, start=2):
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) != 2:
                fail(f"{path}:{lineno}: expected 2 tab-separated fields, got {len(fields)}")
            try:
                u = int(fields[0])
                seq = np.array([int(t) for t in fields[1].split(",")], dtype=np.int64)
            except ValueError:
                fail(f"{path}:{lineno}: expected an integer id and a comma-separated id list")
            if u < 1 or seq.min() < 1:
                fail(f"{path}:{lineno}: ids start at 1 (0 is padding)")
            users.append(u)
            seqs.append(seq)
    if not users:
        fail(f"{path}: no rows")
    col = np.empty(len(seqs), dtype=object)
    col[:] = seqs
    return pd.DataFrame({"user_id": np.array(users, dtype=np.int64), "item_seq": col})


def check_split(frames, history):
    """Every train/valid/test row must be an item of its user's sequence (the files belong together)."""
    seq_of = dict(zip(history.user_id.tolist(), (set(s.tolist()) for s in history.item_seq)))
    for name, df in frames.items():
        for u, i in zip(df.user_id.tolist(), df.item_id.tolist()):
            if i not in seq_of.get(u, ()):
                fail(f"{name}.tsv: row ({u}, {i}) is not in user {u}'s sequence in user_history.tsv")


def convert(data_dir, work_dir, name):
    import unirec
    frames = {k: read_pairs(os.path.join(data_dir, k + ".tsv")) for k in ("train", "valid", "test")}
    history = read_history(os.path.join(data_dir, "user_history.tsv"))
    check_split(frames, history)

    max_user = max([int(df.user_id.max()) for df in frames.values()] + [int(history.user_id.max())])
    max_item = max([int(df.item_id.max()) for df in frames.values()] + [int(history.item_seq.map(np.max).max())])
    out = os.path.join(work_dir, "data", name)
    os.makedirs(out, exist_ok=True)
    info = {"n_users": max_user + 1, "n_items": max_item + 1, "id_added_one": 0}
    for key, df in list(frames.items()) + [("user_history", history)]:
        with open(os.path.join(out, key + ".pkl"), "wb") as f:
            pickle.dump(df, f)
        info[f"n_lines_{key}"] = len(df)
        info[f"{key}_file_format"] = "user-item_seq" if key == "user_history" else "user-item"
    with open(os.path.join(out, "data.info"), "w") as f:
        json.dump(info, f)

    cfg = os.path.join(work_dir, "config")
    src = os.path.join(os.path.dirname(unirec.__file__), "config")
    os.makedirs(os.path.join(cfg, "model"), exist_ok=True)
    os.makedirs(os.path.join(cfg, "dataset"), exist_ok=True)
    shutil.copyfile(os.path.join(src, "base.yaml"), os.path.join(cfg, "base.yaml"))
    shutil.copyfile(os.path.join(src, "model", "SASRec.yaml"), os.path.join(cfg, "model", "SASRec.yaml"))
    dataset = {"n_users": info["n_users"], "n_items": info["n_items"], "group_size": -1,
               "n_neg_train_from_sampling": 0, "n_neg_valid_from_sampling": 0, "n_neg_test_from_sampling": 0,
               "train_file_format": "user-item", "valid_file_format": "user-item", "test_file_format": "user-item",
               "user_history_file_format": "user-item_seq"}
    with open(os.path.join(cfg, "dataset", name + ".yaml"), "w") as f:
        yaml.safe_dump(dataset, f, default_flow_style=False)
    print(f"convert.py: {data_dir} -> {out}: n_users {info['n_users']}, n_items {info['n_items']} (with padding 0), "
          f"train {len(frames['train'])}, valid {len(frames['valid'])}, test {len(frames['test'])}, "
          f"histories {len(history)}")
    return {"dataset_path": out, "config_dir": cfg, "info": info}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_dir")
    ap.add_argument("work_dir")
    ap.add_argument("--name", default="games2018")
    args = ap.parse_args(argv)
    convert(args.data_dir, args.work_dir, args.name)


if __name__ == "__main__":
    main(sys.argv[1:])
