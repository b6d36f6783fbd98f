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
exclude_patterns = ["_build", "**.ipynb_checkpoints", "results"]

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

# The Fashion-MNIST comparison is measured elsewhere: its report.md, copied to this path, replaces
# the placeholder on the comparison page (a gallery beside it is linked as results/<name>.png).
FASHION_MNIST = pathlib.Path(__file__).parent / "results" / "fashion_mnist.md"
myst_substitutions = {
    "fashion_mnist": FASHION_MNIST.read_text() if FASHION_MNIST.exists() else (
        "*Not measured yet.* This section shows `docs/results/fashion_mnist.md` once the "
        "Fashion-MNIST comparison has been run and its `report.md` copied there; until then "
        "there is no table here on purpose."
    ),
}

# The API reference: one page per module, grouped by the library's layers (DESIGN.md). It is
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
        defined_here = getattr(obj, "__module__", None) == module.__name__
        if defined_here and getattr(obj, "__name__", "") == name:
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


def _resolve_bj(app, env, node, contnode):
    # NamedTuple signatures keep annotations as written, and flows.py writes ``bj.Bijector``.
    if node.get("reftarget", "").startswith("bj."):
        node["reftarget"] = "genjax.bijectors." + node["reftarget"][3:]
        return env.domains["py"].resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], node["reftarget"], node, contnode
        )
    return None


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
    app.connect("missing-reference", _resolve_bj)
