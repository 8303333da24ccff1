"""Load, validate and save the experiment config; name its run folder.

The keys, their types, ranges and defaults live in ``configs/config.schema.json``.
The loader validates against that schema, so the schema is the one place that
documents and checks a key.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np

from .errors import (
    ConfigError,
    UserError,
    closest,
    home_path,
    json_error,
    naming_the_file,
    no_repeated_keys,
    repository_file,
    repository_root,
)

REPO_ROOT = repository_root()  # the checkout (VAE_LSTM_REPO's for a copy installed outside one)
CONFIG_DIR = REPO_ROOT / "configs"
SCHEMA_PATH = CONFIG_DIR / "config.schema.json"


def load_schema() -> dict:
    """The schema, with the detector names filled in from the detector registry."""
    from .detectors import DETECTORS

    with open(repository_file(SCHEMA_PATH)) as f:
        schema = json.load(f)
    schema["properties"]["detector"]["enum"] = list(DETECTORS)
    return schema


def default_values() -> dict:
    """Every key's default, from the schema."""
    return {k: v["default"] for k, v in load_schema()["properties"].items() if k != "$schema"}


class Config:
    """A validated config: read keys as attributes (``cfg.l_win``) or items (``cfg["l_win"]``)."""

    def __init__(self, values: dict, source: Path | None = None):
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "source", source)

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setattr__(self, key, value):
        raise AttributeError("Config is read-only; use config.replace(key=value)")

    def replace(self, **changes) -> Config:
        """A new validated config with some keys changed."""
        return from_dict({**self._values, **changes}, source=self.source)

    def to_dict(self) -> dict:
        return dict(self._values)

    @property
    def span(self) -> int:
        """Time points covered by one LSTM sequence: l_win * l_seq."""
        if "auto" in (self.l_win, self.l_seq):
            raise ConfigError("l_win / l_seq are 'auto' until the data is loaded (prepare.load_data)")
        return self.l_win * self.l_seq

    @property
    def resolved(self) -> bool:
        """True once the keys that follow the data (l_win/l_seq "auto", n_channel null) have values."""
        return "auto" not in (self.l_win, self.l_seq) and self.n_channel is not None

    @property
    def dataset_name(self) -> str:
        """The dataset's name: a built-in series name, or a CSV object's ``name`` (default: its file's stem)."""
        return dataset_name(self.dataset)

    def __repr__(self) -> str:
        return f"Config({self._values!r})"


def resolve_config_path(name: str | Path) -> Path:
    """Find a config file: absolute, relative to the working folder (first, as any command line reads a path),
    relative to the repository root, or in configs/ (so bare names work from anywhere). "~" is the home folder (the
    shell leaves --config=~/x.json as it is)."""
    path = home_path(name)
    candidates = [path] if path.is_absolute() else list(dict.fromkeys(
        [Path.cwd() / path, REPO_ROOT / path, CONFIG_DIR / path]))
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    for candidate in candidates:
        if candidate.is_dir():
            raise ConfigError(f"config '{name}' is a folder ({candidate}), not a JSON file")
    if not path.is_absolute():
        repository_file(SCHEMA_PATH)  # outside a checkout, that line: a bare name is one of the checkout's configs/
    tried = ", ".join(str(c) for c in candidates)
    raise ConfigError(f"config file '{name}' not found (looked in: {tried})")


def config_argument(config) -> str:
    """How to name ``config``'s file on a command line that works from the repository root: its bare name for a
    file in configs/, else its absolute path."""
    if config.source is None:
        return "<config>"
    source = Path(config.source).resolve()
    return source.name if source.parent == CONFIG_DIR.resolve() else str(source)


def shell_word(text) -> str:
    """``text`` as one word of a shell command line: as it is when every character is safe there, else in double
    quotes (a path with spaces in a command the user copies)."""
    text = str(text)
    if re.fullmatch(r"[\w@%+=:,./-]+", text):
        return text
    return '"' + re.sub(r'([\\"$`])', r"\\\1", text) + '"'


def train_command(config) -> str:
    """The command that trains ``config``'s detector, quoted, from the repository root; when the config file names
    another detector (one chosen on a command line or in the notebook), it says to set it in the file."""
    command = f"'python3 codes/train.py --config {shell_word(config_argument(config))}'"
    try:
        raw = json.loads(Path(config.source).read_text(encoding="utf-8-sig"))
        own = raw.get("detector", load_schema()["properties"]["detector"]["default"])
    except (OSError, TypeError, ValueError, AttributeError):
        return command
    return command if own == config.detector else f"{command} after setting \"detector\": \"{config.detector}\" in it"


def unique_keys(where: str):
    """A ``json`` object_pairs_hook: a key given twice in one object is a ConfigError."""
    return no_repeated_keys(lambda key: ConfigError(f"{where}: key '{key}' is given twice in one object; keep one"))


def load_config(name: str | Path) -> Config:
    """Read a JSON config file, fill in defaults and validate it; raise ConfigError in one line."""
    path, raw = read_config_values(name)
    return from_dict(raw, source=path)


def read_config_values(name: str | Path) -> tuple[Path, dict]:
    """A config file's path and its JSON object as written (not validated); ConfigError in one line."""
    path = resolve_config_path(name)
    try:
        raw = read_user_json(path)
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: the config must be a JSON object of key: value pairs")
    return path, raw


def read_user_json(path: Path):
    """A JSON file the user wrote (a config, an experiment file), with or without a byte-order mark; a ConfigError in
    one line naming the file when it is empty, not UTF-8, not JSON, holds a key twice in one object, or a value that
    Python's JSON reader cannot take (a number of more digits than Python converts, lists nested too deeply)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
        if not text.strip():  # else "Expecting value at line 1, column 1", a typo to look for in a file of nothing
            raise ConfigError(f"{path.name}: the file is empty (or holds only white space); it must hold a JSON "
                              "object, {} at least")
        return json.loads(text, object_pairs_hook=unique_keys(path.name))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path.name}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset "
                          f"{e.start}); save it as UTF-8") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path.name}: not valid JSON: {json_error(e)}") from None
    except ValueError:  # int() refuses a number of over sys.get_int_max_str_digits() digits
        raise ConfigError(f"{path.name}: a number has more than {sys.get_int_max_str_digits()} digits; "
                          "no key takes one that long") from None
    except RecursionError:
        raise ConfigError(f"{path.name}: its lists or objects are nested too deeply to read") from None


# What to write instead of "auto" (which l_win and l_seq take) for a key that follows the data when left out
AUTO_HINTS = {"n_channel": "leave n_channel out (or null) to follow the data"}


def from_dict(raw: dict, source: Path | None = None) -> Config:
    """Validate a dict of config values against the schema and fill in defaults."""
    schema = load_schema()
    where = source.name if source else "config"
    known = schema["properties"]
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the config values must be a dict of keys and values, got {type(raw).__name__}")
    raw = {k: python_values(v) for k, v in raw.items()}  # np.int64(32) is the integer 32
    for key in raw:
        if key not in known:
            near = closest(key, known)
            hint = f"; did you mean '{near}'?" if near else "; see configs/config.schema.json"
            raise ConfigError(f"{where}: unknown key '{key}'{hint}")
    for key, value in raw.items():  # Python's JSON reader accepts NaN and Infinity; the schema can't see them
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where}: key '{key}' = {value} is invalid: must be {describe(known[key])}, finite")
        if beyond_float(value) and "number" in known[key].get("type", ()):  # float() of it would overflow
            raise ConfigError(f"{where}: key '{key}' = an integer of {int_digits(value)} digits is invalid: must "
                              f"be {describe(known[key])}, finite (at most {sys.float_info.max:.2g} in size)")
    if isinstance(raw.get("dataset"), dict):
        _check_dataset_object(raw["dataset"], schema, where)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        key = error.absolute_path[0] if error.absolute_path else None
        if key is None:
            raise ConfigError(f"{where}: {error.message}")
        hint = f": {AUTO_HINTS[key]}" if key in AUTO_HINTS and shown(raw[key]) == '"auto"' else ""
        raise ConfigError(
            f"{where}: key '{key}' = {shown(raw[key])} is invalid: must be {describe(known[key])}{hint}"
        )
    values = {**default_values(), **{k: v for k, v in raw.items() if k != "$schema"}}
    values = {k: _normalise(known[k], v) for k, v in values.items()}
    _check_combinations(values, where)
    return Config(values, source=source)


def python_values(value):
    """``value`` with every NumPy scalar in it, in a dataset object or a list too, the Python value it holds, and every
    path object (``pathlib.Path``) the text it holds: a folder or file given as a Path is taken as its str is."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {k: python_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [python_values(v) for v in value]
    return value


def beyond_float(value) -> bool:
    """Whether ``value`` is an integer too large for a float (JSON writes 1 and 400 zeros as one)."""
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > sys.float_info.max


def shown(value) -> str:
    """A value as a message shows it: as JSON (``json_shown``), or by its repr when JSON cannot write it (bytes from
    Python)."""
    try:
        return json_shown(value)
    except (TypeError, ValueError):
        return repr(value)


SHOWN_DIGITS = 24  # an integer of more digits is shown by their count (``json_shown``)


def json_shown(value) -> str:
    """``value`` as JSON for a one-line message: a letter as written ("Zürich", not "Z\u00fcrich"), a character that
    shows nothing or breaks the line (a zero-width space, U+2028, a C1 control) escaped, as JSON writes it, so that
    the line says what the value holds and stays one line; an integer of more than ``SHOWN_DIGITS`` digits as their
    count ("an integer of 401 digits"), not hundreds of characters of them."""
    huge: dict[str, str] = {}

    def marked(v):
        if isinstance(v, dict):
            return {k: marked(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [marked(x) for x in v]
        if isinstance(v, int) and not isinstance(v, bool) and (digits := int_digits(v)) > SHOWN_DIGITS:
            mark = f"\x00{len(huge)}\x00"
            huge[json.dumps(mark)] = f"{'a negative' if v < 0 else 'an'} integer of {digits} digits"
            return mark
        return v

    text = json.dumps(marked(value), ensure_ascii=False)
    for mark, words in huge.items():
        text = text.replace(mark, words)
    return re.sub(r"[^\x00-\x7f]", _escaped_if_invisible, text)


def repr_shown(value) -> str:
    """``repr(value)`` for a message, but an integer of more than ``SHOWN_DIGITS`` digits as their count."""
    huge = isinstance(value, int) and not isinstance(value, bool) and int_digits(value) > SHOWN_DIGITS
    return json_shown(value) if huge else repr(value)


def int_digits(value: int) -> int:
    """The decimal digits of the integer ``value``, however long (str() refuses more than 4300 of them)."""
    value = abs(value)
    digits = max(int(value.bit_length() * math.log10(2)), 1)  # exact or one short
    return digits + (value >= 10 ** digits)


def _escaped_if_invisible(match) -> str:
    char = match.group()
    return char if char.isprintable() else json.dumps(char)[1:-1]


def _check_dataset_object(dataset: dict, schema: dict, where: str) -> None:
    """A CSV dataset object: unknown fields get a "did you mean"; a bad field is named with what it allows."""
    csv_schema = schema["$defs"]["csv_dataset"]
    fields = csv_schema["properties"]
    labels = dataset.get("labels") if isinstance(dataset.get("labels"), dict) else {}
    for key in list(dataset) + [f"labels.{k}" for k in labels]:
        known = list(fields) if "." not in key else list(fields["labels"]["anyOf"][1]["properties"])
        name = key.rpartition(".")[2]
        if name not in known:
            near = closest(name, known)
            hint = f"; did you mean '{near}'?" if near else f"; known fields: {', '.join(known)}"
            raise ConfigError(f"{where}: key 'dataset' has an unknown field '{key}'{hint}")
    errors = sorted(jsonschema.Draft202012Validator(csv_schema).iter_errors(dataset),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        error = errors[0]
        deeper = [e for e in error.context if len(e.absolute_path) > len(error.absolute_path)]
        if deeper:  # an anyOf (labels) whose object alternative failed inside: name that field
            error = min(deeper, key=lambda e: [str(p) for p in e.absolute_path])
        path = list(error.absolute_path)
        if not path:
            raise ConfigError(f"{where}: key 'dataset': {error.message}")
        value = dataset
        for step in path:
            value = value[step]
        name = json_path(["dataset", *path])
        raise ConfigError(f"{where}: key '{name}' = {shown(value)} is invalid: {requirement(error)}")


# schema checks that ``describe`` puts into words; any other check keeps jsonschema's own message
DESCRIBED_CHECKS = {"type", "enum", "const", "anyOf", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                    "minLength", "maxLength", "pattern"}


def json_path(parts) -> str:
    """Where a value sits in a JSON document, as the messages write it: dataset.value_columns[1]."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def requirement(error) -> str:
    """What a failed schema check asks for, in words ('must be an integer >= 1')."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    counts = {"minItems": ("at least", "item", "items"), "maxItems": ("at most", "item", "items"),
              "minProperties": ("at least", "entry", "entries")}
    if error.validator in counts:
        bound, one, many = counts[error.validator]
        n = error.validator_value
        return f"must have {bound} {n} {one if n == 1 else many}"
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        return "lacks the key " + ", ".join(f"'{key}'" for key in missing)
    if error.validator == "uniqueItems":
        return "must not name an item twice"
    if error.validator in DESCRIBED_CHECKS:
        try:
            return "must be " + describe(schema)
        except KeyError:
            pass
    return error.message


def describe(prop: dict) -> str:
    """What a schema property allows, in words: 'an integer >= 8', 'one of [...]'."""
    if "anyOf" in prop:
        return " or ".join(describe(p) if "$ref" not in p else "an object (see the schema)" for p in prop["anyOf"])
    if "const" in prop:
        return json.dumps(prop["const"])
    if "enum" in prop:
        return "one of " + ", ".join(json.dumps(v) for v in prop["enum"])
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    if types == ["integer", "boolean"]:
        return "0 or 1 (or true/false)"
    words = {"integer": "an integer", "number": "a number", "string": "a string", "null": "null",
             "boolean": "true or false", "array": "a list", "object": "an object"}
    text = " or ".join(words[t] for t in types if t != "null")  # null last, after the bounds of the others
    bounds = []
    if "minimum" in prop:
        bounds.append(f">= {prop['minimum']}")
    if "exclusiveMinimum" in prop:
        bounds.append(f"> {prop['exclusiveMinimum']}")
    if "maximum" in prop:
        bounds.append(f"<= {prop['maximum']}")
    if "exclusiveMaximum" in prop:
        bounds.append(f"< {prop['exclusiveMaximum']}")
    if "minLength" in prop:
        bounds.append("that is not empty")
    if "maxLength" in prop:
        bounds.append(f"of at most {prop['maxLength']} character" + ("s" if prop["maxLength"] != 1 else ""))
    if "pattern" in prop:
        bounds.append(f"matching {prop['pattern']}")
    if bounds:
        text += " " + " and ".join(bounds)
    if "null" not in types:
        return text
    return f"{text}, or null" if bounds else f"{text} or null" if text else "null"


def _normalise(prop: dict, value):
    """0/1 flags become bools; integral floats of integer keys become ints."""
    if "type" not in prop:  # anyOf keys: an integer or "auto", a name or a dataset object
        return int(value) if isinstance(value, float) and value.is_integer() else value
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    if types == ["integer", "boolean"]:
        return bool(value)
    if types == ["integer"] or (types == ["integer", "null"] and value is not None):
        return int(value)
    if "number" in types and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def check_folder_name(value: str, where: str) -> None:
    """Refuse a folder key that is blank or padded with spaces (" ", "runs "), or whose environment variable is not
    set or not written ${NAME} at its start (``folder_path``): it makes a folder no one meant."""
    if value != value.strip():
        raise ConfigError(f"{where} = {shown(value)} is invalid: a folder name must not be blank or start or "
                          "end with a space")
    folder_path(value, where)


LEADING_VARIABLE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # as a dataset's paths start: ${NAB_DATA_DIR}/...


def folder_path(value: str, where: str = "folder") -> Path:
    """A folder key's value (output_dir, load_dir) as a path, as a dataset's paths are read: a leading ${NAME} is
    that environment variable's folder (relative to the working folder, as a data folder's variable is), "~" the
    home folder; a relative path stays relative. A ConfigError naming ``where`` when the variable is not set, or
    when a variable is written otherwise ($HOME/runs, /scratch/$USER, runs/${NAME}): such a value made a folder of
    that literal name in the repository."""
    text, match = value, LEADING_VARIABLE.match(value)
    if match:
        name = match.group(1)
        if not os.environ.get(name):
            raise ConfigError(f"{where} = {shown(value)} is invalid: it uses ${{{name}}}, but the environment variable "
                              f"{name} is not set; set it, or name the folder without it")
        from .download import local_root

        text = str(local_root(os.environ[name], f"{where}: ${{{name}}}", ConfigError)) + value[match.end():]
    if re.search(r"\$\{|\$[A-Za-z_]", value[match.end():] if match else value):
        raise ConfigError(f"{where} = {shown(value)} is invalid: a variable is read only as ${{NAME}} at the start of "
                          "the path (as in a dataset's paths); write it so, or name the folder itself")
    try:
        return home_path(text)
    except ConfigError as e:  # "~name/" of no user: named with its key, as the refusals above are
        raise ConfigError(f"{where}: {e}") from None


MIN_DECODER_VARIANCE = 1e-30  # sigma**2 + sigma2_offset: 1.2e-38 made the first epoch's loss infinite


def _check_combinations(values: dict, where: str) -> None:
    for key in ("output_dir", "load_dir"):
        check_folder_name(values[key], f"{where}: key '{key}'")
    if values["threshold_rule"] == "fixed" and values["threshold_value"] is None:
        raise ConfigError(f"{where}: key 'threshold_value' must be a number when threshold_rule is 'fixed'")
    variance = values["sigma"] ** 2 + values["sigma2_offset"]  # the ELBO divides the squared error by it, in float32
    if variance < MIN_DECODER_VARIANCE:
        raise ConfigError(f"{where}: key 'sigma' = {values['sigma']:g} with sigma2_offset {values['sigma2_offset']:g} "
                          f"gives a decoder variance sigma**2 + sigma2_offset of {variance:.3g}, below "
                          f"{MIN_DECODER_VARIANCE:g}: the ELBO divides the squared error by it, which overflows float32; "
                          "raise sigma or sigma2_offset")
    # the pot rule is reported for every threshold_rule (a deployable rule), so the pair is checked whatever the rule;
    # the same test as thresholds._check_pot_params, which would otherwise refuse it only after training
    if not values["pot_q"] < 1.0 - values["pot_level"]:
        raise ConfigError(f"{where}: key 'pot_q' = {values['pot_q']:g} is invalid: must be below 1 - pot_level "
                          f"= {1.0 - values['pot_level']:g} (pot_level {values['pot_level']:g})")


def dataset_name(dataset) -> str:
    """A dataset's name: a built-in series name, or a CSV object's ``name`` (default: its file's stem)."""
    if isinstance(dataset, str):
        return dataset
    if dataset.get("name"):
        return str(dataset["name"])
    from .csv_data import csv_stem

    return csv_stem(str(dataset.get("path") or (dataset.get("test_files") or ["dataset"])[0]))


def check_against_data(config: Config, n_train: int, n_channel: int) -> None:
    """Window sizes must fit the training block (a single series: window_stride 1), and channels must match the
    data."""
    where = config.source.name if config.source else "config"
    name = config.dataset_name
    if config.n_channel is not None and config.n_channel != n_channel:
        raise ConfigError(f"{where}: key 'n_channel' = {config.n_channel} but dataset '{name}' "
                          f"has {n_channel} channel(s); leave n_channel out (or null) to follow the data")
    if config.window_stride != 1:  # a detector that fits windows says so too (Detector.check_training); a control not
        raise ConfigError(f"{where}: key 'window_stride' = {config.window_stride} applies to segment datasets only "
                          "(e.g. ECG5000); set it to 1 for a single series")
    from .runs import MIN_L_SEQ, MIN_L_WIN, shrink_fix

    if config.l_win > n_train:
        fix = shrink_fix(config.replace(l_seq=MIN_L_SEQ))  # l_seq does not help
        raise ConfigError(f"{where}: key 'l_win' = {config.l_win} is longer than the training data of "
                          f"'{name}' ({n_train} points): {fix}")
    if config.span > n_train:
        # the key to change: l_seq, unless it is already the smallest (as "auto" picks it for a long l_win)
        key = "l_win" if config.l_seq <= MIN_L_SEQ and config.l_win > MIN_L_WIN else "l_seq"
        raise ConfigError(f"{where}: key '{key}' = {config[key]}: one sequence (l_win * l_seq = {config.span} "
                          f"points) is longer than the training data of '{name}' ({n_train} points): "
                          f"{shrink_fix(config)}")


def run_name(config: Config) -> str:
    """Run folder name from the config: exp_name/dataset_detector_lwin_lseq_code_seed."""
    return (f"{config.exp_name}/{config.dataset_name}_{config.detector}_lwin{config.l_win}_lseq{config.l_seq}"
            f"_code{config.code_size}_seed{config.seed}")


def run_dir(config: Config) -> Path:
    """The run folder this config reads from and writes to; a file in its way, or a folder there that holds files but
    no run (a load_dir naming a data folder or the exp_name folder above the run folders, a folder of one's own where
    output_dir leads), is a ConfigError: training and a control's scoring would write among them."""
    key = "output_dir" if config.load_dir == "default" else "load_dir"
    path = _under_root(config[key])
    if key == "output_dir":
        path = path / run_name(config)
    where = config.source.name if config.source else "config"
    if (link := dangling_link(path)) is not None:  # else mkdir's "File exists", of a folder that does not
        raise ConfigError(f"{where}: key '{key}' = {config[key]!r}: {link} is a symbolic link to {os.readlink(link)}, "
                          "which does not exist (a disk not mounted, a folder moved?); restore its target or remove "
                          "the link")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"{where}: key '{key}' = {config[key]!r}: {existing} is a file, not a folder")
    if key == "output_dir":
        check_name_lengths(config, existing, where)
    from .runs import foreign_folder

    if (problem := foreign_folder(path)) and key == "load_dir":
        raise ConfigError(f"{where}: key 'load_dir' = {config.load_dir!r}: {path} {problem}; name a run folder, "
                          "or a new or empty folder to train in")
    if problem:  # a folder of one's own where output_dir and exp_name lead: its files would be written over
        raise ConfigError(f"{where}: key 'output_dir' = {config.output_dir!r}: the run folder {path} {problem}; move "
                          "those files away, or set another output_dir or exp_name")
    return path


def check_name_lengths(config: Config, existing: Path, where: str) -> None:
    """The exp_name folder and the run folder name (a CSV dataset's name is its file's stem by default) must each fit
    in a file name of the file system of ``existing`` (255 bytes on most): a longer one stopped at "File name too
    long", after the exp_name folder was made, naming neither the name nor what to shorten."""
    try:
        limit = os.pathconf(existing, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows)
        limit = 255
    exp, name = run_name(config).split("/")
    shorter = ('give the dataset a shorter "name" (by default its CSV file\'s stem)' if isinstance(config.dataset, dict)
               else "give the dataset a shorter name")
    for part, what, fix in ((exp, "exp_name", "give it a shorter exp_name"), (name, "run folder name", shorter)):
        size = len(os.fsencode(part))
        if size > limit:
            raise ConfigError(f"{where}: the {what} {part[:40]}... is {size} bytes, more than the {limit} a file or "
                              f"folder name may have in {existing}: {fix}")


def dangling_link(path: Path) -> Path | None:
    """The first of ``path`` and the folders above it that is a symbolic link to nothing, or None."""
    return next((p for p in (Path(path), *Path(path).parents) if p.is_symlink() and not p.exists()), None)


def check_writable(path: Path, what: str = "output_dir") -> None:
    """Stop in one line unless the folder ``path`` can be written (or made): a file in its way, or a
    read-only nearest existing folder (``what``: the setting that chose the folder, for the remedy)."""
    path = Path(path)
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"cannot make folder {path}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise ConfigError(f"cannot write in {existing} ({e.strerror}): choose another {what} or "
                          "make it writable") from None


def _under_root(path: str) -> Path:
    p = folder_path(path)  # "~/runs" is the home folder's, "${SCRATCH}/runs" the variable's, as a dataset's path is
    return p if p.is_absolute() else REPO_ROOT / p


def save_config(config: Config, path: Path) -> None:
    """Write the resolved config (every key, defaults included), pointing at the schema."""
    values = {"$schema": str(SCHEMA_PATH), **config.to_dict()}
    write_text_atomic(path, json.dumps(values, indent=2) + "\n")


CONFIG_FOLDER_FILE = "config_folder.json"  # in a run folder: the folder of the config file it was trained with


def config_folders(config) -> list[Path]:
    """The folders a config's relative dataset paths are read from first: its file's, then, for a run folder's
    config.json (which keeps the paths as written), the folder of the config file the run was trained with."""
    if config.source is None:
        return []
    folder = Path(config.source).resolve().parent
    record = folder / CONFIG_FOLDER_FILE
    if not record.is_file():
        return [folder]
    recorded = read_json_file(record, "it records the folder of the config the run was trained with: restore it "
                                      "or delete it").get("config_folder")
    return [folder] + ([Path(recorded)] if isinstance(recorded, str) else [])


STATE_HINT = ("move it away and run codes/train.py again: training goes on from the checkpoints, which record "
              "their own epochs")
# state.json: "<stage>_stopped_early_at" marks an early stop, not a stage (here beside STATE_HINT, so that runs.py
# reads state.json without importing training.py and Keras)
STOPPED_SUFFIX = "_stopped_early_at"
DIVERGED_KEY = "diverged"  # state.json: what diverged, when the last training stopped at a loss that is not finite


def read_json_file(path: Path, hint: str = "move it away and run the command again") -> dict:
    """A JSON file the package wrote (state.json, config.json, metrics.json); one line naming it when it
    cannot be read (truncated, not JSON), with ``hint`` on what to do."""
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is damaged ({json_error(e)}); {hint}") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is damaged ({e.reason}); {hint}") from None
    if not isinstance(values, dict):
        raise UserError(f"{path} is damaged (a JSON {type(values).__name__}, not an object); {hint}")
    return values


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file through ``<name>.tmp`` and a rename: a reader, or a rerun after a kill, sees the
    old text or the new one, never half."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with naming_the_file(path):  # a write's or flush's OSError (a full disk) names no file
            with open(tmp, "w", newline="", encoding="utf-8") as f:  # not the locale's (Windows-1252 on Windows)
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def copy_atomic(source: Path, target: Path) -> None:
    """Copy a file through ``<name>.tmp`` and a rename, as ``write_text_atomic`` writes one."""
    target = Path(target)
    tmp = target.with_name(target.name + ".tmp")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
