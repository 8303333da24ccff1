"""An experiment file: datasets x detectors x seeds x config overrides, and the run config of each job.

An experiment is a JSON file in ``configs/experiments/`` (schema: ``configs/experiment.schema.json``).
Each dataset entry names a config file; a job's config is that config with the experiment's overrides
(first those for every detector, ``"*"``, then the job's detector's), its detector, seed and the
experiment's output folder. Run folders are the configs' own (``config.run_dir``), so a run that two
experiments share (the same config, detector and seed) is trained once.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import numpy as np

from .config import (
    CONFIG_DIR,
    REPO_ROOT,
    Config,
    check_folder_name,
    from_dict,
    json_path,
    json_shown,
    load_schema,
    read_config_values,
    read_user_json,
    requirement,
    run_dir,
)
from .detectors import CONTROLS, DETECTORS, QUICK, SCORING_KEYS, unread_keys
from .errors import ConfigError, DataError, UserError, closest, home_path, repository_file

EXPERIMENT_DIR = CONFIG_DIR / "experiments"
SCHEMA_PATH = CONFIG_DIR / "experiment.schema.json"


def job_rank(detector: str) -> int:
    """Where a detector's jobs go in a grid: first the quick ones without a neural model (a stopped grid
    has its controls), then the VAE-LSTM, the other neural detectors, and last the VAE, whose runs then
    find the VAE-LSTM run's finished VAE stage to reuse rather than train the same VAE beside it in
    another worker. Long jobs before short ones also keeps parallel workers busy to the end."""
    if detector == "vae_lstm":
        return 1
    if detector == "vae":
        return 3
    return 0 if detector in QUICK else 2


@dataclass(frozen=True)
class Job:
    """One run of an experiment; picklable, so that worker processes and Ray tasks can take it."""

    experiment: str  # path of the experiment file
    dataset: str     # a key of the experiment's datasets
    detector: str
    seed: int
    output_dir: str | None = None  # where the run folders go, when not the experiment's own
    # the experiment file's values (JSON) as the grid loaded them, so that an edit of the file while the grid runs
    # changes none of its later runs (the summary is of the file as loaded); None: read the file
    values: str | None = field(default=None, repr=False, compare=False)
    # the dataset configs (JSON: label -> [path, values]) as the grid read them, for the same reason
    configs: str | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.dataset} {self.detector} seed {self.seed}"


# how a message names a config key: 'l_win', 'dataset.labels' (a part of it), "dataset" (data_loader's)
QUOTES = (("'", "'"), ("'", "."), ('"', '"'))


@dataclass
class Experiment:
    name: str
    path: Path
    values: dict
    resolved: dict = field(default_factory=dict)  # (dataset, detector) -> the keys that follow the data
    dataset_configs: dict = field(default_factory=dict)  # label -> [path, values] of its config file, read once
    built: dict = field(default_factory=dict, repr=False, compare=False)  # a job's config, of any seed (config)

    @property
    def datasets(self) -> dict[str, str]:
        return self.values["datasets"]

    @property
    def detectors(self) -> list[str]:
        """The file's detectors, then any control it leaves out: every table shows the controls beside the
        models (a grid runs them in seconds)."""
        return [*self.values["detectors"], *self.added_controls]

    @property
    def added_controls(self) -> list[str]:
        """The controls the file does not list, which ``detectors`` adds."""
        return [name for name in CONTROLS if name not in self.values["detectors"]]

    @property
    def seeds(self) -> int:
        return self.values["seeds"]

    @property
    def output_dir(self) -> str:
        return self.values.get("output_dir", f"experiments/{self.name}")

    @property
    def unused_overrides(self) -> list[str]:
        """Detectors with overrides that no job of the file runs (kept, say, from a longer detector list)."""
        return [name for name in self.values.get("overrides", {}) if name != "*" and name not in self.detectors]

    @property
    def unread_overrides(self) -> list[tuple[str, str, list[str]]]:
        """(detector or "*", key, the detectors that read it) for each override that none of its jobs reads: a key
        that its detector never reads, or under "*" one that none of the file's detectors reads. Only the keys that
        ``detectors.unread_keys`` names: a conservative list. A segment dataset's beats (``summary`` "beats") are
        scored by their units' own scores (``beats._score_run``), so there no detector reads a scoring key
        (``detectors.SCORING_KEYS``): the list of readers is then empty."""
        scored_by_units = set().union(*SCORING_KEYS.values()) if self.summary == "beats" else set()

        def unread(detector: str) -> set[str]:
            return unread_keys(detector) | scored_by_units

        found = []
        for name, changes in self.values.get("overrides", {}).items():
            jobs = self.detectors if name == "*" else [name] if name in self.detectors else []
            found += [(name, key, [d for d in DETECTORS if key not in unread(d)]) for key in changes
                      if jobs and all(key in unread(d) for d in jobs)]
        return found

    @property
    def unread_scoring_overrides(self) -> list[tuple[str, str, str]]:
        """(detector or "*", key, why) for each detection or scoring override that the detectors of its jobs would
        read, but not under the jobs' configs on any of the datasets (``runs.unread_settings``: trailing_scale under
        point_score max_sequence, term_power under predicted_error, threshold_value under a rule other than fixed);
        those that its detectors never read are ``unread_overrides``'s. Whether a key is read on one channel is left to
        detect.py, which knows the data's channels. None in a segment dataset's grid, whose beats no scoring key reads
        (``unread_overrides`` names those)."""
        if self.summary == "beats":
            return []
        from .runs import unread_settings

        never = {(name, key) for name, key, _ in self.unread_overrides}
        configs = {}
        found = []
        for name, changes in self.values.get("overrides", {}).items():
            jobs = self.detectors if name == "*" else [name] if name in self.detectors else []
            for key in changes:
                if not jobs or (name, key) in never:
                    continue
                why = {}  # detector -> why each dataset's runs of it do not read the key; a dataset that reads it: None
                for detector in jobs:
                    for dataset in self.datasets:
                        if (dataset, detector) not in configs:
                            configs[(dataset, detector)] = self.config(dataset, detector, 0, resolve=False)
                        config = configs[(dataset, detector)]
                        why.setdefault(detector, []).append(unread_settings(config, None, [key]).get(key))
                if any(None in reasons for reasons in why.values()):
                    continue
                never_by = [d for d, reasons in why.items() if all(r.startswith("by ") for r in reasons)]
                said = [f"{d} does not read it {' or '.join(dict.fromkeys(why[d]))}" for d in why if d not in never_by]
                also = f" ({', '.join(never_by)} never {'reads' if len(never_by) == 1 else 'read'} it)" if never_by else ""
                found.append((name, key, "; ".join(said) + also))
        return found

    @property
    def summary(self) -> str:
        return self.values.get("summary", "standard")

    def jobs(self, datasets=None, detectors=None, seeds=None) -> list[Job]:
        """Every job, or those of the chosen datasets, detectors and seeds, in the order they run: by
        ``job_rank`` of their detector, then seed-major (a stopped grid has whole seeds of the detectors
        it reached)."""
        datasets = datasets or list(self.datasets)
        detectors = detectors or self.detectors
        seeds = range(self.seeds) if seeds is None else seeds
        for dataset in datasets:
            self.base_config(dataset)  # read before the first job runs, so that every job sees the same file
        output_dir, values = self.values.get("output_dir"), json.dumps(self.values)
        configs = json.dumps(self.dataset_configs)
        jobs = [Job(str(self.path), d, det, s, output_dir, values, configs) for s in seeds for d in datasets
                for det in detectors]
        return sorted(jobs, key=lambda job: job_rank(job.detector))

    def config(self, dataset: str, detector: str, seed: int, resolve: bool = True) -> Config:
        """The run config of one job; with ``resolve``, n_channel and "auto" windows follow the data
        (``prepare.load_data``, once per dataset and detector). Built and checked once per dataset and detector:
        another seed's is that config with its seed, which no other key's check reads (a summary looks for the run
        folders of 100 seeds of every job, and checking each of those configs took seconds)."""
        key = (dataset, detector, resolve, json.dumps([self.values, self.dataset_configs.get(dataset)]))
        built = self.built.get(key)  # the key holds what the config is made of: its values may change meanwhile
        if built is not None and is_seed(seed):
            return Config({**built.to_dict(), "seed": int(seed)}, source=built.source)
        config = self._config(dataset, detector, seed, resolve)
        self.built[key] = config
        return config

    def _config(self, dataset: str, detector: str, seed: int, resolve: bool) -> Config:
        base = self.base_config(dataset)
        job = self.job_keys(detector, seed)
        try:
            overrides = self.overrides_for(detector, base)
        except DataError as e:  # a data file the override names, found nowhere
            own = "dataset" in self.values.get("overrides", {}).get(detector, {})
            raise DataError(f"the experiment file's overrides.{detector if own else '*'}: {e}") from None
        try:
            config = base.replace(**overrides, **job)
        except ConfigError as e:  # a bad override is the experiment file's, not the dataset config's
            raise self.blamed(e, base, detector, lambda: base.replace(**job)) from None
        if resolve and not config.resolved:
            if (dataset, detector) not in self.resolved:
                from .prepare import load_data

                data_config = load_data(config, verbose=False)[0]
                self.resolved[(dataset, detector)] = {k: data_config[k] for k in ("l_win", "l_seq", "n_channel")}
            config = config.replace(**self.resolved[(dataset, detector)])
        return config

    def job_keys(self, detector: str, seed: int) -> dict:
        """The keys the experiment sets in each job's config (``JOB_KEYS``)."""
        return {"detector": detector, "seed": seed, "output_dir": self.output_dir, "load_model": True,
                "load_dir": "default"}  # a dataset config's own load_dir would put every run in one folder

    def overrides_for(self, detector: str, base: Config | None = None) -> dict:
        """The overrides of a detector's jobs: those for every detector ("*"), then its own. A dataset object's
        relative paths that the experiment file's folder holds are made absolute (``csv_data.absolute_paths``): as
        its dataset configs, they are looked for beside the file first, then where the dataset config's are; with
        the dataset's config ``base``, a path found in none of those folders is a DataError that names them all."""
        from .csv_data import absolute_paths
        from .data_loader import dataset_folders

        overrides = self.values.get("overrides", {})
        changes = {**overrides.get("*", {}), **overrides.get(detector, {})}
        if isinstance(changes.get("dataset"), dict):
            then = None if base is None else dataset_folders(base)
            changes["dataset"] = absolute_paths(changes["dataset"], self.path.parent, then)
        return changes

    def blamed(self, error: UserError, base: Config, detector: str, without_overrides) -> UserError:
        """``error``, from a job's config or its check against the data, as the experiment file's overrides' when
        the dataset's config passes without them (``without_overrides()`` raises no UserError); else as it is."""
        changes = self.overrides_for(detector)
        if not changes:
            return error
        try:
            without_overrides()
        except UserError:
            return error  # the dataset's config with this detector, overrides or not
        overrides = self.values.get("overrides", {})
        message = str(error).removeprefix(f"{Path(base.source).name}: " if base.source else "")
        # the key the message is about comes first in it (a "did you mean" after it may name another)
        named = sorted((k for k in changes if any(f"{q}{k}{end}" in message for q, end in QUOTES)),
                       key=lambda k: min(i for q, end in QUOTES if (i := message.find(f"{q}{k}{end}")) >= 0))
        where = ("overrides" if not named else f"overrides.{detector}" if named[0] in overrides.get(detector, {})
                 else "overrides.*")
        return type(error)(f"the experiment file's {where}: {message}")

    def check_fits(self, dataset: str, detector: str, series) -> None:
        """One line when a job's windows or channels do not fit its dataset's loaded ``series``, leave no test piece
        to score, or too few training samples to split (``prepare.fit_data``, ``prepare.check_scorable``,
        ``runs.check_training_sizes``), as the grid's run would say it; named as the experiment file's overrides'
        (``blamed``) when the dataset's config fits without them."""
        from .prepare import check_scorable, fit_data
        from .runs import check_training_sizes

        def check(config):
            config = fit_data(config, series, verbose=False)
            check_scorable(config, series)
            check_training_sizes(config, len(series.train))

        try:
            check(self.config(dataset, detector, 0, resolve=False))
        except UserError as e:
            base = self.base_config(dataset)
            raise self.blamed(e, base, detector, lambda: check(base.replace(**self.job_keys(detector, 0)))) from None

    def base_config(self, dataset: str) -> Config:
        """A dataset's config as its file read the first time (an edit of the file while a grid runs changes
        none of the grid's runs)."""
        if dataset not in self.dataset_configs:
            path, values = read_config_values(self.config_file(dataset))
            self.dataset_configs[dataset] = [str(path), values]
        path, values = self.dataset_configs[dataset]
        return from_dict(copy.deepcopy(values), source=Path(path))

    def config_file(self, dataset: str) -> str:
        """A dataset's config file: a relative name beside the experiment file when one is there, else where
        ``config.resolve_config_path`` finds it (the working folder, the repository root, configs/). "~" is the home
        folder, as in --config and the file's output_dir."""
        name = home_path(self.datasets[dataset])
        beside = self.path.parent / name
        if name.is_absolute() or beside.is_file():
            return str(name if name.is_absolute() else beside)
        looked = list(dict.fromkeys([beside, Path.cwd() / name, REPO_ROOT / name, CONFIG_DIR / name]))
        if beside.is_dir() and not any(p.is_file() for p in looked):  # found where resolve_config_path does not look
            raise ConfigError(f"config '{self.datasets[dataset]}' is a folder ({beside}), not a JSON file")
        if not any(p.exists() for p in looked):  # resolve_config_path's message would leave out the first
            raise ConfigError(f"config file '{name}' not found (looked in: {', '.join(map(str, looked))})")
        return str(self.datasets[dataset])  # as written: "./~/x.json" as its Path's text "~/x.json" is the home's

    def run_dir(self, job: Job) -> Path:
        return run_dir(self.config(job.dataset, job.detector, job.seed))


def is_seed(value) -> bool:
    """Whether ``value`` is an integer within the config schema's range of seeds."""
    low, high = seed_range()
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and low <= value <= high


@functools.cache
def seed_range() -> tuple[int, int]:
    seed = load_schema()["properties"]["seed"]
    return seed["minimum"], seed["maximum"]


def find_experiment(name: str | Path) -> Path:
    """An experiment file: a path, or a name in configs/experiments/ (with or without .json)."""
    path = Path(name)
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, REPO_ROOT / path, EXPERIMENT_DIR / path,
                                                     EXPERIMENT_DIR / f"{path}.json"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    for candidate in candidates:  # as a config path: a folder is named, not reported missing
        if candidate.is_dir():
            raise ConfigError(f"experiment '{name}' is a folder ({candidate}), not a JSON file")
    repository_file(SCHEMA_PATH)  # outside a checkout, that line: configs/experiments/ is the checkout's
    known = sorted(p.stem for p in EXPERIMENT_DIR.glob("*.json"))
    # every near name (dev_wide_level_weight3: 8, 4, 2 and 05), and those it begins (skab: skab_valve1)
    by_lower = {k.lower(): k for k in known}
    lower = str(name).lower()
    starting = [k for k in known if k.lower().startswith(lower)]
    near = list(dict.fromkeys([*(by_lower[k] for k in difflib.get_close_matches(lower, by_lower, n=5)), *starting]))
    more = len(near) - 5
    hint = ("; did you mean " + ", ".join(f"'{n}'" for n in near[:5])
            + (f" (or {more} more starting with '{name}')" if more > 0 else "") + "?") if near else \
        f"; known experiments: {', '.join(known)}"
    raise ConfigError(f"experiment '{name}' not found{hint}")


def job_experiment(job: Job) -> Experiment:
    """The experiment of a job, with the job's output folder: as the grid loaded it (``job.values``), else read."""
    path = Path(job.experiment)
    experiment = (Experiment(path.stem, path, json.loads(job.values)) if job.values is not None
                  else load_experiment(job.experiment))
    if job.configs is not None:
        experiment.dataset_configs = json.loads(job.configs)
    if job.output_dir:
        experiment.values["output_dir"] = job.output_dir
    return experiment


# keys that the experiment sets for each job itself: an override of them is refused
JOB_KEYS = {"detector": "list the detectors in 'detectors'", "seed": "set the number of seeds in 'seeds'",
            "output_dir": "set the file's 'output_dir' (or pass --output-dir)",
            "load_model": "a grid's runs always resume",
            "load_dir": "each run has its own folder under output_dir"}


def check_overrides(file: str, overrides: dict) -> None:
    """Overrides go under "*" or a detector's name, and leave the keys each job sets alone; one line otherwise."""
    for name, changes in overrides.items():
        if name != "*" and name not in DETECTORS:
            near = closest(name, DETECTORS)
            hint = f"did you mean '{near}'?" if near else f"use \"*\" or one of {', '.join(DETECTORS)}"
            raise ConfigError(f"{file}: overrides.{name}: not a detector; {hint}")
        for key in sorted(set(changes) & set(JOB_KEYS)):
            raise ConfigError(f"{file}: overrides.{name}.{key}: the experiment sets {key} for each run; "
                              f"{JOB_KEYS[key]}")


def json_kind(value) -> str:
    """What a JSON value is, in JSON's words."""
    kinds = ((bool, "true or false"), (dict, "an object"), (list, "an array"), (str, "a string"), (int, "a number"),
             (float, "a number"))
    return "null" if value is None else next(name for kind, name in kinds if isinstance(value, kind))


def json_text(value, limit: int = 60) -> str:
    """A value as JSON, shortened to ``limit`` characters for a one-line message."""
    text = json_shown(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def load_experiment(name: str | Path) -> Experiment:
    """Read and validate an experiment file; every problem is one line (ConfigError)."""
    path = find_experiment(name)
    values = read_user_json(path)  # as load_config says it: one line, not a traceback
    if not isinstance(values, dict):
        raise ConfigError(f"{path.name}: an experiment file holds one JSON object ({{\"datasets\": ..., "
                          f"\"detectors\": ..., \"seeds\": ...}}), not {json_kind(values)}")
    schema = json.loads(repository_file(SCHEMA_PATH).read_text())
    schema["properties"]["detectors"]["items"]["enum"] = list(DETECTORS)
    known = schema["properties"]
    for key in values:
        if key not in known:
            near = closest(key, known)
            hint = f"; did you mean '{near}'?" if near else f"; see {SCHEMA_PATH.relative_to(REPO_ROOT)}"
            raise ConfigError(f"{path.name}: unknown key '{key}'{hint}")
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(values), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        if not error.absolute_path:
            raise ConfigError(f"{path.name}: the file {requirement(error)}")
        where = json_path(error.absolute_path)
        hint = (" (the path of a dataset's config file; a dataset object goes in that config's \"dataset\", or under "
                "\"overrides\")" if len(error.absolute_path) == 2 and error.absolute_path[0] == "datasets"
                and isinstance(error.instance, dict) else "")
        raise ConfigError(f"{path.name}: {where} = {json_text(error.instance)} is invalid: {requirement(error)}{hint}")
    values.pop("$schema", None)
    if "output_dir" in values:
        check_folder_name(values["output_dir"], f"{path.name}: output_dir")
    values["seeds"] = int(values["seeds"])  # JSON Schema's integer takes 2.0 too, and range() does not
    for label in values["datasets"]:  # a label names files (detections_<label>.png) and table rows
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", label) or label in (".", ".."):
            raise ConfigError(f"{path.name}: datasets: the label {label!r} must be letters, digits, '_', '.' or '-' "
                              "(it names the summary's files)")
    by_case = {}  # detections_NAB.png and detections_nab.png: one file where file names ignore case (macOS, Windows)
    for label in values["datasets"]:
        if (other := by_case.setdefault(label.casefold(), label)) != label:
            raise ConfigError(f"{path.name}: datasets: the labels {other!r} and {label!r} differ only in case, and "
                              "name the same summary files where file names ignore case; rename one")
    check_overrides(path.name, values.get("overrides", {}))
    experiment = Experiment(path.stem, path, values)
    from .beats import check_config, is_segments
    from .data_loader import check_dataset_name

    for dataset in experiment.datasets:  # every config and override loads, before anything trains
        for detector in experiment.detectors:
            try:
                config = experiment.config(dataset, detector, 0, resolve=False)
            except (ConfigError, DataError) as e:  # DataError: a data file an override names, found nowhere
                raise type(e)(f"{path.name}: dataset '{dataset}' with detector '{detector}': {e}") from None
            if isinstance(config.dataset, str):  # a misspelt name is no series: named before its kind is
                try:
                    check_dataset_name(config.dataset)
                except DataError as e:
                    base = experiment.base_config(dataset)  # blamed on the overrides when its own name is known
                    blamed = experiment.blamed(e, base, detector, lambda own=base.dataset: isinstance(own, str)
                                               and check_dataset_name(own))
                    which = f" with detector '{detector}'" if blamed is not e else ""
                    raise ConfigError(f"{path.name}: dataset '{dataset}'{which}: {blamed}") from None
            if is_segments(config):  # and fits the segments (ECG5000's beats), or every run of it fails
                check_config(config, f"{path.name}: dataset '{dataset}' with detector '{detector}'")
        if is_segments(config) != (experiment.summary == "beats"):  # else every run is scored, then left out
            kind = "a dataset of independent segments" if is_segments(config) else "a series"
            want = "\"beats\"" if is_segments(config) else "\"standard\" or \"table1\""
            raise ConfigError(f"{path.name}: dataset '{dataset}' is {kind}, and summary \"{experiment.summary}\" "
                              f"does not summarise it: set \"summary\": {want}")
    if experiment.summary == "beats":  # its table of published figures has a column per metric, and no other
        from .beats import METRICS

        for i, entry in enumerate(values.get("related", [])):
            for key in entry["figures"]:
                if key not in METRICS:
                    near = closest(key, METRICS)
                    raise ConfigError(f"{path.name}: related[{i}].figures: unknown per-beat metric {key!r}; "
                                      + (f"did you mean {near!r}? " if near else "")
                                      + f"(the beats table's columns: {', '.join(METRICS)})")
    return experiment
