"""The Python package on the test device (PoCL in CI): references, the CLI's bytes, errors, shapes,
ids, progress and the GIL. Run: python -m pytest python/tests (after `pip install ./python`)."""
import os
import subprocess
import threading
import time

import numpy as np
import pytest

import ribo

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "tests", "fixtures")
ESM = os.path.join(FIX, "esm2_a")
DNA = os.path.join(FIX, "dnabert2_a")
BACKEND = os.environ.get("RIBO_TEST_BACKEND") or "auto"


def read_fasta(path):
    ids, seqs, cur = [], [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith(">"):
                ids.append(line[1:].split()[0])
                seqs.append("")
            elif line and ids:
                seqs[-1] += line.replace(" ", "")
    return ids, seqs


def cosines(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def esm():
    with ribo.Model(ESM, backend=BACKEND) as m:
        yield m


@pytest.fixture(scope="module")
def proteins():
    return read_fasta(os.path.join(FIX, "proteins.fasta"))


def cli():
    path = os.environ.get("RIBO_CLI") or os.path.join(ROOT, "build", "ribo")
    if not os.path.exists(path):
        pytest.skip("no ribo CLI at %s (build it with scripts/build.sh, or set RIBO_CLI)" % path)
    return path


def test_info_and_devices(esm):
    assert esm.info["model"]["architecture"] == "esm2"
    assert esm.dim == 64 and esm.info["embedding_dim"] == 64
    assert len(esm.info["devices"]) == 1
    assert any(d["backend"] == esm.info["backend"] for d in ribo.devices())
    assert ribo.describe(ESM)["hidden_size"] == 64


def test_against_float64_references(esm, proteins):
    ids, seqs = proteins
    for pool, ref_name in (("mean", "esm2_a.ref_mean.npy"), ("cls", "esm2_a.ref_cls.npy")):
        got = esm.embed(seqs, ids=ids, pool=pool)
        ref = np.load(os.path.join(FIX, ref_name))
        assert got.dtype == np.float32 and got.shape == ref.shape
        rel = np.linalg.norm(got - ref, axis=1) / np.linalg.norm(ref, axis=1)
        assert rel.max() < 1e-5, (pool, rel.max())
        assert cosines(got, ref).min() > 0.99999


def test_per_residue_against_references(esm):
    ids, seqs = read_fasta(os.path.join(FIX, "short.fasta"))
    rows = esm.embed(seqs, ids=ids, pool="none")
    ref = np.load(os.path.join(FIX, "esm2_a.ref_tokens.npy"))
    offsets = np.load(os.path.join(FIX, "esm2_a.ref_offsets.npy"))
    assert len(rows) == len(offsets) - 1 == len(seqs)
    for i in range(len(offsets) - 1):
        block = ref[offsets[i]:offsets[i + 1]]
        assert rows[i].shape == block.shape, i
        rel = np.linalg.norm(rows[i] - block) / np.linalg.norm(block)
        assert rel < 1e-5, (i, rel)
    assert all(r.dtype == np.float32 and r.shape[1] == 64 for r in rows)
    # a protein of L residues (below --truncate) gives L rows: <cls>/<eos> are not output
    short = esm.embed(["MKTAYIAKQR", "MSE"], pool="none")
    assert [r.shape for r in short] == [(10, 64), (3, 64)]


def test_same_bytes_as_the_cli(esm, tmp_path):
    fasta = os.path.join(FIX, "proteins.fasta")
    out = tmp_path / "cli.npy"
    subprocess.run([cli(), "embed", "--model", ESM, "--input", fasta, "--output", str(out), "--quiet",
                    "--backend", BACKEND], check=True)
    ids, seqs = read_fasta(fasta)
    got = esm.embed(seqs, ids=ids)
    assert got.tobytes() == np.load(out).tobytes()
    # the same job in process writes the same file
    out2 = tmp_path / "py.npy"
    summary = esm.embed_fasta([fasta], str(out2))
    assert summary["n_sequences"] == len(seqs)
    assert out2.read_bytes() == out.read_bytes()
    assert (tmp_path / "py.ids.txt").read_text() == (tmp_path / "cli.ids.txt").read_text()


def test_ids_order_and_forms(esm):
    seqs = {"zeta": "MKTAYIAKQR", "alpha": "MSEQVLK", "mid": "MAAAGG"}
    ids, x = esm.embed(seqs, return_ids=True)
    assert ids == ["zeta", "alpha", "mid"]
    pairs = esm.embed(list(seqs.items()))
    plain = esm.embed(list(seqs.values()))
    assert pairs.tobytes() == x.tobytes() == plain.tobytes()
    assert np.array_equal(esm.embed(["MSEQVLK"])[0], x[1])


def test_errors(esm, tmp_path):
    with pytest.raises(ribo.InputError, match=r"sequences: record 2 \('b'\): empty sequence"):
        esm.embed(["MKV", ""], ids=["a", "b"])
    with pytest.raises(ribo.InputError, match="duplicate id 'a'"):
        esm.embed(["MKV", "MKT"], ids=["a", "a"])
    with pytest.raises(ribo.ArgumentError):
        esm.embed(["MKV"], pool="max")
    with pytest.raises(ribo.UnsupportedError, match="layers"):
        esm.embed(["MKV"], layers=[-1])
    with pytest.raises(ribo.FileError, match="config.json"):
        ribo.Model(str(tmp_path), backend=BACKEND)  # no config.json
    (tmp_path / "config.json").write_text('{"model_type": "esm"}')
    with pytest.raises(ribo.ModelError, match="no weights"):
        ribo.Model(str(tmp_path), backend=BACKEND)
    with pytest.raises(ribo.Error) as e:
        ribo.Model(ESM, backend="no-such-backend")
    assert "no-such-backend" in str(e.value)
    # the model still works after the failures
    ids, x = esm.embed(["MKV", "", "MKT"], ids=["a", "b", "c"], skip_invalid=True, return_ids=True)
    assert ids == ["a", "c"] and x.shape == (2, 64)


def test_dna_model_and_translation(proteins):
    reads = read_fasta(os.path.join(FIX, "dna_reads.fasta"))
    with ribo.Model(DNA, backend=BACKEND) as m:
        got = m.embed(reads[1], ids=reads[0])
        ref = np.load(os.path.join(FIX, "dnabert2_a.ref_mean.npy"))
        assert got.shape == ref.shape
        assert cosines(got, ref).min() > 0.99999
    with ribo.Model(ESM, backend=BACKEND) as m:
        ids, x = m.embed(["ATGAAACGCATTAGCACCACC"], ids=["r"], translate=6, return_ids=True)
        assert ids == ["r_F1", "r_F2", "r_F3", "r_R1", "r_R2", "r_R3"] and x.shape == (6, 64)


def test_progress(esm, proteins):
    ids, seqs = proteins
    seen = []
    esm.embed(seqs, ids=ids, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (len(seqs), len(seqs))

    class Bar:  # what tqdm offers
        total, n = None, 0

        def update(self, k):
            self.n += k

    bar = Bar()
    esm.embed(seqs, ids=ids, progress=bar)
    assert bar.total == len(seqs) and bar.n == len(seqs)


def test_gil_released_during_embed(esm):
    rng = np.random.default_rng(0)
    alphabet = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    seqs = ["".join(rng.choice(alphabet, 200)) for _ in range(200)]
    ticks, stop = [0], threading.Event()

    def spin():
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.001)

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.05)
    before = ticks[0]
    t0 = time.time()
    x = esm.embed(seqs)
    elapsed = time.time() - t0
    during = ticks[0] - before
    stop.set()
    t.join()
    assert x.shape == (200, 64)
    # a held GIL would freeze the other thread for the whole call; released, it ticks about every ms
    assert elapsed > 0.2, "the embed was too short to tell (%.3f s)" % elapsed
    assert during > 0.3 * elapsed * 1000 * 0.5, (during, elapsed)
