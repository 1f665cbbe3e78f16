import h5py
import numpy as np
import pytest
import torch

from grokglass.data.arithmetic import (
    Task,
    TaskError,
    load_split,
    make_split,
    n_train_for,
    parse_expression,
    split_indices,
    split_permutation,
    write_dataset,
)

PAPER_EXPRESSIONS = {"add": "x + y", "square": "x**2 + y", "cubic": "x**3 + x*y**2 + y"}


def test_exact_dataset_contents_small_p():
    task = Task("square", "x**2 + y", p=5)
    inputs, labels = task.inputs(), task.labels()
    assert inputs.shape == (25, 3)
    assert (inputs[:, 2] == 5).all()  # '=' token is p
    for x in range(5):
        for y in range(5):
            i = x * 5 + y  # row-major
            assert inputs[i, 0] == x and inputs[i, 1] == y
            assert labels[i] == (x * x + y) % 5


def test_cubic_labels_match_numpy():
    p = 67
    z = Task("cubic", PAPER_EXPRESSIONS["cubic"], p).labels()
    x, y = np.divmod(np.arange(p * p), p)
    assert np.array_equal(z, (x**3 + x * y**2 + y) % p)


@pytest.mark.parametrize("name,expr", PAPER_EXPRESSIONS.items())
def test_parser_accepts_paper_expressions(name, expr):
    f = parse_expression(name, expr)
    assert f(2, 3) == eval(expr, {}, {"x": 2, "y": 3})  # test oracle only


def test_floor_division_and_modulo_keep_their_meaning():
    z = Task("t", "(x * y) // 2 + x % 3 - y", 7).labels()
    assert z[3 * 7 + 5] == ((3 * 5) // 2 + 3 % 3 - 5) % 7


@pytest.mark.parametrize(
    "expr,fragment",
    [
        ("__import__('os').system('true')", "__import__"),
        ("x.real", "x.real"),
        ("x if y else 1", "x if y else 1"),
        ("z + 1", "'z'"),
        ("x @ y", "x @ y"),
        ("((x**2)**2)**2", "nests more than 2 powers"),
        ("x ** y", "exponent"),
        ("2 ** 1000", "exponent"),
        ("1.5 * x", "1.5"),
        ("[x]", "[x]"),
        ("x +", "cannot parse"),
        ("lambda: 1", "lambda"),
    ],
)
def test_parser_refuses_unsafe_or_unsupported(expr, fragment):
    with pytest.raises(TaskError) as err:
        parse_expression("evil", expr)
    message = str(err.value)
    assert "task 'evil'" in message and fragment in message


def test_division_by_zero_names_the_point():
    with pytest.raises(TaskError, match=r"divides by zero at x=0, y=0"):
        Task("div", "x // y", 3).labels()


def test_split_sizes_nesting_and_determinism():
    n = 67 * 67
    perm = split_permutation(n, 0)
    assert np.array_equal(perm, split_permutation(n, 0))
    assert not np.array_equal(perm, split_permutation(n, 1))
    assert sorted(perm.tolist()) == list(range(n))
    train5, test5 = split_indices(perm, 0.5)
    assert (len(train5), len(test5)) == (2244, 2245)
    previous = set()
    for f in (0.3, 0.5, 0.6, 0.7, 0.8):
        train, test = split_indices(perm, f)
        assert len(train) == n_train_for(f, n)
        assert set(train).isdisjoint(test) and len(train) + len(test) == n
        assert previous <= set(train)  # nested: train(f) grows with f
        previous = set(train)
    assert n_train_for(0.7, n) == 3142


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5])
def test_fraction_outside_unit_interval_refused(bad):
    with pytest.raises(ValueError, match="fraction"):
        n_train_for(bad, 100)


def test_two_nested_powers_are_allowed():
    assert parse_expression("t", "(x**2)**3 + y**2")(2, 3) == 2**6 + 9


def test_modular_division_leaves_out_zero_divisors():
    p = 7
    inputs, labels = Task("div", "x / y", p).examples()
    assert inputs.shape == (p * (p - 1), 3) and labels.shape == (p * (p - 1),)
    assert np.array_equal(inputs, Task("div", "x / y", p).inputs())
    assert np.array_equal(labels, Task("div", "x / y", p).labels())
    x, y = inputs[:, 0], inputs[:, 1]
    assert (y != 0).all() and (inputs[:, 2] == p).all()
    assert sorted(zip(x.tolist(), y.tolist())) == [(a, b) for a in range(p) for b in range(1, p)]
    assert ((labels * y) % p == x % p).all() and ((labels >= 0) & (labels < p)).all()
    assert labels[(x == 3) & (y == 5)].tolist() == [2]  # 5 * 2 = 10 = 3 mod 7


def test_modular_division_composes_with_other_operators():
    p = 5
    inputs, labels = Task("t", "(x + 1) / y", p).examples()
    x, y = inputs[:, 0], inputs[:, 1]
    assert len(labels) == p * (p - 1) and (y != 0).all()
    assert ((labels * y) % p == (x + 1) % p).all()
    # the divisor may be any expression: pairs where it is 0 mod p are the ones left out
    inputs, labels = Task("t", "x / (y - 1) + 1", p).examples()
    x, y = inputs[:, 0], inputs[:, 1]
    assert len(labels) == p * (p - 1) and (y != 1).all()
    assert (((labels - 1) * (y - 1)) % p == x).all()


def test_modular_division_needs_a_prime_p():
    with pytest.raises(TaskError, match=r"task 'div': .*needs a prime p, got p = 4"):
        parse_expression("div", "x / y", 4)
    with pytest.raises(TaskError, match="prime"):
        Task("div", "x / y", 9).examples()
    assert parse_expression("div", "x / y", 5)(3, 2) == 4  # 2 * 4 = 8 = 3 mod 5


def test_dataset_file_roundtrip(tmp_path):
    path = tmp_path / "add.h5"
    write_dataset(path, Task("add", "x + y", 11), split_seed=0)
    with h5py.File(path) as h5:
        assert h5.attrs["task"] == "add" and h5.attrs["p"] == 11 and h5.attrs["split_seed"] == 0
        assert "torch_version" in h5.attrs and "grokglass_version" in h5.attrs
        assert sorted(h5.keys()) == ["inputs", "labels", "permutation"]  # no stored splits
        assert np.array_equal(h5["permutation"][()], split_permutation(121, 0))
    split = load_split(path, 0.5)
    assert len(split.train_labels) == 60 and len(split.test_labels) == 61 and split.p == 11
    assert ((split.train_inputs[:, 0] + split.train_inputs[:, 1]) % 11 == split.train_labels).all()
    # any fraction loads from the one file, and the train sets are nested prefixes
    previous = None
    for fraction in (0.13, 0.37, 0.5, 0.91):
        split = load_split(path, fraction)
        assert len(split.train_labels) == n_train_for(fraction, 121)
        assert len(split.train_labels) + len(split.test_labels) == 121
        if previous is not None:
            assert torch.equal(split.train_inputs[: len(previous)], previous)
        previous = split.train_inputs
        same = make_split(Task("add", "x + y", 11), fraction, split_seed=0)
        assert torch.equal(split.train_inputs, same.train_inputs) and torch.equal(split.test_labels, same.test_labels)
    with pytest.raises(ValueError, match="fraction"):
        load_split(path, 1.0)


def test_division_dataset_file_holds_only_defined_pairs(tmp_path):
    path = tmp_path / "div.h5"
    write_dataset(path, Task("div", "x / y", 7), split_seed=3)
    with h5py.File(path) as h5:
        assert h5.attrs["n_examples"] == 42 and len(h5["permutation"]) == 42
    split = load_split(path, 0.5)
    assert len(split.train_labels) == 21 and len(split.test_labels) == 21
    inputs = torch.cat([split.train_inputs, split.test_inputs])
    labels = torch.cat([split.train_labels, split.test_labels])
    assert (inputs[:, 1] != 0).all() and ((labels * inputs[:, 1]) % 7 == inputs[:, 0]).all()
