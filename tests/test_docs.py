"""The docs cannot drift from the code.

In README.md and docs/*.md, inside code (fenced blocks and `inline code`): every `make <target>`
exists in the Makefile; every Hydra override given to `make train|sweep|worker` (ARGS="k=v ...",
WORKERS=N), to `probsweep train|sweep|worker` or `python -m probsweep[.cli].<command>`, or written
on its own (`model.activation=softmax`), composes with the real config and passes the schema's
checks (config.validate, and the search space's own check); every config key written on its own
(`train.jit_compile`) is in the schema; every repository path (`benchmarks/sweep_speed.py`,
`tests/test_x.py::test_name`) exists. Outside code, every relative link points at an existing file
(and heading). CHANGELOG.md is history and may name what is gone, so it is not read. Nothing trains
and nothing imports TensorFlow: a few seconds.
"""

from __future__ import annotations

import functools
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from probsweep.cli import COMMANDS
from probsweep.config import (
    CONF_DIR,
    Config,
    ConfigError,
    check_ranges,
    check_sweep_name,
    register,
    unknown_key,
    validate,
)
from probsweep.sweep import space

register()  # the schema, as the entry points do
ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HYDRA_COMMANDS = ("train", "sweep", "worker")  # the entry points that compose conf/ with overrides
TOP_KEYS = tuple(Config.__dataclass_fields__)  # seed, data, model, train, tracking, tuner, search, sweep
GROUPS = tuple(sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir()))  # data=file, search=tune, ...
FILE_SUFFIXES = {
    "yaml",
    "py",
    "csv",
    "tsv",
    "json",
    "jsonl",
    "parquet",
    "md",
    "png",
    "txt",
    "db",
    "html",
    "log",
    "zip",
    "keras",
    "npy",
}
REPO_DIRS = ("src/", "tests/", "benchmarks/", "docs/", ".ci/")
# Written in the docs on purpose as examples of what is refused: each must still be refused.
REFUSED = {"data.max_len=-5", "+model.activaton=softmax"}

FENCE = re.compile(r"^ *```[^\n]*\n(.*?)^ *```", re.S | re.M)
INLINE = re.compile(r"`([^`]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
OVERRIDE = re.compile(r"(\+\+|\+|~)?([A-Za-z_][\w]*(?:\.[\w]+)*)=(.*)", re.S)
KEY = re.compile(rf"(?:{'|'.join(TOP_KEYS)})\.[A-Za-z_][\w.]*")
MAKE_TARGET = re.compile(r"^([A-Za-z][\w-]*):", re.M)
PLACEHOLDER = re.compile(r"<[\w-]+>")  # `make best SWEEP=<name>`: a template, not a command
SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", "<", ">", ">>"}


@dataclass
class Found:
    """What the docs claim: each item is (where, text) so a failure says where to look."""

    targets: list[tuple[str, str]] = field(default_factory=list)  # make targets
    overrides: list[tuple[str, list[str]]] = field(default_factory=list)  # one list per command
    fragments: list[tuple[str, list[str]]] = field(default_factory=list)  # `key=value` written on its own
    keys: list[tuple[str, str]] = field(default_factory=list)  # config keys written on their own
    sweeps: list[tuple[str, str]] = field(default_factory=list)  # SWEEP=name of make best/report
    commands: list[tuple[str, str]] = field(default_factory=list)  # probsweep <command>
    paths: list[tuple[str, str]] = field(default_factory=list)  # repository paths
    links: list[tuple[str, str]] = field(default_factory=list)  # relative links


def code_spans(text: str) -> tuple[list[str], str]:
    """The code of a Markdown text (fenced blocks, then inline spans) and the prose left over."""
    blocks = FENCE.findall(text)
    rest = FENCE.sub("", text)
    inline = [s for s in INLINE.findall(rest) if "\n\n" not in s]
    return [b.replace("\\\n", " ") for b in blocks] + [s.replace("\n", " ") for s in inline], INLINE.sub("", rest)


def tokens(line: str) -> list[str]:
    """Shell words of one line (comments dropped, `&&`, `;`, `|` kept as their own words)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: prose in code, not a command
        return []


def segments(words: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for w in words:
        if w in SEPARATORS:
            out.append([])
        else:
            out[-1].append(w)
    return [s for s in out if s]


def extract(text: str, where: str) -> Found:
    found = Found()
    spans, prose = code_spans(text)
    for span in spans:
        for n, line in enumerate(span.splitlines() or [span]):
            at = f"{where}: `{line.strip()[:90]}`" if n or "\n" in span else f"{where}: `{span.strip()[:90]}`"
            for seg in [] if PLACEHOLDER.search(line) else segments(tokens(line)):  # a template is no command
                read_command(seg, at, found)
        words = [] if PLACEHOLDER.search(span) else tokens(span.replace("\n", " "))
        if words and all(is_override(w) for w in words):  # `model.activation=softmax` on its own
            found.fragments.append((f"{where}: `{span.strip()}`", words))
        for w in span.split():
            w = w.strip(",;:()'\"")
            if KEY.fullmatch(w) and w.rsplit(".", 1)[1] not in FILE_SUFFIXES:  # `search.yaml` is a file
                found.keys.append((where, w))
            elif w.startswith(REPO_DIRS) and "<" not in w and "..." not in w:
                found.paths.append((where, w.rstrip(".")))
    for target in LINK.findall(prose):
        if "://" not in target and not target.startswith("mailto:"):
            found.links.append((where, target))
    return found


def is_override(word: str) -> bool:
    m = OVERRIDE.fullmatch(word)
    return bool(m) and m.group(2).split(".")[0] in (*TOP_KEYS, *GROUPS)


def read_command(seg: list[str], at: str, found: Found) -> None:
    """One shell command: `make ...`, `[path/]probsweep <command> ...`, `python -m probsweep[.cli.x] ...`."""
    for i, word in enumerate(seg):
        if word == "make":
            make_vars = dict(w.split("=", 1) for w in seg[i + 1 :] if "=" in w and not w.startswith("-"))
            targets = [w for w in seg[i + 1 :] if "=" not in w and not w.startswith("-")]
            found.targets += [(at, t) for t in targets]
            if targets and targets[0] in HYDRA_COMMANDS:
                overrides = [w for w in shlex.split(make_vars.get("ARGS", "")) if w != "..."]
                if targets[0] == "sweep" and make_vars.get("WORKERS", "1") != "1":
                    overrides.append(f"sweep.workers={make_vars['WORKERS']}")  # as the Makefile passes it
                found.overrides.append((at, overrides))
            if targets and targets[0] in ("best", "report") and "SWEEP" in make_vars:
                found.sweeps.append((at, make_vars["SWEEP"]))
            return
        python = word.endswith("python") or word.startswith("python3")
        module = seg[i + 2] if python and len(seg) > i + 2 else ""
        if word == "probsweep" or word.endswith("/probsweep") or (seg[i + 1 : i + 2] == ["-m"] and module):
            rest = seg[i + 1 :] if not module else seg[i + 3 :]
            name = module.removeprefix("probsweep.cli.") if module.startswith("probsweep.cli.") else None
            if name is None:
                if module and module != "probsweep":
                    return  # another module: not ours
                if not rest or rest[0].startswith("-") or "|" in rest[0]:
                    return  # `probsweep --help`, `probsweep train|sweep|worker`
                name, rest = rest[0], rest[1:]
            found.commands.append((at, name))
            if name in HYDRA_COMMANDS:
                found.overrides.append((at, [w for w in rest if w != "..."]))
            return


def makefile_targets() -> set[str]:
    return set(MAKE_TARGET.findall((ROOT / "Makefile").read_text()))


@functools.cache
def schema() -> DictConfig:
    return OmegaConf.structured(Config)


def schema_has(key: str) -> bool:
    """The key is in the typed schema, or under a free-form mapping (model.kwargs, search.space): the
    entry points' own check (config.unknown_key), which also sees keys added with `+`."""
    return unknown_key(key) is None


def override_problem(overrides: list[str], whole: bool = True) -> str | None:
    """Why these overrides do not compose and validate, or None. Needs an initialised Hydra.

    A whole command passes every check of the schema (config.validate) and of the search space it picks;
    a fragment written on its own in a sentence (`data=file`) only needs each key and value to be right
    on its own (config.check_ranges): the rules that combine keys need the rest of a command."""
    for o in overrides:
        m = OVERRIDE.fullmatch(o)
        if not m:
            return f"{o!r} is not key=value"
        key = m.group(2)
        if key not in GROUPS and not schema_has(key):  # also for `+key=value`, which Hydra adds unchecked
            return f"{key} is not a config key"
    try:
        composed = compose(config_name="config", overrides=overrides)
        if not whole:
            check_ranges(OmegaConf.merge(schema(), composed))
            return None
        cfg = validate(composed)
        if not overrides or any(o.lstrip("+~").startswith("search") for o in overrides):  # the space they pick
            space.check_space(cfg, space.parse(cfg.search.space))
    except (ConfigError, HydraException, OmegaConfBaseException) as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def fragment_batches(fragments: list[list[str]]) -> list[list[str]]:
    """Fragments that set different keys, put together: each is checked on its own values only
    (config.check_ranges), so one composition of a batch stands for each of its members."""
    batches: list[dict[str, str]] = []
    for o in dict.fromkeys(w for f in fragments for w in f):
        key = o.split("=", 1)[0].lstrip("+~")
        batch = next((b for b in batches if key not in b), None)
        if batch is None:
            batches.append(batch := {})
        batch[key] = o
    return [list(b.values()) for b in batches]


def batch_members(batch: list[str], fragments: list[tuple[str, list[str]]]) -> list[list[str]]:
    return [o for _, o in fragments if set(o) <= set(batch)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a Markdown text's headings (not of `#` lines inside code blocks)."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", text), re.M)
    return {slug(INLINE.sub(lambda m: m.group(1), h)) for h in headings}


def problems(docs: list[tuple[Path, str]], root: Path = ROOT) -> list[str]:
    """Every claim of these (path, text) docs that the code does not back, one line each."""
    found = Found()
    texts = {path.resolve(): text for path, text in docs}
    for path, text in docs:
        one = extract(text, path.name)
        for name in found.__dataclass_fields__:
            if name != "links":
                getattr(found, name).extend(getattr(one, name))
        found.links += [(str(path), t) for _, t in one.links]  # links resolve from their own file
    out = [f"{at}: no make target {t!r} in the Makefile" for at, t in found.targets if t not in makefile_targets()]
    out += [f"{at}: no command `probsweep {c}`" for at, c in found.commands if c not in COMMANDS]
    refused_keys = {m.group(2) for m in map(OVERRIDE.fullmatch, REFUSED) if m}  # quoted in their error messages
    out += [f"{at}: {k} is not a config key" for at, k in found.keys if k not in refused_keys and not schema_has(k)]
    for at, name in found.sweeps:
        try:
            check_sweep_name(name)
        except ConfigError as exc:
            out.append(f"{at}: {exc}")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        whys: dict[tuple[bool, tuple[str, ...]], str | None] = {}  # many commands repeat: compose each once
        for batch in fragment_batches([o for _, o in found.fragments if " ".join(o) not in REFUSED]):
            if override_problem(batch, whole=False) is None:  # one composition clears many fragments
                whys.update({(False, tuple(o)): None for o in batch_members(batch, found.fragments)})
        commands = [(None, [], True), *[(at, o, True) for at, o in found.overrides]]
        for at, overrides, whole in commands + [(at, o, False) for at, o in found.fragments]:
            key = (whole, tuple(overrides))
            why = whys[key] = whys[key] if key in whys else override_problem(overrides, whole)
            if at is None:  # the default config, whose shipped space every command without `search` has
                out += [f"the default config: {why}"] if why else []
                continue
            if " ".join(overrides) in REFUSED:
                out += [] if why else [f"{at}: documented as refused, but it composes"]
            elif why:
                out.append(f"{at}: {' '.join(overrides)}: {why}")
    for at, p in found.paths:
        file, _, test = p.partition("::")
        hits = list(root.glob(file.rstrip("/"))) if "*" in file else [root / file] if (root / file).exists() else []
        if not hits:
            out.append(f"{at}: {file} does not exist")
        elif test and not re.search(rf"^(?:    )?def {re.escape(test)}\(", hits[0].read_text(), re.M):
            out.append(f"{at}: {file} has no test {test}")
    for doc, target in found.links:
        file, _, anchor = target.partition("#")
        dest = (Path(doc).parent / file).resolve() if file else Path(doc).resolve()
        if dest not in texts and not dest.exists():
            out.append(f"{Path(doc).name}: link to {target}: {dest} does not exist")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(texts.get(dest) or dest.read_text()):
            out.append(f"{Path(doc).name}: link to {target}: no heading #{anchor} in {dest.name}")
    return out


def test_every_target_override_key_path_and_link_in_the_docs_is_real():
    found = problems([(p, p.read_text()) for p in DOCS])
    assert not found, "\n".join(found)


def test_the_docs_are_the_readme_and_the_docs_folder_and_the_readme_stays_short():
    assert (ROOT / "docs" / "configuration.md") in DOCS
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


SAMPLE = """
Run `make sweep`, make sure to read on (prose: not a command).

```bash
MLFLOW_TRACKING_URI=http://127.0.0.1:5000 make sweep WORKERS=2 \\
  ARGS="search=smoke tuner.max_trials=4"   # a comment
make best SWEEP=my-sweep && .venv/bin/probsweep train model.activation=softmax
python -m probsweep.cli.worker sweep.oracle_port=8000
python -m
```

Set `train.jit_compile`, or write `model.dropout=0.3 search=tune` on its own; `probsweep <command>`
and `make best SWEEP=<name>` are templates. See [the guide](docs/configuration.md#head-and-loss) and
`benchmarks/sweep_speed.py`.
"""


def test_the_extractor_reads_commands_overrides_keys_paths_and_links_from_code_only():
    found = extract(SAMPLE, "sample.md")
    assert [t for _, t in found.targets] == ["sweep", "best", "sweep"]  # the code blocks first, then inline code
    assert [o for _, o in found.overrides] == [
        ["search=smoke", "tuner.max_trials=4", "sweep.workers=2"],
        ["model.activation=softmax"],
        ["sweep.oracle_port=8000"],
        [],  # `make sweep` alone
    ]
    assert [o for _, o in found.fragments] == [["model.dropout=0.3", "search=tune"]]
    assert [s for _, s in found.sweeps] == ["my-sweep"]
    assert [c for _, c in found.commands] == ["train", "worker"]
    assert [k for _, k in found.keys] == ["train.jit_compile"]
    assert [p for _, p in found.paths] == ["benchmarks/sweep_speed.py"]
    assert [t for _, t in found.links] == ["docs/configuration.md#head-and-loss"]


@pytest.mark.parametrize(
    "doc, complaint",
    [
        ("`make nosuch`", "no make target 'nosuch'"),
        ('`make train ARGS="model.nosuch=1"`', "model.nosuch is not a config key"),
        ('`make train ARGS="+model.activaton=sigmoid"`', "model.activaton is not a config key"),
        ('`make sweep ARGS="train.epochs=0"`', "train.epochs=0 must be at least 1"),
        ("`probsweep sweep search=nosuch`", "search=nosuch"),
        ("`model.activation=softplus`", "model.activation=softplus"),
        ("Or `model.dropout=2`.", "model.dropout=2.0 must be in [0, 1)"),
        ("`make sweep WORKERS=-1`", "sweep.workers"),
        ("`make best SWEEP=../x`", "must be a plain name"),
        ("`probsweep nosuch`", "no command `probsweep nosuch`"),
        ("Set `train.nosuch` to true.", "train.nosuch is not a config key"),
        ("See `tests/test_nosuch.py`.", "tests/test_nosuch.py does not exist"),
        ("See `tests/test_docs.py::test_nosuch`.", "has no test test_nosuch"),
        ("See [it](nosuch.md).", "nosuch.md does not exist"),
        ("See [it](README.md#no-such-heading).", "no heading #no-such-heading"),
    ],
)
def test_a_doc_naming_what_does_not_exist_is_caught(doc, complaint):
    found = problems([(ROOT / "sample.md", doc)])
    assert len(found) == 1 and complaint in found[0], found


def test_a_sample_of_true_claims_passes():
    true = SAMPLE + "\nSee `tests/test_docs.py::test_a_sample_of_true_claims_passes` and [top](#set-up).\n# Set-up\n"
    assert problems([(ROOT / "sample.md", true.replace("docs/configuration.md#head-and-loss", "README.md"))]) == []
