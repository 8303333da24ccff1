"""The config loader, its schema, the run-folder naming and the train.py command line (no TensorFlow)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from vae_lstm import config
from vae_lstm.config import (
    CONFIG_DIR,
    REPO_ROOT,
    Config,
    check_against_data,
    default_values,
    from_dict,
    load_config,
    load_schema,
    resolve_config_path,
    run_dir,
    run_name,
)
from vae_lstm.errors import ConfigError, UserError

SHIPPED = sorted(p for p in CONFIG_DIR.glob("*.json") if not p.name.endswith(".schema.json"))
PAPER_CONFIGS = [p for p in SHIPPED if p.name.startswith("NAB_") and isinstance(json.loads(p.read_text())["dataset"], str)]

# The paper's detection span L = l_win * l_seq per NAB series.
PAPER_SPAN = {"ambient_temp": 168, "cpu_utilization": 144, "ec2_request": 192, "machine_temp": 288,
              "nyc_taxi": 168}


def write(tmp_path: Path, values, name="cfg.json") -> Path:
    path = tmp_path / name
    path.write_text(values if isinstance(values, str) else json.dumps(values))
    return path


def config_error(tmp_path: Path, values, name="cfg.json") -> str:
    """Load a config that must fail; return its one-line message."""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, values, name))
    message = str(info.value)
    assert "\n" not in message, message
    return message


# ---- the shipped configs ----


def test_there_are_shipped_configs():
    names = {p.name for p in SHIPPED}
    assert {"NAB_config.json", "synthetic_config.json", "KLSE_close_config.json", "KLSE_ohlc_config.json",
            "SKAB_valve1_config.json", "NAB_rogue_agent_key_hold_config.json"} <= names
    assert len(PAPER_CONFIGS) == 5


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_config_loads(path):
    cfg = load_config(path)
    assert isinstance(cfg, Config)
    assert cfg.source == path.resolve()
    raw = json.loads(path.read_text())
    assert "$schema" in raw
    for key, value in raw.items():
        if key != "$schema":
            assert cfg[key] == value


@pytest.mark.parametrize("path", PAPER_CONFIGS, ids=lambda p: p.name)
def test_nab_configs_use_the_paper_span(path):
    cfg = load_config(path)
    assert cfg.dataset in PAPER_SPAN
    assert cfg.l_win * cfg.l_seq == cfg.span == PAPER_SPAN[cfg.dataset]


def test_every_nab_series_has_a_config():
    datasets = {load_config(p).dataset for p in PAPER_CONFIGS}
    assert datasets == set(PAPER_SPAN)


# ---- errors: one line that names the key ----


@pytest.mark.parametrize("typo, meant", [("l_wn", "l_win"), ("lwin", "l_win"),
                                         ("learning_rate_vea", "learning_rate_vae"),
                                         ("sigma_2_offset", "sigma2_offset"), ("code_sise", "code_size")])
def test_unknown_key_suggests_the_closest(tmp_path, typo, meant):
    message = config_error(tmp_path, {typo: 48})
    assert f"'{typo}'" in message
    assert f"did you mean '{meant}'" in message
    assert "cfg.json" in message


@pytest.mark.parametrize("typo, meant", [("TRAIN_vae", "TRAIN_VAE"), ("train_vae", "TRAIN_VAE"),
                                         ("l_WIN", "l_win"), ("CODE_SIZE", "code_size")])
def test_case_only_typo_suggests_the_key(tmp_path, typo, meant):
    message = config_error(tmp_path, {typo: 1})
    assert f"did you mean '{meant}'" in message


def test_unknown_key_without_close_match_points_at_the_schema(tmp_path):
    message = config_error(tmp_path, {"completely_unrelated": 1})
    assert "'completely_unrelated'" in message
    assert "config.schema.json" in message


@pytest.mark.parametrize("key, value", [
    ("l_win", "48"),
    ("l_win", 0),
    ("l_win", 7),
    ("l_win", 24.5),
    ("l_seq", 1),
    ("code_size", None),
    ("learning_rate_vae", -0.001),
    ("learning_rate_lstm", 0),
    ("val_fraction", 1.0),
    ("threshold_rule", "best"),
    ("exp_name", "has space"),
    ("exp_name", ""),
    ("exp_name", ".."),  # the run folder went above output_dir (into the repository root by default)
    ("exp_name", "."),
    ("exp_name", "Versuch-ü"),  # shown as "Versuch-\u00fc", a name the user never wrote
    ("TRAIN_VAE", 2),
    ("TRAIN_LSTM", -1),
    ("TRAIN_sigma", "1"),
    ("load_model", 0.5),
    ("sigma", 1e300),  # beyond float32: a traceback from Keras when the VAE was built
    ("sigma2_offset", 1e300),  # an infinite loss, blamed on learning_rate_vae
    ("code_std_floor", 1e300),  # a NaN loss, blamed on learning_rate_vae
    ("beta", 1e300),  # lstm_vae's KL weight beyond float32
    ("grad_clip_value", 1e39),  # beyond float32: numpy's "RuntimeWarning: overflow encountered in cast" in training
])
def test_bad_value_names_the_key(tmp_path, key, value):
    message = config_error(tmp_path, {"l_win": 24, key: value})
    assert f"'{key}'" in message
    assert json.dumps(value, ensure_ascii=False) in message
    assert "must be" in message


@pytest.mark.parametrize("value, shown", [
    ("run\u200b", '"run\\u200b"'),  # a zero-width space: shown as it is, the line said "run" was refused
    ("run\u2028x", '"run\\u2028x"'),  # a line separator: the one line was two
    ("run\x85", '"run\\u0085"'),  # a C1 control (NEL), another line break
    ("Versuch-ü", '"Versuch-ü"'),  # a letter stays as written
])
def test_a_refused_value_shows_invisible_characters_escaped(tmp_path, value, shown):
    message = config_error(tmp_path, {"l_win": 24, "exp_name": value})
    assert f"= {shown} is invalid" in message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize("values, must", [
    ({"n_channel": 0}, "must be an integer >= 1 and <= 1024, or null"),  # was "an integer or null >= 1 and <= 1024"
    ({"vae_decoder_channels": 8}, "must be an integer >= 16 and <= 8192, or null"),
    ({"threshold_value": "1"}, "must be a number or null"),
    # "auto", as l_win and l_seq take it: the line says what follows the data
    ({"n_channel": "auto"}, "must be an integer >= 1 and <= 1024, or null: leave n_channel out (or null) to follow "
                            "the data"),
])
def test_a_nullable_keys_bounds_are_not_said_of_null(tmp_path, values, must):
    assert config_error(tmp_path, values).endswith(must)


def test_string_number_message_says_integer(tmp_path):
    message = config_error(tmp_path, {"l_win": "48"})
    assert "an integer" in message and ">= 8" in message


def test_bad_threshold_rule_lists_the_choices(tmp_path):
    message = config_error(tmp_path, {"threshold_rule": "best"})
    for rule in ("val_quantile", "fixed", "oracle_best_f1"):
        assert rule in message


def test_fixed_threshold_needs_a_value(tmp_path):
    message = config_error(tmp_path, {"threshold_rule": "fixed"})
    assert "'threshold_value'" in message
    cfg = load_config(write(tmp_path, {"threshold_rule": "fixed", "threshold_value": 3}))
    assert cfg.threshold_value == 3.0


@pytest.mark.parametrize("values", [{"pot_q": 0.5, "pot_level": 0.6}, {"pot_q": 0.4, "pot_level": 0.6},
                                    {"pot_level": 0.9995}, {"pot_q": 0.03, "threshold_rule": "val_quantile"}])
def test_pot_q_must_be_below_one_minus_pot_level(tmp_path, values):
    """The schema says pot_q must be below 1 - pot_level; the loader let it through and detection refused the pot
    rule only after training (telling the user to choose another rule, not to fix pot_q)."""
    message = config_error(tmp_path, values)
    assert "'pot_q'" in message and "1 - pot_level" in message
    assert load_config(write(tmp_path, {"pot_q": 0.39, "pot_level": 0.6})).pot_q == 0.39
    assert load_config(write(tmp_path, {"pot_q": 0.02, "pot_level": 0.98})).pot_level == 0.98


@pytest.mark.parametrize("key", ["load_dir", "output_dir"])
@pytest.mark.parametrize("value", [" ", "runs ", " runs", "\t"])
def test_a_folder_key_that_is_blank_or_padded_with_spaces_is_refused(tmp_path, key, value):
    """load_dir " " passed the schema's minLength and trained into a folder named " " at the repository root."""
    assert f"key '{key}' = {json.dumps(value)} is invalid" in config_error(tmp_path, {key: value})
    assert getattr(load_config(write(tmp_path, {key: "my runs"})), key) == "my runs"


@pytest.mark.parametrize("key", ["TRAIN_VAE", "TRAIN_LSTM", "TRAIN_sigma", "load_model", "tensorboard"])
@pytest.mark.parametrize("value, expected", [(0, False), (1, True), (False, False), (True, True)])
def test_flags_accept_0_1_true_false(tmp_path, key, value, expected):
    cfg = load_config(write(tmp_path, {key: value}))
    assert cfg[key] is expected


def test_integral_float_becomes_int_and_int_becomes_float(tmp_path):
    cfg = load_config(write(tmp_path, {"l_win": 48.0, "sigma": 1}))
    assert cfg.l_win == 48 and type(cfg.l_win) is int
    assert cfg.sigma == 1.0 and type(cfg.sigma) is float


def test_numpy_scalars_are_taken_as_the_python_values_they_hold():
    """config.replace(l_win=np.int64(32)) (a window computed with NumPy, in the notebook or a script) was refused by
    a TypeError traceback, "Object of type int64 is not JSON serializable", raised while wording the refusal of an
    integer as not an integer; a NumPy scalar is now its Python value, and a value JSON cannot write is named all
    the same."""
    import numpy as np

    cfg = load_config("synthetic_config.json").replace(l_win=np.int64(32), sigma=np.float32(0.25),
                                                      TRAIN_VAE=np.bool_(False))
    assert (cfg.l_win, cfg.sigma, cfg.TRAIN_VAE) == (32, 0.25, False)
    assert (type(cfg.l_win), type(cfg.sigma), type(cfg.TRAIN_VAE)) == (int, float, bool)
    with pytest.raises(ConfigError, match=r"^synthetic_config.json: key 'exp_name' = b'x' is invalid: must be a "
                                          "string"):
        load_config("synthetic_config.json").replace(exp_name=b"x")


def test_numpy_scalars_inside_a_dataset_object_and_a_config_that_is_no_dict():
    """np.int64(100) as dataset.train_points (a count computed with NumPy) was refused as "np.int64(100) is invalid:
    must be an integer", where at the top level it is the integer 100; and from_dict of a list or None stopped with
    "AttributeError: 'list' object has no attribute 'items'"."""
    import numpy as np

    cfg = from_dict({"dataset": {"path": "x.csv", "train_points": np.int64(100), "value_columns": [np.str_("a")]}})
    assert cfg.dataset == {"path": "x.csv", "train_points": 100, "value_columns": ["a"]}
    assert type(cfg.dataset["train_points"]) is int and type(cfg.dataset["value_columns"][0]) is str
    for raw in ([1, 2], None):
        with pytest.raises(ConfigError, match=r"^config: the config values must be a dict of keys and values, got "):
            from_dict(raw)


def test_paths_given_as_path_objects_are_the_text_they_hold(tmp_path):
    """from_dict({"output_dir": tmp_path / "runs"}) (a pathlib.Path, as scripts and notebooks build folders) was
    refused as "key 'output_dir' = PosixPath('...') is invalid: must be a string", where the same path as a str is
    taken; so was a CSV dataset's path. A Path is the text it holds, and the config stays JSON (its config.json)."""
    cfg = from_dict({"output_dir": tmp_path / "runs", "load_dir": Path("~") / "run",
                     "dataset": {"path": tmp_path / "x.csv", "test_files": [Path("y.csv")]}})
    assert cfg.output_dir == str(tmp_path / "runs") and cfg.load_dir == str(Path("~") / "run")
    assert cfg.dataset == {"path": str(tmp_path / "x.csv"), "test_files": ["y.csv"]}
    assert json.loads(json.dumps(cfg.to_dict())) == cfg.to_dict()
    assert cfg.replace(output_dir=Path("elsewhere")).output_dir == "elsewhere"


def test_invalid_json(tmp_path):
    message = config_error(tmp_path, '{"l_win": 24,\n "l_seq": }', name="broken.json")
    assert "broken.json" in message
    assert "not valid JSON" in message
    assert "line 2" in message


@pytest.mark.parametrize("text", ["", "\n", "  \r\n\t", "\ufeff"])
def test_an_empty_config_file_says_so(tmp_path, text):
    """A file emptied by mistake (a shell's '> config.json') read as "not valid JSON: Expecting value at line 1,
    column 1", which sends the user looking for a typo in a file that holds nothing."""
    assert config_error(tmp_path, text, name="empty.json") == (
        "empty.json: the file is empty (or holds only white space); it must hold a JSON object, {} at least")


def test_a_number_too_long_or_lists_too_deep_for_pythons_json_reader_are_one_line(tmp_path):
    """A seed of 5000 digits, or lists nested 100,000 deep, in a config or an experiment file stopped with a
    ValueError or RecursionError traceback from Python's JSON reader; each is now one line naming the file."""
    from vae_lstm.experiment import load_experiment

    digits = sys.get_int_max_str_digits()
    long_number = '{"seed": ' + "9" * (digits + 1) + "}"
    expected = f"long.json: a number has more than {digits} digits; no key takes one that long"
    assert config_error(tmp_path, long_number, name="long.json") == expected
    assert config_error(tmp_path, "[" * 100000 + "]" * 100000, name="deep.json") == (
        "deep.json: its lists or objects are nested too deeply to read")
    with pytest.raises(ConfigError) as raised:
        load_experiment(tmp_path / "long.json")
    assert str(raised.value) == expected


def test_a_truncated_json_file_is_named_with_its_place_once(tmp_path):
    """json's messages that end in "at" (a string cut off, a tab inside one) read with the place after them, not
    "at at" or a dangling "at": a config, and a state.json that a kill truncated."""
    message = config_error(tmp_path, '{"l_win": "abc', name="cut.json")
    assert message == "cut.json: not valid JSON: Unterminated string starting at line 1, column 11"
    message = config_error(tmp_path, '{"l_win": 8,\n "exp_name": "a\tb"}', name="tab.json")
    assert message == "tab.json: not valid JSON: Invalid control character at line 2, column 16"
    state = tmp_path / "state.json"
    state.write_text('{"vae": 2, "lst')
    with pytest.raises(UserError) as raised:
        config.read_json_file(state, "move it away")
    assert str(raised.value) == f"{state} is damaged (Unterminated string starting at line 1, column 12); move it away"


def test_a_key_given_twice_is_one_line(tmp_path):
    message = config_error(tmp_path, '{"l_win": 10, "l_seq": 3, "l_win": 12}', name="twice.json")
    assert message == "twice.json: key 'l_win' is given twice in one object; keep one"
    nested = config_error(tmp_path, '{"dataset": {"path": "a.csv", "path": "b.csv"}}', name="nested.json")
    assert "key 'path' is given twice" in nested


def test_json_that_is_not_an_object(tmp_path):
    message = config_error(tmp_path, "[1, 2]", name="list.json")
    assert "list.json" in message and "object" in message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nowhere.json")
    message = str(info.value)
    assert "\n" not in message
    assert "nowhere.json" in message and "not found" in message


def test_missing_bare_name_lists_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config("no_such_config.json")
    message = str(info.value)
    assert "\n" not in message
    assert str(CONFIG_DIR / "no_such_config.json") in message


@pytest.mark.parametrize("key, literal", [("learning_rate_vae", "NaN"), ("sigma", "Infinity"),
                                          ("val_fraction", "NaN")])
def test_nan_and_infinity_are_rejected(tmp_path, key, literal):
    with pytest.raises(ConfigError, match=key):
        load_config(write(tmp_path, f'{{"{key}": {literal}}}'))


@pytest.mark.parametrize("key", ["grad_clip_value", "threshold_value", "sigma"])
def test_a_whole_number_too_large_for_a_float_is_one_line(tmp_path, key):
    """A number key written as an integer of more digits than a float holds (threshold_value has no maximum) stopped
    with an OverflowError traceback when the loader made it a float."""
    message = config_error(tmp_path, f'{{"{key}": 1{"0" * 400}}}')
    assert message.startswith(f"cfg.json: key '{key}' = an integer of 401 digits is invalid: must be a number")
    assert message.endswith(", finite (at most 1.8e+308 in size)")


@pytest.mark.parametrize("text, shown", [
    ('{"l_win": 1%s}' % ("0" * 400), "key 'l_win' = an integer of 401 digits is invalid"),
    ('{"seed": -1%s}' % ("0" * 30), "key 'seed' = a negative integer of 31 digits is invalid"),
    ('{"l_win": [2, 1%s]}' % ("0" * 400), "key 'l_win' = [2, an integer of 401 digits] is invalid"),
    ('{"l_win": 1%s}' % ("0" * 23), "key 'l_win' = 1%s is invalid" % ("0" * 23)),  # 24 digits: shown as written
])
def test_a_huge_integer_in_a_refusal_is_its_digit_count(tmp_path, text, shown):
    """A refusal wrote a huge integer out in full: 10**400 as l_win made a line of some 500 characters."""
    message = config_error(tmp_path, text)
    assert shown in message and len(message) < 150, message


def test_a_python_configs_integer_beyond_str_is_one_line():
    """from_dict of an integer of more than 4300 digits (which str() refuses) stopped with a ValueError traceback."""
    with pytest.raises(ConfigError, match="^config: key 'threshold_value' = an integer of 5001 digits is invalid"):
        from_dict({"threshold_value": 10 ** 5000})


def test_a_huge_integer_a_run_was_trained_with_is_its_digit_count(tmp_path):
    """The refusal of a run folder trained with other keys wrote a huge integer out in full (arma_max_train_points,
    which has no maximum, of 10**400: a line of some 500 characters)."""
    from vae_lstm.runs import describe_changes

    (tmp_path / "config.json").write_text('{"arma_max_train_points": 1%s, "exp_name": "a"}' % ("0" * 400))
    config = from_dict({"arma_max_train_points": 10 ** 30, "exp_name": "b"})
    assert describe_changes(config, tmp_path, ["arma_max_train_points", "exp_name"]) == (
        "arma_max_train_points=an integer of 401 digits (the config says an integer of 31 digits), "
        "exp_name='a' (the config says 'b')")


def test_a_code_std_floor_that_float32_holds_as_0_is_refused(tmp_path):
    """code_std_floor 1e-300 (the schema took any number above 0) is 0 in the float32 encoder: a NaN loss at the
    first epoch, blamed on learning_rate_vae."""
    assert config_error(tmp_path, {"code_std_floor": 1e-300}) == (
        "cfg.json: key 'code_std_floor' = 1e-300 is invalid: must be a number >= 1e-30 and <= 1000000")
    assert load_config(write(tmp_path, {"code_std_floor": 1e-30})).code_std_floor == 1e-30


@pytest.mark.parametrize("values, variance", [({"sigma": 1.1e-19, "sigma2_offset": 0}, "1.21e-38"),
                                              ({"sigma": 1e-300, "sigma2_offset": 1e-31}, "1e-31")])
def test_a_decoder_variance_too_small_for_float32_is_refused(tmp_path, values, variance):
    """sigma 1.1e-19 with sigma2_offset 0 (each within the schema) made the ELBO's squared error over the decoder
    variance overflow float32: an infinite loss at the first epoch, blamed on learning_rate_vae."""
    assert config_error(tmp_path, values) == (
        f"cfg.json: key 'sigma' = {values['sigma']:g} with sigma2_offset {values['sigma2_offset']:g} gives a decoder "
        f"variance sigma**2 + sigma2_offset of {variance}, below 1e-30: the ELBO divides the squared error by it, "
        "which overflows float32; raise sigma or sigma2_offset")
    assert load_config(write(tmp_path, {"sigma": 1e-15, "sigma2_offset": 0})).sigma == 1e-15


# ---- the Config object ----


def test_config_is_read_only_and_replace_validates():
    cfg = from_dict({"l_win": 24})
    with pytest.raises(AttributeError):
        cfg.l_win = 48
    assert cfg.replace(l_win=48).l_win == 48
    assert cfg.l_win == 24
    with pytest.raises(ConfigError, match="'l_win'"):
        cfg.replace(l_win=0)


def test_missing_keys_take_their_defaults():
    cfg = from_dict({})
    assert cfg.to_dict() == default_values()
    with pytest.raises(AttributeError):
        cfg.no_such_key  # noqa: B018


# ---- resolving a config name ----


def test_resolve_bare_name_from_any_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path("NAB_config.json") == (CONFIG_DIR / "NAB_config.json").resolve()
    assert resolve_config_path("configs/NAB_config.json") == (CONFIG_DIR / "NAB_config.json").resolve()
    assert load_config("NAB_config.json").dataset == "machine_temp"


def test_resolve_relative_to_cwd_and_absolute(tmp_path, monkeypatch):
    path = write(tmp_path, {"l_win": 32}, name="mine.json")
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path("mine.json") == path.resolve()
    assert resolve_config_path(path) == path.resolve()
    assert load_config("mine.json").l_win == 32


# ---- the schema and the loader agree ----


def test_every_schema_property_is_documented():
    for key, prop in load_schema()["properties"].items():
        assert prop.get("description"), key
        assert "type" in prop or "anyOf" in prop, key
        assert "default" in prop, key


def test_every_csv_dataset_field_is_documented_and_read():
    """The schema's dataset object and the CSV loader know the same fields."""
    from vae_lstm.csv_data import FIELDS

    fields = load_schema()["$defs"]["csv_dataset"]["properties"]
    assert set(fields) == set(FIELDS)
    assert all(prop.get("description") for prop in fields.values())


def test_every_default_validates_against_its_property():
    schema = load_schema()
    for prop in schema["properties"].values():
        jsonschema.Draft202012Validator({**prop, "$defs": schema["$defs"]}).validate(prop["default"])
    jsonschema.Draft202012Validator(schema).validate(default_values())
    from_dict(default_values())


def test_default_values_cover_the_schema():
    assert set(default_values()) == set(load_schema()["properties"]) - {"$schema"}


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(load_schema())


def test_saved_config_reloads(tmp_path):
    cfg = from_dict({"l_win": 32, "TRAIN_sigma": 1})
    config.save_config(cfg, tmp_path / "saved.json")
    saved = json.loads((tmp_path / "saved.json").read_text())
    assert "$schema" in saved
    again = load_config(tmp_path / "saved.json")
    assert again.to_dict() == cfg.to_dict()


# ---- the config against the data ----


def test_check_against_data_accepts_a_fit():
    check_against_data(from_dict({"l_win": 24, "l_seq": 4}), n_train=96, n_channel=1)


def test_l_win_longer_than_training_data():
    with pytest.raises(ConfigError) as info:
        check_against_data(from_dict({"l_win": 128, "l_seq": 2}), n_train=100, n_channel=1)
    message = str(info.value)
    assert "'l_win'" in message and "100" in message and "\n" not in message


def test_sequence_longer_than_training_data():
    with pytest.raises(ConfigError) as info:
        check_against_data(from_dict({"l_win": 24, "l_seq": 5}), n_train=100, n_channel=1)
    message = str(info.value)
    assert "'l_seq'" in message and "120" in message and "\n" not in message


def test_windows_too_long_for_the_data_say_what_to_do():
    """A training block shorter than even the smallest windows (as "auto" picks them for a tiny series) said
    only that l_seq = 2 was too long, which the user had not written and cannot make smaller."""
    with pytest.raises(ConfigError) as info:
        check_against_data(from_dict({"l_win": 8, "l_seq": 2}), n_train=10, n_channel=1)
    assert "already the smallest (l_win 8, l_seq 2): give the training block more points" in str(info.value)
    with pytest.raises(ConfigError, match="make l_win or l_seq smaller"):
        check_against_data(from_dict({"l_win": 24, "l_seq": 5}), n_train=100, n_channel=1)
    with pytest.raises(ConfigError, match="make l_win smaller"):
        check_against_data(from_dict({"l_win": 128, "l_seq": 2}), n_train=100, n_channel=1)
    # l_seq already the smallest (as "auto" picks it for a long l_win): the line is about l_win, the one to change
    with pytest.raises(ConfigError) as info:
        check_against_data(from_dict({"l_win": 70, "l_seq": 2}), n_train=124, n_channel=1)
    assert str(info.value) == ("config: key 'l_win' = 70: one sequence (l_win * l_seq = 140 points) is longer than "
                               "the training data of 'machine_temp' (124 points): make l_win smaller")
    with pytest.raises(ConfigError, match=r"key 'l_seq' = 20: .*: make l_seq smaller$"):  # l_win the smallest
        check_against_data(from_dict({"l_win": 8, "l_seq": 20}), n_train=124, n_channel=1)


def test_n_channel_mismatch():
    with pytest.raises(ConfigError) as info:
        check_against_data(from_dict({"n_channel": 3}), n_train=10_000, n_channel=1)
    assert "'n_channel'" in str(info.value)


def test_check_against_data_names_the_file(tmp_path):
    cfg = load_config(write(tmp_path, {"l_win": 128}, name="long.json"))
    with pytest.raises(ConfigError, match="long.json"):
        check_against_data(cfg, n_train=100, n_channel=1)


# ---- run folders ----


def test_run_name_uses_the_identifying_keys():
    cfg = from_dict({"exp_name": "exp", "dataset": "nyc_taxi", "l_win": 24, "l_seq": 7, "code_size": 5,
                     "seed": 3})
    assert run_name(cfg) == "exp/nyc_taxi_vae_lstm_lwin24_lseq7_code5_seed3"
    assert run_name(cfg.replace(detector="arma")) == "exp/nyc_taxi_arma_lwin24_lseq7_code5_seed3"
    assert run_dir(cfg) == REPO_ROOT / "experiments" / "exp" / "nyc_taxi_vae_lstm_lwin24_lseq7_code5_seed3"


@pytest.mark.parametrize("key, value", [("exp_name", "other"), ("dataset", "synthetic"), ("l_win", 32),
                                        ("l_seq", 5), ("code_size", 3), ("seed", 1)])
def test_each_identifying_key_changes_the_run_dir(key, value):
    cfg = from_dict({})
    assert run_dir(cfg.replace(**{key: value})) != run_dir(cfg)


def test_output_dir_absolute(tmp_path):
    cfg = from_dict({"output_dir": str(tmp_path), "exp_name": "e"})
    assert run_dir(cfg) == tmp_path / run_name(cfg)


def test_a_folder_key_starting_with_a_tilde_is_under_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = from_dict({"output_dir": "~/runs", "exp_name": "e"})
    assert run_dir(cfg) == tmp_path / "runs" / run_name(cfg)  # not <repository>/~/runs
    assert run_dir(from_dict({"load_dir": "~/mine"})) == tmp_path / "mine"


@pytest.mark.parametrize("changes, fix", [({"dataset": {"path": "x" * 230 + ".csv"}}, 'a shorter "name"'),
                                          ({"dataset": {"path": "\u00fc" * 120 + ".csv"}}, 'a shorter "name"'),
                                          ({"exp_name": "e" * 256}, "a shorter exp_name")])
def test_a_run_folder_name_too_long_for_a_file_name_is_one_line_naming_the_fix(tmp_path, changes, fix):
    """A CSV file of a long name (its stem names the run folder): train.py read the data, made the exp_name folder
    and stopped at "<run folder>: File name too long", saying neither which name nor what to shorten; 120 "\u00fc"
    are 240 bytes, which with the detector and windows pass the 255 a name may have."""
    cfg = from_dict({"output_dir": str(tmp_path / "runs"), "exp_name": "e", **changes})
    with pytest.raises(ConfigError, match=f"bytes, more than the 255 a file or folder name may have.*{fix}"):
        run_dir(cfg)
    assert not (tmp_path / "runs").exists()


def test_a_folder_key_starting_with_a_variable_is_under_its_folder(tmp_path, monkeypatch):
    """output_dir "${SCRATCH}/runs" (as a dataset's paths are written) trained into a folder named "${SCRATCH}" in
    the repository; an unset variable, or one written otherwise ($HOME, /scratch/$USER), made such a folder too."""
    monkeypatch.setenv("RUNS_HOME", str(tmp_path / "scratch"))
    monkeypatch.delenv("NO_SUCH_RUNS_VAR", raising=False)
    cfg = from_dict({"output_dir": "${RUNS_HOME}/runs", "exp_name": "e"})
    assert run_dir(cfg) == tmp_path / "scratch" / "runs" / run_name(cfg)
    assert cfg.output_dir == "${RUNS_HOME}/runs"  # kept as written (config.json)
    assert run_dir(from_dict({"load_dir": "${RUNS_HOME}"})) == tmp_path / "scratch"
    with pytest.raises(ConfigError, match=r"key 'output_dir' = \"\$\{NO_SUCH_RUNS_VAR\}/runs\" .*NO_SUCH_RUNS_VAR is "
                                          "not set"):
        from_dict({"output_dir": "${NO_SUCH_RUNS_VAR}/runs"})
    for written in ("$RUNS_HOME/runs", "/scratch/$RUNS_HOME/runs", "runs/${RUNS_HOME}"):
        with pytest.raises(ConfigError, match=r"key 'load_dir' = .* a variable is read only as \$\{NAME\} at the "
                                              "start"):
            from_dict({"load_dir": written})
    assert run_dir(from_dict({"output_dir": "runs$1", "exp_name": "e"})).parent.parent.name == "runs$1"  # no variable


def test_a_run_folder_or_output_dir_that_is_a_link_to_nothing_is_named_as_such(tmp_path):
    """A run folder (or output_dir) that is a symbolic link whose target is gone (a disk not mounted, a folder moved)
    stopped train.py and detect.py with "<run folder>: File exists", a folder that does not exist."""
    cfg = from_dict({"output_dir": str(tmp_path / "runs"), "exp_name": "e"})
    (tmp_path / "runs" / "e").mkdir(parents=True)
    try:
        (tmp_path / "runs" / "e" / run_name(cfg).split("/")[1]).symlink_to(tmp_path / "gone")
        (tmp_path / "disk").symlink_to(tmp_path / "unmounted")
    except OSError:
        pytest.skip("no symbolic links here")
    with pytest.raises(ConfigError, match=f"is a symbolic link to {tmp_path / 'gone'}, which does not exist"):
        run_dir(cfg)
    with pytest.raises(ConfigError, match=f"key 'output_dir' = .*: {tmp_path / 'disk'} is a symbolic link to "
                                          f"{tmp_path / 'unmounted'}, which does not exist"):
        run_dir(cfg.replace(output_dir=str(tmp_path / "disk")))
    with pytest.raises(ConfigError, match="key 'load_dir' = .* is a symbolic link to .*gone"):
        run_dir(cfg.replace(load_dir=str(tmp_path / "runs" / "e" / run_name(cfg).split("/")[1])))
    from vae_lstm.runs import folder_problem  # detect.py's --run-dir, the notebook's run_dir

    assert folder_problem(tmp_path / "disk") == f"is a symbolic link to {tmp_path / 'unmounted'}, which does not exist"


def test_load_dir_overrides(tmp_path):
    cfg = from_dict({"load_dir": str(tmp_path / "mine"), "output_dir": str(tmp_path / "ignored")})
    assert run_dir(cfg) == tmp_path / "mine"
    assert run_dir(from_dict({"load_dir": "somewhere/else"})) == REPO_ROOT / "somewhere" / "else"


# ---- the command line ----


def run_train(args, cwd, env_extra=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env_extra or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.parametrize("values, key", [({"l_wn": 48}, "l_wn"), ({"l_win": "48"}, "l_win"),
                                         ({"TRAIN_VAE": 2}, "TRAIN_VAE")])
def test_cli_bad_config_is_one_line_exit_2(tmp_path, values, key):
    path = write(tmp_path, values)
    result = run_train(["codes/train.py", "--config", str(path)], cwd=REPO_ROOT)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"'{key}'" in lines[0]
    assert lines[0].startswith("error:")
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_bare_name_relative_to_cwd(tmp_path):
    write(tmp_path, {"l_wn": 48}, name="typo.json")
    result = run_train([str(REPO_ROOT / "codes" / "train.py"), "--config", "typo.json"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: typo.json: unknown key 'l_wn'; did you mean 'l_win'?"]


def test_cli_bare_name_from_codes_dir_resolves_to_configs(tmp_path):
    """From codes/, 'NAB_config.json' is found in configs/: the run gets as far as the data (absent here)."""
    result = run_train(["train.py", "--config", "NAB_config.json"], cwd=REPO_ROOT / "codes",
                       env_extra={"NAB_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "machine_temperature_system_failure.csv" in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_missing_config_file(tmp_path):
    result = run_train(["codes/train.py", "--config", str(tmp_path / "absent.json")], cwd=REPO_ROOT)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "absent.json" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args, cwd", [(["codes/train.py", "--help"], REPO_ROOT),
                                       (["train.py", "--help"], REPO_ROOT / "codes")],
                         ids=["from-root", "from-codes"])
def test_cli_help(args, cwd):
    result = run_train(args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert "--config" in result.stdout


@pytest.mark.parametrize("dataset, message", [
    ({"path": "x.csv", "labels": {"column": 5}}, "key 'dataset.labels.column' = 5 is invalid: must be a string"),
    ({"path": "x.csv", "value_columns": ["a", 3]}, "key 'dataset.value_columns[1]' = 3 is invalid: must be a string"),
    ({"path": "x.csv", "train_range": [1, -2]}, "key 'dataset.train_range[1]' = -2 is invalid: must be an integer >= 0"),
    ({"path": "x.csv", "train_range": [5]}, "key 'dataset.train_range' = [5] is invalid: must have at least 2 items"),
    ({"path": "x.csv", "dayfirst": "yes"}, "key 'dataset.dayfirst' = \"yes\" is invalid: must be true or false"),
    ({"path": "x.csv", "decimal": ";"}, "key 'dataset.decimal' = \";\" is invalid: must be one of \".\", \",\""),
    ({"path": "x.csv", "name": "Zürich"}, "key 'dataset.name' = \"Zürich\" is invalid: must be a string"),
    # maxLength was left out of the words: ",," was told it "must be a string not empty"
    ({"path": "x.csv", "thousands": ",,"},
     "key 'dataset.thousands' = \",,\" is invalid: must be a string that is not empty and of at most 1 character"),
])
def test_a_bad_nested_dataset_field_is_named_with_its_problem(dataset, message):
    with pytest.raises(ConfigError) as info:
        from_dict({"dataset": dataset})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_relative_config_path_means_the_working_folders_file_first(tmp_path, monkeypatch):
    """A user's own configs/synthetic_config.json in the working folder is the one read, not the repository's."""
    from vae_lstm.config import CONFIG_DIR, config_argument, resolve_config_path

    (tmp_path / "configs").mkdir()
    own = tmp_path / "configs" / "synthetic_config.json"
    own.write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path("configs/synthetic_config.json") == own.resolve()
    assert resolve_config_path("NAB_config.json") == (CONFIG_DIR / "NAB_config.json").resolve()  # bare names
    assert config_argument(load_config("NAB_config.json")) == "NAB_config.json"
    with pytest.raises(ConfigError) as e:
        resolve_config_path("missing.json")
    tried = str(e.value).split("looked in: ")[1].rstrip(")").split(", ")
    assert len(tried) == len(set(tried))


def test_the_train_command_names_the_config_and_a_detector_the_file_does_not(tmp_path):
    """What "train first" says: the config as a path that works from the repository root, and, for a detector
    chosen elsewhere (a notebook parameter, a grid), the key to set in the file, which train.py reads."""
    from vae_lstm.config import train_command

    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"dataset": "synthetic"}))
    config = load_config(path)
    assert train_command(config) == f"'python3 codes/train.py --config {path.resolve()}'"
    assert train_command(config.replace(detector="lstm_ae")).endswith('after setting "detector": "lstm_ae" in it')
    assert train_command(load_config("NAB_config.json")) == "'python3 codes/train.py --config NAB_config.json'"


def test_the_requirements_give_make_test_a_pytest_xdist_that_knows_its_options():
    """`make test` passes --no-loadscope-reorder, which pytest-xdist has only since 3.8.0: a 3.5 to 3.7 that
    requirements.txt allowed stopped `make test` at once with "unrecognized arguments"."""
    from packaging.requirements import Requirement

    recipe = (REPO_ROOT / "Makefile").read_text()
    assert "--no-loadscope-reorder" in recipe
    lines = [line.split("#")[0].strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()]
    xdist = next(Requirement(line) for line in lines if line.startswith("pytest-xdist"))
    assert not xdist.specifier.contains("3.7.0") and xdist.specifier.contains("3.8.0")


def test_a_window_stride_on_a_single_series_is_refused_for_every_detector(tmp_path):
    """window_stride applies to segment datasets only: the controls, which fit nothing, took it silently (and named
    their run by it), and a grid's override of it failed only the runs of learning detectors, after the others ran."""
    with pytest.raises(ConfigError, match=r"^cfg.json: key 'window_stride' = 2 applies to segment datasets only "
                                          r"\(e\.g\. ECG5000\); set it to 1 for a single series$"):
        check_against_data(load_config(write(tmp_path, {"detector": "random", "window_stride": 2})), n_train=1000,
                           n_channel=1)
    check_against_data(from_dict({"detector": "random"}), n_train=1000, n_channel=1)


@pytest.mark.parametrize("target, variable, message", [
    ("reproduce", "EXPERIMENT", "error: argument experiment: is empty (an unset shell variable?)"),
    ("detect", "CONFIG", "error: argument --config: is empty (an unset shell variable?)"),
    ("benchmark", "BENCHMARK_CONFIGS", "error: BENCHMARK_CONFIGS is empty"),  # it measured nothing, and exit 0
])
def test_a_make_variable_set_empty_is_one_line_not_the_default(tmp_path, target, variable, message):
    """`make reproduce EXPERIMENT=$EXP` with EXP unset passed no experiment, so reproduce.py ran the default, table1
    (every NAB series, 5 seeds); each variable is passed quoted, and an empty one is refused as on the command line."""
    import shutil

    if shutil.which("make") is None:
        pytest.skip("no make")
    venv = tmp_path / "venv"  # the Makefile's venv, already installed: its python is this one
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    (venv / "bin" / "python").chmod(0o755)
    (venv / ".installed").touch()
    env = {**os.environ, "NAB_DATA_DIR": str(tmp_path / "no_nab")}  # the default's data: missing, so nothing runs
    result = subprocess.run(["make", "--no-print-directory", "-C", str(REPO_ROOT), target, f"VENV={venv}",
                             f"{variable}="], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert message not in result.stdout  # a check's recipe line echoed its own message, in shell syntax, above it


@pytest.mark.parametrize("version, made", [((3, 11), True), ((3, 10), False)])
def test_make_install_repairs_a_venv_without_pip_and_refuses_an_old_python(tmp_path, version, made):
    """`python3 -m venv` without ensurepip (Debian's python3-venv missing) leaves .venv/bin/python with no pip: every
    later `make install` skipped the venv step and stopped at "No module named pip" until the user deleted .venv. A
    Python older than 3.11 installed every requirement before `pip install -e .` refused it."""
    import shutil

    if shutil.which("make") is None:
        pytest.skip("no make")
    log, venv = tmp_path / "calls", tmp_path / "venv"
    working = f'#!/bin/sh\necho "venv python $*" >> "{log}"\n'  # a venv with pip: every command succeeds
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text('#!/bin/sh\necho "No module named pip" >&2\nexit 1\n')  # no pip
    system = tmp_path / "python3"  # the system Python: its version, and `-m venv DIR` (re)makes DIR's python
    system.write_text(f'#!/bin/sh\nif [ "$1" = -c ]; then exec {sys.executable} -c "import sys; '
                      f'sys.version_info = {version}; $2"; fi\n'
                      f'echo "system python $*" >> "{log}"\nprintf \'%s\' \'{working}\' > "$3/bin/python"\n')
    for script in (system, venv / "bin" / "python"):
        script.chmod(0o755)
    result = subprocess.run(["make", "--no-print-directory", "-C", str(REPO_ROOT), "install", f"VENV={venv}",
                             f"PYTHON={system}"], capture_output=True, text=True, timeout=60)
    calls = log.read_text().splitlines() if log.exists() else []
    if made:
        assert result.returncode == 0, result.stderr
        assert calls[0] == f"system python -m venv {venv}" and (venv / ".installed").is_file()
        assert calls[1:] == ["venv python -m pip install --quiet --upgrade pip",
                             "venv python -m pip install --quiet -r requirements.txt",
                             "venv python -m pip install --quiet --no-deps -e ."]
    else:
        assert result.returncode != 0 and calls == [] and not (venv / ".installed").exists()
        assert "error:" not in result.stdout  # the check's recipe, echoed, printed the message in shell syntax first
        errors = [line for line in result.stderr.splitlines() if not line.startswith("make")]
        assert errors == [f"error: the venv needs Python 3.11 or newer, and {system} is missing or older: "
                          "name one with PYTHON, e.g. make install PYTHON=python3.11"]


def test_commands_quote_a_path_with_spaces_so_the_shell_reads_it_as_one_word(tmp_path):
    """The train command and a grid job's command put a config or experiment path with spaces in bare, so the command
    a user copied from the message ran on a path cut in two."""
    from types import SimpleNamespace

    from vae_lstm.config import shell_word, train_command
    from vae_lstm.experiment import Job
    from vae_lstm.grid import job_command

    odd = ["/my runs/x.json", 'a"b$c`d\\e', "it's", "x$(ls)", "plain/path-1.json"]
    for text in odd:
        assert subprocess.run(["bash", "-c", f"printf %s {shell_word(text)}"], capture_output=True,
                              text=True).stdout == text
    folder = tmp_path / "my configs"
    folder.mkdir()
    path = folder / "c.json"
    path.write_text(json.dumps({"dataset": "synthetic"}))
    command = train_command(load_config(path)).strip("'")
    assert command == f'python3 codes/train.py --config "{path.resolve()}"'
    experiment = SimpleNamespace(path=folder / "grid.json")
    command = job_command(experiment, Job(str(folder / "grid.json"), "my series", "abs_z", 3, str(folder / "runs")))
    words = subprocess.run(["bash", "-c", f"printf '%s\\n' {command.strip(chr(39))}"], capture_output=True,
                           text=True).stdout.splitlines()
    assert words == ["python3", "codes/reproduce.py", str((folder / "grid.json").resolve()), "--series", "my series",
                     "--detectors", "abs_z", "--seed", "3", "--output-dir", str(folder / "runs")]


def test_a_config_path_starting_with_a_tilde_is_in_the_home_folder(tmp_path, monkeypatch):
    """The shell leaves --config=~/x.json as it is: the file was looked for in folders named '~'."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "mine.json").write_text(json.dumps({"dataset": "synthetic"}))
    assert resolve_config_path("~/mine.json") == (tmp_path / "mine.json").resolve()
    assert load_config("~/mine.json").dataset == "synthetic"


def test_loading_a_config_skips_the_iri_grammar_that_jsonschema_would_build(tmp_path):
    """jsonschema imports rfc3987_syntax, when installed, for a string format no schema here checks, and that
    library builds its grammar on import: 1.2-1.4 s of every command's start-up. The package imports jsonschema
    without it; other code can still import it."""
    script = ("import sys\nfrom vae_lstm.config import load_config\n"
              f"print(load_config({str(REPO_ROOT / 'configs' / 'NAB_config.json')!r}).l_win)\n"
              "print('rfc3987_syntax' in sys.modules)\n"
              "import importlib.util\nprint(importlib.util.find_spec('rfc3987_syntax') is not None)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "codes")})
    l_win, loaded, installed = done.stdout.split()
    assert l_win == "48" and loaded == "False"
    if installed == "True":  # as Jupyter installs it: still importable after the package's import, and jsonschema
        # still checks the "iri" formats with it for other code in the process (it passed any text as an IRI)
        script = ("import sys\nimport vae_lstm.config\nimport jsonschema\n"
                  "assert 'rfc3987_syntax' not in sys.modules\n"
                  "for checker in (jsonschema.Draft202012Validator.FORMAT_CHECKER, jsonschema.FormatChecker(),\n"
                  "                jsonschema.Draft7Validator.FORMAT_CHECKER):\n"
                  "    assert checker.conforms('http://example.com/\u00e4', 'iri') and checker.conforms(3, 'iri')\n"
                  "    assert not checker.conforms('http://a b/<>', 'iri'), checker\n"
                  "    assert checker.conforms('a/\u00e4', 'iri-reference')\n"
                  "    assert not checker.conforms('<>', 'iri-reference'), checker\n"
                  "import rfc3987_syntax\n")
        subprocess.run([sys.executable, "-c", script], check=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "codes")})


@pytest.mark.parametrize("repo", [None, "checkout", "elsewhere"])
def test_a_copy_installed_outside_the_checkout_reads_the_checkout_that_VAE_LSTM_REPO_names(tmp_path, repo):
    """`pip install .` (or a wheel) puts the package in site-packages, away from configs/ and datasets/series.json,
    which it read from two folders above its files: every config was refused with "<venv>/lib/python3.11/configs/
    config.schema.json: No such file or directory" and a built-in series with a FileNotFoundError. Now such a copy
    reads the checkout that VAE_LSTM_REPO names, and says so in one line when that is unset or no checkout."""
    import shutil

    site = tmp_path / "site"
    shutil.copytree(REPO_ROOT / "codes" / "vae_lstm", site / "vae_lstm", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "work").mkdir()
    script = ("from vae_lstm import config, data_loader\nfrom vae_lstm.errors import UserError\n"
              f"for read in (lambda: config.load_config({str(CONFIG_DIR / 'synthetic_config.json')!r}).l_win,\n"
              "             lambda: len(data_loader.load_series('synthetic').raw)):\n"
              "    try:\n        print(read())\n    except UserError as e:\n        print('error:', e)\n"
              "print(config.REPO_ROOT)\n")
    env = {k: v for k, v in os.environ.items() if k != "VAE_LSTM_REPO"}
    env["PYTHONPATH"] = str(site)
    if repo is not None:
        env["VAE_LSTM_REPO"] = str(REPO_ROOT if repo == "checkout" else tmp_path / "work")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path / "work", env=env)
    assert done.returncode == 0, done.stderr
    *lines, root = done.stdout.splitlines()
    if repo == "checkout":
        assert lines[0] == "24" and int(lines[1]) > 0 and Path(root) == REPO_ROOT
        return
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines), done.stdout
    for line in lines:
        if repo is None:
            assert f"installed in {site / 'vae_lstm'}" in line and "pip install -e ." in line and "VAE_LSTM_REPO" in line
        else:
            assert f"VAE_LSTM_REPO={tmp_path / 'work'}" in line and "not a checkout" in line
