"""Run an experiment's jobs: one after another, in N local processes, or as tasks on a Ray cluster.

Every route calls the same ``run_job`` (train then detect one run folder, or read its finished
metrics) and yields ``(job, metrics)`` as runs finish. Each local worker process gets an equal share
of the CPU threads; a Ray task asks for that many CPUs. A job that fails is reported with its error
and the grid goes on; ``run_grid`` raises at the end, naming the failed jobs.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

from .errors import REPO_VAR, UserError, isatty, os_error_line
from .experiment import Job, job_experiment
from .job_lines import WholeLines
from .threads import usable_cores

RAY_NEEDED = "--ray needs Ray: pip install 'ray>=2.40' (an optional dependency)"
RAY_RETRIES = 1  # a Ray task that dies (a lost node, a killed worker) is run once more
LOCAL_RAY_STARTS = 3  # tries to start a local Ray instance that timed out starting (start_local_ray)
# A worker process (local, or Ray's) is replaced after this many jobs: TensorFlow keeps memory across the models a
# process builds (one worker's resident set reached 6.4 GB over about 100 table1 jobs), and a fresh
# process costs a few seconds of imports.
JOBS_PER_WORKER = 10


# Detection keys recorded in metrics.json; a finished run scored under other values is scored again, as
# is one whose detector reads a scoring key (Detector.scoring_keys) that changed. A key that older
# metrics.json files lack counts as the value it had then.
DETECTION_KEYS = ("threshold_rule", "threshold_quantile", "contamination", "pot_q", "pot_level", "threshold_value")
BEFORE_RECORDED = {"point_score": "max_sequence", "point_smoothing": 0, "point_spread": 0, "trailing_scale": 0,
                   "error_scale": "none",
                   "second_term_weight": 1, "reconstruction_weight": 0, "term_scale": "mean",
                   "term_combine": "sum", "term_power": 1, "context_scale": "none", "contamination": 0.1,
                   "pot_q": 1e-3, "pot_level": 0.98, "threshold_value": None}


def scoring_keys(config, n_channel: int | None) -> tuple[str, ...]:
    """The detection keys and the config's detector's scoring keys that can change its figures on ``n_channel``
    channels: ``threshold_value`` only under the ``fixed`` rule, the only one that reads it."""
    from .detectors import scoring_keys_for

    detection = tuple(k for k in DETECTION_KEYS if k != "threshold_value" or config.threshold_rule == "fixed")
    return detection + scoring_keys_for(config.detector, n_channel, config)


def recorded(record: dict, key: str):
    """``key``'s value in a run's metrics.json or config.json: as written, else the value it had before files
    recorded it (``BEFORE_RECORDED``; None for a key outside it)."""
    return record.get(key, BEFORE_RECORDED.get(key))


def stale_keys(config, metrics: dict) -> list[str]:
    """Detection and scoring keys whose value in ``metrics`` (a run's metrics.json) differs from ``config``'s."""
    return [k for k in scoring_keys(config, metrics.get("n_channel")) if recorded(metrics, k) != config[k]]


def out_of_date(config, metrics: dict, series=None) -> str | None:
    """Why a run's ``metrics`` (its metrics.json) no longer hold for ``config``: scored under other detection or
    scoring keys, by an older evaluation (``METRICS_VERSION``), or (given the dataset's ``series``) on other test
    data or labels than it gives now (labels added to a trained run, an edited test file; files from before the
    record pass); None when they hold."""
    from .detection import METRICS_VERSION, evaluation_fingerprint

    stale = stale_keys(config, metrics)
    if stale:
        return f"other values of {', '.join(stale)}"
    if metrics.get("metrics_version") != METRICS_VERSION:
        return "an older evaluation"
    if series is not None and "test_data" in metrics and metrics["test_data"] != evaluation_fingerprint(series):
        return "other test data or labels"
    return None


def run_job(job: Job, threads: int | None = None) -> dict:
    """Train and detect one job unless it is finished; returns its metrics. A run folder made with other
    training keys or data, finished or not, is refused (naming them); a finished run scored with another
    threshold rule, or by an older evaluation, is scored again from its saved models."""
    from .threads import use_threads

    use_threads(threads)  # before TensorFlow starts: one thread per op, ``threads`` ops at once
    from .runs import rerun_command

    experiment = job_experiment(job)
    with rerun_command(job_command(experiment, job)):  # a damaged checkpoint's line names the grid's command
        return _run_job(experiment, job)


def job_command(experiment, job: Job) -> str:
    """The reproduce.py command (quoted) that runs ``job`` of ``experiment`` again, in its own run folder."""
    from .config import shell_word
    from .experiment import EXPERIMENT_DIR

    path = Path(experiment.path).resolve()
    name = path.stem if path == (EXPERIMENT_DIR / f"{path.stem}.json").resolve() else str(path)
    out = f" --output-dir {shell_word(job.output_dir)}" if job.output_dir and Path(job.output_dir).is_absolute() else ""
    return (f"'python3 codes/reproduce.py {shell_word(name)} --series {shell_word(job.dataset)} --detectors "
            f"{job.detector} --seed {job.seed}{out}'")


def _run_job(experiment, job: Job) -> dict:
    from . import beats
    from .detection import run_detection, write_report
    from .prepare import check_scorable, load_data, resolve
    from .reproduce import reuse_vae_stage
    from .runs import detection_lock, finished_metrics, has_training, refuse_other_training, train

    if beats.is_segments(experiment.config(job.dataset, job.detector, job.seed, resolve=False)):
        return beats.run_job(experiment, job)  # independent segments (ECG5000): their own split and metrics
    config, series = load_data(experiment.config(job.dataset, job.detector, job.seed), verbose=False)
    path = experiment.run_dir(job)
    metrics = finished_metrics(path)
    if metrics is not None or has_training(path):  # grid runs always resume: refuse with the grid's remedy
        refuse_other_training(config, path, f"experiment {experiment.name}", series.train)
    if metrics is not None:
        why = out_of_date(config, metrics, series)
        if why is None:
            return FinishedBefore(metrics)
        print(f"{path.name}: metrics.json is from {why}; scoring the trained run again")
        retrain = not ready_to_score(config, path)  # a checkpoint lost or damaged since: resume from the previous one
        started = time.perf_counter() - earlier_training_seconds(path)
        if retrain:
            train(config, series.train, path, series.channels)
        with detection_lock(path):
            result = run_detection(config, path, series=series)
            result.metrics["wall_seconds"] = (round(time.perf_counter() - started, 1) if retrain
                                              else metrics.get("wall_seconds"))
            write_report(result)
        return result.metrics
    check_scorable(config, series)  # before any training or copying
    started = time.perf_counter() - earlier_training_seconds(path)  # a resumed run counts its earlier epochs
    if job.detector == "vae" and "vae_lstm" in experiment.detectors:
        reuse_vae_stage(resolve(experiment.config(job.dataset, "vae_lstm", job.seed), series, verbose=False), path,
                        config, series.train)
    train(config, series.train, path, series.channels)  # the grid's own folder, not a newer run of the config (load_model 0)
    with detection_lock(path):
        result = run_detection(config, path, series=series)
        result.metrics["wall_seconds"] = round(time.perf_counter() - started, 1)
        write_report(result)
    return result.metrics


class FinishedBefore(dict):
    """The metrics of a run that had finished before its grid reached it, read back rather than run: ``run_grid``
    says so, as a grid started again after an interruption goes over its finished runs in seconds."""


def ready_to_score(config, path) -> bool:
    """Whether every file the run's detector scores with is in its folder and every checkpoint is whole."""
    from .detectors import get_detector
    from .training import damage

    detector = get_detector(config)
    return detector.is_trained(path) and not any(
        damage(Path(path) / name) for name in detector.trained_files if name.endswith(".keras"))


def earlier_training_seconds(path) -> float:
    """Seconds of training epochs a run folder already holds (``training.EpochState`` adds them up in
    state.json), so that a resumed run's ``wall_seconds`` is not only the time since it resumed."""
    from .training import read_state, total_seconds

    return total_seconds(read_state(Path(path) / "state.json"))


def threads_per_run(workers: int) -> int:
    return max(1, usable_cores() // max(workers, 1))


class WorkerError(Exception):
    """A worker's error that would not come back whole to the grid's process (it does not pickle, or not back), in
    its stead: its one line, its type and message; its traceback follows it as the cause that the pool attaches."""


def _failure(job: Job, error: BaseException) -> str:
    """One line per failed run: a UserError's own line, an OSError's file and why (as the commands say them), a dead
    worker process said in words; any other error (a bug, say) with its type."""
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(error, BrokenProcessPool):  # its own text speaks of "the process pool" and "the future"
        return (f"{job}: its worker process ended abruptly (killed, for one, or out of memory); the same command "
                "resumes it")
    return f"{job}: {error_line(error)}"


def error_line(error: BaseException) -> str:
    """A failed run's error in one line, without its job (``_failure``)."""
    message = " ".join((os_error_line(error) if isinstance(error, OSError) else str(error)).split())
    if not isinstance(error, (UserError, OSError, WorkerError)):
        message = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return message


def in_worker(job: Job, threads: int | None) -> dict:
    """``run_job`` in a worker process, whose error goes back to the grid's process pickled: one that does not pickle,
    or not back (an ``__init__`` that takes other arguments than its ``args``), goes back as a stand-in with its line
    (a UserError's as a UserError), which the pool would otherwise report as a worker process that ended abruptly."""
    import pickle
    from multiprocessing.reduction import ForkingPickler

    try:
        return named_job(job, threads)
    except Exception as e:
        try:
            pickle.loads(ForkingPickler.dumps(e))
        except Exception:  # noqa: BLE001 - any failure to pickle or unpickle: the stand-in, raised from within it
            raise (UserError if isinstance(e, UserError) else WorkerError)(error_line(e)) from e
        raise


def named_job(job: Job, threads: int | None = None) -> dict:
    """``run_job`` with each line it prints named with the job ("key_hold vae_lstm seed 0: Epoch 3/50"), as a worker
    process or Ray task runs it beside others; one line per epoch, not a progress bar."""
    from .job_lines import named_lines

    with named_lines(str(job)):
        return run_job(job, threads)


def unexpected(error: BaseException) -> bool:
    """An error that is neither bad input (UserError), nor the disk's (an OSError: full, not writable), nor a worker
    process that died, nor a Ray task that did (Ray's own errors: a task's error comes unwrapped, ``task_error``)."""
    from concurrent.futures.process import BrokenProcessPool

    ray_errors = sys.modules.get("ray.exceptions")
    died = (BrokenProcessPool, *((ray_errors.RayError,) if ray_errors else ()))
    return not isinstance(error, (UserError, OSError, *died))


def sequential(jobs: list[Job], threads: int | None = None) -> Iterator[tuple[Job, dict | BaseException]]:
    for job in jobs:
        try:
            yield job, run_job(job, threads)
        except Exception as e:  # noqa: BLE001 - one failed run, reported with its job, as a worker's would be
            yield job, e


def start_worker(parent: int) -> None:
    """A worker process's start: it ends with the grid's process (``die_with_parent``), and its lines are dropped
    once their reader has gone ('reproduce.py --workers 2 | head -3'), where the next one would fail its run."""
    from .errors import reader_may_go

    die_with_parent(parent)
    sys.stdout, sys.stderr = reader_may_go(sys.stdout), reader_may_go(sys.stderr)


def die_with_parent(parent: int) -> None:
    """In a worker process: end when the grid's process ends, even by SIGKILL, rather than linger holding its
    memory. A thread checks the parent's PID each second (a killed parent's children are re-parented).
    Ctrl-C reaches the whole process group; the grid's process handles it (``in_processes`` stops its workers),
    so a worker ignores it rather than print a traceback of its own."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="die-with-parent").start()


def start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (the process that frees the workers' semaphores) with SIGHUP
    blocked, as it has SIGINT and SIGTERM: a closed terminal sends SIGHUP to the whole process group, and the
    tracker it killed was started again by the grid's next call to it, which printed a "KeyError: '/loky-...'"
    traceback for each semaphore the first one knew. The grid's process stops on SIGHUP (``run_cli``)."""
    import signal
    from multiprocessing import resource_tracker

    hangup = getattr(signal, "SIGHUP", None)
    if hangup is None or not hasattr(signal, "pthread_sigmask"):
        resource_tracker.ensure_running()
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {hangup})  # a mask, unlike a handler, outlives exec
    try:
        resource_tracker.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def in_processes(jobs: list[Job], workers: int, threads: int | None = None
                 ) -> Iterator[tuple[Job, dict | BaseException]]:
    """``workers`` spawned processes (not forked: TensorFlow does not survive a fork), each running one job
    at a time with ``threads`` threads (default ``threads_per_run(workers)``), in the jobs' order. Each
    process is replaced by a fresh one after ``JOBS_PER_WORKER`` jobs, or after it dies. (One single-process
    pool per worker: the standard pool's ``max_tasks_per_child`` can stop replacing its workers on
    Python 3.11 to 3.13, CPython issue 115634.)"""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    threads = threads or threads_per_run(workers)
    context = mp.get_context("spawn")
    queue = iter(jobs)
    def pool():
        return ProcessPoolExecutor(1, mp_context=context, initializer=start_worker, initargs=(os.getpid(),))

    start_resource_tracker()
    pools = [pool() for _ in range(max(workers, 1))]
    done_by = [0] * len(pools)
    running = {}  # future -> (job, worker)

    def start(worker: int) -> None:
        job = next(queue, None)
        if job is not None:
            running[pools[worker].submit(in_worker, job, threads)] = (job, worker)

    completed = False
    try:
        for worker in range(len(pools)):
            start(worker)
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                job, worker = running.pop(future)
                error = future.exception()
                done_by[worker] += 1
                if done_by[worker] >= JOBS_PER_WORKER or isinstance(error, BrokenProcessPool):
                    pools[worker].shutdown(wait=True)
                    pools[worker], done_by[worker] = pool(), 0
                start(worker)
                yield job, (error if error is not None else future.result())
        completed = True
    finally:
        for pool in pools:
            if not completed:  # interrupted: stop the runs now (checkpoints are atomic; they resume)
                stop_workers(pool)
            pool.shutdown(wait=completed, cancel_futures=True)


def stop_workers(pool) -> None:
    """Terminate a process pool's worker processes (ProcessPoolExecutor has no public way before 3.14)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


RAY_PROBE_SECONDS = 10  # how long a cluster's address may take to answer a connection before it is refused


def check_ray_address(address: str) -> None:
    """One line when nothing answers at the host and port of a --ray address (a head's ``host:port``, or
    ``ray://host:port``): Ray itself retries such an address for minutes (a head's host:port about 20) before it
    says so. 'local', 'auto' and an address without a port are left to Ray, which answers at once."""
    import socket

    where = address.removeprefix("ray://")
    host, _, port = where.rpartition(":")
    host = host.strip("[]")  # an IPv6 address, [::1]:6379
    if not host or not port.isdigit() or "/" in where:
        return
    try:
        socket.create_connection((host, int(port)), timeout=RAY_PROBE_SECONDS).close()
    except OSError as e:
        why = f"no answer within {RAY_PROBE_SECONDS} s" if isinstance(e, TimeoutError) else (e.strerror or str(e))
        raise UserError(f"--ray {address}: nothing answers at {host}:{port} ({why}); start the cluster there "
                        "(ray start --head), or use 'local', 'auto' on a cluster node, or ray://<head>:10001") from None


def on_ray(jobs: list[Job], address: str, workers: int, threads: int | None = None
           ) -> Iterator[tuple[Job, dict | BaseException]]:
    """Each job is one Ray task; ``address`` 'local' starts a local Ray instance, anything else
    (e.g. 'auto' or 'ray://head:10001') joins an existing cluster."""
    try:
        import ray
    except ImportError:
        raise UserError(RAY_NEEDED) from None
    import signal
    import threading

    # ray.init puts in a SIGTERM handler of its own (an exit, and a stack dump): the runner's (run_cli's) is put back
    in_main_thread = threading.current_thread() is threading.main_thread()  # the only one that can set it
    runners = signal.getsignal(signal.SIGTERM) if in_main_thread else None
    threads = threads or threads_per_run(workers)
    try:
        if address == "local":  # a new instance, whatever $RAY_ADDRESS names, with the CPUs a task asks for at least
            start_local_ray(ray, num_cpus=max(usable_cores(), threads), include_dashboard=False,
                            log_to_driver=False, runtime_env={"env_vars": _forwarded_env(jobs)})
        else:
            ray.init(address=address, runtime_env={"env_vars": _forwarded_env(jobs)})
    except SystemExit as e:  # a SIGTERM while ray.init ran, to Ray's handler (sys.exit): the runner's says how to resume
        if e.code != signal.SIGTERM or not callable(runners):
            raise
        with contextlib.suppress(Exception):
            ray.shutdown()  # whatever of the local instance had started
        runners(signal.SIGTERM, None)
        raise
    except (ValueError, ConnectionError, RuntimeError) as e:
        raise UserError(f"--ray {address}: {' '.join(str(e).split())} (use 'local', 'auto' on a cluster node, or "
                        "ray://<head>:10001)") from None
    except Exception as e:  # Ray's own start-up failures are plain Exceptions ("timed out during startup")
        raise UserError(f"--ray {address}: Ray did not start: {' '.join(str(e).split())} (on a busy machine try again, "
                        "or run the grid without --ray: --workers N)") from None
    finally:
        if runners is not None:
            signal.signal(signal.SIGTERM, runners)
    if address != "local":  # a local instance has the CPUs a task asks for (num_cpus above)
        note_no_node_fits(ray, address, threads)
    # a worker process is replaced after JOBS_PER_WORKER tasks, as a local one is (Ray would keep it for every task)
    task = ray.remote(num_cpus=threads, max_retries=RAY_RETRIES, max_calls=JOBS_PER_WORKER)(named_job)
    refs = {task.remote(job, threads): job for job in jobs}
    try:
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            try:
                yield refs[done[0]], ray.get(done[0])
            except ray.exceptions.RayTaskError as e:  # the run's own error, as a local worker's would be
                yield refs[done[0]], task_error(e)
            except Exception as e:  # noqa: BLE001 - the task died (a killed worker, a lost node), with its job
                yield refs[done[0]], e
    finally:
        ray.shutdown()


def start_local_ray(ray, **options) -> None:
    """``ray.init`` of a new local instance, started again when it timed out starting (LOCAL_RAY_STARTS tries in all).
    Ray's deadlines for that are fixed: its raylet gives its dashboard agent about 15 s to report its ports, then
    aborts; ray.init gives the raylet 30 s to register. On a busy machine the agent, a Python process that imports
    Ray, can miss them. What each failed start left running (its GCS, dashboard, monitors) is ended first: Ray leaves
    it to the end of this process, beside the next start's."""
    import psutil  # Ray's own copy, importable once Ray is

    ray_dir = str(Path(ray.__file__).parent)
    for start in range(1, LOCAL_RAY_STARTS + 1):
        before = {p.pid for p in psutil.Process().children()}
        try:
            with _ray_site():
                ray.init(address="local", **options)
            return
        except Exception as e:
            _end_ray_processes(psutil, before, ray_dir)
            if start == LOCAL_RAY_STARTS or type(e) is not Exception or "timed out" not in str(e):
                raise
        print(f"note: the local Ray instance timed out starting (a busy machine?): starting it again "
              f"({start + 1} of {LOCAL_RAY_STARTS})", flush=True)


@contextlib.contextmanager
def _ray_site():
    """PYTHONPATH with ``ray_site`` first while a local instance starts, for its processes (and its workers) to
    inherit: their ``import ray`` then costs about 0.6 s of CPU, not 2 s (see ray_site/sitecustomize.py)."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent / "ray_site")] + ([before] if before else []))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def _end_ray_processes(psutil, before: set[int], ray_dir: str) -> None:
    """End what a failed start left: this process's children not among ``before`` (its children's pids as the start
    began) that run Ray's programs (found by its folder), with their descendants that do. The descendants of the
    children it had before are left alone: a Ray instance of the user's, started from this process, may have started
    a worker meanwhile."""
    def of_ray(process) -> bool:
        try:
            return ray_dir in " ".join(process.cmdline())
        except psutil.Error:
            return False

    left = []
    for child in psutil.Process().children():
        if child.pid not in before and of_ray(child):
            with contextlib.suppress(psutil.Error):
                left += [child] + [p for p in child.children(recursive=True) if of_ray(p)]
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(left, timeout=5)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=5)


def note_no_node_fits(ray, address: str, threads: int) -> None:
    """A note when no live node of the cluster has the ``threads`` CPUs each task asks for: Ray then places no task
    and waits, for ever unless an autoscaler adds such a node (so no refusal), and the grid said nothing."""
    try:
        cpus = [float(node.get("Resources", {}).get("CPU", 0)) for node in ray.nodes() if node.get("Alive")]
    except Exception:  # noqa: BLE001 - a cluster that does not say: the check is only a note
        return
    most = int(max(cpus, default=0))
    if most >= threads:
        return
    hint = (f"pass --threads {most} or fewer to run them on these nodes" if most >= 1 else
            "none of its nodes has a CPU now")
    print(f"note: each Ray task asks for {threads} CPUs (--threads; by default this machine's usable cores over "
          f"--workers), and no node of the cluster at {address} has that many (the most: {most}): the runs wait until "
          f"one joins; {hint}")


def task_error(error) -> BaseException:
    """The exception a Ray task raised, out of the RayTaskError that carries it (whose text is the task's
    traceback), with that text as a note: printed with it when it is a bug, not in its one line."""
    cause = error.cause
    cause.add_note(str(error).rstrip())
    return cause


def _forwarded_env(jobs: list[Job] = ()) -> dict:
    """The data-source variables, the checkout of a copy installed outside one (VAE_LSTM_REPO), and every variable
    that the jobs' experiment values and dataset configs name at the start of a path ("${MY_DATA}/x.csv", an
    output_dir "${SCRATCH}/runs"), so that tasks find the same data, configs and run folders as the runner. Each such folder is given as the runner reads it (``download.local_root``): a relative
    one, or "~/data", would be read from a task's own working folder (on a remote node, Ray's session folder)."""
    from .config import LEADING_VARIABLE
    from .download import local_root

    folders = ["NAB_DATA_DIR", "KLSE_DATA_DIR", "SKAB_DATA_DIR", "ECG5000_DATA_DIR", REPO_VAR]
    for job in jobs:
        for text in (job.values, job.configs):
            folders += _leading_variables(json.loads(text), LEADING_VARIABLE) if text else []
    forwarded = {}
    for name in dict.fromkeys(folders):
        if value := os.environ.get(name):
            try:
                forwarded[name] = str(local_root(value))
            except UserError:  # "~name" of no user here: the task says so, as the runner would
                forwarded[name] = value
    if level := os.environ.get("TF_CPP_MIN_LOG_LEVEL"):
        forwarded["TF_CPP_MIN_LOG_LEVEL"] = level
    return forwarded


def _leading_variables(value, pattern) -> list[str]:
    """The NAME of each string in ``value`` (JSON: nested lists and dicts) that starts with ${NAME}, as a path of a
    config or an experiment file is read (``pattern``: ``config.folder_path``'s, as ``csv_data`` reads one)."""
    if isinstance(value, str):
        return [m.group(1)] if (m := pattern.match(value.strip())) else []
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return [name for item in items for name in _leading_variables(item, pattern)]


class RunsFailed(UserError):
    """Some runs of a grid failed (each named with its error); the others finished."""

def run_grid(jobs: list[Job], workers: int = 1, ray_address: str | None = None,
             threads: int | None = None) -> dict[Job, dict]:
    """Run the jobs, with a progress bar on a terminal (runs in this process only: worker processes write their lines
    to it themselves, which would be glued to the bar's); returns the metrics of each; raises naming the failed jobs.
    Each finished run is one line, with how many have finished ("(2 of 5)"): off a terminal (a file, ``| tee``) that
    line is the only progress, as a bar would fill the log with carriage returns and redrawn copies of itself.
    ``threads``: CPU threads per run (default: the cores over ``workers``; a sequential run, all cores).
    Every op runs on one thread (``threads.use_threads``), so a run's numbers do not depend on it."""
    from tqdm import tqdm

    if ray_address:
        results = on_ray(jobs, ray_address, workers, threads)
    elif workers > 1:
        results = in_processes(jobs, workers, threads)
    else:
        results = sequential(jobs, threads)
    done, failed = {}, []
    try:
        # a bar only where the runs' lines reach the terminal through this process (worker processes write to it
        # directly: their lines would be glued to the end of the bar's)
        terminal = isatty(sys.stdout) and workers <= 1 and not ray_address
        with tqdm(total=len(jobs), desc="runs", unit="run", file=sys.stdout, disable=not terminal) as bar:
            for finished, (job, outcome) in enumerate(above_the_bar(bar, results), 1):
                count = f"({finished} of {len(jobs)})"
                if isinstance(outcome, BaseException):
                    failed.append(_failure(job, outcome))
                    if unexpected(outcome) and sys.stderr is not None:  # a bug, not bad input: its traceback
                        write_above(bar, sys.stderr, "".join(traceback.format_exception(outcome)))
                    tqdm.write(f"FAILED {failed[-1]} {count}", file=sys.stdout)
                elif isinstance(outcome, FinishedBefore):
                    done[job] = dict(outcome)
                    tqdm.write(f"already done {job}: finished before {count}", file=sys.stdout)
                    skipped(bar)
                    continue
                else:
                    done[job] = outcome
                    tqdm.write(f"done {job} {count}", file=sys.stdout)
                bar.update()
    finally:
        results.close()  # an interrupt between runs stops the workers now, not when the generator is collected
    if failed:
        raise RunsFailed(f"{len(failed)} of {len(jobs)} runs failed: " + "; ".join(failed))
    return done


def above_the_bar(bar, results):
    """``results``' items, each run's lines written whole above the bar while it runs in this process: they came glued
    to the end of the bar's line, and Keras's own bar redrew over it. The run sees streams that are not a terminal, so
    that Keras prints one line per epoch. stdout's lines, and stderr's where it is a terminal too, go above the bar,
    each to its own stream; a stderr to a file (2>errors.log) is left as it is."""
    if bar.disable:
        yield from results
        return
    streams = sys.stdout, sys.stderr
    above = [AboveTheBar(bar, stream) if i == 0 or isatty(stream) else stream for i, stream in enumerate(streams)]
    while True:
        sys.stdout, sys.stderr = above
        try:
            item = next(results)
        except StopIteration:
            return
        finally:
            sys.stdout, sys.stderr = streams
            for stream in above:
                if isinstance(stream, AboveTheBar):
                    stream.finish()
        yield item


def write_above(bar, stream, text: str) -> None:
    """``text`` (whole lines) written to ``stream`` (the bar's or another on the same terminal) above the bar: the
    bar is cleared first and drawn again after it (a bar not drawn: only written)."""
    if bar.disable:
        stream.write(text)
        stream.flush()
        return
    with bar.get_lock():
        bar.clear(nolock=True)
        bar.fp.flush()  # the clearing, before text on another stream
        stream.write(text)
        stream.flush()
        bar.refresh(nolock=True)


class AboveTheBar(WholeLines):
    """A text stream that writes each whole line to ``stream`` above a tqdm bar (``write_above``, ``WholeLines``)."""

    def __init__(self, bar, stream):
        super().__init__(stream)
        self.bar = bar

    def write(self, text: str) -> int:
        if whole := "".join(f"{line}\n" for line in self.split(text) if line):
            write_above(self.bar, self.stream, whole)
        return len(text)


def skipped(bar) -> None:
    """Count a run finished before on the bar, leaving it out of the bar's rate: runs read back in a second each
    made a resumed grid's estimate of the time left a small fraction of the real one."""
    if bar.disable:
        return
    bar.n += 1
    bar.initial += 1  # the mean rate over the runs done now only
    bar.last_print_n, bar.last_print_t = bar.n, bar._time()  # and its smoothed rate: from the next run's time
    bar.refresh()
