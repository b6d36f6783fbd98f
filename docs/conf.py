"""Sphinx configuration: API reference from the docstrings, notebooks executed by myst-nb.

``make docs`` builds with ``-W -n``: a broken genjax cross-reference, a public name without a
docstring or a docstring that does not parse fails the build.
"""

import importlib
import os
import pathlib
import pkgutil
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The notebooks' kernels run in temporary directories and must import this checkout's genjax too.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

import genjax  # noqa: E402

project = "genjax"
author = "the genjax authors"
copyright = "2026, the genjax authors"
release = genjax.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_nb",
]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "_includes"]

html_theme = "sphinx_book_theme"
html_title = "genjax"
html_theme_options = {"show_toc_level": 2, "navigation_with_keys": False}
html_static_path = ["_static"]
html_css_files = ["custom.css"]

# Offline builds cannot fetch intersphinx inventories, so references to jax, flax, optax, numpy or
# the standard library cannot resolve; every other reference must.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(jax|jaxlib|flax|optax|orbax|numpy|np|enum|collections|typing)\..*"),
]

autodoc_default_options = {"members": True, "member-order": "bysource", "show-inheritance": True}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# Docstrings mark code with single backticks as often as with double ones.
default_role = "code"

myst_enable_extensions = ["dollarmath", "colon_fence", "substitution"]
myst_heading_anchors = 3
nb_execution_mode = "cache"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_in_temp = True
nb_merge_streams = True

# The comparison's tables and galleries: docs/results/<dataset>.json is a comparison's report.json,
# the one source of its figures (experiments/tools/render_results.py renders the README's from it).
from experiments import compare  # noqa: E402
from experiments.tools import render_results  # noqa: E402


def _gallery(dataset: str, report: dict) -> str:
    if not render_results.gallery_path(dataset).exists():
        return ""
    name = render_results.gallery_path(dataset).name
    return (f"```{{figure}} /_static/{name}\n:alt: samples of each family, one row per family\n"
            f":width: 100%\n\n{render_results.gallery_caption(report)}\n```\n")


# The comparison's table has 17 columns, more than a page's text column shows: the site splits it
# into the samples' quality, the likelihood and the cost, each row led by its family.
LIKELIHOOD_COLUMNS = ("test likelihood", "kind")
COST_COLUMNS = ("params", "steps x batch", "train s", "eval s", "NFE/sample", "s / 1k samples",
                "loss var")


def _split_table(markdown: str) -> str:
    lines = markdown.splitlines()
    table = [line for line in lines if line.startswith("|")]
    rest = [line for line in lines if not line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table]
    head = cells[0]
    unknown = set(LIKELIHOOD_COLUMNS + COST_COLUMNS) - set(head)
    if unknown:
        raise ValueError(f"experiments.compare.markdown_table has no columns {sorted(unknown)}")
    likelihood = [0] + [head.index(c) for c in LIKELIHOOD_COLUMNS]
    cost = [0] + [head.index(c) for c in COST_COLUMNS]
    split = LIKELIHOOD_COLUMNS + COST_COLUMNS
    samples = [0] + [i for i, c in enumerate(head) if i and c not in split]

    def columns(keep):
        rows = [[row[i] for i in keep] for row in cells]
        rows[1] = ["---"] * len(keep)
        return "\n".join("| " + " | ".join(row) + " |" for row in rows)

    tables = (f"**Samples**\n\n{columns(samples)}\n\n**Likelihood**\n\n{columns(likelihood)}\n\n"
              f"**Cost**\n\n{columns(cost)}\n")
    return tables + "\n".join(rest)


myst_substitutions = {}
for _dataset, _report in render_results.reports().items():
    myst_substitutions[f"{_dataset}_table"] = _split_table(compare.markdown_table(_report))
    myst_substitutions[f"{_dataset}_gallery"] = _gallery(_dataset, _report)

# The API reference: one page per module, grouped by the library's layers (design.md). It is
# generated from the package itself, so a new module cannot be left out.
LAYERS = {
    "core": ("Contracts and building blocks", "The model and sampler contracts, type aliases, "
             "distributions, bijectors and losses."),
    "models": ("Models", "One module per family: a frozen config and ``make_<family>``."),
    "samplers": ("Samplers", "Step kernels, builders and the one scan driver, on plain callables."),
    "training": ("Training", "Train state, the one step, its compilation, checkpoints, ``fit``."),
    "data": ("Data", "Built-in and tfds data sets, transforms with inverses, batching."),
    "metrics": ("Metrics", "FID/KID, Inception Score, precision/recall, likelihood units."),
    "nn": ("Networks", "Flax Linen networks, knowing nothing of training."),
}
API_DIR = pathlib.Path(__file__).parent / "api"


def _modules():
    names = ["genjax"] + [m.name for m in pkgutil.walk_packages(genjax.__path__, "genjax.")]
    return [importlib.import_module(n) for n in sorted(names)]


def _layer(module) -> str:
    parts = module.__name__.split(".")
    is_package = hasattr(module, "__path__")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and is_package) else "core"


def _owner(package, attr: str) -> str:
    """The module that defines ``package.attr``: a function's or class's ``__module__``, or for a
    constant (a dict has none) the submodule whose ``__all__`` holds the same object."""
    obj = getattr(package, attr)
    owner = getattr(obj, "__module__", None)
    if owner:
        return owner
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        sub = importlib.import_module(info.name)
        if attr in getattr(sub, "__all__", ()) and getattr(sub, attr, None) is obj:
            return info.name
    return package.__name__


def _module_page(module) -> str:
    name = module.__name__
    lines = [f"# {name}", "", "```{eval-rst}", f".. automodule:: {name}"]
    if hasattr(module, "__path__"):
        # A package re-exports names documented in their own modules; link to them there.
        lines += ["   :no-members:", "```", ""]
        for attr in getattr(module, "__all__", ()):
            lines.append(f"- {{py:obj}}`{name}.{attr} <{_owner(module, attr)}.{attr}>`")
    else:
        lines.append("```")
    return "\n".join(lines) + "\n"


def _write_if_changed(path: pathlib.Path, text: str) -> None:
    # Rewriting an unchanged page would make Sphinx reread it on every build.
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _generate_api() -> None:
    API_DIR.mkdir(exist_ok=True)
    by_layer = {layer: [] for layer in LAYERS}
    for module in _modules():
        by_layer[_layer(module)].append(module.__name__)
        _write_if_changed(API_DIR / f"{module.__name__}.md", _module_page(module))
    index = ["# API reference", "", "Imports point one way, from the top of this list down: "
             "networks know nothing of training, samplers take plain callables, metrics take "
             "arrays, and training knows only the `Model` contract.", ""]
    for layer, (title, blurb) in LAYERS.items():
        index.append(f"- [{title}]({layer}.md): {blurb}")
        page = [f"# {title}", "", blurb, "", "```{toctree}", ":maxdepth: 1", ""]
        # The sidebar names a module by its last component; its page title is the full name.
        page += [f"{name.rpartition('.')[2]} <{name}>" for name in by_layer[layer]]
        _write_if_changed(API_DIR / f"{layer}.md", "\n".join(page + ["```", ""]))
    index += ["", "```{toctree}", ":hidden:", "", *LAYERS, "```", ""]
    _write_if_changed(API_DIR / "index.md", "\n".join(index))


_generate_api()


def _undocumented(module) -> list[str]:
    """Names in a module's ``__all__`` with no docstring of their own (``#:`` or a string after)."""
    from sphinx.pycode import ModuleAnalyzer

    attr_docs = ModuleAnalyzer.for_module(module.__name__).find_attr_docs()
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        owner = getattr(obj, "__module__", None)
        if owner != module.__name__ and getattr(obj, "__name__", "") == name:
            continue  # re-exported from another module, whose own check covers it
        if owner == module.__name__ and getattr(obj, "__name__", "") == name:
            doc = (obj.__doc__ or "").strip()
            # NamedTuple and dataclass fill in "Name(field, ...)" when the author wrote nothing.
            if not doc or doc.startswith(f"{name}("):
                missing.append(name)
        elif ("", name) not in attr_docs:
            missing.append(name)
    return missing


def _check_docstrings(app):
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    for module in _modules():
        if hasattr(module, "__all__") and not hasattr(module, "__path__"):
            for name in _undocumented(module):
                logger.warning(f"public name without a docstring: {module.__name__}.{name}")


def _skip_described_fields(app, what, name, obj, skip, options):
    # The class docstring's Attributes section describes its fields. Without this, a NamedTuple
    # field would be described twice ("Alias for field number 0") and a Linen field defaulting to a
    # jax function (``activation = nn.silu``) would carry jax's docstring.
    if what != "class":
        return None
    module = getattr(obj, "__module__", None) or ""
    foreign_callable = callable(obj) and not module.startswith("genjax")
    return True if foreign_callable or (obj.__doc__ or "").startswith("Alias for field") else None


def _reexported(target: str):
    """``genjax.<package>.<name>`` for a name a package re-exports: where it is documented."""
    package_name, _, attr = target.rpartition(".")
    if not package_name.startswith("genjax"):
        return None
    try:
        package = importlib.import_module(package_name)
    except ImportError:
        return None
    if hasattr(package, "__path__") and attr in getattr(package, "__all__", ()):
        return f"{_owner(package, attr)}.{attr}"
    return None


def _resolve(app, env, node, contnode):
    # NamedTuple signatures keep annotations as written, and flows.py writes ``bj.Bijector``;
    # docstrings cite re-exported names by their package (``genjax.training.fit``).
    target = node.get("reftarget", "")
    resolved = "genjax.bijectors." + target[3:] if target.startswith("bj.") else _reexported(target)
    if resolved is None:
        return None
    node["reftarget"] = resolved
    return env.domains["py"].resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], resolved, node, contnode
    )


def setup(app):
    from sphinx.ext.napoleon import _process_docstring

    # genjax writes data and property docstrings as prose ("RealNVP for 8x8 digits: two scales"),
    # where napoleon would read the words before the first colon as a type.
    for listener in list(app.events.listeners["autodoc-process-docstring"]):
        if listener.handler is _process_docstring:
            app.disconnect(listener.id)
    app.connect(
        "autodoc-process-docstring",
        lambda app, what, *args: None if what in ("data", "attribute", "property")
        else _process_docstring(app, what, *args),
    )
    app.connect("autodoc-skip-member", _skip_described_fields)
    app.connect("builder-inited", _check_docstrings)
    app.connect("missing-reference", _resolve)
